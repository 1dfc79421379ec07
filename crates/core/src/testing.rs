//! Test helpers shared by the crates' tests (feature `test-utils`): a small seeded
//! random generator, random valid models over every op, and random inputs.
//!
//! Models are random in structure and in values, with a bias towards the edges the
//! semantics care about: -128, saturation at both ends, zero and maximal
//! multipliers, shifts at both ends of their range.

use crate::model::{Model, StepDef};
use crate::spec::{Op, MAX_MULT};
use crate::tensor::{DType, Tensor, TensorType};

pub use crate::reference::run as reference_run;
pub use crate::sample::{random_input, Rng};

/// A requant table for `n` channels over reductions of length `k`. Mostly chosen so
/// outputs spread over the int8 range; sometimes extreme, to hit saturation, zero
/// multipliers and the ends of the shift range.
pub fn random_requant(rng: &mut Rng, n: usize, k: usize) -> Tensor {
    let max_bias = ((1i64 << 31) - 1 - k as i64 * (1 << 14)).clamp(0, 1 << 20);
    let mut v = Vec::with_capacity(3 * n);
    for _ in 0..n {
        let bias = rng.range(-max_bias, max_bias);
        let (m, s) = match rng.range(0, 9) {
            0 => (rng.range(0, (1 << 31) - 1), rng.range(1, 62)),
            1 => ((1 << 31) - 1, 62),
            2 => (0, rng.range(1, 62)),
            3 => (rng.range(1, 1000), 1),
            _ => {
                // scale ~ 127 / (typical |acc| ~ 128·128·sqrt(k)/4)
                let m = rng.range(1 << 30, (1 << 31) - 1);
                let typical = (128.0 * 128.0 * (k as f64).sqrt() / 4.0).max(1.0);
                let s = (31.0 + typical.log2() - 7.0).round() as i64 + rng.range(-1, 1);
                (m, s.clamp(1, 62))
            }
        };
        v.extend([bias as i32, m as i32, s as i32]);
    }
    Tensor::from_i32([n as u32, 3], v).expect("3·n values")
}

/// The input step of `shape` and `dtype` (int8 when `None`).
fn input(shape: Vec<u32>, dtype: Option<DType>) -> StepDef {
    StepDef { name: "input".into(), op: Op::Input, inputs: vec![], weights: vec![], shape: Some(shape), dtype }
}

fn def(name: String, op: Op, inputs: Vec<u32>, weights: Vec<(String, Tensor)>, shape: Option<Vec<u32>>) -> StepDef {
    StepDef { name, op, inputs, weights, shape, dtype: None }
}

