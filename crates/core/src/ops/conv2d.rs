//! `conv2d` (op 2): 2-D convolution with zero padding, groups 1:
//! `y[o,i,j] = requant(Q[o,0] + Σ_{c,u,v} x̂[c, i·sH+u−pH, j·sW+v−pW]·W[o,c,u,v], ...)`.
//! Its reduction runs over `(c, u, v)`, channel outer; a block is `G` whole input
//! channels (`docs/semantics.md`); the state is `(acc)`.

use super::common::{arity, check_requant_table, expect_type, flag, int8_input, lower, pair_ok, requant_wide, unravel, window_out};
use super::{Op, Params};
use super::{Reduction, BLOCK, MAX_BLOCK_ROWS, MAX_CONV_SPAN};
use super::{SpecError, StepInput, StepSpec};
use crate::tensor::Elements;
use crate::tensor::{DType, Tensor, TensorType};
use std::ops::Range;

/// Whole channels per block: `max(1, floor(512 / max(H·W, KH·KW, 2·KH)))`, as many
/// as keep a block within 512 bytes of input plane, 512 taps and 256 window rows.
pub fn channels_per_block(plane: u64, taps: u64, kernel_height: u64) -> u64 {
    (BLOCK / plane.max(taps).max(2 * kernel_height).max(1)).max(1)
}

/// `[strideH, strideW, padH, padW, relu]`.
pub(super) fn params(op: &Op) -> Vec<i64> {
    let Op::Conv2d { stride, padding, relu } = *op else { unreachable!() };
    vec![stride[0] as i64, stride[1] as i64, padding[0] as i64, padding[1] as i64, flag(relu)]
}

pub(super) fn from_params(p: &Params<'_>) -> Result<Op, SpecError> {
    p.want(5)?;
    Ok(Op::Conv2d { stride: [p.dim(0, 1)?, p.dim(1, 1)?], padding: [p.dim(2, 0)?, p.dim(3, 0)?], relu: p.flag(4)? })
}

/// x int8 `[C, H, W]`, W int8 `[O, C, KH, KW]`, Q int32 `[O, 3]`: int8 `[O, OH, OW]`.
pub(super) fn check(op: &Op, inputs: &[StepInput], weights: &[&Tensor]) -> Result<TensorType, String> {
    let Op::Conv2d { stride, padding, .. } = *op else { unreachable!() };
    arity(inputs, weights, 1, 2)?;
    let xt = int8_input(inputs, "the input")?;
    expect_type(xt, DType::I8, 3, "the input")?;
    expect_type(weights[0].ty(), DType::I8, 4, "the weight")?;
    let w = &weights[0].ty().shape;
    let (o, c, kh, kw) = (w[0], w[1], w[2], w[3]);
    if xt.shape[0] != c {
        return Err(format!("the input has {} channels, the weight expects {c}", xt.shape[0]));
    }
    pair_ok(stride, 1, "stride")?;
    let oh = window_out(xt.shape[1], kh, stride[0], padding[0], "height")?;
    let ow = window_out(xt.shape[2], kw, stride[1], padding[1], "width")?;
    check_requant_table(weights[1], o, c as usize * kh as usize * kw as usize)?;
    Ok(TensorType::new(DType::I8, [o, oh, ow]))
}

/// At most 512 taps a channel; a one-channel block's window within 2048 bytes and
/// 256 rows of its plane.
pub(super) fn provable(inputs: &[StepInput], weights: &[&Tensor]) -> Result<(), String> {
    let x = &inputs[0].ty.shape;
    let w = &weights[0].ty().shape;
    let (h, wd) = (x[1] as u64, x[2] as u64);
    let (kh, kw) = (w[2] as u64, w[3] as u64);
    if kh * kw > BLOCK {
        return Err(format!("a kernel of {kh}x{kw} = {} taps per channel is above the {BLOCK} one block of a one-step proof holds", kh * kw));
    }
    if channels_per_block(h * wd, kh * kw, kh) == 1 {
        let span = (kh.min(h) - 1) * wd + kw.min(wd);
        if span > MAX_CONV_SPAN {
            return Err(format!(
                "one channel's window spans {span} bytes of its {h}x{wd} input plane, above the {MAX_CONV_SPAN} a one-step proof opens"
            ));
        }
        if kh.min(h) > MAX_BLOCK_ROWS {
            return Err(format!(
                "one channel's window has {} rows inside its plane, above the {MAX_BLOCK_ROWS} one block of a one-step proof reads",
                kh.min(h)
            ));
        }
    }
    Ok(())
}

/// `T = C·KH·KW` terms, blocks of `G` channels.
pub(super) fn reduction(spec: &StepSpec) -> Reduction {
    let x = &spec.inputs[0].ty.shape;
    let w = &spec.weights[0].ty.shape;
    let (c, h, wd) = (x[0] as u64, x[1] as u64, x[2] as u64);
    let taps = w[2] as u64 * w[3] as u64;
    Reduction { terms: c * taps, block: channels_per_block(h * wd, taps, w[2] as u64) * taps }
}

/// `acc += x̂·W` over the block's channels (positions outside the plane add nothing).
pub(super) fn fold(spec: &StepSpec, out: usize, terms: Range<u64>, state: &mut [i128], inputs: &[&dyn Elements], weights: &[&dyn Elements]) {
    let Op::Conv2d { stride, padding, .. } = spec.op else { unreachable!() };
    let (x, w) = (inputs[0], weights[0]);
    let xs = &spec.inputs[0].ty.shape;
    let ws = &spec.weights[0].ty.shape;
    let [c_len, h, wd] = [xs[0], xs[1], xs[2]].map(|d| d as i64);
    let [kh, kw] = [ws[2], ws[3]].map(|d| d as i64);
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

/// `requant(Q[o,0] + acc, Q[o,1], Q[o,2], lo)`.
pub(super) fn finish(spec: &StepSpec, out: usize, state: &[i128], weights: &[&dyn Elements]) -> i64 {
    let Op::Conv2d { relu, .. } = spec.op else { unreachable!() };
    let q = weights[1];
    let o = unravel(out, &spec.out.shape)[0];
    requant_wide(q.get(3 * o) as i128 + state[0], q.get(3 * o + 1), q.get(3 * o + 2), lower(relu))
}
