//! `linear` (op 1): `y[p, n] = requant(Q[n,0] + Σ_k x[p,k]·W[n,k], Q[n,1], Q[n,2], lo)`.
//! Its reduction runs over `k < K` in blocks of 512 terms; the state is `(acc)`.

use super::common::{arity, check_requant_table, expect_type, flag, int8_input, lower, requant_wide};
use super::{Op, Params};
use super::{Reduction, BLOCK};
use super::{SpecError, StepInput, StepSpec};
use crate::tensor::Elements;
use crate::tensor::{DType, Tensor, TensorType};
use std::ops::Range;

/// `[relu]`.
pub(super) fn params(op: &Op) -> Vec<i64> {
    let Op::Linear { relu } = *op else { unreachable!() };
    vec![flag(relu)]
}

pub(super) fn from_params(p: &Params<'_>) -> Result<Op, SpecError> {
    p.want(1)?;
    Ok(Op::Linear { relu: p.flag(0)? })
}

/// x int8 `[..., K]`, W int8 `[N, K]`, Q int32 `[N, 3]`: int8 `[..., N]`.
pub(super) fn check(inputs: &[StepInput], weights: &[&Tensor]) -> Result<TensorType, String> {
    arity(inputs, weights, 1, 2)?;
    let xt = int8_input(inputs, "the input")?;
    if xt.shape.is_empty() {
        return Err("the input must have rank at least 1".into());
    }
    expect_type(weights[0].ty(), DType::I8, 2, "the weight")?;
    let [n, k] = [weights[0].ty().shape[0], weights[0].ty().shape[1]];
    if xt.shape.last() != Some(&k) {
        return Err(format!("the input's last dim must be K = {k}, got {xt}"));
    }
    check_requant_table(weights[1], n, k as usize)?;
    let mut out = xt.shape.clone();
    *out.last_mut().expect("rank >= 1") = n;
    Ok(TensorType::new(DType::I8, out))
}

/// `T = K` terms, blocks of 512.
pub(super) fn reduction(spec: &StepSpec) -> Reduction {
    Reduction { terms: spec.weights[0].ty.shape[1] as u64, block: BLOCK }
}

/// `acc += x[p,k]·W[n,k]` for `k` in `terms`.
pub(super) fn fold(spec: &StepSpec, out: usize, terms: Range<u64>, state: &mut [i128], inputs: &[&dyn Elements], weights: &[&dyn Elements]) {
    let (x, w) = (inputs[0], weights[0]);
    let shape = &spec.weights[0].ty.shape;
    let [n_len, k_len] = [shape[0] as usize, shape[1] as usize];
    let (p, n) = (out / n_len, out % n_len);
    for k in terms.start as usize..terms.end as usize {
        state[0] += (x.get(p * k_len + k) * w.get(n * k_len + k)) as i128;
    }
}

/// `requant(Q[n,0] + acc, Q[n,1], Q[n,2], lo)`.
pub(super) fn finish(spec: &StepSpec, out: usize, state: &[i128], weights: &[&dyn Elements]) -> i64 {
    let Op::Linear { relu } = spec.op else { unreachable!() };
    let q = weights[1];
    let n = out % spec.weights[0].ty.shape[0] as usize;
    requant_wide(q.get(3 * n) as i128 + state[0], q.get(3 * n + 1), q.get(3 * n + 2), lower(relu))
}
