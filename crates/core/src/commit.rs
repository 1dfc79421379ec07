//! Tensor commitments and trace roots (`docs/commitments.md`).

use crate::hash::{keccak, tag, Hash};
use crate::merkle::{self, MerkleTree, TreeKind};
use crate::tensor::{DType, Tensor, TensorType};

pub use crate::merkle::{zero_chunk_leaf, CHUNK_SIZE};

/// Number of chunks of a `byte_len`-byte tensor: at least one.
pub fn num_chunks(byte_len: usize) -> usize {
    byte_len.div_ceil(CHUNK_SIZE).max(1)
}

/// The preimage of a data leaf: `0x00 ‖ chunk`, the chunk zero-padded to 256 bytes.
pub fn leaf_preimage(chunk: &[u8]) -> [u8; 1 + CHUNK_SIZE] {
    assert!(chunk.len() <= CHUNK_SIZE, "a chunk has at most {CHUNK_SIZE} bytes");
    let mut m = [0u8; 1 + CHUNK_SIZE];
    m[0] = tag::DATA_LEAF;
    m[1..1 + chunk.len()].copy_from_slice(chunk);
    m
}

/// Leaf hash of one chunk: `keccak256(0x00 ‖ chunk)`, the chunk zero-padded to 256 bytes.
pub fn chunk_leaf(chunk: &[u8]) -> Hash {
    keccak(&[&leaf_preimage(chunk)])
}

/// The leaf hashes of `bytes` cut into chunks (before padding to a power of two).
pub fn data_leaves(bytes: &[u8]) -> Vec<Hash> {
    data_leaves_many(&[bytes]).pop().expect("one tensor")
}

/// The leaf hashes of many tensors, all leaves hashed in one grouped pass. The
/// hasher reads whole chunks where they lie and puts the leaf tag before them
/// itself; only each tensor's short last chunk (or the zero chunk of an empty
/// tensor) is copied, to be zero-padded.
fn data_leaves_many(tensors: &[&[u8]]) -> Vec<Vec<Hash>> {
    let short = |b: &[u8]| b.is_empty() || !b.len().is_multiple_of(CHUNK_SIZE);
    let tails: Vec<[u8; CHUNK_SIZE]> = tensors.iter().filter(|b| short(b)).map(|b| chunk(b, b.len() / CHUNK_SIZE)).collect();
    let mut tails = tails.iter();
    let mut chunks: Vec<&[u8]> = Vec::with_capacity(tensors.iter().map(|b| num_chunks(b.len())).sum());
    let counts: Vec<usize> = tensors
        .iter()
        .map(|b| {
            let before = chunks.len();
            chunks.extend(b.chunks_exact(CHUNK_SIZE));
            if short(b) {
                chunks.push(tails.next().expect("one tail per short tensor"));
            }
            chunks.len() - before
        })
        .collect();
    let mut hashes = vec![[0u8; 32]; chunks.len()];
    refute_keccak::keccak256_many_prefixed(tag::DATA_LEAF, &chunks, &mut hashes);
    let mut next = hashes.into_iter();
    counts.into_iter().map(|n| next.by_ref().take(n).collect()).collect()
}

/// The data root of canonical bytes.
pub fn data_root(bytes: &[u8]) -> Hash {
    merkle::root(TreeKind::Data, data_leaves(bytes))
}

/// The data roots of many tensors' canonical bytes, as [`data_root`] of each, with
/// the leaves of all of them hashed together, then their trees level by level (see
/// [`merkle::roots`]): small tensors, one or two leaves each, still fill the
/// hasher's groups.
pub fn data_roots(tensors: &[&[u8]]) -> Vec<Hash> {
    merkle::roots(TreeKind::Data, data_leaves_many(tensors))
}

/// The commitments of many tensors of one type given their data roots, as
/// [`TensorHeader::commitment`] of each, hashed as a group.
pub fn tensor_commitments(ty: &TensorType, data_roots: &[Hash]) -> Vec<Hash> {
    let preimages: Vec<Vec<u8>> = data_roots.iter().map(|&data_root| TensorHeader { ty: ty.clone(), data_root }.encode()).collect();
    let mut out = vec![[0u8; 32]; preimages.len()];
    refute_keccak::keccak256_many(&preimages, &mut out);
    out
}

/// The full data tree of canonical bytes.
pub fn data_tree(bytes: &[u8]) -> MerkleTree {
    MerkleTree::new(TreeKind::Data, data_leaves(bytes))
}

/// Chunk `index` of `bytes`, zero-padded to 256 bytes (all zero past the end).
pub fn chunk(bytes: &[u8], index: usize) -> [u8; CHUNK_SIZE] {
    let mut out = [0u8; CHUNK_SIZE];
    let start = index.saturating_mul(CHUNK_SIZE);
    if start < bytes.len() {
        let end = (start + CHUNK_SIZE).min(bytes.len());
        out[..end - start].copy_from_slice(&bytes[start..end]);
    }
    out
}

