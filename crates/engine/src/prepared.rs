//! Steps prepared for libtorch: weights converted once, and the batched kernel of
//! every op under the exact semantics of `docs/semantics.md`.

use crate::{EngineError, EXACT_BLOCK};
use refute_core::spec::Op;
use refute_core::tensor::Tensor;
use refute_core::Step;
use tch::{Device, Kind, TchError};

/// Per-output-channel requantization constants, as int64 tensors shaped to
/// broadcast over the channel axis.
pub(crate) struct Requant {
    bias: tch::Tensor,
    mult: tch::Tensor,
    /// `2^(s-1)`, the rounding term.
    round: tch::Tensor,
    shift: tch::Tensor,
    lo: i64,
}

impl Requant {
    /// From a `[N, 3]` table of (bias, m, s), broadcasting as `shape` (e.g. `[N]` or `[N, 1]`).
    fn new(q: &Tensor, shape: &[i64], relu: bool, device: Device) -> Result<Self, TchError> {
        let q = q.as_i32().expect("the loader checked the requant dtype");
        let col = |c: usize, f: &dyn Fn(i64) -> i64| -> Result<tch::Tensor, TchError> {
            let v: Vec<i64> = q.chunks_exact(3).map(|r| f(r[c] as i64)).collect();
            tch::Tensor::f_from_slice(&v)?.f_reshape(shape)?.f_to_device(device)
        };
        Ok(Requant {
            bias: col(0, &|b| b)?,
            mult: col(1, &|m| m)?,
            round: col(2, &|s| 1i64 << (s - 1))?,
            shift: col(2, &|s| s)?,
            lo: if relu { 0 } else { -128 },
        })
    }

    /// `clamp((acc + bias)·m + 2^(s-1) >> s, lo, 127)` as int8.
    fn apply(&self, acc: &tch::Tensor) -> Result<tch::Tensor, TchError> {
        acc.f_add(&self.bias)?
            .f_mul(&self.mult)?
            .f_add(&self.round)?
            .f_bitwise_right_shift(&self.shift)?
            .f_clamp(self.lo, 127)?
            .f_to_kind(Kind::Int8)
    }
}

/// Weights of an exact GEMM `y = x · Wᵀ`, cut along K into blocks of at most
/// [`EXACT_BLOCK`], each stored as a contiguous fp32 `[kb, N]` matrix.
pub(crate) struct BlockedWeights {
    /// (start of the block in K, transposed block `[kb, N]`).
    blocks: Vec<(i64, tch::Tensor)>,
}

impl BlockedWeights {
    /// From an int8 `[N, K]` weight.
    fn new(w: &Tensor, n: i64, k: i64, device: Device) -> Result<Self, TchError> {
        let bytes: Vec<u8> = w.as_i8().expect("int8 weight").iter().map(|&x| x as u8).collect();
        let full = tch::Tensor::f_from_slice(&bytes)?
            .f_view_dtype(Kind::Int8)?
            .f_reshape([n, k])?
            .f_to_kind(Kind::Float)?;
        let mut blocks = Vec::new();
        let mut start = 0;
        while start < k {
            let len = (k - start).min(EXACT_BLOCK as i64);
            let b = full.f_narrow(1, start, len)?.f_tr()?.f_contiguous()?.f_to_device(device)?;
            blocks.push((start, b));
            start += len;
        }
        Ok(BlockedWeights { blocks })
    }

    /// Exact `x · Wᵀ` as int64, for fp32 `x` holding int8 values: `x` is `[M, K]`, or
    /// with `cols` im2col columns `[B, K, L]` (giving `[B, N, L]`).
    fn matmul(&self, x: &tch::Tensor, cols: bool) -> Result<tch::Tensor, TchError> {
        let mut acc: Option<tch::Tensor> = None;
        for (start, w) in &self.blocks {
            let kb = w.size()[0];
            let part = if cols {
                // x: [B, K, L]; w: [kb, N] -> [B, N, L]
                w.f_tr()?.f_matmul(&x.f_narrow(1, *start, kb)?)?
            } else {
                // x: [M, K]; w: [kb, N] -> [M, N]
                x.f_narrow(1, *start, kb)?.f_matmul(w)?
            };
            let part = part.f_to_kind(Kind::Int64)?;
            acc = Some(match acc {
                None => part,
                Some(a) => a.f_add(&part)?,
            });
        }
        Ok(acc.expect("K >= 1"))
    }
}

/// A step ready to run on batched tensors (batch axis first).
pub(crate) enum Prepared {
    Input,
    Linear { w: BlockedWeights, q: Requant, k: i64, n: i64 },
    Conv2d { w: BlockedWeights, q: Requant, kernel: [i64; 2], stride: [i64; 2], padding: [i64; 2], out: [i64; 3] },
    Relu,
    MaxPool2d { kernel: [i64; 2], stride: [i64; 2], padding: [i64; 2] },
    AvgPool2d { kernel: [i64; 2], stride: [i64; 2], mult: i64, shift: i64 },
    Add { mult_a: i64, mult_b: i64, shift: i64, lo: i64 },
    Lut { table: tch::Tensor },
    Reshape { shape: Vec<i64> },
    Argmax,
}

fn pair(v: [u32; 2]) -> [i64; 2] {
    [v[0] as i64, v[1] as i64]
}

