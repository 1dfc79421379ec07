//! `executor`: run, inspect or check an executor.

use clap::{Parser, Subcommand};
use refute_executor::ExecutorArgs;
use refute_runtime::shutdown::Shutdown;
use refute_store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

/// refute executor: serves inference requests, posts results with a stake and
/// defends them in dispute games.
#[derive(Debug, Parser)]
#[command(name = "executor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the executor until Ctrl-C or SIGTERM.
    Run(ExecutorArgs),
    /// List the results and games in the executor's store (safe while it runs).
    Status {
        /// The executor's data directory.
        #[arg(long, env = "REFUTE_DATA_DIR", default_value = ".refute-data/executor")]
        data_dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the settings, the models and the chain, and name what is wrong.
    Check(ExecutorArgs),
}

fn main() -> ExitCode {
    // before anything else: may start the program over (same pid and arguments)
    refute_engine::openmp::bound_spinning_at_start();
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    refute_chain::init_tls();
    let r = match cli.command {
        Command::Run(args) => rt.block_on(run(args)),
        Command::Status { data_dir, json } => Store::open_read_only(&data_dir)
            .and_then(|s| refute_executor::status::render(&s, json))
            .map(|text| println!("{text}"))
            .map_err(|e| e.to_string()),
        Command::Check(args) => rt.block_on(check(args)),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn problems(p: Vec<String>) -> String {
    format!("the settings are not usable:\n  - {}", p.join("\n  - "))
}

async fn run(args: ExecutorArgs) -> Result<(), String> {
    let r = args.resolve().map_err(problems)?;
    refute_runtime::logging::init(r.settings.log_format);
    let shutdown = Shutdown::on_signals();
    let Some(exec) = refute_executor::Executor::start(r.settings.clone(), r.models, r.options, &shutdown).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    if let Some(addr) = r.settings.metrics_addr {
        let reg = refute_runtime::metrics::registry("refute_executor");
        exec.metrics.register(&reg);
        let bound = refute_runtime::metrics::serve(addr, reg).await.map_err(|e| format!("metrics address {addr}: {e}"))?;
        tracing::info!(%bound, "serving metrics at /metrics");
    }
    exec.run(shutdown).await.map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

async fn check(args: ExecutorArgs) -> Result<(), String> {
    let r = args.resolve().map_err(problems)?;
    println!("settings: ok ({} model(s): {})", r.models.len(), r.models.describe().join(", "));
    let chain = refute_chain::Chain::connect(&r.settings.chain).await.map_err(|e| format!("chain: {e}"))?;
    println!("chain: {} (chain id {})", r.settings.chain.rpc_url, r.settings.chain.deployment.chain_id);
    let pre = refute_executor::service::preflight(&chain, &r.models, r.options.stake).await.map_err(|e| e.to_string())?;
    for f in &pre.facts {
        println!("{f}");
    }
    if pre.problems.is_empty() {
        println!("all good");
        Ok(())
    } else {
        Err(problems(pre.problems))
    }
}
