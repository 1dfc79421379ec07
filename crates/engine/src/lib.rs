//! The exact inference engine: runs a refute model with libtorch (`tch`) under the
//! integer semantics of `docs/semantics.md` and returns the output and the layer
//! trace (every step's tensor and commitment) of every inference in a batch.
//!
//! Why libtorch gives exact integers here: every GEMM multiplies int8 values held in
//! fp32. A product is at most 2^14 in magnitude, so a sum of at most
//! [`EXACT_BLOCK`] = 1024 of them stays within 2^24, where every integer is an fp32
//! value: whatever order the BLAS kernel adds in, each partial sum is exact. Longer
//! reductions are cut into blocks of at most 1024 and the block results are added in
//! int64. Convolutions run as im2col (`unfold`) plus those GEMMs, never through
//! Winograd or FFT algorithms, which multiply by fractions. Requantization and every
//! other op run in int64 or on exactly representable values.

mod prepared;

use prepared::Prepared;
use refute_core::commit::{data_root, TensorHeader};
use refute_core::hash::Hash;
use refute_core::tensor::{DType, Tensor, TensorType};
use refute_core::{commit, Model};
use std::sync::Arc;
use tch::{Device, Kind};

pub use tch;

/// The longest reduction computed in one fp32 GEMM: `1024 · 2^14 = 2^24`.
pub const EXACT_BLOCK: usize = 1024;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An input does not have the model's input type.
    #[error("input {index} is {got}, but the model takes {want}")]
    Input {
        /// Position of the input in the batch.
        index: usize,
        /// The model's input type.
        want: TensorType,
        /// The input's type.
        got: TensorType,
    },
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// The trace of one inference: the commitment of every step's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// `c_0 … c_{n-1}`.
    pub commitments: Vec<Hash>,
    /// The trace root over them.
    pub root: Hash,
}

impl Trace {
    /// The trace of the given step commitments.
    pub fn new(commitments: Vec<Hash>) -> Self {
        let root = commit::trace_root(&commitments);
        Trace { commitments, root }
    }
}

/// One step's outputs for a whole batch, as canonical bytes.
#[derive(Debug, Clone)]
struct StepOutputs {
    ty: TensorType,
    /// Canonical bytes of every inference, one after another.
    bytes: Vec<u8>,
}

/// The outputs and traces of a batch of inferences.
#[derive(Debug, Clone)]
pub struct BatchRun {
    batch: usize,
    steps: Vec<StepOutputs>,
    traces: Vec<Trace>,
}

impl BatchRun {
    /// Number of inferences.
    pub fn len(&self) -> usize {
        self.batch
    }

    /// Whether the batch was empty.
    pub fn is_empty(&self) -> bool {
        self.batch == 0
    }

    /// Number of steps of the model.
    pub fn step_count(&self) -> usize {
        self.steps.len()
    }

    /// Canonical bytes of step `step` of inference `sample`.
    pub fn step_bytes(&self, sample: usize, step: usize) -> &[u8] {
        let s = &self.steps[step];
        let n = s.ty.byte_len();
        &s.bytes[sample * n..(sample + 1) * n]
    }

    /// Step `step`'s output of inference `sample`.
    pub fn step_tensor(&self, sample: usize, step: usize) -> Tensor {
        Tensor::from_canonical_bytes(self.steps[step].ty.clone(), self.step_bytes(sample, step))
            .expect("the engine writes whole tensors")
    }

    /// The output (last step) of inference `sample`.
    pub fn output(&self, sample: usize) -> Tensor {
        self.step_tensor(sample, self.steps.len() - 1)
    }

    /// The trace of inference `sample`.
    pub fn trace(&self, sample: usize) -> &Trace {
        &self.traces[sample]
    }

    /// Every trace, in batch order.
    pub fn traces(&self) -> &[Trace] {
        &self.traces
    }
}

/// A model prepared for exact inference on one device.
pub struct Engine {
    model: Arc<Model>,
    device: Device,
    steps: Vec<Prepared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("model", &self.model.name()).field("device", &self.device).finish()
    }
}

impl Engine {
    /// Prepares `model` on `device` (weights converted once, GEMMs pre-blocked).
    pub fn new(model: Arc<Model>, device: Device) -> Result<Self, EngineError> {
        let steps = model.steps().iter().map(|s| Prepared::new(s, device)).collect::<Result<_, _>>()?;
        Ok(Engine { model, device, steps })
    }

    /// Prepares `model` on the CPU.
    pub fn cpu(model: Arc<Model>) -> Result<Self, EngineError> {
        Engine::new(model, Device::Cpu)
    }

