//! The challenger (watchtower) service: re-runs posted results and disputes wrong ones.
