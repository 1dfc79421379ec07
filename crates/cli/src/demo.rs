//! `refute demo`: the whole story in one command.
//!
//! Today it covers what exists end to end: every fixture model is loaded, checked,
//! identified, and run exactly on sample inputs, twice (once per thread count), with
//! the trace roots compared. The chain scenarios join it as they land.

use clap::Args;
use eyre::{bail, Result};
use refute_core::hash::to_hex;
use refute_core::testing::{random_input, Rng};
use refute_core::Model;
use refute_engine::Engine;
use std::path::PathBuf;
use std::sync::Arc;

/// `refute demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory of fixture models.
    #[arg(long, default_value = "fixtures/models")]
    models: PathBuf,
}

pub fn run(args: DemoArgs) -> Result<()> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&args.models)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        bail!("no models in {}", args.models.display());
    }
    for path in paths {
        let model = Arc::new(Model::load(&path)?);
        println!("model {:<16} id {}  steps {}  parameters {}", model.name(), to_hex(&model.id()), model.step_count(), model.parameter_count());
        let mut rng = Rng::new(2026);
        let inputs: Vec<_> = (0..4).map(|_| random_input(&mut rng, model.input_type())).collect();
        let engine = Engine::cpu(model.clone())?;
        refute_engine::tch::set_num_threads(1);
        let one = engine.run(&inputs)?;
        refute_engine::tch::set_num_threads(2);
        let two = engine.run(&inputs)?;
        for i in 0..one.len() {
            let same = one.trace(i) == two.trace(i);
            println!(
                "  input {i}: output {:?}  trace root {}  1 vs 2 threads: {}",
                (0..one.output(i).numel()).map(|e| one.output(i).get(e)).collect::<Vec<_>>(),
                to_hex(&one.trace(i).root),
                if same { "identical" } else { "DIFFERENT" }
            );
            if !same {
                bail!("the engine gave different bits with 1 and 2 threads");
            }
        }
    }
    Ok(())
}
