//! What the contracts hold and emit, in refute's own types, and the conversions from
//! the ABI's.

use alloy::primitives::{Address, FixedBytes, B256, U256};
use refute_core::hash::Hash;
use refute_game::{Phase, Position, Side, Status};
use serde::{Deserialize, Serialize};

/// Status of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestStatus {
    /// No such request.
    None,
    /// Waiting for a result.
    Open,
    /// A result is pending.
    Posted,
    /// Final.
    Finalized,
    /// Fee returned.
    Refunded,
}

/// Status of a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResultStatus {
    /// No such result.
    None,
    /// In its window or in games.
    Pending,
    /// Final.
    Finalized,
    /// Rejected by a game.
    Rejected,
}

/// A request as the oracle holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// Requester.
    pub requester: Address,
    /// Model id.
    pub model_id: Hash,
    /// Fee, wei.
    pub fee: U256,
    /// Commitment of the input.
    pub input_commitment: Hash,
    /// Serve deadline (timestamp).
    pub deadline: u64,
    /// Status.
    pub status: RequestStatus,
    /// The pending or final result, if any.
    pub result_id: u64,
}

/// A posted result as the oracle holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultInfo {
    /// Its request.
    pub request_id: u64,
    /// Who posted it.
    pub executor: Address,
    /// Stake, wei.
    pub stake: U256,
    /// Posted trace root.
    pub trace_root: Hash,
    /// Timestamp of the post.
    pub posted_at: u64,
    /// End of the challenge window.
    pub window_end: u64,
    /// Games still open.
    pub open_games: u32,
    /// Status.
    pub status: ResultStatus,
    /// When it was rejected (0 unless rejected).
    pub rejected_at: u64,
    /// Games open on it when it was rejected, the winning one included: the
    /// reward is shared among them (0 unless rejected).
    pub games_at_rejection: u32,
    /// Each of those games' share of the reward, wei (0 unless rejected).
    pub share: U256,
    /// Output bytes.
    pub output: Vec<u8>,
}

/// A game: its parties and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameInfo {
    /// Game id.
    pub id: u64,
    /// The disputed result.
    pub result_id: u64,
    /// The challenger.
    pub challenger: Address,
    /// The executor.
    pub executor: Address,
    /// The bond, wei.
    pub bond: U256,
    /// The position.
    pub position: Position,
    /// Trace root in dispute.
    pub trace_root: Hash,
    /// Model step count.
    pub step_count: u32,
}

/// An event the services follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request for inference.
    Requested {
        /// Request id.
        request_id: u64,
        /// Model id.
        model_id: Hash,
        /// Requester.
        requester: Address,
        /// Fee.
        fee: U256,
        /// Deadline.
        deadline: u64,
        /// Input bytes.
        input: Vec<u8>,
        /// Block.
        block: u64,
    },
    /// A posted result.
    Posted {
        /// Result id.
        result_id: u64,
        /// Request id.
        request_id: u64,
        /// Executor.
        executor: Address,
        /// Trace root.
        trace_root: Hash,
        /// Output bytes.
        output: Vec<u8>,
        /// Block.
        block: u64,
    },
    /// A result became final.
    Finalized {
        /// Result id.
        result_id: u64,
    },
    /// A result was rejected.
    Rejected {
        /// Result id.
        result_id: u64,
        /// The request, open again.
        request_id: u64,
    },
    /// A game was opened.
    GameOpened {
        /// Game id.
        game_id: u64,
        /// Result id.
        result_id: u64,
        /// Challenger.
        challenger: Address,
        /// Executor.
        executor: Address,
        /// Block.
        block: u64,
    },
    /// A game ended.
    GameResolved {
        /// Game id.
        game_id: u64,
        /// How it ended.
        status: Status,
    },
}

/// A block's number, hash and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Number.
    pub number: u64,
    /// Hash.
    pub hash: Hash,
    /// Timestamp.
    pub timestamp: u64,
}

/// A mined transaction, as [`Chain::transactions`](crate::Chain::transactions) reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinedTx {
    /// Block number.
    pub block: u64,
    /// Sender.
    pub from: Address,
    /// Target (None for a contract creation).
    pub to: Option<Address>,
    /// The protocol function called (`post`, `challenge`, `revealNodes`, ...), when
    /// the target is one of the deployment's contracts.
    pub call: Option<&'static str>,
    /// Gas used.
    pub gas_used: u64,
    /// Whether it succeeded.
    pub success: bool,
}

/// A fixed-size hash as alloy's type (for callers that build filters themselves).
pub fn b256(h: &Hash) -> FixedBytes<32> {
    B256::from(*h)
}

pub(crate) fn hash(b: B256) -> Hash {
    b.0
}

pub(crate) fn side_of(x: u8) -> Side {
    if x == 0 {
        Side::Executor
    } else {
        Side::Challenger
    }
}

pub(crate) fn phase_of(x: u8) -> Phase {
    Phase::from_code(x).unwrap_or(Phase::Resolved)
}

pub(crate) fn status_of(x: u8) -> Status {
    match x {
        0 => Status::Open,
        1 => Status::ExecutorWon,
        2 => Status::ChallengerWon,
        _ => Status::Moot,
    }
}

pub(crate) fn u64_of(v: U256) -> u64 {
    v.try_into().unwrap_or(u64::MAX)
}
