//! Benchmarks of refute (`docs/performance.md`): the models measured, the plain
//! fp32 libtorch network each exact model is compared with, and a side-by-side
//! timer that interleaves the variants so drift on a shared machine hits all alike.

pub mod protocol;

use refute_core::testing::Rng;
use refute_core::{Model, Op, Tensor};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tch::{Device, Kind};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every model manifest under `fixtures/models`, sorted by name.
pub fn fixture_models() -> Vec<Model> {
    let dir = repo_root().join("fixtures/models");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "json")).collect())
        .unwrap_or_default();
    paths.sort();
    paths.iter().map(|p| Model::load(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).collect()
}

pub use refute_core::testing::wide_mlp;

fn float_tensor(t: &Tensor) -> tch::Tensor {
    let v: Vec<f32> = (0..t.numel()).map(|e| t.get(e) as f32).collect();
    let shape: Vec<i64> = t.ty().shape.iter().map(|&d| d as i64).collect();
    tch::Tensor::from_slice(&v).reshape(&shape)
}

enum Fp32Step {
    Input,
    Linear {
        w: tch::Tensor,
        b: tch::Tensor,
        relu: bool,
    },
    Conv2d {
        w: tch::Tensor,
        b: tch::Tensor,
        stride: [i64; 2],
        padding: [i64; 2],
        relu: bool,
    },
    Relu,
    MaxPool2d {
        kernel: [i64; 2],
        stride: [i64; 2],
        padding: [i64; 2],
    },
    AvgPool2d {
        kernel: [i64; 2],
        stride: [i64; 2],
    },
    Add {
        relu: bool,
    },
    Activation,
    Reshape {
        shape: Vec<i64>,
    },
    Argmax,
    Embedding {
        table: tch::Tensor,
    },
    Permute {
        dims: Vec<i64>,
    },
    Matmul {
        transpose_b: bool,
    },
    /// softmax over the last axis, masked where the ids (input 1) equal `pad`
    Softmax {
        pad: Option<i64>,
    },
    /// layer norm over the last axis with the model's per-channel scale and shift
    LayerNorm {
        gamma: tch::Tensor,
        beta: tch::Tensor,
    },
}

/// The plain fp32 libtorch network with the same architecture and sizes as a
/// refute model: `linear`, `conv2d` (libtorch's own algorithm choice), pools, adds,
/// an element-wise GELU where the model has a lookup table; no requantization, no
/// blocking, no commitments. What the model would cost as an ordinary float network.
pub struct Fp32Net {
    steps: Vec<(Vec<usize>, Fp32Step)>,
}

fn pair(v: [u32; 2]) -> [i64; 2] {
    [v[0] as i64, v[1] as i64]
}

impl Fp32Net {
    /// The fp32 twin of `model`.
    pub fn new(model: &Model) -> Self {
        let steps = model
            .steps()
            .iter()
            .map(|s| {
                let bias = |q: &Tensor| {
                    let v: Vec<f32> = q.as_i32().expect("int32").chunks_exact(3).map(|r| r[0] as f32).collect();
                    tch::Tensor::from_slice(&v)
                };
                let step = match s.spec.op {
                    Op::Input => Fp32Step::Input,
                    Op::Linear { relu } => Fp32Step::Linear { w: float_tensor(&s.weights[0]), b: bias(&s.weights[1]), relu },
                    Op::Conv2d { stride, padding, relu } => Fp32Step::Conv2d {
                        w: float_tensor(&s.weights[0]),
                        b: bias(&s.weights[1]),
                        stride: pair(stride),
                        padding: pair(padding),
                        relu,
                    },
                    Op::Relu => Fp32Step::Relu,
                    Op::MaxPool2d { kernel, stride, padding } => {
                        Fp32Step::MaxPool2d { kernel: pair(kernel), stride: pair(stride), padding: pair(padding) }
                    }
                    Op::AvgPool2d { kernel, stride, .. } => Fp32Step::AvgPool2d { kernel: pair(kernel), stride: pair(stride) },
                    Op::Add { relu, .. } => Fp32Step::Add { relu },
                    Op::Residual { .. } => Fp32Step::Add { relu: false },
                    Op::Lut => Fp32Step::Activation,
                    Op::Reshape => Fp32Step::Reshape { shape: s.spec.out.shape.iter().map(|&d| d as i64).collect() },
                    Op::Argmax => Fp32Step::Argmax,
                    Op::Embedding => Fp32Step::Embedding { table: float_tensor(&s.weights[0]) },
                    Op::Matmul { transpose_b, .. } => Fp32Step::Matmul { transpose_b },
                    Op::Softmax { masked, pad } => Fp32Step::Softmax { pad: masked.then_some(pad) },
                    Op::LayerNorm { .. } => {
                        let q = s.weights[0].as_i32().expect("int32");
                        let (g, b): (Vec<f32>, Vec<f32>) = q.chunks_exact(2).map(|r| (r[0] as f32, r[1] as f32)).unzip();
                        Fp32Step::LayerNorm { gamma: tch::Tensor::from_slice(&g), beta: tch::Tensor::from_slice(&b) }
                    }
                    Op::Permute { ref perm } => Fp32Step::Permute { dims: std::iter::once(0).chain(perm.iter().map(|&a| a as i64 + 1)).collect() },
                };
                (s.inputs.iter().map(|&i| i as usize).collect(), step)
            })
            .collect();
        Fp32Net { steps }
    }

