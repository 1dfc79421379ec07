//! Padded binary Merkle trees and the one proof format (single leaves and sets of
//! leaves alike) of `docs/commitments.md`.
//!
//! Four kinds of tree share this code and differ only in their inner-node tag and
//! padding leaf: the data tree of a tensor's chunks, the trace tree of step
//! commitments, the spec tree of a model's steps, and the checkpoint tree of one
//! element's fold.

use crate::hash::{keccak, node, tag, Hash, ZERO_HASH};
use std::sync::OnceLock;

/// Bytes per chunk of a tensor's canonical bytes: a data tree's leaf.
pub const CHUNK_SIZE: usize = 256;

/// Leaf hash of an all-zero chunk, `keccak256(0x00 ‖ 0^256)`: the padding leaf of
/// every data tree.
pub fn zero_chunk_leaf() -> Hash {
    static LEAF: OnceLock<Hash> = OnceLock::new();
    *LEAF.get_or_init(|| keccak(&[&[tag::DATA_LEAF], &[0u8; CHUNK_SIZE]]))
}

/// Which tree a hash belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TreeKind {
    /// Chunks of one tensor's canonical bytes.
    Data,
    /// Step commitments of one inference.
    Trace,
    /// Step specs of one model.
    Spec,
    /// Checkpoints of one element's fold.
    Checkpoint,
}

/// Deepest tree supported (2^40 leaves is far beyond any tensor or model).
pub const MAX_HEIGHT: u32 = 40;

impl TreeKind {
    /// The domain tag of inner nodes.
    pub fn node_tag(self) -> u8 {
        match self {
            TreeKind::Data => tag::DATA_NODE,
            TreeKind::Trace => tag::TRACE_NODE,
            TreeKind::Spec => tag::SPEC_NODE,
            TreeKind::Checkpoint => tag::CHECKPOINT_NODE,
        }
    }

    /// The leaf that pads the tree to a power of two.
    pub fn padding_leaf(self) -> Hash {
        match self {
            TreeKind::Data => zero_chunk_leaf(),
            TreeKind::Trace | TreeKind::Spec | TreeKind::Checkpoint => ZERO_HASH,
        }
    }

    /// Hash of an inner node of this tree.
    pub fn node(self, left: &Hash, right: &Hash) -> Hash {
        node(self.node_tag(), left, right)
    }

    /// Root of a subtree of height `level` made only of padding leaves.
    pub fn padding_root(self, level: u32) -> Hash {
        static TABLES: OnceLock<[Vec<Hash>; 4]> = OnceLock::new();
        let tables = TABLES.get_or_init(|| {
            [TreeKind::Data, TreeKind::Trace, TreeKind::Spec, TreeKind::Checkpoint].map(|kind| {
                let mut t = vec![kind.padding_leaf()];
                for l in 0..MAX_HEIGHT as usize {
                    let h = kind.node(&t[l], &t[l]);
                    t.push(h);
                }
                t
            })
        });
        let i = match self {
            TreeKind::Data => 0,
            TreeKind::Trace => 1,
            TreeKind::Spec => 2,
            TreeKind::Checkpoint => 3,
        };
        tables[i][level as usize]
    }
}

/// Height of a tree over `leaves` leaves: `ceil(log2(leaves))`, 0 for one or none.
pub fn height(leaves: usize) -> u32 {
    if leaves <= 1 {
        0
    } else {
        usize::BITS - (leaves - 1).leading_zeros()
    }
}

/// Root of the padded tree over `leaves` (hashes of the leaves, not yet padded).
///
/// Padding subtrees are taken from a precomputed table, so the cost is that of the
/// real leaves only.
pub fn root(kind: TreeKind, leaves: Vec<Hash>) -> Hash {
    roots(kind, vec![leaves]).pop().expect("one tree, one root")
}

