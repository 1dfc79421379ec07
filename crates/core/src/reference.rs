//! The scalar reference: every op of `docs/semantics.md`, one output element at a
//! time, in plain integer arithmetic.
//!
//! A reducing op's element is `finish(fold(init, terms))` over blocks of its terms
//! ([`Reduction`]); [`eval_block`] computes one block from the state before it, as
//! the reduction descent needs, and [`eval`] runs every block. Non-reducing ops are
//! one block computed directly.
//!
//! It is the oracle the engine is tested against and what both roles use to build
//! checkpoints and one-step proofs: [`eval_block_with_dependencies`] runs the same
//! code over recording sources to learn which input and weight elements one block
//! reads, so the proof opens exactly the chunks the verifier will read. For that to
//! hold, every op reads the same positions whatever the values (no early exits).

use crate::checkpoint::State;
use crate::spec::{Op, StepSpec};
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ops::Range;

/// Terms per block of every reduction (`docs/semantics.md`, `BLOCK`), and the
/// budget (in bytes of one operand) that fixes how many channels or window rows a
/// block holds.
pub const BLOCK: u64 = 512;

/// Most bytes a one-channel `conv2d` block may span in its input plane.
pub const MAX_CONV_SPAN: u64 = 2048;

/// Most window rows one block of a `conv2d` or a pool reads: each row is a run of
/// its own in the verifier, so rows are what a block of short rows pays for.
pub const MAX_BLOCK_ROWS: u64 = 256;

/// Read access to a tensor's elements by row-major index.
pub trait Elements {
    /// Element `flat`, widened to i64.
    fn get(&self, flat: usize) -> i64;
}

impl Elements for Tensor {
    fn get(&self, flat: usize) -> i64 {
        Tensor::get(self, flat)
    }
}

impl Elements for [i64] {
    fn get(&self, flat: usize) -> i64 {
        self[flat]
    }
}

/// `clamp((acc·m + 2^(s-1)) >> s, lo, 127)`, the one rounding rule.
///
/// Callers keep `|acc| ≤ 2^31 - 1`, `m ∈ [0, 2^31 - 1]`, `s ∈ [1, 62]` (the model
/// loader enforces it), so nothing overflows.
pub fn requant(acc: i64, m: i64, s: i64, lo: i64) -> i64 {
    ((acc * m + (1i64 << (s - 1))) >> s).clamp(lo, 127)
}

/// [`requant`] over a wide accumulator, as a finish computes it from a state: exact
/// for every `|acc| < 2^64`, where a state's fields lie (`docs/commitments.md`).
fn requant_wide(acc: i128, m: i64, s: i64, lo: i64) -> i64 {
    ((acc * m as i128 + (1i128 << (s - 1))) >> s).clamp(lo as i128, 127) as i64
}

fn lower(relu: bool) -> i64 {
    if relu { 0 } else { -128 }
}

/// Splits a flat index of `shape` into coordinates.
pub fn unravel(mut flat: usize, shape: &[u32]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        let d = d as usize;
        idx[i] = flat % d;
        flat /= d;
    }
    idx
}

/// How the reduction of every element of a step is cut into blocks
/// (`docs/semantics.md`, "Reductions").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reduction {
    /// Terms of one element's reduction (`T`).
    pub terms: u64,
    /// Terms per block (`B`).
    pub block: u64,
}

impl Reduction {
    /// Number of blocks `n = ceil(T / B)`, at least 1.
    pub fn blocks(&self) -> u64 {
        self.terms.div_ceil(self.block).max(1)
    }

    /// The terms of block `b`.
    pub fn range(&self, b: u64) -> Range<u64> {
        let start = b * self.block;
        start..(start + self.block).min(self.terms)
    }
}

/// Whole channels per `conv2d` block: `max(1, floor(512 / max(H·W, KH·KW, 2·KH)))`,
/// as many as keep a block within 512 bytes of input plane, 512 taps and 256 window
/// rows.
pub fn conv_channels_per_block(plane: u64, taps: u64, kernel_height: u64) -> u64 {
    (BLOCK / plane.max(taps).max(2 * kernel_height).max(1)).max(1)
}