/// A random valid model of up to about `max_steps` steps using every op of the
/// first set, image path (conv, pools, residual add, lut) then vector path (linear,
/// lut, add) and sometimes a final argmax.
pub fn random_model(rng: &mut Rng, max_steps: usize) -> Model {
    let mut defs: Vec<StepDef> = Vec::new();
    let mut shapes: Vec<Vec<u32>> = Vec::new();
    let push = |defs: &mut Vec<StepDef>, shapes: &mut Vec<Vec<u32>>, d: StepDef, shape: Vec<u32>| {
        defs.push(d);
        shapes.push(shape);
        (defs.len() - 1) as u32
    };
    let image = rng.chance(60);
    let mut cur: u32;
    if image {
        // sometimes more channels than one block of a conv holds (`BLOCK` = 512 bytes
        // of input planes): a reduction descent over channels
        let c = if rng.chance(20) { rng.range(7, 12) } else { rng.range(1, 4) } as u32;
        let h = rng.range(1, 9) as u32;
        let w = rng.range(1, 9) as u32;
        cur = push(&mut defs, &mut shapes, def("input".into(), Op::Input, vec![], vec![], Some(vec![c, h, w])), vec![c, h, w]);
        while defs.len() < max_steps / 2 + 1 {
            let s = shapes[cur as usize].clone();
            let (c, h, w) = (s[0], s[1], s[2]);
            let i = defs.len();
            match rng.range(0, 6) {
                0 | 1 => {
                    let o = if rng.chance(20) { rng.range(7, 12) } else { rng.range(1, 5) } as u32;
                    let kh = rng.range(1, h.min(3) as i64) as u32;
                    let kw = rng.range(1, w.min(3) as i64) as u32;
                    let stride = [rng.range(1, 2) as u32, rng.range(1, 2) as u32];
                    let padding = [rng.range(0, (kh / 2) as i64) as u32, rng.range(0, (kw / 2) as i64) as u32];
                    let oh = (h + 2 * padding[0] - kh) / stride[0] + 1;
                    let ow = (w + 2 * padding[1] - kw) / stride[1] + 1;
                    let wt = Tensor::from_i8([o, c, kh, kw], rng.i8s((o * c * kh * kw) as usize)).unwrap();
                    let q = random_requant(rng, o as usize, (c * kh * kw) as usize);
                    let relu = rng.chance(50);
                    cur = push(
                        &mut defs,
                        &mut shapes,
                        def(
                            format!("conv{i}"),
                            Op::Conv2d { stride, padding, relu },
                            vec![cur],
                            vec![(format!("conv{i}.weight"), wt), (format!("conv{i}.requant"), q)],
                            None,
                        ),
                        vec![o, oh, ow],
                    );
                }
                2 => {
                    let kernel = [rng.range(1, h.min(3) as i64) as u32, rng.range(1, w.min(3) as i64) as u32];
                    let stride = [rng.range(1, 2) as u32, rng.range(1, 2) as u32];
                    let padding = [rng.range(0, (kernel[0] / 2) as i64) as u32, rng.range(0, (kernel[1] / 2) as i64) as u32];
                    let oh = (h + 2 * padding[0] - kernel[0]) / stride[0] + 1;
                    let ow = (w + 2 * padding[1] - kernel[1]) / stride[1] + 1;
                    cur = push(
                        &mut defs,
                        &mut shapes,
                        def(format!("maxpool{i}"), Op::MaxPool2d { kernel, stride, padding }, vec![cur], vec![], None),
                        vec![c, oh, ow],
                    );
                }
                3 => {
                    let kernel = [rng.range(1, h as i64) as u32, rng.range(1, w as i64) as u32];
                    let stride = [rng.range(1, 2) as u32, rng.range(1, 2) as u32];
                    let oh = (h - kernel[0]) / stride[0] + 1;
                    let ow = (w - kernel[1]) / stride[1] + 1;
                    let area = (kernel[0] * kernel[1]) as f64;
                    let mult = rng.range(1 << 30, (1 << 31) - 1);
                    let shift = (30.0 + area.log2()).round() as i64 + rng.range(-1, 1);
                    cur = push(
                        &mut defs,
                        &mut shapes,
                        def(format!("avgpool{i}"), Op::AvgPool2d { kernel, stride, mult, shift: shift.clamp(1, 62) }, vec![cur], vec![], None),
                        vec![c, oh, ow],
                    );
                }
                4 => {
                    // a residual add with the latest earlier step of the same shape
                    let other = (0..cur).rev().find(|&j| shapes[j as usize] == s).unwrap_or(cur);
                    let shift = rng.range(1, 31);
                    let m = 1i64 << (shift - 1);
                    let (mult_a, mult_b) = if rng.chance(80) {
                        ((m + rng.range(0, m)).min(MAX_MULT), (m + rng.range(0, m)).min(MAX_MULT))
                    } else {
                        (rng.range(0, (1 << 31) - 1), rng.range(0, (1 << 31) - 1))
                    };
                    cur = push(
                        &mut defs,
                        &mut shapes,
                        def(format!("add{i}"), Op::Add { mult_a, mult_b, shift, relu: rng.chance(50) }, vec![cur, other], vec![], None),
                        s.clone(),
                    );
                }
                5 => {
                    let table = Tensor::from_i8([256], rng.i8s(256)).unwrap();
                    cur = push(
                        &mut defs,
                        &mut shapes,
                        def(format!("lut{i}"), Op::Lut, vec![cur], vec![(format!("lut{i}.table"), table)], None),
                        s.clone(),
                    );
                }
                _ => {
                    cur = push(&mut defs, &mut shapes, def(format!("relu{i}"), Op::Relu, vec![cur], vec![], None), s.clone());
                }
            }
        }
        let n = shapes[cur as usize].iter().product::<u32>();
        let i = defs.len();
        cur = push(&mut defs, &mut shapes, def(format!("flatten{i}"), Op::Reshape, vec![cur], vec![], Some(vec![n])), vec![n]);
    } else {
        // sometimes wider than one block (512 terms): a reduction descent in the linear
        let k = if rng.chance(20) { rng.range(513, 1300) } else { rng.range(1, 40) } as u32;
        cur = push(&mut defs, &mut shapes, def("input".into(), Op::Input, vec![], vec![], Some(vec![k])), vec![k]);
    }
    while defs.len() < max_steps {
        let s = shapes[cur as usize].clone();
        let k = s[0];
        let i = defs.len();
        match rng.range(0, 3) {
            0 | 1 => {
                // sometimes an output wider than one argmax block
                let n = if rng.chance(10) { rng.range(513, 700) } else { rng.range(1, 24) } as u32;
                let wt = Tensor::from_i8([n, k], rng.i8s((n * k) as usize)).unwrap();
                let q = random_requant(rng, n as usize, k as usize);
                cur = push(
                    &mut defs,
                    &mut shapes,
                    def(
                        format!("fc{i}"),
                        Op::Linear { relu: rng.chance(50) },
                        vec![cur],
                        vec![(format!("fc{i}.weight"), wt), (format!("fc{i}.requant"), q)],
                        None,
                    ),
                    vec![n],
                );
            }
            2 => {
                let table = Tensor::from_i8([256], rng.i8s(256)).unwrap();
                cur = push(&mut defs, &mut shapes, def(format!("lut{i}"), Op::Lut, vec![cur], vec![(format!("lut{i}.table"), table)], None), s);
            }
            _ => {
                let other = (0..cur).rev().find(|&j| shapes[j as usize] == s).unwrap_or(cur);
                let shift = rng.range(1, 31);
                let mult_a = rng.range(0, 1i64 << shift).min(MAX_MULT);
                let mult_b = rng.range(0, 1i64 << shift).min(MAX_MULT);
                cur = push(
                    &mut defs,
                    &mut shapes,
                    def(format!("add{i}"), Op::Add { mult_a, mult_b, shift, relu: false }, vec![cur, other], vec![], None),
                    s,
                );
            }
        }
    }
    if rng.chance(50) {
        let i = defs.len();
        push(&mut defs, &mut shapes, def(format!("argmax{i}"), Op::Argmax, vec![cur], vec![], None), vec![]);
    }
    Model::new("random", Some(1.0 / 64.0), defs).expect("random models are valid by construction")
}