/// Roots of many padded trees of one kind, as [`root`] of each: the trees are
/// hashed level by level together, so that the inner nodes of all of them go
/// through the hasher in groups ([`refute_keccak::keccak256_many_prefixed`], eight
/// nodes per permutation where the CPU allows).
pub fn roots(kind: TreeKind, mut forest: Vec<Vec<Hash>>) -> Vec<Hash> {
    let tag = kind.node_tag();
    let mut level = 0;
    let mut hashes: Vec<Hash> = Vec::new();
    while forest.iter().any(|t| t.len() > 1) {
        // An odd level gets this level's padding root at its end, so that every
        // node's preimage after the tag (left ‖ right) lies in the level itself:
        // the hasher reads the pairs where they are.
        for tree in forest.iter_mut().filter(|t| t.len() > 1 && t.len() % 2 == 1) {
            tree.push(kind.padding_root(level));
        }
        {
            let pairs: Vec<&[u8]> = forest.iter().filter(|t| t.len() > 1).flat_map(|t| t.as_flattened().chunks_exact(64)).collect();
            hashes.resize(pairs.len(), ZERO_HASH);
            refute_keccak::keccak256_many_prefixed(tag, &pairs, &mut hashes);
        }
        let mut next = hashes.iter().copied();
        for tree in forest.iter_mut().filter(|t| t.len() > 1) {
            let n = tree.len() / 2;
            tree.truncate(n);
            tree.iter_mut().for_each(|node| *node = next.next().expect("one hash per pair"));
        }
        level += 1;
    }
    forest.into_iter().map(|t| t.first().copied().unwrap_or_else(|| kind.padding_leaf())).collect()
}

/// A padded tree with every level kept, for revealing nodes and proving leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    kind: TreeKind,
    /// `levels[0]` are the leaves, padded to `2^height`; the last level is the root.
    levels: Vec<Vec<Hash>>,
    real_leaves: usize,
}

impl MerkleTree {
    /// Builds the tree over `leaves`, padding them to a power of two.
    pub fn new(kind: TreeKind, leaves: Vec<Hash>) -> Self {
        let real_leaves = leaves.len();
        let h = height(real_leaves);
        let mut level0 = leaves;
        level0.resize(1usize << h, kind.padding_leaf());
        let mut levels = vec![level0];
        for _ in 0..h {
            let prev = levels.last().expect("at least the leaves");
            let next = prev.chunks_exact(2).map(|p| kind.node(&p[0], &p[1])).collect();
            levels.push(next);
        }
        MerkleTree { kind, levels, real_leaves }
    }

    /// The kind of tree.
    pub fn kind(&self) -> TreeKind {
        self.kind
    }

    /// The root.
    pub fn root(&self) -> Hash {
        self.levels.last().expect("at least the leaves")[0]
    }

    /// The height (0 for a single leaf).
    pub fn height(&self) -> u32 {
        (self.levels.len() - 1) as u32
    }

    /// Number of leaves before padding.
    pub fn real_leaves(&self) -> usize {
        self.real_leaves
    }

    /// The node at `level` (0 = leaves) and `index` within that level.
    pub fn node(&self, level: u32, index: usize) -> Option<Hash> {
        self.levels.get(level as usize)?.get(index).copied()
    }

    /// The leaf at `index` (padding leaves included).
    pub fn leaf(&self, index: usize) -> Option<Hash> {
        self.node(0, index)
    }

    /// The `2^levels` descendants, `levels` levels down, of the node at `level`, `index`.
    pub fn descendants(&self, level: u32, index: usize, levels: u32) -> Option<Vec<Hash>> {
        let below = level.checked_sub(levels)?;
        let width = 1usize << levels;
        let row = self.levels.get(below as usize)?;
        row.get(index * width..(index + 1) * width).map(<[Hash]>::to_vec)
    }

    /// The proof for the leaves at `indices` (strictly increasing), in the order
    /// [`verify`] consumes it.
    pub fn prove(&self, indices: &[usize]) -> Result<Vec<Hash>, ProofError> {
        check_indices(indices, self.height())?;
        let mut proof = Vec::new();
        let mut layer: Vec<usize> = indices.to_vec();
        for level in 0..self.height() as usize {
            let mut next = Vec::with_capacity(layer.len());
            let mut i = 0;
            while i < layer.len() {
                let k = layer[i];
                if k.is_multiple_of(2) && i + 1 < layer.len() && layer[i + 1] == k + 1 {
                    i += 2;
                } else {
                    proof.push(self.levels[level][k ^ 1]);
                    i += 1;
                }
                next.push(k / 2);
            }
            layer = next;
        }
        Ok(proof)
    }
}

