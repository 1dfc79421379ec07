//! Chain access for refute: alloy bindings generated from the Foundry artifacts in
//! `contracts/out` (built by `forge build` before cargo), a typed client over the
//! protocol's contracts, a log scanner that follows confirmed blocks from a stored
//! cursor, and retries for what can be retried.
//!
//! Everything the services do on-chain goes through [`Chain`]; its methods speak in
//! refute's own types (model ids, traces, game positions and moves), so the ABI
//! stays in this crate. The client is split by contract: [`Chain::connect`] and
//! [`Chain::deploy`] in `client`, then one module each for the registry, the oracle,
//! the game, the chain's blocks and its events; sending and following transactions
//! is in `tx`, the example integrator in `consumer`.

pub mod bindings;
mod blocks;
mod client;
mod config;
mod consumer;
mod deployment;
pub mod devnet;
mod error;
mod events;
mod game;
mod oracle;
mod registry;
pub mod retry;
pub mod scanner;
mod tx;
mod types;

pub use alloy;
pub use client::{init_tls, Chain};
pub use config::{check_rpc_url, parse_amount, parse_private_key, ChainConfig};
pub use consumer::ExampleConsumer;
pub use deployment::{bounds, DeployParams, Deployment};
pub use error::ChainError;
pub use oracle::PostCall;
pub use retry::{with_retry, RetryPolicy};
pub use scanner::{Cursor, ScanPolicy};
pub use tx::{gwei, with_gas_margin, FeePolicy, Fees, Mined, SentTx, TxStatus, BUMP_PERCENT, STUCK_BLOCKS};
pub use types::{b256, BlockInfo, Event, GameInfo, MinedTx, RequestInfo, RequestStatus, ResultInfo, ResultStatus};
