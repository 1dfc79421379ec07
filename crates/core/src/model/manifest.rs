//! The JSON manifest (`docs/model-format.md`): parsing with errors that name the
//! field, and writing; the fields each op takes in a manifest.

use super::{field_err, Model, ModelError, StepDef, MANIFEST_FORMAT, MANIFEST_VERSION};
use crate::ops::common::{MAX_MULT, MAX_SHIFT, MIN_SHIFT};
use crate::ops::{self, Op};
use crate::tensor::{DType, Tensor, MAX_RANK};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// A JSON object being read, with the path of its fields for errors.
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

    /// The path of field `key`, e.g. `steps[3].stride`.
    fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
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

    /// Integer field `key` in `[min, max]`.
    fn int(&self, key: &str, min: i64, max: i64) -> Result<i64, ModelError> {
        let v = self.get(key)?;
        match v.as_i64() {
            Some(i) if (min..=max).contains(&i) => Ok(i),
            Some(i) => Err(field_err(self.at(key), format!("{i} is outside [{min}, {max}]"))),
            None => Err(field_err(self.at(key), format!("must be an integer, got {v}"))),
        }
    }

    /// Boolean field `key`, false when absent.
    fn flag(&self, key: &str) -> Result<bool, ModelError> {
        match self.map.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(field_err(self.at(key), format!("must be true or false, got {v}"))),
        }
    }

    /// A list of dims, each at least `min`.
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

    /// A (height, width) pair, each at least `min`; `default` when absent.
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

/// The manifest fields an op takes besides `op`, `name` and `inputs`, and the
/// fields that name its weights (in the spec's order).
fn manifest_fields(name: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match name {
        "input" => (&["shape", "dtype"], &[]),
        "linear" => (&["relu"], &["weight", "requant"]),
        "conv2d" => (&["stride", "padding", "relu"], &["weight", "requant"]),
        "relu" | "argmax" => (&[], &[]),
        "maxpool2d" => (&["kernel", "stride", "padding"], &[]),
        "avgpool2d" => (&["kernel", "stride", "mult", "shift"], &[]),
        "add" => (&["mult_a", "mult_b", "shift", "relu"], &[]),
        "lut" => (&[], &["table"]),
        "embedding" => (&[], &["table"]),
        "permute" => (&["perm"], &[]),
        "matmul" => (&["transpose_b", "mult", "shift"], &[]),
        "softmax" => (&["pad"], &["table"]),
        "layernorm" => (&["pre", "eps", "shift"], &["affine"]),
        "residual" => (&["mult_a", "mult_b", "shift"], &[]),
        "reshape" | "flatten" => (&["shape"], &[]),
        _ => return None,
    })
}

/// The op a manifest's step describes (its weights and shape are read by the caller).
fn from_manifest(name: &str, o: &Obj<'_>) -> Result<Op, ModelError> {
    Ok(match name {
        "input" => Op::Input,
        "linear" => Op::Linear { relu: o.flag("relu")? },
        "conv2d" => Op::Conv2d { stride: o.pair("stride", 1, Some([1, 1]))?, padding: o.pair("padding", 0, Some([0, 0]))?, relu: o.flag("relu")? },
        "relu" => Op::Relu,
        "maxpool2d" => {
            let kernel = o.pair("kernel", 1, None)?;
            Op::MaxPool2d { kernel, stride: o.pair("stride", 1, Some(kernel))?, padding: o.pair("padding", 0, Some([0, 0]))? }
        }
        "avgpool2d" => {
            let kernel = o.pair("kernel", 1, None)?;
            Op::AvgPool2d {
                kernel,
                stride: o.pair("stride", 1, Some(kernel))?,
                mult: o.int("mult", 0, MAX_MULT)?,
                shift: o.int("shift", MIN_SHIFT, MAX_SHIFT)?,
            }
        }
        "add" => Op::Add {
            mult_a: o.int("mult_a", 0, MAX_MULT)?,
            mult_b: o.int("mult_b", 0, MAX_MULT)?,
            shift: o.int("shift", MIN_SHIFT, MAX_SHIFT)?,
            relu: o.flag("relu")?,
        },
        "lut" => Op::Lut,
        "reshape" | "flatten" => Op::Reshape,
        "argmax" => Op::Argmax,
        "embedding" => Op::Embedding,
        "matmul" => {
            Op::Matmul { transpose_b: o.flag("transpose_b")?, mult: o.int("mult", 0, MAX_MULT)?, shift: o.int("shift", MIN_SHIFT, MAX_SHIFT)? }
        }
        // a `pad` id masks keys: the step then reads the ids as its second input
        "softmax" => match o.map.contains_key("pad") {
            true => Op::Softmax { masked: true, pad: o.int("pad", i32::MIN as i64, i32::MAX as i64)? },
            false => Op::Softmax { masked: false, pad: 0 },
        },
        "layernorm" => {
            use crate::ops::layernorm::{MAX_EPS, MAX_PRE, MAX_SHIFT};
            Op::LayerNorm { pre: o.int("pre", 0, MAX_PRE)?, eps: o.int("eps", 0, MAX_EPS)?, shift: o.int("shift", 0, MAX_SHIFT)? }
        }
        "residual" => {
            use crate::ops::residual::{MAX_MULT, MAX_SHIFT};
            Op::Residual { mult_a: o.int("mult_a", 0, MAX_MULT)?, mult_b: o.int("mult_b", 0, MAX_MULT)?, shift: o.int("shift", 0, MAX_SHIFT)? }
        }
        "permute" => {
            let perm = o.dims("perm", 0)?;
            let r = perm.len();
            if r == 0 || r > MAX_RANK || (0..r as u32).any(|a| !perm.contains(&a)) {
                return Err(field_err(o.at("perm"), format!("must list each axis 0 … r−1 once, for a rank r of 1 to {MAX_RANK}, got {perm:?}")));
            }
            Op::Permute { perm: perm.into_iter().map(|a| a as u8).collect() }
        }
        other => unreachable!("`{other}` was checked to be an op"),
    })
}

