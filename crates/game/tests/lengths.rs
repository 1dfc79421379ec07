//! Steps of 2^32 bytes and more are judged on their real length.
//!
//! The step here is a 1x1 `conv2d` of one pixel with 32,768 rows and columns of
//! zero padding: its output `int8[1, 65537, 65537]` has 4,295,098,369 bytes, just
//! past 2^32, all zero but the centre. Its data tree (height 25) is built from its
//! structure (a few non-zero leaves, padding roots everywhere else), never from the
//! 4 GiB of bytes. A referee that held the byte length in 32 bits would see 131,073
//! bytes: the honest executor could not answer the data descent, and a lie in the
//! last chunks would be judged padding beyond the end.

use refute_core::commit::{chunk_leaf, TensorHeader, CHUNK_SIZE};
use refute_core::hash::Hash;
use refute_core::merkle::{MerkleTree, TreeKind};
use refute_core::{ChunkRange, DType, Op, StepSpec, Tensor, TensorType};
use refute_game::position::reveal_levels;
use refute_game::*;
use std::collections::BTreeMap;

const PAD: u32 = 32_768;
const SIDE: u64 = 2 * PAD as u64 + 1;
const BYTES: u64 = SIDE * SIDE;
const CLOCK: u64 = 100;

/// A data tree of `height` whose leaves are the zero chunk's but for `leaves`.
struct Sparse {
    height: u32,
    leaves: BTreeMap<u64, Hash>,
}

impl Sparse {
    fn node(&self, level: u32, index: u64) -> Hash {
        let (lo, hi) = (index << level, (index + 1) << level);
        if self.leaves.range(lo..hi).next().is_none() {
            return TreeKind::Data.padding_root(level);
        }
        if level == 0 {
            return self.leaves[&index];
        }
        TreeKind::Data.node(&self.node(level - 1, 2 * index), &self.node(level - 1, 2 * index + 1))
    }

    fn root(&self) -> Hash {
        self.node(self.height, 0)
    }

    fn below(&self, level: u32, index: u64, levels: u32) -> Vec<Hash> {
        (0..1u64 << levels).map(|c| self.node(level - levels, (index << levels) + c)).collect()
    }
}

/// The step's spec and the tensors of its inputs and weights.
struct Step {
    spec: StepSpec,
    input: Tensor,
    requant: Tensor,
}

fn step() -> Step {
    let input = Tensor::from_i8([1, 1, 1], vec![42]).unwrap();
    let weight = Tensor::from_i8([1, 1, 1, 1], vec![1]).unwrap();
    // y = requant(acc, 2^30, 30) = acc: the centre is the pixel, every other element 0
    let requant = Tensor::from_i32([1, 3], vec![0, 1 << 30, 30]).unwrap();
    let spec = StepSpec {
        op: Op::Conv2d { stride: [1, 1], padding: [PAD, PAD], relu: false },
        out: TensorType::new(DType::I8, [1, SIDE as u32, SIDE as u32]),
        inputs: vec![refute_core::StepInput { step: 0, ty: input.ty().clone() }],
        weights: vec![TensorHeader::of(&weight), TensorHeader::of(&requant)],
    };
    Step { spec, input, requant }
}

/// The chunk of the output holding byte `pos` set to `value` (all else zero).
fn chunk_with(pos: u64, value: u8) -> (u64, [u8; CHUNK_SIZE]) {
    let mut c = [0u8; CHUNK_SIZE];
    c[(pos % CHUNK_SIZE as u64) as usize] = value;
    (pos / CHUNK_SIZE as u64, c)
}

/// The output's data tree with the given non-zero bytes.
fn output_tree(bytes: &[(u64, u8)]) -> (Sparse, BTreeMap<u64, [u8; CHUNK_SIZE]>) {
    let mut chunks = BTreeMap::new();
    for &(pos, v) in bytes {
        let (i, c) = chunk_with(pos, v);
        chunks.insert(i, c);
    }
    let leaves = chunks.iter().map(|(&i, c)| (i, chunk_leaf(c))).collect();
    (Sparse { height: 25, leaves }, chunks)
}

struct World {
    step: Step,
    spec_tree: MerkleTree,
    honest: Sparse,
}

impl World {
    fn new() -> World {
        let step = step();
        let input_spec = StepSpec { op: Op::Input, out: step.input.ty().clone(), inputs: vec![], weights: vec![] };
        let spec_tree = MerkleTree::new(TreeKind::Spec, vec![input_spec.leaf_hash(), step.spec.leaf_hash()]);
        let centre = PAD as u64 * SIDE + PAD as u64;
        let (honest, _) = output_tree(&[(centre, 42)]);
        World { step, spec_tree, honest }
    }

    fn commitments(&self, output: &Sparse) -> [Hash; 2] {
        [TensorHeader::of(&self.step.input).commitment(), TensorHeader { ty: self.step.spec.out.clone(), data_root: output.root() }.commitment()]
    }
}

