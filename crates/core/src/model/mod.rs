//! Models: a graph of steps in topological order, loaded from a JSON manifest
//! (module `manifest`) and a safetensors file of integer weights (module `weights`), as
//! `docs/model-format.md` describes, each step validated by its op
//! ([`crate::ops`]) against the bounds of `docs/semantics.md`, and identified by
//! their model id.

pub(crate) mod manifest;
mod weights;

use crate::commit::TensorHeader;
use crate::hash::{keccak, tag, Hash};
use crate::merkle::{MerkleTree, TreeKind};
use crate::spec::{Op, StepInput, StepSpec};
use crate::tensor::{DType, Tensor, TensorType};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `format` field of every manifest.
pub const MANIFEST_FORMAT: &str = "refute-model";
/// The manifest version this code reads and writes.
pub const MANIFEST_VERSION: u64 = 1;
/// Most steps a model may have.
pub const MAX_STEPS: usize = 1 << 16;

/// Why a model could not be loaded or built. Every variant names what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is not valid JSON.
    #[error("{path}: not valid JSON: {msg}")]
    Json {
        /// The manifest.
        path: PathBuf,
        /// The parser's message.
        msg: String,
    },
    /// A manifest field is missing, of the wrong type, out of range or unknown.
    #[error("manifest field `{field}`: {msg}")]
    Field {
        /// Path of the field, e.g. `steps[3].stride`.
        field: String,
        /// What is wrong.
        msg: String,
    },
    /// The weights file is malformed or lacks a tensor.
    #[error("weights: {0}")]
    Weights(String),
    /// A step is inconsistent (shapes, bounds, references).
    #[error("step {index} ({name}, {op}): {msg}")]
    Step {
        /// The step's index.
        index: usize,
        /// The step's name.
        name: String,
        /// The step's op.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
}

fn field_err(field: impl Into<String>, msg: impl Into<String>) -> ModelError {
    ModelError::Field { field: field.into(), msg: msg.into() }
}

/// A step as a model author writes it: an op, the steps it reads and its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct StepDef {
    /// Human-readable name (not committed).
    pub name: String,
    /// The op and its parameters.
    pub op: Op,
    /// Indices of the earlier steps it reads.
    pub inputs: Vec<u32>,
    /// Weights as (tensor name in the weights file, tensor), in the op's order.
    pub weights: Vec<(String, Tensor)>,
    /// The output shape, for `input` and `reshape` (the others infer it).
    pub shape: Option<Vec<u32>>,
    /// The output dtype, for `input` only (int8 when `None`; int32 for token ids).
    pub dtype: Option<DType>,
}

/// A validated step: its canonical spec and its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Human-readable name.
    pub name: String,
    /// The canonical spec (what the model id commits to).
    pub spec: StepSpec,
    /// The weights in the spec's order.
    pub weights: Vec<Tensor>,
    /// The weights' names in the weights file.
    pub weight_names: Vec<String>,
    /// Steps whose tensors this step reads.
    pub inputs: Vec<u32>,
}

/// A validated model with its id.
#[derive(Debug, Clone)]
pub struct Model {
    name: String,
    input_scale: Option<f64>,
    metadata: Map<String, Value>,
    steps: Vec<Step>,
    spec_tree: MerkleTree,
    id: Hash,
}

/// The model id: `keccak256(0x06 ‖ stepCount:u32 ‖ specRoot)`.
pub fn model_id(step_count: u32, spec_root: &Hash) -> Hash {
    keccak(&[&[tag::MODEL], &step_count.to_be_bytes(), spec_root])
}

