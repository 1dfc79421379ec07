//! Models: a graph of steps in topological order, loaded from a JSON manifest and a
//! safetensors file of integer weights (`docs/model-format.md`), validated against
//! the bounds of `docs/semantics.md`, and identified by their model id.

use crate::commit::TensorHeader;
use crate::hash::{keccak, tag, Hash};
use crate::merkle::{MerkleTree, TreeKind};
use crate::reference::{conv_channels_per_block, BLOCK, MAX_BLOCK_ROWS, MAX_CONV_SPAN};
use crate::spec::{Op, StepInput, StepSpec, MAX_ACC, MAX_MULT, MAX_PRODUCT, MAX_SHIFT, MIN_SHIFT};
use crate::tensor::{DType, Tensor, TensorType, MAX_RANK};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
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
            let out = check_step(&def.op, &inputs, &weights, def.shape.as_deref()).map_err(fail)?;
            check_provable(&def.op, &inputs, &weights, &out).map_err(fail)?;
            let spec = StepSpec {
                op: def.op.clone(),
                out,
                inputs,
                weights: weights.iter().map(|t| TensorHeader::of(t)).collect(),
            };
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
        let text = std::fs::read_to_string(manifest)
            .map_err(|source| ModelError::Io { path: manifest.to_path_buf(), source })?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| ModelError::Json { path: manifest.to_path_buf(), msg: e.to_string() })?;
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

fn pair_ok(v: [u32; 2], min: u32, what: &str) -> Result<(), String> {
    if v[0] < min || v[1] < min { Err(format!("{what} must be at least {min}, got {v:?}")) } else { Ok(()) }
}

fn check_requant(m: i64, s: i64, what: &str) -> Result<(), String> {
    if !(0..=MAX_MULT).contains(&m) {
        return Err(format!("{what} multiplier {m} is outside [0, 2^31 - 1]"));
    }
    if !(MIN_SHIFT..=MAX_SHIFT).contains(&s) {
        return Err(format!("{what} shift {s} is outside [{MIN_SHIFT}, {MAX_SHIFT}]"));
    }
    Ok(())
}

fn expect_type(t: &TensorType, dtype: DType, rank: usize, what: &str) -> Result<(), String> {
    if t.dtype != dtype || t.shape.len() != rank {
        return Err(format!("{what} must be {dtype} of rank {rank}, got {t}"));
    }
    Ok(())
}

/// Checks a requant table `Q` ([N, 3]: bias, m, s) and the accumulator bound
/// `k·2^14 + |bias| ≤ 2^31 - 1` for a reduction of length `k`.
fn check_requant_table(q: &Tensor, n: u32, k: usize) -> Result<(), String> {
    expect_type(q.ty(), DType::I32, 2, "the requant tensor")?;
    if q.ty().shape != [n, 3] {
        return Err(format!("the requant tensor must be [{n}, 3], got {:?}", q.ty().shape));
    }
    let reduce = (k as i64).saturating_mul(MAX_PRODUCT);
    for row in 0..n as usize {
        let (bias, m, s) = (q.get(3 * row), q.get(3 * row + 1), q.get(3 * row + 2));
        if reduce.saturating_add(bias.abs()) > MAX_ACC {
            return Err(format!(
                "channel {row}: a reduction over {k} products plus bias {bias} can leave the int32 accumulator range"
            ));
        }
        check_requant(m, s, &format!("channel {row}"))?;
    }
    Ok(())
}

/// Output size of a window op along one axis, or an error.
fn window_out(len: u32, kernel: u32, stride: u32, pad: u32, axis: &str) -> Result<u32, String> {
    let span = len as i64 + 2 * pad as i64 - kernel as i64;
    if span < 0 {
        return Err(format!("the window ({kernel}) is larger than the padded {axis} ({len} + 2·{pad})"));
    }
    Ok((span / stride as i64) as u32 + 1)
}

