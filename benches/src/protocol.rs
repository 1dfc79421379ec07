//! Protocol measurements on a real node (anvil) with the real services: a dispute
//! per fixture model played by a cheating executor against the watchtower (moves,
//! gas per transaction kind, wall time from post to detection and to slashing),
//! and the watchtower's throughput and post-to-verdict latency on honest results.

use refute_chain::alloy::primitives::{Address, U256};
use refute_chain::{DeployParams, Event, MinedTx, ResultStatus};
use refute_challenger::{Challenger, Selection};
use refute_core::testing::{random_input, Rng};
use refute_core::Model;
use refute_executor::cheat::Cheat;
use refute_executor::Executor;
use refute_game::{Move, Status};
use refute_runtime::shutdown::Shutdown;
use refute_service::localnet::{accounts, LocalNet};
use refute_service::ModelSet;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How blocks come on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mining {
    /// A block per transaction.
    Instant,
    /// A block every N seconds.
    Every(u64),
}

impl Mining {
    fn block_time(self) -> Option<u64> {
        match self {
            Mining::Instant => None,
            Mining::Every(s) => Some(s),
        }
    }
}

impl std::fmt::Display for Mining {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mining::Instant => write!(f, "instant"),
            Mining::Every(s) => write!(f, "{s}s blocks"),
        }
    }
}

/// One dispute, measured.
#[derive(Debug, Clone)]
pub struct DisputeRun {
    /// The model.
    pub model: String,
    /// How blocks came.
    pub mining: Mining,
    /// What the executor lied about.
    pub cheat: Cheat,
    /// Game moves by both sides (every call of `Move::CALLS`).
    pub moves: usize,
    /// From the post's block being seen to the game being opened.
    pub post_to_challenge: Duration,
    /// From the post's block being seen to the result's rejection.
    pub post_to_slash: Duration,
    /// Gas of every protocol transaction of the dispute, by function.
    pub gas: BTreeMap<&'static str, Vec<u64>>,
}

impl DisputeRun {
    /// Gas of the whole dispute: the challenge and every move of both sides.
    pub fn dispute_gas(&self) -> u64 {
        std::iter::once(&"challenge").chain(Move::CALLS.iter()).filter_map(|k| self.gas.get(k)).flatten().sum()
    }
}

/// A service task and its stop switch.
struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), refute_store::StoreError>>,
}

impl Running {
    async fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
    }
}

async fn executor(
    net: &LocalNet,
    model: &Path,
    dir: &Path,
    account: usize,
    block_time: Option<u64>,
    cheat: Option<Cheat>,
) -> Result<Running, String> {
    let (stop, shutdown) = Shutdown::manual();
    let settings = net.settings(account, &dir.join(format!("executor-{account}")), block_time);
    let set = ModelSet::load(&[model.to_path_buf()])?;
    let opts = refute_executor::Options { stake: None, batch_size: 64, cheat, shard: (0, 1) };
    let svc = Executor::start(settings, set, opts, &shutdown).await.map_err(|e| e.to_string())?.ok_or("stopped while starting")?;
    Ok(Running { stop, task: tokio::spawn(svc.run(shutdown)) })
}

async fn challenger(net: &LocalNet, model: &Path, dir: &Path, block_time: Option<u64>) -> Result<(Running, std::sync::Arc<Challenger>), String> {
    let (stop, shutdown) = Shutdown::manual();
    let settings = net.settings(accounts::CHALLENGER, &dir.join("challenger"), block_time);
    let set = ModelSet::load(&[model.to_path_buf()])?;
    let opts = refute_challenger::Options { bond: None, batch_size: 64, selection: Selection::default(), grief: false };
    let svc = Challenger::start(settings, set, opts, &shutdown).await.map_err(|e| e.to_string())?.ok_or("stopped while starting")?;
    Ok((Running { stop, task: tokio::spawn(svc.clone().run(shutdown)) }, svc))
}

fn params() -> DeployParams {
    DeployParams { challenge_window: 60, clock_seconds: 300, request_timeout: 3600, ..DeployParams::default() }
}

