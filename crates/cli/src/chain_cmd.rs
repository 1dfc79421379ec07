//! Chain commands: `refute devnet` (a local chain with the protocol deployed and the
//! fixture models registered, until Ctrl-C) and `refute deploy` (the contracts on
//! any chain, with a deployment file the services read).

use clap::Args;
use eyre::{bail, eyre, Result, WrapErr};
use refute_chain::{parse_amount, Chain, ChainConfig, DeployParams, Deployment, FeePolicy};
use refute_core::hash::to_hex;
use refute_core::Model;
use refute_runtime::shutdown::Shutdown;
use refute_service::localnet::{accounts, LocalNet};
use std::path::{Path, PathBuf};

/// The flag of each contract parameter, for messages.
const FLAGS: [(&str, &str); 9] = [
    ("challengeWindow", "--challenge-window"),
    ("clockSeconds", "--clock"),
    ("requestTimeout", "--request-timeout"),
    ("minStake", "--min-stake"),
    ("minBond", "--min-bond"),
    ("arityLog2", "--arity-log2"),
    ("rewardBps", "--reward-bps"),
    ("bondBurnBps", "--bond-burn-bps"),
    ("maxCallbackGas", "--max-callback-gas"),
];

/// The protocol's parameters, as flags (defaults: a devnet's short windows).
#[derive(Debug, Args)]
pub struct ParamArgs {
    /// Seconds after a post during which it can be challenged.
    #[arg(long, default_value_t = 30)]
    challenge_window: u64,
    /// Seconds on each side's chess clock in a game.
    #[arg(long, default_value_t = 120)]
    clock: u64,
    /// Seconds a request waits to be served before its fee can be refunded.
    #[arg(long, default_value_t = 3600)]
    request_timeout: u64,
    /// Least executor stake (e.g. `1ether`, `0.5ether`, or wei).
    #[arg(long, default_value = "1ether")]
    min_stake: String,
    /// Least challenger bond.
    #[arg(long, default_value = "0.1ether")]
    min_bond: String,
    /// Levels of the trace and data trees one reveal opens (1: arity 2, ... 4: arity 16).
    #[arg(long, default_value_t = 1)]
    arity_log2: u32,
    /// Share of a slashed stake paid to the games open at rejection, basis points.
    #[arg(long, default_value_t = DeployParams::default().reward_bps)]
    reward_bps: u16,
    /// Share of a losing challenger's bond burned, basis points (also the claim fee
    /// of a moot game, as a share of the least bond).
    #[arg(long, default_value_t = DeployParams::default().bond_burn_bps)]
    bond_burn_bps: u16,
    /// Most gas a requester may ask for its callback.
    #[arg(long, default_value_t = DeployParams::default().max_callback_gas)]
    max_callback_gas: u64,
}

impl ParamArgs {
    /// The parameters, checked against the bounds the contracts enforce before
    /// anything is deployed; every problem is named by its flag.
    fn params(&self) -> Result<DeployParams> {
        let p = DeployParams {
            challenge_window: self.challenge_window,
            clock_seconds: self.clock,
            request_timeout: self.request_timeout,
            min_stake: parse_amount(&self.min_stake).map_err(|e| eyre!("--min-stake: {e}"))?,
            min_bond: parse_amount(&self.min_bond).map_err(|e| eyre!("--min-bond: {e}"))?,
            arity_log2: self.arity_log2,
            reward_bps: self.reward_bps,
            bond_burn_bps: self.bond_burn_bps,
            max_callback_gas: self.max_callback_gas,
        };
        p.check().map_err(|problems| {
            fn flag(problem: &str) -> &str {
                let name = problem.split(' ').next().unwrap_or_default();
                FLAGS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f).unwrap_or(name)
            }
            let lines: Vec<String> = problems.iter().map(|p| format!("  {}: {p}", flag(p))).collect();
            eyre!("protocol parameters out of bounds (nothing deployed):\n{}", lines.join("\n"))
        })?;
        Ok(p)
    }
}

/// `refute devnet`
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Port for the node's JSON-RPC.
    #[arg(long, default_value_t = 8545)]
    port: u16,
    /// Seconds between blocks (0: a block per transaction).
    #[arg(long, default_value_t = 1)]
    block_time: u64,
    /// Where the deployment file goes.
    #[arg(long, default_value = ".refute-devnet")]
    dir: PathBuf,
    /// Models to register (default: every model in fixtures/models).
    #[arg(long = "model")]
    models: Vec<PathBuf>,
    #[command(flatten)]
    params: ParamArgs,
}

