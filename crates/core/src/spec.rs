//! Step specs: one op with its parameters, inputs, output type and weight headers,
//! and their canonical bytes (`docs/commitments.md`, `docs/semantics.md`).

use crate::commit::TensorHeader;
use crate::hash::{keccak, tag, Hash};
use crate::tensor::{DType, TensorType, MAX_RANK};
use std::fmt;

/// Op-set version written into every spec.
pub const OP_SET_VERSION: u8 = 2;

/// Largest multiplier of a requantization (`m ∈ [0, 2^31 - 1]`).
pub const MAX_MULT: i64 = (1 << 31) - 1;
/// Smallest shift of a requantization.
pub const MIN_SHIFT: i64 = 1;
/// Largest shift of a requantization.
pub const MAX_SHIFT: i64 = 62;
/// Largest accumulator magnitude before requantization.
pub const MAX_ACC: i64 = (1 << 31) - 1;
/// Largest product of two int8 values (`-128 · -128`).
pub const MAX_PRODUCT: i64 = 1 << 14;

/// An op and its parameters (`docs/semantics.md`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Op {
    /// The model input (step 0 only).
    Input,
    /// `y = requant(bias + x·Wᵀ)` over the last dim.
    Linear {
        /// Fused ReLU (clamp at 0).
        relu: bool,
    },
    /// 2-D convolution, zero padding, groups 1.
    Conv2d {
        /// Strides (height, width).
        stride: [u32; 2],
        /// Zero padding (height, width).
        padding: [u32; 2],
        /// Fused ReLU.
        relu: bool,
    },
    /// `max(x, 0)`.
    Relu,
    /// Max pooling.
    MaxPool2d {
        /// Window (height, width).
        kernel: [u32; 2],
        /// Strides.
        stride: [u32; 2],
        /// Padding (ignored positions).
        padding: [u32; 2],
    },
    /// Average pooling as a requantized window sum.
    AvgPool2d {
        /// Window (height, width).
        kernel: [u32; 2],
        /// Strides.
        stride: [u32; 2],
        /// Requantization multiplier.
        mult: i64,
        /// Requantization shift.
        shift: i64,
    },
    /// Residual add with a multiplier per operand.
    Add {
        /// Multiplier of the first operand.
        mult_a: i64,
        /// Multiplier of the second operand.
        mult_b: i64,
        /// Shared shift.
        shift: i64,
        /// Fused ReLU.
        relu: bool,
    },
    /// 256-entry int8 lookup table.
    Lut,
    /// Same elements, another shape (the spec's output shape).
    Reshape,
    /// Index of the first maximum over the last dim.
    Argmax,
}

impl Op {
    /// The op code in canonical encodings.
    pub fn code(&self) -> u8 {
        match self {
            Op::Input => 0,
            Op::Linear { .. } => 1,
            Op::Conv2d { .. } => 2,
            Op::Relu => 3,
            Op::MaxPool2d { .. } => 4,
            Op::AvgPool2d { .. } => 5,
            Op::Add { .. } => 6,
            Op::Lut => 7,
            Op::Reshape => 8,
            Op::Argmax => 9,
        }
    }

