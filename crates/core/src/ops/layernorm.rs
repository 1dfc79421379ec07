//! `layernorm` (op 14): layer norm over the last axis, in integers, with one
//! rounding at the end:
//!
//! ```text
//! z_t = x[p, t] >> pre          S1 = Σ_t z_t        S2 = Σ_t z_t²
//! D = N·S2 − S1²                r = isqrt(max(D + eps, 1))        c = N·z_j − S1
//! y[p, j] = clamp(floor((2·(γ_j·c + β_j·r) + r·2^s) / (2·r·2^s)), −128, 127)
//! ```
//!
//! `c / r` is `(z_j − mean) / sqrt(var + eps / N²)`, so `y = round(γ_j·c / r + β_j)`
//! at the scale `2^s`, rounded half up once. Its reduction is one pass of whole
//! blocks over the row with the state `(S1, S2, mine)` from `(0, 0, 0)`, `mine`
//! keeping the element's own `z_j`; the finish reads the element's row of `Q`
//! (`γ_j`, `β_j`).

use super::common::arity;
use super::{Op, Params, Reduction, SpecError, StepInput, StepSpec, BLOCK};
use crate::checkpoint::State;
use crate::tensor::{DType, Elements, Tensor, TensorType};
use std::ops::Range;

/// Fields of the state: `(S1, S2, mine)`.
pub(super) const FIELDS: usize = 3;

/// Bound on `N·zmax` (`zmax` the largest `|x >> pre|` of x's dtype): it keeps
/// every intermediate of the finish below `2^63`.
pub const MAX_ROW_MAGNITUDE: u64 = 1 << 28;

/// Largest `eps` (`2^56`, the size of `D` at the row bound).
pub const MAX_EPS: i64 = 1 << 56;

/// Largest output shift `s`.
pub const MAX_SHIFT: i64 = 32;

/// Largest input shift `pre`.
pub const MAX_PRE: i64 = 31;

/// `[pre, eps, s]`.
pub(super) fn params(op: &Op) -> Vec<i64> {
    let Op::LayerNorm { pre, eps, shift } = *op else { unreachable!() };
    vec![pre, eps, shift]
}

/// `pre ∈ [0, 31]`, `eps ∈ [0, 2^56]`, `s ∈ [0, 32]`.
pub(super) fn from_params(p: &Params<'_>) -> Result<Op, SpecError> {
    p.want(3)?;
    Ok(Op::LayerNorm {
        pre: p.within(0, MAX_PRE, "the input shift, 0 to 31")?,
        eps: p.within(1, MAX_EPS, "eps, 0 to 2^56")?,
        shift: p.within(2, MAX_SHIFT, "the output shift, 0 to 32")?,
    })
}

/// `zmax = 2^max(8w − 1 − pre, 0)`: the largest `|x >> pre|` of an element of `w`
/// bytes.
pub fn zmax(x: DType, pre: i64) -> u64 {
    1 << (8 * x.size() as i64 - 1 - pre).max(0)
}

/// x int8 or int32 `[..., N]`, Q int32 `[N, 2]` (rows `(γ, β)`), `N·zmax ≤ 2^28`:
/// int8 of x's shape.
pub(super) fn check(op: &Op, inputs: &[StepInput], weights: &[&Tensor]) -> Result<TensorType, String> {
    let Op::LayerNorm { pre, .. } = *op else { unreachable!() };
    arity(inputs, weights, 1, 1)?;
    let x = &inputs[0].ty;
    if !matches!(x.dtype, DType::I8 | DType::I32) {
        return Err(format!("the input must be int8 or int32, got {x}"));
    }
    let n = *x.shape.last().ok_or("the input must have rank at least 1")? as u64;
    let magnitude = n.saturating_mul(zmax(x.dtype, pre));
    if magnitude > MAX_ROW_MAGNITUDE {
        return Err(format!(
            "the normalized dim has {n} elements of magnitude up to {} after the input shift {pre}: N·zmax = {magnitude} is above 2^28 (a larger input shift lowers it)",
            zmax(x.dtype, pre)
        ));
    }
    let q = weights[0].ty();
    if q.dtype != DType::I32 || q.shape != [n as u32, 2] {
        return Err(format!("the scale and shift table must be int32 [{n}, 2] (rows of gamma, beta), got {q}"));
    }
    Ok(TensorType::new(DType::I8, x.shape.clone()))
}

