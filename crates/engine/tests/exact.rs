//! The engine against the scalar reference: every element of every step of random
//! models, with each GEMM backend, thread counts, batch independence, and the edges
//! of exactness.

use proptest::prelude::*;
use refute_core::reference::eval_all;
use refute_core::testing::{
    every_op_model, layernorm_edge_cases, random_input, random_layernorm_model, random_model, random_softmax_model, random_token_model,
    residual_edge_cases, softmax_edge_cases, Rng,
};
use refute_core::{Model, Op, StepDef, Tensor};
use refute_engine::{Engine, EngineError, Gemm, EXACT_BLOCK, INT8_BLOCK};
use std::sync::Arc;

/// Checks every step of every inference of `run` against the scalar reference fed
/// with the engine's own inputs to that step.
fn assert_matches_reference(model: &Model, run: &refute_engine::BatchRun) {
    for sample in 0..run.len() {
        for (i, step) in model.steps().iter().enumerate().skip(1) {
            let inputs: Vec<Tensor> = step.inputs.iter().map(|&j| run.step_tensor(sample, j as usize)).collect();
            let input_refs: Vec<&Tensor> = inputs.iter().collect();
            let weight_refs: Vec<&Tensor> = step.weights.iter().collect();
            let want = eval_all(&step.spec, &input_refs, &weight_refs);
            let got = run.step_tensor(sample, i);
            let got: Vec<i64> = (0..got.numel()).map(|e| got.get(e)).collect();
            assert_eq!(got, want, "sample {sample}, step {i} ({}, {})", step.name, step.spec.op);
        }
    }
}

/// The GEMM backends that are exact on this machine: fp32 blocks always, int8 where
/// its probe passes (the engine never uses it elsewhere).
fn backends() -> Vec<Gemm> {
    let mut v = vec![Gemm::Fp32Blocks];
    match Gemm::Int8.probe(refute_engine::tch::Device::Cpu) {
        Ok(()) => v.push(Gemm::Int8),
        Err(why) => eprintln!("int8 GEMMs not tested here: {why}"),
    }
    v
}

/// A random model of up to about `steps` steps: one in four over token ids
/// (embedding, permutes), one in five around a softmax (masked or not, int8 or
/// int32 scores), one in ten around a layer norm, the others over int8 features.
fn random_any_model(rng: &mut Rng, steps: usize) -> Model {
    match rng.range(0, 19) {
        0..=4 => random_token_model(rng, steps),
        5..=8 => random_softmax_model(rng),
        9..=10 => random_layernorm_model(rng),
        _ => random_model(rng, steps),
    }
}

fn run_random(seed: u64, batch: usize, gemm: Gemm) -> (Model, refute_engine::BatchRun) {
    let mut rng = Rng::new(seed);
    let model = random_any_model(&mut rng, 3 + (seed % 8) as usize);
    let inputs: Vec<Tensor> = (0..batch).map(|_| random_input(&mut rng, model.input_type())).collect();
    let engine = Engine::with_gemm(Arc::new(model.clone()), refute_engine::tch::Device::Cpu, gemm).unwrap();
    let run = engine.run(&inputs).unwrap();
    (model, run)
}

fn engine_with(model: &Model, gemm: Gemm) -> Engine {
    Engine::with_gemm(Arc::new(model.clone()), refute_engine::tch::Device::Cpu, gemm).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_step_equals_the_scalar_reference(seed in any::<u64>(), batch in 1usize..4) {
        for gemm in backends() {
            let (model, run) = run_random(seed, batch, gemm);
            assert_matches_reference(&model, &run);
        }
    }

    #[test]
    fn a_row_does_not_depend_on_its_batch(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let model = Arc::new(random_any_model(&mut rng, 6));
        let inputs: Vec<Tensor> = (0..5).map(|_| random_input(&mut rng, model.input_type())).collect();
        let engine = Engine::cpu(model).unwrap();
        let batched = engine.run(&inputs).unwrap();
        for (i, input) in inputs.iter().enumerate() {
            let (_, alone) = engine.run_one(input).unwrap();
            prop_assert_eq!(&alone, batched.trace(i));
        }
    }
}

