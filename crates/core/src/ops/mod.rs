//! Every op of `docs/semantics.md`, one module each: its parameters as the spec
//! encodes them, its validation and output type, the bounds that keep its one-step
//! proof within budget, and its scalar reference (for a reducing op: its reduction
//! cut into blocks, its state, fold and finish). This module also holds what a step
//! spec is ([`StepSpec`]; its byte encoding is [`crate::spec`]'s).
//!
//! Adding an op is a module here, a variant of [`Op`] with one arm in each dispatch
//! below, its manifest fields (`crate::model::manifest`), and its Solidity twin in
//! `contracts/src/OneStepVerifier.sol`.

pub mod add;
pub mod argmax;
pub mod common;
pub mod conv2d;
pub mod embedding;
pub mod input;
pub mod layernorm;
pub mod linear;
pub mod lut;
pub mod matmul;
pub mod permute;
pub mod pool;
pub mod relu;
pub mod reshape;
pub mod residual;
pub mod softmax;

use crate::checkpoint::State;
use crate::commit::TensorHeader;
use crate::tensor::{DType, Elements, Tensor, TensorType, MAX_RANK};
use std::fmt;
use std::ops::Range;

/// Op-set version written into every spec.
pub const OP_SET_VERSION: u8 = 2;

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
    /// Rows of an int8 table selected by int32 ids (0 for an id outside it).
    Embedding,
    /// The input's axes in another order.
    Permute {
        /// Output axis `k` is input axis `perm[k]`.
        perm: Vec<u8>,
    },
    /// The product of two activations over their last two axes, requantized.
    Matmul {
        /// The second operand is `[..., N, K]` (used as its transpose).
        transpose_b: bool,
        /// Requantization multiplier.
        mult: i64,
        /// Requantization shift.
        shift: i64,
    },
    /// Softmax along the last axis from an exponential table of `max − x`,
    /// optionally with a key-padding mask (ids equal to `pad` are masked).
    Softmax {
        /// A second input (int32 ids along the reduced axis) masks keys.
        masked: bool,
        /// The id that masks a key (0 without a mask).
        pad: i64,
    },
    /// Layer norm over the last axis in integers: `(x >> pre)` centred and divided
    /// by the exact integer square root of `N²·var + eps`, then `γ`, `β` per
    /// channel at the scale `2^shift`.
    LayerNorm {
        /// Input shift (`z = x >> pre`), which bounds the row's sums.
        pre: i64,
        /// Added to `N²·var` under the root (`eps·N²` at the scale of `z²`).
        eps: i64,
        /// Output shift: `γ` and `β` are at the scale `2^shift`.
        shift: i64,
    },
    /// The add into an int32 residual stream, each operand int8 or int32.
    Residual {
        /// Multiplier of the first operand.
        mult_a: i64,
        /// Multiplier of the second operand.
        mult_b: i64,
        /// Shared shift (0: the exact sum).
        shift: i64,
    },
}

/// Terms per block of every reduction (`docs/semantics.md`, `BLOCK`), and the
/// budget (in bytes of one operand) that fixes how many channels or window rows a
/// block holds.
pub const BLOCK: u64 = 512;

/// Most bytes a one-channel `conv2d` block may span in its input plane.
pub const MAX_CONV_SPAN: u64 = 2048;

/// Most window rows one block of a `conv2d` or a pool reads: each row is a run of
/// its own in the verifier, so rows are what a block of short rows pays for.
pub const MAX_BLOCK_ROWS: u64 = 256;

/// How the reduction of every element of a step is cut into blocks
/// (`docs/semantics.md`, "Reductions").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reduction {
    /// Terms of one element's reduction (`T`).
    pub terms: u64,
    /// Terms per block (`B`).
    pub block: u64,
}

impl Reduction {
    /// Number of blocks `n = ceil(T / B)`, at least 1.
    pub fn blocks(&self) -> u64 {
        self.terms.div_ceil(self.block).max(1)
    }

    /// The terms of block `b`.
    pub fn range(&self, b: u64) -> Range<u64> {
        let start = b * self.block;
        start..(start + self.block).min(self.terms)
    }
}

