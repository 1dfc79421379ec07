//! A local chain for the demo, the devnet command and the integration tests: anvil
//! from the project's pinned Foundry, on a free port, with funded keys.

use alloy::node_bindings::{Anvil, AnvilInstance};
use std::path::PathBuf;

/// A running anvil; stopped when dropped.
pub struct Devnet {
    anvil: AnvilInstance,
}

impl std::fmt::Debug for Devnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devnet").field("endpoint", &self.anvil.endpoint()).finish()
    }
}

/// Where the anvil binary is: `REFUTE_ANVIL`, else the project's `node_modules`,
/// else `anvil` on `PATH`.
pub fn anvil_path() -> PathBuf {
    if let Ok(p) = std::env::var("REFUTE_ANVIL") {
        return PathBuf::from(p);
    }
    let pinned = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/anvil");
    if pinned.exists() { pinned } else { PathBuf::from("anvil") }
}

impl Devnet {
    /// Starts anvil with instant mining (`block_time` None) or a block every
    /// `block_time` seconds.
    pub fn start(block_time: Option<u64>) -> Result<Devnet, String> {
        Devnet::start_on(0, block_time)
    }

    /// Like [`Devnet::start`], on `port` (0: a free one).
    pub fn start_on(port: u16, block_time: Option<u64>) -> Result<Devnet, String> {
        // 20 funded accounts: the demo gives every party of every scenario its own,
        // so that gas is accounted per party.
        let mut a = Anvil::at(anvil_path()).port(port).timeout(60_000).args(["--accounts", "20"]);
        if let Some(t) = block_time {
            a = a.block_time(t);
        }
        let anvil = a.try_spawn().map_err(|e| format!("starting anvil ({}): {e}", anvil_path().display()))?;
        Ok(Devnet { anvil })
    }

    /// HTTP endpoint.
    pub fn endpoint(&self) -> String {
        self.anvil.endpoint()
    }

    /// Chain id.
    pub fn chain_id(&self) -> u64 {
        self.anvil.chain_id()
    }

    /// Number of funded accounts.
    pub const ACCOUNTS: usize = 20;

    /// The `i`th funded key (`i < 20`), as hex.
    pub fn key(&self, i: usize) -> String {
        let k = self.anvil.keys().get(i).expect("the devnet funds 20 keys");
        format!("0x{}", alloy::hex::encode(k.to_bytes()))
    }

    /// The `i`th funded address.
    pub fn address(&self, i: usize) -> alloy::primitives::Address {
        self.anvil.addresses()[i]
    }

    /// The node's process id (tests kill and restart nodes).
    pub fn pid(&self) -> u32 {
        self.anvil.child().id()
    }
}
