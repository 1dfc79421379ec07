//! The rules of the game in plain Rust, as `DisputeGame.sol` enforces them: what a
//! move must satisfy to be accepted, and how it changes the position.
//!
//! The services never need it (the chain is the referee); it lets the solvers be
//! tested against adversarial players without a chain, and the chain integration
//! tests check that the contract agrees.

use crate::position::{reveal_levels, Move, OneStepProof, Phase, Position, Side, Status};
use refute_core::commit::{chunk_element, chunk_leaf, chunk_padding_is_zero, num_chunks, ChunkOpening, TensorHeader, CHUNK_SIZE};
use refute_core::DType;
use std::cell::Cell;
use refute_core::hash::{keccak, tag, Hash, ZERO_HASH};
use refute_core::merkle::{self, subtree_root, TreeKind};
use refute_core::reference::{eval, Elements};
use refute_core::StepSpec;

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
    let kind = if pos.phase == Phase::Trace { TreeKind::Trace } else { TreeKind::Data };
    match (pos.phase, mv) {
        (Phase::Trace | Phase::Data, Move::RevealNodes(nodes)) if side == Side::Executor => {
            check_reveal(pos, ctx.arity_log2, kind, nodes)?;
            next.turn = Side::Challenger;
        }
        (Phase::Trace | Phase::Data, Move::Pick { nodes, choice }) if side == Side::Challenger => {
            let levels = check_reveal(pos, ctx.arity_log2, kind, nodes)?;
            if *choice >= nodes.len() {
                return Err(Rejected::BadChoice);
            }
            next.node = nodes[*choice];
            next.index = pos.index * nodes.len() as u64 + *choice as u64;
            next.height = pos.height - levels;
            next.turn = Side::Executor;
            if next.height == 0 {
                arrive_at_leaf(ctx, &mut next);
            }
        }
        (Phase::Header, Move::OpenHeader { header, spec, spec_proof }) => {
            if header.commitment() != pos.node {
                return Err(Rejected::BadHeader);
            }
            let leaf = keccak(&[&[tag::SPEC_LEAF], spec]);
            let height = merkle::height(ctx.step_count as usize);
            merkle::verify(TreeKind::Spec, &ctx.spec_root, height, &[(pos.step_index as usize, leaf)], spec_proof)
                .map_err(|_| Rejected::BadSpec)?;
            let spec = StepSpec::decode(spec).map_err(|_| Rejected::BadSpec)?;
            if header.ty != spec.out {
                end(&mut next, Status::ChallengerWon);
                return Ok(next);
            }
            next.spec_hash = leaf;
            next.byte_len = header.ty.byte_len() as u32;
            next.node = header.data_root;
            next.height = header.data_height();
            next.index = 0;
            next.phase = if next.height == 0 { Phase::Chunk } else { Phase::Data };
        }
        (Phase::Chunk, Move::RevealChunk(chunk)) => {
            if chunk_leaf(&chunk[..]) != pos.node {
                return Err(Rejected::BadChunk);
            }
            let index = pos.index as usize;
            if !chunk_padding_is_zero(chunk, index, pos.byte_len as usize) {
                end(&mut next, Status::ChallengerWon);
            } else if index >= num_chunks(pos.byte_len as usize) {
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
        (phase, _) => return Err(Rejected::WrongPhase(phase)),
    }
    Ok(next)
}

/// Checks revealed nodes against the current node; returns the levels they span.
fn check_reveal(pos: &Position, arity_log2: u32, kind: TreeKind, nodes: &[Hash]) -> Result<u32, Rejected> {
    let levels = reveal_levels(arity_log2, pos.height);
    if levels == 0 || nodes.len() != 1 << levels || subtree_root(kind, nodes) != Some(pos.node) {
        return Err(Rejected::BadReveal);
    }
    Ok(levels)
}

/// The trace descent reached leaf `index`: decide it or move on to the header.
fn arrive_at_leaf(ctx: &GameContext, pos: &mut Position) {
    match pos.phase {
        Phase::Trace => {
            let i = pos.index;
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
        _ => pos.phase = Phase::Chunk,
    }
}

/// Verifies a one-step proof; returns whether the executor's element is wrong.
fn check_one_step(ctx: &GameContext, pos: &Position, proof: &OneStepProof) -> Result<bool, Rejected> {
    if chunk_leaf(&proof.chunk) != pos.node {
        return Err(Rejected::BadChunk);
    }
    if keccak(&[&[tag::SPEC_LEAF], &proof.spec]) != pos.spec_hash {
        return Err(Rejected::BadSpec);
    }
    let spec = StepSpec::decode(&proof.spec).map_err(|_| Rejected::BadSpec)?;
    let size = spec.out.dtype.size();
    let local = proof.element_in_chunk as usize;
    let element = (pos.index as usize * CHUNK_SIZE) / size + local;
    if local >= CHUNK_SIZE / size || element >= spec.out.numel() {
        return Err(Rejected::BadElement);
    }
    let claimed = chunk_element(&proof.chunk, spec.out.dtype, local);
    if proof.input_roots.len() != spec.inputs.len()
        || proof.input_trace_proofs.len() != spec.inputs.len()
        || proof.inputs.len() != spec.inputs.len()
        || proof.weights.len() != spec.weights.len()
    {
        return Err(Rejected::BadInput);
    }
    let trace_height = merkle::height(ctx.step_count as usize);
    for (j, input) in spec.inputs.iter().enumerate() {
        let c = TensorHeader { ty: input.ty.clone(), data_root: proof.input_roots[j] }.commitment();
        merkle::verify(TreeKind::Trace, &ctx.trace_root, trace_height, &[(input.step as usize, c)], &proof.input_trace_proofs[j])
            .map_err(|_| Rejected::BadInput)?;
        proof.inputs[j].verify(&proof.input_roots[j], input.ty.byte_len()).map_err(|_| Rejected::BadOpening)?;
    }
    for (w, opening) in spec.weights.iter().zip(&proof.weights) {
        opening.verify(&w.data_root, w.ty.byte_len()).map_err(|_| Rejected::BadOpening)?;
    }
    // The verifier reverts when it reads an element outside the opened chunks.
    let ins: Vec<Checked> = spec.inputs.iter().zip(&proof.inputs).map(|(i, o)| Checked::new(o, i.ty.dtype)).collect();
    let ws: Vec<Checked> = spec.weights.iter().zip(&proof.weights).map(|(w, o)| Checked::new(o, w.ty.dtype)).collect();
    let ins_r: Vec<&dyn Elements> = ins.iter().map(|e| e as &dyn Elements).collect();
    let ws_r: Vec<&dyn Elements> = ws.iter().map(|e| e as &dyn Elements).collect();
    let value = eval(&spec, element, &ins_r, &ws_r);
    if ins.iter().chain(&ws).any(|c| c.missing.get()) {
        return Err(Rejected::BadOpening);
    }
    Ok(value != claimed)
}

/// Opened elements that note a read outside the opened chunks instead of failing.
struct Checked<'a> {
    opening: &'a ChunkOpening,
    dtype: DType,
    missing: Cell<bool>,
}

impl<'a> Checked<'a> {
    fn new(opening: &'a ChunkOpening, dtype: DType) -> Self {
        Checked { opening, dtype, missing: Cell::new(false) }
    }
}

impl Elements for Checked<'_> {
    fn get(&self, flat: usize) -> i64 {
        self.opening.element(self.dtype, flat).unwrap_or_else(|| {
            self.missing.set(true);
            0
        })
    }
}