#[test]
fn one_and_two_threads_give_the_same_bits() {
    let mut rng = Rng::new(7);
    let mut softmax = Rng::new(0x50f7);
    let softmax =
        std::iter::repeat_with(|| random_softmax_model(&mut softmax)).find(|m| m.steps()[m.steps().len() - 1].spec.out.numel() > 2000).unwrap();
    for model in [random_model(&mut rng, 10), random_token_model(&mut rng, 10), softmax] {
        let model = Arc::new(model);
        let inputs: Vec<Tensor> = (0..16).map(|_| random_input(&mut rng, model.input_type())).collect();
        let engine = Engine::cpu(model).unwrap();
        let before = refute_engine::tch::get_num_threads();
        refute_engine::tch::set_num_threads(1);
        let one = engine.run(&inputs).unwrap();
        refute_engine::tch::set_num_threads(2);
        let two = engine.run(&inputs).unwrap();
        refute_engine::tch::set_num_threads(before);
        assert_eq!(one.traces(), two.traces());
    }
}

/// Token ids at every edge (inside the table, `-1`, `V`, the int32 extremes) through
/// an embedding and a permute of the ids and of the embedded rows, in the engine and
/// the reference.
#[test]
fn token_ids_at_the_edges_equal_the_reference() {
    let table = Tensor::from_i8([5, 3], (0..15).map(|i| (i * 17 % 256 - 128) as i8).collect()).unwrap();
    let defs = vec![
        StepDef {
            name: "input".into(),
            op: Op::Input,
            inputs: vec![],
            weights: vec![],
            shape: Some(vec![2, 4]),
            dtype: Some(refute_core::DType::I32),
        },
        StepDef { name: "ids_t".into(), op: Op::Permute { perm: vec![1, 0] }, inputs: vec![0], weights: vec![], shape: None, dtype: None },
        StepDef { name: "embed".into(), op: Op::Embedding, inputs: vec![1], weights: vec![("e".into(), table)], shape: None, dtype: None },
        StepDef { name: "heads".into(), op: Op::Permute { perm: vec![2, 1, 0] }, inputs: vec![2], weights: vec![], shape: None, dtype: None },
    ];
    let model = Model::new("edge-ids", None, defs).unwrap();
    let ids = |v: [i32; 8]| Tensor::from_i32([2, 4], v.to_vec()).unwrap();
    let inputs = vec![ids([0, 4, 5, -1, i32::MIN, i32::MAX, 2, 3]), ids([5; 8]), ids([0; 8]), ids([i32::MIN; 8])];
    for gemm in backends() {
        let run = engine_with(&model, gemm).run(&inputs).unwrap();
        assert_matches_reference(&model, &run);
        // every id outside [0, 5) embeds as zeros
        assert_eq!((0..24).map(|e| run.step_tensor(1, 2).get(e)).collect::<Vec<_>>(), vec![0; 24]);
    }
}

/// softmax at its edges (`testing::softmax_edge_cases`: masks of every key, all but
/// one and none, rows of −128, of 127 and of one element, int32 extremes), each in a
/// batch with the others of its model, in the engine and the reference.
#[test]
fn softmax_at_the_edges_equals_the_reference() {
    let cases = softmax_edge_cases();
    let mut models: Vec<&Model> = cases.iter().map(|(m, _)| m).collect();
    models.dedup_by_key(|m| m.id());
    for gemm in backends() {
        for model in &models {
            let batch: Vec<Tensor> = cases.iter().filter(|(m, _)| m.id() == model.id()).map(|(_, i)| i.clone()).collect();
            let run = engine_with(model, gemm).run(&batch).unwrap();
            assert_matches_reference(model, &run);
        }
    }
    // a row with every key masked is all zeros; one kept key takes it all (127)
    let (model, _) = &cases[0];
    let run = engine_with(model, Gemm::Fp32Blocks).run(&[cases[0].1.clone(), cases[1].1.clone()]).unwrap();
    let last = model.steps().len() - 1;
    let probs = |s: usize| (0..36).map(|e| run.step_tensor(s, last).get(e)).collect::<Vec<_>>();
    assert_eq!(probs(0), vec![0; 36]);
    assert!(probs(1).chunks(6).all(|row| row == [0, 0, 127, 0, 0, 0]), "{:?}", probs(1));
}

