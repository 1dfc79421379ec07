//! `maxpool2d` (op 4) and `avgpool2d` (op 5): a window over each channel's plane,
//! its maximum (positions outside the plane skipped) or its requantized sum (no
//! padding). Their reduction runs over the window's `(u, v)`, row outer; a block is
//! `G` whole window rows (`docs/semantics.md`); the state is `(best)` from `−2^63`,
//! or `(acc)` from 0.

use super::common::{arity, check_requant, expect_type, int8_input, pair_ok, requant_wide, unravel, window_out};
use super::{Op, Params};
use super::{Reduction, BLOCK};
use super::{SpecError, StepInput, StepSpec};
use crate::checkpoint::State;
use crate::tensor::Elements;
use crate::tensor::{DType, Tensor, TensorType};
use std::ops::Range;

/// Whole window rows per block: `max(1, floor(512 / max(W, KW, 2)))`, as many as
/// keep a block within 512 elements and 256 rows.
pub fn rows_per_block(width: u64, kernel_width: u64) -> u64 {
    (BLOCK / width.max(kernel_width).max(2)).max(1)
}

/// `[KH, KW, strideH, strideW, padH, padW]` or `[KH, KW, strideH, strideW, m, s]`.
pub(super) fn params(op: &Op) -> Vec<i64> {
    match *op {
        Op::MaxPool2d { kernel, stride, padding } => {
            vec![kernel[0] as i64, kernel[1] as i64, stride[0] as i64, stride[1] as i64, padding[0] as i64, padding[1] as i64]
        }
        Op::AvgPool2d { kernel, stride, mult, shift } => {
            vec![kernel[0] as i64, kernel[1] as i64, stride[0] as i64, stride[1] as i64, mult, shift]
        }
        _ => unreachable!(),
    }
}

pub(super) fn max_from_params(p: &Params<'_>) -> Result<Op, SpecError> {
    p.want(6)?;
    Ok(Op::MaxPool2d { kernel: [p.dim(0, 1)?, p.dim(1, 1)?], stride: [p.dim(2, 1)?, p.dim(3, 1)?], padding: [p.dim(4, 0)?, p.dim(5, 0)?] })
}

pub(super) fn avg_from_params(p: &Params<'_>) -> Result<Op, SpecError> {
    p.want(6)?;
    Ok(Op::AvgPool2d { kernel: [p.dim(0, 1)?, p.dim(1, 1)?], stride: [p.dim(2, 1)?, p.dim(3, 1)?], mult: p.raw(4), shift: p.raw(5) })
}

/// x int8 `[C, H, W]`: int8 `[C, OH, OW]`.
pub(super) fn check(op: &Op, inputs: &[StepInput], weights: &[&Tensor]) -> Result<TensorType, String> {
    arity(inputs, weights, 1, 0)?;
    let xt = int8_input(inputs, "the input")?;
    expect_type(xt, DType::I8, 3, "the input")?;
    let (Op::MaxPool2d { kernel, stride, .. } | Op::AvgPool2d { kernel, stride, .. }) = *op else { unreachable!() };
    pair_ok(kernel, 1, "kernel")?;
    pair_ok(stride, 1, "stride")?;
    let padding = match *op {
        Op::MaxPool2d { padding, .. } => {
            if padding[0] > kernel[0] / 2 || padding[1] > kernel[1] / 2 {
                return Err(format!("padding {padding:?} must be at most half the kernel {kernel:?}"));
            }
            padding
        }
        Op::AvgPool2d { mult, shift, .. } => {
            if kernel[0] as u64 * kernel[1] as u64 > 1 << 16 {
                return Err(format!("a window of {kernel:?} is above 2^16 elements"));
            }
            check_requant(mult, shift, "the")?;
            [0, 0]
        }
        _ => unreachable!(),
    };
    let oh = window_out(xt.shape[1], kernel[0], stride[0], padding[0], "height")?;
    let ow = window_out(xt.shape[2], kernel[1], stride[1], padding[1], "width")?;
    Ok(TensorType::new(DType::I8, [xt.shape[0], oh, ow]))
}

/// A window row of at most 512 elements.
pub(super) fn provable(op: &Op) -> Result<(), String> {
    let (Op::MaxPool2d { kernel, .. } | Op::AvgPool2d { kernel, .. }) = *op else { unreachable!() };
    if kernel[1] as u64 > BLOCK {
        return Err(format!("a window row of {} elements is above the {BLOCK} one block of a one-step proof holds", kernel[1]));
    }
    Ok(())
}

/// `T = KH·KW` terms, blocks of `G` rows.
pub(super) fn reduction(spec: &StepSpec) -> Reduction {
    let (Op::MaxPool2d { kernel, .. } | Op::AvgPool2d { kernel, .. }) = spec.op else { unreachable!() };
    let rows = rows_per_block(spec.inputs[0].ty.shape[2] as u64, kernel[1] as u64);
    Reduction { terms: kernel[0] as u64 * kernel[1] as u64, block: rows * kernel[1] as u64 }
}

/// `(−2^63)`: below every element.
pub(super) fn max_init() -> State {
    State(vec![i64::MIN as i128])
}

/// The block's window rows into the maximum or the sum.
pub(super) fn fold(spec: &StepSpec, out: usize, terms: Range<u64>, state: &mut [i128], inputs: &[&dyn Elements]) {
    let x = inputs[0];
    let xs = &spec.inputs[0].ty.shape;
    let [h, wd] = [xs[1], xs[2]].map(|d| d as i64);
    let idx = unravel(out, &spec.out.shape);
    let (c, i, j) = (idx[0] as i64, idx[1] as i64, idx[2] as i64);
    let (kernel, stride, padding, max) = match spec.op {
        Op::MaxPool2d { kernel, stride, padding } => (kernel, stride, padding, true),
        Op::AvgPool2d { kernel, stride, .. } => (kernel, stride, [0, 0], false),
        _ => unreachable!(),
    };
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
            let e = x.get(((c * h + hi) * wd + wi) as usize) as i128;
            if max {
                state[0] = state[0].max(e);
            } else {
                state[0] += e;
            }
        }
    }
}

/// `best`, or `requant(acc, m, s, −128)`.
pub(super) fn finish(spec: &StepSpec, state: &[i128]) -> i64 {
    match spec.op {
        Op::MaxPool2d { .. } => state[0] as i64,
        Op::AvgPool2d { mult, shift, .. } => requant_wide(state[0], mult, shift, -128),
        _ => unreachable!(),
    }
}
