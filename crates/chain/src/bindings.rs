//! Bindings generated from the Foundry artifacts in `contracts/out` (run
//! `forge build` in `contracts/` first; `scripts/test.sh` and `scripts/demo.sh` do).
//! The list of contracts is in this crate's `build.rs`, which writes one `sol!`
//! invocation per contract.
#![allow(missing_docs, clippy::too_many_arguments)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
