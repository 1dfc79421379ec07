//! The exact inference engine: runs a refute model with libtorch (`tch`) under the
//! integer semantics of `docs/semantics.md` and returns the output and the layer
//! trace (every step's tensor and commitment) of every inference in a batch.
//!
//! Why libtorch gives exact integers here: every GEMM multiplies int8 values, and
//! each of the two GEMM backends ([`Gemm`]) keeps every partial sum where its
//! arithmetic is exact whatever order the kernel adds in.
//!
//! - [`Gemm::Int8`] multiplies int8 by int8 into int32 accumulators (libtorch's
//!   `_int_mm`, oneDNN's VNNI/AMX kernels on x86). A product is at most 2^14 in
//!   magnitude, so a sum of at most [`INT8_BLOCK`] = 2^16 of them stays within 2^30.
//! - [`Gemm::Fp32Blocks`] holds the int8 values in fp32: a sum of at most
//!   [`EXACT_BLOCK`] = 1024 products stays within 2^24, where every integer is an
//!   fp32 value.
//!
//! Longer reductions are cut into blocks of the backend's bound and the block results
//! are added in int64. Convolutions run as im2col (`unfold`) plus those GEMMs, never
//! through Winograd or FFT algorithms, which multiply by fractions. Requantization
//! and every other op run in int64 or on exactly representable values.
//!
//! The int8 backend is used where a probe on adversarial values finds it exact: some
//! CPUs without VNNI compute int8 products through saturating 16-bit intermediates,
//! which would be fast and wrong. Elsewhere the engine falls back to fp32 blocks.

pub mod openmp;
mod prepared;

use prepared::Prepared;
use refute_core::commit::{data_roots, num_chunks, tensor_commitments};
use refute_core::hash::Hash;
use refute_core::tensor::{DType, Tensor, TensorType};
use refute_core::{commit, Model};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tch::{Device, Kind};

pub use tch;

/// The longest reduction computed in one fp32 GEMM: `1024 · 2^14 = 2^24`.
pub const EXACT_BLOCK: usize = 1024;

/// The longest reduction computed in one int8 GEMM: `2^16 · 2^14 = 2^30 < 2^31`.
pub const INT8_BLOCK: usize = 1 << 16;

/// How the engine computes the integer GEMMs of linear and conv steps. Both backends
/// give the same bits (the exact integer result); they differ in speed and in what
/// the hardware must offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gemm {
    /// int8 × int8 → int32 GEMMs (`_int_mm`), reductions cut at [`INT8_BLOCK`].
    Int8,
    /// int8 values in fp32 GEMMs, reductions cut at [`EXACT_BLOCK`].
    Fp32Blocks,
}

impl Gemm {
    /// The longest reduction one GEMM of this backend computes exactly.
    pub fn block(self) -> usize {
        match self {
            Gemm::Int8 => INT8_BLOCK,
            Gemm::Fp32Blocks => EXACT_BLOCK,
        }
    }

