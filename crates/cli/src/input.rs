//! Reading inference inputs from files: raw int8 bytes, or floats (JSON or `.npy`)
//! quantized with the model's input scale (`docs/semantics.md`, "Float inputs");
//! for a model over token ids (int32 input), integer ids from JSON, an integer
//! `.npy` or raw canonical bytes (4 bytes big-endian each).

use eyre::{bail, eyre, Context, Result};
use refute_core::{DType, Model, Tensor};
use std::path::Path;

/// How to read an input file's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// By the file: `.npy` int8 as is, float `.npy` and `.json` quantized, anything
    /// else as raw int8 bytes.
    Auto,
    /// The numbers are int8 values already (JSON or integer `.npy`).
    Int8,
}

/// `clamp(round_half_even(v / scale), -128, 127)`.
pub fn quantize(v: f64, scale: f64) -> i8 {
    (v / scale).round_ties_even().clamp(-128.0, 127.0) as i8
}

/// Reads a batch of inputs for `model`: a file holds one input or, with a leading
/// batch dim, several.
pub fn read_inputs(model: &Model, path: &Path, values: Values) -> Result<Vec<Tensor>> {
    let ty = model.input_type();
    let numel = ty.numel();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let bytes = std::fs::read(path).wrap_err_with(|| format!("reading input {}", path.display()))?;
    if ty.dtype == DType::I32 {
        let ids = read_ids(model, ext, &bytes).wrap_err_with(|| format!("input {}", path.display()))?;
        if ids.is_empty() || !ids.len().is_multiple_of(numel) {
            bail!("input {} has {} token ids; the model takes {} ({}) per inference", path.display(), ids.len(), numel, ty);
        }
        return Ok(ids.chunks(numel).map(|c| Tensor::from_i32(ty.shape.clone(), c.to_vec()).expect("numel per chunk")).collect());
    }
    let flat: Vec<i8> = match ext {
        "npy" => read_npy(model, &bytes, values).wrap_err_with(|| format!("input {}", path.display()))?,
        "json" => {
            // serde_json parses with `float_roundtrip` (the workspace turns it on):
            // every decimal is read as the nearest f64, so a value exactly between
            // two quantization steps stays exactly there
            let v: serde_json::Value = serde_json::from_slice(&bytes).wrap_err_with(|| format!("input {} is not valid JSON", path.display()))?;
            let mut nums = vec![];
            flatten_json(&v, &mut nums).wrap_err_with(|| format!("input {}", path.display()))?;
            if let serde_json::Value::Array(items) = &v
                && items.iter().any(|i| i.is_array())
            {
                let shape = json_shape(&v).wrap_err_with(|| format!("input {}", path.display()))?;
                check_shape(&shape, &ty.shape).wrap_err_with(|| format!("input {}", path.display()))?;
            }
            to_int8(model, &nums, values == Values::Int8).wrap_err_with(|| format!("input {}", path.display()))?
        }
        _ => bytes.iter().map(|&b| b as i8).collect(),
    };
    if flat.is_empty() || !flat.len().is_multiple_of(numel) {
        bail!("input {} has {} values; the model takes {} ({}) per inference", path.display(), flat.len(), numel, ty);
    }
    Ok(flat.chunks(numel).map(|c| Tensor::from_i8(ty.shape.clone(), c.to_vec()).expect("numel per chunk")).collect())
}