/// Whole window rows per pooling block: `max(1, floor(512 / max(W, KW, 2)))`, as
/// many as keep a block within 512 elements and 256 rows.
pub fn pool_rows_per_block(width: u64, kernel_width: u64) -> u64 {
    (BLOCK / width.max(kernel_width).max(2)).max(1)
}

/// The reduction of a step's elements, or `None` for an op that does not reduce.
pub fn reduction(spec: &StepSpec) -> Option<Reduction> {
    let in_shape = |i: usize| &spec.inputs[i].ty.shape;
    let w_shape = |i: usize| &spec.weights[i].ty.shape;
    match spec.op {
        Op::Linear { .. } => Some(Reduction { terms: w_shape(0)[1] as u64, block: BLOCK }),
        Op::Conv2d { .. } => {
            let (c, h, w) = (in_shape(0)[0] as u64, in_shape(0)[1] as u64, in_shape(0)[2] as u64);
            let taps = w_shape(0)[2] as u64 * w_shape(0)[3] as u64;
            Some(Reduction { terms: c * taps, block: conv_channels_per_block(h * w, taps, w_shape(0)[2] as u64) * taps })
        }
        Op::MaxPool2d { kernel, .. } | Op::AvgPool2d { kernel, .. } => {
            let rows = pool_rows_per_block(in_shape(0)[2] as u64, kernel[1] as u64);
            Some(Reduction { terms: kernel[0] as u64 * kernel[1] as u64, block: rows * kernel[1] as u64 })
        }
        Op::Argmax => Some(Reduction { terms: *in_shape(0).last().expect("rank >= 1") as u64, block: BLOCK }),
        Op::Input | Op::Relu | Op::Add { .. } | Op::Lut | Op::Reshape => None,
    }
}

/// Number of blocks of every element of the step (1 for an op that does not reduce).
pub fn blocks(spec: &StepSpec) -> u64 {
    reduction(spec).map_or(1, |r| r.blocks())
}

/// The fields of a reducing op's state (`docs/semantics.md`).
pub fn state_fields(op: &Op) -> usize {
    match op {
        Op::Argmax => 2,
        _ => 1,
    }
}

/// `s_0`: the state before the first block.
pub fn init(spec: &StepSpec) -> State {
    match spec.op {
        Op::MaxPool2d { .. } => State(vec![i64::MIN as i128]),
        Op::Argmax => State(vec![i64::MIN as i128, 0]),
        _ => State(vec![0]),
    }
}

/// What one block of an element gives: the state after it, or (after the last
/// block, and for every op that does not reduce) the element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockValue {
    /// The state after a block that is not the last.
    State(State),
    /// The element's value.
    Element(i64),
}

impl BlockValue {
    /// The leaf of the checkpoint tree this value is (`docs/commitments.md`).
    pub fn leaf(&self) -> crate::hash::Hash {
        match self {
            BlockValue::State(s) => s.leaf(),
            BlockValue::Element(v) => crate::checkpoint::element_leaf(*v),
        }
    }
}

/// Output element `out` of a validated step whose inputs and weights are given in
/// the spec's order: every block of its reduction, then its finish.
pub fn eval(spec: &StepSpec, out: usize, inputs: &[&dyn Elements], weights: &[&dyn Elements]) -> i64 {
    let n = blocks(spec);
    let mut state = init(spec);
    for b in 0..n {
        match eval_block(spec, out, b, &state, inputs, weights) {
            BlockValue::State(s) => state = s,
            BlockValue::Element(v) => return v,
        }
    }
    unreachable!("the last block gives the element")
}

/// Block `block` of output element `out`, folded from `prev` (the state after block
/// `block − 1`, or [`init`] for block 0). `prev` must have the op's fields, each a
/// signed 64-bit value; `block` must be below [`blocks`].
pub fn eval_block(spec: &StepSpec, out: usize, block: u64, prev: &State, inputs: &[&dyn Elements], weights: &[&dyn Elements]) -> BlockValue {
    let Some(r) = reduction(spec) else {
        assert_eq!(block, 0, "an op that does not reduce has one block");
        return BlockValue::Element(direct(spec, out, inputs, weights));
    };
    assert!(block < r.blocks(), "block {block} of {}", r.blocks());
    let mut state = prev.clone();
    fold(spec, out, r.range(block), &mut state.0, inputs, weights);
    if block + 1 == r.blocks() { BlockValue::Element(finish(spec, out, &state.0, weights)) } else { BlockValue::State(state) }
}