/// Why a proof could not be made or checked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    /// No leaves were named.
    #[error("a proof needs at least one leaf")]
    NoLeaves,
    /// The leaf indices are not strictly increasing.
    #[error("leaf indices must be strictly increasing")]
    Unsorted,
    /// A leaf index is past the padded tree.
    #[error("leaf index {index} is outside a tree of height {height}")]
    OutOfRange {
        /// The index.
        index: usize,
        /// The tree's height.
        height: u32,
    },
    /// The proof has too few or too many hashes.
    #[error("the proof has the wrong number of hashes")]
    Length,
    /// The leaves and proof rebuild another root.
    #[error("the proof does not lead to the root")]
    Mismatch,
}

fn check_indices(indices: &[usize], height: u32) -> Result<(), ProofError> {
    if indices.is_empty() {
        return Err(ProofError::NoLeaves);
    }
    if indices.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ProofError::Unsorted);
    }
    let last = *indices.last().expect("not empty");
    if height as usize >= usize::BITS as usize || last >> height != 0 {
        return Err(ProofError::OutOfRange { index: last, height });
    }
    Ok(())
}

/// Rebuilds the root of a tree of `height` from `(index, leaf hash)` pairs (strictly
/// increasing indices) and a proof, as `docs/commitments.md` specifies.
pub fn root_from_proof(kind: TreeKind, height: u32, leaves: &[(usize, Hash)], proof: &[Hash]) -> Result<Hash, ProofError> {
    let indices: Vec<usize> = leaves.iter().map(|l| l.0).collect();
    check_indices(&indices, height)?;
    let mut layer: Vec<(usize, Hash)> = leaves.to_vec();
    let mut p = 0;
    let mut take = || -> Result<Hash, ProofError> {
        let h = proof.get(p).copied().ok_or(ProofError::Length)?;
        p += 1;
        Ok(h)
    };
    for _ in 0..height {
        let mut next = Vec::with_capacity(layer.len());
        let mut i = 0;
        while i < layer.len() {
            let (k, x) = layer[i];
            let parent = if k % 2 == 0 && i + 1 < layer.len() && layer[i + 1].0 == k + 1 {
                let right = layer[i + 1].1;
                i += 2;
                kind.node(&x, &right)
            } else if k % 2 == 0 {
                i += 1;
                kind.node(&x, &take()?)
            } else {
                i += 1;
                kind.node(&take()?, &x)
            };
            next.push((k / 2, parent));
        }
        layer = next;
    }
    if p != proof.len() {
        return Err(ProofError::Length);
    }
    Ok(layer[0].1)
}

/// Checks a proof of `leaves` against `root`.
pub fn verify(kind: TreeKind, root: &Hash, height: u32, leaves: &[(usize, Hash)], proof: &[Hash]) -> Result<(), ProofError> {
    if root_from_proof(kind, height, leaves, proof)? == *root {
        Ok(())
    } else {
        Err(ProofError::Mismatch)
    }
}