/// Validates one step and returns its output type (`docs/semantics.md`).
fn check_step(op: &Op, inputs: &[StepInput], weights: &[&Tensor], shape: Option<&[u32]>) -> Result<TensorType, String> {
    let arity = |n_in: usize, n_w: usize| -> Result<(), String> {
        if inputs.len() != n_in {
            return Err(format!("takes {n_in} input(s), got {}", inputs.len()));
        }
        if weights.len() != n_w {
            return Err(format!("takes {n_w} weight tensor(s), got {}", weights.len()));
        }
        Ok(())
    };
    if shape.is_some() && !matches!(op, Op::Input | Op::Reshape) {
        return Err("only `input` and `reshape` take a shape".into());
    }
    let x = inputs.first().map(|i| &i.ty);
    let int8_input = |what: &str| -> Result<&TensorType, String> {
        let t = x.expect("arity checked");
        if t.dtype != DType::I8 {
            return Err(format!("{what} must be int8, got {t}"));
        }
        Ok(t)
    };
    match op {
        Op::Input => {
            arity(0, 0)?;
            let shape = shape.ok_or("the input step needs a shape")?;
            check_shape(shape)?;
            Ok(TensorType::new(DType::I8, shape))
        }
        Op::Linear { .. } => {
            arity(1, 2)?;
            let xt = int8_input("the input")?;
            if xt.shape.is_empty() {
                return Err("the input must have rank at least 1".into());
            }
            expect_type(weights[0].ty(), DType::I8, 2, "the weight")?;
            let [n, k] = [weights[0].ty().shape[0], weights[0].ty().shape[1]];
            if xt.shape.last() != Some(&k) {
                return Err(format!("the input's last dim must be K = {k}, got {xt}"));
            }
            check_requant_table(weights[1], n, k as usize)?;
            let mut out = xt.shape.clone();
            *out.last_mut().expect("rank >= 1") = n;
            Ok(TensorType::new(DType::I8, out))
        }
        Op::Conv2d { stride, padding, .. } => {
            arity(1, 2)?;
            let xt = int8_input("the input")?;
            expect_type(xt, DType::I8, 3, "the input")?;
            expect_type(weights[0].ty(), DType::I8, 4, "the weight")?;
            let w = &weights[0].ty().shape;
            let (o, c, kh, kw) = (w[0], w[1], w[2], w[3]);
            if xt.shape[0] != c {
                return Err(format!("the input has {} channels, the weight expects {c}", xt.shape[0]));
            }
            pair_ok(*stride, 1, "stride")?;
            let oh = window_out(xt.shape[1], kh, stride[0], padding[0], "height")?;
            let ow = window_out(xt.shape[2], kw, stride[1], padding[1], "width")?;
            check_requant_table(weights[1], o, c as usize * kh as usize * kw as usize)?;
            Ok(TensorType::new(DType::I8, [o, oh, ow]))
        }
        Op::Relu => {
            arity(1, 0)?;
            Ok(int8_input("the input")?.clone())
        }
        Op::MaxPool2d { kernel, stride, padding } => {
            arity(1, 0)?;
            let xt = int8_input("the input")?;
            expect_type(xt, DType::I8, 3, "the input")?;
            pair_ok(*kernel, 1, "kernel")?;
            pair_ok(*stride, 1, "stride")?;
            if padding[0] > kernel[0] / 2 || padding[1] > kernel[1] / 2 {
                return Err(format!("padding {padding:?} must be at most half the kernel {kernel:?}"));
            }
            let oh = window_out(xt.shape[1], kernel[0], stride[0], padding[0], "height")?;
            let ow = window_out(xt.shape[2], kernel[1], stride[1], padding[1], "width")?;
            Ok(TensorType::new(DType::I8, [xt.shape[0], oh, ow]))
        }
        Op::AvgPool2d { kernel, stride, mult, shift } => {
            arity(1, 0)?;
            let xt = int8_input("the input")?;
            expect_type(xt, DType::I8, 3, "the input")?;
            pair_ok(*kernel, 1, "kernel")?;
            pair_ok(*stride, 1, "stride")?;
            if kernel[0] as u64 * kernel[1] as u64 > 1 << 16 {
                return Err(format!("a window of {kernel:?} is above 2^16 elements"));
            }
            check_requant(*mult, *shift, "the")?;
            let oh = window_out(xt.shape[1], kernel[0], stride[0], 0, "height")?;
            let ow = window_out(xt.shape[2], kernel[1], stride[1], 0, "width")?;
            Ok(TensorType::new(DType::I8, [xt.shape[0], oh, ow]))
        }
        Op::Add { mult_a, mult_b, shift, .. } => {
            arity(2, 0)?;
            let a = int8_input("the first input")?;
            if inputs[1].ty != *a {
                return Err(format!("the inputs differ in type: {a} and {}", inputs[1].ty));
            }
            check_requant(*mult_a, *shift, "the first operand's")?;
            check_requant(*mult_b, *shift, "the second operand's")?;
            Ok(a.clone())
        }
        Op::Lut => {
            arity(1, 1)?;
            let xt = int8_input("the input")?;
            if *weights[0].ty() != TensorType::new(DType::I8, [256]) {
                return Err(format!("the table must be int8[256], got {}", weights[0].ty()));
            }
            Ok(xt.clone())
        }
        Op::Reshape => {
            arity(1, 0)?;
            let xt = x.expect("arity checked");
            let shape = shape.ok_or("reshape needs a target shape")?;
            check_shape(shape)?;
            let out = TensorType::new(xt.dtype, shape);
            if out.numel() != xt.numel() {
                return Err(format!("cannot reshape {xt} ({} elements) to {shape:?}", xt.numel()));
            }
            Ok(out)
        }
        Op::Argmax => {
            arity(1, 0)?;
            let xt = int8_input("the input")?;
            let (last, lead) = xt.shape.split_last().ok_or("the input must have rank at least 1")?;
            if *last == 0 {
                return Err("the reduced dim is empty".into());
            }
            Ok(TensorType::new(DType::I32, lead))
        }
    }
}