/// The ops by name, as manifests write them (`flatten` is another name of `reshape`).
pub const NAMES: &[&str] = &[
    "input",
    "linear",
    "conv2d",
    "relu",
    "maxpool2d",
    "avgpool2d",
    "add",
    "lut",
    "reshape",
    "argmax",
    "embedding",
    "permute",
    "matmul",
    "softmax",
    "layernorm",
    "residual",
];

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
            Op::Embedding => 10,
            Op::Permute { .. } => 11,
            Op::Matmul { .. } => 12,
            Op::Softmax { .. } => 13,
            Op::LayerNorm { .. } => 14,
            Op::Residual { .. } => 15,
        }
    }

    /// The op's name in manifests and docs.
    pub fn name(&self) -> &'static str {
        NAMES[self.code() as usize]
    }

    /// The `i64` parameter list of the spec, in the documented order.
    pub fn params(&self) -> Vec<i64> {
        match self {
            Op::Input | Op::Relu | Op::Lut | Op::Reshape | Op::Argmax | Op::Embedding => vec![],
            Op::Linear { .. } => linear::params(self),
            Op::Conv2d { .. } => conv2d::params(self),
            Op::MaxPool2d { .. } | Op::AvgPool2d { .. } => pool::params(self),
            Op::Add { .. } => add::params(self),
            Op::Permute { .. } => permute::params(self),
            Op::Matmul { .. } => matmul::params(self),
            Op::Softmax { .. } => softmax::params(self),
            Op::LayerNorm { .. } => layernorm::params(self),
            Op::Residual { .. } => residual::params(self),
        }
    }

    /// The op with `code` and `params`; the parameters must have their documented
    /// count and ranges.
    pub fn from_code(code: u8, params: &[i64]) -> Result<Op, SpecError> {
        let p = Params { code, params };
        match code {
            0 => p.none(Op::Input),
            1 => linear::from_params(&p),
            2 => conv2d::from_params(&p),
            3 => p.none(Op::Relu),
            4 => pool::max_from_params(&p),
            5 => pool::avg_from_params(&p),
            6 => add::from_params(&p),
            7 => p.none(Op::Lut),
            8 => p.none(Op::Reshape),
            9 => p.none(Op::Argmax),
            10 => p.none(Op::Embedding),
            11 => permute::from_params(&p),
            12 => matmul::from_params(&p),
            13 => softmax::from_params(&p),
            14 => layernorm::from_params(&p),
            15 => residual::from_params(&p),
            c => Err(SpecError::UnknownOp(c)),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A spec's parameter list being decoded for op `code`.
pub(crate) struct Params<'a> {
    code: u8,
    params: &'a [i64],
}

impl Params<'_> {
    /// Exactly `n` parameters.
    pub(crate) fn want(&self, n: usize) -> Result<(), SpecError> {
        if self.params.len() == n {
            Ok(())
        } else {
            Err(SpecError::Params { op: self.code, want: n, got: self.params.len() })
        }
    }

    /// No parameters: `op`.
    fn none(&self, op: Op) -> Result<Op, SpecError> {
        self.want(0)?;
        Ok(op)
    }

    /// Parameter `i` as is.
    pub(crate) fn raw(&self, i: usize) -> i64 {
        self.params[i]
    }

    /// Parameter `i`, a flag (0 or 1).
    pub(crate) fn flag(&self, i: usize) -> Result<bool, SpecError> {
        match self.params[i] {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(SpecError::Range { what: format!("param {i} (a flag)"), value: v }),
        }
    }

    /// Parameter `i`, in `[0, hi]` (`what` names it in the error).
    pub(crate) fn within(&self, i: usize, hi: i64, what: &str) -> Result<i64, SpecError> {
        let v = self.params[i];
        if (0..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(SpecError::Range { what: format!("param {i} ({what})"), value: v })
        }
    }

    /// Parameter `i`, a dimension of at least `min` within u32.
    pub(crate) fn dim(&self, i: usize, min: i64) -> Result<u32, SpecError> {
        let v = self.params[i];
        if v < min || v > u32::MAX as i64 {
            return Err(SpecError::Range { what: format!("param {i}"), value: v });
        }
        Ok(v as u32)
    }
}

// ------------------------------------------------------------------ validation

/// Validates one step and returns its output type (`docs/semantics.md`).
pub(crate) fn check(op: &Op, inputs: &[StepInput], weights: &[&Tensor], shape: Option<&[u32]>, dtype: Option<DType>) -> Result<TensorType, String> {
    if shape.is_some() && !matches!(op, Op::Input | Op::Reshape) {
        return Err("only `input` and `reshape` take a shape".into());
    }
    if dtype.is_some() && *op != Op::Input {
        return Err("only `input` takes a dtype".into());
    }
    match op {
        Op::Input => input::check(inputs, weights, shape, dtype),
        Op::Linear { .. } => linear::check(inputs, weights),
        Op::Conv2d { .. } => conv2d::check(op, inputs, weights),
        Op::Relu => relu::check(inputs, weights),
        Op::MaxPool2d { .. } | Op::AvgPool2d { .. } => pool::check(op, inputs, weights),
        Op::Add { .. } => add::check(op, inputs, weights),
        Op::Lut => lut::check(inputs, weights),
        Op::Reshape => reshape::check(inputs, weights, shape),
        Op::Argmax => argmax::check(inputs, weights),
        Op::Embedding => embedding::check(inputs, weights),
        Op::Permute { .. } => permute::check(op, inputs, weights),
        Op::Matmul { .. } => matmul::check(op, inputs, weights),
        Op::Softmax { .. } => softmax::check(op, inputs, weights),
        Op::LayerNorm { .. } => layernorm::check(op, inputs, weights),
        Op::Residual { .. } => residual::check(inputs, weights),
    }
}

/// Most elements of any tensor of a model (`docs/semantics.md`, "Bounds").
pub const MAX_ELEMENTS: u64 = 1 << 32;

