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

/// An executor of `account`; with `cheat`, it lies on request `cheat_only`, or on
/// every request.
async fn executor(
    net: &LocalNet,
    model: &Path,
    dir: &Path,
    account: usize,
    block_time: Option<u64>,
    cheat: Option<Cheat>,
    cheat_only: Option<u64>,
) -> Result<Running, String> {
    let (stop, shutdown) = Shutdown::manual();
    let settings = net.settings(account, &dir.join(format!("executor-{account}")), block_time);
    let set = ModelSet::load(&[model.to_path_buf()])?;
    let opts = refute_executor::Options { stake: None, batch_size: 64, cheat, cheat_only, shard: (0, 1) };
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

/// A temporary directory, the model at `model_path`, and anvil (mining every
/// `block_time` seconds, or instantly) with the protocol deployed and the model
/// registered.
async fn start(model_path: &Path, block_time: Option<u64>) -> Result<(tempfile::TempDir, Model, LocalNet), String> {
    refute_chain::init_tls();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let model = Model::load(model_path).map_err(|e| e.to_string())?;
    let net = LocalNet::start(0, block_time, params(), &[&model], dir.path()).await?;
    Ok((dir, model, net))
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
    let bt = mining.block_time();
    let (dir, model, net) = start(model_path, bt).await?;
    let owner = net.client(accounts::OWNER).await.map_err(|e| e.to_string())?;
    let cheater = executor(&net, model_path, dir.path(), accounts::CHEATER, bt, Some(cheat), None).await?;
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
    let (dir, model, net) = start(model_path, None).await?;
    let owner = net.client(accounts::OWNER).await.map_err(|e| e.to_string())?;
    let honest = executor(&net, model_path, dir.path(), accounts::EXECUTOR, None, None, None).await?;
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

/// Sends a request for every input side by side (each waits for its block, the
/// sends take turns on the account's nonce), `at_once` at a time.
async fn request_all(owner: &refute_chain::Chain, model: &Model, inputs: &[Vec<u8>], at_once: usize) -> Result<(), String> {
    for wave in inputs.chunks(at_once) {
        let mut sends = tokio::task::JoinSet::new();
        for input in wave {
            let (owner, id, input) = (owner.clone(), model.id(), input.clone());
            sends.spawn(async move { owner.request(&id, &input, fee(), Address::ZERO, 0).await });
        }
        while let Some(r) = sends.join_next().await {
            r.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The watchtower's throughput on a backlog of honest results.
#[derive(Debug, Clone)]
pub struct BacklogRun {
    /// The model.
    pub model: String,
    /// Results in the backlog.
    pub results: usize,
    /// Results checked per second by the watchtower started on the backlog, from
    /// its start to the last verdict.
    pub checked_per_second: f64,
    /// The same results run and traced by the engine alone, in batches of the
    /// same size, per second: the bound the watchtower's figure is held against.
    pub inference_per_second: f64,
}

/// Posts `results` honest results with no watchtower running (instant mining),
/// then starts the watchtower and times it through the backlog; beside it, the
/// engine alone on the same inputs.
pub async fn watchtower_backlog(model_path: &Path, results: usize) -> Result<BacklogRun, String> {
    let (dir, model, net) = start(model_path, None).await?;
    let owner = net.client(accounts::OWNER).await.map_err(|e| e.to_string())?;
    let honest = executor(&net, model_path, dir.path(), accounts::EXECUTOR, None, None, None).await?;
    let e = |e: refute_chain::ChainError| e.to_string();
    let mut rng = Rng::new(23);
    let inputs: Vec<refute_core::Tensor> = (0..results).map(|_| random_input(&mut rng, model.input_type())).collect();
    let bytes: Vec<Vec<u8>> = inputs.iter().map(|t| t.canonical_bytes()).collect();
    // one at a time: on instant mining each request is its own block
    request_all(&owner, &model, &bytes, 1).await?;
    let last = results as u64; // request ids count from 1
    until("every post", Duration::from_secs(1200), || async { Ok((owner.get_request(last).await.map_err(e)?.result_id != 0).then_some(())) }).await?;
    honest.stop().await?;
    let started = Instant::now();
    let (watch, svc) = challenger(&net, model_path, dir.path(), None).await?;
    until("every verdict", Duration::from_secs(1200), || async { Ok((svc.metrics.results_checked.get() >= results as u64).then_some(())) }).await?;
    let span = started.elapsed();
    if svc.metrics.games_opened.get() != 0 || svc.metrics.mismatches.get() != 0 {
        return Err("the watchtower disputed an honest result".into());
    }
    watch.stop().await?;
    // the engine alone: the same inputs, batches of 64, traced and committed
    let engine = refute_engine::Engine::cpu(std::sync::Arc::new(model.clone())).map_err(|e| e.to_string())?;
    let t = Instant::now();
    for chunk in inputs.chunks(64) {
        let run = engine.run(chunk).map_err(|e| e.to_string())?;
        for sample in 0..chunk.len() {
            let tensors: Vec<refute_core::Tensor> = (0..run.step_count()).map(|s| run.step_tensor(sample, s)).collect();
            std::hint::black_box(refute_game::TraceData::from_tensors(std::sync::Arc::new(model.clone()), &tensors).root());
        }
    }
    let alone = t.elapsed();
    Ok(BacklogRun {
        model: model.name().to_string(),
        results,
        checked_per_second: results as f64 / span.as_secs_f64(),
        inference_per_second: results as f64 / alone.as_secs_f64(),
    })
}

/// A burst of requests on timed blocks with a game in the middle of it.
#[derive(Debug, Clone)]
pub struct BurstRun {
    /// The model.
    pub model: String,
    /// Requests sent at once.
    pub requests: usize,
    /// Seconds between blocks.
    pub block_time: u64,
    /// Requests with exactly one post on the chain.
    pub posted_once: usize,
    /// Requests with more than one post (none, for an executor that tracks its
    /// posts).
    pub posted_twice: usize,
    /// Results finalized.
    pub finalized: usize,
    /// Results rejected (the one lie).
    pub rejected: usize,
    /// From the first request to the last post mined.
    pub request_to_last_post: Duration,
    /// From the first request to the last result final.
    pub request_to_last_final: Duration,
    /// Moves of the game, both sides.
    pub moves: usize,
    /// The most blocks a move of the game came after the block in which it
    /// became that side's turn, less the one block it needs at best: 0 when
    /// every move landed in the very next block.
    pub worst_move_lateness: u64,
}

/// `requests` requests at once on `block_time`-second blocks, one executor and one
/// watchtower; the executor lies on one request in the middle of the burst, so
/// that a game is played while the rest are served, checked and finalized.
pub async fn burst(model_path: &Path, requests: usize, block_time: u64) -> Result<BurstRun, String> {
    let bt = Some(block_time);
    let (dir, model, net) = start(model_path, bt).await?;
    let owner = net.client(accounts::OWNER).await.map_err(|e| e.to_string())?;
    let e = |e: refute_chain::ChainError| e.to_string();
    let first_block = owner.head().await.map_err(e)? + 1;
    // request ids count from 1: the lie is on the one in the middle
    let liar = (requests as u64).div_ceil(2);
    let exec = executor(&net, model_path, dir.path(), accounts::EXECUTOR, bt, Some(Cheat::Output), Some(liar)).await?;
    let (watch, _) = challenger(&net, model_path, dir.path(), bt).await?;
    let mut rng = Rng::new(29);
    let inputs: Vec<Vec<u8>> = (0..requests).map(|_| random_input(&mut rng, model.input_type()).canonical_bytes()).collect();
    let started = Instant::now();
    request_all(&owner, &model, &inputs, inputs.len()).await?;
    let last_post = std::sync::Mutex::new(None);
    let summary = until("every result final or rejected", Duration::from_secs(1800), || async {
        let head = owner.head().await.map_err(e)?;
        let events = owner.events(first_block, head).await.map_err(e)?;
        let mut posts: BTreeMap<u64, usize> = BTreeMap::new();
        let (mut finalized, mut rejected) = (0, 0);
        for ev in &events {
            match ev {
                Event::Posted { request_id, .. } => *posts.entry(*request_id).or_default() += 1,
                Event::Finalized { .. } => finalized += 1,
                Event::Rejected { .. } => rejected += 1,
                _ => {}
            }
        }
        if posts.len() == requests {
            last_post.lock().expect("last post").get_or_insert(started.elapsed());
        }
        if finalized + rejected == requests {
            return Ok(Some((posts, finalized, rejected, head, started.elapsed())));
        }
        Ok(None)
    })
    .await?;
    let (posts, finalized, rejected, head, last_final) = summary;
    let last_post = last_post.lock().expect("last post").unwrap_or_default();
    exec.stop().await?;
    watch.stop().await?;
    let txs = owner.transactions(first_block, head).await.map_err(e)?;
    let parties = [net.devnet.address(accounts::EXECUTOR), net.devnet.address(accounts::CHALLENGER)];
    // the game's moves in order, from the challenge that opened it
    let blocks: Vec<u64> = txs
        .iter()
        .filter(|t| parties.contains(&t.from) && t.success)
        .filter(|t| t.call.is_some_and(|c| c == "challenge" || Move::CALLS.contains(&c)))
        .map(|t| t.block)
        .collect();
    let worst = blocks.windows(2).map(|w| (w[1] - w[0]).saturating_sub(1)).max().unwrap_or(0);
    Ok(BurstRun {
        model: model.name().to_string(),
        requests,
        block_time,
        posted_once: posts.values().filter(|n| **n == 1).count(),
        posted_twice: posts.values().filter(|n| **n > 1).count(),
        finalized,
        rejected,
        request_to_last_post: last_post,
        request_to_last_final: last_final,
        moves: blocks.len().saturating_sub(1),
        worst_move_lateness: worst,
    })
}

/// Resident memory of the two services, as processes, as results accumulate.
#[derive(Debug, Clone)]
pub struct MemoryRun {
    /// The model.
    pub model: String,
    /// `(results served and checked, executor RSS in KiB, watchtower RSS in KiB)`
    /// at each sample.
    pub samples: Vec<(usize, u64, u64)>,
}

/// A free local TCP port (for a service's metrics endpoint).
fn free_port() -> Result<u16, String> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?.local_addr().map_err(|e| e.to_string())?.port())
}

/// The value of `name` on a service's `/metrics` page (0 when it cannot be read).
fn scrape(port: u16, name: &str) -> f64 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return 0.0 };
    let _ = write!(s, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().split(' ').next()?.parse().ok())).unwrap_or(0.0)
}