/// A tensor header: what a tensor commitment opens to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TensorHeader {
    /// dtype and shape.
    pub ty: TensorType,
    /// Root of the data tree.
    pub data_root: Hash,
}

impl TensorHeader {
    /// The header of a tensor.
    pub fn of(t: &Tensor) -> Self {
        TensorHeader { ty: t.ty().clone(), data_root: data_root(&t.canonical_bytes()) }
    }

    /// The header of canonical bytes of type `ty` (no length check: see [`Tensor`]).
    pub fn of_bytes(ty: TensorType, bytes: &[u8]) -> Self {
        TensorHeader { ty, data_root: data_root(bytes) }
    }

    /// The preimage of the commitment: `0x02 ‖ type ‖ dataRoot`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![tag::TENSOR];
        self.ty.encode_into(&mut out);
        out.extend_from_slice(&self.data_root);
        out
    }

    /// The tensor commitment.
    pub fn commitment(&self) -> Hash {
        keccak(&[&self.encode()])
    }

    /// Height of the data tree.
    pub fn data_height(&self) -> u32 {
        merkle::height(num_chunks(self.ty.byte_len()))
    }
}

/// The commitment of a tensor.
pub fn commit_tensor(t: &Tensor) -> Hash {
    TensorHeader::of(t).commitment()
}

/// The commitment of int8 canonical bytes of `shape`, as the oracle computes it for
/// request inputs and posted outputs.
pub fn commit_bytes(ty: &TensorType, bytes: &[u8]) -> Hash {
    TensorHeader::of_bytes(ty.clone(), bytes).commitment()
}

/// The trace root over step commitments `c_0 … c_{n-1}`.
pub fn trace_root(commitments: &[Hash]) -> Hash {
    merkle::root(TreeKind::Trace, commitments.to_vec())
}

/// The trace roots of many traces, as [`trace_root`] of each, their nodes hashed
/// together level by level.
pub fn trace_roots(traces: Vec<Vec<Hash>>) -> Vec<Hash> {
    merkle::roots(TreeKind::Trace, traces)
}

/// The full trace tree, for revealing nodes and proving leaves.
pub fn trace_tree(commitments: &[Hash]) -> MerkleTree {
    MerkleTree::new(TreeKind::Trace, commitments.to_vec())
}

/// Whether the bytes of chunk `index` past a tensor's `byte_len` are all zero, as a
/// well-formed data tree requires.
pub fn chunk_padding_is_zero(chunk: &[u8; CHUNK_SIZE], index: usize, byte_len: usize) -> bool {
    let start = index.saturating_mul(CHUNK_SIZE);
    let real = byte_len.saturating_sub(start).min(CHUNK_SIZE);
    chunk[real..].iter().all(|&b| b == 0)
}

