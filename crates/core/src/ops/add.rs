//! `add` (op 6): the residual add, `y = clamp((a·mA + b·mB + 2^(s-1)) >> s, lo, 127)`.

use super::common::{arity, check_requant, flag, int8_input, lower};
use super::{Op, Params};
use super::{SpecError, StepInput, StepSpec};
use crate::tensor::Elements;
use crate::tensor::{Tensor, TensorType};

/// `[mA, mB, s, relu]`.
pub(super) fn params(op: &Op) -> Vec<i64> {
    let Op::Add { mult_a, mult_b, shift, relu } = *op else { unreachable!() };
    vec![mult_a, mult_b, shift, flag(relu)]
}

pub(super) fn from_params(p: &Params<'_>) -> Result<Op, SpecError> {
    p.want(4)?;
    Ok(Op::Add { mult_a: p.raw(0), mult_b: p.raw(1), shift: p.raw(2), relu: p.flag(3)? })
}

/// Two int8 inputs of one type; that type.
pub(super) fn check(op: &Op, inputs: &[StepInput], weights: &[&Tensor]) -> Result<TensorType, String> {
    let Op::Add { mult_a, mult_b, shift, .. } = *op else { unreachable!() };
    arity(inputs, weights, 2, 0)?;
    let a = int8_input(inputs, "the first input")?;
    if inputs[1].ty != *a {
        return Err(format!("the inputs differ in type: {a} and {}", inputs[1].ty));
    }
    check_requant(mult_a, shift, "the first operand's")?;
    check_requant(mult_b, shift, "the second operand's")?;
    Ok(a.clone())
}

/// Element `out`.
pub(super) fn eval(spec: &StepSpec, out: usize, inputs: &[&dyn Elements]) -> i64 {
    let Op::Add { mult_a, mult_b, shift, relu } = spec.op else { unreachable!() };
    let acc = inputs[0].get(out) * mult_a + inputs[1].get(out) * mult_b;
    ((acc + (1i64 << (shift - 1))) >> shift).clamp(lower(relu), 127)
}
