//! `refute model …` and `refute infer`.

use crate::input::{read_inputs, Values};
use clap::{Args, Subcommand};
use eyre::{bail, Context, Result};
use refute_core::hash::to_hex;
use refute_core::{Model, Tensor};
use refute_engine::Engine;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `refute model …`
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Print a model's steps, shapes, parameter counts and id.
    Inspect {
        /// The model's manifest (`<name>.json`).
        manifest: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a model's id.
    Id {
        /// The model's manifest.
        manifest: PathBuf,
    },
    /// Measure a classifier's accuracy with the exact engine.
    Eval {
        /// The model's manifest.
        manifest: PathBuf,
        /// Inputs: a `.npy` (or JSON) batch, floats quantized with the input scale.
        #[arg(long)]
        inputs: PathBuf,
        /// Labels: a `.npy` of integers, one per input.
        #[arg(long)]
        labels: PathBuf,
        /// Inferences per engine batch.
        #[arg(long, default_value_t = 256)]
        batch: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `refute infer`
#[derive(Debug, Args)]
pub struct InferArgs {
    /// The model's manifest.
    manifest: PathBuf,
    /// The input: raw int8 bytes, or floats as JSON or `.npy` (quantized with the
    /// model's input scale); a leading batch dim runs several inferences.
    input: PathBuf,
    /// The JSON or `.npy` numbers are int8 values already; do not quantize.
    #[arg(long)]
    int8: bool,
    /// Intra-op threads for libtorch (default: libtorch's choice).
    #[arg(long)]
    threads: Option<i32>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Loads a model, with the path in any error.
pub fn load_model(path: &Path) -> Result<Model> {
    Model::load(path).wrap_err_with(|| format!("loading model {}", path.display()))
}

pub fn run_model(cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Inspect { manifest, json } => inspect(&load_model(&manifest)?, json),
        ModelCommand::Id { manifest } => {
            println!("{}", to_hex(&load_model(&manifest)?.id()));
            Ok(())
        }
        ModelCommand::Eval { manifest, inputs, labels, batch, json } => eval(&manifest, &inputs, &labels, batch, json),
    }
}

fn inspect(model: &Model, as_json: bool) -> Result<()> {
    let steps: Vec<serde_json::Value> = model
        .steps()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "index": i,
                "name": s.name,
                "op": s.spec.op.name(),
                "inputs": s.inputs,
                "output": s.spec.out.to_string(),
                "params": s.spec.op.params(),
                "weights": s.spec.weights.iter().zip(&s.weight_names).map(|(w, n)| json!({"name": n, "type": w.ty.to_string()})).collect::<Vec<_>>(),
                "parameters": s.weights.iter().map(Tensor::numel).sum::<usize>(),
                "blocks": refute_core::reference::blocks(&s.spec),
            })
        })
        .collect();
    if as_json {
        let v = json!({
            "name": model.name(),
            "id": to_hex(&model.id()),
            "spec_root": to_hex(&model.spec_root()),
            "steps": steps,
            "step_count": model.step_count(),
            "parameters": model.parameter_count(),
            "input": model.input_type().to_string(),
            "output": model.output_type().to_string(),
            "input_scale": model.input_scale(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("model     {}", model.name());
    println!("id        {}", to_hex(&model.id()));
    println!("spec root {}", to_hex(&model.spec_root()));
    println!("steps     {}   parameters {}", model.step_count(), model.parameter_count());
    println!();
    // blocks: how many pieces one element's reduction is cut into (a dispute over
    // an element of more than one block also descends its checkpoints)
    println!("{:>4}  {:<14} {:<10} {:<8} {:<18} {:>10} {:>6}  params", "step", "name", "op", "inputs", "output", "weights", "blocks");
    for (i, s) in model.steps().iter().enumerate() {
        let inputs = s.inputs.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let params = s.spec.op.params().iter().map(i64::to_string).collect::<Vec<_>>().join(" ");
        println!(
            "{:>4}  {:<14} {:<10} {:<8} {:<18} {:>10} {:>6}  {}",
            i,
            s.name,
            s.spec.op.name(),
            inputs,
            s.spec.out.to_string(),
            s.weights.iter().map(Tensor::numel).sum::<usize>(),
            refute_core::reference::blocks(&s.spec),
            params
        );
    }
    Ok(())
}

/// Prints a tensor's values compactly: a scalar as a number, else a flat list.
fn values(t: &Tensor) -> serde_json::Value {
    let v: Vec<i64> = (0..t.numel()).map(|e| t.get(e)).collect();
    if t.ty().shape.is_empty() {
        json!(v[0])
    } else {
        json!(v)
    }
}

pub fn run_infer(args: InferArgs) -> Result<()> {
    if let Some(n) = args.threads {
        if n < 1 {
            bail!("--threads must be at least 1");
        }
        refute_engine::tch::set_num_threads(n);
    }
    let model = Arc::new(load_model(&args.manifest)?);
    let inputs = read_inputs(&model, &args.input, if args.int8 { Values::Int8 } else { Values::Auto })?;
    let engine = Engine::cpu(model.clone())?;
    let run = engine.run(&inputs)?;
    let results: Vec<serde_json::Value> = (0..run.len())
        .map(|i| {
            let out = run.output(i);
            json!({
                "output": values(&out),
                "output_type": out.ty().to_string(),
                "trace_root": to_hex(&run.trace(i).root),
                "step_count": run.step_count(),
            })
        })
        .collect();
    if args.json {
        let v = json!({"model": to_hex(&model.id()), "results": results});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("model {} ({})", model.name(), to_hex(&model.id()));
        for (i, r) in results.iter().enumerate() {
            println!(
                "[{i}] output {} = {}   trace root {}   steps {}",
                r["output_type"].as_str().unwrap_or_default(),
                r["output"],
                r["trace_root"].as_str().unwrap_or_default(),
                r["step_count"]
            );
        }
    }
    Ok(())
}

fn read_labels(path: &Path) -> Result<Vec<i64>> {
    let bytes = std::fs::read(path).wrap_err_with(|| format!("reading labels {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..]).wrap_err_with(|| format!("labels {} are not a .npy file", path.display()))?;
    let descr = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => bail!("labels: unsupported dtype {other:?}"),
    };
    Ok(match descr.trim_start_matches(['<', '>', '|', '=']) {
        "i8" => npy.into_vec::<i64>()?,
        "i4" => npy.into_vec::<i32>()?.into_iter().map(i64::from).collect(),
        other => bail!("labels must be int32 or int64, got {other}"),
    })
}

fn eval(manifest: &Path, inputs: &Path, labels: &Path, batch: usize, as_json: bool) -> Result<()> {
    let model = Arc::new(load_model(manifest)?);
    let xs = read_inputs(&model, inputs, Values::Auto)?;
    let ys = read_labels(labels)?;
    if xs.len() != ys.len() {
        bail!("{} inputs but {} labels", xs.len(), ys.len());
    }
    if model.output_type().numel() != 1 {
        bail!("eval needs a classifier whose output is one class index (end the model with argmax)");
    }
    let engine = Engine::cpu(model.clone())?;
    let mut correct = 0usize;
    for (xb, yb) in xs.chunks(batch.max(1)).zip(ys.chunks(batch.max(1))) {
        let run = engine.run(xb)?;
        correct += (0..run.len()).filter(|&i| run.output(i).get(0) == yb[i]).count();
    }
    let accuracy = correct as f64 / xs.len().max(1) as f64;
    if as_json {
        println!("{}", json!({"model": to_hex(&model.id()), "examples": xs.len(), "correct": correct, "accuracy": accuracy}));
    } else {
        println!("{}: {correct}/{} correct, accuracy {:.2}%", model.name(), xs.len(), 100.0 * accuracy);
    }
    Ok(())
}