    /// The op's name in manifests and docs.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Linear { .. } => "linear",
            Op::Conv2d { .. } => "conv2d",
            Op::Relu => "relu",
            Op::MaxPool2d { .. } => "maxpool2d",
            Op::AvgPool2d { .. } => "avgpool2d",
            Op::Add { .. } => "add",
            Op::Lut => "lut",
            Op::Reshape => "reshape",
            Op::Argmax => "argmax",
        }
    }

    /// The `i64` parameter list of the spec, in the documented order.
    pub fn params(&self) -> Vec<i64> {
        let b = |x: bool| x as i64;
        match *self {
            Op::Input | Op::Relu | Op::Lut | Op::Reshape | Op::Argmax => vec![],
            Op::Linear { relu } => vec![b(relu)],
            Op::Conv2d { stride, padding, relu } => {
                vec![stride[0] as i64, stride[1] as i64, padding[0] as i64, padding[1] as i64, b(relu)]
            }
            Op::MaxPool2d { kernel, stride, padding } => vec![
                kernel[0] as i64,
                kernel[1] as i64,
                stride[0] as i64,
                stride[1] as i64,
                padding[0] as i64,
                padding[1] as i64,
            ],
            Op::AvgPool2d { kernel, stride, mult, shift } => {
                vec![kernel[0] as i64, kernel[1] as i64, stride[0] as i64, stride[1] as i64, mult, shift]
            }
            Op::Add { mult_a, mult_b, shift, relu } => vec![mult_a, mult_b, shift, b(relu)],
        }
    }

    /// The op with `code` and `params`; the parameters must have their documented
    /// count and ranges.
    pub fn from_code(code: u8, params: &[i64]) -> Result<Op, SpecError> {
        let want = |n: usize| -> Result<(), SpecError> {
            if params.len() == n { Ok(()) } else { Err(SpecError::Params { op: code, want: n, got: params.len() }) }
        };
        let flag = |i: usize| -> Result<bool, SpecError> {
            match params[i] {
                0 => Ok(false),
                1 => Ok(true),
                v => Err(SpecError::Range { what: format!("param {i} (a flag)"), value: v }),
            }
        };
        let dim = |i: usize, min: i64| -> Result<u32, SpecError> {
            let v = params[i];
            if v < min || v > u32::MAX as i64 {
                return Err(SpecError::Range { what: format!("param {i}"), value: v });
            }
            Ok(v as u32)
        };
        Ok(match code {
            0 | 3 | 7 | 8 | 9 => {
                want(0)?;
                match code {
                    0 => Op::Input,
                    3 => Op::Relu,
                    7 => Op::Lut,
                    8 => Op::Reshape,
                    _ => Op::Argmax,
                }
            }
            1 => {
                want(1)?;
                Op::Linear { relu: flag(0)? }
            }
            2 => {
                want(5)?;
                Op::Conv2d { stride: [dim(0, 1)?, dim(1, 1)?], padding: [dim(2, 0)?, dim(3, 0)?], relu: flag(4)? }
            }
            4 => {
                want(6)?;
                Op::MaxPool2d {
                    kernel: [dim(0, 1)?, dim(1, 1)?],
                    stride: [dim(2, 1)?, dim(3, 1)?],
                    padding: [dim(4, 0)?, dim(5, 0)?],
                }
            }
            5 => {
                want(6)?;
                Op::AvgPool2d {
                    kernel: [dim(0, 1)?, dim(1, 1)?],
                    stride: [dim(2, 1)?, dim(3, 1)?],
                    mult: params[4],
                    shift: params[5],
                }
            }
            6 => {
                want(4)?;
                Op::Add { mult_a: params[0], mult_b: params[1], shift: params[2], relu: flag(3)? }
            }
            c => return Err(SpecError::UnknownOp(c)),
        })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An input of a step: the earlier step it reads and that step's output type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepInput {
    /// Index of the step whose output this is.
    pub step: u32,
    /// Its dtype and shape.
    pub ty: TensorType,
}

/// The canonical description of one step: what the model id commits to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepSpec {
    /// The op and its parameters.
    pub op: Op,
    /// The output type.
    pub out: TensorType,
    /// Inputs, in the op's order.
    pub inputs: Vec<StepInput>,
    /// Weight headers, in the op's order.
    pub weights: Vec<TensorHeader>,
}

/// A malformed spec encoding or parameter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    /// The bytes end early.
    #[error("spec bytes end early")]
    Truncated,
    /// Bytes remain after the spec.
    #[error("{0} bytes follow the spec")]
    Trailing(usize),
    /// Another op-set version.
    #[error("op-set version {0} is not supported (this is version {OP_SET_VERSION})")]
    Version(u8),
    /// An unknown op code.
    #[error("unknown op code {0}")]
    UnknownOp(u8),
    /// An unknown dtype code.
    #[error("unknown dtype code {0}")]
    UnknownDType(u8),
    /// A rank above the maximum.
    #[error("rank {0} is above the maximum of {MAX_RANK}")]
    Rank(usize),
    /// The wrong number of parameters for the op.
    #[error("op {op} takes {want} parameters, got {got}")]
    Params {
        /// Op code.
        op: u8,
        /// Parameters the op takes.
        want: usize,
        /// Parameters given.
        got: usize,
    },
    /// A parameter outside its range.
    #[error("{what} is out of range: {value}")]
    Range {
        /// Which parameter.
        what: String,
        /// Its value.
        value: i64,
    },
}

