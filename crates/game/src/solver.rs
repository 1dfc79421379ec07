//! The solvers: given a game's position, what each side plays. Pure functions of
//! the position, the side's own trace, and (for the challenger) what the executor
//! has revealed; no I/O, so the services can call them on every tick.

use crate::position::{reveal_levels, BlockProof, Move, OneStepProof, Operands, Phase, Position, Side, Status};
use crate::trace::TraceData;
use refute_core::checkpoint::{checkpoint_tree, element_leaf};
use refute_core::commit::{chunk_element, chunk_leaf, chunk_padding_is_zero, ChunkRange, CHUNK_SIZE};
use refute_core::hash::Hash;
use refute_core::merkle::{MerkleTree, TreeKind};
use refute_core::reference::{blocks, checkpoint_leaves, eval_block_with_dependencies, states_before_blocks, Elements};
use refute_core::Tensor;
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
    /// A node a proof needs is neither revealed nor ours.
    #[error("{kind:?} node at level {level}, index {index} is unknown")]
    UnknownNode {
        /// The tree.
        kind: TreeKind,
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
    let step = pos.step_index as usize;
    Ok(Some(match pos.phase {
        Phase::Trace => reveal(trace.tree(), arity_log2, pos)?,
        Phase::Header => {
            let spec_tree = trace.model().spec_tree();
            Move::OpenHeader {
                header: trace.step(step).header(),
                spec: trace.model().steps()[step].spec.encode(),
                spec_proof: spec_tree.prove(&[step]).expect("a step of the model"),
            }
        }
        Phase::Data => reveal(&trace.step(step).data_tree(), arity_log2, pos)?,
        Phase::Chunk => {
            let chunk = trace.step(step).chunk(pos.index as usize);
            if chunk_leaf(&chunk) != pos.node {
                return Err(SolverError::NotOurNode(pos.phase));
            }
            Move::RevealChunk(Box::new(chunk))
        }
        Phase::Checkpoints => {
            let tree = checkpoints(trace, step, pos.element);
            let last = (pos.blocks - 1) as usize;
            if tree.leaf(last) != Some(element_leaf(pos.claimed)) {
                // the named value is not the one we committed to: not our chunk
                return Err(SolverError::NotOurNode(pos.phase));
            }
            Move::OpenCheckpoints { root: tree.root(), last_proof: tree.prove(&[last]).expect("a leaf of the tree") }
        }
        Phase::Reduction => reveal(&checkpoints(trace, step, pos.element), arity_log2, pos)?,
        Phase::OneStep | Phase::Block | Phase::Resolved => return Ok(None),
    }))
}

fn reveal(tree: &MerkleTree, arity_log2: u32, pos: &Position) -> Result<Move, SolverError> {
    if tree.node(pos.height, pos.index as usize) != Some(pos.node) {
        return Err(SolverError::NotOurNode(pos.phase));
    }
    let levels = reveal_levels(arity_log2, pos.height);
    Ok(Move::RevealNodes(tree.descendants(pos.height, pos.index as usize, levels).expect("inside the tree")))
}

/// The checkpoint tree of element `element` of step `step` as a trace commits to
/// it: the fold of the step's inputs as the trace holds them, ending at the element
/// the trace holds. For an honest trace that is the plain fold; a trace whose
/// element is not the fold of its inputs (a cheat) gets the fold's checkpoints with
/// its own element at the end, the commitment that agrees with it the longest.
pub fn checkpoints(trace: &TraceData, step: usize, element: u64) -> MerkleTree {
    let s = &trace.model().steps()[step];
    let inputs: Vec<Tensor> = s.inputs.iter().map(|&j| trace.tensor(j as usize)).collect();
    let in_e: Vec<&dyn Elements> = inputs.iter().map(|t| t as &dyn Elements).collect();
    let w_e: Vec<&dyn Elements> = s.weights.iter().map(|t| t as &dyn Elements).collect();
    let mut leaves = checkpoint_leaves(&s.spec, element as usize, &in_e, &w_e);
    let committed = trace.tensor(step).get(element as usize);
    *leaves.last_mut().expect("at least one block") = element_leaf(committed);
    checkpoint_tree(leaves)
}

