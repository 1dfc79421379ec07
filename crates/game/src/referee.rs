//! The rules of the game in plain Rust, as `DisputeGame.sol` enforces them: what a
//! move must satisfy to be accepted, and how it changes the position.
//!
//! The services never need it (the chain is the referee); it lets the solvers be
//! tested against adversarial players without a chain, and the chain integration
//! tests check that the contract agrees.

use crate::position::{reveal_levels, BlockProof, Move, OneStepProof, Operands, Phase, Position, Side, Status};
use refute_core::checkpoint::{checkpoint_leaf_of_bytes, element_leaf, State};
use refute_core::commit::{chunk_element, chunk_leaf, chunk_padding_is_zero, num_chunks, ChunkRange, TensorHeader, CHUNK_SIZE};
use refute_core::hash::{keccak, tag, Hash, ZERO_HASH};
use refute_core::merkle::{self, subtree_root, TreeKind};
use refute_core::reference::{blocks, eval_block, init, state_fields, BlockValue, Elements};
use refute_core::{DType, StepSpec};
use std::cell::Cell;

/// What the game is about: fixed when it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameContext {
    /// The posted trace root.
    pub trace_root: Hash,
    /// The model's step count.
    pub step_count: u32,
    /// The model's spec root.
    pub spec_root: Hash,
    /// Levels one reveal opens.
    pub arity_log2: u32,
    /// Each side's clock at the opening, seconds; it also bounds the side's
    /// extensions (`docs/protocol.md`, "Clock extension").
    pub clock_seconds: u64,
}

impl GameContext {
    /// The clock a side to move with less is raised to: a quarter of the clock.
    pub fn clock_extension(&self) -> u64 {
        self.clock_seconds / 4
    }
}

/// Why a move is not accepted (the contract would revert).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The game is over.
    #[error("the game is over")]
    Over,
    /// It is the other side's turn.
    #[error("not this side's turn")]
    NotYourTurn,
    /// This move does not belong to the current phase.
    #[error("the move does not fit the phase {0:?}")]
    WrongPhase(Phase),
    /// The mover's clock ran out.
    #[error("the clock has run out")]
    ClockExpired,
    /// A timeout was claimed while time remains.
    #[error("the clock has not run out")]
    ClockRunning,
    /// Revealed nodes do not rebuild the current node, or have the wrong count.
    #[error("the revealed nodes do not hash to the current node")]
    BadReveal,
    /// The pick names no revealed node.
    #[error("the choice is out of range")]
    BadChoice,
    /// The header does not hash to the step's commitment.
    #[error("the header does not match the commitment")]
    BadHeader,
    /// The spec is not the step's spec in the model, or is malformed.
    #[error("the spec is not proven against the model")]
    BadSpec,
    /// The chunk does not hash to the leaf.
    #[error("the chunk does not match the leaf")]
    BadChunk,
    /// The element is outside the chunk or the tensor.
    #[error("the element is out of range")]
    BadElement,
    /// An input's commitment is not the trace leaf it claims to be.
    #[error("an input is not proven against the trace")]
    BadInput,
    /// An opening does not verify or lacks an element the verifier reads.
    #[error("an opening does not verify or misses an element")]
    BadOpening,
    /// `proveStep` on an element whose reduction has more than one block.
    #[error("the element's reduction has {0} blocks: name it and descend its checkpoints")]
    LongReduction(u64),
    /// `nameElement` on an element whose reduction is one block.
    #[error("the element's reduction is one block: prove it at once")]
    ShortReduction,
    /// The checkpoint root's last leaf is not the element leaf of the claimed value.
    #[error("the checkpoints do not end at the claimed element")]
    BadCheckpoints,
    /// The state before the block is not the executor's checkpoint, or not a state.
    #[error("the state before the block is not proven against the checkpoints")]
    BadPrevState,
}

fn end(pos: &mut Position, status: Status) {
    pos.status = status;
    pos.phase = Phase::Resolved;
}

