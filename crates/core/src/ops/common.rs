//! What several ops share: the one rounding rule, the checks of requantization
//! constants and tables, window geometry, and argument checks.

use super::StepInput;
use crate::tensor::{DType, Tensor, TensorType};

/// Largest multiplier of a requantization (`m ∈ [0, 2^31 - 1]`).
pub const MAX_MULT: i64 = (1 << 31) - 1;
/// Smallest shift of a requantization.
pub const MIN_SHIFT: i64 = 1;
/// Largest shift of a requantization.
pub const MAX_SHIFT: i64 = 62;
/// Largest accumulator magnitude before requantization.
pub const MAX_ACC: i64 = (1 << 31) - 1;
/// Largest product of two int8 values (`-128 · -128`).
pub const MAX_PRODUCT: i64 = 1 << 14;

/// `clamp((acc·m + 2^(s-1)) >> s, lo, 127)`, the one rounding rule.
///
/// Callers keep `|acc| ≤ 2^31 - 1`, `m ∈ [0, 2^31 - 1]`, `s ∈ [1, 62]` (the model
/// loader enforces it), so nothing overflows.
pub fn requant(acc: i64, m: i64, s: i64, lo: i64) -> i64 {
    ((acc * m + (1i64 << (s - 1))) >> s).clamp(lo, 127)
}

/// [`requant`] over a wide accumulator, as a finish computes it from a state: exact
/// for every `|acc| < 2^64`, where a state's fields lie (`docs/commitments.md`).
pub fn requant_wide(acc: i128, m: i64, s: i64, lo: i64) -> i64 {
    ((acc * m as i128 + (1i128 << (s - 1))) >> s).clamp(lo as i128, 127) as i64
}

/// The lower clamp of a requantization: 0 with a fused ReLU, else -128.
pub fn lower(relu: bool) -> i64 {
    if relu {
        0
    } else {
        -128
    }
}

/// Splits a flat index of `shape` into coordinates.
pub fn unravel(mut flat: usize, shape: &[u32]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        let d = d as usize;
        idx[i] = flat % d;
        flat /= d;
    }
    idx
}

/// Checks the counts of inputs and weights an op takes.
pub fn arity(inputs: &[StepInput], weights: &[&Tensor], n_in: usize, n_w: usize) -> Result<(), String> {
    if inputs.len() != n_in {
        return Err(format!("takes {n_in} input(s), got {}", inputs.len()));
    }
    if weights.len() != n_w {
        return Err(format!("takes {n_w} weight tensor(s), got {}", weights.len()));
    }
    Ok(())
}

/// The first input's type, which must be int8.
pub fn int8_input<'a>(inputs: &'a [StepInput], what: &str) -> Result<&'a TensorType, String> {
    let t = &inputs[0].ty;
    if t.dtype != DType::I8 {
        return Err(format!("{what} must be int8, got {t}"));
    }
    Ok(t)
}

/// Both entries of a (height, width) pair at least `min`.
pub fn pair_ok(v: [u32; 2], min: u32, what: &str) -> Result<(), String> {
    if v[0] < min || v[1] < min {
        Err(format!("{what} must be at least {min}, got {v:?}"))
    } else {
        Ok(())
    }
}

/// A requantization multiplier and shift in range.
pub fn check_requant(m: i64, s: i64, what: &str) -> Result<(), String> {
    if !(0..=MAX_MULT).contains(&m) {
        return Err(format!("{what} multiplier {m} is outside [0, 2^31 - 1]"));
    }
    if !(MIN_SHIFT..=MAX_SHIFT).contains(&s) {
        return Err(format!("{what} shift {s} is outside [{MIN_SHIFT}, {MAX_SHIFT}]"));
    }
    Ok(())
}

/// A type of `dtype` and `rank`.
pub fn expect_type(t: &TensorType, dtype: DType, rank: usize, what: &str) -> Result<(), String> {
    if t.dtype != dtype || t.shape.len() != rank {
        return Err(format!("{what} must be {dtype} of rank {rank}, got {t}"));
    }
    Ok(())
}

/// Checks a requant table `Q` ([N, 3]: bias, m, s) and the accumulator bound
/// `k·2^14 + |bias| ≤ 2^31 - 1` for a reduction of length `k`.
pub fn check_requant_table(q: &Tensor, n: u32, k: usize) -> Result<(), String> {
    expect_type(q.ty(), DType::I32, 2, "the requant tensor")?;
    if q.ty().shape != [n, 3] {
        return Err(format!("the requant tensor must be [{n}, 3], got {:?}", q.ty().shape));
    }
    let reduce = (k as i64).saturating_mul(MAX_PRODUCT);
    for row in 0..n as usize {
        let (bias, m, s) = (q.get(3 * row), q.get(3 * row + 1), q.get(3 * row + 2));
        if reduce.saturating_add(bias.abs()) > MAX_ACC {
            return Err(format!("channel {row}: a reduction over {k} products plus bias {bias} can leave the int32 accumulator range"));
        }
        check_requant(m, s, &format!("channel {row}"))?;
    }
    Ok(())
}

/// Output size of a window op along one axis, or an error.
pub fn window_out(len: u32, kernel: u32, stride: u32, pad: u32, axis: &str) -> Result<u32, String> {
    let span = len as i64 + 2 * pad as i64 - kernel as i64;
    if span < 0 {
        return Err(format!("the window ({kernel}) is larger than the padded {axis} ({len} + 2·{pad})"));
    }
    Ok((span / stride as i64) as u32 + 1)
}

/// A shape of at most [`crate::tensor::MAX_RANK`] non-empty dims and at most 2^32 elements.
pub fn check_shape(shape: &[u32]) -> Result<(), String> {
    if shape.len() > crate::tensor::MAX_RANK {
        return Err(format!("rank {} is above the maximum of {}", shape.len(), crate::tensor::MAX_RANK));
    }
    if shape.contains(&0) {
        return Err(format!("shape {shape:?} has an empty dim"));
    }
    let numel = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
    match numel {
        Some(n) if n <= 1 << 32 => Ok(()),
        _ => Err(format!("shape {shape:?} has more than 2^32 elements")),
    }
}

/// A flag parameter's value.
pub fn flag(b: bool) -> i64 {
    b as i64
}
