//! Sending transactions that land: priced by an EIP-1559 fee policy, given nonces
//! from the chain, and followed until mined. A transaction the node no longer knows
//! (dropped from its mempool, lost in a restart) or whose nonce another transaction
//! took (replaced) is sent again; one stuck behind a nonce gap has the gap filled; one
//! left in the mempool for blocks, or priced under the base fee, is re-priced with a
//! bumped fee, up to the policy's cap (a clear warning when the cap stops it).
//!
//! Nonces come from the chain's pending count at every fresh send, never from a
//! local cache, so nothing a node forgets can leave the sender queued behind a gap.

use crate::error::contract_err;
use crate::{Chain, ChainError};
use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Blocks a transaction may wait in the mempool before it is re-priced.
pub const STUCK_BLOCKS: u64 = 3;

/// How transactions are priced (EIP-1559).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeePolicy {
    /// Priority fee per gas (wei) of a first send.
    pub tip: u128,
    /// The most fee per gas (wei) any send may offer.
    pub cap: u128,
}

impl Default for FeePolicy {
    fn default() -> Self {
        FeePolicy { tip: 1_000_000_000, cap: 200_000_000_000 }
    }
}

/// The fees of one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fees {
    /// Most fee per gas (wei).
    pub max_fee: u128,
    /// Priority fee per gas (wei).
    pub tip: u128,
}

/// A replacement must raise both fees by this many percent over the transaction it
/// replaces (nodes refuse less than 10%).
pub const BUMP_PERCENT: u128 = 25;

fn bumped(v: u128) -> u128 {
    (v * (100 + BUMP_PERCENT)).div_ceil(100)
}

impl FeePolicy {
    /// Fees for a send when the latest block's base fee is `base`: twice the base
    /// fee plus the tip (room for several full blocks of base-fee growth), at most
    /// the cap. A replacement raises both fees of `replacing` by [`BUMP_PERCENT`];
    /// `None` when the cap leaves no room for that.
    pub fn price(&self, base: u128, replacing: Option<Fees>) -> Option<Fees> {
        let (mut tip, mut max_fee) = (self.tip, 2 * base + self.tip);
        if let Some(old) = replacing {
            tip = tip.max(bumped(old.tip));
            max_fee = max_fee.max(bumped(old.max_fee)).max(base + tip);
            if max_fee > self.cap {
                max_fee = self.cap;
            }
            // nodes take a replacement only if both fees rose by at least 10%
            if max_fee * 100 < old.max_fee * 110 {
                return None;
            }
            tip = tip.min(max_fee);
            if tip * 100 < old.tip * 110 {
                return None;
            }
            return Some(Fees { max_fee, tip });
        }
        max_fee = max_fee.min(self.cap);
        tip = tip.min(max_fee);
        Some(Fees { max_fee, tip })
    }
}

/// A transaction the sender has broadcast: enough to follow it, price it again and
/// replace it. Kept in the services' stores across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentTx {
    /// What was called.
    pub call: String,
    /// Hash, hex.
    pub hash: String,
    /// Its nonce.
    pub nonce: u64,
    /// Most fee per gas (wei).
    pub max_fee: u128,
    /// Priority fee per gas (wei).
    pub tip: u128,
    /// The head when it was sent.
    pub block: u64,
}

impl SentTx {
    /// Its fees.
    pub fn fees(&self) -> Fees {
        Fees { max_fee: self.max_fee, tip: self.tip }
    }
}

/// A mined transaction's receipt, as much of it as the services use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mined {
    /// The transaction's hash: what it emitted is told apart from what other
    /// transactions of the same block emitted by it.
    pub tx_hash: B256,
    /// Block number.
    pub block: u64,
    /// Gas used.
    pub gas_used: u64,
}