/// `refute deploy`
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The node's JSON-RPC URL.
    #[arg(long, env = "REFUTE_RPC_URL")]
    rpc_url: String,
    /// The deployer's key (hex). Prefer the environment variable on shared hosts.
    #[arg(long, env = "REFUTE_PRIVATE_KEY", hide_env_values = true)]
    private_key: String,
    /// Where to write the deployment file.
    #[arg(long, default_value = "deployment.json")]
    out: PathBuf,
    /// Models to register after deploying (repeat).
    #[arg(long = "model")]
    models: Vec<PathBuf>,
    #[command(flatten)]
    params: ParamArgs,
}

fn load_models(paths: &[PathBuf]) -> Result<Vec<Model>> {
    paths.iter().map(|p| Model::load(p).wrap_err_with(|| format!("loading model {}", p.display()))).collect()
}

/// The model manifests (`*.json`) in `dir`, sorted by name.
pub(crate) fn model_manifests(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .wrap_err_with(|| format!("reading {} (run from the repository root)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    Ok(paths)
}

pub fn run_devnet(args: DevnetArgs) -> Result<()> {
    let paths = if args.models.is_empty() {
        model_manifests(Path::new("fixtures/models")).wrap_err("no models to register: pass --model, or run from the repository root")?
    } else {
        args.models.clone()
    };
    let models = load_models(&paths)?;
    let params = args.params.params()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let refs: Vec<&Model> = models.iter().collect();
        let block_time = (args.block_time > 0).then_some(args.block_time);
        let net = LocalNet::start(args.port, block_time, params, &refs, &args.dir).await.map_err(|e| eyre!(e))?;
        let d = &net.deployment;
        println!("refute devnet");
        println!("  rpc url      {}", net.devnet.endpoint());
        println!("  chain id     {}", net.devnet.chain_id());
        println!("  blocks       {}", block_time.map(|t| format!("one every {t}s")).unwrap_or_else(|| "one per transaction".into()));
        println!("  deployment   {}", net.deployment_file.display());
        println!("  registry     {}", d.registry);
        println!("  oracle       {}", d.oracle);
        println!("  game         {}", d.game);
        println!("  verifier     {}", d.verifier);
        println!(
            "  parameters   window {}s, clocks {}s, least stake {} ETH, least bond {} ETH, arity {}",
            params.challenge_window,
            params.clock_seconds,
            refute_service::eth(params.min_stake),
            refute_service::eth(params.min_bond),
            1u32 << params.arity_log2
        );
        println!("  models");
        for m in &models {
            println!("    {:<16} {}", m.name(), to_hex(&m.id()));
        }
        println!("  funded accounts (10000 ETH each)");
        let roles = [
            (accounts::OWNER, "owner (deployed, registered)"),
            (accounts::EXECUTOR, "executor"),
            (accounts::CHALLENGER, "challenger"),
            (accounts::CHEATER, "spare"),
            (accounts::GRIEFER, "spare"),
        ];
        for (i, role) in roles {
            println!("    {:<30} {}  {}", role, net.devnet.address(i), net.devnet.key(i));
        }
        println!("\nrun an executor against it:");
        // a chain that mines only on transactions gives no block after the last
        // one: events must be acted on unconfirmed there
        let confirmations = if block_time.is_some() { "1" } else { "0" };
        println!(
            "  target/debug/executor run --rpc-url {} --private-key {} --deployment {} --model {} --confirmations {confirmations}",
            net.devnet.endpoint(),
            net.devnet.key(accounts::EXECUTOR),
            net.deployment_file.display(),
            paths.first().map(|p| p.display().to_string()).unwrap_or_default()
        );
        println!("\nrunning until Ctrl-C");
        let mut stop = Shutdown::on_signals();
        stop.wait().await;
        drop(net); // stops anvil
        println!("stopped");
        Ok(())
    })
}

pub fn run_deploy(args: DeployArgs) -> Result<()> {
    let models = load_models(&args.models)?;
    let params = args.params.params()?;
    if args.out.exists() {
        bail!("{} exists; choose another --out or move it away (it names a live deployment)", args.out.display());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let d: Deployment = Chain::deploy(&args.rpc_url, &args.private_key, &params).await.wrap_err("deploying")?;
        d.save(&args.out).wrap_err_with(|| format!("writing {}", args.out.display()))?;
        println!("deployed on chain {} at block {}; wrote {}", d.chain_id, d.block, args.out.display());
        println!("  registry {}\n  oracle   {}\n  game     {}\n  verifier {}", d.registry, d.oracle, d.game, d.verifier);
        let cfg = ChainConfig { rpc_url: args.rpc_url.clone(), private_key: args.private_key.clone(), deployment: d, fees: FeePolicy::default() };
        let chain = Chain::connect(&cfg).await?;
        for m in &models {
            chain.register_model(m, &format!("refute:{}", m.name())).await.wrap_err_with(|| format!("registering {}", m.name()))?;
            println!("  registered {:<16} {}", m.name(), to_hex(&m.id()));
        }
        Ok(())
    })
}
