//! The challenger (watchtower) service: follows posted results (all of those of
//! the models it holds, a shard of them, or a sample), re-runs each with the
//! engine, opens a game on every result whose trace root differs from its own and
//! plays it to the end with the pure solver in `refute-game`, then withdraws.
//! `challenger run` runs it; `challenger status` shows what it follows;
//! `challenger check` names whatever is wrong with its settings.
//!
//! - [`config`]: flags, environment and file;
//! - [`service`]: the tick loop (scan, check, play, withdraw);
//! - [`records`]: what it keeps in RocksDB;
//! - [`metrics`], [`status`].

pub mod config;
pub mod metrics;
pub mod records;
pub mod service;
pub mod status;

pub use config::ChallengerArgs;
pub use service::{Challenger, Options, Selection};