/// A requantization `(m, s)` for reductions of length `k`: mostly one that spreads
/// outputs over the int8 range, sometimes the ends of the ranges.
pub fn random_scale(rng: &mut Rng, k: usize) -> (i64, i64) {
    match rng.range(0, 9) {
        0 => (rng.range(0, MAX_MULT), rng.range(1, 62)),
        1 => (MAX_MULT, 62),
        2 => (0, rng.range(1, 62)),
        _ => {
            let typical = (128.0 * 128.0 * (k as f64).sqrt() / 4.0).max(1.0);
            (rng.range(1 << 30, MAX_MULT), ((31.0 + typical.log2() - 7.0).round() as i64 + rng.range(-1, 1)).clamp(1, 62))
        }
    }
}

/// A random permutation of `r` axes.
pub fn random_perm(rng: &mut Rng, r: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..r as u8).collect();
    for i in (1..r).rev() {
        p.swap(i, rng.range(0, i as i64) as usize);
    }
    p
}

/// A random valid model over token ids: an int32 input (`[T]` or `[A, T]`,
/// sometimes permuted while still int32), an embedding (tables of 1 to 48 rows, so
/// that [`random_input`]'s ids fall both inside and outside; rows sometimes wider
/// than a chunk), then heads split off by reshapes and moved by permutes, linear
/// layers over the last axis, tables and adds, and sometimes a final argmax.
pub fn random_token_model(rng: &mut Rng, max_steps: usize) -> Model {
    let ids = if rng.chance(50) { vec![rng.range(1, 6) as u32] } else { vec![rng.range(1, 3) as u32, rng.range(1, 5) as u32] };
    let mut defs =
        vec![StepDef { name: "input".into(), op: Op::Input, inputs: vec![], weights: vec![], shape: Some(ids.clone()), dtype: Some(DType::I32) }];
    let mut shapes = vec![ids];
    let push = |defs: &mut Vec<StepDef>, shapes: &mut Vec<Vec<u32>>, d: StepDef, shape: Vec<u32>| {
        defs.push(d);
        shapes.push(shape);
        (defs.len() - 1) as u32
    };
    let mut cur = 0u32;
    if shapes[0].len() == 2 && rng.chance(40) {
        let s = &shapes[0];
        let out = vec![s[1], s[0]];
        cur = push(&mut defs, &mut shapes, def("ids_t".into(), Op::Permute { perm: vec![1, 0] }, vec![0], vec![], None), out);
    }
    let v = rng.range(1, 48) as u32;
    let d = if rng.chance(15) { rng.range(200, 300) } else { rng.range(1, 24) } as u32;
    let table = Tensor::from_i8([v, d], rng.i8s((v * d) as usize)).unwrap();
    let mut out = shapes[cur as usize].clone();
    out.push(d);
    cur = push(&mut defs, &mut shapes, def("embed".into(), Op::Embedding, vec![cur], vec![("embed.table".into(), table)], None), out);
    let embed = cur;
    while defs.len() < max_steps {
        let s = shapes[cur as usize].clone();
        let last = *s.last().expect("rank >= 1");
        let i = defs.len();
        match rng.range(0, 7) {
            5 | 6 if s.len() >= 2 => {
                // attention's products: x·xᵀ as a transposed operand, or x times its
                // permuted copy [..., K, M] as a plain one (terms M bytes apart)
                let r = s.len();
                let (m, k) = (s[r - 2], s[r - 1]);
                let transpose_b = rng.chance(50);
                let other = if transpose_b {
                    cur
                } else {
                    let mut perm: Vec<u8> = (0..r as u8).collect();
                    perm.swap(r - 2, r - 1);
                    let mut t = s.clone();
                    t.swap(r - 2, r - 1);
                    push(&mut defs, &mut shapes, def(format!("kt{i}"), Op::Permute { perm }, vec![cur], vec![], None), t)
                };
                let (mult, shift) = random_scale(rng, k as usize);
                let mut out = s.clone();
                out[r - 1] = m;
                let j = defs.len();
                cur = push(
                    &mut defs,
                    &mut shapes,
                    def(format!("matmul{j}"), Op::Matmul { transpose_b, mult, shift }, vec![cur, other], vec![], None),
                    out,
                );
            }
            0 => {
                let perm = random_perm(rng, s.len());
                let out = perm.iter().map(|&a| s[a as usize]).collect();
                cur = push(&mut defs, &mut shapes, def(format!("permute{i}"), Op::Permute { perm }, vec![cur], vec![], None), out);
            }
            1 => {
                // heads: the last axis split in two, when it has a divisor
                let heads = (2..=last.min(8)).rev().find(|h| last % h == 0 && rng.chance(60));
                if let (Some(h), true) = (heads, s.len() < 6) {
                    let mut out = s[..s.len() - 1].to_vec();
                    out.extend([h, last / h]);
                    cur = push(&mut defs, &mut shapes, def(format!("heads{i}"), Op::Reshape, vec![cur], vec![], Some(out.clone())), out);
                }
            }
            2 => {
                let n = rng.range(1, 24) as u32;
                let wt = Tensor::from_i8([n, last], rng.i8s((n * last) as usize)).unwrap();
                let q = random_requant(rng, n as usize, last as usize);
                let mut out = s.clone();
                *out.last_mut().expect("rank >= 1") = n;
                let w = vec![(format!("fc{i}.weight"), wt), (format!("fc{i}.requant"), q)];
                cur = push(&mut defs, &mut shapes, def(format!("fc{i}"), Op::Linear { relu: rng.chance(50) }, vec![cur], w, None), out);
            }
            3 => {
                let table = Tensor::from_i8([256], rng.i8s(256)).unwrap();
                cur = push(&mut defs, &mut shapes, def(format!("lut{i}"), Op::Lut, vec![cur], vec![(format!("lut{i}.table"), table)], None), s);
            }
            _ => {
                let other = (embed..cur).rev().find(|&j| shapes[j as usize] == s).unwrap_or(cur);
                let shift = rng.range(1, 31);
                let mult_a = rng.range(0, 1i64 << shift).min(MAX_MULT);
                let mult_b = rng.range(0, 1i64 << shift).min(MAX_MULT);
                cur = push(
                    &mut defs,
                    &mut shapes,
                    def(format!("add{i}"), Op::Add { mult_a, mult_b, shift, relu: false }, vec![cur, other], vec![], None),
                    s,
                );
            }
        }
    }
    if rng.chance(30) {
        let i = defs.len();
        defs.push(def(format!("argmax{i}"), Op::Argmax, vec![cur], vec![], None));
    }
    Model::new("random-tokens", None, defs).expect("random token models are valid by construction")
}

