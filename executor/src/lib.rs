//! The executor service: serves inference requests for the models it holds,
//! posts each result with a stake, defends every game on its results to the end,
//! finalizes and withdraws. `executor run` runs it; `executor status` shows its
//! results and games; `executor check` names whatever is wrong with its settings.
//!
//! - [`config`]: flags, environment and file;
//! - [`service`]: the tick loop (scan, serve, defend, settle);
//! - [`records`]: what it keeps in RocksDB;
//! - [`cheat`]: deliberate fraud for demos and tests (a hidden flag);
//! - [`metrics`], [`status`].

pub mod cheat;
pub mod config;
pub mod metrics;
pub mod records;
pub mod service;
pub mod status;

pub use config::ExecutorArgs;
pub use service::{Executor, Options};
