//! The scalar reference: every op of `docs/semantics.md`, one output element at a
//! time, in plain integer arithmetic.
//!
//! It is the oracle the engine is tested against and what the challenger uses to
//! build one-step proofs: [`eval_with_dependencies`] runs the same code over recording sources
//! to learn which input and weight elements one output element reads, so the proof
//! opens exactly the chunks the verifier will read. For that to hold, every op reads
//! the same positions whatever the values (no early exits).

use crate::spec::{Op, StepSpec};
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::collections::BTreeSet;

/// Read access to a tensor's elements by row-major index.
pub trait Elements {
    /// Element `flat`, widened to i64.
    fn get(&self, flat: usize) -> i64;
}

impl Elements for Tensor {
    fn get(&self, flat: usize) -> i64 {
        Tensor::get(self, flat)
    }
}

impl Elements for [i64] {
    fn get(&self, flat: usize) -> i64 {
        self[flat]
    }
}

/// `clamp((acc·m + 2^(s-1)) >> s, lo, 127)`, the one rounding rule.
///
/// Callers keep `|acc| ≤ 2^31 - 1`, `m ∈ [0, 2^31 - 1]`, `s ∈ [1, 62]` (the model
/// loader enforces it), so nothing overflows.
pub fn requant(acc: i64, m: i64, s: i64, lo: i64) -> i64 {
    ((acc * m + (1i64 << (s - 1))) >> s).clamp(lo, 127)
}

fn lower(relu: bool) -> i64 {
    if relu { 0 } else { -128 }
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

/// Output element `out` of a validated step whose inputs and weights are given in
/// the spec's order.
pub fn eval(spec: &StepSpec, out: usize, inputs: &[&dyn Elements], weights: &[&dyn Elements]) -> i64 {
    let in_shape = |i: usize| &spec.inputs[i].ty.shape;
    let w_shape = |i: usize| &spec.weights[i].ty.shape;
    match spec.op {
        Op::Input => panic!("the input step has no computation"),
        Op::Linear { relu } => {
            let (x, w, q) = (inputs[0], weights[0], weights[1]);
            let k_len = *w_shape(0).last().expect("rank 2") as usize;
            let n_len = w_shape(0)[0] as usize;
            let (p, n) = (out / n_len, out % n_len);
            let mut acc = q.get(3 * n);
            for k in 0..k_len {
                acc += x.get(p * k_len + k) * w.get(n * k_len + k);
            }
            requant(acc, q.get(3 * n + 1), q.get(3 * n + 2), lower(relu))
        }
        Op::Conv2d { stride, padding, relu } => {
            let (x, w, q) = (inputs[0], weights[0], weights[1]);
            let [c_len, h, wd] = [in_shape(0)[0], in_shape(0)[1], in_shape(0)[2]].map(|d| d as i64);
            let [kh, kw] = [w_shape(0)[2], w_shape(0)[3]].map(|d| d as i64);
            let idx = unravel(out, &spec.out.shape);
            let (o, i, j) = (idx[0] as i64, idx[1] as i64, idx[2] as i64);
            let mut acc = q.get(3 * o as usize);
            for c in 0..c_len {
                for u in 0..kh {
                    for v in 0..kw {
                        let hi = i * stride[0] as i64 + u - padding[0] as i64;
                        let wi = j * stride[1] as i64 + v - padding[1] as i64;
                        if hi < 0 || hi >= h || wi < 0 || wi >= wd {
                            continue;
                        }
                        let xv = x.get(((c * h + hi) * wd + wi) as usize);
                        let wv = w.get((((o * c_len + c) * kh + u) * kw + v) as usize);
                        acc += xv * wv;
                    }
                }
            }
            requant(acc, q.get(3 * o as usize + 1), q.get(3 * o as usize + 2), lower(relu))
        }
        Op::Relu => inputs[0].get(out).max(0),
        Op::MaxPool2d { kernel, stride, padding } => {
            let x = inputs[0];
            let [h, wd] = [in_shape(0)[1], in_shape(0)[2]].map(|d| d as i64);
            let idx = unravel(out, &spec.out.shape);
            let (c, i, j) = (idx[0] as i64, idx[1] as i64, idx[2] as i64);
            let mut best = i64::MIN;
            for u in 0..kernel[0] as i64 {
                for v in 0..kernel[1] as i64 {
                    let hi = i * stride[0] as i64 + u - padding[0] as i64;
                    let wi = j * stride[1] as i64 + v - padding[1] as i64;
                    if hi < 0 || hi >= h || wi < 0 || wi >= wd {
                        continue;
                    }
                    best = best.max(x.get(((c * h + hi) * wd + wi) as usize));
                }
            }
            best
        }
        Op::AvgPool2d { kernel, stride, mult, shift } => {
            let x = inputs[0];
            let [h, wd] = [in_shape(0)[1], in_shape(0)[2]].map(|d| d as usize);
            let idx = unravel(out, &spec.out.shape);
            let (c, i, j) = (idx[0], idx[1], idx[2]);
            let mut acc = 0;
            for u in 0..kernel[0] as usize {
                for v in 0..kernel[1] as usize {
                    let hi = i * stride[0] as usize + u;
                    let wi = j * stride[1] as usize + v;
                    acc += x.get((c * h + hi) * wd + wi);
                }
            }
            requant(acc, mult, shift, -128)
        }
        Op::Add { mult_a, mult_b, shift, relu } => {
            let acc = inputs[0].get(out) * mult_a + inputs[1].get(out) * mult_b;
            ((acc + (1i64 << (shift - 1))) >> shift).clamp(lower(relu), 127)
        }
        Op::Lut => weights[0].get((inputs[0].get(out) + 128) as usize),
        Op::Reshape => inputs[0].get(out),
        Op::Argmax => {
            let x = inputs[0];
            let n_len = *in_shape(0).last().expect("rank >= 1") as usize;
            let mut best = (i64::MIN, 0usize);
            for n in 0..n_len {
                let v = x.get(out * n_len + n);
                if v > best.0 {
                    best = (v, n);
                }
            }
            best.1 as i64
        }
    }
}

/// Every output element of a step, by [`eval`]: the reference for a whole tensor.
pub fn eval_all(spec: &StepSpec, inputs: &[&Tensor], weights: &[&Tensor]) -> Vec<i64> {
    let ins: Vec<&dyn Elements> = inputs.iter().map(|t| *t as &dyn Elements).collect();
    let ws: Vec<&dyn Elements> = weights.iter().map(|t| *t as &dyn Elements).collect();
    (0..spec.out.numel()).map(|e| eval(spec, e, &ins, &ws)).collect()
}

/// Which elements of each input and weight one output element reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dependencies {
    /// Sorted element indices per input, in the spec's order.
    pub inputs: Vec<Vec<usize>>,
    /// Sorted element indices per weight, in the spec's order.
    pub weights: Vec<Vec<usize>>,
}

