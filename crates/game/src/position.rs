//! The state of one game as the contract holds it, and the moves that change it.

use refute_core::commit::{ChunkRange, TensorHeader, CHUNK_SIZE};
use refute_core::hash::Hash;
use serde::{Deserialize, Serialize};

/// What the game is disputing at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// Descending the trace tree towards one step.
    Trace,
    /// The executor is to open the disputed step's commitment.
    Header,
    /// Descending the data tree of the disputed step's output towards one chunk.
    Data,
    /// The executor is to reveal the chosen chunk.
    Chunk,
    /// The challenger is to prove one element of the chunk wrong, or, when its
    /// reduction is longer than one block, to name it.
    OneStep,
    /// The executor is to commit to the named element's checkpoints.
    Checkpoints,
    /// Descending the named element's checkpoint tree towards one block.
    Reduction,
    /// The challenger is to prove one block of the reduction wrong.
    Block,
    /// The game is over.
    Resolved,
}

impl Phase {
    /// The phase with on-chain code `code` (the order of `DisputeGame.Phase`).
    pub fn from_code(code: u8) -> Option<Phase> {
        use Phase::*;
        [Trace, Header, Data, Chunk, OneStep, Checkpoints, Reduction, Block, Resolved].get(code as usize).copied()
    }

    /// The tree a reveal in this phase opens, if it is a descent.
    pub fn tree(self) -> Option<refute_core::merkle::TreeKind> {
        use refute_core::merkle::TreeKind;
        match self {
            Phase::Trace => Some(TreeKind::Trace),
            Phase::Data => Some(TreeKind::Data),
            Phase::Reduction => Some(TreeKind::Checkpoint),
            _ => None,
        }
    }
}

/// A party to a game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    /// The executor who posted the result.
    Executor,
    /// The challenger who opened the game.
    Challenger,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Executor => Side::Challenger,
            Side::Challenger => Side::Executor,
        }
    }
}

/// How a game stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Still being played.
    Open,
    /// The executor won (the challenger's bond is forfeit).
    ExecutorWon,
    /// The challenger won (the result is rejected, the stake slashed).
    ChallengerWon,
    /// The result was rejected by another game; the bond is returned.
    Moot,
}

/// A game's position: everything a solver needs to choose the next move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Phase.
    pub phase: Phase,
    /// Whose move it is.
    pub turn: Side,
    /// Open or how it ended.
    pub status: Status,
    /// The current node: a trace node, a data node, or (in `Chunk` and `OneStep`)
    /// the chosen chunk's leaf.
    pub node: Hash,
    /// Levels below the current node (0 at a leaf).
    pub height: u32,
    /// Index of the current node within its level.
    pub index: u64,
    /// The disputed step, once the trace descent has reached it.
    pub step_index: u32,
    /// Hash of the disputed step's spec leaf, once its header is open.
    pub spec_hash: Hash,
    /// Byte length of the disputed step's output, once its header is open (64 bits:
    /// outputs of 2^32 bytes and more are judged on their real length).
    pub byte_len: u64,
    /// The named element of the disputed step (flat index), once named.
    pub element: u64,
    /// The executor's value of the named element.
    pub claimed: i64,
    /// Blocks of the named element's reduction (0 until an element is named).
    pub blocks: u64,
    /// The executor's checkpoint root of the named element, once opened.
    pub checkpoint_root: Hash,
    /// Seconds the executor has left.
    pub executor_clock: u64,
    /// Seconds the challenger has left.
    pub challenger_clock: u64,
    /// Seconds of clock extension the executor was granted so far (at most the
    /// game's `clock_seconds`).
    pub executor_extension: u64,
    /// Seconds of clock extension the challenger was granted so far.
    pub challenger_extension: u64,
    /// Timestamp of the last move (or of the game's opening).
    pub last_move_at: u64,
}

impl Position {
    /// The opening position of a game on a result with `trace_root` over
    /// `step_count` steps, with `clock` seconds per side.
    pub fn opening(trace_root: Hash, step_count: u32, clock: u64, now: u64) -> Self {
        Position {
            phase: Phase::Trace,
            turn: Side::Executor,
            status: Status::Open,
            node: trace_root,
            height: refute_core::merkle::height(step_count as usize),
            index: 0,
            step_index: 0,
            spec_hash: [0; 32],
            byte_len: 0,
            element: 0,
            claimed: 0,
            blocks: 0,
            checkpoint_root: [0; 32],
            executor_clock: clock,
            challenger_clock: clock,
            executor_extension: 0,
            challenger_extension: 0,
            last_move_at: now,
        }
    }

    /// Seconds the side to move has left at time `now`.
    pub fn time_left(&self, now: u64) -> u64 {
        let clock = match self.turn {
            Side::Executor => self.executor_clock,
            Side::Challenger => self.challenger_clock,
        };
        clock.saturating_sub(now.saturating_sub(self.last_move_at))
    }