/// An exponential table for `softmax`: mostly `round(2^k·exp(−d/τ))` over a random
/// length, sometimes random entries in `[0, 2^30]`, the largest entries, or a
/// table of one entry.
pub fn random_exp_table(rng: &mut Rng) -> Tensor {
    let max = crate::ops::softmax::MAX_EXP;
    let len = match rng.range(0, 5) {
        0 => 1,
        1 => 256,
        _ => rng.range(2, 256),
    } as usize;
    let values: Vec<i32> = match rng.range(0, 7) {
        0 => (0..len).map(|_| rng.range(0, max) as i32).collect(),
        1 => vec![max as i32; len],
        _ => {
            let (k, tau) = (rng.range(8, 30) as i32, rng.range(1, 64) as f64 / 4.0);
            (0..len).map(|d| ((1i64 << k) as f64 * (-(d as f64) / tau).exp()).round() as i32).collect()
        }
    };
    Tensor::from_i32([len as u32], values).unwrap()
}

/// A random valid model around one `softmax` step, in one of three forms:
///
/// - int8 scores `[..., N]` as the input (rows of 1 to 40 elements, or 500 to 1,100:
///   several blocks per phase), unmasked;
/// - attention's: token ids `[T]`, an embedding, `x·xᵀ`, then the softmax of the
///   scores masked by the ids (a pad id of 0 to 5, which [`random_input`]'s ids
///   often hit; `T` up to 12, or 100 to 300 for several blocks of 51);
/// - int32 values `[N]` (the input itself, int32 extremes included) as the scores
///   `[1, N]`, masked by the same values or not.
pub fn random_softmax_model(rng: &mut Rng) -> Model {
    let table = random_exp_table(rng);
    let long = rng.chance(25);
    let mut defs = vec![];
    let softmax = |inputs: Vec<u32>, masked: bool, pad: i64, table: Tensor| {
        def("softmax".into(), Op::Softmax { masked, pad: if masked { pad } else { 0 } }, inputs, vec![("softmax.table".into(), table)], None)
    };
    let pad = rng.range(0, 5);
    match rng.range(0, 2) {
        0 => {
            let n = if long { rng.range(500, 1100) } else { rng.range(1, 40) } as u32;
            let mut shape: Vec<u32> = (0..rng.range(0, 2)).map(|_| rng.range(1, 3) as u32).collect();
            shape.push(n);
            defs.push(input(shape, None));
            defs.push(softmax(vec![0], false, 0, table));
        }
        1 => {
            let t = if long { rng.range(100, 300) } else { rng.range(1, 12) } as u32;
            let d = rng.range(1, 16) as u32;
            defs.push(input(vec![t], Some(DType::I32)));
            let e = Tensor::from_i8([48, d], rng.i8s(48 * d as usize)).unwrap();
            defs.push(def("embed".into(), Op::Embedding, vec![0], vec![("embed.table".into(), e)], None));
            let (mult, shift) = random_scale(rng, d as usize);
            defs.push(def("scores".into(), Op::Matmul { transpose_b: true, mult, shift }, vec![1, 1], vec![], None));
            defs.push(softmax(vec![2, 0], true, pad, table));
        }
        _ => {
            let n = if long { rng.range(100, 300) } else { rng.range(1, 40) } as u32;
            let masked = rng.chance(50);
            defs.push(input(vec![n], Some(DType::I32)));
            defs.push(def("row".into(), Op::Reshape, vec![0], vec![], Some(vec![1, n])));
            defs.push(softmax(if masked { vec![1, 0] } else { vec![1] }, masked, pad, table));
        }
    }
    Model::new("random-softmax", None, defs).expect("random softmax models are valid by construction")
}