impl Prepared {
    pub(crate) fn new(step: &Step, device: Device) -> Result<Self, EngineError> {
        let spec = &step.spec;
        Ok(match spec.op {
            Op::Input => Prepared::Input,
            Op::Linear { relu } => {
                let ws = &spec.weights[0].ty.shape;
                let (n, k) = (ws[0] as i64, ws[1] as i64);
                Prepared::Linear {
                    w: BlockedWeights::new(&step.weights[0], n, k, device)?,
                    q: Requant::new(&step.weights[1], &[n], relu, device)?,
                    k,
                    n,
                }
            }
            Op::Conv2d { stride, padding, relu } => {
                let ws = &spec.weights[0].ty.shape;
                let (o, kk) = (ws[0] as i64, (ws[1] * ws[2] * ws[3]) as i64);
                let out = &spec.out.shape;
                Prepared::Conv2d {
                    w: BlockedWeights::new(&step.weights[0], o, kk, device)?,
                    q: Requant::new(&step.weights[1], &[o, 1], relu, device)?,
                    kernel: [ws[2] as i64, ws[3] as i64],
                    stride: pair(stride),
                    padding: pair(padding),
                    out: [out[0] as i64, out[1] as i64, out[2] as i64],
                }
            }
            Op::Relu => Prepared::Relu,
            Op::MaxPool2d { kernel, stride, padding } => {
                Prepared::MaxPool2d { kernel: pair(kernel), stride: pair(stride), padding: pair(padding) }
            }
            Op::AvgPool2d { kernel, stride, mult, shift } => {
                Prepared::AvgPool2d { kernel: pair(kernel), stride: pair(stride), mult, shift }
            }
            Op::Add { mult_a, mult_b, shift, relu } => {
                Prepared::Add { mult_a, mult_b, shift, lo: if relu { 0 } else { -128 } }
            }
            Op::Lut => {
                let bytes: Vec<u8> = step.weights[0].as_i8().expect("int8 table").iter().map(|&x| x as u8).collect();
                Prepared::Lut { table: tch::Tensor::f_from_slice(&bytes)?.f_view_dtype(Kind::Int8)?.f_to_device(device)? }
            }
            Op::Reshape => Prepared::Reshape { shape: spec.out.shape.iter().map(|&d| d as i64).collect() },
            Op::Argmax => Prepared::Argmax,
        })
    }

    /// Runs the step on batched inputs.
    pub(crate) fn run(&self, x: &[&tch::Tensor]) -> Result<tch::Tensor, TchError> {
        match self {
            Prepared::Input => unreachable!("step 0 is the input batch itself"),
            Prepared::Linear { w, q, k, n } => {
                let x0 = x[0];
                let lead = &x0.size()[..x0.dim() - 1];
                let flat = x0.f_reshape([-1, *k])?.f_to_kind(Kind::Float)?;
                let y = q.apply(&w.matmul(&flat, false)?)?;
                let mut shape = lead.to_vec();
                shape.push(*n);
                y.f_reshape(&shape)
            }
            Prepared::Conv2d { w, q, kernel, stride, padding, out } => {
                let b = x[0].size()[0];
                let cols = x[0].f_to_kind(Kind::Float)?.f_im2col(kernel, [1, 1], padding, stride)?;
                // [B, O, L] -> requant per channel (axis 1) -> [B, O, OH, OW]
                q.apply(&w.matmul(&cols, true)?)?.f_reshape([b, out[0], out[1], out[2]])
            }
            Prepared::Relu => x[0].f_clamp_min(0),
            Prepared::MaxPool2d { kernel, stride, padding } => {
                // -inf padding: a padded position never wins, as the semantics require.
                x[0].f_to_kind(Kind::Float)?.f_max_pool2d(kernel, stride, padding, [1, 1], false)?.f_to_kind(Kind::Int8)
            }
            Prepared::AvgPool2d { kernel, stride, mult, shift } => {
                // A window sum (divisor 1) of at most 2^16 int8 values is below 2^24: exact in fp32.
                let sum = x[0]
                    .f_to_kind(Kind::Float)?
                    .f_avg_pool2d(kernel, stride, [0, 0], false, true, Some(1))?
                    .f_to_kind(Kind::Int64)?;
                requant_scalar(&sum.f_mul_scalar(*mult)?, *shift, -128)
            }
            Prepared::Add { mult_a, mult_b, shift, lo } => {
                let acc = x[0].f_to_kind(Kind::Int64)?.f_mul_scalar(*mult_a)?.f_add(
                    &x[1].f_to_kind(Kind::Int64)?.f_mul_scalar(*mult_b)?,
                )?;
                requant_scalar(&acc, *shift, *lo)
            }
            Prepared::Lut { table } => {
                let idx = x[0].f_to_kind(Kind::Int64)?.f_add_scalar(128)?;
                table.f_index_select(0, &idx.f_flatten(0, -1)?)?.f_reshape(x[0].size())
            }
            Prepared::Reshape { shape } => {
                let mut s = vec![x[0].size()[0]];
                s.extend(shape);
                x[0].f_reshape(&s)
            }
            Prepared::Argmax => {
                // libtorch returns the first index of the maximum, as the semantics require.
                x[0].f_argmax(-1, false)?.f_to_kind(Kind::Int)
            }
        }
    }
}

/// `clamp((acc + 2^(s-1)) >> s, lo, 127)` as int8, with `acc` already multiplied.
fn requant_scalar(acc: &tch::Tensor, shift: i64, lo: i64) -> Result<tch::Tensor, TchError> {
    let s = tch::Tensor::from(shift).f_to_device(acc.device())?;
    acc.f_add_scalar(1i64 << (shift - 1))?.f_bitwise_right_shift(&s)?.f_clamp(lo, 127)?.f_to_kind(Kind::Int8)
}