/// Applies `mv` by `side` at time `now` to `pos` and returns the new position.
pub fn apply(ctx: &GameContext, pos: &Position, side: Side, mv: &Move, now: u64) -> Result<Position, Rejected> {
    if pos.status != Status::Open {
        return Err(Rejected::Over);
    }
    let mut next = pos.clone();
    if let Move::Timeout = mv {
        if !pos.expired(now) {
            return Err(Rejected::ClockRunning);
        }
        let winner = pos.turn.other();
        end(&mut next, if winner == Side::Executor { Status::ExecutorWon } else { Status::ChallengerWon });
        return Ok(next);
    }
    if side != pos.turn {
        return Err(Rejected::NotYourTurn);
    }
    if pos.expired(now) {
        return Err(Rejected::ClockExpired);
    }
    let spent = now.saturating_sub(pos.last_move_at);
    match side {
        Side::Executor => next.executor_clock -= spent,
        Side::Challenger => next.challenger_clock -= spent,
    }
    next.last_move_at = now;
    let descent = pos.phase.tree();
    match (pos.phase, mv) {
        (_, Move::RevealNodes(nodes)) if descent.is_some() && side == Side::Executor => {
            check_reveal(pos, ctx.arity_log2, descent.expect("a descent"), nodes)?;
            next.turn = Side::Challenger;
        }
        (_, Move::Pick { nodes, choice }) if descent.is_some() && side == Side::Challenger => {
            let levels = check_reveal(pos, ctx.arity_log2, descent.expect("a descent"), nodes)?;
            if *choice >= nodes.len() {
                return Err(Rejected::BadChoice);
            }
            next.node = nodes[*choice];
            next.index = (pos.index << levels) | *choice as u64;
            next.height = pos.height - levels;
            next.turn = Side::Executor;
            if next.height == 0 {
                arrive_at_leaf(ctx, &mut next);
            }
        }
        (Phase::Header, Move::OpenHeader { header, spec, spec_proof }) => {
            if header.ty.shape.len() > 255 || header.commitment() != pos.node {
                return Err(Rejected::BadHeader);
            }
            let leaf = keccak(&[&[tag::SPEC_LEAF], spec]);
            let height = merkle::height(ctx.step_count as usize);
            merkle::verify(TreeKind::Spec, &ctx.spec_root, height, &[(pos.step_index as usize, leaf)], spec_proof).map_err(|_| Rejected::BadSpec)?;
            let spec = StepSpec::decode(spec).map_err(|_| Rejected::BadSpec)?;
            if header.ty != spec.out {
                end(&mut next, Status::ChallengerWon);
                return Ok(next);
            }
            next.spec_hash = leaf;
            next.byte_len = byte_len(&spec);
            next.node = header.data_root;
            next.height = merkle::height(num_chunks(next.byte_len as usize));
            next.index = 0;
            next.phase = if next.height == 0 { Phase::Chunk } else { Phase::Data };
        }
        (Phase::Chunk, Move::RevealChunk(chunk)) => {
            if chunk_leaf(&chunk[..]) != pos.node {
                return Err(Rejected::BadChunk);
            }
            let index = pos.index;
            if !chunk_padding_is_zero(chunk, index as usize, pos.byte_len as usize) {
                end(&mut next, Status::ChallengerWon);
            } else if index >= num_chunks(pos.byte_len as usize) as u64 {
                end(&mut next, Status::ExecutorWon);
            } else {
                next.phase = Phase::OneStep;
                next.turn = Side::Challenger;
            }
        }
        (Phase::OneStep, Move::ProveStep(proof)) => {
            let wrong = check_one_step(ctx, pos, proof)?;
            end(&mut next, if wrong { Status::ChallengerWon } else { Status::ExecutorWon });
        }
        (Phase::OneStep, Move::NameElement { element_in_chunk, chunk, spec }) => {
            let spec = check_spec(pos, spec)?;
            let (element, claimed) = named_element(pos, &spec, *element_in_chunk, chunk)?;
            let n = blocks(&spec);
            if n < 2 {
                return Err(Rejected::ShortReduction);
            }
            next.element = element;
            next.claimed = claimed;
            next.blocks = n;
            next.phase = Phase::Checkpoints;
            next.turn = Side::Executor;
        }
        (Phase::Checkpoints, Move::OpenCheckpoints { root, last_proof }) => {
            let height = merkle::height(pos.blocks as usize);
            let last = (pos.blocks - 1) as usize;
            merkle::verify(TreeKind::Checkpoint, root, height, &[(last, element_leaf(pos.claimed))], last_proof)
                .map_err(|_| Rejected::BadCheckpoints)?;
            next.checkpoint_root = *root;
            next.node = *root;
            next.height = height;
            next.index = 0;
            next.phase = Phase::Reduction;
        }
        (Phase::Block, Move::ProveBlock(proof)) => {
            let wrong = check_block(ctx, pos, proof)?;
            end(&mut next, if wrong { Status::ChallengerWon } else { Status::ExecutorWon });
        }
        (phase, _) => return Err(Rejected::WrongPhase(phase)),
    }
    if next.status == Status::Open {
        extend_clock(ctx, &mut next);
    }
    Ok(next)
}

