//! What can go wrong talking to a chain, in terms an operator can act on, and the
//! decoding of reverts (custom errors of any of the protocol's contracts) and of
//! transport failures into those terms.

use crate::bindings::{DigitConsumer, DisputeGame, InferenceOracle, ModelRegistry, OneStepVerifier};

/// A chain operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    /// The RPC URL is malformed or of an unsupported scheme.
    #[error("invalid RPC URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The private key is malformed.
    #[error("invalid private key: {0}")]
    InvalidKey(String),
    /// The node could not be reached or dropped the connection: worth retrying.
    #[error("node unavailable: {0}")]
    Unavailable(String),
    /// The node answered with an error that is not a revert.
    #[error("node error: {0}")]
    Rpc(String),
    /// The call or transaction reverted; `reason` is the decoded custom error.
    #[error("{call} reverted: {reason}")]
    Reverted {
        /// The contract function.
        call: String,
        /// The decoded error (e.g. `ClockExpired()`), or the raw revert data.
        reason: String,
    },
    /// A transaction was not mined in time: worth retrying (it is idempotent).
    #[error("transaction {0} was not mined in time")]
    NotMined(String),
    /// No contract at an address the deployment names.
    #[error("no {what} contract at {address} (wrong deployment file or chain?)")]
    NotDeployed {
        /// Which contract.
        what: &'static str,
        /// The address.
        address: String,
    },
    /// The deployment file's addresses do not hold the contracts it says.
    #[error("deployment file: {0}")]
    WrongDeployment(String),
    /// The chain is not the one the deployment was made on.
    #[error("the node is on chain {actual}, the deployment is for chain {expected}")]
    WrongChain {
        /// Chain id in the deployment.
        expected: u64,
        /// Chain id of the node.
        actual: u64,
    },
    /// The fee cap leaves no room to re-price a stuck transaction.
    #[error("{call}: the fee cap of {} gwei leaves no room to re-price the stuck transaction (it needs {} gwei); raise --max-fee-per-gas", *cap as f64 / 1e9, *needed as f64 / 1e9)]
    FeeCapped {
        /// The contract function.
        call: String,
        /// The cap, wei per gas.
        cap: u128,
        /// The fee a replacement needed, wei per gas.
        needed: u128,
    },
    /// The transaction to re-price was mined (or its nonce used by another of the
    /// sender's) before its replacement could be sent: nothing is left to replace;
    /// its status says what happened.
    #[error("{call}: nonce {nonce} was used before the re-priced transaction could replace it")]
    NonceUsed {
        /// The contract function.
        call: String,
        /// The nonce.
        nonce: u64,
    },
    /// Deployment parameters out of the bounds the contracts enforce (nothing was
    /// deployed).
    #[error("deployment parameters out of bounds (nothing deployed): {}", .0.join("; "))]
    BadParams(Vec<String>),
    /// Data from the chain could not be decoded.
    #[error("could not decode {0}")]
    Decode(String),
}

impl ChainError {
    /// Whether the same call may succeed if tried again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, ChainError::Unavailable(_) | ChainError::NotMined(_))
    }
}

/// Turns an alloy contract error into a [`ChainError`], decoding custom errors of
/// any of the protocol's contracts (a revert may come from a nested call).
pub(crate) fn contract_err(call: &str, e: alloy::contract::Error) -> ChainError {
    if let Some(d) = e.as_decoded_interface_error::<DisputeGame::DisputeGameErrors>() {
        return ChainError::Reverted { call: call.into(), reason: format!("{d:?}") };
    }
    if let Some(d) = e.as_decoded_interface_error::<InferenceOracle::InferenceOracleErrors>() {
        return ChainError::Reverted { call: call.into(), reason: format!("{d:?}") };
    }
    if let Some(d) = e.as_decoded_interface_error::<ModelRegistry::ModelRegistryErrors>() {
        return ChainError::Reverted { call: call.into(), reason: format!("{d:?}") };
    }
    if let Some(d) = e.as_decoded_interface_error::<OneStepVerifier::OneStepVerifierErrors>() {
        return ChainError::Reverted { call: call.into(), reason: format!("{d:?}") };
    }
    if let Some(d) = e.as_decoded_interface_error::<DigitConsumer::DigitConsumerErrors>() {
        return ChainError::Reverted { call: call.into(), reason: format!("{d:?}") };
    }
    if let Some(data) = e.as_revert_data() {
        return ChainError::Reverted { call: call.into(), reason: format!("revert data {data}") };
    }
    match e {
        alloy::contract::Error::TransportError(t) => transport_err(call, t),
        alloy::contract::Error::PendingTransactionError(p) => ChainError::NotMined(format!("{call}: {p}")),
        alloy::contract::Error::ZeroData(f, _) => {
            ChainError::Decode(format!("{call}: `{f}` returned no data (is there a contract at that address?)"))
        }
        other => ChainError::Decode(format!("{call}: {other}")),
    }
}

pub(crate) fn transport_err(what: &str, e: alloy::transports::TransportError) -> ChainError {
    use alloy::transports::RpcError;
    match &e {
        RpcError::Transport(kind) => ChainError::Unavailable(format!("{what}: {kind}")),
        RpcError::ErrorResp(payload) => {
            let msg = payload.message.to_string();
            if msg.contains("revert") {
                ChainError::Reverted { call: what.into(), reason: msg }
            } else if msg.contains("nonce too low") || msg.contains("replacement transaction underpriced") {
                // another sender used the nonce first; trying again picks a new one
                ChainError::Unavailable(format!("{what}: {msg}"))
            } else if msg.contains("less than block base fee") {
                // the base fee rose between pricing and sending (full blocks):
                // trying again prices from the new one
                ChainError::Unavailable(format!("{what}: {msg}"))
            } else {
                ChainError::Rpc(format!("{what}: {msg}"))
            }
        }
        _ => ChainError::Unavailable(format!("{what}: {e}")),
    }
}