/// What the executor has revealed in one game, as read from the chain's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revealed {
    /// Trace-tree nodes by (level, index).
    pub trace: HashMap<(u32, u64), Hash>,
    /// Data-tree nodes of the disputed step by (level, index).
    pub data: HashMap<(u32, u64), Hash>,
    /// Checkpoint-tree nodes of the named element by (level, index).
    pub checkpoints: HashMap<(u32, u64), Hash>,
    /// The revealed chunk.
    pub chunk: Option<[u8; CHUNK_SIZE]>,
}

impl Revealed {
    /// The nodes of the tree that `phase` descends.
    fn map(&self, phase: Phase) -> &HashMap<(u32, u64), Hash> {
        match phase {
            Phase::Trace => &self.trace,
            Phase::Reduction => &self.checkpoints,
            _ => &self.data,
        }
    }

    /// Records a reveal of `nodes` below the node at (`height`, `index`) in the
    /// descent of `phase`.
    pub fn record(&mut self, phase: Phase, arity_log2: u32, height: u32, index: u64, nodes: &[Hash]) {
        let levels = reveal_levels(arity_log2, height);
        let map = match phase {
            Phase::Trace => &mut self.trace,
            Phase::Reduction => &mut self.checkpoints,
            _ => &mut self.data,
        };
        for (c, n) in nodes.iter().enumerate() {
            map.insert((height - levels, (index << levels) + c as u64), *n);
        }
    }

    /// The nodes revealed below the node at (`height`, `index`), if all are known.
    pub fn below(&self, phase: Phase, arity_log2: u32, height: u32, index: u64) -> Option<Vec<Hash>> {
        let levels = reveal_levels(arity_log2, height);
        let map = self.map(phase);
        (0..1u64 << levels).map(|c| map.get(&(height - levels, (index << levels) + c)).copied()).collect()
    }
}

/// The move the challenger makes from `pos`, holding the honest trace `ours` and
/// what the executor revealed. `None` when it is not the challenger's move.
pub fn challenger_move(arity_log2: u32, pos: &Position, ours: &TraceData, revealed: &Revealed) -> Result<Option<Move>, SolverError> {
    if pos.status != Status::Open || pos.turn != Side::Challenger {
        return Ok(None);
    }
    let step = pos.step_index as usize;
    Ok(Some(match pos.phase {
        Phase::Trace => pick(ours.tree(), arity_log2, pos, revealed)?,
        Phase::Data => pick(&ours.step(step).data_tree(), arity_log2, pos, revealed)?,
        Phase::OneStep => one_step(pos, ours, revealed)?,
        Phase::Reduction => pick(&checkpoints(ours, step, pos.element), arity_log2, pos, revealed)?,
        Phase::Block => Move::ProveBlock(Box::new(block_proof(pos, ours, revealed)?)),
        Phase::Header | Phase::Chunk | Phase::Checkpoints | Phase::Resolved => return Ok(None),
    }))
}

/// Descend towards the first node that differs from ours: the leftmost differing
/// child holds the first differing leaf.
fn pick(tree: &MerkleTree, arity_log2: u32, pos: &Position, revealed: &Revealed) -> Result<Move, SolverError> {
    let nodes = revealed.below(pos.phase, arity_log2, pos.height, pos.index).ok_or(SolverError::RevealUnknown)?;
    let levels = reveal_levels(arity_log2, pos.height);
    let first = pos.index << levels;
    let choice =
        (0..nodes.len()).find(|&c| tree.node(pos.height - levels, first as usize + c) != Some(nodes[c])).ok_or(SolverError::NoDisagreement)?;
    Ok(Move::Pick { nodes, choice })
}

/// The first element of the revealed chunk that differs from ours: proven at once
/// when its reduction is one block, named otherwise.
fn one_step(pos: &Position, ours: &TraceData, revealed: &Revealed) -> Result<Move, SolverError> {
    let theirs = revealed.chunk.ok_or(SolverError::RevealUnknown)?;
    let step_index = pos.step_index as usize;
    let spec = &ours.model().steps()[step_index].spec;
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
    if blocks(spec) > 1 {
        return Ok(Move::NameElement { element_in_chunk: local as u32, chunk: Box::new(theirs), spec: spec.encode() });
    }
    let operands = operands(ours, revealed, step_index, (first + local) as u64, 0)?;
    Ok(Move::ProveStep(Box::new(OneStepProof { element_in_chunk: local as u32, chunk: theirs, operands })))
}

