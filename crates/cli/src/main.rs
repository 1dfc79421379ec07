//! The `refute` command line: models, exact inference, and (with a chain) the
//! devnet, deployment, requests and their status, and the demo. `main` parses and dispatches; each
//! command lives in its own module.

mod chain_cmd;
mod demo;
mod input;
mod model_cmd;
mod request_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// refute: optimistic verification and fraud proofs for ML inference on Ethereum.
#[derive(Debug, Parser)]
#[command(name = "refute", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect, identify and evaluate models.
    #[command(subcommand)]
    Model(model_cmd::ModelCommand),
    /// Run exact inference and print the output, trace root and step count.
    Infer(model_cmd::InferArgs),
    /// Start a local chain with the protocol deployed and the fixture models
    /// registered; print endpoints, addresses and funded keys; run until Ctrl-C.
    Devnet(chain_cmd::DevnetArgs),
    /// Deploy the contracts on any chain and write the deployment file the
    /// services read.
    Deploy(chain_cmd::DeployArgs),
    /// Ask for an inference: a model, an input (as `infer` reads it), a fee and
    /// an optional callback; prints the request id.
    Request(request_cmd::RequestArgs),
    /// Show where a request stands: its state, the results posted for it, their
    /// games, and the output once final.
    Status(request_cmd::StatusArgs),
    /// Get the fee of a request nobody served back: refund it after its
    /// deadline and withdraw it to the requester.
    Refund(request_cmd::RefundArgs),
    /// Show the system working end to end: exact inference, then honest, cheating
    /// and griefing parties on a fresh devnet, with a timeline and a summary.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    // before anything else: may start the program over (same pid and arguments)
    refute_engine::openmp::bound_spinning_at_start();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Model(cmd) => model_cmd::run_model(cmd),
        Command::Infer(args) => model_cmd::run_infer(args),
        Command::Devnet(args) => chain_cmd::run_devnet(args),
        Command::Deploy(args) => chain_cmd::run_deploy(args),
        Command::Request(args) => request_cmd::run_request(args),
        Command::Status(args) => request_cmd::run_status(args),
        Command::Refund(args) => request_cmd::run_refund(args),
        Command::Demo(args) => demo::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
