//! Chain access for refute: alloy bindings generated from the Foundry artifacts in
//! `contracts/out` (built by `forge build` before cargo), a typed client over the
//! four contracts, a log scanner that follows confirmed blocks from a stored cursor,
//! and retries for what can be retried.
//!
//! Everything the services do on-chain goes through [`Chain`]; its methods speak in
//! refute's own types (model ids, traces, game positions and moves), so the ABI
//! stays in this crate.

pub mod bindings;
mod client;
pub mod devnet;
mod error;
pub mod retry;
pub mod scanner;
mod tx;

pub use alloy;
pub use client::*;
pub use error::ChainError;
pub use retry::{with_retry, RetryPolicy};
pub use scanner::{Cursor, ScanPolicy};
pub use tx::{gwei, FeePolicy, Fees, Mined, SentTx, TxStatus, BUMP_PERCENT, STUCK_BLOCKS};