/// layer norm at its edges (`testing::layernorm_edge_cases`: constant rows, rows of
/// one element, the largest eps, int32 rows at the row bound), in the engine and
/// the reference; a constant row is `round(β)` at the scale `2^s` everywhere.
#[test]
fn layernorm_at_the_edges_equals_the_reference() {
    let cases = layernorm_edge_cases();
    let mut models: Vec<&Model> = cases.iter().map(|(m, _)| m).collect();
    models.dedup_by_key(|m| m.id());
    for model in &models {
        let batch: Vec<Tensor> = cases.iter().filter(|(m, _)| m.id() == model.id()).map(|(_, i)| i.clone()).collect();
        let run = engine_with(model, Gemm::Fp32Blocks).run(&batch).unwrap();
        assert_matches_reference(model, &run);
    }
    // rows of −128, of 127 and of 0 are constant: y = round(β / 2^6) (β = 513·d − 2000)
    let (model, input) = &cases[0];
    let run = engine_with(model, Gemm::Fp32Blocks).run(std::slice::from_ref(input)).unwrap();
    let want: Vec<i64> = (0..6).map(|d: i64| ((513 * d - 2000) as f64 / 64.0 + 0.5).floor() as i64).collect();
    for row in 0..3 {
        assert_eq!((0..6).map(|j| run.step_tensor(0, 1).get(6 * row + j)).collect::<Vec<_>>(), want, "row {row}");
    }
}

/// residual adds at their edges (`testing::residual_edge_cases`: int32 extremes with
/// the largest multipliers, exact and at the largest shift), in the engine and the
/// reference.
#[test]
fn residual_at_the_edges_equals_the_reference() {
    let cases = residual_edge_cases();
    for pair in cases.chunks(2) {
        let run = engine_with(&pair[0].0, Gemm::Fp32Blocks).run(&[pair[0].1.clone(), pair[1].1.clone()]).unwrap();
        assert_matches_reference(&pair[0].0, &run);
    }
    // the exact sum saturates: 2^30·(2^31 − 1)·2 is far above int32
    let run = engine_with(&cases[0].0, Gemm::Fp32Blocks).run(std::slice::from_ref(&cases[0].1)).unwrap();
    assert_eq!((0..6).map(|e| run.step_tensor(0, 1).get(e)).collect::<Vec<_>>()[..3], [i32::MIN as i64, i32::MAX as i64, 0]);
}

/// An input of 4096 and one linear layer of 512: 18 chunks per inference.
fn split_model(rng: &mut Rng) -> Arc<Model> {
    let defs = vec![
        StepDef { name: "input".into(), op: Op::Input, inputs: vec![], weights: vec![], shape: Some(vec![4096]), dtype: None },
        StepDef {
            name: "fc".into(),
            op: Op::Linear { relu: true },
            inputs: vec![0],
            weights: vec![
                ("w".into(), Tensor::from_i8([512, 4096], rng.i8s(512 * 4096)).unwrap()),
                ("q".into(), refute_core::testing::random_requant(rng, 512, 4096)),
            ],
            shape: None,
            dtype: None,
        },
    ];
    Arc::new(Model::new("split", None, defs).unwrap())
}

#[test]
fn hashing_threads_give_the_commitments_of_the_definition() {
    // 45 inferences: enough chunks for three threads, and a last unit of work of
    // five inferences
    let mut rng = Rng::new(11);
    let model = split_model(&mut rng);
    let inputs: Vec<Tensor> = (0..45).map(|_| random_input(&mut rng, model.input_type())).collect();
    let one = Engine::cpu(model.clone()).unwrap().with_hash_threads(1).run(&inputs).unwrap();
    for (sample, input) in inputs.iter().enumerate() {
        let by_definition: Vec<_> = (0..model.step_count()).map(|s| refute_core::commit_tensor(&one.step_tensor(sample, s))).collect();
        assert_eq!(one.trace(sample).commitments, by_definition, "sample {sample}");
        assert_eq!(by_definition[0], refute_core::commit_tensor(input));
        assert_eq!(one.trace(sample).root, refute_core::commit::trace_root(&by_definition));
    }
    for threads in [2, 3, 8] {
        let engine = Engine::cpu(model.clone()).unwrap().with_hash_threads(threads);
        assert_eq!(engine.hash_threads(), threads);
        assert_eq!(engine.run(&inputs).unwrap().traces(), one.traces(), "{threads} hashing threads");
    }
}

