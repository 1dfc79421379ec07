//! `lut` (op 7): `y = T[x + 128]`, a 256-entry int8 table (GELU, SiLU, sigmoid,
//! tanh, ... computed at import).

use super::common::{arity, int8_input};
use super::StepInput;
use crate::tensor::Elements;
use crate::tensor::{DType, Tensor, TensorType};

/// The input's type; the table is int8[256].
pub(super) fn check(inputs: &[StepInput], weights: &[&Tensor]) -> Result<TensorType, String> {
    arity(inputs, weights, 1, 1)?;
    let xt = int8_input(inputs, "the input")?;
    if *weights[0].ty() != TensorType::new(DType::I8, [256]) {
        return Err(format!("the table must be int8[256], got {}", weights[0].ty()));
    }
    Ok(xt.clone())
}

/// Element `out`: the table's entry the input selects.
pub(super) fn eval(out: usize, inputs: &[&dyn Elements], weights: &[&dyn Elements]) -> i64 {
    weights[0].get((inputs[0].get(out) + 128) as usize)
}