/// The clock extension after a move that leaves the game open: a side to move
/// with less than `clock_extension` left is raised to it, as far as its
/// extensions so far (at most `clock_seconds` in one game) allow. A side's moves so
/// take at most `2 · clock_seconds`, and a game ends within `4 · clock_seconds`.
fn extend_clock(ctx: &GameContext, pos: &mut Position) {
    let (clock, granted) = match pos.turn {
        Side::Executor => (&mut pos.executor_clock, &mut pos.executor_extension),
        Side::Challenger => (&mut pos.challenger_clock, &mut pos.challenger_extension),
    };
    let ext = ctx.clock_extension();
    if *clock < ext {
        let g = (ext - *clock).min(ctx.clock_seconds.saturating_sub(*granted));
        *clock += g;
        *granted += g;
    }
}

/// The canonical byte length of a step's output, in 64 bits.
fn byte_len(spec: &StepSpec) -> u64 {
    spec.out.shape.iter().map(|&d| d as u64).product::<u64>() * spec.out.dtype.size() as u64
}

/// Checks revealed nodes against the current node; returns the levels they span.
fn check_reveal(pos: &Position, arity_log2: u32, kind: TreeKind, nodes: &[Hash]) -> Result<u32, Rejected> {
    let levels = reveal_levels(arity_log2, pos.height);
    if levels == 0 || nodes.len() != 1 << levels || subtree_root(kind, nodes) != Some(pos.node) {
        return Err(Rejected::BadReveal);
    }
    Ok(levels)
}

/// A descent reached leaf `index`: decide it or move on.
fn arrive_at_leaf(ctx: &GameContext, pos: &mut Position) {
    let i = pos.index;
    match pos.phase {
        Phase::Trace => {
            if i == 0 {
                // the input leaf was proven when the result was posted
                end(pos, Status::ExecutorWon);
            } else if i >= ctx.step_count as u64 {
                end(pos, if pos.node != ZERO_HASH { Status::ChallengerWon } else { Status::ExecutorWon });
            } else {
                pos.step_index = i as u32;
                pos.phase = Phase::Header;
            }
        }
        Phase::Data => pos.phase = Phase::Chunk,
        Phase::Reduction => {
            if i >= pos.blocks {
                end(pos, if pos.node != ZERO_HASH { Status::ChallengerWon } else { Status::ExecutorWon });
            } else {
                pos.phase = Phase::Block;
                pos.turn = Side::Challenger;
            }
        }
        phase => unreachable!("no descent in {phase:?}"),
    }
}

/// The spec of the disputed step, checked against the hash the header opened.
fn check_spec(pos: &Position, spec: &[u8]) -> Result<StepSpec, Rejected> {
    if keccak(&[&[tag::SPEC_LEAF], spec]) != pos.spec_hash {
        return Err(Rejected::BadSpec);
    }
    StepSpec::decode(spec).map_err(|_| Rejected::BadSpec)
}

/// The flat index and the executor's value of element `local` of the revealed chunk.
fn named_element(pos: &Position, spec: &StepSpec, local: u32, chunk: &[u8; CHUNK_SIZE]) -> Result<(u64, i64), Rejected> {
    if chunk_leaf(chunk) != pos.node {
        return Err(Rejected::BadChunk);
    }
    let per_chunk = (CHUNK_SIZE / spec.out.dtype.size()) as u64;
    let element = pos.index * per_chunk + local as u64;
    if local as u64 >= per_chunk || element >= spec.out.numel() as u64 {
        return Err(Rejected::BadElement);
    }
    Ok((element, chunk_element(chunk, spec.out.dtype, local as usize)))
}

/// Verifies a one-step proof; returns whether the executor's element is wrong.
fn check_one_step(ctx: &GameContext, pos: &Position, proof: &OneStepProof) -> Result<bool, Rejected> {
    let spec = check_spec(pos, &proof.operands.spec)?;
    let (element, claimed) = named_element(pos, &spec, proof.element_in_chunk, &proof.chunk)?;
    check_inputs(ctx, &spec, &proof.operands)?;
    match evaluate(&spec, element, 0, &init(&spec), &proof.operands)? {
        BlockValue::Element(v) => Ok(v != claimed),
        BlockValue::State(_) => Err(Rejected::LongReduction(blocks(&spec))),
    }
}