/// Terms per block: `floor(512 / w)`, `w` the size of x's element (512 or 128).
pub fn block_len(x: DType) -> u64 {
    BLOCK / x.size() as u64
}

/// `T = N` terms.
pub(super) fn reduction(spec: &StepSpec) -> Reduction {
    let x = &spec.inputs[0].ty;
    Reduction { terms: *x.shape.last().expect("rank >= 1") as u64, block: block_len(x.dtype) }
}

/// `(0, 0, 0)`.
pub(super) fn init() -> State {
    State(vec![0, 0, 0])
}

/// `z = x[p, t] >> pre`: `S1 += z`, `S2 += z²`, and `mine = z` at `t = j`.
pub(super) fn fold(spec: &StepSpec, out: usize, terms: Range<u64>, state: &mut [i128], inputs: &[&dyn Elements]) {
    let Op::LayerNorm { pre, .. } = spec.op else { unreachable!() };
    let n = *spec.inputs[0].ty.shape.last().expect("rank >= 1") as usize;
    let (row, j) = (out / n * n, out % n);
    for t in terms.start as usize..terms.end as usize {
        let z = (inputs[0].get(row + t) >> pre) as i128;
        state[0] += z;
        state[1] += z * z;
        if t == j {
            state[2] = z;
        }
    }
}

/// `floor(sqrt(v))` of `v ≥ 0`.
pub fn isqrt(v: i128) -> i128 {
    (v as u128).isqrt() as i128
}

/// The element from `(S1, S2, mine)` and the element's row `(γ_j, β_j)` of Q; 0
/// for a state no fold reaches (`|S1| > N·zmax`, `S2` outside `[0, N·zmax²]` or
/// `|mine| > zmax`), which keeps every intermediate below `2^63`.
pub(super) fn finish(spec: &StepSpec, out: usize, state: &[i128], weights: &[&dyn Elements]) -> i64 {
    let Op::LayerNorm { pre, eps, shift } = spec.op else { unreachable!() };
    let x = &spec.inputs[0].ty;
    let n = *x.shape.last().expect("rank >= 1") as i128;
    let zm = zmax(x.dtype, pre) as i128;
    let (s1, s2, mine) = (state[0], state[1], state[2]);
    if s1.abs() > n * zm || s2 < 0 || s2 > n * zm * zm || mine.abs() > zm {
        return 0;
    }
    let j = out % n as usize;
    let (gamma, beta) = (weights[0].get(2 * j) as i128, weights[0].get(2 * j + 1) as i128);
    let r = isqrt((n * s2 - s1 * s1 + eps as i128).max(1));
    let c = n * mine - s1;
    let den = r << shift;
    (2 * (gamma * c + beta * r) + den).div_euclid(2 * den).clamp(-128, 127) as i64
}

#[cfg(test)]
mod tests {
    use crate::reference::{blocks, eval_all};
    use crate::spec::{Op, StepInput, StepSpec};
    use crate::tensor::{DType, Tensor, TensorType};

    fn spec(x: &TensorType, q: &Tensor, pre: i64, eps: i64, shift: i64) -> Result<StepSpec, String> {
        let inputs = vec![StepInput { step: 0, ty: x.clone() }];
        let op = Op::LayerNorm { pre, eps, shift };
        let out = super::check(&op, &inputs, &[q])?;
        Ok(StepSpec { op, out, inputs, weights: vec![crate::commit::TensorHeader::of(q)] })
    }

    fn run(x: &Tensor, q: &Tensor, pre: i64, eps: i64, shift: i64) -> Vec<i64> {
        eval_all(&spec(x.ty(), q, pre, eps, shift).unwrap(), &[x], &[q])
    }

