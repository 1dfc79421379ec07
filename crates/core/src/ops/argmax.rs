//! `argmax` (op 9): `y[p]` is the smallest `n` with `x[p, n] = max_k x[p, k]`. Its
//! reduction runs over `k < N` in blocks of 512 terms; the state is `(best, index)`,
//! from `(−2^63, 0)`, taking a term only when strictly greater (so the first
//! maximum wins).

use super::common::{arity, int8_input};
use super::{Reduction, BLOCK};
use super::{StepInput, StepSpec};
use crate::checkpoint::State;
use crate::tensor::Elements;
use crate::tensor::{DType, Tensor, TensorType};
use std::ops::Range;

/// The most terms an argmax has: every index `n < N` fits the int32 output.
pub(super) const MAX_TERMS: u64 = 1 << 31;

/// Fields of the state: `(best, index)`.
pub(super) const FIELDS: usize = 2;

/// x int8 `[..., N]`: int32 `[...]`.
pub(super) fn check(inputs: &[StepInput], weights: &[&Tensor]) -> Result<TensorType, String> {
    arity(inputs, weights, 1, 0)?;
    let xt = int8_input(inputs, "the input")?;
    let (last, lead) = xt.shape.split_last().ok_or("the input must have rank at least 1")?;
    if *last == 0 {
        return Err("the reduced dim is empty".into());
    }
    // the index of the maximum is the int32 output: it must fit
    if *last as u64 > MAX_TERMS {
        return Err(format!("the reduced dim has {last} elements; an argmax is over at most 2^31, so that every index fits its int32 output"));
    }
    Ok(TensorType::new(DType::I32, lead))
}

/// `T = N` terms, blocks of 512.
pub(super) fn reduction(spec: &StepSpec) -> Reduction {
    Reduction { terms: *spec.inputs[0].ty.shape.last().expect("rank >= 1") as u64, block: BLOCK }
}

/// `(−2^63, 0)`.
pub(super) fn init() -> State {
    State(vec![i64::MIN as i128, 0])
}

/// `if x[p, n] > best: (best, index) = (x[p, n], n)`, in increasing `n`.
pub(super) fn fold(spec: &StepSpec, out: usize, terms: Range<u64>, state: &mut [i128], inputs: &[&dyn Elements]) {
    let x = inputs[0];
    let n_len = *spec.inputs[0].ty.shape.last().expect("rank >= 1") as usize;
    for n in terms.start as usize..terms.end as usize {
        let v = x.get(out * n_len + n) as i128;
        if v > state[0] {
            state[0] = v;
            state[1] = n as i128;
        }
    }
}

/// `index`.
pub(super) fn finish(state: &[i128]) -> i64 {
    state[1] as i64
}
