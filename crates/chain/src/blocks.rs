//! The chain's own state: blocks, the protocol clock, the transactions of a range
//! of blocks, balances.

use crate::bindings::{DisputeGame, InferenceOracle, ModelRegistry};
use crate::{BlockInfo, Chain, ChainError, MinedTx};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::Provider;

impl Chain {
    /// The latest block number.
    pub async fn head(&self) -> Result<u64, ChainError> {
        self.read("eth_blockNumber", || async { self.provider.get_block_number().await }).await
    }

    /// A block's hash and timestamp.
    pub async fn block(&self, number: u64) -> Result<BlockInfo, ChainError> {
        let b = self
            .read("eth_getBlockByNumber", || async { self.provider.get_block_by_number(number.into()).await })
            .await?
            .ok_or_else(|| ChainError::Unavailable(format!("block {number} is not known to the node yet")))?;
        Ok(BlockInfo { number, hash: b.header.hash.0, timestamp: b.header.timestamp })
    }

    /// Every transaction mined in blocks `from..=to`: sender, target, the name of the
    /// protocol function called, and gas used. The demo and the reports use it to
    /// account gas per party and to count moves.
    pub async fn transactions(&self, from: u64, to: u64) -> Result<Vec<MinedTx>, ChainError> {
        use alloy::consensus::Transaction as _;
        use alloy::network::{ReceiptResponse as _, TransactionResponse as _};
        let mut out = Vec::new();
        for n in from..=to {
            let block = self
                .read("eth_getBlockByNumber", || async { self.provider.get_block_by_number(n.into()).full().await })
                .await?
                .ok_or_else(|| ChainError::Unavailable(format!("block {n} is not known to the node yet")))?;
            let receipts =
                self.read("eth_getBlockReceipts", || async { self.provider.get_block_receipts(n.into()).await }).await?.unwrap_or_default();
            let inputs: std::collections::HashMap<B256, Bytes> = block.transactions.txns().map(|t| (t.tx_hash(), t.input().clone())).collect();
            for r in receipts {
                let selector = inputs.get(&r.transaction_hash()).and_then(|i| i.get(..4)).map(|s| [s[0], s[1], s[2], s[3]]);
                let call = match (r.to(), selector) {
                    (Some(to), Some(sel)) => self.call_name(to, sel),
                    _ => None,
                };
                out.push(MinedTx { block: n, from: r.from(), to: r.to(), call, gas_used: r.gas_used(), success: r.status() });
            }
        }
        Ok(out)
    }

    /// The name of the protocol function `selector` calls on contract `to`, if `to`
    /// is one of the deployment's contracts.
    fn call_name(&self, to: Address, selector: [u8; 4]) -> Option<&'static str> {
        let d = &self.deployment;
        if to == d.game {
            DisputeGame::DisputeGameCalls::name_by_selector(selector)
        } else if to == d.oracle {
            InferenceOracle::InferenceOracleCalls::name_by_selector(selector)
        } else if to == d.registry {
            ModelRegistry::ModelRegistryCalls::name_by_selector(selector)
        } else {
            None
        }
    }

    /// The protocol's clock: the timestamp the next block would have, as the node's
    /// pending block says (the latest block's where the node has no pending block).
    /// On a chain that mines only when a transaction comes (a devnet's instant
    /// mining), the latest block can be minutes old while the next one is stamped
    /// now; windows and clocks must be judged by the block a transaction would land
    /// in.
    pub async fn now(&self) -> Result<u64, ChainError> {
        let block = |tag: alloy::eips::BlockNumberOrTag| async move {
            self.read("eth_getBlockByNumber", || async { self.provider.get_block_by_number(tag).await }).await
        };
        let latest = block(alloy::eips::BlockNumberOrTag::Latest).await?.ok_or_else(|| ChainError::Unavailable("no latest block".into()))?;
        // a node without a pending block answers null or an error: the latest then
        let pending = block(alloy::eips::BlockNumberOrTag::Pending).await.ok().flatten().map(|b| b.header.timestamp);
        Ok(latest.header.timestamp.max(pending.unwrap_or(0)))
    }

    /// The balance of `who` on the chain (not in the oracle).
    pub async fn eth_balance(&self, who: Address) -> Result<U256, ChainError> {
        self.read("eth_getBalance", || async { self.provider.get_balance(who).await }).await
    }
}