/// `softmax` at its edges, each a model and an input: masks of every key, all but
/// one and none (attention over ids), rows of all −128, all 127 and of one element,
/// and int32 scores at the extremes, masked by themselves.
pub fn softmax_edge_cases() -> Vec<(Model, Tensor)> {
    let exp = Tensor::from_i32([256], (0..256).map(|d| ((1u64 << 30) as f64 * (-(d as f64) / 16.0).exp()).round() as i32).collect()).unwrap();
    let table = |name: &str| vec![(format!("{name}.table"), exp.clone())];
    let embed = Tensor::from_i8([8, 4], (0..32).map(|i| ((i * 41) % 255 - 127) as i8).collect()).unwrap();
    let attention = Model::new(
        "softmax-edge-mask",
        None,
        vec![
            input(vec![6], Some(DType::I32)),
            def("embed".into(), Op::Embedding, vec![0], vec![("embed.table".into(), embed)], None),
            def("scores".into(), Op::Matmul { transpose_b: true, mult: 1 << 30, shift: 37 }, vec![1, 1], vec![], None),
            def("softmax".into(), Op::Softmax { masked: true, pad: 0 }, vec![2, 0], table("softmax"), None),
        ],
    )
    .unwrap();
    let rows = Model::new(
        "softmax-edge-rows",
        Some(1.0 / 16.0),
        vec![input(vec![3, 5], None), def("softmax".into(), Op::Softmax { masked: false, pad: 0 }, vec![0], table("softmax"), None)],
    )
    .unwrap();
    let single = Model::new(
        "softmax-edge-single",
        Some(1.0 / 16.0),
        vec![input(vec![4, 1], None), def("softmax".into(), Op::Softmax { masked: false, pad: 0 }, vec![0], table("softmax"), None)],
    )
    .unwrap();
    let wide = Model::new(
        "softmax-edge-int32",
        None,
        vec![
            input(vec![6], Some(DType::I32)),
            def("row".into(), Op::Reshape, vec![0], vec![], Some(vec![1, 6])),
            def("softmax".into(), Op::Softmax { masked: true, pad: i32::MIN as i64 }, vec![1, 0], table("softmax"), None),
        ],
    )
    .unwrap();
    let ids = |v: Vec<i32>| Tensor::from_i32([6], v).unwrap();
    let i8s = |shape: Vec<u32>, v: Vec<i8>| Tensor::from_i8(shape, v).unwrap();
    vec![
        (attention.clone(), ids(vec![0; 6])),
        (attention.clone(), ids(vec![0, 0, 3, 0, 0, 0])),
        (attention, ids(vec![1, 2, 3, 4, 5, 6])),
        (rows.clone(), i8s(vec![3, 5], [vec![-128; 5], vec![127; 5], vec![127, -128, 0, 126, -127]].concat())),
        (single, i8s(vec![4, 1], vec![-128, 127, 0, 5])),
        (wide.clone(), ids(vec![i32::MIN, i32::MAX, 0, i32::MAX - 1, i32::MIN + 1, -1])),
        (wide, ids(vec![i32::MIN; 6])),
    ]
}

/// A random `layernorm` table: rows `(γ, β)` around `2^shift` times small reals,
/// now and then an int32 extreme.
fn random_affine(rng: &mut Rng, n: u32, shift: i64) -> Tensor {
    let one = 1i64 << shift;
    let mut v = Vec::with_capacity(2 * n as usize);
    for _ in 0..n {
        for bound in [40 * one, 30 * one] {
            let x = rng.range(-bound, bound);
            v.push(match rng.range(0, 40) {
                0 => i32::MIN,
                1 => i32::MAX,
                _ => x.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            });
        }
    }
    Tensor::from_i32([n, 2], v).unwrap()
}

/// The smallest input shift that keeps `N·zmax ≤ 2^28` for rows of `n` elements
/// of `dtype`.
pub fn layernorm_pre(dtype: DType, n: u32) -> i64 {
    (0..=crate::ops::layernorm::MAX_PRE)
        .find(|&p| n as u64 * crate::ops::layernorm::zmax(dtype, p) <= crate::ops::layernorm::MAX_ROW_MAGNITUDE)
        .unwrap_or(31)
}