impl StepSpec {
    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![OP_SET_VERSION, self.op.code()];
        self.out.encode_into(&mut out);
        out.push(self.inputs.len() as u8);
        for input in &self.inputs {
            out.extend_from_slice(&input.step.to_be_bytes());
            input.ty.encode_into(&mut out);
        }
        let params = self.op.params();
        out.push(params.len() as u8);
        for p in params {
            out.extend_from_slice(&p.to_be_bytes());
        }
        out.push(self.weights.len() as u8);
        for w in &self.weights {
            w.ty.encode_into(&mut out);
            out.extend_from_slice(&w.data_root);
        }
        out
    }

    /// Parses canonical bytes; every byte must be used.
    pub fn decode(bytes: &[u8]) -> Result<StepSpec, SpecError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u8()?;
        if version != OP_SET_VERSION {
            return Err(SpecError::Version(version));
        }
        let code = r.u8()?;
        let out = r.ty()?;
        let n_inputs = r.u8()?;
        let mut inputs = Vec::with_capacity(n_inputs as usize);
        for _ in 0..n_inputs {
            let step = r.u32()?;
            inputs.push(StepInput { step, ty: r.ty()? });
        }
        let n_params = r.u8()?;
        let mut params = Vec::with_capacity(n_params as usize);
        for _ in 0..n_params {
            params.push(i64::from_be_bytes(r.take(8)?.try_into().expect("8 bytes")));
        }
        let op = Op::from_code(code, &params)?;
        let n_weights = r.u8()?;
        let mut weights = Vec::with_capacity(n_weights as usize);
        for _ in 0..n_weights {
            let ty = r.ty()?;
            let data_root: Hash = r.take(32)?.try_into().expect("32 bytes");
            weights.push(TensorHeader { ty, data_root });
        }
        if r.pos != bytes.len() {
            return Err(SpecError::Trailing(bytes.len() - r.pos));
        }
        Ok(StepSpec { op, out, inputs, weights })
    }

    /// The spec leaf: `keccak256(0x04 ‖ spec bytes)`.
    pub fn leaf_hash(&self) -> Hash {
        keccak(&[&[tag::SPEC_LEAF], &self.encode()])
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SpecError> {
        let end = self.pos.checked_add(n).ok_or(SpecError::Truncated)?;
        let s = self.bytes.get(self.pos..end).ok_or(SpecError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, SpecError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, SpecError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn ty(&mut self) -> Result<TensorType, SpecError> {
        let code = self.u8()?;
        let dtype = DType::from_code(code).ok_or(SpecError::UnknownDType(code))?;
        let rank = self.u8()? as usize;
        if rank > MAX_RANK {
            return Err(SpecError::Rank(rank));
        }
        let shape = (0..rank).map(|_| self.u32()).collect::<Result<_, _>>()?;
        Ok(TensorType { dtype, shape })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StepSpec {
        StepSpec {
            op: Op::Conv2d { stride: [1, 2], padding: [1, 0], relu: true },
            out: TensorType::new(DType::I8, [4, 8, 4]),
            inputs: vec![StepInput { step: 3, ty: TensorType::new(DType::I8, [2, 8, 8]) }],
            weights: vec![
                TensorHeader { ty: TensorType::new(DType::I8, [4, 2, 3, 3]), data_root: [7; 32] },
                TensorHeader { ty: TensorType::new(DType::I32, [4, 3]), data_root: [9; 32] },
            ],
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let s = sample();
        let bytes = s.encode();
        assert_eq!(StepSpec::decode(&bytes).unwrap(), s);
        // version, op, out type (2 + 12), 1 input (4 + 2 + 12), 5 params, 2 weights
        assert_eq!(bytes.len(), 2 + 14 + 1 + 18 + 1 + 40 + 1 + (2 + 16 + 32) + (2 + 8 + 32));
    }

    #[test]
    fn malformed_bytes_are_refused() {
        let bytes = sample().encode();
        assert_eq!(StepSpec::decode(&bytes[..bytes.len() - 1]), Err(SpecError::Truncated));
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(StepSpec::decode(&long), Err(SpecError::Trailing(1)));
        let mut v = bytes.clone();
        v[0] = 1;
        assert_eq!(StepSpec::decode(&v), Err(SpecError::Version(1)));
        let mut op = bytes.clone();
        op[1] = 42;
        assert!(matches!(StepSpec::decode(&op), Err(SpecError::Params { .. }) | Err(SpecError::UnknownOp(42))));
        let mut dt = bytes;
        dt[2] = 3;
        assert_eq!(StepSpec::decode(&dt), Err(SpecError::UnknownDType(3)));
    }

    #[test]
    fn params_round_trip_for_every_op() {
        let ops = [
            Op::Input,
            Op::Linear { relu: false },
            Op::Conv2d { stride: [2, 1], padding: [0, 3], relu: false },
            Op::Relu,
            Op::MaxPool2d { kernel: [3, 2], stride: [2, 2], padding: [1, 1] },
            Op::AvgPool2d { kernel: [4, 4], stride: [4, 4], mult: 1 << 30, shift: 34 },
            Op::Add { mult_a: 5, mult_b: 7, shift: 3, relu: true },
            Op::Lut,
            Op::Reshape,
            Op::Argmax,
        ];
        for op in ops {
            assert_eq!(Op::from_code(op.code(), &op.params()).unwrap(), op);
        }
        assert!(Op::from_code(1, &[2]).is_err());
        assert!(Op::from_code(2, &[0, 1, 0, 0, 0]).is_err());
    }
}
