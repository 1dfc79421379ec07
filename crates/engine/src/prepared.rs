//! Steps prepared for libtorch: weights converted once, and the batched kernel of
//! every op under the exact semantics of `docs/semantics.md`.

use crate::{EngineError, Gemm};
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
    /// From a `[N, 3]` table of (bias, m, s), as `[N]` tensors that broadcast over
    /// the last axis (output features of a linear step, channels of a conv step's
    /// `[B·L, O]` GEMM result).
    fn new(q: &Tensor, relu: bool, device: Device) -> Result<Self, TchError> {
        let q = q.as_i32().expect("the loader checked the requant dtype");
        let col = |c: usize, f: &dyn Fn(i64) -> i64| -> Result<tch::Tensor, TchError> {
            let v: Vec<i64> = q.chunks_exact(3).map(|r| f(r[c] as i64)).collect();
            tch::Tensor::f_from_slice(&v)?.f_to_device(device)
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
        acc.f_add(&self.bias)?.f_mul(&self.mult)?.f_add(&self.round)?.f_bitwise_right_shift(&self.shift)?.f_clamp(self.lo, 127)?.f_to_kind(Kind::Int8)
    }
}

/// Weights of an exact GEMM `y = x · Wᵀ`, cut along K into blocks no longer than
/// the backend's exact bound ([`Gemm::block`]).
pub(crate) struct BlockedWeights {
    gemm: Gemm,
    /// (start of the block in K, block as the right-hand `[kb, N]` operand): fp32 and
    /// contiguous for [`Gemm::Fp32Blocks`]; int8 and a transposed view of a contiguous
    /// `[N, kb]` (column-major, the layout oneDNN's int8 kernels take fastest) for
    /// [`Gemm::Int8`].
    blocks: Vec<(i64, tch::Tensor)>,
}

impl BlockedWeights {
    /// From an int8 `[N, K]` weight.
    pub(crate) fn new(w: &Tensor, n: i64, k: i64, gemm: Gemm, device: Device) -> Result<Self, TchError> {
        let bytes: Vec<u8> = w.as_i8().expect("int8 weight").iter().map(|&x| x as u8).collect();
        let full = tch::Tensor::f_from_slice(&bytes)?.f_view_dtype(Kind::Int8)?.f_reshape([n, k])?;
        let mut blocks = Vec::new();
        let mut start = 0;
        while start < k {
            let len = (k - start).min(gemm.block() as i64);
            let part = full.f_narrow(1, start, len)?;
            let b = match gemm {
                Gemm::Fp32Blocks => part.f_to_kind(Kind::Float)?.f_tr()?.f_contiguous()?.f_to_device(device)?,
                Gemm::Int8 => part.f_contiguous()?.f_to_device(device)?.f_tr()?,
            };
            blocks.push((start, b));
            start += len;
        }
        Ok(BlockedWeights { gemm, blocks })
    }

    /// The dtype the left-hand operand must have.
    pub(crate) fn operand_kind(&self) -> Kind {
        match self.gemm {
            Gemm::Fp32Blocks => Kind::Float,
            Gemm::Int8 => Kind::Int8,
        }
    }

    /// Exact `x · Wᵀ` for `x` `[M, K]` of [`Self::operand_kind`] holding int8 values:
    /// int64 `[M, N]`, or int32 when one int8 block covers K.
    pub(crate) fn matmul(&self, x: &tch::Tensor) -> Result<tch::Tensor, TchError> {
        if let [(_, w)] = self.blocks.as_slice() {
            return match self.gemm {
                // int32 is exact below the int8 block bound; requantization widens it.
                Gemm::Int8 => int8_block(x, w),
                Gemm::Fp32Blocks => x.f_matmul(w)?.f_to_kind(Kind::Int64),
            };
        }
        let mut acc: Option<tch::Tensor> = None;
        for (start, w) in &self.blocks {
            let xs = x.f_narrow(1, *start, w.size()[0])?;
            let part = match self.gemm {
                Gemm::Int8 => int8_block(&xs.f_contiguous()?, w)?,
                Gemm::Fp32Blocks => xs.f_matmul(w)?,
            }
            .f_to_kind(Kind::Int64)?;
            acc = Some(match acc {
                None => part,
                Some(a) => a.f_add(&part)?,
            });
        }
        Ok(acc.expect("K >= 1"))
    }
}