/// Token ids: integers within int32 from JSON (nested to the input's shape or a
/// batch of it) or an integer `.npy`; any other file is canonical bytes.
fn read_ids(model: &Model, ext: &str, bytes: &[u8]) -> Result<Vec<i32>> {
    let to_i32 = |i: usize, v: i128| i32::try_from(v).map_err(|_| eyre!("token id {i} is {v}, outside int32"));
    match ext {
        "json" => {
            let v: serde_json::Value = serde_json::from_slice(bytes).wrap_err("not valid JSON")?;
            if let serde_json::Value::Array(items) = &v
                && items.iter().any(|i| i.is_array())
            {
                check_shape(&json_shape(&v)?, &model.input_type().shape)?;
            }
            let mut ids = vec![];
            flatten_ids(&v, &mut ids)?;
            ids.iter().enumerate().map(|(i, &v)| to_i32(i, v)).collect()
        }
        "npy" => {
            let (npy, descr) = open_npy(model, bytes)?;
            let wide: Vec<i128> = match descr.trim_start_matches(['<', '>', '|', '=']) {
                "i1" => npy.into_vec::<i8>()?.into_iter().map(i128::from).collect(),
                "i2" => npy.into_vec::<i16>()?.into_iter().map(i128::from).collect(),
                "i4" => npy.into_vec::<i32>()?.into_iter().map(i128::from).collect(),
                "i8" => npy.into_vec::<i64>()?.into_iter().map(i128::from).collect(),
                "u1" => npy.into_vec::<u8>()?.into_iter().map(i128::from).collect(),
                "u2" => npy.into_vec::<u16>()?.into_iter().map(i128::from).collect(),
                "u4" => npy.into_vec::<u32>()?.into_iter().map(i128::from).collect(),
                "u8" => npy.into_vec::<u64>()?.into_iter().map(i128::from).collect(),
                _ => bail!(".npy dtype {descr} is not an integer type: token ids are integers"),
            };
            wide.iter().enumerate().map(|(i, &v)| to_i32(i, v)).collect()
        }
        _ => {
            if !bytes.len().is_multiple_of(4) {
                bail!("{} bytes is not a whole number of int32 token ids (4 bytes big-endian each)", bytes.len());
            }
            Ok(bytes.chunks_exact(4).map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes"))).collect())
        }
    }
}

/// The integers of nested JSON arrays (a token id is an integer, never a float).
fn flatten_ids(v: &serde_json::Value, out: &mut Vec<i128>) -> Result<()> {
    match v {
        serde_json::Value::Array(items) => items.iter().try_for_each(|i| flatten_ids(i, out)),
        serde_json::Value::Number(n) => {
            let id = n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)).ok_or_else(|| eyre!("{n} is not an integer token id"))?;
            out.push(id);
            Ok(())
        }
        other => bail!("expected integer token ids or arrays of them, found {other}"),
    }
}

fn flatten_json(v: &serde_json::Value, out: &mut Vec<f64>) -> Result<()> {
    match v {
        serde_json::Value::Array(items) => items.iter().try_for_each(|i| flatten_json(i, out)),
        serde_json::Value::Number(n) => {
            out.push(n.as_f64().ok_or_else(|| eyre!("{n} is not a finite number"))?);
            Ok(())
        }
        other => bail!("expected numbers or arrays of numbers, found {other}"),
    }
}

/// The shape of nested JSON arrays, which must be rectangular.
fn json_shape(v: &serde_json::Value) -> Result<Vec<usize>> {
    match v {
        serde_json::Value::Array(items) => {
            let inner: Vec<Vec<usize>> = items.iter().map(json_shape).collect::<Result<_>>()?;
            if inner.windows(2).any(|w| w[0] != w[1]) {
                bail!("the nested arrays are ragged (rows of different shapes)");
            }
            Ok(std::iter::once(items.len()).chain(inner.into_iter().next().unwrap_or_default()).collect())
        }
        _ => Ok(vec![]),
    }
}

/// An array's shape must be the model's input shape or a batch `[B, ...]` of them,
/// where an input may also be given flattened (`[N]`, or `[B, N]`, with N the
/// input's element count), as image datasets are often stored.
fn check_shape(shape: &[usize], input: &[u32]) -> Result<()> {
    let want: Vec<usize> = input.iter().map(|&d| d as usize).collect();
    let numel: usize = want.iter().product();
    let one = |s: &[usize]| s == want.as_slice() || s == [numel];
    if one(shape) || (shape.len() >= 2 && shape[0] > 0 && one(&shape[1..])) {
        return Ok(());
    }
    bail!("the array has shape {shape:?}; the model takes {want:?} per inference ({numel} values, or a batch [B, ...] of either)")
}