/// A random valid model around one `layernorm` step, in one of four forms:
/// - int8 rows `[..., N]`, `N` up to 40, or 500 to 1100 for several blocks of 512;
/// - token ids `[T]` through an embedding `[T, D]` (the rows of an encoder);
/// - int8 rows `[R, N]` into an int32 residual stream (`x + x`, then `+ x`, random
///   multipliers and shifts, the largest included) normalized at the smallest input
///   shift the row bound allows;
/// - int32 values `[N]` as one row `[1, N]` at that shift (several blocks of 128
///   when long).
pub fn random_layernorm_model(rng: &mut Rng) -> Model {
    let long = rng.chance(25);
    let shift = rng.range(0, 24);
    let eps = match rng.range(0, 3) {
        0 => 0,
        1 => rng.range(0, 1 << 20),
        _ => 1 << rng.range(0, 56),
    };
    let norm = |inputs: Vec<u32>, pre: i64, affine: Tensor| {
        def("norm".into(), Op::LayerNorm { pre, eps, shift }, inputs, vec![("norm.affine".into(), affine)], None)
    };
    let mut defs = vec![];
    match rng.range(0, 3) {
        0 => {
            let n = if long { rng.range(500, 1100) } else { rng.range(1, 40) } as u32;
            let mut shape: Vec<u32> = (0..rng.range(0, 2)).map(|_| rng.range(1, 3) as u32).collect();
            shape.push(n);
            defs.push(input(shape, None));
            let affine = random_affine(rng, n, shift);
            defs.push(norm(vec![0], rng.range(0, 2), affine));
        }
        1 => {
            let (t, d) = (rng.range(1, 12) as u32, rng.range(1, 40) as u32);
            defs.push(input(vec![t], Some(DType::I32)));
            let e = Tensor::from_i8([48, d], rng.i8s(48 * d as usize)).unwrap();
            defs.push(def("embed".into(), Op::Embedding, vec![0], vec![("embed.table".into(), e)], None));
            let affine = random_affine(rng, d, shift);
            defs.push(norm(vec![1], 0, affine));
        }
        2 => {
            // an int32 residual stream: x + x, then that + x, normalized back to int8
            let n = if long { rng.range(130, 300) } else { rng.range(1, 40) } as u32;
            defs.push(input(vec![rng.range(1, 3) as u32, n], None));
            let residual = |rng: &mut Rng| {
                let shift = rng.range(0, 40);
                let mult = |rng: &mut Rng| match rng.range(0, 5) {
                    0 => 0,
                    1 => crate::ops::residual::MAX_MULT,
                    _ => rng.range(0, 1 << 30) >> rng.range(0, 30),
                };
                Op::Residual { mult_a: mult(rng), mult_b: mult(rng), shift }
            };
            let (first, second) = (residual(rng), residual(rng));
            defs.push(def("stream".into(), first, vec![0, 0], vec![], None));
            defs.push(def("skip".into(), second, vec![1, 0], vec![], None));
            let affine = random_affine(rng, n, shift);
            defs.push(norm(vec![2], layernorm_pre(DType::I32, n), affine));
        }
        _ => {
            let n = if long { rng.range(130, 300) } else { rng.range(1, 40) } as u32;
            defs.push(input(vec![n], Some(DType::I32)));
            defs.push(def("row".into(), Op::Reshape, vec![0], vec![], Some(vec![1, n])));
            let affine = random_affine(rng, n, shift);
            defs.push(norm(vec![1], layernorm_pre(DType::I32, n), affine));
        }
    }
    Model::new("random-layernorm", None, defs).expect("random layer norm models are valid by construction")
}

/// `layernorm` at its edges, each a model and an input: constant rows (`D = 0`, so
/// `r = 1` without eps) of −128, 127 and 0, rows of one element, the largest eps,
/// and int32 rows at the row bound (`N·zmax = 2^28`) of extremes and of values
/// drawn over the whole int32 range.
pub fn layernorm_edge_cases() -> Vec<(Model, Tensor)> {
    let affine = |n: u32| Tensor::from_i32([n, 2], (0..n as i32).flat_map(|d| [(d - 3) * 1000 + 17, d * 513 - 2000]).collect()).unwrap();
    let norm = |name: &str, shape: Vec<u32>, op: Op| {
        let n = *shape.last().unwrap();
        Model::new(name, Some(1.0 / 16.0), vec![input(shape, None), def("norm".into(), op, vec![0], vec![("norm.affine".into(), affine(n))], None)])
            .unwrap()
    };
    let rows = norm("layernorm-edge-rows", vec![4, 6], Op::LayerNorm { pre: 0, eps: 0, shift: 6 });
    let single = norm("layernorm-edge-single", vec![4, 1], Op::LayerNorm { pre: 0, eps: 3, shift: 2 });
    let eps = norm("layernorm-edge-eps", vec![2, 6], Op::LayerNorm { pre: 7, eps: 1 << 56, shift: 0 });
    let wide = Model::new(
        "layernorm-edge-int32",
        None,
        vec![
            input(vec![8], Some(DType::I32)),
            def("row".into(), Op::Reshape, vec![0], vec![], Some(vec![1, 8])),
            def("norm".into(), Op::LayerNorm { pre: 6, eps: 1, shift: 8 }, vec![1], vec![("norm.affine".into(), affine(8))], None),
        ],
    )
    .unwrap();
    let i8s = |shape: Vec<u32>, v: Vec<i8>| Tensor::from_i8(shape, v).unwrap();
    let i32s = |v: Vec<i32>| Tensor::from_i32([8], v).unwrap();
    let mut rng = Rng::new(0x1a7e);
    let mut cases = vec![
        (rows.clone(), i8s(vec![4, 6], [vec![-128; 6], vec![127; 6], vec![0; 6], vec![127, -128, 127, -128, 127, -128]].concat())),
        (rows, i8s(vec![4, 6], rng.i8s(24))),
        (single, i8s(vec![4, 1], vec![-128, 127, 0, 5])),
        (eps.clone(), i8s(vec![2, 6], [vec![-128, 127, -128, 127, 0, 0], vec![-1; 6]].concat())),
        (eps, i8s(vec![2, 6], rng.i8s(12))),
        (wide.clone(), i32s(vec![i32::MIN, i32::MAX, i32::MIN, i32::MAX, i32::MIN, i32::MAX, i32::MIN, i32::MAX])),
        (wide.clone(), i32s(vec![i32::MIN; 8])),
        (wide.clone(), i32s(vec![i32::MAX, 0, 0, 0, 0, 0, 0, 0])),
    ];
    for _ in 0..4 {
        cases.push((wide.clone(), i32s((0..8).map(|_| rng.next_u64() as i32).collect())));
    }
    cases
}

