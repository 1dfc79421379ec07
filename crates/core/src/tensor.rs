//! Tensors as the protocol sees them: a dtype, a shape and row-major elements, with
//! the canonical byte encoding of `docs/commitments.md`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest rank a tensor may have.
pub const MAX_RANK: usize = 8;

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// Signed 8-bit: activations, weights, lookup tables.
    I8,
    /// Signed 32-bit: biases, requantization constants, argmax indices.
    I32,
}

impl DType {
    /// The code used in canonical encodings.
    pub fn code(self) -> u8 {
        match self {
            DType::I8 => 1,
            DType::I32 => 2,
        }
    }

    /// The dtype with canonical code `code`.
    pub fn from_code(code: u8) -> Option<DType> {
        match code {
            1 => Some(DType::I8),
            2 => Some(DType::I32),
            _ => None,
        }
    }

    /// Bytes per element in the canonical encoding.
    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I32 => 4,
        }
    }

    /// Smallest representable value.
    pub fn min(self) -> i64 {
        match self {
            DType::I8 => i8::MIN as i64,
            DType::I32 => i32::MIN as i64,
        }
    }

    /// Largest representable value.
    pub fn max(self) -> i64 {
        match self {
            DType::I8 => i8::MAX as i64,
            DType::I32 => i32::MAX as i64,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::I8 => "int8",
            DType::I32 => "int32",
        })
    }
}

/// A dtype and a shape: what a step outputs or a weight is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TensorType {
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first; empty for a scalar.
    pub shape: Vec<u32>,
}

impl TensorType {
    /// A type from a dtype and a shape.
    pub fn new(dtype: DType, shape: impl Into<Vec<u32>>) -> Self {
        TensorType { dtype, shape: shape.into() }
    }

    /// Number of elements (1 for rank 0).
    pub fn numel(&self) -> usize {
        self.shape.iter().map(|&d| d as usize).product()
    }

    /// Length of the canonical encoding in bytes.
    pub fn byte_len(&self) -> usize {
        self.numel() * self.dtype.size()
    }

    /// Appends `dtype:u8 ‖ rank:u8 ‖ dim:u32*` to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.dtype.code());
        out.push(self.shape.len() as u8);
        for d in &self.shape {
            out.extend_from_slice(&d.to_be_bytes());
        }
    }

    /// Row-major strides, in elements.
    pub fn strides(&self) -> Vec<usize> {
        let mut strides = vec![1usize; self.shape.len()];
        for i in (0..self.shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * self.shape[i + 1] as usize;
        }
        strides
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.dtype, self.shape)
    }
}

/// Elements of a tensor, stored in their own type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TensorData {
    /// int8 elements.
    I8(Vec<i8>),
    /// int32 elements.
    I32(Vec<i32>),
}

/// Errors building a tensor.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TensorError {
    /// The element count or byte count does not match the shape.
    #[error("{what} has {got} elements but its type {ty} needs {want}")]
    Length {
        /// What was being built.
        what: String,
        /// The type asked for.
        ty: TensorType,
        /// Elements needed.
        want: usize,
        /// Elements given.
        got: usize,
    },
    /// The data's dtype is not the type's dtype.
    #[error("data of dtype {got} given for type {ty}")]
    DType {
        /// The type asked for.
        ty: TensorType,
        /// The dtype of the data.
        got: DType,
    },
}

/// A tensor: a type and its elements in row-major order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    ty: TensorType,
    data: TensorData,
}

impl Tensor {
    /// A tensor from a type and elements; the element count and dtype must match.
    pub fn new(ty: TensorType, data: TensorData) -> Result<Self, TensorError> {
        let (got, dtype) = match &data {
            TensorData::I8(v) => (v.len(), DType::I8),
            TensorData::I32(v) => (v.len(), DType::I32),
        };
        if dtype != ty.dtype {
            return Err(TensorError::DType { ty, got: dtype });
        }
        if got != ty.numel() {
            return Err(TensorError::Length { what: "tensor".into(), want: ty.numel(), ty, got });
        }
        Ok(Tensor { ty, data })
    }

    /// An int8 tensor of `shape`.
    pub fn from_i8(shape: impl Into<Vec<u32>>, v: Vec<i8>) -> Result<Self, TensorError> {
        Tensor::new(TensorType::new(DType::I8, shape), TensorData::I8(v))
    }

