//! `softmax` (op 13): along the last axis, optionally with a key-padding mask, the
//! exponentials read from a committed integer table of `max − x`:
//!
//! ```text
//! M = max over kept t of x[p, t]      e(t) = E[M − x[p, t]] (0 outside the table or masked)
//! y[p, j] = 0 if S = 0, else min(127, floor((256·e(j) + S) / (2·S))),  S = Σ_t e(t)
//! ```
//!
//! Its reduction has two phases of whole blocks over the row: the first folds the
//! maximum, the second (which reads the maximum from the state) the sum; the state
//! is `(best, acc, mine)` from `(−2^63, 0, 0)`, `mine` keeping the element's own
//! exponential so that the finish reads nothing. So the maximum is never claimed:
//! it is folded like any other reduction and a lie about it is narrowed to one block.

use super::common::arity;
use super::{Op, Params, Reduction, SpecError, StepInput, StepSpec, BLOCK};
use crate::checkpoint::State;
use crate::tensor::{DType, Elements, Tensor, TensorType};
use std::ops::Range;

/// Most entries of the exponential table (`L ≤ 256`): a block reads all of it (at
/// most 1 KiB) whatever the data.
pub const MAX_TABLE: u32 = 256;

/// Largest entry of the exponential table (`E[d] ≤ 2^30`), so that a row sum over
/// `N ≤ 2^31` terms stays below `2^61`.
pub const MAX_EXP: i64 = 1 << 30;

/// Most elements of the reduced axis (`N ≤ 2^31`).
pub const MAX_ROW: u64 = 1 << 31;

/// Fields of the state: `(best, acc, mine)`, `mine` being the element's own `e(j)`.
pub(super) const FIELDS: usize = 3;

/// `[masked, pad]`.
pub(super) fn params(op: &Op) -> Vec<i64> {
    let Op::Softmax { masked, pad } = *op else { unreachable!() };
    vec![masked as i64, pad]
}

/// `masked` a flag; `pad` an int32 value, and 0 when unmasked (one encoding per
/// model).
pub(super) fn from_params(p: &Params<'_>) -> Result<Op, SpecError> {
    p.want(2)?;
    let masked = p.flag(0)?;
    let pad = p.raw(1);
    if !(i32::MIN as i64..=i32::MAX as i64).contains(&pad) || (!masked && pad != 0) {
        return Err(SpecError::Range { what: "param 1 (the pad id: an int32 value, 0 without a mask)".into(), value: pad });
    }
    Ok(Op::Softmax { masked, pad })
}

/// x int8 or int32 `[..., N]`, with a mask the ids int32 `[N]`; E int32 `[L]`,
/// `1 ≤ L ≤ 256`, every entry in `[0, 2^30]`: int8 of x's shape.
pub(super) fn check(op: &Op, inputs: &[StepInput], weights: &[&Tensor]) -> Result<TensorType, String> {
    let Op::Softmax { masked, .. } = *op else { unreachable!() };
    arity(inputs, weights, 1 + masked as usize, 1)?;
    let x = &inputs[0].ty;
    if !matches!(x.dtype, DType::I8 | DType::I32) {
        return Err(format!("the input must be int8 or int32, got {x}"));
    }
    let n = *x.shape.last().ok_or("the input must have rank at least 1")?;
    if n as u64 > MAX_ROW {
        return Err(format!("the reduced dim has {n} elements, above the maximum of 2^31"));
    }
    if masked {
        let ids = &inputs[1].ty;
        if ids.dtype != DType::I32 || ids.shape != [n] {
            return Err(format!("the mask's ids must be int32 [{n}] (one per element of the reduced dim), got {ids}"));
        }
    }
    let e = weights[0];
    if e.ty().dtype != DType::I32 || e.ty().shape.len() != 1 || e.ty().shape[0] > MAX_TABLE {
        return Err(format!("the exponential table must be int32 [L] with 1 ≤ L ≤ {MAX_TABLE}, got {}", e.ty()));
    }
    for d in 0..e.ty().shape[0] as usize {
        let v = e.get(d);
        if !(0..=MAX_EXP).contains(&v) {
            return Err(format!("exponential table entry {d} is {v}, outside [0, 2^30]"));
        }
    }
    Ok(TensorType::new(DType::I8, x.shape.clone()))
}