struct Recorder<'a> {
    inner: &'a dyn Elements,
    seen: RefCell<BTreeSet<usize>>,
}

impl Elements for Recorder<'_> {
    fn get(&self, flat: usize) -> i64 {
        self.seen.borrow_mut().insert(flat);
        self.inner.get(flat)
    }
}

/// Evaluates output element `out` like [`eval`] and also returns which input and
/// weight elements it read. The positions depend only on the spec and `out`, except
/// for a lookup table, whose entry is chosen by the input's value.
pub fn eval_with_dependencies(
    spec: &StepSpec,
    out: usize,
    inputs: &[&dyn Elements],
    weights: &[&dyn Elements],
) -> (i64, Dependencies) {
    fn rec<'a>(sources: &[&'a dyn Elements]) -> Vec<Recorder<'a>> {
        sources.iter().map(|&inner| Recorder { inner, seen: RefCell::new(BTreeSet::new()) }).collect()
    }
    let ins = rec(inputs);
    let ws = rec(weights);
    let value = {
        let i: Vec<&dyn Elements> = ins.iter().map(|r| r as &dyn Elements).collect();
        let w: Vec<&dyn Elements> = ws.iter().map(|r| r as &dyn Elements).collect();
        eval(spec, out, &i, &w)
    };
    let take = |v: Vec<Recorder>| v.into_iter().map(|r| r.seen.into_inner().into_iter().collect()).collect();
    (value, Dependencies { inputs: take(ins), weights: take(ws) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requant_rounds_half_up_and_saturates() {
        // 5/2 = 2.5 -> 3 ; -5/2 = -2.5 -> -2 ; m = 1, s = 1
        assert_eq!(requant(5, 1, 1, -128), 3);
        assert_eq!(requant(-5, 1, 1, -128), -2);
        assert_eq!(requant(-7, 1, 1, -128), -3);
        assert_eq!(requant(1 << 20, 1, 1, -128), 127);
        assert_eq!(requant(-(1 << 20), 1, 1, -128), -128);
        assert_eq!(requant(-(1 << 20), 1, 1, 0), 0);
        let max_acc = (1i64 << 31) - 1;
        // (2^31 - 1)^2 / 2^62 = 1 - 2^-30 + 2^-62: rounds to 1, and its negation to -1
        assert_eq!(requant(max_acc, max_acc, 62, -128), 1);
        assert_eq!(requant(-max_acc, max_acc, 62, -128), -1);
        assert_eq!(requant(max_acc, max_acc, 31, -128), 127);
    }

    #[test]
    fn unravel_is_row_major() {
        assert_eq!(unravel(23, &[2, 3, 4]), vec![1, 2, 3]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
    }
}
