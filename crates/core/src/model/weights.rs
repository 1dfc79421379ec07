//! The weights file: a standard safetensors file (little-endian, as safetensors
//! always is) of `I8` and `I32` tensors; the canonical big-endian encoding of
//! `docs/commitments.md` is computed from it when a model is loaded.

use super::ModelError;
use crate::tensor::Tensor;
use std::collections::{BTreeMap, HashMap};

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
            safetensors::Dtype::I32 => Tensor::from_i32(shape, data.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
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
                crate::tensor::TensorData::I8(v) => (n.clone(), safetensors::Dtype::I8, shape, v.iter().map(|&x| x as u8).collect()),
                crate::tensor::TensorData::I32(v) => (n.clone(), safetensors::Dtype::I32, shape, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            }
        })
        .collect();
    let views = owned
        .iter()
        .map(|(n, d, s, b)| {
            safetensors::tensor::TensorView::new(*d, s.clone(), b).map(|v| (n.as_str(), v)).map_err(|e| ModelError::Weights(format!("`{n}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, None).map_err(|e| ModelError::Weights(e.to_string()))
}
