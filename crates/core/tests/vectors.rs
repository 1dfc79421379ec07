//! The shared test vectors in `fixtures/vectors/` (read by `forge test` too) and the
//! hand-built fixture model, regenerated from this code and compared with the
//! committed files. `REFUTE_BLESS=1 cargo test -p refute-core --test vectors`
//! rewrites them after a deliberate change.

use refute_core::checkpoint::element_leaf;
use refute_core::commit::{commit_tensor, data_root, data_tree, trace_tree, ChunkRange, OpenedElements};
use refute_core::hash::{to_hex, Hash};
use refute_core::merkle::{MerkleTree, TreeKind};
use refute_core::reference::{blocks, eval_block, eval_block_with_dependencies, init, state_fields, states_before_blocks, BlockValue, Elements};
use refute_core::testing::{
    every_op_model, layernorm_edge_cases, long_reduction_models, random_input, random_layernorm_model, random_model, random_softmax_model,
    random_token_model, reference_run, residual_edge_cases, softmax_edge_cases, Rng,
};
use refute_core::{Model, Op, State, StepDef, Tensor};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn hashes(h: &[Hash]) -> Vec<String> {
    h.iter().map(to_hex).collect()
}

fn tensor_vector(t: &Tensor) -> Value {
    let bytes = t.canonical_bytes();
    json!({
        "bytes": hex(&bytes),
        "commitment": to_hex(&commit_tensor(t)),
        "dataRoot": to_hex(&data_root(&bytes)),
        "dtype": t.ty().dtype.code(),
        "shape": t.ty().shape,
    })
}

fn multiproof_vector(tree: &MerkleTree, indices: &[usize]) -> Value {
    let kind = match tree.kind() {
        TreeKind::Data => "data",
        TreeKind::Trace => "trace",
        TreeKind::Spec => "spec",
        TreeKind::Checkpoint => "checkpoint",
    };
    let leaves: Vec<Hash> = indices.iter().map(|&i| tree.leaf(i).unwrap()).collect();
    json!({
        "height": tree.height(),
        "indices": indices,
        "kind": kind,
        "leaves": hashes(&leaves),
        "proof": hashes(&tree.prove(indices).unwrap()),
        "root": to_hex(&tree.root()),
    })
}

fn commitments() -> Value {
    let mut rng = Rng::new(0x7e57);
    let mut tensors = vec![
        Tensor::from_i32([], vec![-7]).unwrap(),
        Tensor::from_i8([1], vec![-128]).unwrap(),
        Tensor::from_i8([255], rng.i8s(255)).unwrap(),
        Tensor::from_i8([256], rng.i8s(256)).unwrap(),
        Tensor::from_i8([257], rng.i8s(257)).unwrap(),
        Tensor::from_i8([3, 300], rng.i8s(900)).unwrap(),
        Tensor::from_i8([1, 8, 8], rng.i8s(64)).unwrap(),
        Tensor::from_i32([70], (0..70).map(|i| (i * 2_654_435_761u32 as i64 % 1_000_003) as i32 - 500_000).collect()).unwrap(),
        Tensor::from_i32(
            [10, 3],
            vec![i32::MIN, i32::MAX, 0, -1, 1, 62, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28],
        )
        .unwrap(),
    ];
    tensors.push(Tensor::from_i8([4, 1024], rng.i8s(4096)).unwrap());

    let mut multiproofs = vec![];
    let leaves = |n: usize, rng: &mut Rng| -> Vec<Hash> { (0..n).map(|_| refute_core::hash::keccak(&[&rng.next_u64().to_be_bytes()])).collect() };
    for (kind, n) in [
        (TreeKind::Trace, 1),
        (TreeKind::Trace, 2),
        (TreeKind::Trace, 5),
        (TreeKind::Spec, 10),
        (TreeKind::Data, 13),
        (TreeKind::Data, 16),
        (TreeKind::Checkpoint, 3),
        (TreeKind::Checkpoint, 256),
    ] {
        let tree = MerkleTree::new(kind, leaves(n, &mut rng));
        let width = 1usize << tree.height();
        let mut subsets: Vec<Vec<usize>> = vec![vec![0], vec![width - 1], (0..width).collect()];
        if width > 2 {
            subsets.push(vec![1, width - 2]);
            subsets.push((0..width).filter(|i| i % 3 == 1).collect());
        }
        for s in subsets {
            multiproofs.push(multiproof_vector(&tree, &s));
        }
    }
    let bytes: Vec<u8> = rng.i8s(2000).into_iter().map(|x| x as u8).collect();
    multiproofs.push(multiproof_vector(&data_tree(&bytes), &[0, 2, 7]));

    let models = model_set();
    let mut specs = vec![];
    for m in &models {
        for s in m.steps() {
            specs.push(json!({
                "bytes": hex(&s.spec.encode()),
                "leaf": to_hex(&s.spec.leaf_hash()),
                "op": s.spec.op.code(),
                "outDtype": s.spec.out.dtype.code(),
                "outShape": s.spec.out.shape,
            }));
        }
    }
    let model_vectors: Vec<Value> =
        models.iter().map(|m| json!({"id": to_hex(&m.id()), "specRoot": to_hex(&m.spec_root()), "stepCount": m.step_count()})).collect();
    // checkpoint and element leaves at the edges of a state field's range
    let fields = [0i128, 3, -5, i64::MAX as i128, i64::MIN as i128, 1 << 40];
    let states: Vec<Value> = fields
        .iter()
        .map(|&f| State(vec![f]))
        .chain([State(vec![i64::MIN as i128, 0]), State(vec![-128, 599])])
        .map(|st| json!({"state": hex(&st.encode()), "leaf": to_hex(&st.leaf())}))
        .collect();
    let elements: Vec<Value> =
        [0i64, 3, -1, -128, 127, i32::MIN as i64, i32::MAX as i64].iter().map(|&v| json!({"value": v, "leaf": to_hex(&element_leaf(v))})).collect();
    json!({
        "tensors": tensors.iter().map(tensor_vector).collect::<Vec<_>>(),
        "multiproofs": multiproofs,
        "specs": specs,
        "models": model_vectors,
        "checkpointLeaves": states,
        "elementLeaves": elements,
    })
}