impl Model {
    /// Validates `defs` (step 0 must be the input) and builds the model.
    pub fn new(name: impl Into<String>, input_scale: Option<f64>, defs: Vec<StepDef>) -> Result<Model, ModelError> {
        if defs.is_empty() {
            return Err(field_err("steps", "a model needs at least its input step"));
        }
        if defs.len() > MAX_STEPS {
            return Err(field_err("steps", format!("{} steps is above the maximum of {MAX_STEPS}", defs.len())));
        }
        if let Some(s) = input_scale
            && !(s.is_finite() && s > 0.0)
        {
            return Err(field_err("input_scale", format!("must be a positive number, got {s}")));
        }
        let mut steps: Vec<Step> = Vec::with_capacity(defs.len());
        for (index, def) in defs.into_iter().enumerate() {
            let fail = |msg: String| ModelError::Step { index, name: def.name.clone(), op: def.op.name(), msg };
            if (index == 0) != (def.op == Op::Input) {
                return Err(fail("step 0 and only step 0 is the `input` op".into()));
            }
            let mut inputs = Vec::with_capacity(def.inputs.len());
            for &i in &def.inputs {
                if i as usize >= index {
                    return Err(fail(format!("input {i} is not an earlier step")));
                }
                inputs.push(StepInput { step: i, ty: steps[i as usize].spec.out.clone() });
            }
            let weights: Vec<&Tensor> = def.weights.iter().map(|(_, t)| t).collect();
            let out = crate::ops::check(&def.op, &inputs, &weights, def.shape.as_deref(), def.dtype).map_err(fail)?;
            crate::ops::check_provable(&def.op, &inputs, &weights, &out).map_err(fail)?;
            let spec = StepSpec { op: def.op.clone(), out, inputs, weights: weights.iter().map(|t| TensorHeader::of(t)).collect() };
            steps.push(Step {
                name: def.name,
                spec,
                weight_names: def.weights.iter().map(|(n, _)| n.clone()).collect(),
                weights: def.weights.into_iter().map(|(_, t)| t).collect(),
                inputs: def.inputs,
            });
        }
        let spec_tree = MerkleTree::new(TreeKind::Spec, steps.iter().map(|s| s.spec.leaf_hash()).collect());
        let id = model_id(steps.len() as u32, &spec_tree.root());
        Ok(Model { name: name.into(), input_scale, metadata: Map::new(), steps, spec_tree, id })
    }

    /// Loads and validates a model from its manifest (the weights file is found
    /// relative to the manifest).
    pub fn load(manifest: &Path) -> Result<Model, ModelError> {
        let text = std::fs::read_to_string(manifest).map_err(|source| ModelError::Io { path: manifest.to_path_buf(), source })?;
        let json: Value = serde_json::from_str(&text).map_err(|e| ModelError::Json { path: manifest.to_path_buf(), msg: e.to_string() })?;
        let dir = manifest.parent().unwrap_or(Path::new("."));
        manifest::parse(&json, |file| {
            let path = dir.join(file);
            let bytes = std::fs::read(&path).map_err(|source| ModelError::Io { path: path.clone(), source })?;
            read_safetensors(&bytes)
        })
    }