/// `residual` at its edges, each a model and an input: int32 extremes added to
/// themselves and to int8 extremes, with the largest multipliers and the shifts 0
/// (the exact sum, saturating) and 62.
pub fn residual_edge_cases() -> Vec<(Model, Tensor)> {
    let max = crate::ops::residual::MAX_MULT;
    let model = |name: &str, shift: i64| {
        Model::new(
            name,
            None,
            vec![
                input(vec![6], Some(DType::I32)),
                def("twice".into(), Op::Residual { mult_a: max, mult_b: max, shift }, vec![0, 0], vec![], None),
                def("embed".into(), Op::Embedding, vec![0], vec![("embed.table".into(), Tensor::from_i8([2, 1], vec![-128, 127]).unwrap())], None),
                def("flat".into(), Op::Reshape, vec![2], vec![], Some(vec![6])),
                def("mixed".into(), Op::Residual { mult_a: 1, mult_b: max, shift }, vec![1, 3], vec![], None),
            ],
        )
        .unwrap()
    };
    let ids = |v: Vec<i32>| Tensor::from_i32([6], v).unwrap();
    let extremes = ids(vec![i32::MIN, i32::MAX, 0, 1, -1, i32::MIN + 1]);
    let small = ids(vec![1, 0, 1, 0, 1, 0]);
    vec![
        (model("residual-edge-exact", 0), extremes.clone()),
        (model("residual-edge-exact", 0), small.clone()),
        (model("residual-edge-62", 62), extremes),
        (model("residual-edge-62", 62), small),
    ]
}

/// A small model that uses every op once, with weights from simple formulas: the
/// hand-built fixture (`fixtures/models/hand-every-op.json`).
pub fn every_op_model() -> Model {
    let conv_w = Tensor::from_i8([4, 1, 3, 3], (0..36).map(|i| ((i * 37) % 255 - 127) as i8).collect()).unwrap();
    let conv_q = Tensor::from_i32([4, 3], vec![100, 1 << 30, 39, -100, 1 << 30, 39, 0, 1 << 30, 38, 7, 1 << 30, 40]).unwrap();
    let fc_w = Tensor::from_i8([10, 16], (0..160).map(|i| ((i * 53) % 255 - 127) as i8).collect()).unwrap();
    let fc_q = Tensor::from_i32([10, 3], (0..10).flat_map(|n| [n * 300 - 1500, 1 << 30, 37]).collect()).unwrap();
    let table = Tensor::from_i8([256], (0..256i32).map(|i| ((i - 128) / 2 + 10).clamp(-128, 127) as i8).collect()).unwrap();
    let defs = vec![
        def("input".into(), Op::Input, vec![], vec![], Some(vec![1, 8, 8])),
        def(
            "conv".into(),
            Op::Conv2d { stride: [1, 1], padding: [1, 1], relu: false },
            vec![0],
            vec![("conv.weight".into(), conv_w), ("conv.requant".into(), conv_q)],
            None,
        ),
        def("relu".into(), Op::Relu, vec![1], vec![], None),
        def("lut".into(), Op::Lut, vec![2], vec![("lut.table".into(), table)], None),
        def("add".into(), Op::Add { mult_a: 1 << 29, mult_b: 1 << 29, shift: 30, relu: true }, vec![3, 2], vec![], None),
        def("maxpool".into(), Op::MaxPool2d { kernel: [2, 2], stride: [2, 2], padding: [0, 0] }, vec![4], vec![], None),
        def("avgpool".into(), Op::AvgPool2d { kernel: [2, 2], stride: [2, 2], mult: 1 << 30, shift: 32 }, vec![5], vec![], None),
        def("flatten".into(), Op::Reshape, vec![6], vec![], Some(vec![16])),
        def("fc".into(), Op::Linear { relu: false }, vec![7], vec![("fc.weight".into(), fc_w), ("fc.requant".into(), fc_q)], None),
        def("class".into(), Op::Argmax, vec![8], vec![], None),
    ];
    Model::new("hand-every-op", Some(1.0 / 16.0), defs).expect("the hand-built model is valid")
}