fn model_set() -> Vec<Model> {
    let mut models = vec![every_op_model()];
    for seed in [3u64, 11, 12, 29] {
        models.push(random_model(&mut Rng::new(seed), 8));
    }
    models
}

fn range_vector(r: &ChunkRange) -> Value {
    json!({"first": r.first, "chunks": hex(&r.chunk_bytes()), "proof": hashes(&r.proof)})
}

/// One-step cases: every step of the every-op model, of random models, of the
/// long-reduction models, of random token models, of random softmax and layer norm
/// models and of their edge cases, at the first, last and a middle output element, for the
/// first, a middle and the last block of its reduction (every block of a short one),
/// each folded from the state before it and opened exactly as a challenger would.
fn ops() -> Value {
    let mut rng = Rng::new(0x0b5);
    let mut cases = vec![];
    let mut models = model_set();
    for seed in 100..120u64 {
        models.push(random_model(&mut Rng::new(seed), 6));
    }
    models.extend(long_reduction_models(&mut Rng::new(0x10e6)));
    for seed in 200..216u64 {
        models.push(random_token_model(&mut Rng::new(seed), 6));
    }
    models.extend(short_dot_models());
    for seed in 300..324u64 {
        models.push(random_softmax_model(&mut Rng::new(seed)));
    }
    for seed in 400..424u64 {
        models.push(random_layernorm_model(&mut Rng::new(seed)));
    }
    let mut runs: Vec<(Model, Tensor)> = models
        .into_iter()
        .map(|m| {
            let input = random_input(&mut rng, m.input_type());
            (m, input)
        })
        .collect();
    runs.extend(softmax_edge_cases());
    runs.extend(layernorm_edge_cases());
    runs.extend(residual_edge_cases());
    for (model, input) in &runs {
        let (tensors, _) = run_reference(model, input);
        for (i, step) in model.steps().iter().enumerate().skip(1) {
            let numel = step.spec.out.numel();
            let mut picks = vec![0, numel - 1, numel / 2];
            picks.sort_unstable();
            picks.dedup();
            let n = blocks(&step.spec);
            let mut which: Vec<u64> = if n <= 4 { (0..n).collect() } else { vec![0, 1, n / 2, n - 1] };
            which.dedup();
            for out in picks {
                let ins: Vec<&Tensor> = step.inputs.iter().map(|&j| &tensors[j as usize]).collect();
                let in_e: Vec<&dyn Elements> = ins.iter().map(|t| *t as &dyn Elements).collect();
                let w_e: Vec<&dyn Elements> = step.weights.iter().map(|t| t as &dyn Elements).collect();
                let states = states_before_blocks(&step.spec, out, &in_e, &w_e);
                for &b in &which {
                    let prev = &states[b as usize];
                    let (value, deps) = eval_block_with_dependencies(&step.spec, out, b, prev, &in_e, &w_e);
                    let range = |t: &Tensor, elems: &[usize]| ChunkRange::of_elements(&t.canonical_bytes(), t.ty().dtype, elems);
                    let in_ranges: Vec<ChunkRange> = ins.iter().zip(&deps.inputs).map(|(t, d)| range(t, d)).collect();
                    let w_ranges: Vec<ChunkRange> = step.weights.iter().zip(&deps.weights).map(|(t, d)| range(t, d)).collect();
                    let (last, v) = match &value {
                        BlockValue::Element(v) => (true, *v),
                        BlockValue::State(_) => (false, 0),
                    };
                    cases.push(json!({
                        "name": format!("{}-{}-step{}-out{}-block{}", model.name(), step.spec.op.name(), i, out, b),
                        "spec": hex(&step.spec.encode()),
                        "element": out,
                        "block": b,
                        "blocks": n,
                        "prevState": hex(&if b == 0 { vec![] } else { prev.encode() }),
                        "last": last,
                        "value": v,
                        "leaf": to_hex(&value.leaf()),
                        "inputRoots": ins.iter().map(|t| to_hex(&data_root(&t.canonical_bytes()))).collect::<Vec<_>>(),
                        "inputs": in_ranges.iter().map(range_vector).collect::<Vec<_>>(),
                        "weights": w_ranges.iter().map(range_vector).collect::<Vec<_>>(),
                    }));
                }
            }
        }
    }
    json!({ "cases": cases })
}

