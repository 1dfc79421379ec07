//! The executor service: serves inference requests for the models it holds,
//! posts each result with a stake, defends every game on its results to the end,
//! finalizes and withdraws. `executor run` runs it; `executor status` shows its
//! results and games; `executor check` names whatever is wrong with its settings.
//!
//! - [`config`]: flags, environment and file;
//! - [`service`]: the lanes (scan, serve, settle; defend);
//! - [`source`]: where posts and traces come from: the honest engine, or a liar
//!   wrapped around it;
//! - [`records`]: what it keeps in RocksDB;
//! - [`cheat`]: the lies a lying source tells (a hidden flag, for demos and tests);
//! - [`metrics`], [`status`].

pub mod cheat;
pub mod config;
#[cfg(test)]
mod lane_tests;
pub mod metrics;
pub mod records;
pub mod service;
pub mod source;
pub mod status;

pub use config::ExecutorArgs;
pub use service::{build_indexes, Executor, Options};