/// The bounds that keep every one-step proof of the step within its gas budget
/// whatever the step's width (`docs/semantics.md`, "Bounds the loader enforces").
pub(crate) fn check_provable(op: &Op, inputs: &[StepInput], weights: &[&Tensor], out: &TensorType) -> Result<(), String> {
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
        Op::Conv2d { .. } => conv2d::provable(inputs, weights),
        Op::MaxPool2d { .. } | Op::AvgPool2d { .. } => pool::provable(op),
        _ => Ok(()),
    }
}

// ----------------------------------------------------------- scalar reference

/// The reduction of a step's elements, or `None` for an op that does not reduce.
pub(crate) fn reduction(spec: &StepSpec) -> Option<Reduction> {
    match spec.op {
        Op::Linear { .. } => Some(linear::reduction(spec)),
        Op::Conv2d { .. } => Some(conv2d::reduction(spec)),
        Op::MaxPool2d { .. } | Op::AvgPool2d { .. } => Some(pool::reduction(spec)),
        Op::Argmax => Some(argmax::reduction(spec)),
        Op::Matmul { .. } => Some(matmul::reduction(spec)),
        Op::Softmax { .. } => Some(softmax::reduction(spec)),
        Op::LayerNorm { .. } => Some(layernorm::reduction(spec)),
        Op::Input | Op::Relu | Op::Add { .. } | Op::Residual { .. } | Op::Lut | Op::Reshape | Op::Embedding | Op::Permute { .. } => None,
    }
}

/// The fields of a reducing op's state.
pub(crate) fn state_fields(op: &Op) -> usize {
    match op {
        Op::Argmax => argmax::FIELDS,
        Op::Softmax { .. } => softmax::FIELDS,
        Op::LayerNorm { .. } => layernorm::FIELDS,
        _ => 1,
    }
}

/// `s_0`: the state before the first block.
pub(crate) fn init(spec: &StepSpec) -> State {
    match spec.op {
        Op::MaxPool2d { .. } => pool::max_init(),
        Op::Argmax => argmax::init(),
        Op::Softmax { .. } => softmax::init(),
        Op::LayerNorm { .. } => layernorm::init(),
        _ => State(vec![0]),
    }
}

/// Folds terms `terms` of output element `out` into `state`, in increasing order.
pub(crate) fn fold(spec: &StepSpec, out: usize, terms: Range<u64>, state: &mut [i128], inputs: &[&dyn Elements], weights: &[&dyn Elements]) {
    match spec.op {
        Op::Linear { .. } => linear::fold(spec, out, terms, state, inputs, weights),
        Op::Conv2d { .. } => conv2d::fold(spec, out, terms, state, inputs, weights),
        Op::MaxPool2d { .. } | Op::AvgPool2d { .. } => pool::fold(spec, out, terms, state, inputs),
        Op::Argmax => argmax::fold(spec, out, terms, state, inputs),
        Op::Matmul { .. } => matmul::fold(spec, out, terms, state, inputs),
        Op::Softmax { .. } => softmax::fold(spec, out, terms, state, inputs, weights),
        Op::LayerNorm { .. } => layernorm::fold(spec, out, terms, state, inputs),
        Op::Input | Op::Relu | Op::Add { .. } | Op::Residual { .. } | Op::Lut | Op::Reshape | Op::Embedding | Op::Permute { .. } => {
            unreachable!("{} does not reduce", spec.op)
        }
    }
}

/// The element from the state after the last block.
pub(crate) fn finish(spec: &StepSpec, out: usize, state: &[i128], weights: &[&dyn Elements]) -> i64 {
    match spec.op {
        Op::Linear { .. } => linear::finish(spec, out, state, weights),
        Op::Conv2d { .. } => conv2d::finish(spec, out, state, weights),
        Op::MaxPool2d { .. } | Op::AvgPool2d { .. } => pool::finish(spec, state),
        Op::Argmax => argmax::finish(state),
        Op::Matmul { .. } => matmul::finish(spec, state),
        Op::Softmax { .. } => softmax::finish(state),
        Op::LayerNorm { .. } => layernorm::finish(spec, out, state, weights),
        _ => unreachable!("{} does not reduce", spec.op),
    }
}

/// The value of an op that does not reduce.
pub(crate) fn direct(spec: &StepSpec, out: usize, inputs: &[&dyn Elements], weights: &[&dyn Elements]) -> i64 {
    match spec.op {
        Op::Relu => relu::eval(out, inputs),
        Op::Add { .. } => add::eval(spec, out, inputs),
        Op::Residual { .. } => residual::eval(spec, out, inputs),
        Op::Lut => lut::eval(out, inputs, weights),
        Op::Reshape => reshape::eval(out, inputs),
        Op::Embedding => embedding::eval(spec, out, inputs, weights),
        Op::Permute { .. } => permute::eval(spec, out, inputs),
        Op::Input => panic!("the input step has no computation"),
        _ => unreachable!("{} reduces", spec.op),
    }
}
