//! `challenger`: run, inspect or check a challenger (watchtower).

use clap::{Parser, Subcommand};
use refute_challenger::ChallengerArgs;
use refute_runtime::shutdown::Shutdown;
use refute_store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

/// refute challenger (watchtower): re-runs posted results and disputes wrong ones
/// until the executor is slashed.
#[derive(Debug, Parser)]
#[command(name = "challenger", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the challenger until Ctrl-C or SIGTERM.
    Run(ChallengerArgs),
    /// List the results and games in the challenger's store (safe while it runs).
    Status {
        /// The challenger's data directory.
        #[arg(long, env = "REFUTE_DATA_DIR", default_value = ".refute-data/challenger")]
        data_dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the settings, the models and the chain, and name what is wrong.
    Check(ChallengerArgs),
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
            .and_then(|s| refute_challenger::status::render(&s, json))
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

async fn run(args: ChallengerArgs) -> Result<(), String> {
    let r = args.resolve().map_err(problems)?;
    refute_runtime::logging::init(r.settings.log_format);
    let shutdown = Shutdown::on_signals();
    let Some(svc) = refute_challenger::Challenger::start(r.settings.clone(), r.models, r.options, &shutdown).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    if let Some(addr) = r.settings.metrics_addr {
        let reg = refute_runtime::metrics::registry("refute_challenger");
        svc.metrics.register(&reg);
        let bound = refute_runtime::metrics::serve(addr, reg).await.map_err(|e| format!("metrics address {addr}: {e}"))?;
        tracing::info!(%bound, "serving metrics at /metrics");
    }
    svc.run(shutdown).await.map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

async fn check(args: ChallengerArgs) -> Result<(), String> {
    let r = args.resolve().map_err(problems)?;
    println!("settings: ok ({} model(s): {})", r.models.len(), r.models.describe().join(", "));
    let chain = refute_chain::Chain::connect(&r.settings.chain).await.map_err(|e| format!("chain: {e}"))?;
    println!("chain: {} (chain id {})", r.settings.chain.rpc_url, r.settings.chain.deployment.chain_id);
    let pre = refute_challenger::service::preflight(&chain, &r.models, r.options.bond).await.map_err(|e| e.to_string())?;
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