/// Element `local` of a chunk of `dtype` elements (big-endian for int32).
pub fn chunk_element(chunk: &[u8; CHUNK_SIZE], dtype: DType, local: usize) -> i64 {
    match dtype {
        DType::I8 => chunk[local] as i8 as i64,
        DType::I32 => {
            let o = local * 4;
            i32::from_be_bytes([chunk[o], chunk[o + 1], chunk[o + 2], chunk[o + 3]]) as i64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::verify;
    use proptest::prelude::*;

    /// The data root by its definition, one hash at a time: the leaves of every
    /// chunk, padded with zero-chunk leaves to a power of two, then pairs of nodes.
    fn root_by_definition(bytes: &[u8]) -> Hash {
        let mut level: Vec<Hash> = (0..num_chunks(bytes.len())).map(|i| chunk_leaf(&chunk(bytes, i))).collect();
        level.resize(level.len().next_power_of_two(), zero_chunk_leaf());
        while level.len() > 1 {
            level = level.chunks(2).map(|p| crate::hash::node(tag::DATA_NODE, &p[0], &p[1])).collect();
        }
        level[0]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        #[test]
        fn grouped_data_roots_equal_the_definition(lens in proptest::collection::vec(0usize..5000, 0..12), seed in any::<u8>()) {
            let tensors: Vec<Vec<u8>> = lens.iter().enumerate().map(|(t, &n)| (0..n).map(|i| (i * 7 + t * 13) as u8 ^ seed).collect()).collect();
            let refs: Vec<&[u8]> = tensors.iter().map(|t| t.as_slice()).collect();
            let want: Vec<Hash> = refs.iter().map(|b| root_by_definition(b)).collect();
            prop_assert_eq!(data_roots(&refs), want.clone());
            let ty = TensorType { dtype: DType::I8, shape: vec![7] };
            let commitments: Vec<Hash> = want.iter().map(|&data_root| TensorHeader { ty: ty.clone(), data_root }.commitment()).collect();
            prop_assert_eq!(tensor_commitments(&ty, &want), commitments.clone());
            let traces: Vec<Vec<Hash>> = (0..commitments.len()).map(|i| commitments[i..].to_vec()).collect();
            let roots: Vec<Hash> = traces.iter().map(|t| trace_root(t)).collect();
            prop_assert_eq!(trace_roots(traces), roots);
            let one_by_one: Vec<Hash> = refs.iter().map(|b| data_root(b)).collect();
            prop_assert_eq!(one_by_one, want);
        }
    }

    #[test]
    fn chunk_count_and_padding() {
        assert_eq!([0, 1, 256, 257, 1024].map(num_chunks), [1, 1, 1, 2, 4]);
        let bytes: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let c1 = chunk(&bytes, 1);
        assert_eq!(&c1[..44], &bytes[256..]);
        assert!(c1[44..].iter().all(|&b| b == 0));
        assert_eq!(chunk(&bytes, 5), [0u8; CHUNK_SIZE]);
        assert!(chunk_padding_is_zero(&c1, 1, 300));
        let mut bad = c1;
        bad[200] = 1;
        assert!(!chunk_padding_is_zero(&bad, 1, 300));
        assert!(!chunk_padding_is_zero(&bad, 2, 300));
        assert!(chunk_padding_is_zero(&bad, 0, 300));
    }

    #[test]
    fn a_short_tensor_equals_its_zero_padded_bytes() {
        // The tree of the bytes zero-padded to a power of two of chunks is the data tree.
        let bytes = vec![7u8; 600];
        let mut padded = bytes.clone();
        padded.resize(4 * CHUNK_SIZE, 0);
        assert_eq!(data_root(&bytes), merkle::root(TreeKind::Data, data_leaves(&padded)));
        assert_eq!(data_root(&[]), zero_chunk_leaf());
    }

    #[test]
    fn commitment_binds_type_and_data() {
        let a = Tensor::from_i8([2, 2], vec![1, 2, 3, 4]).unwrap();
        let b = Tensor::from_i8([4], vec![1, 2, 3, 4]).unwrap();
        let c = Tensor::from_i8([2, 2], vec![1, 2, 3, 5]).unwrap();
        let d = Tensor::from_i32([1], vec![0x01020304]).unwrap();
        let e = Tensor::from_i8([4], vec![1, 2, 3, 4]).unwrap();
        assert_ne!(commit_tensor(&a), commit_tensor(&b));
        assert_ne!(commit_tensor(&a), commit_tensor(&c));
        assert_ne!(commit_tensor(&b), commit_tensor(&d));
        assert_eq!(commit_tensor(&b), commit_tensor(&e));
        assert_eq!(TensorHeader::of(&a).encode().len(), 1 + 2 + 8 + 32);
    }

    #[test]
    fn chunk_proofs_verify_against_the_data_root() {
        let bytes: Vec<u8> = (0..2000u32).map(|i| (i * 7) as u8).collect();
        let tree = data_tree(&bytes);
        assert_eq!(tree.root(), data_root(&bytes));
        let idx = [0, 3, 7];
        let proof = tree.prove(&idx).unwrap();
        let leaves: Vec<_> = idx.iter().map(|&i| (i, chunk_leaf(&chunk(&bytes, i)))).collect();
        verify(TreeKind::Data, &tree.root(), tree.height(), &leaves, &proof).unwrap();
    }

    #[test]
    fn chunk_elements_decode() {
        let t = Tensor::from_i32([70], (0..70).map(|i| i * 1000 - 30000).collect()).unwrap();
        let bytes = t.canonical_bytes();
        let c = chunk(&bytes, 1);
        assert_eq!(chunk_element(&c, DType::I32, 0), t.get(64));
        assert_eq!(chunk_element(&c, DType::I32, 5), t.get(69));
    }
}

/// Consecutive chunks of one tensor opened together against its data root with one
/// multiproof (`docs/commitments.md`, "Chunk ranges"): how a one-step proof shows
/// the elements of an operand that the verifier reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChunkRange {
    /// Index of the first chunk.
    pub first: u64,
    /// The chunks `first, first + 1, …`.
    pub chunks: Vec<[u8; CHUNK_SIZE]>,
    /// The multiproof of their leaves (empty for an empty range).
    pub proof: Vec<Hash>,
}

impl ChunkRange {
    /// The range of no chunks: an operand the proof does not read.
    pub fn empty() -> Self {
        ChunkRange::default()
    }

    /// The smallest range of `bytes` (canonical bytes of a `dtype` tensor) holding
    /// the elements `elements`; empty if there are none.
    pub fn of_elements(bytes: &[u8], dtype: DType, elements: &[usize]) -> Self {
        let (Some(&lo), Some(&hi)) = (elements.iter().min(), elements.iter().max()) else { return ChunkRange::empty() };
        let first = lo * dtype.size() / CHUNK_SIZE;
        let last = ((hi + 1) * dtype.size() - 1) / CHUNK_SIZE;
        Self::of_chunks(bytes, first as u64, (last - first + 1) as u64)
    }

    /// Chunks `first .. first + count` of `bytes`, with their multiproof.
    pub fn of_chunks(bytes: &[u8], first: u64, count: u64) -> Self {
        if count == 0 {
            return ChunkRange::empty();
        }
        let tree = data_tree(bytes);
        let indices: Vec<usize> = (first as usize..(first + count) as usize).collect();
        let proof = tree.prove(&indices).expect("chunks of the tensor's own tree");
        ChunkRange { first, chunks: indices.iter().map(|&i| chunk(bytes, i)).collect(), proof }
    }

    /// Number of chunks.
    pub fn count(&self) -> u64 {
        self.chunks.len() as u64
    }

    /// Checks the range against the data root of a tensor of `byte_len` bytes. An
    /// empty range is not checked (nothing can be read from it).
    pub fn verify(&self, data_root: &Hash, byte_len: usize) -> Result<(), merkle::ProofError> {
        if self.chunks.is_empty() {
            return Ok(());
        }
        let leaves: Vec<(usize, Hash)> = self.chunks.iter().enumerate().map(|(i, c)| (self.first as usize + i, chunk_leaf(c))).collect();
        merkle::verify(TreeKind::Data, data_root, merkle::height(num_chunks(byte_len)), &leaves, &self.proof)
    }

    /// Element `flat` of the tensor, if it lies in the range.
    pub fn element(&self, dtype: DType, flat: usize) -> Option<i64> {
        let offset = (flat * dtype.size()).checked_sub(self.first as usize * CHUNK_SIZE)?;
        let c = self.chunks.get(offset / CHUNK_SIZE)?;
        Some(chunk_element(c, dtype, (offset % CHUNK_SIZE) / dtype.size()))
    }

    /// The chunks concatenated, as the contracts take them.
    pub fn chunk_bytes(&self) -> Vec<u8> {
        self.chunks.concat()
    }
}

/// A range read as elements: lets the scalar reference run over opened chunks
/// exactly as the on-chain verifier does.
#[derive(Debug, Clone, Copy)]
pub struct OpenedElements<'a> {
    /// The range.
    pub range: &'a ChunkRange,
    /// The tensor's dtype.
    pub dtype: DType,
}

