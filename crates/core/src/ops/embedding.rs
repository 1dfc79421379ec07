//! `embedding` (op 10): `y[p, d] = E[ids[p], d]` for an id in `[0, V)`, and `0` for
//! any other id, so that every request has a defined output.

use super::common::{arity, expect_type};
use super::{StepInput, StepSpec};
use crate::tensor::Elements;
use crate::tensor::{DType, Tensor, TensorType, MAX_RANK};

/// ids int32 `[...]` (rank below the maximum), E int8 `[V, D]`: int8 `[..., D]`.
pub(super) fn check(inputs: &[StepInput], weights: &[&Tensor]) -> Result<TensorType, String> {
    arity(inputs, weights, 1, 1)?;
    let ids = &inputs[0].ty;
    if ids.dtype != DType::I32 {
        return Err(format!("the ids must be int32, got {ids}"));
    }
    if ids.shape.len() + 1 > MAX_RANK {
        return Err(format!("the ids have rank {}: the output's would be above the maximum of {MAX_RANK}", ids.shape.len()));
    }
    expect_type(weights[0].ty(), DType::I8, 2, "the table")?;
    let mut out = ids.shape.clone();
    out.push(weights[0].ty().shape[1]);
    Ok(TensorType::new(DType::I8, out))
}

/// Element `out`: entry `d` of the row the id names, or 0 when the id is outside
/// the table (the table is then not read).
pub(super) fn eval(spec: &StepSpec, out: usize, inputs: &[&dyn Elements], weights: &[&dyn Elements]) -> i64 {
    let (v, d) = (spec.weights[0].ty.shape[0] as i64, spec.weights[0].ty.shape[1] as usize);
    let id = inputs[0].get(out / d);
    if (0..v).contains(&id) {
        weights[0].get(id as usize * d + out % d)
    } else {
        0
    }
}