/// Root of the subtree whose `2^k` nodes at some level are `nodes` (left to right).
/// The dispute game checks a reveal of `nodes` against the node above them with it.
pub fn subtree_root(kind: TreeKind, nodes: &[Hash]) -> Option<Hash> {
    if nodes.is_empty() || !nodes.len().is_power_of_two() {
        return None;
    }
    let mut layer = nodes.to_vec();
    while layer.len() > 1 {
        layer = layer.chunks_exact(2).map(|p| kind.node(&p[0], &p[1])).collect();
    }
    Some(layer[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::keccak;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| keccak(&[&(i as u64).to_be_bytes()])).collect()
    }

    #[test]
    fn heights() {
        assert_eq!([0, 1, 2, 3, 4, 5, 8, 9].map(height), [0, 0, 1, 2, 2, 3, 3, 4]);
    }

    #[test]
    fn streaming_root_equals_the_full_tree() {
        for kind in [TreeKind::Data, TreeKind::Trace, TreeKind::Spec, TreeKind::Checkpoint] {
            for n in 1..40 {
                let l = leaves(n);
                assert_eq!(root(kind, l.clone()), MerkleTree::new(kind, l).root(), "{kind:?} {n}");
            }
        }
    }

    #[test]
    fn a_forest_of_mixed_sizes_has_the_roots_of_its_trees() {
        // odd and even levels side by side, trees that are done before others, and
        // an empty tree (its root is the padding leaf)
        let sizes = [0, 1, 2, 3, 5, 8, 9, 16, 17, 31, 33];
        for kind in [TreeKind::Data, TreeKind::Trace, TreeKind::Spec] {
            let forest: Vec<Vec<Hash>> = sizes.iter().map(|&n| leaves(n)).collect();
            let want: Vec<Hash> = forest.iter().map(|l| MerkleTree::new(kind, l.clone()).root()).collect();
            assert_eq!(roots(kind, forest), want, "{kind:?}");
        }
    }

    #[test]
    fn padding_is_explicit() {
        let l = leaves(3);
        let t = MerkleTree::new(TreeKind::Trace, l.clone());
        let left = TreeKind::Trace.node(&l[0], &l[1]);
        let right = TreeKind::Trace.node(&l[2], &ZERO_HASH);
        assert_eq!(t.root(), TreeKind::Trace.node(&left, &right));
        assert_eq!(t.height(), 2);
        assert_eq!(MerkleTree::new(TreeKind::Spec, leaves(1)).root(), leaves(1)[0]);
    }

    #[test]
    fn every_subset_proves_and_verifies() {
        let l = leaves(11);
        let t = MerkleTree::new(TreeKind::Data, l.clone());
        for mask in 1u32..(1 << 11) {
            let idx: Vec<usize> = (0..11).filter(|i| mask & (1 << i) != 0).collect();
            let proof = t.prove(&idx).unwrap();
            let pairs: Vec<(usize, Hash)> = idx.iter().map(|&i| (i, l[i])).collect();
            verify(TreeKind::Data, &t.root(), t.height(), &pairs, &proof).unwrap();
        }
    }

    #[test]
    fn tampering_is_detected() {
        let l = leaves(6);
        let t = MerkleTree::new(TreeKind::Trace, l.clone());
        let proof = t.prove(&[1, 4]).unwrap();
        let good = [(1, l[1]), (4, l[4])];
        verify(TreeKind::Trace, &t.root(), 3, &good, &proof).unwrap();
        // another leaf value, another position, another tree kind, a short proof
        assert_eq!(verify(TreeKind::Trace, &t.root(), 3, &[(1, l[2]), (4, l[4])], &proof), Err(ProofError::Mismatch));
        assert!(verify(TreeKind::Trace, &t.root(), 3, &[(0, l[1]), (4, l[4])], &proof).is_err());
        assert_eq!(verify(TreeKind::Spec, &t.root(), 3, &good, &proof), Err(ProofError::Mismatch));
        assert_eq!(verify(TreeKind::Trace, &t.root(), 3, &good, &proof[1..]), Err(ProofError::Length));
        let mut long = proof.clone();
        long.push(ZERO_HASH);
        assert_eq!(verify(TreeKind::Trace, &t.root(), 3, &good, &long), Err(ProofError::Length));
        assert_eq!(verify(TreeKind::Trace, &t.root(), 3, &[(4, l[4]), (1, l[1])], &proof), Err(ProofError::Unsorted));
        assert!(matches!(t.prove(&[8]), Err(ProofError::OutOfRange { .. })));
    }

    #[test]
    fn descendants_hash_to_their_ancestor() {
        let t = MerkleTree::new(TreeKind::Data, leaves(13));
        for k in 1..=t.height() {
            let d = t.descendants(t.height(), 0, k).unwrap();
            assert_eq!(subtree_root(TreeKind::Data, &d), Some(t.root()));
        }
        let d = t.descendants(2, 1, 2).unwrap();
        assert_eq!(subtree_root(TreeKind::Data, &d), t.node(2, 1));
        assert_eq!(t.descendants(1, 0, 2), None);
    }
}