/// Linear layers and products over 1 to 4 terms with no bias and a scale that keeps
/// the dot product visible in the element (the verifier reads runs of 2 and 3 bytes
/// term by term; random requant tables mostly saturate such short sums).
fn short_dot_models() -> Vec<Model> {
    let mut rng = Rng::new(0x5d07);
    (1..=4u32)
        .map(|k| {
            let w = Tensor::from_i8([5, k], rng.i8s(5 * k as usize)).unwrap();
            let q = Tensor::from_i32([5, 3], (0..5).flat_map(|_| [0, 1 << 30, 39]).collect()).unwrap();
            let def = |name: &str, op: Op, inputs: Vec<u32>, weights: Vec<(String, Tensor)>, shape: Option<Vec<u32>>| StepDef {
                name: name.into(),
                op,
                inputs,
                weights,
                shape,
                dtype: None,
            };
            let defs = vec![
                def("input", Op::Input, vec![], vec![], Some(vec![2, k])),
                def("fc", Op::Linear { relu: false }, vec![0], vec![("w".into(), w), ("q".into(), q)], None),
                def("xxt", Op::Matmul { transpose_b: true, mult: 1 << 30, shift: 39 }, vec![0, 0], vec![], None),
            ];
            Model::new(format!("short-dot-{k}"), None, defs).unwrap()
        })
        .collect()
}

fn run_reference(model: &Model, input: &Tensor) -> (Vec<Tensor>, Hash) {
    let tensors = reference_run(model, input);
    let commitments: Vec<Hash> = tensors.iter().map(commit_tensor).collect();
    (tensors, trace_tree(&commitments).root())
}

fn check_or_bless(path: &Path, content: &[u8]) {
    if std::env::var("REFUTE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        return;
    }
    let committed = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}; run with REFUTE_BLESS=1 to create it", path.display()));
    assert!(
        committed == content,
        "{} differs from what the code produces; if the change is deliberate, run REFUTE_BLESS=1 cargo test -p refute-core --test vectors",
        path.display()
    );
}

#[test]
fn commitment_vectors_are_current() {
    let text = serde_json::to_string_pretty(&commitments()).unwrap() + "\n";
    check_or_bless(&root().join("fixtures/vectors/commitments.json"), text.as_bytes());
}