/// Where a sent transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    /// In a block; `success` false if it reverted.
    Mined {
        /// Whether it succeeded.
        success: bool,
        /// The receipt.
        mined: Mined,
    },
    /// In the mempool, due to be mined.
    Pending,
    /// In the mempool for [`STUCK_BLOCKS`] blocks or more, or priced under the base
    /// fee: to be re-priced.
    Stuck,
    /// In the mempool but behind a gap in the sender's nonces: the gap must be filled.
    Queued,
    /// Not known to the node and its nonce unused: dropped (or lost in a restart).
    Dropped,
    /// Not known to the node and its nonce used by another transaction.
    Replaced,
}

impl Chain {
    /// The nonce of the sender's next transaction as the node sees it, counting its
    /// pending transactions. Fresh sends take it, so a gap left by a transaction the
    /// node dropped is filled by the next send.
    pub async fn pending_nonce(&self) -> Result<u64, ChainError> {
        self.read("eth_getTransactionCount", || async { self.provider().get_transaction_count(self.sender()).pending().await }).await
    }

    /// The nonce after the sender's last mined transaction.
    pub async fn mined_nonce(&self) -> Result<u64, ChainError> {
        self.read("eth_getTransactionCount", || async { self.provider().get_transaction_count(self.sender()).latest().await }).await
    }

    /// The latest block's base fee per gas (0 before EIP-1559).
    pub async fn base_fee(&self) -> Result<u128, ChainError> {
        let b = self
            .read("eth_getBlockByNumber", || async { self.provider().get_block_by_number(BlockNumberOrTag::Latest).await })
            .await?
            .ok_or_else(|| ChainError::Unavailable("no latest block".into()))?;
        Ok(b.header.base_fee_per_gas.unwrap_or(0) as u128)
    }