fn to_int8(model: &Model, nums: &[f64], already_int8: bool) -> Result<Vec<i8>> {
    if let Some((i, v)) = nums.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        bail!("element {i} is {v}: inputs must be finite numbers");
    }
    if already_int8 {
        return nums
            .iter()
            .enumerate()
            .map(
                |(i, &v)| {
                    if v.fract() == 0.0 && (-128.0..=127.0).contains(&v) {
                        Ok(v as i8)
                    } else {
                        Err(eyre!("element {i} is {v}, not an int8 value"))
                    }
                },
            )
            .collect();
    }
    let scale = model.input_scale().ok_or_else(|| {
        eyre!("model {} has no input_scale in its manifest, so float inputs cannot be quantized; pass int8 values with --int8", model.name())
    })?;
    Ok(nums.iter().map(|&v| quantize(v, scale)).collect())
}

/// An `.npy` file checked for what every input needs: C order, the model's input
/// shape (or a batch of it), a plain dtype, and as many data bytes as its header
/// announces. Returns the file and its dtype descriptor (e.g. `<i4`).
fn open_npy<'a>(model: &Model, bytes: &'a [u8]) -> Result<(npyz::NpyFile<&'a [u8]>, String)> {
    let npy = npyz::NpyFile::new(bytes).wrap_err("not a valid .npy file")?;
    if npy.order() != npyz::Order::C {
        bail!("Fortran-ordered .npy arrays are not supported; save it in C order");
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    check_shape(&shape, &model.input_type().shape)?;
    let descr = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => bail!("unsupported .npy dtype {other:?}"),
    };
    // a file cut short: say so, with what the header announced
    let code = descr.trim_start_matches(['<', '>', '|', '=']);
    let size: usize = code.get(1..).and_then(|n| n.parse().ok()).unwrap_or(1);
    let announced = shape.iter().product::<usize>() * size;
    let data = bytes.len().saturating_sub(npy_header_len(bytes));
    if data < announced {
        bail!("the .npy file is truncated: its header announces {shape:?} of {descr} ({announced} bytes of data), but only {data} bytes follow");
    }
    Ok((npy, descr))
}

fn read_npy(model: &Model, bytes: &[u8], values: Values) -> Result<Vec<i8>> {
    let (npy, descr) = open_npy(model, bytes)?;
    let code = descr.trim_start_matches(['<', '>', '|', '=']);
    match code {
        "i1" => Ok(npy.into_vec::<i8>()?),
        "f4" => to_int8(model, &npy.into_vec::<f32>()?.into_iter().map(f64::from).collect::<Vec<_>>(), false),
        "f8" => to_int8(model, &npy.into_vec::<f64>()?, false),
        "i2" | "i4" | "i8" | "u1" if values == Values::Int8 => {
            let v: Vec<f64> = match code {
                "i2" => npy.into_vec::<i16>()?.into_iter().map(f64::from).collect(),
                "i4" => npy.into_vec::<i32>()?.into_iter().map(f64::from).collect(),
                "u1" => npy.into_vec::<u8>()?.into_iter().map(f64::from).collect(),
                _ => npy.into_vec::<i64>()?.into_iter().map(|x| x as f64).collect(),
            };
            to_int8(model, &v, true)
        }
        other => bail!(".npy dtype {descr} ({other}) is not int8 or float; integer arrays need --int8"),
    }
}

