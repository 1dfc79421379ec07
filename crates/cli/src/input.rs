//! Reading inference inputs from files: raw int8 bytes, or floats (JSON or `.npy`)
//! quantized with the model's input scale (`docs/semantics.md`, "Float inputs").

use eyre::{bail, eyre, Context, Result};
use refute_core::{Model, Tensor};
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
    let flat: Vec<i8> = match ext {
        "npy" => read_npy(model, &bytes, values).wrap_err_with(|| format!("input {}", path.display()))?,
        "json" => {
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).wrap_err_with(|| format!("input {} is not valid JSON", path.display()))?;
            let mut nums = vec![];
            flatten_json(&v, &mut nums).wrap_err_with(|| format!("input {}", path.display()))?;
            to_int8(model, &nums, values == Values::Int8)?
        }
        _ => bytes.iter().map(|&b| b as i8).collect(),
    };
    if flat.is_empty() || flat.len() % numel != 0 {
        bail!(
            "input {} has {} values; the model takes {} ({}) per inference",
            path.display(),
            flat.len(),
            numel,
            ty
        );
    }
    Ok(flat
        .chunks(numel)
        .map(|c| Tensor::from_i8(ty.shape.clone(), c.to_vec()).expect("numel per chunk"))
        .collect())
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

fn to_int8(model: &Model, nums: &[f64], already_int8: bool) -> Result<Vec<i8>> {
    if already_int8 {
        return nums
            .iter()
            .map(|&v| {
                if v.fract() == 0.0 && (-128.0..=127.0).contains(&v) {
                    Ok(v as i8)
                } else {
                    Err(eyre!("{v} is not an int8 value"))
                }
            })
            .collect();
    }
    let scale = model.input_scale().ok_or_else(|| {
        eyre!("model {} has no input_scale in its manifest, so float inputs cannot be quantized; pass int8 values with --int8", model.name())
    })?;
    Ok(nums.iter().map(|&v| quantize(v, scale)).collect())
}

fn read_npy(model: &Model, bytes: &[u8], values: Values) -> Result<Vec<i8>> {
    let npy = npyz::NpyFile::new(bytes).wrap_err("not a valid .npy file")?;
    if npy.order() != npyz::Order::C {
        bail!("Fortran-ordered .npy arrays are not supported; save it in C order");
    }
    let descr = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => bail!("unsupported .npy dtype {other:?}"),
    };
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

#[cfg(test)]
mod tests {
    use super::*;

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
