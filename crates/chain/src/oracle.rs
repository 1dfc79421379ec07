//! Calls to the InferenceOracle: requests, results, settlement and credit.

use crate::bindings::InferenceOracle;
use crate::tx::{Mined, SentTx};
use crate::types::{hash, u64_of};
use crate::{Chain, ChainError, RequestInfo, RequestStatus, ResultInfo, ResultStatus};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::sol_types::SolEvent;
use refute_core::hash::Hash;
use refute_game::TraceData;

impl Chain {
    /// The oracle's parameters.
    pub async fn oracle_config(&self) -> Result<InferenceOracle::Config, ChainError> {
        self.view("config", || async { self.oracle.config().call().await }).await
    }

    /// Requests inference; returns the request id.
    pub async fn request(&self, model_id: &Hash, input: &[u8], fee: U256, callback: Address, callback_gas: u64) -> Result<u64, ChainError> {
        let input = Bytes::copy_from_slice(input);
        let mined =
            self.send_mined("request", || self.oracle.request(B256::from(*model_id), input.clone(), callback, callback_gas).value(fee)).await?;
        self.request_id_of(&mined).await
    }

    /// The id of the request that the mined transaction made: the `Requested` event
    /// it emitted (not merely one in its block, which may hold other requests).
    pub(crate) async fn request_id_of(&self, mined: &Mined) -> Result<u64, ChainError> {
        let logs = self.logs(self.deployment.oracle, InferenceOracle::Requested::SIGNATURE_HASH, mined.block, mined.block).await?;
        logs.iter()
            .filter(|l| l.transaction_hash == Some(mined.tx_hash))
            .find_map(|l| l.log_decode::<InferenceOracle::Requested>().ok())
            .map(|e| u64_of(e.inner.data.requestId))
            .ok_or_else(|| ChainError::Decode(format!("no Requested event from transaction {}", mined.tx_hash)))
    }

    /// Posts the result of `request_id` from `trace` with `stake` and waits for it
    /// to be mined; returns the result id.
    pub async fn post(&self, request_id: u64, trace: &TraceData, stake: U256) -> Result<u64, ChainError> {
        let call = PostCall::of(request_id, trace);
        let mined = self.send_mined("post", || call.build(self, stake)).await?;
        let logs = self.logs(self.deployment.oracle, InferenceOracle::Posted::SIGNATURE_HASH, mined.block, mined.block).await?;
        logs.iter()
            .filter(|l| l.transaction_hash == Some(mined.tx_hash))
            .filter_map(|l| l.log_decode::<InferenceOracle::Posted>().ok())
            .find(|e| u64_of(e.inner.data.requestId) == request_id)
            .map(|e| u64_of(e.inner.data.resultId))
            .ok_or_else(|| ChainError::Decode("no Posted event in the post's block".into()))
    }

    /// Sends a post without waiting for it (follow it with [`Chain::tx_status`];
    /// once mined, [`Chain::get_request`] names the result). `replacing` is a stuck
    /// post of the same call to re-price.
    pub async fn send_post(&self, call: &PostCall, stake: U256, replacing: Option<&SentTx>) -> Result<SentTx, ChainError> {
        self.send("post", replacing, || call.build(self, stake)).await
    }

    /// Sends a finalization without waiting for it.
    pub async fn send_finalize(&self, result_id: u64) -> Result<SentTx, ChainError> {
        self.send("finalize", None, || self.oracle.finalize(U256::from(result_id))).await
    }

    /// Sends a withdrawal of everything credited to the sender without waiting for
    /// it; `None` when nothing is credited.
    pub async fn send_withdraw(&self) -> Result<Option<(U256, SentTx)>, ChainError> {
        let amount = self.credited(self.sender).await?;
        if amount.is_zero() {
            return Ok(None);
        }
        Ok(Some((amount, self.send("withdraw", None, || self.oracle.withdraw()).await?)))
    }

    /// A request.
    pub async fn get_request(&self, id: u64) -> Result<RequestInfo, ChainError> {
        let r = self.view("getRequest", || async { self.oracle.getRequest(U256::from(id)).call().await }).await?;
        Ok(RequestInfo {
            requester: r.requester,
            model_id: hash(r.modelId),
            fee: r.fee,
            input_commitment: hash(r.inputCommitment),
            deadline: r.deadline,
            status: match r.status {
                1 => RequestStatus::Open,
                2 => RequestStatus::Posted,
                3 => RequestStatus::Finalized,
                4 => RequestStatus::Refunded,
                _ => RequestStatus::None,
            },
            result_id: u64_of(r.resultId),
        })
    }

