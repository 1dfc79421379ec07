//! A committed trace with everything needed to open it: each step's committed
//! bytes and type, the trace tree, and the model.
//!
//! The executor defends the trace it committed to; the challenger compares the
//! executor's reveals with its own honest trace. Both are a [`TraceData`]. A step
//! is kept as the padded byte string under its data tree, so a malformed commitment
//! (a wrong shape, non-zero padding) can be represented and played, too.

use refute_core::commit::{chunk_leaf, num_chunks, TensorHeader, CHUNK_SIZE};
use refute_core::hash::Hash;
use refute_core::merkle::{self, MerkleTree, TreeKind};
use refute_core::{Model, Tensor, TensorType};
use std::sync::Arc;

/// One step's output as committed: its type and the bytes under its data tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedStep {
    /// The type in the header.
    pub ty: TensorType,
    /// The canonical bytes zero-padded to `256 · 2^height` (or not zero-padded, if
    /// the committer cheats).
    pub padded: Vec<u8>,
}

impl CommittedStep {
    /// The honest commitment of a tensor.
    pub fn of(t: &Tensor) -> Self {
        let mut padded = t.canonical_bytes();
        padded.resize(CHUNK_SIZE << merkle::height(num_chunks(t.ty().byte_len())), 0);
        CommittedStep { ty: t.ty().clone(), padded }
    }

    /// Chunk `i` of the padded bytes.
    pub fn chunk(&self, i: usize) -> [u8; CHUNK_SIZE] {
        self.padded[i * CHUNK_SIZE..(i + 1) * CHUNK_SIZE].try_into().expect("whole chunks")
    }

    /// The data tree.
    pub fn data_tree(&self) -> MerkleTree {
        MerkleTree::new(TreeKind::Data, self.padded.chunks(CHUNK_SIZE).map(chunk_leaf).collect())
    }

    /// The header (type and data root).
    pub fn header(&self) -> TensorHeader {
        TensorHeader { ty: self.ty.clone(), data_root: self.data_tree().root() }
    }

    /// Canonical bytes (the padded bytes cut to the type's length).
    pub fn bytes(&self) -> &[u8] {
        &self.padded[..self.ty.byte_len().min(self.padded.len())]
    }
}

/// A model and the committed outputs of every step of one inference.
#[derive(Debug, Clone)]
pub struct TraceData {
    model: Arc<Model>,
    steps: Vec<CommittedStep>,
    commitments: Vec<Hash>,
    tree: MerkleTree,
}

impl TraceData {
    /// The trace of committed steps `steps` (one per model step).
    pub fn new(model: Arc<Model>, steps: Vec<CommittedStep>) -> Self {
        assert_eq!(steps.len(), model.step_count(), "one committed output per step");
        let commitments: Vec<Hash> = steps.iter().map(|s| s.header().commitment()).collect();
        let tree = MerkleTree::new(TreeKind::Trace, commitments.clone());
        TraceData { model, steps, commitments, tree }
    }

    /// The honest trace of the step outputs `tensors`.
    pub fn from_tensors(model: Arc<Model>, tensors: &[Tensor]) -> Self {
        TraceData::new(model, tensors.iter().map(CommittedStep::of).collect())
    }

    /// The model.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The trace root.
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// The trace tree.
    pub fn tree(&self) -> &MerkleTree {
        &self.tree
    }

    /// Step commitments.
    pub fn commitments(&self) -> &[Hash] {
        &self.commitments
    }

    /// Step `i` as committed.
    pub fn step(&self, i: usize) -> &CommittedStep {
        &self.steps[i]
    }

    /// Step `i` as a tensor (its committed bytes read under its committed type).
    pub fn tensor(&self, i: usize) -> Tensor {
        let s = &self.steps[i];
        Tensor::from_canonical_bytes(s.ty.clone(), s.bytes()).expect("bytes of the type's length")
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the trace has no steps (never, for a valid model).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}