#[test]
fn op_vectors_are_current_and_self_consistent() {
    let v = ops();
    // Every case re-evaluates from its ranges alone, as the verifier will.
    let mut ops_seen = std::collections::BTreeSet::new();
    let mut long_seen = std::collections::BTreeSet::new();
    for case in v["cases"].as_array().unwrap() {
        let bytes = |k: &str| hex::decode(&case[k].as_str().unwrap()[2..]).unwrap();
        let spec = refute_core::StepSpec::decode(&bytes("spec")).unwrap();
        ops_seen.insert(spec.op.code());
        let parse = |o: &Value| ChunkRange {
            first: o["first"].as_u64().unwrap(),
            chunks: hex::decode(&o["chunks"].as_str().unwrap()[2..]).unwrap().chunks(256).map(|c| c.try_into().unwrap()).collect(),
            proof: o["proof"].as_array().unwrap().iter().map(|h| refute_core::hash::from_hex(h.as_str().unwrap()).unwrap()).collect(),
        };
        let ins: Vec<ChunkRange> = case["inputs"].as_array().unwrap().iter().map(parse).collect();
        let ws: Vec<ChunkRange> = case["weights"].as_array().unwrap().iter().map(parse).collect();
        for (k, (o, input)) in ins.iter().zip(&spec.inputs).enumerate() {
            let root = refute_core::hash::from_hex(case["inputRoots"][k].as_str().unwrap()).unwrap();
            o.verify(&root, input.ty.byte_len()).unwrap();
        }
        for (o, w) in ws.iter().zip(&spec.weights) {
            o.verify(&w.data_root, w.ty.byte_len()).unwrap();
        }
        let in_e: Vec<OpenedElements> = ins.iter().zip(&spec.inputs).map(|(o, i)| OpenedElements { range: o, dtype: i.ty.dtype }).collect();
        let w_e: Vec<OpenedElements> = ws.iter().zip(&spec.weights).map(|(o, w)| OpenedElements { range: o, dtype: w.ty.dtype }).collect();
        let in_r: Vec<&dyn Elements> = in_e.iter().map(|e| e as &dyn Elements).collect();
        let w_r: Vec<&dyn Elements> = w_e.iter().map(|e| e as &dyn Elements).collect();
        let out = case["element"].as_u64().unwrap() as usize;
        let b = case["block"].as_u64().unwrap();
        assert_eq!(blocks(&spec), case["blocks"].as_u64().unwrap());
        let prev = if b == 0 { init(&spec) } else { State::decode(&bytes("prevState"), state_fields(&spec.op)).unwrap() };
        let value = eval_block(&spec, out, b, &prev, &in_r, &w_r);
        assert_eq!(to_hex(&value.leaf()), case["leaf"].as_str().unwrap(), "{}", case["name"]);
        if let BlockValue::Element(x) = value {
            assert!(case["last"].as_bool().unwrap());
            assert_eq!(x, case["value"].as_i64().unwrap(), "{}", case["name"]);
        }
        if blocks(&spec) > 1 {
            long_seen.insert(spec.op.code());
        }
    }
    let every: std::collections::BTreeSet<u8> = (1..refute_core::ops::NAMES.len() as u8).collect();
    assert_eq!(ops_seen, every, "the vectors cover every op");
    let reducing: std::collections::BTreeSet<u8> = [1, 2, 4, 5, 9, 12, 13, 14].into();
    assert_eq!(long_seen, reducing, "the vectors cover every reducing op with several blocks");
    let text = serde_json::to_string_pretty(&v).unwrap() + "\n";
    check_or_bless(&root().join("fixtures/vectors/ops.json"), text.as_bytes());
}

#[test]
fn hand_built_fixture_is_current() {
    let model = every_op_model();
    let dir = std::env::temp_dir().join(format!("refute-hand-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hand-every-op.json");
    model.save(&path).unwrap();
    for f in ["hand-every-op.json", "hand-every-op.safetensors"] {
        check_or_bless(&root().join("fixtures/models").join(f), &std::fs::read(dir.join(f)).unwrap());
    }
    let loaded = Model::load(&root().join("fixtures/models/hand-every-op.json")).unwrap();
    assert_eq!(loaded.id(), model.id());
    assert!(loaded.steps().iter().any(|s| s.spec.op == Op::Argmax));
}
