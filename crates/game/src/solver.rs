//! The solvers: given a game's position, what each side plays. Pure functions of
//! the position, the side's own trace, and (for the challenger) what the executor
//! has revealed; no I/O, so the services can call them on every tick.

use crate::position::{reveal_levels, Move, OneStepProof, Phase, Position, Side, Status};
use crate::trace::TraceData;
use refute_core::commit::{chunk_element, chunk_padding_is_zero, ChunkOpening, CHUNK_SIZE};
use refute_core::hash::Hash;
use refute_core::merkle::{MerkleTree, TreeKind};
use refute_core::reference::{eval_with_dependencies, Elements};
use std::collections::HashMap;

/// Why a solver cannot choose a move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolverError {
    /// The position's node is not in this side's tree: the position is not one its
    /// own moves could have led to.
    #[error("the current node is not in our tree (phase {0:?})")]
    NotOurNode(Phase),
    /// The executor's reveal for the current node is not known.
    #[error("the executor's reveal at this position is not known yet")]
    RevealUnknown,
    /// Every revealed node agrees with ours: nothing to dispute below this node.
    #[error("no revealed node differs from ours")]
    NoDisagreement,
    /// Every element of the revealed chunk equals ours.
    #[error("the revealed chunk equals ours")]
    ChunkAgrees,
    /// A node the one-step proof needs is neither revealed nor ours.
    #[error("trace node at level {level}, index {index} is unknown")]
    UnknownTraceNode {
        /// Level (0 = leaves).
        level: u32,
        /// Index within the level.
        index: u64,
    },
}

/// The moves the executor would make from `pos`, defending `trace` (what it
/// committed to). `None` when it is not the executor's move.
pub fn executor_move(arity_log2: u32, pos: &Position, trace: &TraceData) -> Result<Option<Move>, SolverError> {
    if pos.status != Status::Open || pos.turn != Side::Executor {
        return Ok(None);
    }
    Ok(Some(match pos.phase {
        Phase::Trace => reveal(trace.tree(), arity_log2, pos)?,
        Phase::Header => {
            let step = pos.step_index as usize;
            let spec_tree = trace.model().spec_tree();
            let spec = trace.model().steps()[step].spec.encode();
            Move::OpenHeader {
                header: trace.step(step).header(),
                spec,
                spec_proof: spec_tree.prove(&[step]).expect("a step of the model"),
            }
        }
        Phase::Data => reveal(&trace.step(pos.step_index as usize).data_tree(), arity_log2, pos)?,
        Phase::Chunk => {
            let step = trace.step(pos.step_index as usize);
            let chunk = step.chunk(pos.index as usize);
            if refute_core::commit::chunk_leaf(&chunk) != pos.node {
                return Err(SolverError::NotOurNode(pos.phase));
            }
            Move::RevealChunk(Box::new(chunk))
        }
        Phase::OneStep | Phase::Resolved => return Ok(None),
    }))
}

fn reveal(tree: &MerkleTree, arity_log2: u32, pos: &Position) -> Result<Move, SolverError> {
    if tree.node(pos.height, pos.index as usize) != Some(pos.node) {
        return Err(SolverError::NotOurNode(pos.phase));
    }
    let levels = reveal_levels(arity_log2, pos.height);
    Ok(Move::RevealNodes(tree.descendants(pos.height, pos.index as usize, levels).expect("inside the tree")))
}

/// What the executor has revealed in one game, as read from the chain's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revealed {
    /// Trace-tree nodes by (level, index).
    pub trace: HashMap<(u32, u64), Hash>,
    /// Data-tree nodes of the disputed step by (level, index).
    pub data: HashMap<(u32, u64), Hash>,
    /// The revealed chunk.
    pub chunk: Option<[u8; CHUNK_SIZE]>,
}

impl Revealed {
    /// Records a reveal of `nodes` below the node at (`height`, `index`).
    pub fn record(&mut self, phase: Phase, arity_log2: u32, height: u32, index: u64, nodes: &[Hash]) {
        let levels = reveal_levels(arity_log2, height);
        let map = if phase == Phase::Trace { &mut self.trace } else { &mut self.data };
        for (c, n) in nodes.iter().enumerate() {
            map.insert((height - levels, (index << levels) + c as u64), *n);
        }
    }

    /// The nodes revealed below the node at (`height`, `index`), if all are known.
    pub fn below(&self, phase: Phase, arity_log2: u32, height: u32, index: u64) -> Option<Vec<Hash>> {
        let levels = reveal_levels(arity_log2, height);
        let map = if phase == Phase::Trace { &self.trace } else { &self.data };
        (0..1u64 << levels).map(|c| map.get(&(height - levels, (index << levels) + c)).copied()).collect()
    }
}

/// The move the challenger makes from `pos`, holding the honest trace `ours` and
/// what the executor revealed. `None` when it is not the challenger's move.
pub fn challenger_move(
    arity_log2: u32,
    pos: &Position,
    ours: &TraceData,
    revealed: &Revealed,
) -> Result<Option<Move>, SolverError> {
    if pos.status != Status::Open || pos.turn != Side::Challenger {
        return Ok(None);
    }
    Ok(Some(match pos.phase {
        Phase::Trace => pick(ours.tree(), arity_log2, pos, revealed)?,
        Phase::Data => pick(&ours.step(pos.step_index as usize).data_tree(), arity_log2, pos, revealed)?,
        Phase::OneStep => Move::ProveStep(Box::new(one_step(pos, ours, revealed)?)),
        Phase::Header | Phase::Chunk | Phase::Resolved => return Ok(None),
    }))
}