    /// Whether the side to move has run out of time at `now`.
    pub fn expired(&self, now: u64) -> bool {
        self.status == Status::Open && now.saturating_sub(self.last_move_at) > self.clock_of(self.turn)
    }

    /// The clock of `side`.
    pub fn clock_of(&self, side: Side) -> u64 {
        match side {
            Side::Executor => self.executor_clock,
            Side::Challenger => self.challenger_clock,
        }
    }
}

/// What a one-step proof opens besides its target: the disputed step's spec, its
/// inputs bound to the trace root, and the chunk ranges of the inputs and weights
/// the verifier reads (`docs/protocol.md`, "One step").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operands {
    /// The disputed step's canonical spec.
    pub spec: Vec<u8>,
    /// Data root of each input's tensor.
    pub input_roots: Vec<Hash>,
    /// For each input, the proof of its commitment as a leaf of the trace.
    pub input_trace_proofs: Vec<Vec<Hash>>,
    /// For each input, the chunks the verifier reads.
    pub inputs: Vec<ChunkRange>,
    /// For each weight, the chunks the verifier reads.
    pub weights: Vec<ChunkRange>,
}

/// The one-step proof of an element whose reduction is one block: the element,
/// recomputed whole from the step's inputs and weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneStepProof {
    /// The element's position within the chunk (in elements).
    pub element_in_chunk: u32,
    /// The chunk as the executor revealed it.
    pub chunk: [u8; CHUNK_SIZE],
    /// What the verifier reads.
    pub operands: Operands,
}

/// The proof of one block of a named element's reduction: the block folded from the
/// executor's checkpoint before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockProof {
    /// The state before the block (empty for block 0, whose state is the op's init).
    pub prev_state: Vec<u8>,
    /// The proof of its checkpoint leaf against the executor's checkpoint root (empty
    /// for block 0).
    pub prev_proof: Vec<Hash>,
    /// What the verifier reads.
    pub operands: Operands,
}

/// A move in a game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// Executor: the nodes `k` levels below the current node.
    RevealNodes(Vec<Hash>),
    /// Challenger: descend to `nodes[choice]` (re-sending the revealed nodes).
    Pick {
        /// The nodes the executor revealed.
        nodes: Vec<Hash>,
        /// The chosen one.
        choice: usize,
    },
    /// Executor: open the disputed step's commitment and show its spec.
    OpenHeader {
        /// dtype, shape and data root.
        header: TensorHeader,
        /// The step's canonical spec.
        spec: Vec<u8>,
        /// Its proof against the model's spec root.
        spec_proof: Vec<Hash>,
    },
    /// Executor: the chosen chunk.
    RevealChunk(Box<[u8; CHUNK_SIZE]>),
    /// Challenger: the one-step proof of an element of one block.
    ProveStep(Box<OneStepProof>),
    /// Challenger: name an element of a long reduction.
    NameElement {
        /// The element's position within the chunk (in elements).
        element_in_chunk: u32,
        /// The chunk as the executor revealed it.
        chunk: Box<[u8; CHUNK_SIZE]>,
        /// The disputed step's canonical spec.
        spec: Vec<u8>,
    },
    /// Executor: commit to the named element's checkpoints.
    OpenCheckpoints {
        /// The checkpoint root.
        root: Hash,
        /// The proof that its last leaf is the element leaf of the claimed value.
        last_proof: Vec<Hash>,
    },
    /// Challenger: the proof of one block.
    ProveBlock(Box<BlockProof>),
    /// Anyone: end the game against the side whose clock ran out.
    Timeout,
}

impl Move {
    /// The functions of `DisputeGame.sol` that make a move, one per kind of move:
    /// what transaction lists and gas tables count as moves.
    pub const CALLS: [&'static str; 9] =
        ["revealNodes", "pick", "openHeader", "revealChunk", "proveStep", "nameElement", "openCheckpoints", "proveBlock", "timeout"];

    /// The function of `DisputeGame.sol` this move calls (one of [`Move::CALLS`]).
    pub fn call(&self) -> &'static str {
        match self {
            Move::RevealNodes(_) => "revealNodes",
            Move::Pick { .. } => "pick",
            Move::OpenHeader { .. } => "openHeader",
            Move::RevealChunk(_) => "revealChunk",
            Move::ProveStep(_) => "proveStep",
            Move::NameElement { .. } => "nameElement",
            Move::OpenCheckpoints { .. } => "openCheckpoints",
            Move::ProveBlock(_) => "proveBlock",
            Move::Timeout => "timeout",
        }
    }

    /// The move's name in logs, metrics, stores and vectors: its contract function
    /// ([`Move::call`]), so that one vocabulary names moves everywhere.
    pub fn kind(&self) -> &'static str {
        self.call()
    }
}

/// Number of levels one reveal opens from a node with `height` levels below it.
pub fn reveal_levels(arity_log2: u32, height: u32) -> u32 {
    arity_log2.min(height)
}
