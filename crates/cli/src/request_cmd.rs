//! What a requester does from the command line: `refute request` asks for an
//! inference (model, input read as `refute infer` reads it, fee, optional callback)
//! and `refute status` shows where a request stands (its state, every result
//! posted for it, their games, and the output once final), instead of hand-made
//! `cast` calls.

use crate::input::{read_inputs, Values};
use clap::Args;
use eyre::{bail, eyre, Result, WrapErr};
use refute_chain::alloy::primitives::{Address, U256};
use refute_chain::{parse_amount, Chain, ChainConfig, Deployment, Event, FeePolicy, RequestStatus, ResultStatus};
use refute_core::hash::to_hex;
use refute_core::{Model, Tensor};
use serde_json::json;
use std::path::PathBuf;

/// Where the protocol is and who speaks.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// JSON-RPC URL of an Ethereum node.
    #[arg(long, env = "REFUTE_RPC_URL", default_value = "http://127.0.0.1:8545")]
    rpc_url: String,
    /// The deployment file `refute deploy` (or `refute devnet`) wrote.
    #[arg(long, env = "REFUTE_DEPLOYMENT")]
    deployment: PathBuf,
}

/// `refute request`
#[derive(Debug, Args)]
pub struct RequestArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// Hex private key of the requester (pays the fee).
    #[arg(long, env = "REFUTE_PRIVATE_KEY", hide_env_values = true)]
    private_key: String,
    /// The model's manifest.
    model: PathBuf,
    /// The input file, as `refute infer` reads it (one request per input in it).
    input: PathBuf,
    /// The input's numbers are int8 values already (JSON or integer `.npy`).
    #[arg(long)]
    int8: bool,
    /// Fee paid to the executor who serves it (wei, or e.g. `0.01ether`).
    #[arg(long, default_value = "0.01ether")]
    fee: String,
    /// A contract to call back when the result is final (`onInferenceFinal`).
    #[arg(long)]
    callback: Option<Address>,
    /// Gas for the callback.
    #[arg(long, default_value_t = 200_000)]
    callback_gas: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `refute status`
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// The request's id.
    request: u64,
    /// The model's manifest, to print the output as values (else hex).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `refute refund`
#[derive(Debug, Args)]
pub struct RefundArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// Hex private key of the requester (the fee is credited to it).
    #[arg(long, env = "REFUTE_PRIVATE_KEY", hide_env_values = true)]
    private_key: String,
    /// The request's id.
    request: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