/// The bytes of x and of the ids one block reads, at most: a block also reads the
/// whole table (up to 1 KiB), so its own runs are kept to half of [`BLOCK`].
pub const BLOCK_BYTES: u64 = BLOCK / 2;

/// Terms per block: `floor(256 / w)`, `w` the bytes one term reads (x's element,
/// and 4 of ids with a mask).
pub fn block_len(x: DType, masked: bool) -> u64 {
    BLOCK_BYTES / (x.size() as u64 + if masked { 4 } else { 0 })
}

/// `T = 2·ceil(N / B)·B` terms: the two phases, each of whole blocks.
pub(super) fn reduction(spec: &StepSpec) -> Reduction {
    let Op::Softmax { masked, .. } = spec.op else { unreachable!() };
    let x = &spec.inputs[0].ty;
    let block = block_len(x.dtype, masked);
    let n = *x.shape.last().expect("rank >= 1") as u64;
    Reduction { terms: 2 * n.div_ceil(block) * block, block }
}

/// `(−2^63, 0, 0)`.
pub(super) fn init() -> State {
    State(vec![i64::MIN as i128, 0, 0])
}

/// `E[d]` for `0 ≤ d < L`, else 0.
fn exp_at(table: &[i64], d: i128) -> i128 {
    if d >= 0 && d < table.len() as i128 {
        table[d as usize] as i128
    } else {
        0
    }
}

/// Phase 1 (`t < P`, `P = T / 2`): `best = max(best, x[p, t])` over kept `t < N`.
/// Phase 2: `acc += e(t)` over `t − P < N`, `e(t) = E[best − x[p, t − P]]` for a
/// kept `t − P` (0 outside the table or masked), and `mine = e(t)` at the element's
/// own position `t − P = j`. Every term reads `x` and (with a mask) the id, and a
/// phase-2 block reads the whole table first, whatever the data: the positions a
/// block reads depend only on the spec, the element and the block.
pub(super) fn fold(spec: &StepSpec, out: usize, terms: Range<u64>, state: &mut [i128], inputs: &[&dyn Elements], weights: &[&dyn Elements]) {
    let Op::Softmax { masked, pad } = spec.op else { unreachable!() };
    let half = reduction(spec).terms / 2;
    let n = *spec.inputs[0].ty.shape.last().expect("rank >= 1") as usize;
    let (row, j) = (out / n * n, out % n);
    let second = terms.start >= half;
    let table: Vec<i64> = if second { (0..spec.weights[0].ty.shape[0] as usize).map(|d| weights[0].get(d)).collect() } else { vec![] };
    let first = if second { terms.start - half } else { terms.start } as usize;
    for t in first..(first + (terms.end - terms.start) as usize).min(n) {
        let x = inputs[0].get(row + t) as i128;
        let kept = !masked || inputs[1].get(t) != pad;
        if !second {
            if kept {
                state[0] = state[0].max(x);
            }
        } else {
            let e = if kept { exp_at(&table, state[0] - x) } else { 0 };
            state[1] += e;
            if t == j {
                state[2] = e;
            }
        }
    }
}

/// `0` when `acc ≤ 0`, else `min(127, floor((256·mine + acc) / (2·acc)))`: round
/// half up of `128·e(j) / S` (a masked element has `mine = 0`, so it is 0).
pub(super) fn finish(state: &[i128]) -> i64 {
    let (acc, mine) = (state[1], state[2]);
    if acc <= 0 {
        return 0;
    }
    ((256 * mine + acc) / (2 * acc)).min(127) as i64
}

#[cfg(test)]
mod tests {
    use crate::reference::{blocks, eval_all};
    use crate::spec::{Op, StepInput, StepSpec};
    use crate::tensor::{DType, Tensor, TensorType};

    fn spec(x: &Tensor, ids: Option<&Tensor>, pad: i64, table: &Tensor) -> StepSpec {
        let mut inputs = vec![StepInput { step: 0, ty: x.ty().clone() }];
        if let Some(ids) = ids {
            inputs.push(StepInput { step: 1, ty: ids.ty().clone() });
        }
        let op = Op::Softmax { masked: ids.is_some(), pad };
        let out = super::check(&op, &inputs, &[table]).unwrap();
        StepSpec { op, out, inputs, weights: vec![crate::commit::TensorHeader::of(table)] }
    }