/// The value of an op that does not reduce.
fn direct(spec: &StepSpec, out: usize, inputs: &[&dyn Elements], weights: &[&dyn Elements]) -> i64 {
    match spec.op {
        Op::Relu => inputs[0].get(out).max(0),
        Op::Add { mult_a, mult_b, shift, relu } => {
            let acc = inputs[0].get(out) * mult_a + inputs[1].get(out) * mult_b;
            ((acc + (1i64 << (shift - 1))) >> shift).clamp(lower(relu), 127)
        }
        Op::Lut => weights[0].get((inputs[0].get(out) + 128) as usize),
        Op::Reshape => inputs[0].get(out),
        Op::Input => panic!("the input step has no computation"),
        _ => unreachable!("{} reduces", spec.op),
    }
}

/// Folds terms `terms` of output element `out` into `state`, in increasing order.
fn fold(spec: &StepSpec, out: usize, terms: Range<u64>, state: &mut [i128], inputs: &[&dyn Elements], weights: &[&dyn Elements]) {
    let in_shape = |i: usize| &spec.inputs[i].ty.shape;
    let w_shape = |i: usize| &spec.weights[i].ty.shape;
    match spec.op {
        Op::Linear { .. } => {
            let (x, w) = (inputs[0], weights[0]);
            let [n_len, k_len] = [w_shape(0)[0] as usize, w_shape(0)[1] as usize];
            let (p, n) = (out / n_len, out % n_len);
            for k in terms.start as usize..terms.end as usize {
                state[0] += (x.get(p * k_len + k) * w.get(n * k_len + k)) as i128;
            }
        }
        Op::Conv2d { stride, padding, .. } => {
            let (x, w) = (inputs[0], weights[0]);
            let [c_len, h, wd] = [in_shape(0)[0], in_shape(0)[1], in_shape(0)[2]].map(|d| d as i64);
            let [kh, kw] = [w_shape(0)[2], w_shape(0)[3]].map(|d| d as i64);
            let idx = unravel(out, &spec.out.shape);
            let (o, i, j) = (idx[0] as i64, idx[1] as i64, idx[2] as i64);
            // a block is whole channels: terms [c·KH·KW, (c+1)·KH·KW) for each c
            let taps = (kh * kw) as u64;
            for c in (terms.start / taps) as i64..(terms.end / taps) as i64 {
                for u in 0..kh {
                    let hi = i * stride[0] as i64 + u - padding[0] as i64;
                    if hi < 0 || hi >= h {
                        continue;
                    }
                    for v in 0..kw {
                        let wi = j * stride[1] as i64 + v - padding[1] as i64;
                        if wi < 0 || wi >= wd {
                            continue;
                        }
                        let xv = x.get(((c * h + hi) * wd + wi) as usize);
                        let wv = w.get((((o * c_len + c) * kh + u) * kw + v) as usize);
                        state[0] += (xv * wv) as i128;
                    }
                }
            }
        }
        Op::MaxPool2d { kernel, stride, padding } => {
            let x = inputs[0];
            let [h, wd] = [in_shape(0)[1], in_shape(0)[2]].map(|d| d as i64);
            let idx = unravel(out, &spec.out.shape);
            let (c, i, j) = (idx[0] as i64, idx[1] as i64, idx[2] as i64);
            let kw = kernel[1] as u64;
            // a block is whole window rows: terms [u·KW, (u+1)·KW) for each row u
            for u in (terms.start / kw) as i64..(terms.end / kw) as i64 {
                let hi = i * stride[0] as i64 + u - padding[0] as i64;
                if hi < 0 || hi >= h {
                    continue;
                }
                for v in 0..kernel[1] as i64 {
                    let wi = j * stride[1] as i64 + v - padding[1] as i64;
                    if wi < 0 || wi >= wd {
                        continue;
                    }
                    state[0] = state[0].max(x.get(((c * h + hi) * wd + wi) as usize) as i128);
                }
            }
        }
        Op::AvgPool2d { kernel, stride, .. } => {
            let x = inputs[0];
            let [h, wd] = [in_shape(0)[1], in_shape(0)[2]].map(|d| d as usize);
            let idx = unravel(out, &spec.out.shape);
            let (c, i, j) = (idx[0], idx[1], idx[2]);
            let kw = kernel[1] as u64;
            for u in (terms.start / kw) as usize..(terms.end / kw) as usize {
                let hi = i * stride[0] as usize + u;
                for v in 0..kernel[1] as usize {
                    let wi = j * stride[1] as usize + v;
                    state[0] += x.get((c * h + hi) * wd + wi) as i128;
                }
            }
        }
        Op::Argmax => {
            let x = inputs[0];
            let n_len = *in_shape(0).last().expect("rank >= 1") as usize;
            for n in terms.start as usize..terms.end as usize {
                let v = x.get(out * n_len + n) as i128;
                if v > state[0] {
                    state[0] = v;
                    state[1] = n as i128;
                }
            }
        }
        Op::Input | Op::Relu | Op::Add { .. } | Op::Lut | Op::Reshape => unreachable!("{} does not reduce", spec.op),
    }
}

