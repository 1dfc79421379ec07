//! What the executor and the challenger share: their common settings, the models
//! they serve or check, playing a game move by move with pending-transaction
//! tracking, following the chain's events into the store, and their metrics.
//!
//! Both services follow the op-challenger pattern: on every tick a monitor reads
//! new confirmed events, then one job per game asks the pure solver
//! (`refute-game`) for the next move from the game's on-chain position and sends
//! it. The chain is the source of truth; the store only remembers what to look at
//! and what was already sent, so a restart at any instant is boring.

pub mod config;
pub mod models;
pub mod play;
pub mod scan;

pub use config::{CommonArgs, Settings};
pub use models::ModelSet;