/// Bytes before an `.npy` file's data: the magic, version, header length and header.
fn npy_header_len(bytes: &[u8]) -> usize {
    // magic (6) + version (2), then a u16 (v1) or u32 (v2, v3) little-endian length
    match bytes.get(6) {
        Some(1) if bytes.len() >= 10 => 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize,
        Some(2 | 3) if bytes.len() >= 12 => 12 + u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        _ => bytes.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halfway_decimals_in_json_parse_exactly_and_round_to_even() {
        // 14.5 steps of 1/16: 0.90625 is exact in binary; a parse one ulp off would
        // round to 15
        let v: serde_json::Value = serde_json::from_str("[0.90625, 2.46875, -0.90625]").unwrap();
        let nums: Vec<f64> = v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(nums.iter().map(|&x| quantize(x, 0.0625)).collect::<Vec<_>>(), vec![14, 40, -14]);
        // 21.5 steps of 1/186, written as the shortest decimal that reads back to it:
        // serde_json's default parser reads it one ulp low (and 21 comes out); the
        // correctly rounded parse keeps the half step, and round-half-even gives 22
        let scale = 1.0 / 186.0;
        let v: f64 = serde_json::from_str("0.11559139784946237").unwrap();
        assert_eq!(v, "0.11559139784946237".parse::<f64>().unwrap());
        assert_eq!(v / scale, 21.5);
        assert_eq!(quantize(v, scale), 22);
    }

    #[test]
    fn shapes_are_the_input_or_a_batch_of_it() {
        check_shape(&[64], &[64]).unwrap();
        check_shape(&[3, 64], &[64]).unwrap();
        check_shape(&[1, 8, 8], &[1, 8, 8]).unwrap();
        assert!(check_shape(&[2, 32], &[64]).unwrap_err().to_string().contains("[2, 32]"));
        assert!(check_shape(&[0, 64], &[64]).is_err());
        // flattened inputs, one or a batch; but not a different factoring
        check_shape(&[64], &[1, 8, 8]).unwrap();
        check_shape(&[450, 64], &[1, 8, 8]).unwrap();
        assert!(check_shape(&[450, 8, 8], &[1, 8, 8]).is_err());
        assert!(check_shape(&[450, 32], &[1, 8, 8]).is_err());
        assert_eq!(json_shape(&serde_json::json!([[1, 2], [3, 4], [5, 6]])).unwrap(), vec![3, 2]);
        assert!(json_shape(&serde_json::json!([[1, 2], [3]])).is_err());
    }

    /// A model over int32 ids `[2, 3]`.
    fn id_model() -> Model {
        let defs = vec![refute_core::StepDef {
            name: "input".into(),
            op: refute_core::Op::Input,
            inputs: vec![],
            weights: vec![],
            shape: Some(vec![2, 3]),
            dtype: Some(DType::I32),
        }];
        Model::new("ids", None, defs).unwrap()
    }

    #[test]
    fn token_ids_are_read_exactly_or_refused_by_name() {
        let m = id_model();
        let dir = std::env::temp_dir().join(format!("refute-ids-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let ids = |t: &Tensor| t.as_i32().unwrap().to_vec();
        // nested JSON in the input's shape, a batch of two flat ones, the int32 extremes
        let one = read_inputs(&m, &write("a.json", b"[[0, 1, 2], [3, -4, 2147483647]]"), Values::Auto).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(ids(&one[0]), vec![0, 1, 2, 3, -4, i32::MAX]);
        let two = read_inputs(&m, &write("b.json", b"[[5, 5, 5, 5, 5, 5], [-2147483648, 0, 0, 0, 0, 7]]"), Values::Auto).unwrap();
        assert_eq!(ids(&two[1]), vec![i32::MIN, 0, 0, 0, 0, 7]);
        // raw canonical bytes: 4 bytes big-endian per id
        let raw: Vec<u8> = [1i32, -1, 256, 0, 0, 9].iter().flat_map(|v| v.to_be_bytes()).collect();
        assert_eq!(ids(&read_inputs(&m, &write("c.bin", &raw), Values::Auto).unwrap()[0]), vec![1, -1, 256, 0, 0, 9]);
        let chain = |name: &str, bytes: &[u8]| format!("{:#}", read_inputs(&m, &write(name, bytes), Values::Auto).unwrap_err());
        assert!(chain("d.json", b"[0, 1, 2, 3, 4, 2147483648]").contains("token id 5 is 2147483648, outside int32"));
        assert!(chain("e.json", b"[0, 1, 2, 3, 4, 0.5]").contains("0.5 is not an integer token id"));
        assert!(chain("f.json", b"[0, 1, 2, 3]").contains("4 token ids; the model takes 6"));
        assert!(chain("g.bin", &raw[..7]).contains("7 bytes is not a whole number of int32 token ids"));
        assert!(chain("h.json", b"[[0, 1], [2, 3], [4, 5]]").contains("shape [3, 2]"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn quantization_rounds_half_to_even_and_saturates() {
        assert_eq!(quantize(0.5, 1.0), 0);
        assert_eq!(quantize(1.5, 1.0), 2);
        assert_eq!(quantize(-2.5, 1.0), -2);
        assert_eq!(quantize(1000.0, 1.0), 127);
        assert_eq!(quantize(-1000.0, 1.0), -128);
        assert_eq!(quantize(0.3, 0.1), 3);
    }
}
