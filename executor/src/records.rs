//! What the executor remembers, one record per request, result and game. The chain
//! is the truth: these say what to look at, and hold what the chain cannot give
//! back cheaply (the input bytes to recompute a trace, how it was served).

use crate::cheat::Cheat;
use serde::{Deserialize, Serialize};

/// A request for a served model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRec {
    /// Model id, hex.
    pub model_id: String,
    /// Input bytes, hex.
    pub input: String,
    /// Fee, wei (decimal).
    pub fee: String,
    /// Serve deadline (chain time).
    pub deadline: u64,
    /// Block of the request.
    pub block: u64,
    /// Where serving it stands.
    pub state: RequestState,
    /// The cheat applied when it was served (only with the hidden `--cheat`).
    #[serde(default)]
    pub cheat: Option<Cheat>,
    /// Our post of it, sent and not yet known to be mined.
    #[serde(default)]
    pub post_tx: Option<refute_chain::SentTx>,
}

/// Where serving a request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestState {
    /// To be served.
    Open,
    /// Our post is sent (`post_tx`); once it is mined, or after a restart, the
    /// chain says whether it landed.
    Posting,
    /// Our result is on-chain.
    Posted {
        /// The result.
        result_id: u64,
    },
    /// Someone else served it (it is served again if their result is rejected).
    Taken,
    /// Ours was rejected; not served again.
    Rejected,
    /// Past its deadline, refunded, or finalized: nothing to do.
    Closed,
}

impl RequestState {
    /// Whether the request is in the open index: still to be served, or our post
    /// of it still on its way.
    pub fn is_open(&self) -> bool {
        matches!(self, RequestState::Open | RequestState::Posting)
    }
}

/// One of our results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRec {
    /// Its request.
    pub request_id: u64,
    /// Trace root posted, hex.
    pub trace_root: String,
    /// Block of the post.
    pub block: u64,
    /// Where it stands.
    pub state: ResultState,
    /// The end of its challenge window (chain time); 0 while unknown, or when
    /// the chain is to be asked at once (a rejection was seen). Until then
    /// nothing about the result needs a call to the chain.
    #[serde(default)]
    pub window_end: u64,
}

/// Where a result stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResultState {
    /// In its window or in games.
    Pending,
    /// Final: stake and fee credited.
    Finalized,
    /// Rejected: stake slashed.
    Rejected,
}

/// A game on one of our results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameRec {
    /// The disputed result.
    pub result_id: u64,
    /// The challenger, hex.
    pub challenger: String,
    /// Block of the challenge.
    pub block: u64,
    /// Moves we made.
    pub moves: u32,
    /// `None` while open; the final status after.
    pub ended: Option<refute_game::Status>,
}