    /// The forward pass over a float batch (batch axis first); returns the output.
    pub fn forward(&self, x: &tch::Tensor) -> tch::Tensor {
        let _g = tch::no_grad_guard();
        let mut outs: Vec<tch::Tensor> = Vec::with_capacity(self.steps.len());
        for (inputs, step) in &self.steps {
            let a = |i: usize| &outs[inputs[i]];
            let y = match step {
                Fp32Step::Input => x.shallow_clone(),
                Fp32Step::Linear { w, b, relu } => {
                    let y = a(0).linear(w, Some(b));
                    if *relu {
                        y.relu()
                    } else {
                        y
                    }
                }
                Fp32Step::Conv2d { w, b, stride, padding, relu } => {
                    let y = a(0).conv2d(w, Some(b), stride, padding, [1, 1], 1);
                    if *relu {
                        y.relu()
                    } else {
                        y
                    }
                }
                Fp32Step::Relu => a(0).relu(),
                Fp32Step::MaxPool2d { kernel, stride, padding } => a(0).max_pool2d(kernel, stride, padding, [1, 1], false),
                Fp32Step::AvgPool2d { kernel, stride } => a(0).avg_pool2d(kernel, stride, [0, 0], false, true, None),
                Fp32Step::Add { relu } => {
                    let y = a(0) + a(1);
                    if *relu {
                        y.relu()
                    } else {
                        y
                    }
                }
                Fp32Step::Activation => a(0).gelu("none"),
                Fp32Step::Reshape { shape } => {
                    let mut s = vec![a(0).size()[0]];
                    s.extend(shape);
                    a(0).reshape(&s)
                }
                Fp32Step::Argmax => a(0).argmax(-1, false),
                // ids arrive as floats; a float network has no ids outside its table
                Fp32Step::Embedding { table } => {
                    let ids = a(0).to_kind(Kind::Int64).clamp(0, table.size()[0] - 1);
                    let mut shape = ids.size();
                    shape.push(table.size()[1]);
                    table.index_select(0, &ids.flatten(0, -1)).reshape(&shape)
                }
                Fp32Step::Permute { dims } => a(0).permute(dims),
                Fp32Step::Matmul { transpose_b } => a(0).matmul(&if *transpose_b { a(1).transpose(-1, -2) } else { a(1).shallow_clone() }),
                Fp32Step::Softmax { pad } => {
                    let x = a(0).to_kind(Kind::Float);
                    let x = match pad {
                        Some(pad) => {
                            // the key mask [B, N], broadcast over x's rows
                            let mut view = vec![x.size()[0]];
                            view.extend(std::iter::repeat_n(1, x.dim() - 2));
                            view.push(x.size()[x.dim() - 1]);
                            x.masked_fill(&a(1).eq(*pad).reshape(&view), f64::NEG_INFINITY)
                        }
                        None => x,
                    };
                    x.softmax(-1, Kind::Float)
                }
                Fp32Step::LayerNorm { gamma, beta } => {
                    a(0).to_kind(Kind::Float).layer_norm([gamma.size()[0]].as_slice(), Some(gamma), Some(beta), 1e-5, false)
                }
            };
            outs.push(y);
        }
        outs.pop().expect("at least one step")
    }
}

/// A float batch of the model's input shape (values in the int8 range; token ids
/// in `[0, 48)`).
pub fn float_batch(model: &Model, batch: usize, seed: u64) -> tch::Tensor {
    let mut rng = Rng::new(seed);
    let n = model.input_type().numel() * batch;
    let ids = model.input_type().dtype == refute_core::DType::I32;
    let v: Vec<f32> = (0..n).map(|_| if ids { rng.range(0, 47) as f32 } else { rng.i8() as f32 }).collect();
    let mut shape = vec![batch as i64];
    shape.extend(model.input_type().shape.iter().map(|&d| d as i64));
    tch::Tensor::from_slice(&v).reshape(&shape).to_kind(Kind::Float).to_device(Device::Cpu)
}

/// A batch of random inputs of the model's input type.
pub fn int8_batch(model: &Model, batch: usize, seed: u64) -> Vec<Tensor> {
    let mut rng = Rng::new(seed);
    (0..batch).map(|_| refute_core::testing::random_input(&mut rng, model.input_type())).collect()
}

/// Times several variants side by side: `rounds` rounds, each running every variant
/// `iters` times in turn, after one warm-up round. Returns each variant's median
/// time per iteration over the rounds.
pub fn side_by_side(variants: &mut [&mut dyn FnMut()], rounds: usize, iters: usize) -> Vec<Duration> {
    for v in variants.iter_mut() {
        for _ in 0..iters {
            v();
        }
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); variants.len()];
    for _ in 0..rounds {
        for (i, v) in variants.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..iters {
                v();
            }
            samples[i].push(start.elapsed() / iters as u32);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort();
            s[s.len() / 2]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fp32_twin_runs_every_op_and_keeps_the_output_shape() {
        let model = refute_core::testing::every_op_model();
        let y = Fp32Net::new(&model).forward(&float_batch(&model, 3, 1));
        assert_eq!(y.size(), vec![3]);
        let mlp = wide_mlp(64, 2);
        assert_eq!(Fp32Net::new(&mlp).forward(&float_batch(&mlp, 2, 1)).size(), vec![2, 10]);
    }
}