#[test]
fn a_bad_input_stops_every_hashing_thread() {
    // The hashing threads start before the forward pass finds the bad input: they
    // must give up, and the error must come back rather than the run hanging.
    let mut rng = Rng::new(12);
    let model = split_model(&mut rng);
    let mut inputs: Vec<Tensor> = (0..48).map(|_| random_input(&mut rng, model.input_type())).collect();
    inputs[40] = Tensor::from_i8([4095], rng.i8s(4095)).unwrap();
    for threads in [1, 2, 3] {
        let engine = Engine::cpu(model.clone()).unwrap().with_hash_threads(threads);
        let inputs = inputs.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(engine.run(&inputs).map(|_| ())));
        let err = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the run returns").unwrap_err();
        assert!(matches!(err, EngineError::Input { index: 40, .. }), "{threads} threads: {err}");
    }
}

#[test]
fn the_every_op_model_matches_the_reference() {
    let model = every_op_model();
    let mut rng = Rng::new(1);
    let inputs: Vec<Tensor> = (0..8).map(|_| random_input(&mut rng, model.input_type())).collect();
    for gemm in backends() {
        let run = engine_with(&model, gemm).run(&inputs).unwrap();
        assert_matches_reference(&model, &run);
    }
    let run = Engine::cpu(Arc::new(model.clone())).unwrap().run(&inputs).unwrap();
    assert_eq!(run.len(), inputs.len());
    for (s, input) in inputs.iter().enumerate() {
        assert_eq!(run.trace(s).commitments.len(), model.step_count());
        assert_eq!(run.trace(s).commitments[0], refute_core::commit_tensor(input));
    }
}

/// A linear layer of reduction length `k` over constant inputs and weights.
fn wide_linear(k: u32, (x, last_x): (i8, i8), (w, last_w): (i8, i8)) -> (Model, Tensor) {
    let mut weights = vec![w; k as usize];
    *weights.last_mut().unwrap() = last_w;
    let mut input = vec![x; k as usize];
    *input.last_mut().unwrap() = last_x;
    // m / 2^s = 2^30 / 2^48: the accumulator divided by 2^18, so values near 2^24
    // land mid-range and an error of one unit in the accumulator can show.
    let q = Tensor::from_i32([1, 3], vec![0, 1 << 30, 48]).unwrap();
    let defs = vec![
        StepDef { name: "input".into(), op: Op::Input, inputs: vec![], weights: vec![], shape: Some(vec![k]), dtype: None },
        StepDef {
            name: "fc".into(),
            op: Op::Linear { relu: false },
            inputs: vec![0],
            weights: vec![("w".into(), Tensor::from_i8([1, k], weights).unwrap()), ("q".into(), q)],
            shape: None,
            dtype: None,
        },
    ];
    (Model::new("wide", None, defs).unwrap(), Tensor::from_i8([k], input).unwrap())
}

#[test]
fn reductions_around_the_block_bounds_are_exact() {
    let (e, i) = (EXACT_BLOCK as u32, INT8_BLOCK as u32);
    for k in [e - 1, e, e + 1, 2 * e + 77, 4100, i - 1, i, i + 1] {
        // odd products at the end make odd sums past 2^24, which fp32 cannot hold;
        // 2^16 products of -128·-128 reach 2^30, the int8 backend's bound
        for (x, w) in [((-128, -128), (-128, -128)), ((-128, 1), (-128, 1)), ((127, 127), (127, -1)), ((-128, 3), (127, 3))] {
            let (model, input) = wide_linear(k, x, w);
            for gemm in backends() {
                let run = engine_with(&model, gemm).run(std::slice::from_ref(&input)).unwrap();
                assert_matches_reference(&model, &run);
            }
        }
    }
}

#[test]
fn the_two_backends_give_the_same_traces() {
    let backends = backends();
    for seed in 0..12u64 {
        let mut rng = Rng::new(seed);
        let model = random_model(&mut rng, 8);
        let inputs: Vec<Tensor> = (0..3).map(|_| random_input(&mut rng, model.input_type())).collect();
        let runs: Vec<_> = backends.iter().map(|&g| engine_with(&model, g).run(&inputs).unwrap()).collect();
        for r in &runs[1..] {
            assert_eq!(r.traces(), runs[0].traces(), "seed {seed}");
        }
    }
}