/// Descend towards the first node that differs from ours: the leftmost differing
/// child holds the first differing leaf.
fn pick(tree: &MerkleTree, arity_log2: u32, pos: &Position, revealed: &Revealed) -> Result<Move, SolverError> {
    let nodes = revealed.below(pos.phase, arity_log2, pos.height, pos.index).ok_or(SolverError::RevealUnknown)?;
    let levels = reveal_levels(arity_log2, pos.height);
    let first = pos.index << levels;
    let choice = (0..nodes.len())
        .find(|&c| tree.node(pos.height - levels, first as usize + c) != Some(nodes[c]))
        .ok_or(SolverError::NoDisagreement)?;
    Ok(Move::Pick { nodes, choice })
}

/// Builds the one-step proof of the first element of the revealed chunk that
/// differs from ours.
fn one_step(pos: &Position, ours: &TraceData, revealed: &Revealed) -> Result<OneStepProof, SolverError> {
    let theirs = revealed.chunk.ok_or(SolverError::RevealUnknown)?;
    let step_index = pos.step_index as usize;
    let model = ours.model();
    let step = &model.steps()[step_index];
    let spec = &step.spec;
    let dtype = spec.out.dtype;
    let chunk_index = pos.index as usize;
    let mine = ours.step(step_index).chunk(chunk_index);
    debug_assert!(chunk_padding_is_zero(&theirs, chunk_index, pos.byte_len as usize), "the referee ends malformed chunks");
    let per_chunk = CHUNK_SIZE / dtype.size();
    let first = chunk_index * per_chunk;
    let local = (0..per_chunk)
        .take_while(|l| first + l < spec.out.numel())
        .find(|&l| chunk_element(&theirs, dtype, l) != chunk_element(&mine, dtype, l))
        .ok_or(SolverError::ChunkAgrees)?;

    let inputs: Vec<refute_core::Tensor> = step.inputs.iter().map(|&j| ours.tensor(j as usize)).collect();
    let in_e: Vec<&dyn Elements> = inputs.iter().map(|t| t as &dyn Elements).collect();
    let w_e: Vec<&dyn Elements> = step.weights.iter().map(|t| t as &dyn Elements).collect();
    let (_, deps) = eval_with_dependencies(spec, first + local, &in_e, &w_e);
    let open = |bytes: &[u8], dtype, elements: &[usize]| {
        // An opening needs at least one chunk; an op that reads nothing of a tensor
        // (none does today) would still show chunk 0.
        let e = if elements.is_empty() { vec![0] } else { elements.to_vec() };
        ChunkOpening::of_elements(bytes, dtype, e)
    };
    let partial = PartialTrace { ours: ours.tree(), revealed: &revealed.trace, first_wrong: step_index };
    let mut input_trace_proofs = Vec::with_capacity(inputs.len());
    for &j in &step.inputs {
        input_trace_proofs.push(partial.proof(j as u64)?);
    }
    Ok(OneStepProof {
        element_in_chunk: local as u32,
        chunk: theirs,
        spec: spec.encode(),
        input_roots: step.inputs.iter().map(|&j| ours.step(j as usize).header().data_root).collect(),
        input_trace_proofs,
        inputs: inputs.iter().zip(&deps.inputs).map(|(t, d)| open(&t.canonical_bytes(), t.ty().dtype, d)).collect(),
        weights: step.weights.iter().zip(&deps.weights).map(|(t, d)| open(&t.canonical_bytes(), t.ty().dtype, d)).collect(),
    })
}

/// The executor's trace tree as far as the challenger knows it: every leaf before
/// the first wrong step equals ours, and the nodes along the descent were revealed.
/// That is enough to prove any leaf before the first wrong step against the
/// executor's root.
struct PartialTrace<'a> {
    ours: &'a MerkleTree,
    revealed: &'a HashMap<(u32, u64), Hash>,
    first_wrong: usize,
}

impl PartialTrace<'_> {
    fn node(&self, level: u32, index: u64) -> Result<Hash, SolverError> {
        if let Some(h) = self.revealed.get(&(level, index)) {
            return Ok(*h);
        }
        // a subtree wholly before the first wrong leaf is ours
        if (index + 1) << level <= self.first_wrong as u64 {
            return self.ours.node(level, index as usize).ok_or(SolverError::UnknownTraceNode { level, index });
        }
        if level == 0 {
            return Err(SolverError::UnknownTraceNode { level, index });
        }
        Ok(TreeKind::Trace.node(&self.node(level - 1, 2 * index)?, &self.node(level - 1, 2 * index + 1)?))
    }

    fn proof(&self, leaf: u64) -> Result<Vec<Hash>, SolverError> {
        (0..self.ours.height()).map(|level| self.node(level, (leaf >> level) ^ 1)).collect()
    }
}
