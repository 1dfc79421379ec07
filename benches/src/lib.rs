//! Benchmarks of refute (see `docs/performance.md`).