    /// Writes the manifest to `manifest` and the weights next to it as
    /// `<stem>.safetensors`.
    pub fn save(&self, manifest: &Path) -> Result<(), ModelError> {
        let stem = manifest.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
        let weights_file = format!("{stem}.safetensors");
        let json = manifest::to_json(self, &weights_file);
        let dir = manifest.parent().unwrap_or(Path::new("."));
        let mut tensors: BTreeMap<String, &Tensor> = BTreeMap::new();
        for step in &self.steps {
            for (n, t) in step.weight_names.iter().zip(&step.weights) {
                tensors.insert(n.clone(), t);
            }
        }
        let bytes = write_safetensors(&tensors)?;
        let io = |path: PathBuf| move |source| ModelError::Io { path, source };
        std::fs::write(dir.join(&weights_file), bytes).map_err(io(dir.join(&weights_file)))?;
        let text = serde_json::to_string_pretty(&json).expect("a JSON value serialises") + "\n";
        std::fs::write(manifest, text).map_err(io(manifest.to_path_buf()))
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The float scale of the input (for quantizing float inputs on the client), if known.
    pub fn input_scale(&self) -> Option<f64> {
        self.input_scale
    }

    /// Free-form metadata from the manifest (labels, accuracy, provenance); not committed.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }

    /// Replaces the free-form metadata.
    pub fn set_metadata(&mut self, metadata: Map<String, Value>) {
        self.metadata = metadata;
    }

    /// The steps, step 0 being the input.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Number of steps (= number of trace leaves).
    pub fn step_count(&self) -> usize {
        self.steps.len()
    }

    /// The input type (step 0's output).
    pub fn input_type(&self) -> &TensorType {
        &self.steps[0].spec.out
    }

    /// The output type (the last step's output).
    pub fn output_type(&self) -> &TensorType {
        &self.steps.last().expect("at least the input").spec.out
    }

    /// The spec tree.
    pub fn spec_tree(&self) -> &MerkleTree {
        &self.spec_tree
    }

    /// The spec root.
    pub fn spec_root(&self) -> Hash {
        self.spec_tree.root()
    }

    /// The model id.
    pub fn id(&self) -> Hash {
        self.id
    }

    /// Number of weight elements.
    pub fn parameter_count(&self) -> usize {
        self.steps.iter().flat_map(|s| &s.weights).map(Tensor::numel).sum()
    }
}

pub use crate::ops::MAX_ELEMENTS;
pub use weights::{read_safetensors, write_safetensors};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn weights() -> HashMap<String, Tensor> {
        let mut w = HashMap::new();
        w.insert("fc.w".into(), Tensor::from_i8([3, 4], (0..12).map(|i| i as i8 - 6).collect()).unwrap());
        w.insert("fc.q".into(), Tensor::from_i32([3, 3], vec![5, 1 << 30, 36, -5, 1 << 30, 36, 0, 1 << 30, 36]).unwrap());
        w
    }

    fn manifest() -> Value {
        json!({
            "format": "refute-model", "version": 1, "name": "tiny", "weights": "tiny.safetensors",
            "input_scale": 0.5,
            "steps": [
                {"op": "input", "shape": [4]},
                {"op": "linear", "inputs": [0], "weight": "fc.w", "requant": "fc.q", "relu": true},
                {"op": "argmax", "inputs": [1]}
            ]
        })
    }