    /// A result.
    pub async fn get_result(&self, id: u64) -> Result<ResultInfo, ChainError> {
        let r = self.view("getResult", || async { self.oracle.getResult(U256::from(id)).call().await }).await?;
        Ok(ResultInfo {
            request_id: u64_of(r.requestId),
            executor: r.executor,
            stake: r.stake,
            trace_root: hash(r.traceRoot),
            posted_at: r.postedAt,
            window_end: r.windowEnd,
            open_games: r.openGames,
            status: match r.status {
                1 => ResultStatus::Pending,
                2 => ResultStatus::Finalized,
                3 => ResultStatus::Rejected,
                _ => ResultStatus::None,
            },
            rejected_at: r.rejectedAt,
            games_at_rejection: r.gamesAtRejection,
            share: r.share,
            output: r.output.to_vec(),
        })
    }

    /// Finalizes a result.
    pub async fn finalize(&self, result_id: u64) -> Result<Mined, ChainError> {
        self.send_mined("finalize", || self.oracle.finalize(U256::from(result_id))).await
    }

    /// Refunds an unserved request.
    pub async fn refund(&self, request_id: u64) -> Result<Mined, ChainError> {
        self.send_mined("refund", || self.oracle.refund(U256::from(request_id))).await
    }

    /// What the oracle has credited to `who`.
    pub async fn credited(&self, who: Address) -> Result<U256, ChainError> {
        self.view("balanceOf", || async { self.oracle.balanceOf(who).call().await }).await
    }

    /// Withdraws everything credited to the sender; returns the amount (0 if none).
    pub async fn withdraw(&self) -> Result<U256, ChainError> {
        let amount = self.credited(self.sender).await?;
        if amount.is_zero() {
            return Ok(amount);
        }
        self.send_mined("withdraw", || self.oracle.withdraw()).await?;
        Ok(amount)
    }
}

/// The arguments of a post, made once from a trace: the output step, the root, the
/// step count and the two leaf proofs. Small (the trace itself is not kept), so a
/// stuck post can be re-priced without the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostCall {
    /// The request served.
    pub request_id: u64,
    /// The last step's bytes (the result's output).
    pub output: Vec<u8>,
    /// The trace root.
    pub root: Hash,
    /// Steps in the trace.
    pub steps: u32,
    /// Proof of the first leaf (the input) under the root.
    pub first_proof: Vec<Hash>,
    /// Proof of the last leaf (the output) under the root.
    pub last_proof: Vec<Hash>,
}

impl PostCall {
    /// The post of `trace` for `request_id`.
    pub fn of(request_id: u64, trace: &TraceData) -> PostCall {
        PostCall::new(request_id, trace.step(trace.len() - 1).bytes().to_vec(), trace.commitments())
    }

    /// The post for `request_id` of a trace given by its step commitments (as the
    /// engine computes them with its run) and its output bytes: the trace tree is
    /// built from the commitments alone, no step is hashed again.
    pub fn new(request_id: u64, output: Vec<u8>, commitments: &[Hash]) -> PostCall {
        let n = commitments.len();
        let tree = refute_core::commit::trace_tree(commitments);
        let proof = |i: usize| tree.prove(&[i]).expect("a leaf");
        PostCall { request_id, output, root: tree.root(), steps: n as u32, first_proof: proof(0), last_proof: proof(n - 1) }
    }

    fn build<'a>(
        &self,
        chain: &'a Chain,
        stake: U256,
    ) -> alloy::contract::CallBuilder<&'a alloy::providers::DynProvider, std::marker::PhantomData<InferenceOracle::postCall>> {
        let b32 = |v: &[Hash]| v.iter().map(|h| B256::from(*h)).collect::<Vec<_>>();
        chain
            .oracle
            .post(
                U256::from(self.request_id),
                Bytes::copy_from_slice(&self.output),
                B256::from(self.root),
                self.steps,
                b32(&self.first_proof),
                b32(&self.last_proof),
            )
            .value(stake)
    }
}