/// The element from the state after the last block.
fn finish(spec: &StepSpec, out: usize, state: &[i128], weights: &[&dyn Elements]) -> i64 {
    match spec.op {
        Op::Linear { relu } => {
            let q = weights[1];
            let n = out % spec.weights[0].ty.shape[0] as usize;
            requant_wide(q.get(3 * n) as i128 + state[0], q.get(3 * n + 1), q.get(3 * n + 2), lower(relu))
        }
        Op::Conv2d { relu, .. } => {
            let q = weights[1];
            let o = unravel(out, &spec.out.shape)[0];
            requant_wide(q.get(3 * o) as i128 + state[0], q.get(3 * o + 1), q.get(3 * o + 2), lower(relu))
        }
        Op::MaxPool2d { .. } => state[0] as i64,
        Op::AvgPool2d { mult, shift, .. } => requant_wide(state[0], mult, shift, -128),
        Op::Argmax => state[1] as i64,
        _ => unreachable!("{} does not reduce", spec.op),
    }
}

/// Every output element of a step, by [`eval`]: the reference for a whole tensor.
pub fn eval_all(spec: &StepSpec, inputs: &[&Tensor], weights: &[&Tensor]) -> Vec<i64> {
    let ins: Vec<&dyn Elements> = inputs.iter().map(|t| *t as &dyn Elements).collect();
    let ws: Vec<&dyn Elements> = weights.iter().map(|t| *t as &dyn Elements).collect();
    (0..spec.out.numel()).map(|e| eval(spec, e, &ins, &ws)).collect()
}

/// The checkpoint leaves of output element `out` (`docs/commitments.md`): one per
/// block, the last being the element leaf. Computed by folding every block.
pub fn checkpoint_leaves(spec: &StepSpec, out: usize, inputs: &[&dyn Elements], weights: &[&dyn Elements]) -> Vec<crate::hash::Hash> {
    let mut state = init(spec);
    (0..blocks(spec))
        .map(|b| {
            let v = eval_block(spec, out, b, &state, inputs, weights);
            if let BlockValue::State(s) = &v {
                state = s.clone();
            }
            v.leaf()
        })
        .collect()
}

/// The states before every block of output element `out`: `s_0 = init`, then the
/// state after each block but the last.
pub fn states_before_blocks(spec: &StepSpec, out: usize, inputs: &[&dyn Elements], weights: &[&dyn Elements]) -> Vec<State> {
    let n = blocks(spec);
    let mut states = vec![init(spec)];
    for b in 0..n.saturating_sub(1) {
        match eval_block(spec, out, b, states.last().expect("init"), inputs, weights) {
            BlockValue::State(s) => states.push(s),
            BlockValue::Element(_) => unreachable!("only the last block finishes"),
        }
    }
    states
}

/// Which elements of each input and weight one block reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dependencies {
    /// Sorted element indices per input, in the spec's order.
    pub inputs: Vec<Vec<usize>>,
    /// Sorted element indices per weight, in the spec's order.
    pub weights: Vec<Vec<usize>>,
}

struct Recorder<'a> {
    inner: &'a dyn Elements,
    seen: RefCell<BTreeSet<usize>>,
}

impl Elements for Recorder<'_> {
    fn get(&self, flat: usize) -> i64 {
        self.seen.borrow_mut().insert(flat);
        self.inner.get(flat)
    }
}

