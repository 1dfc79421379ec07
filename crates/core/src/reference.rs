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
use crate::model::Model;
use crate::ops;
use crate::spec::{Op, StepSpec};
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::collections::BTreeSet;

pub use crate::ops::common::{requant, unravel};
pub use crate::ops::conv2d::channels_per_block as conv_channels_per_block;
pub use crate::ops::pool::rows_per_block as pool_rows_per_block;
pub use crate::ops::{Reduction, BLOCK, MAX_BLOCK_ROWS, MAX_CONV_SPAN};
pub use crate::tensor::Elements;

/// The reduction of a step's elements, or `None` for an op that does not reduce.
pub fn reduction(spec: &StepSpec) -> Option<Reduction> {
    ops::reduction(spec)
}

/// Number of blocks of every element of the step (1 for an op that does not reduce).
pub fn blocks(spec: &StepSpec) -> u64 {
    reduction(spec).map_or(1, |r| r.blocks())
}

/// The fields of a reducing op's state (`docs/semantics.md`).
pub fn state_fields(op: &Op) -> usize {
    ops::state_fields(op)
}

/// `s_0`: the state before the first block.
pub fn init(spec: &StepSpec) -> State {
    ops::init(spec)
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
        return BlockValue::Element(ops::direct(spec, out, inputs, weights));
    };
    assert!(block < r.blocks(), "block {block} of {}", r.blocks());
    let mut state = prev.clone();
    ops::fold(spec, out, r.range(block), &mut state.0, inputs, weights);
    if block + 1 == r.blocks() {
        BlockValue::Element(ops::finish(spec, out, &state.0, weights))
    } else {
        BlockValue::State(state)
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

/// Every step's output of one inference by the scalar reference alone (slow; for
/// tests that must not depend on the engine).
pub fn run(model: &Model, input: &Tensor) -> Vec<Tensor> {
    let mut tensors = vec![input.clone()];
    for step in &model.steps()[1..] {
        let ins: Vec<&Tensor> = step.inputs.iter().map(|&j| &tensors[j as usize]).collect();
        let ws: Vec<&Tensor> = step.weights.iter().collect();
        let values = eval_all(&step.spec, &ins, &ws);
        tensors.push(Tensor::from_values(&step.spec.out, &values));
    }
    tensors
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
            assert_eq!(crate::ops::common::requant_wide(acc as i128, m, s, -128), requant(acc, m, s, -128));
        }
        // a state's accumulator may be far outside int32: still exact
        assert_eq!(crate::ops::common::requant_wide(i64::MAX as i128, 1, 62, -128), 2);
        assert_eq!(crate::ops::common::requant_wide(i64::MIN as i128, (1 << 31) - 1, 62, -128), -128);
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