    /// The backend [`Engine::new`] uses on `device`: [`Gemm::Int8`] where
    /// [`Gemm::probe`] finds it exact there, else [`Gemm::Fp32Blocks`]. Probed once
    /// per process and device.
    pub fn detect(device: Device) -> Gemm {
        static CACHE: std::sync::Mutex<Vec<(Device, Gemm)>> = std::sync::Mutex::new(Vec::new());
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&(_, g)) = cache.iter().find(|(d, _)| *d == device) {
            return g;
        }
        let g = match Gemm::Int8.probe(device) {
            Ok(()) => Gemm::Int8,
            Err(why) => {
                tracing::info!(?device, %why, "int8 GEMMs are not exact here; using fp32 blocks");
                Gemm::Fp32Blocks
            }
        };
        cache.push((device, g));
        g
    }

    /// Checks this backend against exact integer products on `device`: extreme values
    /// (where saturating kernels go wrong), random values, a single row (where
    /// kernels switch to matrix-vector code), a one-column reduction (K = 1, wrong in
    /// libtorch 2.13's `_int_mm`, which the engine therefore avoids) and reductions of
    /// odd lengths past the fp32 bound. Returns why it is not exact, or the error
    /// libtorch gave.
    pub fn probe(self, device: Device) -> Result<(), String> {
        let _guard = tch::no_grad_guard();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 56) as u8 as i8
        };
        for (m, k, n) in [(5i64, 1i64, 6i64), (1, 27, 5), (3, 300, 17), (64, 1100, 33), (16, 2 * EXACT_BLOCK as i64 + 3, 48)] {
            for pattern in 0..4 {
                let fill = |r: usize, c: usize, rand: i8| -> i8 {
                    match pattern {
                        0 => -128,
                        1 => 127,
                        2 => {
                            if (r + c).is_multiple_of(2) {
                                127
                            } else {
                                -128
                            }
                        }
                        _ => rand,
                    }
                };
                let x: Vec<i8> = (0..(m * k) as usize).map(|i| fill(i / k as usize, i % k as usize, next())).collect();
                // the weights take the other extreme in patterns 0 and 1
                let w: Vec<i8> = (0..(n * k) as usize)
                    .map(|i| match pattern {
                        0 => 127,
                        1 => -128,
                        _ => fill(i % k as usize, i / k as usize, next()),
                    })
                    .collect();
                let got = self.product(&x, &w, m, k, n, device).map_err(|e| format!("libtorch: {e}"))?;
                // Reference: fp64 GEMM, exact while |sum| < 2^53.
                let to_f64 = |v: &[i8], rows: i64| -> Result<tch::Tensor, tch::TchError> {
                    let f: Vec<f64> = v.iter().map(|&b| b as f64).collect();
                    tch::Tensor::f_from_slice(&f)?.f_reshape([rows, k])
                };
                let want = to_f64(&x, m)
                    .and_then(|xs| xs.f_matmul(&to_f64(&w, n)?.f_tr()?))
                    .and_then(|t| t.f_to_kind(Kind::Int64))
                    .map_err(|e| format!("libtorch: {e}"))?;
                if !got.equal(&want) {
                    return Err(format!("{self:?} GEMM of {m}x{k} by {k}x{n} differs from the exact product (value pattern {pattern})"));
                }
            }
        }
        Ok(())
    }

    /// `x · wᵀ` through this backend, for row-major int8 `x` `[m, k]` and `w` `[n, k]`.
    fn product(self, x: &[i8], w: &[i8], m: i64, k: i64, n: i64, device: Device) -> Result<tch::Tensor, tch::TchError> {
        let weight = Tensor::from_i8([n as u32, k as u32], w.to_vec()).expect("sizes match");
        let blocked = prepared::BlockedWeights::new(&weight, n, k, self, device)?;
        let bytes: Vec<u8> = x.iter().map(|&b| b as u8).collect();
        let xs = tch::Tensor::f_from_slice(&bytes)?.f_view_dtype(Kind::Int8)?.f_reshape([m, k])?.f_to_device(device)?;
        blocked.matmul(&xs.f_to_kind(blocked.operand_kind())?)?.f_to_kind(Kind::Int64)?.f_to_device(Device::Cpu)
    }
}

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
        Tensor::from_canonical_bytes(self.steps[step].ty.clone(), self.step_bytes(sample, step)).expect("the engine writes whole tensors")
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
    gemm: Gemm,
    hash_threads: usize,
    steps: Vec<Prepared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("model", &self.model.name())
            .field("device", &self.device)
            .field("gemm", &self.gemm)
            .field("hash_threads", &self.hash_threads)
            .finish()
    }
}

impl Engine {
    /// Prepares `model` on `device` (weights converted once, GEMMs pre-blocked) with
    /// the fastest GEMM backend that is exact there ([`Gemm::detect`]).
    pub fn new(model: Arc<Model>, device: Device) -> Result<Self, EngineError> {
        Engine::with_gemm(model, device, Gemm::detect(device))
    }