/// The op's parameters as manifest fields.
fn to_manifest(op: &Op, m: &mut Map<String, Value>) {
    let pair = |p: [u32; 2]| Value::from(p.to_vec());
    match *op {
        Op::Linear { relu } => {
            m.insert("relu".into(), relu.into());
        }
        Op::Conv2d { stride, padding, relu } => {
            m.insert("stride".into(), pair(stride));
            m.insert("padding".into(), pair(padding));
            m.insert("relu".into(), relu.into());
        }
        Op::MaxPool2d { kernel, stride, padding } => {
            m.insert("kernel".into(), pair(kernel));
            m.insert("stride".into(), pair(stride));
            m.insert("padding".into(), pair(padding));
        }
        Op::AvgPool2d { kernel, stride, mult, shift } => {
            m.insert("kernel".into(), pair(kernel));
            m.insert("stride".into(), pair(stride));
            m.insert("mult".into(), mult.into());
            m.insert("shift".into(), shift.into());
        }
        Op::Add { mult_a, mult_b, shift, relu } => {
            m.insert("mult_a".into(), mult_a.into());
            m.insert("mult_b".into(), mult_b.into());
            m.insert("shift".into(), shift.into());
            m.insert("relu".into(), relu.into());
        }
        Op::Matmul { transpose_b, mult, shift } => {
            m.insert("transpose_b".into(), transpose_b.into());
            m.insert("mult".into(), mult.into());
            m.insert("shift".into(), shift.into());
        }
        Op::Softmax { masked, pad } => {
            if masked {
                m.insert("pad".into(), pad.into());
            }
        }
        Op::LayerNorm { pre, eps, shift } => {
            m.insert("pre".into(), pre.into());
            m.insert("eps".into(), eps.into());
            m.insert("shift".into(), shift.into());
        }
        Op::Residual { mult_a, mult_b, shift } => {
            m.insert("mult_a".into(), mult_a.into());
            m.insert("mult_b".into(), mult_b.into());
            m.insert("shift".into(), shift.into());
        }
        Op::Permute { ref perm } => {
            m.insert("perm".into(), perm.iter().map(|&a| a as u32).collect::<Vec<_>>().into());
        }
        Op::Input | Op::Relu | Op::Lut | Op::Reshape | Op::Argmax | Op::Embedding => {}
    }
}

pub(super) fn parse(json: &Value, load_weights: impl FnOnce(&str) -> Result<HashMap<String, Tensor>, ModelError>) -> Result<Model, ModelError> {
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
    let inputs = if op_name == "input" { vec![] } else { o.dims("inputs", 0)? };
    let Some((fields, roles)) = manifest_fields(op_name) else {
        return Err(field_err(o.at("op"), format!("unknown op `{op_name}` (supported: {})", ops::NAMES.join(", "))));
    };
    let common = ["op", "name", "inputs"];
    o.only(&[&common[..], fields, roles].concat())?;
    let take = |key: &str| -> Result<(String, Tensor), ModelError> {
        let tname = o.str(key)?;
        let t = weights.get(tname).cloned().ok_or_else(|| field_err(o.at(key), format!("no tensor `{tname}` in the weights file")))?;
        Ok((tname.to_string(), t))
    };
    let w = roles.iter().map(|r| take(r)).collect::<Result<Vec<_>, _>>()?;
    let op = from_manifest(op_name, &o)?;
    let shape = if fields.contains(&"shape") { Some(o.dims("shape", 1)?) } else { None };
    let dtype = match o.map.get("dtype") {
        None => None,
        Some(Value::String(d)) if d == "int8" => Some(DType::I8),
        Some(Value::String(d)) if d == "int32" => Some(DType::I32),
        Some(v) => return Err(field_err(o.at("dtype"), format!("must be \"int8\" or \"int32\", got {v}"))),
    };
    Ok(StepDef { name, op, inputs, weights: w, shape, dtype })
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
            if matches!(s.spec.op, Op::Input | Op::Reshape) {
                m.insert("shape".into(), s.spec.out.shape.clone().into());
            }
            if s.spec.op == Op::Input && s.spec.out.dtype != DType::I8 {
                m.insert("dtype".into(), s.spec.out.dtype.to_string().into());
            }
            to_manifest(&s.spec.op, &mut m);
            let (_, roles) = manifest_fields(s.spec.op.name()).expect("every op has its fields");
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
