//! `reshape` (op 8; `flatten` is another name): the same flat elements under the
//! spec's output shape.

use super::common::{arity, check_shape};
use super::StepInput;
use crate::tensor::Elements;
use crate::tensor::{Tensor, TensorType};

/// The input's dtype under the manifest's shape, of the same element count.
pub(super) fn check(inputs: &[StepInput], weights: &[&Tensor], shape: Option<&[u32]>) -> Result<TensorType, String> {
    arity(inputs, weights, 1, 0)?;
    let xt = &inputs[0].ty;
    let shape = shape.ok_or("reshape needs a target shape")?;
    check_shape(shape)?;
    let out = TensorType::new(xt.dtype, shape);
    if out.numel() != xt.numel() {
        return Err(format!("cannot reshape {xt} ({} elements) to {shape:?}", xt.numel()));
    }
    Ok(out)
}

/// Element `out`.
pub(super) fn eval(out: usize, inputs: &[&dyn Elements]) -> i64 {
    inputs[0].get(out)
}