async fn until<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, String>>,
{
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if Instant::now() > end {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn fee() -> U256 {
    U256::from(10u64).pow(U256::from(16u64))
}

/// Plays one dispute on `model_path`: an executor that tells `cheat`, the
/// watchtower, a request; measures until the result is rejected.
pub async fn dispute(model_path: &Path, mining: Mining, cheat: Cheat) -> Result<DisputeRun, String> {
    refute_chain::init_tls();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let model = Model::load(model_path).map_err(|e| e.to_string())?;
    let bt = mining.block_time();
    let net = LocalNet::start(0, bt, params(), &[&model], dir.path()).await?;
    let owner = net.client(accounts::OWNER).await.map_err(|e| e.to_string())?;
    let cheater = executor(&net, model_path, dir.path(), accounts::CHEATER, bt, Some(cheat)).await?;
    let (watch, _) = challenger(&net, model_path, dir.path(), bt).await?;
    let first = owner.head().await.map_err(|e| e.to_string())?;
    let input = random_input(&mut Rng::new(11), model.input_type());
    let request_id = owner.request(&model.id(), &input.canonical_bytes(), fee(), Address::ZERO, 0).await.map_err(|e| e.to_string())?;
    let e = |e: refute_chain::ChainError| e.to_string();
    let result_id = until("the post", Duration::from_secs(120), || async {
        Ok(Some(owner.get_request(request_id).await.map_err(e)?.result_id).filter(|r| *r != 0))
    })
    .await?;
    let posted = Instant::now();
    let game =
        until("the challenge", Duration::from_secs(120), || async { Ok(owner.games_of(result_id).await.map_err(e)?.first().copied()) }).await?;
    let post_to_challenge = posted.elapsed();
    until("the slashing", Duration::from_secs(600), || async {
        Ok((owner.get_result(result_id).await.map_err(e)?.status == ResultStatus::Rejected).then_some(()))
    })
    .await?;
    let post_to_slash = posted.elapsed();
    let g = owner.game(game).await.map_err(e)?;
    if g.position.status != Status::ChallengerWon {
        return Err(format!("the game ended {:?}, not won by the challenger", g.position.status));
    }
    cheater.stop().await?;
    watch.stop().await?;
    let txs = owner.transactions(first + 1, owner.head().await.map_err(e)?).await.map_err(e)?;
    let parties = [net.devnet.address(accounts::CHEATER), net.devnet.address(accounts::CHALLENGER)];
    Ok(DisputeRun {
        model: model.name().to_string(),
        mining,
        cheat,
        moves: count_moves(&txs, &parties),
        post_to_challenge,
        post_to_slash,
        gas: gas_by_call(&txs, &parties),
    })
}

fn count_moves(txs: &[MinedTx], parties: &[Address]) -> usize {
    txs.iter().filter(|t| parties.contains(&t.from) && t.success).filter(|t| t.call.is_some_and(|c| Move::CALLS.contains(&c))).count()
}

fn gas_by_call(txs: &[MinedTx], parties: &[Address]) -> BTreeMap<&'static str, Vec<u64>> {
    let mut m: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    for t in txs.iter().filter(|t| parties.contains(&t.from) && t.success) {
        if let Some(c) = t.call {
            m.entry(c).or_default().push(t.gas_used);
        }
    }
    m
}

/// The watchtower on honest results.
#[derive(Debug, Clone)]
pub struct WatchRun {
    /// The model.
    pub model: String,
    /// Results checked.
    pub results: usize,
    /// Results checked per second, from the first post seen to the last verdict.
    pub checked_per_second: f64,
    /// Median time from a single request to the executor's post of its result
    /// being seen (one result at a time).
    pub request_to_post: Duration,
    /// Median time from a single request to the watchtower's verdict on its
    /// result (one result at a time). Both are polled every 50 ms, so the verdict
    /// often lands in the same poll as the post: the watchtower re-runs a digits
    /// model in well under that.
    pub request_to_verdict: Duration,
}

/// Runs an honest executor and the watchtower on instant mining: `singles` requests
/// one at a time for latency, then `burst` requests at once for throughput.
pub async fn watchtower(model_path: &Path, singles: usize, burst: usize) -> Result<WatchRun, String> {
    refute_chain::init_tls();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let model = Model::load(model_path).map_err(|e| e.to_string())?;
    let net = LocalNet::start(0, None, params(), &[&model], dir.path()).await?;
    let owner = net.client(accounts::OWNER).await.map_err(|e| e.to_string())?;
    let honest = executor(&net, model_path, dir.path(), accounts::EXECUTOR, None, None).await?;
    let (watch, svc) = challenger(&net, model_path, dir.path(), None).await?;
    let e = |e: refute_chain::ChainError| e.to_string();
    let mut rng = Rng::new(21);
    let (mut to_post, mut to_verdict) = (Vec::new(), Vec::new());
    for _ in 0..singles {
        let before = svc.metrics.results_checked.get();
        let input = random_input(&mut rng, model.input_type());
        let requested = Instant::now();
        let id = owner.request(&model.id(), &input.canonical_bytes(), fee(), Address::ZERO, 0).await.map_err(e)?;
        until("the post", Duration::from_secs(60), || async { Ok((owner.get_request(id).await.map_err(e)?.result_id != 0).then_some(())) }).await?;
        to_post.push(requested.elapsed());
        until("the verdict", Duration::from_secs(60), || async { Ok((svc.metrics.results_checked.get() > before).then_some(())) }).await?;
        to_verdict.push(requested.elapsed());
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or_default()
    };
    let before = svc.metrics.results_checked.get();
    let head = owner.head().await.map_err(e)?;
    for _ in 0..burst {
        let input = random_input(&mut rng, model.input_type());
        owner.request(&model.id(), &input.canonical_bytes(), fee(), Address::ZERO, 0).await.map_err(e)?;
    }
    let first_post = until("the first post", Duration::from_secs(120), || async {
        let now = owner.head().await.map_err(e)?;
        let posted = owner.events(head + 1, now).await.map_err(e)?.iter().any(|ev| matches!(ev, Event::Posted { .. }));
        Ok(posted.then(Instant::now))
    })
    .await?;
    until("every verdict", Duration::from_secs(600), || async { Ok((svc.metrics.results_checked.get() >= before + burst as u64).then_some(())) })
        .await?;
    let span = first_post.elapsed();
    if svc.metrics.games_opened.get() != 0 {
        return Err("the watchtower challenged an honest result".into());
    }
    honest.stop().await?;
    watch.stop().await?;
    Ok(WatchRun {
        model: model.name().to_string(),
        results: burst,
        checked_per_second: burst as f64 / span.as_secs_f64(),
        request_to_post: median(to_post),
        request_to_verdict: median(to_verdict),
    })
}
