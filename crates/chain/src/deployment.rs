//! Where the protocol is deployed (the deployment file `refute deploy` writes and the
//! services read) and the parameters a deployment is made with.

use alloy::primitives::{Address, U256};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where the protocol is deployed: written by `refute deploy`, read by the services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Chain id.
    pub chain_id: u64,
    /// Block of the deployment (scanners start here).
    pub block: u64,
    /// ModelRegistry address.
    pub registry: Address,
    /// InferenceOracle address.
    pub oracle: Address,
    /// DisputeGame address.
    pub game: Address,
    /// OneStepVerifier address.
    pub verifier: Address,
}

impl Deployment {
    /// Reads a deployment file.
    pub fn load(path: &Path) -> Result<Deployment, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: not a deployment file: {e}", path.display()))
    }

    /// Writes a deployment file.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self).expect("serialisable") + "\n")
    }
}

/// Protocol parameters of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployParams {
    /// Seconds after a post during which games may be opened.
    pub challenge_window: u64,
    /// Least stake, wei.
    pub min_stake: U256,
    /// Least bond, wei.
    pub min_bond: U256,
    /// Share of a slashed stake paid to the games open at rejection, basis points.
    pub reward_bps: u16,
    /// Burned share of a losing challenger's bond, basis points (also sets the
    /// claim fee of a moot game).
    pub bond_burn_bps: u16,
    /// Seconds a request waits to be served.
    pub request_timeout: u64,
    /// Most callback gas a requester may ask for.
    pub max_callback_gas: u64,
    /// Levels one reveal opens.
    pub arity_log2: u32,
    /// Each side's clock, seconds (its extension is a quarter of it).
    pub clock_seconds: u64,
}

/// The bounds the contracts' constructors put on a deployment's parameters
/// (`docs/protocol.md`, *Parameters*), mirrored so that `refute deploy` refuses bad
/// parameters before it sends anything. A test on anvil holds them to the
/// contracts' own constants.
pub mod bounds {
    /// Longest challenge window, request timeout and clock: 30 days.
    pub const MAX_DURATION: u64 = 30 * 24 * 3600;
    /// Least `rewardBps`: a reward is always worth having.
    pub const MIN_REWARD_BPS: u16 = 1000;
    /// Most `rewardBps`: at least a tenth of a fraudulent stake is burned.
    pub const MAX_REWARD_BPS: u16 = 9000;
    /// Least `bondBurnBps`: griefing and moot claims always burn something.
    pub const MIN_BOND_BURN_BPS: u16 = 1000;
    /// Most `bondBurnBps`: a griefed executor is always paid.
    pub const MAX_BOND_BURN_BPS: u16 = 9000;
    /// Most `maxCallbackGas`: finalize, which the executor pays for, stays cheap.
    pub const MAX_CALLBACK_GAS: u64 = 1_000_000;
    /// Gas of every executor move in the longest game the loader allows
    /// (measured, `docs/gas.md`).
    pub const DEFENCE_GAS: u64 = 3_500_000;
    /// The gas price at which `minBond`'s executor part must pay `DEFENCE_GAS`.
    pub const DEFENCE_GAS_PRICE: u64 = 1_000_000_000;
    /// Most `arityLog2`.
    pub const MAX_ARITY_LOG2: u32 = 4;
}

impl DeployParams {
    /// The least `minBond` the oracle accepts with `bond_burn_bps`: its executor
    /// part pays [`bounds::DEFENCE_GAS`] at [`bounds::DEFENCE_GAS_PRICE`].
    pub fn least_bond(bond_burn_bps: u16) -> U256 {
        let need = U256::from(bounds::DEFENCE_GAS) * U256::from(bounds::DEFENCE_GAS_PRICE) * U256::from(10_000u64);
        let keep = U256::from(10_000u64.saturating_sub(bond_burn_bps as u64).max(1));
        need.div_ceil(keep)
    }

    /// Every parameter out of the bounds the constructors enforce, named as the
    /// contracts name it (`ParameterOutOfRange`), with its bounds.
    pub fn check(&self) -> Result<(), Vec<String>> {
        use bounds::*;
        let max128 = U256::from(u128::MAX);
        let mut problems = vec![];
        let mut within = |name: &str, value: U256, least: U256, most: U256| {
            if value < least || value > most {
                problems.push(format!("{name} = {value} is out of its bounds {least} – {most}"));
            }
        };
        let n = |v: u64| U256::from(v);
        within("challengeWindow", n(self.challenge_window), n(1), n(MAX_DURATION));
        within("minStake", self.min_stake, n(1), max128);
        within("rewardBps", n(self.reward_bps as u64), n(MIN_REWARD_BPS as u64), n(MAX_REWARD_BPS as u64));
        within("bondBurnBps", n(self.bond_burn_bps as u64), n(MIN_BOND_BURN_BPS as u64), n(MAX_BOND_BURN_BPS as u64));
        within("minBond", self.min_bond, Self::least_bond(self.bond_burn_bps.min(MAX_BOND_BURN_BPS)), max128);
        within("requestTimeout", n(self.request_timeout), n(1), n(MAX_DURATION));
        within("maxCallbackGas", n(self.max_callback_gas), n(0), n(MAX_CALLBACK_GAS));
        within("clockSeconds", n(self.clock_seconds), n(1), n(MAX_DURATION));
        within("arityLog2", n(self.arity_log2 as u64), n(1), n(MAX_ARITY_LOG2 as u64));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

impl Default for DeployParams {
    fn default() -> Self {
        DeployParams {
            challenge_window: 3600,
            min_stake: U256::from(10u64).pow(U256::from(18u64)),
            min_bond: U256::from(10u64).pow(U256::from(17u64)),
            reward_bps: 5000,
            bond_burn_bps: 2000,
            request_timeout: 3600,
            max_callback_gas: 500_000,
            arity_log2: 1,
            clock_seconds: 1800,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_within_bounds_and_each_bound_is_named() {
        assert_eq!(DeployParams::default().check(), Ok(()));
        let bad = DeployParams {
            challenge_window: 0,
            min_stake: U256::ZERO,
            min_bond: U256::from(1u64),
            reward_bps: 10_000,
            bond_burn_bps: 0,
            request_timeout: 0,
            max_callback_gas: 30_000_000,
            arity_log2: 5,
            clock_seconds: 0,
        };
        let problems = bad.check().unwrap_err();
        for name in
            ["challengeWindow", "minStake", "minBond", "rewardBps", "bondBurnBps", "requestTimeout", "maxCallbackGas", "clockSeconds", "arityLog2"]
        {
            assert!(problems.iter().any(|p| p.starts_with(&format!("{name} = "))), "{name} not named in {problems:?}");
        }
        assert_eq!(problems.len(), 9);
    }

    #[test]
    fn the_least_bond_pays_the_defence_at_the_floor_price() {
        for burn in [1000u16, 2000, 5000, 9000] {
            let least = DeployParams::least_bond(burn);
            let executor_part = |bond: U256| bond * U256::from(10_000 - burn as u64);
            let cost = U256::from(bounds::DEFENCE_GAS) * U256::from(bounds::DEFENCE_GAS_PRICE) * U256::from(10_000u64);
            assert!(executor_part(least) >= cost);
            assert!(executor_part(least - U256::from(1u64)) < cost, "the least, not more");
            let p = DeployParams { bond_burn_bps: burn, min_bond: least, ..DeployParams::default() };
            assert_eq!(p.check(), Ok(()));
            let p = DeployParams { min_bond: least - U256::from(1u64), ..p };
            assert!(p.check().unwrap_err()[0].starts_with("minBond = "));
        }
    }
}