    #[test]
    fn rows_are_normalized_and_rounded_once() {
        // x = (1, 3): mean 2, var 1, c = (-2, 2), D = 2·10 − 16 = 4, r = 2: c / r = ∓1;
        // γ = 2^4 (s = 4: 1.0), β = 8 (0.5): y = round(∓1 + 0.5) = (0, 2) half up
        let q = Tensor::from_i32([2, 2], vec![16, 8, 16, 8]).unwrap();
        let x = Tensor::from_i8([2, 2], vec![1, 3, 5, 5]).unwrap();
        // a constant row: D = 0, r = max(0 + 0, 1) = 1 and c = 0: y = round(β) = 1
        assert_eq!(run(&x, &q, 0, 0, 4), vec![0, 2, 1, 1]);
        // eps widens the root: D + eps = 4 + 12 = 16, r = 4: ∓0.5 + 0.5 = (0, 1)
        assert_eq!(run(&x, &q, 0, 12, 4)[..2], [0, 1]);
        // the input shift: (1, 3) >> 1 = (0, 1): c = (-1, 1), D = 1, r = 1
        assert_eq!(run(&x, &q, 1, 0, 4)[..2], [0, 2]);
        // saturation at both ends
        let big = Tensor::from_i32([2, 2], vec![1 << 20, 0, 1 << 20, 0]).unwrap();
        assert_eq!(run(&x, &big, 0, 0, 4)[..2], [-128, 127]);
    }

    #[test]
    fn one_pass_of_whole_blocks_and_the_row_bound() {
        let q = |n: u32| Tensor::from_i32([n, 2], vec![1; 2 * n as usize]).unwrap();
        assert_eq!(blocks(&spec(&TensorType::new(DType::I8, vec![2, 1100]), &q(1100), 0, 1, 0).unwrap()), 3);
        assert_eq!(blocks(&spec(&TensorType::new(DType::I32, vec![200]), &q(200), 24, 1, 0).unwrap()), 2);
        // int32 [64]: zmax = 2^(31 − pre) and N·zmax ≤ 2^28 wants pre ≥ 9
        let e = spec(&TensorType::new(DType::I32, vec![64]), &q(64), 8, 1, 0).unwrap_err();
        assert!(e.contains("above 2^28"), "{e}");
        assert!(spec(&TensorType::new(DType::I32, vec![64]), &q(64), 9, 1, 0).is_ok());
        let e = spec(&TensorType::new(DType::I8, vec![4]), &q(3), 0, 1, 0).unwrap_err();
        assert!(e.contains("int32 [4, 2]"), "{e}");
        // int32 extremes at the row bound stay exact
        let x = Tensor::from_i32([1, 2], vec![i32::MAX, i32::MIN]).unwrap();
        let wide = Tensor::from_i32([2, 2], vec![1 << 30, 1 << 30, i32::MAX, i32::MIN]).unwrap();
        assert_eq!(run(&x, &wide, 4, 1 << 56, 0), vec![127, -128]);
    }

    #[test]
    fn unreachable_states_finish_to_zero() {
        let q = Tensor::from_i32([4, 2], vec![1 << 10, 100, 1 << 10, 100, 1 << 10, 100, 1 << 10, 100]).unwrap();
        let s = spec(&TensorType::new(DType::I8, vec![4]), &q, 0, 0, 0).unwrap();
        let f = |st: [i128; 3]| super::finish(&s, 0, &st, &[&q]);
        assert_eq!(f([4 * 128 + 1, 0, 0]), 0);
        assert_eq!(f([0, -1, 0]), 0);
        assert_eq!(f([0, 4 * 128 * 128 + 1, 0]), 0);
        assert_eq!(f([0, 0, 129]), 0);
        // inside the bounds, an inconsistent state still finishes (D < 0: r = 1)
        assert_eq!(f([100, 0, 0]), -128);
    }
}