    /// Sends the transaction `build` makes: estimated first in the pending block (a
    /// revert comes back decoded before anything is sent), priced by the fee policy,
    /// with the chain's pending nonce, or, when `replacing` a stuck transaction, with
    /// that transaction's nonce and fees bumped past it. Transient failures are
    /// retried.
    pub(crate) async fn send<'a, D, F>(&'a self, what: &str, replacing: Option<&SentTx>, build: F) -> Result<SentTx, ChainError>
    where
        D: alloy::contract::CallDecoder + Unpin,
        F: Fn() -> alloy::contract::CallBuilder<&'a DynProvider, D>,
    {
        let _guard = self.send_lock().lock().await;
        crate::with_retry(self.retry_policy(), what, || async {
            // The node estimates gas in the pending block's state and time, but the
            // transaction runs in a later block: a game move's clock arithmetic
            // writes storage that was unchanged at estimation time (a second has
            // passed), which costs more than the bare estimate. A margin keeps such
            // a move from running out of gas; unused gas is not charged.
            let gas = build().block(BlockId::pending()).estimate_gas().await.map_err(|e| contract_err(what, e))?;
            let head = self.head().await?;
            let base = self.base_fee().await?;
            let fees = self.fee_policy().price(base, replacing.map(SentTx::fees)).ok_or_else(|| ChainError::FeeCapped {
                call: what.to_string(),
                cap: self.fee_policy().cap,
                needed: replacing.map(|t| bumped(t.max_fee)).unwrap_or(0),
            })?;
            if fees.max_fee < base {
                tracing::warn!(
                    call = what,
                    cap_gwei = gwei(self.fee_policy().cap),
                    base_fee_gwei = gwei(base),
                    "the fee cap is below the base fee: the transaction waits until the base fee falls (raise --max-fee-per-gas to send it now)"
                );
            }
            let nonce = match replacing {
                // mined while it looked stuck (or its nonce taken): a replacement
                // would only meet `nonce too low`, attempt after attempt
                Some(t) if self.mined_nonce().await? > t.nonce => return Err(ChainError::NonceUsed { call: what.to_string(), nonce: t.nonce }),
                Some(t) => t.nonce,
                None => self.pending_nonce().await?,
            };
            let pending = build()
                .gas(crate::with_gas_margin(gas))
                .nonce(nonce)
                .max_fee_per_gas(fees.max_fee)
                .max_priority_fee_per_gas(fees.tip)
                .send()
                .await
                .map_err(|e| contract_err(what, e))?;
            Ok(SentTx { call: what.to_string(), hash: pending.tx_hash().to_string(), nonce, max_fee: fees.max_fee, tip: fees.tip, block: head })
        })
        .await
    }

    /// Where `tx` stands (see [`TxStatus`]).
    pub async fn tx_status(&self, tx: &SentTx) -> Result<TxStatus, ChainError> {
        let h: B256 = tx.hash.parse().map_err(|_| ChainError::Decode(format!("tx hash {}", tx.hash)))?;
        if let Some(r) = self.read("eth_getTransactionReceipt", || async { self.provider().get_transaction_receipt(h).await }).await? {
            let mined = Mined { tx_hash: h, block: r.block_number.unwrap_or_default(), gas_used: r.gas_used };
            return Ok(TxStatus::Mined { success: r.status(), mined });
        }
        let known = self.read("eth_getTransactionByHash", || async { self.provider().get_transaction_by_hash(h).await }).await?.is_some();
        if !known {
            return Ok(if self.mined_nonce().await? > tx.nonce { TxStatus::Replaced } else { TxStatus::Dropped });
        }
        if tx.nonce >= self.pending_nonce().await? {
            return Ok(TxStatus::Queued);
        }
        let stale = self.head().await? >= tx.block + STUCK_BLOCKS;
        Ok(if stale || tx.max_fee < self.base_fee().await? { TxStatus::Stuck } else { TxStatus::Pending })
    }

    /// Fills the first gap in the sender's nonces with a transfer of nothing to
    /// itself, so that the transactions queued behind it can be mined.
    pub async fn fill_nonce_gap(&self) -> Result<SentTx, ChainError> {
        let _guard = self.send_lock().lock().await;
        let nonce = self.pending_nonce().await?;
        let fees = self.fee_policy().price(self.base_fee().await?, None).expect("a first send always has a price");
        let hash = self.send_raw_transfer(self.sender(), nonce, fees).await?;
        tracing::info!(nonce, tx = %hash, "filled a gap in the sender's nonces");
        Ok(SentTx { call: "fillNonceGap".into(), hash, nonce, max_fee: fees.max_fee, tip: fees.tip, block: self.head().await? })
    }

    /// Replaces every transaction of the sender still in the mempool with a transfer
    /// of nothing to itself at the fee cap: after a restart, what was sent before it
    /// and is stuck is cancelled, and the service decides again from the chain.
    pub async fn cancel_in_flight(&self) -> Result<u64, ChainError> {
        let _guard = self.send_lock().lock().await;
        let (mined, pending) = (self.mined_nonce().await?, self.pending_nonce().await?);
        let cap = self.fee_policy().cap;
        for nonce in mined..pending {
            let hash = self.send_raw_transfer(self.sender(), nonce, Fees { max_fee: cap, tip: cap.min(10 * self.fee_policy().tip) }).await?;
            tracing::warn!(nonce, tx = %hash, "cancelled a transaction stuck since before the restart");
        }
        Ok(pending - mined)
    }

    async fn send_raw_transfer(&self, to: Address, nonce: u64, fees: Fees) -> Result<String, ChainError> {
        let tx = alloy::rpc::types::TransactionRequest::default()
            .from(self.sender())
            .to(to)
            .value(U256::ZERO)
            .nonce(nonce)
            .gas_limit(21_000)
            .max_fee_per_gas(fees.max_fee)
            .max_priority_fee_per_gas(fees.tip);
        let p = self.provider().send_transaction(tx).await.map_err(|e| crate::error::transport_err("eth_sendRawTransaction", e))?;
        Ok(p.tx_hash().to_string())
    }

    /// Sends the transaction `build` makes and follows it until it is mined: sent
    /// again if dropped or replaced, its gap filled if queued, re-priced if stuck.
    /// A revert (at estimation or on-chain) is an error; so is not being mined
    /// within the client's timeout (the caller decides again from the chain).
    pub(crate) async fn send_mined<'a, D, F>(&'a self, what: &str, build: F) -> Result<Mined, ChainError>
    where
        D: alloy::contract::CallDecoder + Unpin,
        F: Fn() -> alloy::contract::CallBuilder<&'a DynProvider, D>,
    {
        let deadline = tokio::time::Instant::now() + self.tx_timeout();
        let mut tx = self.send(what, None, &build).await?;
        // the versions of this call sent before `tx` at its nonce: after a re-price
        // the node may still mine one of them, which leaves `tx` replaced, and the
        // call must not then be sent a second time
        let mut earlier: Vec<SentTx> = Vec::new();
        loop {
            tokio::time::sleep(TX_POLL).await;
            let resend = || async {
                for old in &earlier {
                    if let TxStatus::Mined { success, mined } = self.tx_status(old).await? {
                        return Ok(Err((success, mined, old.hash.clone())));
                    }
                }
                self.send(what, None, &build).await.map(Ok)
            };
            let followed = self.follow(&tx, || self.send(what, Some(&tx), &build), resend).await?;
            match followed {
                Followed::Mined(m) => return Ok(m),
                Followed::EarlierMined { success: true, mined, .. } => return Ok(mined),
                Followed::EarlierMined { success: false, hash, .. } => {
                    return Err(ChainError::Reverted { call: what.to_string(), reason: format!("transaction {hash} reverted on-chain") });
                }
                Followed::Waiting => {}
                Followed::Sent(next) => {
                    if next.nonce == tx.nonce {
                        earlier.push(std::mem::replace(&mut tx, next));
                    } else {
                        earlier.clear();
                        tx = next;
                    }
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ChainError::NotMined(tx.hash.clone()));
            }
        }
    }

    /// Waits until `tx` is mined, without sending anything again (for a move sent by
    /// hand; the services follow theirs and send them again). A revert, a dropped or
    /// replaced transaction and the client's timeout are errors.
    pub async fn wait_mined(&self, tx: &SentTx) -> Result<Mined, ChainError> {
        let deadline = tokio::time::Instant::now() + self.tx_timeout();
        loop {
            match self.tx_status(tx).await? {
                TxStatus::Mined { success: true, mined } => return Ok(mined),
                TxStatus::Mined { success: false, .. } => {
                    return Err(ChainError::Reverted { call: tx.call.clone(), reason: format!("transaction {} reverted on-chain", tx.hash) });
                }
                TxStatus::Dropped | TxStatus::Replaced => return Err(ChainError::NotMined(format!("{} (no longer known to the node)", tx.hash))),
                TxStatus::Pending | TxStatus::Stuck | TxStatus::Queued => {}
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ChainError::NotMined(tx.hash.clone()));
            }
            tokio::time::sleep(TX_POLL).await;
        }
    }

    /// One look at a sent transaction, and what it needs: `reprice` sends the same
    /// call again at the same nonce with bumped fees, `resend` sends it afresh.
    /// `resend` may instead find an earlier version of the call mined (`Err` with
    /// its success, receipt and hash).
    async fn follow<R, S>(&self, tx: &SentTx, reprice: impl FnOnce() -> R, resend: impl FnOnce() -> S) -> Result<Followed, ChainError>
    where
        R: std::future::Future<Output = Result<SentTx, ChainError>>,
        S: std::future::Future<Output = Result<Result<SentTx, (bool, Mined, String)>, ChainError>>,
    {
        Ok(match self.tx_status(tx).await? {
            TxStatus::Mined { success: true, mined } => Followed::Mined(mined),
            TxStatus::Mined { success: false, .. } => {
                return Err(ChainError::Reverted { call: tx.call.clone(), reason: format!("transaction {} reverted on-chain", tx.hash) });
            }
            TxStatus::Pending => Followed::Waiting,
            TxStatus::Queued => {
                self.fill_nonce_gap().await?;
                Followed::Waiting
            }
            TxStatus::Stuck => match reprice().await {
                Ok(next) => {
                    tracing::info!(call = %tx.call, old = %tx.hash, new = %next.hash, max_fee_gwei = gwei(next.max_fee), tip_gwei = gwei(next.tip), "re-priced a stuck transaction");
                    Followed::Sent(next)
                }
                Err(ChainError::FeeCapped { cap, .. }) => {
                    tracing::warn!(call = %tx.call, tx = %tx.hash, cap_gwei = gwei(cap), "the fee cap stops re-pricing a stuck transaction (raise --max-fee-per-gas)");
                    Followed::Waiting
                }
                // the next look finds it mined (or replaced)
                Err(ChainError::NonceUsed { .. }) => Followed::Waiting,
                Err(e) => return Err(e),
            },
            status @ (TxStatus::Dropped | TxStatus::Replaced) => match resend().await? {
                Ok(next) => {
                    tracing::warn!(call = %tx.call, old = %tx.hash, new = %next.hash, ?status, "the node no longer has the transaction: sent again");
                    Followed::Sent(next)
                }
                Err((success, mined, hash)) => {
                    tracing::info!(call = %tx.call, replacement = %tx.hash, mined = %hash, "an earlier price of the transaction was mined");
                    Followed::EarlierMined { success, mined, hash }
                }
            },
        })
    }
}