/// Plays a game on the trace whose output tree is `posted`, the executor defending
/// it, the challenger descending towards `target` (the honest one: the first chunk
/// that differs from the honest tree) and then proving its first element.
fn play(world: &World, posted: &Sparse, chunks: &BTreeMap<u64, [u8; CHUNK_SIZE]>, target: u64) -> (Status, Vec<Position>) {
    let [c0, c1] = world.commitments(posted);
    let trace = MerkleTree::new(TreeKind::Trace, vec![c0, c1]);
    let ctx = GameContext { trace_root: trace.root(), step_count: 2, spec_root: world.spec_tree.root(), arity_log2: 2, clock_seconds: CLOCK };
    let mut pos = Position::opening(ctx.trace_root, 2, CLOCK, 0);
    let mut seen = vec![];
    let mut now = 0;
    let mut last_reveal = vec![];
    while pos.status == Status::Open {
        seen.push(pos.clone());
        now += 1;
        let levels = reveal_levels(ctx.arity_log2, pos.height);
        let mv = match (pos.phase, pos.turn) {
            (Phase::Trace, Side::Executor) => Move::RevealNodes(vec![c0, c1]),
            (Phase::Trace, Side::Challenger) => Move::Pick { nodes: vec![c0, c1], choice: 1 },
            (Phase::Header, _) => Move::OpenHeader {
                header: TensorHeader { ty: world.step.spec.out.clone(), data_root: posted.root() },
                spec: world.step.spec.encode(),
                spec_proof: world.spec_tree.prove(&[1]).unwrap(),
            },
            (Phase::Data, Side::Executor) => {
                last_reveal = posted.below(pos.height, pos.index, levels);
                Move::RevealNodes(last_reveal.clone())
            }
            (Phase::Data, Side::Challenger) => {
                let below = pos.height - levels;
                let choice = ((target >> below) - (pos.index << levels)) as usize;
                Move::Pick { nodes: last_reveal.clone(), choice }
            }
            (Phase::Chunk, _) => Move::RevealChunk(Box::new(chunks.get(&pos.index).copied().unwrap_or([0; CHUNK_SIZE]))),
            (Phase::OneStep, _) => {
                let chunk = chunks.get(&pos.index).copied().unwrap_or([0; CHUNK_SIZE]);
                let element = pos.index * CHUNK_SIZE as u64;
                // a padded position reads no pixel and no weight: only the requant row
                let q = ChunkRange::of_elements(&world.step.requant.canonical_bytes(), DType::I32, &[0, 1, 2]);
                let operands = Operands {
                    spec: world.step.spec.encode(),
                    input_roots: vec![TensorHeader::of(&world.step.input).data_root],
                    input_trace_proofs: vec![trace.prove(&[0]).unwrap()],
                    inputs: vec![ChunkRange::empty()],
                    weights: vec![ChunkRange::empty(), q],
                };
                assert!(element >= 1 << 32, "the element lies past byte 2^32");
                Move::ProveStep(Box::new(OneStepProof { element_in_chunk: 0, chunk, operands }))
            }
            other => panic!("no move in {other:?}"),
        };
        pos = apply(&ctx, &pos, pos.turn, &mv, now).unwrap_or_else(|e| panic!("{e} at {pos:?}"));
    }
    (pos.status, seen)
}

#[test]
fn an_honest_executor_defends_chunks_past_2_pow_32_bytes() {
    let world = World::new();
    let centre = PAD as u64 * SIDE + PAD as u64;
    let (_, chunks) = output_tree(&[(centre, 42)]);
    // a griefer descends to the first chunk past byte 2^32 (all zero, real data) and
    // proves its first element, which is right
    let target = (1u64 << 32) / CHUNK_SIZE as u64;
    let (status, seen) = play(&world, &world.honest, &chunks, target);
    assert_eq!(status, Status::ExecutorWon);
    let header = seen.iter().find(|p| p.phase == Phase::Data).expect("a data descent");
    assert_eq!((header.byte_len, header.height), (BYTES, 25));
    let last = seen.last().unwrap();
    assert_eq!((last.phase, last.index), (Phase::OneStep, target), "the chunk is judged as data, not padding");
}

#[test]
fn a_lie_past_2_pow_32_bytes_is_slashed() {
    let world = World::new();
    let centre = PAD as u64 * SIDE + PAD as u64;
    // the executor claims the last real element (byte 4,295,098,368) is 1
    let (lying, chunks) = output_tree(&[(centre, 42), (BYTES - 1, 1)]);
    let target = (BYTES - 1) / CHUNK_SIZE as u64;
    assert_eq!(target, (1 << 24) + 512);
    let (status, seen) = play(&world, &lying, &chunks, target);
    assert_eq!(status, Status::ChallengerWon);
    assert_eq!(seen.last().unwrap().phase, Phase::OneStep);
    // the honest challenger's target is the one chunk where the trees differ
    let differing: Vec<u64> = lying.leaves.keys().copied().filter(|k| world.honest.leaves.get(k) != lying.leaves.get(k)).collect();
    assert_eq!(differing, vec![target]);
}
