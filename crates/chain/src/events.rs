//! The events the services follow, decoded from the logs of confirmed blocks.

use crate::bindings::{DisputeGame, InferenceOracle};
use crate::types::{status_of, u64_of};
use crate::{Chain, ChainError, Event};
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;

impl Chain {
    pub(crate) async fn logs(&self, address: Address, sig: B256, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        let filter = Filter::new().address(address).event_signature(sig).from_block(from).to_block(to);
        self.read("eth_getLogs", || async { self.provider.get_logs(&filter).await }).await
    }

    /// The events the services follow, in blocks `from..=to`, in chain order.
    pub async fn events(&self, from: u64, to: u64) -> Result<Vec<Event>, ChainError> {
        let filter = Filter::new()
            .address(vec![self.deployment.oracle, self.deployment.game])
            .event_signature(vec![
                InferenceOracle::Requested::SIGNATURE_HASH,
                InferenceOracle::Posted::SIGNATURE_HASH,
                InferenceOracle::Finalized::SIGNATURE_HASH,
                InferenceOracle::Rejected::SIGNATURE_HASH,
                DisputeGame::GameOpened::SIGNATURE_HASH,
                DisputeGame::GameResolved::SIGNATURE_HASH,
            ])
            .from_block(from)
            .to_block(to);
        let logs = self.read("eth_getLogs", || async { self.provider.get_logs(&filter).await }).await?;
        let mut out = Vec::with_capacity(logs.len());
        for l in &logs {
            let block = l.block_number.unwrap_or_default();
            let topic0 = l.topic0().copied().unwrap_or_default();
            let bad = |e: alloy::sol_types::Error| ChainError::Decode(format!("event in block {block}: {e}"));
            let ev = if topic0 == InferenceOracle::Requested::SIGNATURE_HASH {
                let d = l.log_decode::<InferenceOracle::Requested>().map_err(bad)?.inner.data;
                Event::Requested {
                    request_id: u64_of(d.requestId),
                    model_id: d.modelId.0,
                    requester: d.requester,
                    fee: d.fee,
                    deadline: d.deadline,
                    input: d.input.to_vec(),
                    block,
                }
            } else if topic0 == InferenceOracle::Posted::SIGNATURE_HASH {
                let d = l.log_decode::<InferenceOracle::Posted>().map_err(bad)?.inner.data;
                Event::Posted {
                    result_id: u64_of(d.resultId),
                    request_id: u64_of(d.requestId),
                    executor: d.executor,
                    trace_root: d.traceRoot.0,
                    output: d.output.to_vec(),
                    block,
                }
            } else if topic0 == InferenceOracle::Finalized::SIGNATURE_HASH {
                let d = l.log_decode::<InferenceOracle::Finalized>().map_err(bad)?.inner.data;
                Event::Finalized { result_id: u64_of(d.resultId) }
            } else if topic0 == InferenceOracle::Rejected::SIGNATURE_HASH {
                let d = l.log_decode::<InferenceOracle::Rejected>().map_err(bad)?.inner.data;
                Event::Rejected { result_id: u64_of(d.resultId), request_id: u64_of(d.requestId) }
            } else if topic0 == DisputeGame::GameOpened::SIGNATURE_HASH {
                let d = l.log_decode::<DisputeGame::GameOpened>().map_err(bad)?.inner.data;
                Event::GameOpened { game_id: u64_of(d.gameId), result_id: u64_of(d.resultId), challenger: d.challenger, executor: d.executor, block }
            } else if topic0 == DisputeGame::GameResolved::SIGNATURE_HASH {
                let d = l.log_decode::<DisputeGame::GameResolved>().map_err(bad)?.inner.data;
                Event::GameResolved { game_id: u64_of(d.gameId), status: status_of(d.status) }
            } else {
                continue;
            };
            out.push(ev);
        }
        Ok(out)
    }
}