async fn connect(args: &ChainArgs, key: &str) -> Result<Chain> {
    let deployment = Deployment::load(&args.deployment).map_err(|e| eyre!(e))?;
    let cfg = ChainConfig { rpc_url: args.rpc_url.clone(), private_key: key.to_string(), deployment, fees: FeePolicy::default() };
    Chain::connect(&cfg).await.wrap_err("connecting to the chain")
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

/// `refute request`: one request per input in the file.
pub fn run_request(args: RequestArgs) -> Result<()> {
    let model = Model::load(&args.model).wrap_err_with(|| format!("model {}", args.model.display()))?;
    let inputs = read_inputs(&model, &args.input, if args.int8 { Values::Int8 } else { Values::Auto })?;
    let fee = parse_amount(&args.fee).map_err(|e| eyre!("--fee: {e}"))?;
    runtime()?.block_on(async {
        let chain = connect(&args.chain, &args.private_key).await?;
        if !chain.is_registered(&model.id()).await? {
            bail!("model {} ({}) is not registered on this deployment", model.name(), to_hex(&model.id()));
        }
        let (callback, gas) = match args.callback {
            Some(c) => (c, args.callback_gas),
            None => (Address::ZERO, 0),
        };
        let mut ids = vec![];
        for t in &inputs {
            let id = chain.request(&model.id(), &t.canonical_bytes(), fee, callback, gas).await.wrap_err("sending the request")?;
            ids.push(id);
        }
        if args.json {
            println!("{}", json!({"model": to_hex(&model.id()), "requests": ids, "fee": fee.to_string()}));
        } else {
            for id in &ids {
                println!("request #{id} for {} ({}), fee {} ETH", model.name(), to_hex(&model.id()), refute_service::eth(fee));
            }
            println!("follow it with: refute status {} --deployment {}", ids.first().copied().unwrap_or(0), args.chain.deployment.display());
        }
        Ok(())
    })
}

/// `refute refund`: a request nobody served before its deadline is refunded to its
/// requester, and everything credited to the requester is withdrawn.
pub fn run_refund(args: RefundArgs) -> Result<()> {
    runtime()?.block_on(async {
        let chain = connect(&args.chain, &args.private_key).await?;
        let r = chain.get_request(args.request).await?;
        let now = chain.now().await?;
        match r.status {
            RequestStatus::None => bail!("no request #{} on this deployment", args.request),
            RequestStatus::Refunded => bail!("request #{} was refunded already", args.request),
            RequestStatus::Finalized => bail!("request #{} was served: its result is final", args.request),
            RequestStatus::Posted => bail!("request #{} has a result posted; it is refundable only if that result is rejected", args.request),
            RequestStatus::Open if now <= r.deadline => {
                bail!("request #{} may still be served for {} s (until its deadline {})", args.request, r.deadline - now, r.deadline)
            }
            RequestStatus::Open => {}
        }
        if r.requester != chain.sender() {
            bail!(
                "request #{} was made by {}, not by this key's {}: the fee is refunded to its requester",
                args.request,
                r.requester,
                chain.sender()
            );
        }
        chain.refund(args.request).await.wrap_err("sending the refund")?;
        let amount = chain.withdraw().await.wrap_err("withdrawing the refunded fee")?;
        if args.json {
            println!("{}", json!({"request": args.request, "refunded": r.fee.to_string(), "withdrawn": amount.to_string()}));
        } else {
            println!("request #{} refunded: {} ETH withdrawn to {}", args.request, refute_service::eth(amount), chain.sender());
        }
        Ok(())
    })
}

/// The output bytes as values of the model's output type, or hex.
fn show_output(model: Option<&Model>, bytes: &[u8]) -> serde_json::Value {
    match model.and_then(|m| Tensor::from_canonical_bytes(m.output_type().clone(), bytes).ok()) {
        Some(t) if t.numel() == 1 => json!(t.get(0)),
        Some(t) => json!((0..t.numel()).map(|e| t.get(e)).collect::<Vec<_>>()),
        None => json!(format!("0x{}", hex_of(bytes))),
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `refute status`: the request, every result posted for it, their games.
pub fn run_status(args: StatusArgs) -> Result<()> {
    let model = args.model.as_ref().map(|p| Model::load(p).wrap_err_with(|| format!("model {}", p.display()))).transpose()?;
    runtime()?.block_on(async {
        // reads only: any key will do
        let chain = connect(&args.chain, &format!("0x{}", "11".repeat(32))).await?;
        let r = chain.get_request(args.request).await?;
        if r.status == RequestStatus::None {
            bail!("no request #{} on this deployment", args.request);
        }
        let now = chain.now().await?;
        // every result posted for it (a rejected one no longer shows in the request)
        let head = chain.head().await?;
        let mut results = vec![];
        let mut from = chain.deployment().block;
        while from <= head {
            let to = (from + 1999).min(head);
            for e in chain.events(from, to).await? {
                if let Event::Posted { result_id, request_id, .. } = e
                    && request_id == args.request
                {
                    results.push(result_id);
                }
            }
            from = to + 1;
        }
        let mut shown = vec![];
        for id in results {
            let res = chain.get_result(id).await?;
            let mut games = vec![];
            for g in chain.games_of(id).await? {
                let info = chain.game(g).await?;
                let p = &info.position;
                games.push(json!({
                    "game": g,
                    "challenger": info.challenger.to_string(),
                    "status": format!("{:?}", p.status),
                    "phase": format!("{:?}", p.phase),
                    "turn": format!("{:?}", p.turn),
                    "step": p.step_index,
                    "time_left": p.time_left(now),
                }));
            }
            shown.push(json!({
                "result": id,
                "executor": res.executor.to_string(),
                "status": format!("{:?}", res.status),
                "trace_root": to_hex(&res.trace_root),
                "stake": res.stake.to_string(),
                "window_ends_in": res.window_end.saturating_sub(now),
                "open_games": res.open_games,
                "reward_share": (res.status == ResultStatus::Rejected).then(|| res.share.to_string()),
                "output": (res.status == ResultStatus::Finalized).then(|| show_output(model.as_ref(), &res.output)),
                "games": games,
            }));
        }
        let state = format!("{:?}", r.status);
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "request": args.request,
                    "state": state,
                    "model": to_hex(&r.model_id),
                    "requester": r.requester.to_string(),
                    "fee": r.fee.to_string(),
                    "serve_deadline_in": r.deadline.saturating_sub(now),
                    "results": shown,
                }))?
            );
            return Ok(());
        }
        let name = model.as_ref().map(|m| format!("{} ", m.name())).unwrap_or_default();
        println!("request #{} on model {name}{}: {state}", args.request, to_hex(&r.model_id));
        println!("  requester {}, fee {} ETH, served by {}", r.requester, refute_service::eth(r.fee), deadline(r.deadline, now));
        if shown.is_empty() {
            println!("  no result posted yet");
        }
        for s in &shown {
            println!(
                "  result #{} by {}: {}, trace root {}, stake {} ETH, {}, {} open game(s)",
                s["result"],
                s["executor"].as_str().unwrap_or(""),
                s["status"].as_str().unwrap_or(""),
                s["trace_root"].as_str().unwrap_or(""),
                refute_service::eth(U256::from_str_radix(s["stake"].as_str().unwrap_or("0"), 10).unwrap_or_default()),
                match s["window_ends_in"].as_u64() {
                    Some(0) | None => "its challenge window has closed".to_string(),
                    Some(t) => format!("its challenge window closes in {t} s"),
                },
                s["open_games"]
            );
            for g in s["games"].as_array().into_iter().flatten() {
                println!(
                    "    game #{} by {}: {}, phase {} at step {}, {} to move ({} s left)",
                    g["game"],
                    g["challenger"].as_str().unwrap_or(""),
                    g["status"].as_str().unwrap_or(""),
                    g["phase"].as_str().unwrap_or(""),
                    g["step"],
                    g["turn"].as_str().unwrap_or(""),
                    g["time_left"]
                );
            }
            if !s["output"].is_null() {
                println!("  output (final): {}", s["output"]);
            }
        }
        Ok(())
    })
}

fn deadline(at: u64, now: u64) -> String {
    if at > now {
        format!("its deadline in {} s", at - now)
    } else {
        "its deadline, which has passed".to_string()
    }
}
