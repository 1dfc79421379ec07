//! `matmul` (op 12): the product of two activations over their last two axes,
//! batched over the leading ones, the second optionally transposed (`Q·Kᵀ`,
//! `attention·V`): `y[p, i, j] = requant(Σ_k a[p,i,k]·b[p,k,j], m, s, −128)`.
//! Its reduction runs over `k < K`; the state is `(acc)`.

use super::common::{arity, check_requant, flag, requant_wide, MAX_ACC, MAX_PRODUCT};
use super::{Op, Params, Reduction, SpecError, StepInput, StepSpec, BLOCK};
use crate::tensor::Elements;
use crate::tensor::{DType, Tensor, TensorType};
use std::ops::Range;

/// `[transpose_b, m, s]`.
pub(super) fn params(op: &Op) -> Vec<i64> {
    let Op::Matmul { transpose_b, mult, shift } = *op else { unreachable!() };
    vec![flag(transpose_b), mult, shift]
}

pub(super) fn from_params(p: &Params<'_>) -> Result<Op, SpecError> {
    p.want(3)?;
    Ok(Op::Matmul { transpose_b: p.flag(0)?, mult: p.raw(1), shift: p.raw(2) })
}

/// The sizes `(M, K, N)` of a validated spec.
fn sizes(spec: &StepSpec) -> (usize, usize, usize) {
    let Op::Matmul { transpose_b, .. } = spec.op else { unreachable!() };
    let (a, b) = (&spec.inputs[0].ty.shape, &spec.inputs[1].ty.shape);
    let r = a.len();
    let n = if transpose_b { b[r - 2] } else { b[r - 1] };
    (a[r - 2] as usize, a[r - 1] as usize, n as usize)
}

/// a int8 `[..., M, K]`, b int8 `[..., K, N]` (`[..., N, K]` when transposed), the
/// same leading dims: int8 `[..., M, N]`.
pub(super) fn check(op: &Op, inputs: &[StepInput], weights: &[&Tensor]) -> Result<TensorType, String> {
    let Op::Matmul { transpose_b, mult, shift } = *op else { unreachable!() };
    arity(inputs, weights, 2, 0)?;
    let (a, b) = (&inputs[0].ty, &inputs[1].ty);
    if a.dtype != DType::I8 || b.dtype != DType::I8 {
        return Err(format!("both inputs must be int8, got {a} and {b}"));
    }
    let r = a.shape.len();
    if r < 2 || b.shape.len() != r {
        return Err(format!("the inputs must have one rank of at least 2, got {a} and {b}"));
    }
    if a.shape[..r - 2] != b.shape[..r - 2] {
        return Err(format!("the leading dims differ: {a} and {b} (no broadcasting)"));
    }
    let (k, kb, n) = if transpose_b { (a.shape[r - 1], b.shape[r - 1], b.shape[r - 2]) } else { (a.shape[r - 1], b.shape[r - 2], b.shape[r - 1]) };
    if k != kb {
        return Err(format!("the inner dims differ: {a} by {b}{}", if transpose_b { " transposed" } else { "" }));
    }
    if (k as i64) * MAX_PRODUCT > MAX_ACC {
        return Err(format!("a reduction over K = {k} products can leave the int32 accumulator range (K ≤ 131071)"));
    }
    check_requant(mult, shift, "the")?;
    let mut out = a.shape.clone();
    out[r - 1] = n;
    Ok(TensorType::new(DType::I8, out))
}

/// `T = K` terms; blocks of 512, or of `max(1, floor(512 / N))` when `b` is not
/// transposed (its terms are then `N` bytes apart, and a block spans at most 512).
pub(super) fn reduction(spec: &StepSpec) -> Reduction {
    let Op::Matmul { transpose_b, .. } = spec.op else { unreachable!() };
    let (_, k, n) = sizes(spec);
    let block = if transpose_b { BLOCK } else { (BLOCK / n as u64).max(1) };
    Reduction { terms: k as u64, block }
}

/// `acc += a[p,i,k]·b[p,k,j]` for `k` in `terms`.
pub(super) fn fold(spec: &StepSpec, out: usize, terms: Range<u64>, state: &mut [i128], inputs: &[&dyn Elements]) {
    let Op::Matmul { transpose_b, .. } = spec.op else { unreachable!() };
    let (m, k_len, n) = sizes(spec);
    let (p, i, j) = (out / (m * n), (out / n) % m, out % n);
    let (a, b) = (inputs[0], inputs[1]);
    for k in terms.start as usize..terms.end as usize {
        let bk = if transpose_b { (p * n + j) * k_len + k } else { (p * k_len + k) * n + j };
        state[0] += (a.get((p * m + i) * k_len + k) * b.get(bk)) as i128;
    }
}

/// `requant(acc, m, s, −128)`.
pub(super) fn finish(spec: &StepSpec, state: &[i128]) -> i64 {
    let Op::Matmul { mult, shift, .. } = spec.op else { unreachable!() };
    requant_wide(state[0], mult, shift, -128)
}