    /// Prepares `model` on `device` with the given GEMM backend. Both backends give
    /// the same bits; choosing one is for tests and benchmarks. [`Gemm::Int8`] is
    /// only exact where [`Gemm::probe`] passes.
    pub fn with_gemm(model: Arc<Model>, device: Device, gemm: Gemm) -> Result<Self, EngineError> {
        let steps = model.steps().iter().map(|s| Prepared::new(s, gemm, device)).collect::<Result<_, _>>()?;
        let hash_threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Ok(Engine { model, device, gemm, hash_threads, steps })
    }

    /// Sets how many threads [`Engine::run`] hashes a batch's commitments on (at
    /// least one; by default one per logical CPU). Results do not depend on it.
    pub fn with_hash_threads(mut self, threads: usize) -> Self {
        self.hash_threads = threads.max(1);
        self
    }

    /// How many threads [`Engine::run`] hashes commitments on.
    pub fn hash_threads(&self) -> usize {
        self.hash_threads
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

    /// The GEMM backend it uses.
    pub fn gemm(&self) -> Gemm {
        self.gemm
    }

    /// The canonical bytes of a batch of inputs, one inference after another
    /// (the outputs of step 0), each input checked against the model's input type.
    fn input_bytes(&self, inputs: &[Tensor]) -> Result<Vec<u8>, EngineError> {
        let want = self.model.input_type();
        let mut bytes = Vec::with_capacity(inputs.len() * want.byte_len());
        for (index, t) in inputs.iter().enumerate() {
            if t.ty() != want {
                return Err(EngineError::Input { index, want: want.clone(), got: t.ty().clone() });
            }
            bytes.extend(t.canonical_bytes());
        }
        Ok(bytes)
    }

    /// Runs every step on a batch and returns the batched step outputs (on the
    /// engine's device), without committing to them.
    pub fn forward(&self, inputs: &[Tensor]) -> Result<Vec<tch::Tensor>, EngineError> {
        self.forward_from(&self.input_bytes(inputs)?, inputs.len())
    }

    /// [`Engine::forward`] from the inputs' canonical bytes ([`Engine::input_bytes`]).
    fn forward_from(&self, input: &[u8], batch: usize) -> Result<Vec<tch::Tensor>, EngineError> {
        let _guard = tch::no_grad_guard();
        let mut shape = vec![batch as i64];
        shape.extend(self.model.input_type().shape.iter().map(|&d| d as i64));
        let mut outs: Vec<tch::Tensor> = Vec::with_capacity(self.steps.len());
        let step0 = match self.model.input_type().dtype {
            DType::I8 => tch::Tensor::f_from_slice(input)?.f_view_dtype(Kind::Int8)?,
            DType::I32 => {
                // canonical int32 is big-endian; libtorch wants native values
                let ids: Vec<i32> = input.chunks_exact(4).map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes"))).collect();
                tch::Tensor::f_from_slice(&ids)?
            }
        };
        outs.push(step0.f_reshape(&shape)?.f_to_device(self.device)?);
        if batch == 0 {
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
    ///
    /// With one hashing thread ([`Engine::hash_threads`], fewer for small batches),
    /// the calling thread runs the forward pass, copies the step outputs out of
    /// libtorch (step 0's are the inputs' bytes, which it already has) and hashes
    /// the data trees of every step of the batch together ([`data_roots`], eight
    /// leaves or nodes per permutation), then the tensor commitments and trace
    /// trees.
    ///
    /// With more, the other threads are started before the forward pass and sleep
    /// until it is done. Then every thread takes units of work in turn, each one
    /// step of eight inferences: its data trees, then its tensor commitments. The
    /// units of step 0 come first, so the other threads hash the inputs while the
    /// calling thread copies the later steps out; it then takes units too, and
    /// hashes the trace trees last.
    ///
    /// The hashing threads need the cores libtorch's OpenMP workers just computed
    /// on, and libgomp's workers spin for up to `GOMP_SPINCOUNT` iterations after
    /// each parallel region before they sleep (300,000 by default: longer than all
    /// the hashing of a batch). A hashing thread sharing a core with a spinning
    /// worker gets half of it or less. The `refute` binaries therefore run with a
    /// bounded spin ([`openmp::bound_spinning`]); `docs/performance.md` has the
    /// figures.
    pub fn run(&self, inputs: &[Tensor]) -> Result<BatchRun, EngineError> {
        let batch = inputs.len();
        let types: Vec<&TensorType> = self.model.steps().iter().map(|step| &step.spec.out).collect();
        let chunks: usize = types.iter().map(|ty| num_chunks(ty.byte_len()) * batch).sum();
        let threads = self.hash_threads.min(batch).min(chunks / MIN_CHUNKS_PER_THREAD).max(1);
        let (steps, traces) = if threads == 1 {
            let step0 = self.input_bytes(inputs)?;
            let outs = self.forward_from(&step0, batch)?;
            let steps = step_outputs(&types, step0, copy_later_steps(&outs, &types, batch)?);
            let traces = commit_all(&steps, batch);
            (steps, traces)
        } else {
            self.run_shared(inputs, &types, threads)?
        };
        Ok(BatchRun { batch, steps, traces })
    }

    /// [`Engine::run`] with `threads` hashing threads: `threads - 1` helpers wait
    /// for the forward pass, hash the inputs while the calling thread copies the
    /// other steps out of libtorch, then all take what units are left.
    fn run_shared(&self, inputs: &[Tensor], types: &[&TensorType], threads: usize) -> Result<(Vec<StepOutputs>, Vec<Trace>), EngineError> {
        let batch = inputs.len();
        let groups = batch.div_ceil(UNIT_INFERENCES);
        // The outputs of step 0 (the inputs' bytes), set when the forward pass is
        // done, and those of every later step, set when they are copied; `None`:
        // never (the forward pass or a copy failed).
        let step0: OnceLock<Option<Vec<u8>>> = OnceLock::new();
        let later: OnceLock<Option<Vec<Vec<u8>>>> = OnceLock::new();
        // unit `u` is inferences `(u % groups) * UNIT_INFERENCES ..` of step `u / groups`
        let units: Vec<OnceLock<Vec<Hash>>> = (0..types.len() * groups).map(|_| OnceLock::new()).collect();
        let next_unit = AtomicUsize::new(0);
        let take_units = || {
            let Some(step0) = step0.wait() else { return };
            loop {
                let u = next_unit.fetch_add(1, Ordering::Relaxed);
                if u >= units.len() {
                    return;
                }
                let (step, first) = (u / groups, (u % groups) * UNIT_INFERENCES);
                let bytes: &[u8] = match step {
                    0 => step0,
                    _ => match later.wait() {
                        Some(later) => &later[step - 1],
                        None => return,
                    },
                };
                let n = types[step].byte_len();
                let tensors: Vec<&[u8]> = (first..(first + UNIT_INFERENCES).min(batch)).map(|b| &bytes[b * n..(b + 1) * n]).collect();
                let commitments = tensor_commitments(types[step], &data_roots(&tensors));
                units[u].set(commitments).expect("each unit is taken once");
            }
        };
        let done = std::thread::scope(|scope| {
            // Started before the forward pass, so that starting them is not on the
            // way after it; they sleep until it is done.
            let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(take_units)).collect();
            let done = (|| {
                let _release = Release { step0: &step0, later: &later };
                let bytes = self.input_bytes(inputs)?;
                let outs = self.forward_from(&bytes, batch)?;
                step0.set(Some(bytes)).expect("set once");
                later.set(Some(copy_later_steps(&outs, types, batch)?)).expect("set once");
                Ok::<_, EngineError>(())
            })();
            if done.is_ok() {
                take_units();
            }
            for helper in helpers {
                helper.join().expect("hashing does not panic");
            }
            done
        });
        done?;
        let steps = step_outputs(types, step0.into_inner().flatten().expect("set"), later.into_inner().flatten().expect("set"));
        let units: Vec<Vec<Hash>> = units.into_iter().map(|u| u.into_inner().expect("every unit was hashed")).collect();
        let per_inference =
            (0..batch).map(|b| (0..steps.len()).map(|s| units[s * groups + b / UNIT_INFERENCES][b % UNIT_INFERENCES]).collect()).collect();
        Ok((steps, traces(per_inference)))
    }

    /// Runs one inference and returns every step's tensor and the trace: what an
    /// executor recomputes to defend a result.
    pub fn run_one(&self, input: &Tensor) -> Result<(Vec<Tensor>, Trace), EngineError> {
        let run = self.run(std::slice::from_ref(input))?;
        let tensors = (0..run.step_count()).map(|s| run.step_tensor(0, s)).collect();
        Ok((tensors, run.traces[0].clone()))
    }
}

/// Fewest chunks worth a hashing thread of their own in [`Engine::run`]: below
/// about a hundred wide permutations, starting a thread costs more than it saves.
const MIN_CHUNKS_PER_THREAD: usize = 256;

/// Inferences in one unit of hashing work in [`Engine::run`] (of one step): enough
/// that tensors of a single chunk still fill the eight lanes of the grouped hasher,
/// few enough that the threads finish close together.
const UNIT_INFERENCES: usize = 8;

/// The traces of a whole batch on the calling thread: the data trees of every step
/// of every inference through the grouped hasher together ([`data_roots`]), then
/// their tensor commitments step by step, then their trace trees.
fn commit_all(steps: &[StepOutputs], batch: usize) -> Vec<Trace> {
    let tensors: Vec<&[u8]> = steps
        .iter()
        .flat_map(|s| {
            let n = s.ty.byte_len();
            (0..batch).map(move |b| &s.bytes[b * n..(b + 1) * n])
        })
        .collect();
    let roots = data_roots(&tensors);
    let commitments: Vec<Vec<Hash>> = steps.iter().zip(roots.chunks(batch.max(1))).map(|(s, roots)| tensor_commitments(&s.ty, roots)).collect();
    traces((0..batch).map(|i| commitments.iter().map(|c| c[i]).collect()).collect())
}

/// The traces of inferences whose step commitments are `per_inference`.
fn traces(per_inference: Vec<Vec<Hash>>) -> Vec<Trace> {
    let roots = commit::trace_roots(per_inference.clone());
    per_inference.into_iter().zip(roots).map(|(commitments, root)| Trace { commitments, root }).collect()
}

/// The canonical bytes of steps 1 and after, copied out of libtorch.
fn copy_later_steps(outs: &[tch::Tensor], types: &[&TensorType], batch: usize) -> Result<Vec<Vec<u8>>, EngineError> {
    types.iter().zip(outs).skip(1).map(|(ty, t)| canonical_bytes(t, ty, batch)).collect()
}

/// The step outputs of a batch from step 0's bytes (the inputs') and the later
/// steps' ([`copy_later_steps`]).
fn step_outputs(types: &[&TensorType], step0: Vec<u8>, later: Vec<Vec<u8>>) -> Vec<StepOutputs> {
    types.iter().zip(std::iter::once(step0).chain(later)).map(|(ty, bytes)| StepOutputs { ty: (*ty).clone(), bytes }).collect()
}

/// Marks whatever step outputs are not there yet as never to come when dropped,
/// however the forward pass or the copying stops: a helper waiting for them gives
/// up instead of sleeping forever.
struct Release<'a> {
    step0: &'a OnceLock<Option<Vec<u8>>>,
    later: &'a OnceLock<Option<Vec<Vec<u8>>>>,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        let _ = self.step0.set(None);
        let _ = self.later.set(None);
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