/// One int8 GEMM block `x · w` into int32. A block of one column is an outer product
/// computed element-wise: libtorch 2.13's `_int_mm` returns wrong values for K = 1
/// on x86 (found by the engine's tests; K ≥ 2 is exact, and the probe checks both).
fn int8_block(x: &tch::Tensor, w: &tch::Tensor) -> Result<tch::Tensor, TchError> {
    if w.size()[0] == 1 {
        x.f_to_kind(Kind::Int)?.f_mul(&w.f_to_kind(Kind::Int)?)
    } else {
        x.f_internal_int_mm(w)
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
    Residual { mult_a: i64, mult_b: i64, shift: i64 },
    Lut { table: tch::Tensor },
    Reshape { shape: Vec<i64> },
    Argmax,
    Embedding { table: tch::Tensor, rows: i64 },
    Permute { dims: Vec<i64> },
    Matmul { transpose_b: bool, mult: i64, shift: i64 },
    Softmax { table: tch::Tensor, len: i64, pad: Option<i64> },
    LayerNorm { gamma: tch::Tensor, beta: tch::Tensor, n: i64, pre: i64, eps: i64, shift: i64 },
}

fn pair(v: [u32; 2]) -> [i64; 2] {
    [v[0] as i64, v[1] as i64]
}

impl Prepared {
    pub(crate) fn new(step: &Step, gemm: Gemm, device: Device) -> Result<Self, EngineError> {
        let spec = &step.spec;
        Ok(match spec.op {
            Op::Input => Prepared::Input,
            Op::Linear { relu } => {
                let ws = &spec.weights[0].ty.shape;
                let (n, k) = (ws[0] as i64, ws[1] as i64);
                Prepared::Linear {
                    w: BlockedWeights::new(&step.weights[0], n, k, gemm, device)?,
                    q: Requant::new(&step.weights[1], relu, device)?,
                    k,
                    n,
                }
            }
            Op::Conv2d { stride, padding, relu } => {
                let ws = &spec.weights[0].ty.shape;
                let (o, kk) = (ws[0] as i64, (ws[1] * ws[2] * ws[3]) as i64);
                let out = &spec.out.shape;
                Prepared::Conv2d {
                    w: BlockedWeights::new(&step.weights[0], o, kk, gemm, device)?,
                    q: Requant::new(&step.weights[1], relu, device)?,
                    kernel: [ws[2] as i64, ws[3] as i64],
                    stride: pair(stride),
                    padding: pair(padding),
                    out: [out[0] as i64, out[1] as i64, out[2] as i64],
                }
            }
            Op::Relu => Prepared::Relu,
            Op::MaxPool2d { kernel, stride, padding } => Prepared::MaxPool2d { kernel: pair(kernel), stride: pair(stride), padding: pair(padding) },
            Op::AvgPool2d { kernel, stride, mult, shift } => Prepared::AvgPool2d { kernel: pair(kernel), stride: pair(stride), mult, shift },
            Op::Add { mult_a, mult_b, shift, relu } => Prepared::Add { mult_a, mult_b, shift, lo: if relu { 0 } else { -128 } },
            Op::Residual { mult_a, mult_b, shift } => Prepared::Residual { mult_a, mult_b, shift },
            Op::Lut => {
                let bytes: Vec<u8> = step.weights[0].as_i8().expect("int8 table").iter().map(|&x| x as u8).collect();
                Prepared::Lut { table: tch::Tensor::f_from_slice(&bytes)?.f_view_dtype(Kind::Int8)?.f_to_device(device)? }
            }
            Op::Reshape => Prepared::Reshape { shape: spec.out.shape.iter().map(|&d| d as i64).collect() },
            Op::Argmax => Prepared::Argmax,
            Op::Embedding => {
                let t = &step.weights[0];
                let bytes: Vec<u8> = t.as_i8().expect("int8 table").iter().map(|&x| x as u8).collect();
                let [v, d] = [t.ty().shape[0] as i64, t.ty().shape[1] as i64];
                Prepared::Embedding {
                    table: tch::Tensor::f_from_slice(&bytes)?.f_view_dtype(Kind::Int8)?.f_reshape([v, d])?.f_to_device(device)?,
                    rows: v,
                }
            }
            // the batch axis stays first
            Op::Matmul { transpose_b, mult, shift } => Prepared::Matmul { transpose_b, mult, shift },
            Op::Softmax { masked, pad } => {
                let t = &step.weights[0];
                let v: Vec<i64> = t.as_i32().expect("int32 table").iter().map(|&e| e as i64).collect();
                Prepared::Softmax { table: tch::Tensor::f_from_slice(&v)?.f_to_device(device)?, len: v.len() as i64, pad: masked.then_some(pad) }
            }
            Op::LayerNorm { pre, eps, shift } => {
                let t = &step.weights[0];
                let q =
                    tch::Tensor::f_from_slice(t.as_i32().expect("int32 table"))?.f_to_kind(Kind::Int64)?.f_reshape([-1, 2])?.f_to_device(device)?;
                Prepared::LayerNorm { gamma: q.f_select(1, 0)?, beta: q.f_select(1, 1)?, n: t.ty().shape[0] as i64, pre, eps, shift }
            }
            Op::Permute { ref perm } => Prepared::Permute { dims: std::iter::once(0).chain(perm.iter().map(|&a| a as i64 + 1)).collect() },
        })
    }

    /// Runs the step on batched inputs.
    pub(crate) fn run(&self, x: &[&tch::Tensor]) -> Result<tch::Tensor, TchError> {
        match self {
            Prepared::Input => unreachable!("step 0 is the input batch itself"),
            Prepared::Linear { w, q, k, n } => {
                let x0 = x[0];
                let lead = &x0.size()[..x0.dim() - 1];
                let flat = x0.f_reshape([-1, *k])?.f_to_kind(w.operand_kind())?;
                let y = q.apply(&w.matmul(&flat)?)?;
                let mut shape = lead.to_vec();
                shape.push(*n);
                y.f_reshape(&shape)
            }
            Prepared::Conv2d { w, q, kernel, stride, padding, out } => {
                let b = x[0].size()[0];
                // im2col has no int8 kernel; int8 values are exact in fp32 and back.
                let cols = x[0].f_to_kind(Kind::Float)?.f_im2col(kernel, [1, 1], padding, stride)?;
                let kk = cols.size()[1];
                // [B, K, L] -> [B·L, K] -> GEMM [B·L, O] -> requant per channel (last axis)
                let rows = cols.f_transpose(1, 2)?.f_reshape([-1, kk])?.f_to_kind(w.operand_kind())?;
                let y = q.apply(&w.matmul(&rows)?)?;
                // [B·L, O] -> [B, L, O] -> [B, O, L] -> [B, O, OH, OW]
                y.f_reshape([b, -1, out[0]])?.f_permute([0, 2, 1])?.f_contiguous()?.f_reshape([b, out[0], out[1], out[2]])
            }
            Prepared::Relu => x[0].f_clamp_min(0),
            Prepared::MaxPool2d { kernel, stride, padding } => {
                // -inf padding: a padded position never wins, as the semantics require.
                x[0].f_to_kind(Kind::Float)?.f_max_pool2d(kernel, stride, padding, [1, 1], false)?.f_to_kind(Kind::Int8)
            }
            Prepared::AvgPool2d { kernel, stride, mult, shift } => {
                // A window sum (divisor 1) of at most 2^16 int8 values is below 2^24: exact in fp32.
                let sum = x[0].f_to_kind(Kind::Float)?.f_avg_pool2d(kernel, stride, [0, 0], false, true, Some(1))?.f_to_kind(Kind::Int64)?;
                requant_scalar(&sum.f_mul_scalar(*mult)?, *shift, -128)
            }
            Prepared::Add { mult_a, mult_b, shift, lo } => {
                let acc = x[0].f_to_kind(Kind::Int64)?.f_mul_scalar(*mult_a)?.f_add(&x[1].f_to_kind(Kind::Int64)?.f_mul_scalar(*mult_b)?)?;
                requant_scalar(&acc, *shift, *lo)
            }
            Prepared::Residual { mult_a, mult_b, shift } => {
                // |a·mA + b·mB| < 2^62 for int32 operands and multipliers up to 2^30
                let acc = x[0].f_to_kind(Kind::Int64)?.f_mul_scalar(*mult_a)?.f_add(&x[1].f_to_kind(Kind::Int64)?.f_mul_scalar(*mult_b)?)?;
                let half = if *shift > 0 { 1i64 << (shift - 1) } else { 0 };
                let s = tch::Tensor::from(*shift).f_to_device(acc.device())?;
                acc.f_add_scalar(half)?.f_bitwise_right_shift(&s)?.f_clamp(i32::MIN as i64, i32::MAX as i64)?.f_to_kind(Kind::Int)
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
            Prepared::Embedding { table, rows } => {
                // an id outside [0, V) reads row 0 and is then zeroed: its output is 0
                let ids = x[0].f_to_kind(Kind::Int64)?;
                let inside = ids.f_ge(0)?.f_logical_and(&ids.f_lt(*rows)?)?;
                let safe = ids.f_where_scalarother(&inside, 0)?;
                let picked = table.f_index_select(0, &safe.f_flatten(0, -1)?)?;
                let keep = inside.f_flatten(0, -1)?.f_unsqueeze(1)?.f_to_kind(Kind::Int8)?;
                let mut shape = x[0].size();
                shape.push(table.size()[1]);
                picked.f_mul(&keep)?.f_reshape(&shape)
            }
            Prepared::Permute { dims } => x[0].f_permute(dims)?.f_contiguous(),
            Prepared::Matmul { transpose_b, mult, shift } => {
                // batched fp32 GEMMs over blocks of K short enough to be exact, the
                // blocks added in int64 (as the linear steps' fp32 path does)
                let a = x[0].f_to_kind(Kind::Float)?;
                let b = x[1].f_to_kind(Kind::Float)?;
                let b = if *transpose_b { b.f_transpose(-1, -2)? } else { b };
                let k = *a.size().last().expect("rank >= 2");
                let mut acc: Option<tch::Tensor> = None;
                let mut start = 0;
                while start < k {
                    let len = (k - start).min(Gemm::Fp32Blocks.block() as i64);
                    let part = a.f_narrow(-1, start, len)?.f_matmul(&b.f_narrow(-2, start, len)?)?.f_to_kind(Kind::Int64)?;
                    acc = Some(match acc {
                        None => part,
                        Some(sum) => sum.f_add(&part)?,
                    });
                    start += len;
                }
                requant_scalar(&acc.expect("K >= 1").f_mul_scalar(*mult)?, *shift, -128)
            }
            Prepared::Softmax { table, len, pad } => softmax(x, table, *len, *pad),
            Prepared::LayerNorm { gamma, beta, n, pre, eps, shift } => layernorm(x[0], gamma, beta, *n, *pre, *eps, *shift),
        }
    }
}

/// The row maximum below every int32 value, standing in for the masked elements:
/// a row with none kept has it as its maximum, and then every `max − x < 0`.
const MASKED: i64 = -(1 << 40);

/// softmax over the last axis, in int64 (`docs/semantics.md`): the maximum over the
/// kept elements, `e = E[max − x]` (0 outside the table and where masked), the row
/// sum `S`, and `min(127, floor((256·e + S) / (2·S)))`, 0 where `S = 0`.
fn softmax(x: &[&tch::Tensor], table: &tch::Tensor, len: i64, pad: Option<i64>) -> Result<tch::Tensor, TchError> {
    let v = x[0].f_to_kind(Kind::Int64)?;
    let shape = v.size();
    // kept: [B, 1, …, 1, N], broadcast over the rows of each inference
    let kept = match pad {
        Some(pad) => {
            let mut view = vec![shape[0]];
            view.extend(std::iter::repeat_n(1, shape.len() - 2));
            view.push(shape[shape.len() - 1]);
            Some(x[1].f_ne(pad)?.f_reshape(&view)?.f_expand(&shape, false)?)
        }
        None => None,
    };
    let best = match &kept {
        Some(k) => v.f_where_scalarother(k, MASKED)?,
        None => v.shallow_clone(),
    }
    .f_amax([-1], true)?;
    let d = best.f_sub(&v)?;
    let mut inside = d.f_ge(0)?.f_logical_and(&d.f_lt(len)?)?;
    if let Some(k) = &kept {
        inside = inside.f_logical_and(k)?;
    }
    let e = table.f_index_select(0, &d.f_clamp(0, len - 1)?.f_flatten(0, -1)?)?.f_reshape(&shape)?.f_mul(&inside.f_to_kind(Kind::Int64)?)?;
    let sum = e.f_sum_dim_intlist([-1i64].as_slice(), true, Kind::Int64)?;
    let some = sum.f_gt(0)?.f_to_kind(Kind::Int64)?;
    // S = 0 gives 0: divide by max(S, 1) and zero those rows
    let den = sum.f_clamp_min(1)?.f_mul_scalar(2)?;
    e.f_mul_scalar(256)?.f_add(&sum)?.f_div_tensor_mode(&den, "floor")?.f_clamp_max(127)?.f_mul(&some)?.f_to_kind(Kind::Int8)
}

/// layer norm over the last axis, in int64 (`docs/semantics.md`): `z = x >> pre`,
/// the row sums `S1`, `S2`, `r = isqrt(max(N·S2 − S1² + eps, 1))`, `c = N·z − S1`,
/// and `clamp(floor((2·(γ·c + β·r) + r·2^s) / (2·r·2^s)), −128, 127)`. The loader's
/// row bound keeps every intermediate below 2^63.
fn layernorm(x: &tch::Tensor, gamma: &tch::Tensor, beta: &tch::Tensor, n: i64, pre: i64, eps: i64, shift: i64) -> Result<tch::Tensor, TchError> {
    let pre = tch::Tensor::from(pre).f_to_device(x.device())?;
    let z = x.f_to_kind(Kind::Int64)?.f_bitwise_right_shift(&pre)?;
    let s1 = z.f_sum_dim_intlist([-1i64].as_slice(), true, Kind::Int64)?;
    let s2 = z.f_mul(&z)?.f_sum_dim_intlist([-1i64].as_slice(), true, Kind::Int64)?;
    let d = s2.f_mul_scalar(n)?.f_sub(&s1.f_mul(&s1)?)?.f_add_scalar(eps)?.f_clamp_min(1)?;
    let r = isqrt(&d)?;
    let c = z.f_mul_scalar(n)?.f_sub(&s1)?;
    let num = c.f_mul(gamma)?.f_add(&r.f_mul(beta)?)?;
    let den = r.f_mul_scalar(1i64 << shift)?;
    num.f_mul_scalar(2)?.f_add(&den)?.f_div_tensor_mode(&den.f_mul_scalar(2)?, "floor")?.f_clamp(-128, 127)?.f_to_kind(Kind::Int8)
}

/// `floor(sqrt(v))` of int64 `v` in `[1, 2^58]`: the f64 root is within one of it
/// (v is rounded to 53 bits, the root to 53 more), so one correction each way.
fn isqrt(v: &tch::Tensor) -> Result<tch::Tensor, TchError> {
    let f = v.f_to_kind(Kind::Double)?.f_sqrt()?.f_floor()?.f_to_kind(Kind::Int64)?;
    let f = f.f_sub(&f.f_mul(&f)?.f_gt_tensor(v)?.f_to_kind(Kind::Int64)?)?;
    let g = f.f_add_scalar(1)?;
    f.f_add(&g.f_mul(&g)?.f_le_tensor(v)?.f_to_kind(Kind::Int64)?)
}

/// `clamp((acc + 2^(s-1)) >> s, lo, 127)` as int8, with `acc` already multiplied.
fn requant_scalar(acc: &tch::Tensor, shift: i64, lo: i64) -> Result<tch::Tensor, TchError> {
    let s = tch::Tensor::from(shift).f_to_device(acc.device())?;
    acc.f_add_scalar(1i64 << (shift - 1))?.f_bitwise_right_shift(&s)?.f_clamp(lo, 127)?.f_to_kind(Kind::Int8)
}