    #[test]
    fn a_valid_manifest_loads_and_round_trips() {
        let m = manifest::parse_with(&manifest(), weights()).unwrap();
        assert_eq!(m.step_count(), 3);
        assert_eq!(m.output_type(), &TensorType::new(DType::I32, []));
        assert_eq!(m.parameter_count(), 21);
        let dir = tempdir();
        let path = dir.join("tiny.json");
        m.save(&path).unwrap();
        let again = Model::load(&path).unwrap();
        assert_eq!(again.id(), m.id());
        assert_eq!(again.steps(), m.steps());
        assert_eq!(again.input_scale(), Some(0.5));
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("refute-model-test-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn error_of(edit: impl FnOnce(&mut Value), w: HashMap<String, Tensor>) -> String {
        let mut j = manifest();
        edit(&mut j);
        manifest::parse_with(&j, w).unwrap_err().to_string()
    }

    #[test]
    fn every_malformed_field_is_named() {
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|j| j["format"] = json!("onnx")), "manifest field `format`"),
            (Box::new(|j| j["version"] = json!(2)), "manifest field `version`"),
            (Box::new(|j| j["colour"] = json!(1)), "manifest field `colour`: unknown field"),
            (Box::new(|j| j["steps"][1]["relu"] = json!("yes")), "`steps[1].relu`"),
            (Box::new(|j| j["steps"][1]["weight"] = json!("nope")), "`steps[1].weight`: no tensor `nope`"),
            (Box::new(|j| j["steps"][1]["stride"] = json!([1, 1])), "`steps[1].stride`: unknown field"),
            (Box::new(|j| j["steps"][1]["op"] = json!("lstm")), "unknown op `lstm`"),
            (Box::new(|j| j["steps"][1]["inputs"] = json!([1])), "input 1 is not an earlier step"),
            (Box::new(|j| j["steps"][0]["shape"] = json!([5])), "the input's last dim must be K = 4"),
            (Box::new(|j| j["steps"][0]["shape"] = json!([0])), "manifest field `steps[0].shape`"),
            (Box::new(|j| j["steps"][2] = json!({"op": "input", "shape": [1]})), "step 0 and only step 0"),
            (Box::new(|j| j["input_scale"] = json!(-1.0)), "`input_scale`"),
            (Box::new(|j| j["steps"][1].as_object_mut().unwrap().remove("requant").map(|_| ()).unwrap()), "`steps[1].requant`: missing"),
        ];
        for (edit, want) in cases {
            let got = error_of(edit, weights());
            assert!(got.contains(want), "expected `{want}` in `{got}`");
        }
    }

    #[test]
    fn out_of_range_weights_are_refused() {
        let mut w = weights();
        w.insert("fc.q".into(), Tensor::from_i32([3, 3], vec![5, 1 << 30, 63, -5, 1 << 30, 36, 0, 1 << 30, 36]).unwrap());
        assert!(error_of(|_| {}, w).contains("channel 0 shift 63"));
        let mut w = weights();
        w.insert("fc.q".into(), Tensor::from_i32([3, 3], vec![i32::MAX, 1, 36, 0, 1, 36, 0, 1, 36]).unwrap());
        assert!(error_of(|_| {}, w).contains("accumulator"));
        let mut w = weights();
        w.insert("fc.q".into(), Tensor::from_i32([3, 3], vec![0, -1, 36, 0, 1, 36, 0, 1, 36]).unwrap());
        assert!(error_of(|_| {}, w).contains("multiplier -1"));
        let mut w = weights();
        w.insert("fc.w".into(), Tensor::from_i32([3, 4], vec![0; 12]).unwrap());
        assert!(error_of(|_| {}, w).contains("the weight must be int8"));
    }

    /// `input [shape]` then one step `op` over it with `weights`.
    fn one_step(shape: Vec<u32>, op: Op, weights: Vec<(String, Tensor)>) -> Result<Model, ModelError> {
        let defs = vec![
            StepDef { name: "input".into(), op: Op::Input, inputs: vec![], weights: vec![], shape: Some(shape), dtype: None },
            StepDef { name: "wide".into(), op, inputs: vec![0], weights, shape: None, dtype: None },
        ];
        Model::new("bounds", None, defs)
    }

    fn conv_weights(o: u32, c: u32, kh: u32, kw: u32) -> Vec<(String, Tensor)> {
        let w = Tensor::from_i8([o, c, kh, kw], vec![1; (o * c * kh * kw) as usize]).unwrap();
        let q = Tensor::from_i32([o, 3], (0..o).flat_map(|_| [0, 1 << 30, 30]).collect()).unwrap();
        vec![("w".into(), w), ("q".into(), q)]
    }

    #[test]
    fn steps_a_one_step_proof_cannot_hold_are_refused_and_named() {
        let conv = |padding| Op::Conv2d { stride: [1, 1], padding, relu: false };
        let err = |r: Result<Model, ModelError>| r.unwrap_err().to_string();
        // more taps per channel than one block holds
        let e = err(one_step(vec![1, 32, 32], conv([0, 0]), conv_weights(1, 1, 23, 23)));
        assert!(e.contains("step 1 (wide, conv2d)") && e.contains("529 taps") && e.contains("512"), "{e}");
        // a one-channel window spanning more of its plane than a proof opens
        let e = err(one_step(vec![1, 4, 2048], conv([0, 0]), conv_weights(1, 1, 3, 3)));
        assert!(e.contains("spans 4099 bytes") && e.contains("2048"), "{e}");
        // a one-channel window of more rows than a block reads (300 rows of one tap)
        let e = err(one_step(vec![1, 300, 6], conv([0, 0]), conv_weights(1, 1, 300, 1)));
        assert!(e.contains("300 rows") && e.contains("256"), "{e}");
        // an output of more than 2^32 elements (a 1x1 kernel over a hugely padded pixel)
        let e = err(one_step(vec![1, 1, 1], conv([32768, 32768]), conv_weights(1, 1, 1, 1)));
        assert!(e.contains("more than 2^32 elements"), "{e}");
        // a pooling window row wider than a block
        let pool = Op::MaxPool2d { kernel: [1, 600], stride: [1, 1], padding: [0, 0] };
        let e = err(one_step(vec![1, 1, 600], pool, vec![]));
        assert!(e.contains("window row of 600") && e.contains("maxpool2d"), "{e}");
        let pool = Op::AvgPool2d { kernel: [1, 513], stride: [1, 1], mult: 1 << 30, shift: 39 };
        assert!(err(one_step(vec![1, 1, 600], pool, vec![])).contains("window row of 513"));
        // at the bounds they are accepted: 512 taps, a span of exactly 2048 bytes, 256
        // rows, pooling rows of 512
        one_step(vec![1, 32, 32], conv([0, 0]), conv_weights(1, 1, 16, 32)).unwrap();
        one_step(vec![1, 2, 2046], conv([0, 0]), conv_weights(1, 1, 2, 2)).unwrap_or_else(|e| panic!("{e}"));
        one_step(vec![1, 256, 8], conv([0, 0]), conv_weights(1, 1, 256, 1)).unwrap_or_else(|e| panic!("{e}"));
        one_step(vec![1, 1, 512], Op::MaxPool2d { kernel: [1, 512], stride: [1, 1], padding: [0, 0] }, vec![]).unwrap();
        // an argmax whose index could not fit its int32 output; at 2^31 it fits
        let e = err(one_step(vec![(1 << 31) + 1], Op::Argmax, vec![]));
        assert!(e.contains("argmax") && e.contains("2147483649 elements") && e.contains("2^31"), "{e}");
        one_step(vec![1 << 31], Op::Argmax, vec![]).unwrap_or_else(|e| panic!("{e}"));
        // and a linear layer of any width is provable: it only has more blocks
        let k = 131_071;
        let w = Tensor::from_i8([2, k], vec![1; 2 * k as usize]).unwrap();
        let q = Tensor::from_i32([2, 3], vec![0, 1 << 30, 40, 0, 1 << 30, 40]).unwrap();
        let m = one_step(vec![k], Op::Linear { relu: false }, vec![("w".into(), w), ("q".into(), q)]).unwrap();
        assert_eq!(crate::reference::blocks(&m.steps()[1].spec), 256);
    }

    /// A manifest of int32 ids `[2, 3]`, an embedding of a `[5, 4]` table and a
    /// permute of the embedded rows.
    fn token_manifest() -> (Value, HashMap<String, Tensor>) {
        let j = json!({
            "format": "refute-model", "version": 1, "name": "tokens", "weights": "w.safetensors",
            "steps": [
                {"op": "input", "shape": [2, 3], "dtype": "int32"},
                {"op": "embedding", "inputs": [0], "table": "emb"},
                {"op": "permute", "inputs": [1], "perm": [2, 0, 1]}
            ]
        });
        let w = HashMap::from([("emb".to_string(), Tensor::from_i8([5, 4], (0..20).map(|i| i as i8 - 10).collect()).unwrap())]);
        (j, w)
    }

    #[test]
    fn token_ids_embed_and_permute_as_defined() {
        let (j, w) = token_manifest();
        let m = manifest::parse_with(&j, w.clone()).unwrap();
        assert_eq!(m.input_type(), &TensorType::new(DType::I32, [2, 3]));
        assert_eq!(m.steps()[1].spec.out, TensorType::new(DType::I8, [2, 3, 4]));
        assert_eq!(m.steps()[2].spec.out, TensorType::new(DType::I8, [4, 2, 3]));
        // ids inside the table read their row; any other id (negative, V, the int32
        // extremes) reads zeros
        let ids = Tensor::from_i32([2, 3], vec![4, -1, 5, i32::MIN, 0, i32::MAX]).unwrap();
        let out = crate::reference::run(&m, &ids);
        let row = |r: i64| (0..4).map(move |d| r * 4 + d - 10);
        let want: Vec<i64> = row(4).chain([0; 12]).chain(row(0)).chain([0; 4]).collect();
        assert_eq!((0..24).map(|e| out[1].get(e)).collect::<Vec<_>>(), want);
        // y[d, a, t] = x[a, t, d]
        for e in 0..24 {
            let (d, a, t) = (e / 6, (e / 3) % 2, e % 3);
            assert_eq!(out[2].get(e), want[(a * 3 + t) * 4 + d]);
        }
        // the dtype round-trips through the manifest; an int8 input writes none
        let back = manifest::to_json(&m, "w.safetensors");
        assert_eq!(back["steps"][0]["dtype"], json!("int32"));
        assert_eq!(manifest::parse_with(&back, w).unwrap().id(), m.id());
        assert!(manifest::to_json(&manifest::parse_with(&manifest(), weights()).unwrap(), "w")["steps"][0].get("dtype").is_none());
    }

    #[test]
    fn malformed_token_steps_are_refused_by_name() {
        let err = |edit: &dyn Fn(&mut Value), w: HashMap<String, Tensor>| {
            let (mut j, _) = token_manifest();
            edit(&mut j);
            manifest::parse_with(&j, w).unwrap_err().to_string()
        };
        let (_, w) = token_manifest();
        let e = err(&|j| j["steps"][0]["dtype"] = json!("int16"), w.clone());
        assert!(e.contains("steps[0].dtype") && e.contains("int16"), "{e}");
        let e = err(&|j| j["steps"][0]["dtype"] = json!("int8"), w.clone());
        assert!(e.contains("step 1") && e.contains("embedding") && e.contains("ids must be int32"), "{e}");
        let e = err(&|j| j["steps"][2]["perm"] = json!([0, 0, 1]), w.clone());
        assert!(e.contains("steps[2].perm") && e.contains("each axis"), "{e}");
        let e = err(&|j| j["steps"][2]["perm"] = json!([1, 0]), w.clone());
        assert!(e.contains("step 2") && e.contains("permute") && e.contains("2 axes"), "{e}");
        let e = err(&|j| j["steps"][1]["dtype"] = json!("int32"), w.clone());
        assert!(e.contains("steps[1].dtype") && e.contains("unknown field"), "{e}");
        let bad = HashMap::from([("emb".to_string(), Tensor::from_i32([5, 4], vec![0; 20]).unwrap())]);
        let e = err(&|_| {}, bad);
        assert!(e.contains("the table must be int8 of rank 2"), "{e}");
        let flat = HashMap::from([("emb".to_string(), Tensor::from_i8([20], vec![0; 20]).unwrap())]);
        assert!(err(&|_| {}, flat).contains("the table must be int8 of rank 2"));
    }

    #[test]
    fn model_id_depends_on_every_spec_and_the_count() {
        let base = manifest::parse_with(&manifest(), weights()).unwrap();
        let relu_off = manifest::parse_with(
            &{
                let mut j = manifest();
                j["steps"][1]["relu"] = json!(false);
                j
            },
            weights(),
        )
        .unwrap();
        assert_ne!(base.id(), relu_off.id());
        let mut w = weights();
        w.insert("fc.w".into(), Tensor::from_i8([3, 4], vec![1; 12]).unwrap());
        assert_ne!(manifest::parse_with(&manifest(), w).unwrap().id(), base.id());
        assert_eq!(base.id(), model_id(3, &base.spec_root()));
        assert_ne!(base.id(), model_id(4, &base.spec_root()));
    }
}