    fn run(x: &Tensor, ids: Option<&Tensor>, pad: i64, table: &Tensor) -> Vec<i64> {
        let s = spec(x, ids, pad, table);
        let mut ins = vec![x];
        ins.extend(ids);
        eval_all(&s, &ins, &[table])
    }

    #[test]
    fn rows_round_half_up_and_masks_read_zero() {
        let table = Tensor::from_i32([3], vec![1 << 20, 1 << 19, 1 << 18]).unwrap();
        // equal scores: 128/3 = 42.67 -> 43 each; 128·(2/3, 1/3, 0) = (85.3, 42.7, 0)
        let x = Tensor::from_i8([2, 3], vec![5, 5, 5, 9, 8, 0]).unwrap();
        assert_eq!(run(&x, None, 0, &table), vec![43, 43, 43, 85, 43, 0]);
        let x = Tensor::from_i8([1, 3], vec![9, 8, 7]).unwrap();
        // one key kept: 128 saturates to 127
        let ids = Tensor::from_i32([3], vec![4, 0, 0]).unwrap();
        assert_eq!(run(&x, Some(&ids), 0, &table), vec![127, 0, 0]);
        // every key masked: the sum is 0, and so is every element
        let ids = Tensor::from_i32([3], vec![0, 0, 0]).unwrap();
        assert_eq!(run(&x, Some(&ids), 0, &table), vec![0, 0, 0]);
        // the maximum is taken over the kept keys only: 8 is the maximum here
        let ids = Tensor::from_i32([3], vec![0, 1, 1]).unwrap();
        assert_eq!(run(&x, Some(&ids), 0, &table), vec![0, 85, 43]);
    }

    #[test]
    fn two_phases_of_whole_blocks() {
        let table = Tensor::from_i32([1], vec![1]).unwrap();
        let x = Tensor::from_i8([1100], vec![0; 1100]).unwrap();
        assert_eq!(blocks(&spec(&x, None, 0, &table)), 10);
        let x = Tensor::from_i32([1, 32], vec![0; 32]).unwrap();
        let ids = Tensor::from_i32([32], vec![0; 32]).unwrap();
        assert_eq!(blocks(&spec(&x, Some(&ids), 7, &table)), 2);
        assert_eq!(super::block_len(DType::I8, true), 51);
        // int32 extremes: max − x up to 2^32 is outside the table and reads 0
        let x = Tensor::from_i32([1, 2], vec![i32::MAX, i32::MIN]).unwrap();
        assert_eq!(run(&x, None, 0, &table), vec![127, 0]);
    }

    #[test]
    fn the_loader_names_what_is_wrong() {
        let x = Tensor::from_i8([2, 3], vec![0; 6]).unwrap();
        let ok = Tensor::from_i32([2], vec![1, 0]).unwrap();
        let inputs = [StepInput { step: 0, ty: x.ty().clone() }];
        let check = |t: &Tensor| super::check(&Op::Softmax { masked: false, pad: 0 }, &inputs, &[t]).unwrap_err();
        assert!(check(&Tensor::from_i32([257], vec![0; 257]).unwrap()).contains("1 ≤ L ≤ 256"));
        assert!(check(&Tensor::from_i32([2], vec![1, (1 << 30) + 1]).unwrap()).contains("entry 1"));
        assert!(check(&Tensor::from_i32([2], vec![-1, 0]).unwrap()).contains("entry 0"));
        assert!(check(&Tensor::from_i8([2], vec![1, 0]).unwrap()).contains("int32 [L]"));
        let wrong_ids = [StepInput { step: 0, ty: x.ty().clone() }, StepInput { step: 0, ty: TensorType::new(DType::I32, vec![2]) }];
        let e = super::check(&Op::Softmax { masked: true, pad: 0 }, &wrong_ids, &[&ok]).unwrap_err();
        assert!(e.contains("int32 [3]"), "{e}");
    }
}