    /// An int32 tensor of `shape`.
    pub fn from_i32(shape: impl Into<Vec<u32>>, v: Vec<i32>) -> Result<Self, TensorError> {
        Tensor::new(TensorType::new(DType::I32, shape), TensorData::I32(v))
    }

    /// A tensor of type `ty` from values already in its dtype's range (as the
    /// reference computes them).
    pub fn from_values(ty: &TensorType, values: &[i64]) -> Tensor {
        match ty.dtype {
            DType::I8 => Tensor::from_i8(ty.shape.clone(), values.iter().map(|&v| v as i8).collect()),
            DType::I32 => Tensor::from_i32(ty.shape.clone(), values.iter().map(|&v| v as i32).collect()),
        }
        .expect("values match the type")
    }

    /// Decodes canonical bytes of type `ty`.
    pub fn from_canonical_bytes(ty: TensorType, bytes: &[u8]) -> Result<Self, TensorError> {
        if bytes.len() != ty.byte_len() {
            return Err(TensorError::Length { what: "canonical bytes".into(), want: ty.byte_len(), got: bytes.len(), ty });
        }
        let data = match ty.dtype {
            DType::I8 => TensorData::I8(bytes.iter().map(|&b| b as i8).collect()),
            DType::I32 => TensorData::I32(bytes.chunks_exact(4).map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect()),
        };
        Ok(Tensor { ty, data })
    }

    /// The tensor's type.
    pub fn ty(&self) -> &TensorType {
        &self.ty
    }

    /// The elements.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.ty.numel()
    }

    /// Element `flat` (row-major index) widened to i64.
    pub fn get(&self, flat: usize) -> i64 {
        match &self.data {
            TensorData::I8(v) => v[flat] as i64,
            TensorData::I32(v) => v[flat] as i64,
        }
    }

    /// The int8 elements, if this is an int8 tensor.
    pub fn as_i8(&self) -> Option<&[i8]> {
        match &self.data {
            TensorData::I8(v) => Some(v),
            TensorData::I32(_) => None,
        }
    }

    /// The int32 elements, if this is an int32 tensor.
    pub fn as_i32(&self) -> Option<&[i32]> {
        match &self.data {
            TensorData::I32(v) => Some(v),
            TensorData::I8(_) => None,
        }
    }

    /// The canonical bytes: int8 as one byte, int32 as four big-endian bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        match &self.data {
            TensorData::I8(v) => v.iter().map(|&x| x as u8).collect(),
            TensorData::I32(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
        }
    }

    /// The same elements under another shape of equal element count.
    pub fn reshaped(mut self, shape: Vec<u32>) -> Result<Self, TensorError> {
        let ty = TensorType::new(self.ty.dtype, shape);
        if ty.numel() != self.numel() {
            return Err(TensorError::Length { what: "reshape".into(), want: ty.numel(), got: self.numel(), ty });
        }
        self.ty = ty;
        Ok(self)
    }
}

/// Read access to a tensor's elements by row-major index: what the scalar reference
/// reads its operands through (whole tensors, or only the chunks a proof opened).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int32_bytes_are_big_endian_twos_complement() {
        let t = Tensor::from_i32([2], vec![-2, 0x01020304]).unwrap();
        assert_eq!(t.canonical_bytes(), vec![0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4]);
        assert_eq!(Tensor::from_canonical_bytes(t.ty().clone(), &t.canonical_bytes()).unwrap(), t);
    }

    #[test]
    fn int8_bytes_round_trip() {
        let t = Tensor::from_i8([1, 3], vec![-128, 0, 127]).unwrap();
        assert_eq!(t.canonical_bytes(), vec![0x80, 0, 0x7f]);
        assert_eq!(Tensor::from_canonical_bytes(t.ty().clone(), &t.canonical_bytes()).unwrap(), t);
    }

    #[test]
    fn mismatched_lengths_and_dtypes_are_refused() {
        assert!(Tensor::from_i8([2, 2], vec![1, 2, 3]).is_err());
        assert!(Tensor::new(TensorType::new(DType::I32, [1]), TensorData::I8(vec![1])).is_err());
        assert!(Tensor::from_canonical_bytes(TensorType::new(DType::I32, [1]), &[1, 2, 3]).is_err());
    }

    #[test]
    fn scalar_has_one_element_and_strides_are_row_major() {
        assert_eq!(TensorType::new(DType::I32, []).numel(), 1);
        assert_eq!(TensorType::new(DType::I8, [2, 3, 4]).strides(), vec![12, 4, 1]);
    }
}
