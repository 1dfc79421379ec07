//! The executor service: serves inference requests and defends its results.