impl crate::tensor::Elements for OpenedElements<'_> {
    fn get(&self, flat: usize) -> i64 {
        self.range.element(self.dtype, flat).unwrap_or_else(|| panic!("element {flat} is not in the opened range"))
    }
}

#[cfg(test)]
mod range_tests {
    use super::*;

    #[test]
    fn ranges_verify_and_read_elements() {
        let t = Tensor::from_i32([300], (0..300).map(|i| i * 3 - 400).collect()).unwrap();
        let bytes = t.canonical_bytes();
        let root = data_root(&bytes);
        // elements 70..=130 are bytes 280..524: chunks 1 and 2
        let r = ChunkRange::of_elements(&bytes, DType::I32, &[70, 71, 130]);
        assert_eq!((r.first, r.count()), (1, 2));
        r.verify(&root, bytes.len()).unwrap();
        assert_eq!(r.element(DType::I32, 70), Some(t.get(70)));
        assert_eq!(r.element(DType::I32, 127), Some(t.get(127)));
        assert_eq!(r.element(DType::I32, 63), None);
        assert_eq!(r.element(DType::I32, 192), None);
        let mut bad = r.clone();
        bad.chunks[1][3] ^= 1;
        assert!(bad.verify(&root, bytes.len()).is_err());
        let mut shifted = r.clone();
        shifted.first = 2;
        assert!(shifted.verify(&root, bytes.len()).is_err());
        assert!(r.verify(&root, bytes.len() + 2048).is_err());
        let all = ChunkRange::of_chunks(&bytes, 0, 5);
        all.verify(&root, bytes.len()).unwrap();
        // chunks 0..5 of a height-3 tree: the padding leaf 5, then the node over 6 and 7
        assert_eq!(all.proof.len(), 2);
    }

    #[test]
    fn an_empty_range_reads_nothing() {
        let r = ChunkRange::of_elements(&[1, 2, 3], DType::I8, &[]);
        assert_eq!(r, ChunkRange::empty());
        r.verify(&[9; 32], 3).unwrap();
        assert_eq!(r.element(DType::I8, 0), None);
    }
}