#[test]
fn the_fp32_backend_passes_its_probe_and_detection_picks_an_exact_backend() {
    let cpu = refute_engine::tch::Device::Cpu;
    assert_eq!(Gemm::Fp32Blocks.probe(cpu), Ok(()));
    let picked = Gemm::detect(cpu);
    assert_eq!(picked.probe(cpu), Ok(()));
    assert_eq!(Engine::cpu(Arc::new(every_op_model())).unwrap().gemm(), picked);
}

#[test]
fn the_bound_matters_a_single_fp32_gemm_would_be_wrong() {
    // Shows the edge case above is a real one: past 2^24 an unblocked fp32 GEMM
    // rounds, while the engine (blocked) stays exact.
    let k = 1100i64;
    let mut v = vec![-128.0f32; k as usize];
    v[k as usize - 1] = 1.0;
    let x = refute_engine::tch::Tensor::from_slice(&v).reshape([1, k]);
    let w = refute_engine::tch::Tensor::from_slice(&v).reshape([k, 1]);
    let naive = x.matmul(&w).double_value(&[0, 0]) as i64;
    let exact = (k - 1) * 16384 + 1;
    assert_ne!(naive, exact, "fp32 cannot represent the odd sum {exact}");
    let (model, input) = wide_linear(k as u32, (-128, 1), (-128, 1));
    let run = Engine::cpu(Arc::new(model.clone())).unwrap().run(&[input]).unwrap();
    assert_matches_reference(&model, &run);
}

#[test]
fn an_empty_batch_gives_an_empty_run() {
    let run = Engine::cpu(Arc::new(every_op_model())).unwrap().run(&[]).unwrap();
    assert!(run.is_empty());
    assert!(run.traces().is_empty());
}

#[test]
fn an_input_of_the_wrong_shape_is_refused_by_name() {
    let engine = Engine::cpu(Arc::new(every_op_model())).unwrap();
    let good = Tensor::from_i8([1, 8, 8], vec![0; 64]).unwrap();
    let bad = Tensor::from_i8([64], vec![0; 64]).unwrap();
    match engine.run(&[good, bad]) {
        Err(EngineError::Input { index, .. }) => assert_eq!(index, 1),
        other => panic!("expected an input error, got {other:?}"),
    }
    let err = engine.run(&[Tensor::from_i32([1, 8, 8], vec![0; 64]).unwrap()]).unwrap_err().to_string();
    assert!(err.contains("int32[1, 8, 8]") && err.contains("int8[1, 8, 8]"), "{err}");
}

#[test]
fn large_shapes_match_the_reference() {
    // a 1x1 conv over a large image and a wide linear: more than one chunk per row
    let mut rng = Rng::new(99);
    let c = 3u32;
    let defs = vec![
        StepDef { name: "input".into(), op: Op::Input, inputs: vec![], weights: vec![], shape: Some(vec![c, 40, 40]), dtype: None },
        StepDef {
            name: "pointwise".into(),
            op: Op::Conv2d { stride: [1, 1], padding: [0, 0], relu: true },
            inputs: vec![0],
            weights: vec![
                ("w".into(), Tensor::from_i8([8, c, 1, 1], rng.i8s(8 * c as usize)).unwrap()),
                ("q".into(), refute_core::testing::random_requant(&mut rng, 8, c as usize)),
            ],
            shape: None,
            dtype: None,
        },
        StepDef { name: "flat".into(), op: Op::Reshape, inputs: vec![1], weights: vec![], shape: Some(vec![8 * 1600]), dtype: None },
        StepDef {
            name: "fc".into(),
            op: Op::Linear { relu: false },
            inputs: vec![2],
            weights: vec![
                ("fw".into(), Tensor::from_i8([5, 8 * 1600], rng.i8s(5 * 8 * 1600)).unwrap()),
                ("fq".into(), refute_core::testing::random_requant(&mut rng, 5, 8 * 1600)),
            ],
            shape: None,
            dtype: None,
        },
    ];
    let model = Model::new("large", None, defs).unwrap();
    let inputs: Vec<Tensor> = (0..2).map(|_| random_input(&mut rng, model.input_type())).collect();
    for gemm in backends() {
        let run = engine_with(&model, gemm).run(&inputs).unwrap();
        assert_matches_reference(&model, &run);
    }
}
