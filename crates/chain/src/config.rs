//! How to reach a chain: the RPC URL, the sender's key, the deployment and the fee
//! policy, and the parsers that check what an operator types for them.

use crate::tx::FeePolicy;
use crate::{ChainError, Deployment};
use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;

/// How to reach the chain.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// JSON-RPC URL.
    pub rpc_url: String,
    /// Hex private key of the sender.
    pub private_key: String,
    /// The contracts.
    pub deployment: Deployment,
    /// How transactions are priced.
    pub fees: FeePolicy,
}

/// Checks an RPC URL without connecting.
pub fn check_rpc_url(url: &str) -> Result<(), ChainError> {
    let bad = |reason: &str| ChainError::InvalidUrl { url: url.to_string(), reason: reason.to_string() };
    let parsed = url.parse::<reqwest::Url>().map_err(|e| bad(&e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" | "ws" | "wss" => {}
        other => return Err(bad(&format!("scheme `{other}` is not http, https, ws or wss"))),
    }
    if parsed.host_str().is_none() {
        return Err(bad("no host"));
    }
    Ok(())
}

/// Parses a hex private key (with or without `0x`).
pub fn parse_private_key(key: &str) -> Result<PrivateKeySigner, ChainError> {
    key.trim()
        .parse::<PrivateKeySigner>()
        .map_err(|_| ChainError::InvalidKey("expected 32 bytes of hex (64 hex digits, optionally with 0x)".to_string()))
}

/// Parses an amount: wei, or a decimal with `ether`/`eth`/`gwei` (e.g. `0.5ether`).
pub fn parse_amount(s: &str) -> Result<U256, String> {
    let t = s.trim().to_ascii_lowercase().replace(' ', "");
    let (num, decimals) = if let Some(n) = t.strip_suffix("ether").or_else(|| t.strip_suffix("eth")) {
        (n.to_string(), 18)
    } else if let Some(n) = t.strip_suffix("gwei") {
        (n.to_string(), 9)
    } else if let Some(n) = t.strip_suffix("wei") {
        (n.to_string(), 0)
    } else {
        (t.clone(), 0)
    };
    alloy::primitives::utils::parse_units(&num, decimals as u8)
        .map(|v| v.get_absolute())
        .map_err(|e| format!("`{s}` is not an amount (wei, or e.g. `0.5ether`, `20gwei`): {e}"))
}
