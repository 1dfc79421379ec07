//! What the refute services share beyond the chain and the store: logging set-up,
//! the Prometheus endpoint, configuration files, and shutdown on a signal.
//!
//! Kept apart from `executor/` and `challenger/` so both operate the same way:
//! one place sets up the subscriber, one serves metrics, one reads config files.

pub mod config;
pub mod logging;
pub mod metrics;
pub mod shutdown;