/// The proof of the block the reduction descent reached: the state before it (ours,
/// which equals the executor's, since the block's leaf is the first that differs),
/// proven against the executor's checkpoint root.
fn block_proof(pos: &Position, ours: &TraceData, revealed: &Revealed) -> Result<BlockProof, SolverError> {
    let step = pos.step_index as usize;
    let b = pos.index;
    let (prev_state, prev_proof) = if b == 0 {
        (vec![], vec![])
    } else {
        let s = &ours.model().steps()[step];
        let inputs: Vec<Tensor> = s.inputs.iter().map(|&j| ours.tensor(j as usize)).collect();
        let in_e: Vec<&dyn Elements> = inputs.iter().map(|t| t as &dyn Elements).collect();
        let w_e: Vec<&dyn Elements> = s.weights.iter().map(|t| t as &dyn Elements).collect();
        let states = states_before_blocks(&s.spec, pos.element as usize, &in_e, &w_e);
        let tree = checkpoints(ours, step, pos.element);
        let partial = PartialTree { kind: TreeKind::Checkpoint, ours: &tree, revealed: &revealed.checkpoints, first_wrong: b };
        (states[b as usize].encode(), partial.proof(b - 1)?)
    };
    Ok(BlockProof { prev_state, prev_proof, operands: operands(ours, revealed, step, pos.element, b)? })
}

/// What the verifier reads for block `b` of `element` of step `step`: the inputs
/// (ours, equal to the executor's since the step is the first that differs) bound
/// to the executor's trace root, and the ranges of inputs and weights the block
/// reads.
fn operands(ours: &TraceData, revealed: &Revealed, step: usize, element: u64, b: u64) -> Result<Operands, SolverError> {
    let s = &ours.model().steps()[step];
    let inputs: Vec<Tensor> = s.inputs.iter().map(|&j| ours.tensor(j as usize)).collect();
    let in_e: Vec<&dyn Elements> = inputs.iter().map(|t| t as &dyn Elements).collect();
    let w_e: Vec<&dyn Elements> = s.weights.iter().map(|t| t as &dyn Elements).collect();
    let prev = states_before_blocks(&s.spec, element as usize, &in_e, &w_e).swap_remove(b as usize);
    let (_, deps) = eval_block_with_dependencies(&s.spec, element as usize, b, &prev, &in_e, &w_e);
    let partial = PartialTree { kind: TreeKind::Trace, ours: ours.tree(), revealed: &revealed.trace, first_wrong: step as u64 };
    let input_trace_proofs = s.inputs.iter().map(|&j| partial.proof(j as u64)).collect::<Result<_, _>>()?;
    let range = |t: &Tensor, elements: &[usize]| ChunkRange::of_elements(&t.canonical_bytes(), t.ty().dtype, elements);
    Ok(Operands {
        spec: s.spec.encode(),
        input_roots: s.inputs.iter().map(|&j| ours.step(j as usize).header().data_root).collect(),
        input_trace_proofs,
        inputs: inputs.iter().zip(&deps.inputs).map(|(t, d)| range(t, d)).collect(),
        weights: s.weights.iter().zip(&deps.weights).map(|(t, d)| range(t, d)).collect(),
    })
}

/// The executor's tree as far as the challenger knows it: every leaf before the
/// first one it disputes equals ours, and the nodes along the descent were revealed.
/// That is enough to prove any leaf before the first disputed one against the
/// executor's root.
struct PartialTree<'a> {
    kind: TreeKind,
    ours: &'a MerkleTree,
    revealed: &'a HashMap<(u32, u64), Hash>,
    first_wrong: u64,
}

impl PartialTree<'_> {
    fn node(&self, level: u32, index: u64) -> Result<Hash, SolverError> {
        if let Some(h) = self.revealed.get(&(level, index)) {
            return Ok(*h);
        }
        let unknown = SolverError::UnknownNode { kind: self.kind, level, index };
        // a subtree wholly before the first disputed leaf is ours
        if (index + 1) << level <= self.first_wrong {
            return self.ours.node(level, index as usize).ok_or(unknown);
        }
        if level == 0 {
            return Err(unknown);
        }
        Ok(self.kind.node(&self.node(level - 1, 2 * index)?, &self.node(level - 1, 2 * index + 1)?))
    }

    fn proof(&self, leaf: u64) -> Result<Vec<Hash>, SolverError> {
        (0..self.ours.height()).map(|level| self.node(level, (leaf >> level) ^ 1)).collect()
    }
}
