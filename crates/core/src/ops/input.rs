//! `input` (op 0): step 0 and only step 0; its value is the request's input bytes,
//! int8 (features) or int32 (token ids).

use super::common::{arity, check_shape};
use super::StepInput;
use crate::tensor::{DType, Tensor, TensorType};

/// The manifest's dtype (int8 when absent) and shape.
pub(super) fn check(inputs: &[StepInput], weights: &[&Tensor], shape: Option<&[u32]>, dtype: Option<DType>) -> Result<TensorType, String> {
    arity(inputs, weights, 0, 0)?;
    let shape = shape.ok_or("the input step needs a shape")?;
    check_shape(shape)?;
    Ok(TensorType::new(dtype.unwrap_or(DType::I8), shape))
}