    /// The model.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The device it runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    fn input_batch(&self, inputs: &[Tensor]) -> Result<tch::Tensor, EngineError> {
        let want = self.model.input_type();
        let mut bytes = Vec::with_capacity(inputs.len() * want.byte_len());
        for (index, t) in inputs.iter().enumerate() {
            if t.ty() != want {
                return Err(EngineError::Input { index, want: want.clone(), got: t.ty().clone() });
            }
            bytes.extend(t.as_i8().expect("int8, checked with the type").iter().map(|&x| x as u8));
        }
        let mut shape = vec![inputs.len() as i64];
        shape.extend(want.shape.iter().map(|&d| d as i64));
        Ok(tch::Tensor::f_from_slice(&bytes)?.f_view_dtype(Kind::Int8)?.f_reshape(&shape)?.f_to_device(self.device)?)
    }

    /// Runs every step on a batch and returns the batched step outputs (on the
    /// engine's device), without committing to them.
    pub fn forward(&self, inputs: &[Tensor]) -> Result<Vec<tch::Tensor>, EngineError> {
        let _guard = tch::no_grad_guard();
        let mut outs: Vec<tch::Tensor> = Vec::with_capacity(self.steps.len());
        outs.push(self.input_batch(inputs)?);
        if inputs.is_empty() {
            // Some libtorch kernels reject empty batches; an empty batch has empty outputs.
            for step in &self.model.steps()[1..] {
                let mut shape = vec![0i64];
                shape.extend(step.spec.out.shape.iter().map(|&d| d as i64));
                outs.push(tch::Tensor::f_zeros(&shape, (kind_of(step.spec.out.dtype), self.device))?);
            }
            return Ok(outs);
        }
        for (step, prepared) in self.model.steps().iter().zip(&self.steps).skip(1) {
            let args: Vec<&tch::Tensor> = step.inputs.iter().map(|&i| &outs[i as usize]).collect();
            let y = prepared.run(&args)?;
            outs.push(y);
        }
        Ok(outs)
    }

    /// Runs a batch and commits to every step of every inference.
    pub fn run(&self, inputs: &[Tensor]) -> Result<BatchRun, EngineError> {
        let outs = self.forward(inputs)?;
        let batch = inputs.len();
        let steps: Vec<StepOutputs> = self
            .model
            .steps()
            .iter()
            .zip(&outs)
            .map(|(step, t)| canonical_bytes(t, &step.spec.out, batch).map(|bytes| StepOutputs { ty: step.spec.out.clone(), bytes }))
            .collect::<Result<_, _>>()?;
        drop(outs);
        let traces = commit_batch(&steps, batch);
        Ok(BatchRun { batch, steps, traces })
    }

    /// Runs one inference and returns every step's tensor and the trace: what an
    /// executor recomputes to defend a result.
    pub fn run_one(&self, input: &Tensor) -> Result<(Vec<Tensor>, Trace), EngineError> {
        let run = self.run(std::slice::from_ref(input))?;
        let tensors = (0..run.step_count()).map(|s| run.step_tensor(0, s)).collect();
        Ok((tensors, run.traces[0].clone()))
    }
}

fn kind_of(dtype: DType) -> Kind {
    match dtype {
        DType::I8 => Kind::Int8,
        DType::I32 => Kind::Int,
    }
}

/// Canonical bytes of a batched step output: int8 as is, int32 big-endian.
fn canonical_bytes(t: &tch::Tensor, ty: &TensorType, batch: usize) -> Result<Vec<u8>, EngineError> {
    let numel = ty.numel() * batch;
    let t = t.f_to_device(Device::Cpu)?.f_contiguous()?;
    Ok(match ty.dtype {
        DType::I8 => {
            let mut out = vec![0u8; numel];
            t.f_copy_data_u8(&mut out, numel)?;
            out
        }
        DType::I32 => {
            let mut v = vec![0i32; numel];
            t.f_to_kind(Kind::Int)?.f_copy_data(&mut v, numel)?;
            v.iter().flat_map(|x| x.to_be_bytes()).collect()
        }
    })
}

/// Commits to every step of every inference, spreading inferences over the
/// threads libtorch is allowed to use.
fn commit_batch(steps: &[StepOutputs], batch: usize) -> Vec<Trace> {
    let trace_of = |sample: usize| {
        Trace::new(
            steps
                .iter()
                .map(|s| {
                    let n = s.ty.byte_len();
                    let root = data_root(&s.bytes[sample * n..(sample + 1) * n]);
                    TensorHeader { ty: s.ty.clone(), data_root: root }.commitment()
                })
                .collect(),
        )
    };
    let threads = (tch::get_num_threads().max(1) as usize).min(batch.max(1));
    if threads <= 1 {
        return (0..batch).map(trace_of).collect();
    }
    let per = batch.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * per).min(batch)..((t + 1) * per).min(batch);
                scope.spawn(move || range.map(trace_of).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("hashing does not panic")).collect()
    })
}