/// What one look at a followed transaction found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Followed {
    /// The transaction is mined and succeeded.
    Mined(Mined),
    /// Nothing to do yet.
    Waiting,
    /// A new transaction was sent in its place: follow that one now.
    Sent(SentTx),
    /// The transaction was replaced by an earlier price of the same call, which
    /// was mined (`success` false if it reverted).
    EarlierMined {
        /// Whether it succeeded.
        success: bool,
        /// Its receipt.
        mined: Mined,
        /// Its hash.
        hash: String,
    },
}

/// The gas limit sent for a transaction estimated at `estimate`: a quarter more
/// plus 25,000 (enough for the storage writes that timing alone can add).
pub fn with_gas_margin(estimate: u64) -> u64 {
    estimate.saturating_add(estimate / 4).saturating_add(25_000)
}

/// Wei per gas in gwei, for logs.
pub fn gwei(wei: u128) -> f64 {
    wei as f64 / 1e9
}

/// How long [`Chain::send_mined`] waits between looks at a transaction.
pub const TX_POLL: Duration = Duration::from_millis(250);

#[cfg(test)]
mod tests {
    use super::*;

    const GWEI: u128 = 1_000_000_000;

    #[test]
    fn a_first_send_pays_twice_the_base_fee_plus_the_tip_within_the_cap() {
        let p = FeePolicy { tip: GWEI, cap: 100 * GWEI };
        assert_eq!(p.price(10 * GWEI, None), Some(Fees { max_fee: 21 * GWEI, tip: GWEI }));
        // a base fee over half the cap: the cap
        assert_eq!(p.price(80 * GWEI, None), Some(Fees { max_fee: 100 * GWEI, tip: GWEI }));
        // a tip over the cap is cut to it
        let greedy = FeePolicy { tip: 200 * GWEI, cap: 100 * GWEI };
        assert_eq!(greedy.price(0, None), Some(Fees { max_fee: 100 * GWEI, tip: 100 * GWEI }));
    }

    #[test]
    fn a_replacement_raises_both_fees_enough_and_stops_at_the_cap() {
        let p = FeePolicy { tip: GWEI, cap: 100 * GWEI };
        let old = Fees { max_fee: 21 * GWEI, tip: GWEI };
        let r = p.price(10 * GWEI, Some(old)).unwrap();
        assert!(r.max_fee * 100 >= old.max_fee * 110 && r.tip * 100 >= old.tip * 110, "{r:?}");
        // a base fee spike: the replacement follows the new base fee
        let r = p.price(40 * GWEI, Some(old)).unwrap();
        assert!(r.max_fee >= 40 * GWEI + r.tip, "{r:?}");
        // near the cap: capped, and refused once no 10% rise fits under it
        let near = Fees { max_fee: 95 * GWEI, tip: GWEI };
        assert_eq!(p.price(10 * GWEI, Some(near)), None);
        let r = p.price(10 * GWEI, Some(Fees { max_fee: 90 * GWEI, tip: GWEI })).unwrap();
        assert_eq!(r.max_fee, 100 * GWEI);
    }
}
