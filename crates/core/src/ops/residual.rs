//! `residual` (op 15): the add into a wide (int32) residual stream,
//! `y = clamp((a·mA + b·mB + h) >> s, −2^31, 2^31 − 1)` with `h = 2^(s−1)` (0 when
//! `s = 0`), each operand int8 or int32. A transformer keeps its stream in int32
//! between layer norms, which read it back to int8.

use super::common::arity;
use super::{Op, Params};
use super::{SpecError, StepInput, StepSpec};
use crate::tensor::{DType, Elements, Tensor, TensorType};

/// Largest multiplier (`2^30`): two products of an int32 operand stay below `2^62`.
pub const MAX_MULT: i64 = 1 << 30;

/// Largest shift.
pub const MAX_SHIFT: i64 = 62;

/// `[mA, mB, s]`.
pub(super) fn params(op: &Op) -> Vec<i64> {
    let Op::Residual { mult_a, mult_b, shift } = *op else { unreachable!() };
    vec![mult_a, mult_b, shift]
}

/// `mA`, `mB` in `[0, 2^30]`, `s` in `[0, 62]`.
pub(super) fn from_params(p: &Params<'_>) -> Result<Op, SpecError> {
    p.want(3)?;
    Ok(Op::Residual {
        mult_a: p.within(0, MAX_MULT, "the first multiplier, 0 to 2^30")?,
        mult_b: p.within(1, MAX_MULT, "the second multiplier, 0 to 2^30")?,
        shift: p.within(2, MAX_SHIFT, "the shift, 0 to 62")?,
    })
}

/// Two inputs of one shape, each int8 or int32: int32 of that shape.
pub(super) fn check(inputs: &[StepInput], weights: &[&Tensor]) -> Result<TensorType, String> {
    arity(inputs, weights, 2, 0)?;
    let (a, b) = (&inputs[0].ty, &inputs[1].ty);
    for (t, what) in [(a, "first"), (b, "second")] {
        if !matches!(t.dtype, DType::I8 | DType::I32) {
            return Err(format!("the {what} input must be int8 or int32, got {t}"));
        }
    }
    if a.shape != b.shape {
        return Err(format!("the inputs differ in shape: {a} and {b}"));
    }
    Ok(TensorType::new(DType::I32, a.shape.clone()))
}

/// Element `out`.
pub(super) fn eval(spec: &StepSpec, out: usize, inputs: &[&dyn Elements]) -> i64 {
    let Op::Residual { mult_a, mult_b, shift } = spec.op else { unreachable!() };
    let half = if shift > 0 { 1i64 << (shift - 1) } else { 0 };
    ((inputs[0].get(out) * mult_a + inputs[1].get(out) * mult_b + half) >> shift).clamp(i32::MIN as i64, i32::MAX as i64)
}

#[cfg(test)]
mod tests {
    use crate::reference::eval_all;
    use crate::spec::{Op, StepInput, StepSpec};
    use crate::tensor::Tensor;

    fn run(a: &Tensor, b: &Tensor, mult_a: i64, mult_b: i64, shift: i64) -> Vec<i64> {
        let inputs = vec![StepInput { step: 0, ty: a.ty().clone() }, StepInput { step: 1, ty: b.ty().clone() }];
        let op = Op::Residual { mult_a, mult_b, shift };
        let out = super::check(&inputs, &[]).unwrap();
        eval_all(&StepSpec { op, out, inputs, weights: vec![] }, &[a, b], &[])
    }

    #[test]
    fn sums_round_half_up_into_int32_and_saturate() {
        let a = Tensor::from_i32([4], vec![3, -3, i32::MAX, i32::MIN]).unwrap();
        let b = Tensor::from_i8([4], vec![1, -1, 127, -128]).unwrap();
        // (3·2 + 1·1 + 1) >> 1 = 4; (−6 − 1 + 1) >> 1 = −3; the extremes saturate
        assert_eq!(run(&a, &b, 2, 1, 1), vec![4, -3, i32::MAX as i64, i32::MIN as i64]);
        // s = 0: no rounding term, the exact sum
        assert_eq!(run(&a, &b, 1, 1, 0), vec![4, -4, i32::MAX as i64, i32::MIN as i64]);
        // the largest multipliers and shift stay exact: (2^31 − 1)·2^30·2 < 2^63
        assert_eq!(run(&a, &a, 1 << 30, 1 << 30, 62)[2..], [1, -1]);
    }

    #[test]
    fn the_loader_names_what_is_wrong() {
        let i8s = crate::tensor::TensorType::new(crate::tensor::DType::I8, vec![4]);
        let other = crate::tensor::TensorType::new(crate::tensor::DType::I8, vec![5]);
        let e = super::check(&[StepInput { step: 0, ty: i8s.clone() }, StepInput { step: 1, ty: other }], &[]).unwrap_err();
        assert!(e.contains("differ in shape"), "{e}");
        assert!(Op::from_code(15, &[(1 << 30) + 1, 0, 0]).is_err());
        assert!(Op::from_code(15, &[0, -1, 0]).is_err());
        assert!(Op::from_code(15, &[0, 0, 63]).is_err());
        assert!(Op::from_code(15, &[0, 0]).is_err());
    }
}