/// Verifies a block proof; returns whether the executor's checkpoint leaf is wrong.
fn check_block(ctx: &GameContext, pos: &Position, proof: &BlockProof) -> Result<bool, Rejected> {
    let spec = check_spec(pos, &proof.operands.spec)?;
    let b = pos.index;
    let prev = if b == 0 {
        if !proof.prev_state.is_empty() || !proof.prev_proof.is_empty() {
            return Err(Rejected::BadPrevState);
        }
        init(&spec)
    } else {
        let leaf = checkpoint_leaf_of_bytes(&proof.prev_state);
        let height = merkle::height(pos.blocks as usize);
        merkle::verify(TreeKind::Checkpoint, &pos.checkpoint_root, height, &[((b - 1) as usize, leaf)], &proof.prev_proof)
            .map_err(|_| Rejected::BadPrevState)?;
        // a proven leaf that is not a state of the op cannot be folded: the verifier refuses it
        State::decode(&proof.prev_state, state_fields(&spec.op)).ok_or(Rejected::BadPrevState)?
    };
    check_inputs(ctx, &spec, &proof.operands)?;
    let value = evaluate(&spec, pos.element, b, &prev, &proof.operands)?;
    Ok(value.leaf() != pos.node)
}

/// Checks the inputs' data roots against the trace root.
fn check_inputs(ctx: &GameContext, spec: &StepSpec, ops: &Operands) -> Result<(), Rejected> {
    if ops.input_roots.len() != spec.inputs.len()
        || ops.input_trace_proofs.len() != spec.inputs.len()
        || ops.inputs.len() != spec.inputs.len()
        || ops.weights.len() != spec.weights.len()
    {
        return Err(Rejected::BadInput);
    }
    let trace_height = merkle::height(ctx.step_count as usize);
    for (j, input) in spec.inputs.iter().enumerate() {
        let c = TensorHeader { ty: input.ty.clone(), data_root: ops.input_roots[j] }.commitment();
        merkle::verify(TreeKind::Trace, &ctx.trace_root, trace_height, &[(input.step as usize, c)], &ops.input_trace_proofs[j])
            .map_err(|_| Rejected::BadInput)?;
    }
    Ok(())
}

/// What the verifier computes: block `b` of `element` from `prev`, reading only the
/// opened ranges, each checked against its data root.
fn evaluate(spec: &StepSpec, element: u64, b: u64, prev: &State, ops: &Operands) -> Result<BlockValue, Rejected> {
    if element >= spec.out.numel() as u64 {
        return Err(Rejected::BadElement);
    }
    if b >= blocks(spec) {
        return Err(Rejected::BadPrevState);
    }
    for (j, input) in spec.inputs.iter().enumerate() {
        verify_range(&ops.inputs[j], &ops.input_roots[j], input.ty.byte_len())?;
    }
    for (w, range) in spec.weights.iter().zip(&ops.weights) {
        verify_range(range, &w.data_root, w.ty.byte_len())?;
    }
    // The verifier reverts when it reads an element outside the opened ranges.
    let ins: Vec<Checked> = spec.inputs.iter().zip(&ops.inputs).map(|(i, o)| Checked::new(o, i.ty.dtype)).collect();
    let ws: Vec<Checked> = spec.weights.iter().zip(&ops.weights).map(|(w, o)| Checked::new(o, w.ty.dtype)).collect();
    let ins_r: Vec<&dyn Elements> = ins.iter().map(|e| e as &dyn Elements).collect();
    let ws_r: Vec<&dyn Elements> = ws.iter().map(|e| e as &dyn Elements).collect();
    let value = eval_block(spec, element as usize, b, prev, &ins_r, &ws_r);
    if ins.iter().chain(&ws).any(|c| c.missing.get()) {
        return Err(Rejected::BadOpening);
    }
    Ok(value)
}

/// A chunk range checked as the verifier checks it: whole chunks, inside the padded
/// tree, rebuilding the root (an empty range is not checked).
fn verify_range(range: &ChunkRange, root: &Hash, byte_len: usize) -> Result<(), Rejected> {
    let height = merkle::height(num_chunks(byte_len));
    let inside = range.first.checked_add(range.count()).is_some_and(|end| height >= 64 || end <= 1u64 << height);
    if !range.chunks.is_empty() && !inside {
        return Err(Rejected::BadOpening);
    }
    range.verify(root, byte_len).map_err(|_| Rejected::BadOpening)
}

/// Opened elements that note a read outside the opened range instead of failing.
struct Checked<'a> {
    range: &'a ChunkRange,
    dtype: DType,
    missing: Cell<bool>,
}

impl<'a> Checked<'a> {
    fn new(range: &'a ChunkRange, dtype: DType) -> Self {
        Checked { range, dtype, missing: Cell::new(false) }
    }
}

impl Elements for Checked<'_> {
    fn get(&self, flat: usize) -> i64 {
        self.range.element(self.dtype, flat).unwrap_or_else(|| {
            self.missing.set(true);
            0
        })
    }
}
