//! `permute` (op 11): the input's axes in another order (`transpose` of two axes is
//! one case), `y[i_0, …, i_{r−1}] = x[j]` with `j[perm[k]] = i_k`.

use super::common::{arity, unravel};
use super::{Op, Params, SpecError, StepInput, StepSpec};
use crate::tensor::Elements;
use crate::tensor::{Tensor, TensorType, MAX_RANK};

/// The permutation, one parameter per axis.
pub(super) fn params(op: &Op) -> Vec<i64> {
    let Op::Permute { perm } = op else { unreachable!() };
    perm.iter().map(|&a| a as i64).collect()
}

/// `1 ≤ r ≤ 8` parameters, each axis `0 … r−1` once.
pub(super) fn from_params(p: &Params<'_>) -> Result<Op, SpecError> {
    let r = p.params.len();
    if r == 0 || r > MAX_RANK {
        return Err(SpecError::Params { op: p.code, want: r.clamp(1, MAX_RANK), got: r });
    }
    let mut seen = [false; MAX_RANK];
    let mut perm = Vec::with_capacity(r);
    for i in 0..r {
        let a = p.raw(i);
        if a < 0 || a >= r as i64 || seen[a as usize] {
            return Err(SpecError::Range { what: format!("param {i} (an axis of a permutation of {r})"), value: a });
        }
        seen[a as usize] = true;
        perm.push(a as u8);
    }
    Ok(Op::Permute { perm })
}

/// x of any dtype and of rank `r` = the permutation's length: the same dtype,
/// `shape[k] = x.shape[perm[k]]`.
pub(super) fn check(op: &Op, inputs: &[StepInput], weights: &[&Tensor]) -> Result<TensorType, String> {
    let Op::Permute { perm } = op else { unreachable!() };
    arity(inputs, weights, 1, 0)?;
    let xt = &inputs[0].ty;
    if xt.shape.len() != perm.len() {
        return Err(format!("the permutation {perm:?} has {} axes, the input {xt} {}", perm.len(), xt.shape.len()));
    }
    Ok(TensorType::new(xt.dtype, perm.iter().map(|&a| xt.shape[a as usize]).collect::<Vec<_>>()))
}

/// Element `out`: the input element at the output's coordinates put back in the
/// input's axis order.
pub(super) fn eval(spec: &StepSpec, out: usize, inputs: &[&dyn Elements]) -> i64 {
    let Op::Permute { perm } = &spec.op else { unreachable!() };
    let xs = &spec.inputs[0].ty.shape;
    let at = unravel(out, &spec.out.shape);
    let mut j = vec![0usize; xs.len()];
    for (k, &a) in perm.iter().enumerate() {
        j[a as usize] = at[k];
    }
    let flat = j.iter().zip(xs).fold(0usize, |f, (&c, &d)| f * d as usize + c);
    inputs[0].get(flat)
}
