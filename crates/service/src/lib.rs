//! What the executor and the challenger share: their common settings, the models
//! they serve or check, playing a game move by move with pending-transaction
//! tracking, following the chain's events into the store, and their metrics.
//!
//! Both services follow the op-challenger pattern, in lanes that run side by side
//! ([`runner::run_lanes`]): one follows the chain's events and does the service's
//! own work (serving requests, checking results), never waiting for a block; the
//! game lane ([`games::Scheduler`]) keeps one job per open game, most urgent clock
//! first, each asking the pure solver (`refute-game`) for the next move from the
//! game's on-chain position and sending it. Both send through the one chain client,
//! whose send lock is the account's one nonce manager. The chain is the source of
//! truth; the store only remembers what to look at (its open index) and what was
//! already sent, so a restart at any instant is boring.

pub mod config;
#[cfg(any(test, feature = "testkit"))]
pub mod fakechain;
pub mod games;
#[cfg(test)]
mod lane_tests;
pub mod localnet;
pub mod models;
pub mod oracle;
pub mod play;
pub mod runner;
pub mod scan;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use config::{CommonArgs, Settings};
pub use models::{ModelSet, SharedEngine};

/// Wei as ether, for gauges and logs (a float: for display only).
pub fn eth(wei: refute_chain::alloy::primitives::U256) -> f64 {
    wei.to_string().parse::<f64>().unwrap_or(f64::MAX) / 1e18
}

/// The id in a record key made by [`refute_store::id_key`].
pub fn id_of(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&key[key.len() - 8..]);
    u64::from_be_bytes(b)
}
