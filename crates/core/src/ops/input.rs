//! `input` (op 0): step 0 and only step 0; its value is the request's input bytes.

use super::common::{arity, check_shape};
use super::StepInput;
use crate::tensor::{DType, Tensor, TensorType};

/// int8 of the manifest's shape.
pub(super) fn check(inputs: &[StepInput], weights: &[&Tensor], shape: Option<&[u32]>) -> Result<TensorType, String> {
    arity(inputs, weights, 0, 0)?;
    let shape = shape.ok_or("the input step needs a shape")?;
    check_shape(shape)?;
    Ok(TensorType::new(DType::I8, shape))
}