/// Evaluates block `block` of output element `out` like [`eval_block`] and also
/// returns which input and weight elements it read. The positions depend only on the
/// spec, `out` and `block`, except for a lookup table, whose entry is chosen by the
/// input's value.
pub fn eval_block_with_dependencies(
    spec: &StepSpec,
    out: usize,
    block: u64,
    prev: &State,
    inputs: &[&dyn Elements],
    weights: &[&dyn Elements],
) -> (BlockValue, Dependencies) {
    fn rec<'a>(sources: &[&'a dyn Elements]) -> Vec<Recorder<'a>> {
        sources.iter().map(|&inner| Recorder { inner, seen: RefCell::new(BTreeSet::new()) }).collect()
    }
    let ins = rec(inputs);
    let ws = rec(weights);
    let value = {
        let i: Vec<&dyn Elements> = ins.iter().map(|r| r as &dyn Elements).collect();
        let w: Vec<&dyn Elements> = ws.iter().map(|r| r as &dyn Elements).collect();
        eval_block(spec, out, block, prev, &i, &w)
    };
    let take = |v: Vec<Recorder>| v.into_iter().map(|r| r.seen.into_inner().into_iter().collect()).collect();
    (value, Dependencies { inputs: take(ins), weights: take(ws) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requant_rounds_half_up_and_saturates() {
        // 5/2 = 2.5 -> 3 ; -5/2 = -2.5 -> -2 ; m = 1, s = 1
        assert_eq!(requant(5, 1, 1, -128), 3);
        assert_eq!(requant(-5, 1, 1, -128), -2);
        assert_eq!(requant(-7, 1, 1, -128), -3);
        assert_eq!(requant(1 << 20, 1, 1, -128), 127);
        assert_eq!(requant(-(1 << 20), 1, 1, -128), -128);
        assert_eq!(requant(-(1 << 20), 1, 1, 0), 0);
        let max_acc = (1i64 << 31) - 1;
        // (2^31 - 1)^2 / 2^62 = 1 - 2^-30 + 2^-62: rounds to 1, and its negation to -1
        assert_eq!(requant(max_acc, max_acc, 62, -128), 1);
        assert_eq!(requant(-max_acc, max_acc, 62, -128), -1);
        assert_eq!(requant(max_acc, max_acc, 31, -128), 127);
        for (acc, m, s) in [(5, 1, 1), (-5, 1, 1), (max_acc, max_acc, 62), (-max_acc, max_acc, 31), (12345, 1 << 30, 40)] {
            assert_eq!(requant_wide(acc as i128, m, s, -128), requant(acc, m, s, -128));
        }
        // a state's accumulator may be far outside int32: still exact
        assert_eq!(requant_wide(i64::MAX as i128, 1, 62, -128), 2);
        assert_eq!(requant_wide(i64::MIN as i128, (1 << 31) - 1, 62, -128), -128);
    }

    #[test]
    fn unravel_is_row_major() {
        assert_eq!(unravel(23, &[2, 3, 4]), vec![1, 2, 3]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
    }

    #[test]
    fn block_counts_follow_the_rules() {
        let r = Reduction { terms: 131_071, block: BLOCK };
        assert_eq!(r.blocks(), 256);
        assert_eq!(r.range(255), 130_560..131_071);
        assert_eq!(Reduction { terms: 512, block: 512 }.blocks(), 1);
        assert_eq!(Reduction { terms: 513, block: 512 }.blocks(), 2);
        // conv: 8x8 planes hold 8 channels per block; 32x32 planes one; a kernel
        // larger than its plane sets the count; a 1x1 kernel on 1x1 planes holds 256
        // channels (256 rows of one tap)
        assert_eq!(conv_channels_per_block(64, 9, 3), 8);
        assert_eq!(conv_channels_per_block(1024, 9, 3), 1);
        assert_eq!(conv_channels_per_block(4, 49, 7), 10);
        assert_eq!(conv_channels_per_block(1, 1, 1), 256);
        assert_eq!(conv_channels_per_block(8, 64, 64), 4);
        // pools: 64-wide rows, 8 per block; rows wider than 512, one; rows of one
        // element, 256
        assert_eq!(pool_rows_per_block(64, 64), 8);
        assert_eq!(pool_rows_per_block(1000, 3), 1);
        assert_eq!(pool_rows_per_block(1, 1), 256);
    }
}