/// Resident set size of process `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())))
        .unwrap_or(0)
}

/// Runs the executor and the watchtower as processes (the binaries beside the
/// running one, `target/debug`) on 1-second blocks and requests results in waves
/// of `wave` at once. At each count in `checkpoints` it waits until every result so
/// far is checked and final (nothing in flight: what stays is what the services
/// keep), lets them idle two seconds and reads both processes' resident memory.
/// The waves are alike, so the peak a wave brings is the same at every checkpoint.
pub async fn memory(model_path: &Path, wave: usize, checkpoints: &[usize]) -> Result<MemoryRun, String> {
    // 1-second blocks: a wave of requests is sent side by side and mined in a
    // few blocks
    let (dir, model, net) = start(model_path, Some(1)).await?;
    let owner = net.client(accounts::OWNER).await.map_err(|e| e.to_string())?;
    // the service binaries are built beside the report's own
    let bin = std::env::current_exe().map_err(|e| e.to_string())?.parent().ok_or("the report's directory")?.to_path_buf();
    let spawn = |name: &str, account: usize, port: u16| -> Result<std::process::Child, String> {
        let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).map_err(|e| e.to_string())?;
        std::process::Command::new(bin.join(name))
            .arg("run")
            .args(["--rpc-url", &net.devnet.endpoint(), "--private-key", &net.devnet.key(account)])
            .arg("--deployment")
            .arg(&net.deployment_file)
            .arg("--model")
            .arg(model_path)
            .arg("--data-dir")
            .arg(dir.path().join(name))
            .args(["--confirmations", "0", "--poll-interval-ms", "200", "--batch-size", "64"])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}"), "--log-format", "json"])
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {} (build it with `cargo build --workspace`): {e}", bin.join(name).display()))
    };
    let (ep, wp) = (free_port()?, free_port()?);
    let mut exec = spawn("executor", accounts::EXECUTOR, ep)?;
    let mut watch = spawn("challenger", accounts::CHALLENGER, wp)?;
    let mut rng = Rng::new(31);
    let mut samples = Vec::new();
    let mut sent = 0;
    let outcome: Result<(), String> = async {
        for &target in checkpoints {
            while sent < target {
                let n = wave.min(target - sent);
                let inputs: Vec<Vec<u8>> = (0..n).map(|_| random_input(&mut rng, model.input_type()).canonical_bytes()).collect();
                request_all(&owner, &model, &inputs, 100).await?;
                sent += n;
                until("the wave served and checked", Duration::from_secs(1800), || async {
                    let done = scrape(ep, "refute_executor_results_posted_total") as usize >= sent
                        && scrape(wp, "refute_challenger_results_checked_total") as usize >= sent;
                    Ok(done.then_some(()))
                })
                .await?;
            }
            until("every result final", Duration::from_secs(1800), || async {
                Ok((scrape(ep, "refute_executor_results_finalized_total") as usize >= target).then_some(()))
            })
            .await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            samples.push((target, rss_kib(exec.id()), rss_kib(watch.id())));
        }
        Ok(())
    }
    .await;
    let _ = exec.kill();
    let _ = watch.kill();
    let _ = (exec.wait(), watch.wait());
    outcome?;
    Ok(MemoryRun { model: model.name().to_string(), samples })
}
