//! Step specs: one op with its parameters, inputs, output type and weight headers,
//! and their canonical bytes (`docs/commitments.md`, `docs/semantics.md`). The ops
//! themselves are in [`crate::ops`].

use crate::commit::TensorHeader;
use crate::hash::{keccak, tag, Hash};
use crate::tensor::{DType, TensorType, MAX_RANK};

pub use crate::ops::common::{MAX_ACC, MAX_MULT, MAX_PRODUCT, MAX_SHIFT, MIN_SHIFT};
pub use crate::ops::{Op, SpecError, StepInput, StepSpec, OP_SET_VERSION};

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
            Op::Embedding,
            Op::Permute { perm: vec![0] },
            Op::Permute { perm: vec![2, 0, 3, 1] },
            Op::Matmul { transpose_b: true, mult: 1 << 30, shift: 40 },
            Op::Matmul { transpose_b: false, mult: 0, shift: 1 },
            Op::Softmax { masked: false, pad: 0 },
            Op::Softmax { masked: true, pad: -(1 << 31) },
            Op::Softmax { masked: true, pad: (1 << 31) - 1 },
            Op::LayerNorm { pre: 0, eps: 0, shift: 0 },
            Op::LayerNorm { pre: 31, eps: 1 << 56, shift: 32 },
            Op::Residual { mult_a: 0, mult_b: 1 << 30, shift: 0 },
            Op::Residual { mult_a: 1 << 30, mult_b: 7, shift: 62 },
        ];
        for op in ops {
            assert_eq!(Op::from_code(op.code(), &op.params()).unwrap(), op);
        }
        assert!(Op::from_code(1, &[2]).is_err());
        // layer norm: pre in [0, 31], eps in [0, 2^56], the shift in [0, 32]
        assert!(Op::from_code(14, &[32, 0, 0]).is_err());
        assert!(Op::from_code(14, &[0, (1 << 56) + 1, 0]).is_err());
        assert!(Op::from_code(14, &[0, -1, 0]).is_err());
        assert!(Op::from_code(14, &[0, 0, 33]).is_err());
        assert!(Op::from_code(14, &[0, 0]).is_err());
        assert!(Op::from_code(2, &[0, 1, 0, 0, 0]).is_err());
        // a permutation names every axis once, of a rank from 1 to 8
        assert!(Op::from_code(11, &[]).is_err());
        assert!(Op::from_code(11, &[0, 0]).is_err());
        assert!(Op::from_code(11, &[1, 2]).is_err());
        assert!(Op::from_code(11, &[-1, 0]).is_err());
        assert!(Op::from_code(11, &[0, 1, 2, 3, 4, 5, 6, 7, 8]).is_err());
        assert_eq!(Op::from_code(11, &[7, 6, 5, 4, 3, 2, 1, 0]).unwrap().params(), vec![7, 6, 5, 4, 3, 2, 1, 0]);
        assert!(Op::from_code(10, &[0]).is_err());
        assert!(Op::from_code(12, &[2, 1, 1]).is_err());
        assert!(Op::from_code(12, &[0, 1]).is_err());
        // a pad id is an int32 value, and 0 without a mask
        assert!(Op::from_code(13, &[1, 1 << 31]).is_err());
        assert!(Op::from_code(13, &[0, 5]).is_err());
        assert!(Op::from_code(13, &[2, 0]).is_err());
        assert!(Op::from_code(13, &[1]).is_err());
    }
}