/// Most elements of any tensor of a model (`docs/semantics.md`, "Bounds").
pub const MAX_ELEMENTS: u64 = 1 << 32;

/// The bounds that keep every one-step proof of the step within its gas budget
/// whatever the step's width (`docs/semantics.md`, "Bounds the loader enforces").
fn check_provable(op: &Op, inputs: &[StepInput], weights: &[&Tensor], out: &TensorType) -> Result<(), String> {
    let elements = |t: &TensorType| t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64)).filter(|&n| n <= MAX_ELEMENTS);
    if elements(out).is_none() {
        return Err(format!("the output {out} has more than 2^32 elements, the most a one-step proof can address"));
    }
    for (i, w) in weights.iter().enumerate() {
        if elements(w.ty()).is_none() {
            return Err(format!("weight {i} ({}) has more than 2^32 elements", w.ty()));
        }
    }
    match op {
        Op::Conv2d { .. } => {
            let x = &inputs[0].ty.shape;
            let w = &weights[0].ty().shape;
            let (h, wd) = (x[1] as u64, x[2] as u64);
            let (kh, kw) = (w[2] as u64, w[3] as u64);
            if kh * kw > BLOCK {
                return Err(format!("a kernel of {kh}x{kw} = {} taps per channel is above the {BLOCK} one block of a one-step proof holds", kh * kw));
            }
            if conv_channels_per_block(h * wd, kh * kw, kh) == 1 {
                let span = (kh.min(h) - 1) * wd + kw.min(wd);
                if span > MAX_CONV_SPAN {
                    return Err(format!(
                        "one channel's window spans {span} bytes of its {h}x{wd} input plane, above the {MAX_CONV_SPAN} a one-step proof opens"
                    ));
                }
                if kh.min(h) > MAX_BLOCK_ROWS {
                    return Err(format!("one channel's window has {} rows inside its plane, above the {MAX_BLOCK_ROWS} one block of a one-step proof reads", kh.min(h)));
                }
            }
        }
        Op::MaxPool2d { kernel, .. } | Op::AvgPool2d { kernel, .. } if kernel[1] as u64 > BLOCK => {
            return Err(format!("a window row of {} elements is above the {BLOCK} one block of a one-step proof holds", kernel[1]));
        }
        _ => {}
    }
    Ok(())
}

