//! `relu` (op 3): `y = max(x, 0)` over int8 of any shape.

use super::common::{arity, int8_input};
use super::StepInput;
use crate::tensor::Elements;
use crate::tensor::{Tensor, TensorType};

/// The input's type.
pub(super) fn check(inputs: &[StepInput], weights: &[&Tensor]) -> Result<TensorType, String> {
    arity(inputs, weights, 1, 0)?;
    Ok(int8_input(inputs, "the input")?.clone())
}

/// Element `out`.
pub(super) fn eval(out: usize, inputs: &[&dyn Elements]) -> i64 {
    inputs[0].get(out).max(0)
}
