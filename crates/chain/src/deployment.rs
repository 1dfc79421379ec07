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
    /// Challenger's share of a slashed stake, basis points.
    pub reward_bps: u16,
    /// Burned share of a losing challenger's bond, basis points.
    pub bond_burn_bps: u16,
    /// Seconds a request waits to be served.
    pub request_timeout: u64,
    /// Most callback gas a requester may ask for.
    pub max_callback_gas: u64,
    /// Levels one reveal opens.
    pub arity_log2: u32,
    /// Each side's clock, seconds.
    pub clock_seconds: u64,
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