fn check_shape(shape: &[u32]) -> Result<(), String> {
    if shape.len() > MAX_RANK {
        return Err(format!("rank {} is above the maximum of {MAX_RANK}", shape.len()));
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

/// Reads the int8 and int32 tensors of a safetensors file (little-endian there).
pub fn read_safetensors(bytes: &[u8]) -> Result<HashMap<String, Tensor>, ModelError> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| ModelError::Weights(e.to_string()))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let shape: Vec<u32> = view
            .shape()
            .iter()
            .map(|&d| u32::try_from(d).map_err(|_| ModelError::Weights(format!("`{name}`: dim {d} is too large"))))
            .collect::<Result<_, _>>()?;
        let data = view.data();
        let t = match view.dtype() {
            safetensors::Dtype::I8 => Tensor::from_i8(shape, data.iter().map(|&b| b as i8).collect()),
            safetensors::Dtype::I32 => Tensor::from_i32(
                shape,
                data.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            ),
            other => return Err(ModelError::Weights(format!("`{name}` is {other:?}; refute weights are I8 or I32"))),
        }
        .map_err(|e| ModelError::Weights(format!("`{name}`: {e}")))?;
        out.insert(name, t);
    }
    Ok(out)
}

/// Writes tensors as a safetensors file.
pub fn write_safetensors(tensors: &BTreeMap<String, &Tensor>) -> Result<Vec<u8>, ModelError> {
    let owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, t)| {
            let shape = t.ty().shape.iter().map(|&d| d as usize).collect();
            match t.data() {
                crate::tensor::TensorData::I8(v) => {
                    (n.clone(), safetensors::Dtype::I8, shape, v.iter().map(|&x| x as u8).collect())
                }
                crate::tensor::TensorData::I32(v) => {
                    (n.clone(), safetensors::Dtype::I32, shape, v.iter().flat_map(|x| x.to_le_bytes()).collect())
                }
            }
        })
        .collect();
    let views = owned
        .iter()
        .map(|(n, d, s, b)| {
            safetensors::tensor::TensorView::new(*d, s.clone(), b)
                .map(|v| (n.as_str(), v))
                .map_err(|e| ModelError::Weights(format!("`{n}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, None).map_err(|e| ModelError::Weights(e.to_string()))
}

/// The JSON manifest: parsing with errors that name the field, and writing.
mod manifest {
    use super::*;

    struct Obj<'a> {
        path: String,
        map: &'a Map<String, Value>,
    }

    impl<'a> Obj<'a> {
        fn new(path: String, v: &'a Value) -> Result<Self, ModelError> {
            match v {
                Value::Object(map) => Ok(Obj { path, map }),
                _ => Err(field_err(path, "must be an object")),
            }
        }
        fn at(&self, key: &str) -> String {
            if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) }
        }
        fn only(&self, allowed: &[&str]) -> Result<(), ModelError> {
            match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
                Some(k) => Err(field_err(self.at(k), format!("unknown field (expected one of: {})", allowed.join(", ")))),
                None => Ok(()),
            }
        }
        fn get(&self, key: &str) -> Result<&'a Value, ModelError> {
            self.map.get(key).ok_or_else(|| field_err(self.at(key), "missing"))
        }
        fn str(&self, key: &str) -> Result<&'a str, ModelError> {
            self.get(key)?.as_str().ok_or_else(|| field_err(self.at(key), "must be a string"))
        }
        fn int(&self, key: &str, min: i64, max: i64) -> Result<i64, ModelError> {
            let v = self.get(key)?;
            match v.as_i64() {
                Some(i) if (min..=max).contains(&i) => Ok(i),
                Some(i) => Err(field_err(self.at(key), format!("{i} is outside [{min}, {max}]"))),
                None => Err(field_err(self.at(key), format!("must be an integer, got {v}"))),
            }
        }
        fn flag(&self, key: &str) -> Result<bool, ModelError> {
            match self.map.get(key) {
                None => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(v) => Err(field_err(self.at(key), format!("must be true or false, got {v}"))),
            }
        }
        fn dims(&self, key: &str, min: u32) -> Result<Vec<u32>, ModelError> {
            let v = self.get(key)?;
            let arr = v.as_array().ok_or_else(|| field_err(self.at(key), "must be an array of integers"))?;
            arr.iter()
                .map(|d| match d.as_u64() {
                    Some(x) if x >= min as u64 && x <= u32::MAX as u64 => Ok(x as u32),
                    _ => Err(field_err(self.at(key), format!("every entry must be an integer >= {min}, got {d}"))),
                })
                .collect()
        }
        fn pair(&self, key: &str, min: u32, default: Option<[u32; 2]>) -> Result<[u32; 2], ModelError> {
            if !self.map.contains_key(key)
                && let Some(d) = default
            {
                return Ok(d);
            }
            let v = self.dims(key, min)?;
            v.try_into().map_err(|_| field_err(self.at(key), "must have exactly two entries (height, width)"))
        }
    }

    pub(super) fn parse(
        json: &Value,
        load_weights: impl FnOnce(&str) -> Result<HashMap<String, Tensor>, ModelError>,
    ) -> Result<Model, ModelError> {
        let top = Obj::new(String::new(), json)?;
        top.only(&["format", "version", "name", "weights", "input_scale", "steps", "metadata"])?;
        let format = top.str("format")?;
        if format != MANIFEST_FORMAT {
            return Err(field_err("format", format!("expected \"{MANIFEST_FORMAT}\", got \"{format}\"")));
        }
        let version = top.int("version", 0, i64::MAX)?;
        if version as u64 != MANIFEST_VERSION {
            return Err(field_err("version", format!("version {version} is not supported (expected {MANIFEST_VERSION})")));
        }
        let name = top.str("name")?.to_string();
        let input_scale = match top.map.get("input_scale") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_f64().ok_or_else(|| field_err("input_scale", "must be a number"))?),
        };
        let metadata = match top.map.get("metadata") {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(field_err("metadata", "must be an object")),
        };
        let steps = top.get("steps")?.as_array().ok_or_else(|| field_err("steps", "must be an array"))?;
        let mut weights = load_weights(top.str("weights")?)?;
        let mut defs = Vec::with_capacity(steps.len());
        for (i, v) in steps.iter().enumerate() {
            defs.push(parse_step(Obj::new(format!("steps[{i}]"), v)?, i, &mut weights)?);
        }
        let mut model = Model::new(name, input_scale, defs)?;
        model.set_metadata(metadata);
        Ok(model)
    }

    fn parse_step(o: Obj<'_>, index: usize, weights: &mut HashMap<String, Tensor>) -> Result<StepDef, ModelError> {
        let op_name = o.str("op")?;
        let name = match o.map.get("name") {
            None => format!("{op_name}{index}"),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(field_err(o.at("name"), "must be a string")),
        };
        let common = ["op", "name", "inputs"];
        let allow = |extra: &[&str]| o.only(&[&common[..], extra].concat());
        let inputs = if op_name == "input" { vec![] } else { o.dims("inputs", 0)? };
        let take = |key: &str| -> Result<(String, Tensor), ModelError> {
            let tname = o.str(key)?;
            let t = weights
                .get(tname)
                .cloned()
                .ok_or_else(|| field_err(o.at(key), format!("no tensor `{tname}` in the weights file")))?;
            Ok((tname.to_string(), t))
        };
        let mut shape = None;
        let mut w = vec![];
        let req = |key: &str, o: &Obj<'_>| o.int(key, 0, MAX_MULT);
        let op = match op_name {
            "input" => {
                allow(&["shape"])?;
                shape = Some(o.dims("shape", 1)?);
                Op::Input
            }
            "linear" => {
                allow(&["relu", "weight", "requant"])?;
                w = vec![take("weight")?, take("requant")?];
                Op::Linear { relu: o.flag("relu")? }
            }
            "conv2d" => {
                allow(&["stride", "padding", "relu", "weight", "requant"])?;
                w = vec![take("weight")?, take("requant")?];
                Op::Conv2d {
                    stride: o.pair("stride", 1, Some([1, 1]))?,
                    padding: o.pair("padding", 0, Some([0, 0]))?,
                    relu: o.flag("relu")?,
                }
            }
            "relu" => {
                allow(&[])?;
                Op::Relu
            }
            "maxpool2d" => {
                allow(&["kernel", "stride", "padding"])?;
                let kernel = o.pair("kernel", 1, None)?;
                Op::MaxPool2d {
                    kernel,
                    stride: o.pair("stride", 1, Some(kernel))?,
                    padding: o.pair("padding", 0, Some([0, 0]))?,
                }
            }
            "avgpool2d" => {
                allow(&["kernel", "stride", "mult", "shift"])?;
                let kernel = o.pair("kernel", 1, None)?;
                Op::AvgPool2d {
                    kernel,
                    stride: o.pair("stride", 1, Some(kernel))?,
                    mult: req("mult", &o)?,
                    shift: o.int("shift", MIN_SHIFT, MAX_SHIFT)?,
                }
            }
            "add" => {
                allow(&["mult_a", "mult_b", "shift", "relu"])?;
                Op::Add {
                    mult_a: req("mult_a", &o)?,
                    mult_b: req("mult_b", &o)?,
                    shift: o.int("shift", MIN_SHIFT, MAX_SHIFT)?,
                    relu: o.flag("relu")?,
                }
            }
            "lut" => {
                allow(&["table"])?;
                w = vec![take("table")?];
                Op::Lut
            }
            "reshape" | "flatten" => {
                allow(&["shape"])?;
                shape = Some(o.dims("shape", 1)?);
                Op::Reshape
            }
            "argmax" => {
                allow(&[])?;
                Op::Argmax
            }
            other => {
                return Err(field_err(
                    o.at("op"),
                    format!(
                        "unknown op `{other}` (supported: input, linear, conv2d, relu, maxpool2d, avgpool2d, add, lut, reshape, argmax)"
                    ),
                ));
            }
        };
        Ok(StepDef { name, op, inputs, weights: w, shape })
    }

    pub(super) fn to_json(model: &Model, weights_file: &str) -> Value {
        let steps: Vec<Value> = model
            .steps
            .iter()
            .map(|s| {
                let mut m = Map::new();
                m.insert("name".into(), s.name.clone().into());
                m.insert("op".into(), s.spec.op.name().into());
                if s.spec.op != Op::Input {
                    m.insert("inputs".into(), s.inputs.clone().into());
                }
                let pair = |p: [u32; 2]| Value::from(p.to_vec());
                match &s.spec.op {
                    Op::Input | Op::Reshape => {
                        m.insert("shape".into(), s.spec.out.shape.clone().into());
                    }
                    Op::Linear { relu } => {
                        m.insert("relu".into(), (*relu).into());
                    }
                    Op::Conv2d { stride, padding, relu } => {
                        m.insert("stride".into(), pair(*stride));
                        m.insert("padding".into(), pair(*padding));
                        m.insert("relu".into(), (*relu).into());
                    }
                    Op::MaxPool2d { kernel, stride, padding } => {
                        m.insert("kernel".into(), pair(*kernel));
                        m.insert("stride".into(), pair(*stride));
                        m.insert("padding".into(), pair(*padding));
                    }
                    Op::AvgPool2d { kernel, stride, mult, shift } => {
                        m.insert("kernel".into(), pair(*kernel));
                        m.insert("stride".into(), pair(*stride));
                        m.insert("mult".into(), (*mult).into());
                        m.insert("shift".into(), (*shift).into());
                    }
                    Op::Add { mult_a, mult_b, shift, relu } => {
                        m.insert("mult_a".into(), (*mult_a).into());
                        m.insert("mult_b".into(), (*mult_b).into());
                        m.insert("shift".into(), (*shift).into());
                        m.insert("relu".into(), (*relu).into());
                    }
                    Op::Relu | Op::Argmax | Op::Lut => {}
                }
                let roles: &[&str] = match s.spec.op {
                    Op::Linear { .. } | Op::Conv2d { .. } => &["weight", "requant"],
                    Op::Lut => &["table"],
                    _ => &[],
                };
                for (role, n) in roles.iter().zip(&s.weight_names) {
                    m.insert((*role).into(), n.clone().into());
                }
                Value::Object(m)
            })
            .collect();
        let mut top = Map::new();
        top.insert("format".into(), MANIFEST_FORMAT.into());
        top.insert("version".into(), MANIFEST_VERSION.into());
        top.insert("name".into(), model.name.clone().into());
        top.insert("weights".into(), weights_file.into());
        if let Some(s) = model.input_scale {
            top.insert("input_scale".into(), s.into());
        }
        if !model.metadata.is_empty() {
            top.insert("metadata".into(), Value::Object(model.metadata.clone()));
        }
        top.insert("steps".into(), steps.into());
        Value::Object(top)
    }

    #[cfg(test)]
    pub(super) fn parse_with(json: &Value, weights: HashMap<String, Tensor>) -> Result<Model, ModelError> {
        parse(json, |_| Ok(weights))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let cases: Vec<(Box<dyn FnOnce(&mut Value)>, &str)> = vec![
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
            StepDef { name: "input".into(), op: Op::Input, inputs: vec![], weights: vec![], shape: Some(shape) },
            StepDef { name: "wide".into(), op, inputs: vec![0], weights, shape: None },
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
        // and a linear layer of any width is provable: it only has more blocks
        let k = 131_071;
        let w = Tensor::from_i8([2, k], vec![1; 2 * k as usize]).unwrap();
        let q = Tensor::from_i32([2, 3], vec![0, 1 << 30, 40, 0, 1 << 30, 40]).unwrap();
        let m = one_step(vec![k], Op::Linear { relu: false }, vec![("w".into(), w), ("q".into(), q)]).unwrap();
        assert_eq!(crate::reference::blocks(&m.steps()[1].spec), 256);
    }

    #[test]
    fn model_id_depends_on_every_spec_and_the_count() {
        let base = manifest::parse_with(&manifest(), weights()).unwrap();
        let relu_off = manifest::parse_with(&{
            let mut j = manifest();
            j["steps"][1]["relu"] = json!(false);
            j
        }, weights())
        .unwrap();
        assert_ne!(base.id(), relu_off.id());
        let mut w = weights();
        w.insert("fc.w".into(), Tensor::from_i8([3, 4], vec![1; 12]).unwrap());
        assert_ne!(manifest::parse_with(&manifest(), w).unwrap().id(), base.id());
        assert_eq!(base.id(), model_id(3, &base.spec_root()));
        assert_ne!(base.id(), model_id(4, &base.spec_root()));
    }
}