/// Models whose every reducing step has an element reduction of several blocks
/// (`docs/semantics.md`, "Reductions"), so that disputes over them need the
/// reduction descent:
///
/// - image: `[4,16,16]` → conv 3x3 (2 blocks of 2 channels) → reshape `[1,2,384]` →
///   maxpool 2x3 with padding (2 blocks of one row) → avgpool `[2,384]` (2 blocks);
/// - vector: `[1100]` → linear to 600 (3 blocks) → lut → argmax over 600 (2 blocks);
/// - rows: `[600,1,1]` → conv 1x1 to 300 channels (3 blocks of 256 one-tap rows) →
///   reshape `[1,300,1]` → maxpool `[300,1]` (2 blocks of 256 rows of one element);
/// - attention: `[2,600]` → `x·xᵀ` (2 blocks of 512) and, through the permute
///   `[600,2]`, the same product with a plain second operand (3 blocks of 256);
/// - softmax: ids `[120]` → embedding `[120,8]` → `x·xᵀ` → softmax masked by the ids
///   (6 blocks of 51: 3 for the maximum, 3 for the sum).
pub fn long_reduction_models(rng: &mut Rng) -> Vec<Model> {
    let conv_w = Tensor::from_i8([3, 4, 3, 3], rng.i8s(108)).unwrap();
    let conv_q = random_requant(rng, 3, 36);
    let image = vec![
        def("input".into(), Op::Input, vec![], vec![], Some(vec![4, 16, 16])),
        def(
            "conv".into(),
            Op::Conv2d { stride: [1, 1], padding: [1, 1], relu: true },
            vec![0],
            vec![("conv.weight".into(), conv_w), ("conv.requant".into(), conv_q)],
            None,
        ),
        def("wide".into(), Op::Reshape, vec![1], vec![], Some(vec![1, 2, 384])),
        def("maxpool".into(), Op::MaxPool2d { kernel: [2, 3], stride: [1, 1], padding: [1, 1] }, vec![2], vec![], None),
        def("avgpool".into(), Op::AvgPool2d { kernel: [2, 384], stride: [1, 1], mult: 1 << 30, shift: 40 }, vec![3], vec![], None),
    ];
    let fc_w = Tensor::from_i8([600, 1100], rng.i8s(660_000)).unwrap();
    let fc_q = random_requant(rng, 600, 1100);
    let table = Tensor::from_i8([256], rng.i8s(256)).unwrap();
    let vector = vec![
        def("input".into(), Op::Input, vec![], vec![], Some(vec![1100])),
        def("fc".into(), Op::Linear { relu: false }, vec![0], vec![("fc.weight".into(), fc_w), ("fc.requant".into(), fc_q)], None),
        def("lut".into(), Op::Lut, vec![1], vec![("lut.table".into(), table)], None),
        def("class".into(), Op::Argmax, vec![2], vec![], None),
    ];
    let pw = Tensor::from_i8([300, 600, 1, 1], rng.i8s(180_000)).unwrap();
    let pq = random_requant(rng, 300, 600);
    let rows = vec![
        def("input".into(), Op::Input, vec![], vec![], Some(vec![600, 1, 1])),
        def(
            "pointwise".into(),
            Op::Conv2d { stride: [1, 1], padding: [0, 0], relu: false },
            vec![0],
            vec![("pw.weight".into(), pw), ("pw.requant".into(), pq)],
            None,
        ),
        def("column".into(), Op::Reshape, vec![1], vec![], Some(vec![1, 300, 1])),
        def("colmax".into(), Op::MaxPool2d { kernel: [300, 1], stride: [1, 1], padding: [0, 0] }, vec![2], vec![], None),
    ];
    let attention = vec![
        def("input".into(), Op::Input, vec![], vec![], Some(vec![2, 600])),
        def("scores".into(), Op::Matmul { transpose_b: true, mult: 1 << 30, shift: 41 }, vec![0, 0], vec![], None),
        def("xt".into(), Op::Permute { perm: vec![1, 0] }, vec![0], vec![], None),
        def("gram".into(), Op::Matmul { transpose_b: false, mult: (1 << 31) - 1, shift: 42 }, vec![0, 2], vec![], None),
    ];
    let embed = Tensor::from_i8([48, 8], rng.i8s(384)).unwrap();
    let exp = Tensor::from_i32([256], (0..256).map(|d| ((1u64 << 30) as f64 * (-(d as f64) / 24.0).exp()).round() as i32).collect()).unwrap();
    let softmax = vec![
        StepDef { name: "input".into(), op: Op::Input, inputs: vec![], weights: vec![], shape: Some(vec![120]), dtype: Some(DType::I32) },
        def("embed".into(), Op::Embedding, vec![0], vec![("embed.table".into(), embed)], None),
        def("scores".into(), Op::Matmul { transpose_b: true, mult: 1 << 30, shift: 38 }, vec![1, 1], vec![], None),
        def("softmax".into(), Op::Softmax { masked: true, pad: 0 }, vec![2, 0], vec![("softmax.table".into(), exp)], None),
    ];
    vec![
        Model::new("long-image", Some(1.0 / 16.0), image).expect("valid"),
        Model::new("long-vector", Some(1.0 / 16.0), vector).expect("valid"),
        Model::new("long-rows", Some(1.0 / 16.0), rows).expect("valid"),
        Model::new("long-attention", Some(1.0 / 16.0), attention).expect("valid"),
        Model::new("long-softmax", None, softmax).expect("valid"),
    ]
}

/// A synthetic MLP where GEMMs dominate: `layers` linear layers of `width` (with
/// fused ReLU), then a 10-way linear head (the benches' `mlp-4096x4`). With `width`
/// above 512 every element's reduction has several blocks, so a dispute over it
/// needs the reduction descent.
pub fn wide_mlp(width: u32, layers: usize) -> Model {
    let mut rng = Rng::new(0x4096);
    let mut defs = vec![StepDef { name: "input".into(), op: Op::Input, inputs: vec![], weights: vec![], shape: Some(vec![width]), dtype: None }];
    for l in 0..=layers {
        let n = if l == layers { 10 } else { width };
        let w = Tensor::from_i8([n, width], rng.i8s((n * width) as usize)).expect("shape matches");
        let q = random_requant(&mut rng, n as usize, width as usize);
        defs.push(StepDef {
            name: format!("fc{l}"),
            op: Op::Linear { relu: l < layers },
            inputs: vec![l as u32],
            weights: vec![(format!("fc{l}.weight"), w), (format!("fc{l}.requant"), q)],
            shape: None,
            dtype: None,
        });
    }
    Model::new(format!("mlp-{width}x{layers}"), None, defs).expect("valid by construction")
}

/// A tensor of type `ty` from values already in its dtype's range.
pub fn tensor_of(ty: &TensorType, values: &[i64]) -> Tensor {
    Tensor::from_values(ty, values)
}
