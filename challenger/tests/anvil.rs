//! The challenger against a real node (anvil, one block a second) and the real
//! executor made to cheat: fraud at the output, in a middle step and in a single
//! element is caught, bisected to the first wrong step and slashed; honest
//! results are never challenged (and two shards split them); a challenger killed
//! with SIGKILL mid-game and started again still wins; a request reopened by a
//! fraud is served by an honest executor after its first deadline.

use refute_chain::alloy::primitives::{Address, U256};
use refute_chain::{Chain, DeployParams, RequestStatus, ResultStatus};
use refute_challenger::{Challenger, Selection};
use refute_core::Model;
use refute_executor::cheat::Cheat;
use refute_executor::Executor;
use refute_game::{Phase, Status};
use refute_runtime::shutdown::Shutdown;
use refute_service::localnet::{accounts, LocalNet};
use refute_service::testkit::{eventually, fixture, load_fixture, random_input, Proc};
use refute_service::ModelSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const MODEL: &str = "hand-every-op";
const BLOCK_TIME: Option<u64> = Some(1);

fn params() -> DeployParams {
    DeployParams { challenge_window: 10, clock_seconds: 30, request_timeout: 600, ..DeployParams::default() }
}

async fn net(dir: &Path, model: &Model) -> LocalNet {
    refute_chain::init_tls();
    LocalNet::start(0, BLOCK_TIME, params(), &[model], dir).await.expect("local deployment")
}

fn models() -> ModelSet {
    ModelSet::load(&[fixture(MODEL)]).unwrap()
}

/// A service task and the switch that stops it.
struct Running<T> {
    svc: Arc<T>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), refute_store::StoreError>>,
}

impl<T> Running<T> {
    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

async fn executor(net: &LocalNet, dir: &Path, account: usize, cheat: Option<Cheat>) -> Running<Executor> {
    executor_of(models(), net, dir, account, cheat).await
}

async fn executor_of(set: ModelSet, net: &LocalNet, dir: &Path, account: usize, cheat: Option<Cheat>) -> Running<Executor> {
    let (stop, shutdown) = Shutdown::manual();
    let settings = net.settings(account, &dir.join(format!("executor-{account}")), BLOCK_TIME);
    let svc =
        Executor::start(settings, set, refute_executor::Options { stake: None, batch_size: 8, cheat, cheat_only: None, shard: (0, 1) }, &shutdown)
            .await
            .unwrap()
            .unwrap();
    let task = tokio::spawn(svc.clone().run(shutdown));
    Running { svc, stop, task }
}

async fn challenger(net: &LocalNet, dir: &Path, name: &str, selection: Selection) -> Running<Challenger> {
    challenger_of(models(), net, dir, name, selection, false).await
}

async fn challenger_of(set: ModelSet, net: &LocalNet, dir: &Path, name: &str, selection: Selection, grief: bool) -> Running<Challenger> {
    let (stop, shutdown) = Shutdown::manual();
    let settings = net.settings(accounts::CHALLENGER, &dir.join(name), BLOCK_TIME);
    let opts = refute_challenger::Options { bond: None, batch_size: 8, selection, grief };
    let svc = Challenger::start(settings, set, opts, &shutdown).await.unwrap().unwrap();
    let task = tokio::spawn(svc.clone().run(shutdown));
    Running { svc, stop, task }
}

async fn ask(owner: &Chain, model: &Model, seed: u64) -> u64 {
    let fee = U256::from(10u64).pow(U256::from(16u64));
    owner.request(&model.id(), &random_input(model, seed).canonical_bytes(), fee, Address::ZERO, 0).await.unwrap()
}

/// Runs a cheating executor against the challenger and checks the fraud is caught
/// at `first_wrong_step` and slashed. With `served_again`, the chain is then moved
/// past the request's first serve deadline, and an honest executor still serves the
/// reopened request to finality: its fresh deadline counts from the rejection.
async fn caught(cheat: Cheat, first_wrong_step: usize, served_again: bool) {
    let dir = tempfile::tempdir().unwrap();
    let model = load_fixture(MODEL);
    let net = net(dir.path(), &model).await;
    let owner = net.client(accounts::OWNER).await.unwrap();
    let cheater = executor(&net, dir.path(), accounts::CHEATER, Some(cheat)).await;
    let watch = challenger(&net, dir.path(), "challenger", Selection::default()).await;
    let request_id = ask(&owner, &model, 5).await;
    let first_deadline = owner.get_request(request_id).await.unwrap().deadline;

    let result_id = eventually("the post", Duration::from_secs(60), String::new, || async {
        let r = owner.get_request(request_id).await.unwrap();
        (r.result_id != 0).then_some(r.result_id)
    })
    .await;
    let game = eventually("a game on the wrong result", Duration::from_secs(60), String::new, || async {
        owner.games_of(result_id).await.unwrap().first().copied()
    })
    .await;
    let g = eventually("the end of the game", Duration::from_secs(240), String::new, || async {
        let g = owner.game(game).await.unwrap();
        (g.position.status != Status::Open).then_some(g)
    })
    .await;
    assert_eq!(g.position.status, Status::ChallengerWon, "{cheat}");
    assert_eq!(g.challenger, net.devnet.address(accounts::CHALLENGER));
    assert_eq!(g.position.step_index as usize, first_wrong_step, "{cheat}: the game found the first wrong step");
    assert_eq!(owner.get_result(result_id).await.unwrap().status, ResultStatus::Rejected);
    // the request is open again for an honest executor
    assert_eq!(owner.get_request(request_id).await.unwrap().status, RequestStatus::Open);
    // the challenger is paid (bond back plus its share of the stake) and withdraws
    let c = net.devnet.address(accounts::CHALLENGER);
    eventually("the challenger's withdrawal", Duration::from_secs(30), String::new, || async {
        (watch.svc.metrics.games_won.get() == 1 && owner.credited(c).await.unwrap().is_zero()).then_some(())
    })
    .await;
    eventually("the cheater to notice", Duration::from_secs(30), String::new, || async {
        (cheater.svc.metrics.results_rejected.get() == 1 && cheater.svc.metrics.games_lost.get() == 1).then_some(())
    })
    .await;
    assert_eq!(watch.svc.metrics.mismatches.get(), 1);
    assert_eq!(cheater.svc.metrics.results_posted.get(), 1, "a rejected request is not served again by the one who lied");
    // the game is over and the result rejected: neither side keeps its trace
    assert_eq!(watch.svc.cached_traces(), 0, "the watchtower dropped the trace of its ended game");
    eventually("the cheater to drop its rejected result's trace", Duration::from_secs(30), String::new, || async {
        (cheater.svc.cached_traces() == 0).then_some(())
    })
    .await;
    if served_again {
        let rejected = owner.get_result(result_id).await.unwrap();
        let fresh = owner.get_request(request_id).await.unwrap().deadline;
        assert_eq!(fresh, rejected.rejected_at + params().request_timeout);
        let now = owner.now().await.unwrap();
        net.devnet.advance_time(first_deadline + 1 - now.min(first_deadline)).await.unwrap();
        assert!(owner.now().await.unwrap() > first_deadline && owner.now().await.unwrap() < fresh);
        let honest = executor(&net, dir.path(), accounts::EXECUTOR, None).await;
        let served = eventually("the reopened request's final result", Duration::from_secs(120), String::new, || async {
            let r = owner.get_request(request_id).await.unwrap();
            (r.status == RequestStatus::Finalized).then_some(r.result_id)
        })
        .await;
        let r = owner.get_result(served).await.unwrap();
        assert_eq!((r.executor, r.status), (net.devnet.address(accounts::EXECUTOR), ResultStatus::Finalized));
        assert_eq!(r.output, refute_core::reference::run(&model, &random_input(&model, 5)).last().unwrap().canonical_bytes());
        honest.stop().await;
    }
    cheater.stop().await;
    watch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraud_at_the_output_is_caught_and_slashed() {
    let n = load_fixture(MODEL).step_count();
    caught(Cheat::Output, n - 1, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraud_in_a_middle_step_is_caught_at_that_step_and_slashed() {
    let n = load_fixture(MODEL).step_count();
    caught(Cheat::Step(n / 2), n / 2, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraud_in_one_element_is_caught_and_slashed() {
    let model = load_fixture(MODEL);
    // the last element of the first step after the input: late in its data tree
    let numel = model.steps()[1].spec.out.numel();
    caught(Cheat::Element { step: 1, element: numel - 1 }, 1, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_results_are_never_challenged_and_shards_split_them() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_fixture(MODEL);
    let net = net(dir.path(), &model).await;
    let owner = net.client(accounts::OWNER).await.unwrap();
    let honest = executor(&net, dir.path(), accounts::EXECUTOR, None).await;
    let a = challenger(&net, dir.path(), "shard-0", Selection { shard: 0, shards: 2, sample: 1.0 }).await;
    let b = challenger(&net, dir.path(), "shard-1", Selection { shard: 1, shards: 2, sample: 1.0 }).await;
    let mut ids = vec![];
    for seed in 0..4 {
        ids.push(ask(&owner, &model, 20 + seed).await);
    }
    for id in &ids {
        eventually("finality", Duration::from_secs(120), String::new, || async {
            (owner.get_request(*id).await.unwrap().status == RequestStatus::Finalized).then_some(())
        })
        .await;
    }
    eventually("both shards to check their results", Duration::from_secs(30), String::new, || async {
        (a.svc.metrics.results_checked.get() + b.svc.metrics.results_checked.get() == 4).then_some(())
    })
    .await;
    assert_eq!(a.svc.metrics.results_checked.get(), 2, "results 1..4 split by id mod 2");
    assert_eq!(b.svc.metrics.results_checked.get(), 2);
    for c in [&a, &b] {
        assert_eq!(c.svc.metrics.mismatches.get(), 0);
        assert_eq!(c.svc.metrics.games_opened.get(), 0);
        assert_eq!(c.svc.cached_traces(), 0, "no trace is kept for a correct result");
    }
    // the executor keeps a trace while its result may be challenged, not after
    eventually("the executor to drop its final results' traces", Duration::from_secs(30), String::new, || async {
        (honest.svc.cached_traces() == 0).then_some(())
    })
    .await;
    for id in &ids {
        let r = owner.get_request(*id).await.unwrap();
        assert!(owner.games_of(r.result_id).await.unwrap().is_empty(), "no game on an honest result");
    }
    honest.stop().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenger_killed_mid_game_and_restarted_still_wins() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_fixture(MODEL);
    let net = net(dir.path(), &model).await;
    let owner = net.client(accounts::OWNER).await.unwrap();
    let n = model.step_count();
    let cheater = executor(&net, dir.path(), accounts::CHEATER, Some(Cheat::Step(n / 2))).await;
    let args: Vec<String> = [
        "run",
        "--rpc-url",
        &net.devnet.endpoint(),
        "--private-key",
        &net.devnet.key(accounts::CHALLENGER),
        "--deployment",
        net.deployment_file.to_str().unwrap(),
        "--data-dir",
        dir.path().join("challenger").to_str().unwrap(),
        "--model",
        fixture(MODEL).to_str().unwrap(),
        "--confirmations",
        "1",
        "--poll-interval-ms",
        "200",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let bin = Path::new(env!("CARGO_BIN_EXE_challenger"));
    let log = dir.path().join("challenger.log");
    let mut proc = Proc::spawn(bin, &args, &log);
    let request_id = ask(&owner, &model, 7).await;
    let result_id = eventually(
        "the post",
        Duration::from_secs(60),
        || proc.log_tail(),
        || async {
            let r = owner.get_request(request_id).await.unwrap();
            (r.result_id != 0).then_some(r.result_id)
        },
    )
    .await;
    let game =
        eventually("the game", Duration::from_secs(60), || proc.log_tail(), || async { owner.games_of(result_id).await.unwrap().first().copied() })
            .await;
    let start_height = owner.game(game).await.unwrap().position.height;
    // killed once it has picked at least twice
    eventually(
        "two picks",
        Duration::from_secs(120),
        || proc.log_tail(),
        || async {
            let p = owner.game(game).await.unwrap().position;
            (p.phase != Phase::Trace || p.height + 2 <= start_height).then_some(())
        },
    )
    .await;
    proc.kill9();
    tokio::time::sleep(Duration::from_secs(3)).await; // its clock runs meanwhile
    let proc = Proc::spawn(bin, &args, &log);
    let end = eventually(
        "the end of the game",
        Duration::from_secs(240),
        || proc.log_tail(),
        || async {
            let s = owner.game(game).await.unwrap().position.status;
            (s != Status::Open).then_some(s)
        },
    )
    .await;
    assert_eq!(end, Status::ChallengerWon, "{}", proc.log_tail());
    assert_eq!(owner.games_of(result_id).await.unwrap(), vec![game], "one game: the restart did not open another");
    // its own records catch up with the chain within a few ticks (`status` reads the
    // store while the service runs)
    let status = || {
        let out = std::process::Command::new(bin).args(["status", "--data-dir", dir.path().join("challenger").to_str().unwrap()]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    eventually("the challenger's records to show the win", Duration::from_secs(30), status, || async {
        status().contains("ChallengerWon").then_some(())
    })
    .await;
    cheater.stop().await;
    drop(proc);
}

/// `mlp-4096x4` (the benches' GEMM-heavy model: every linear step reduces over
/// K = 4,096, eight blocks), saved where the services can load it; the model and a
/// loader of it (each service loads its own copy, as separate processes would).
fn wide_mlp_in(dir: &Path) -> (Model, impl Fn() -> ModelSet) {
    let model = refute_core::testing::wide_mlp(4096, 4);
    let path = dir.join("mlp-4096x4.json");
    model.save(&path).unwrap();
    (model, move || ModelSet::load(std::slice::from_ref(&path)).unwrap())
}

/// Waits for the one game on `request_id`'s result to end; returns it.
async fn the_game(owner: &Chain, request_id: u64) -> (u64, refute_chain::GameInfo) {
    let result_id = eventually("the post", Duration::from_secs(120), String::new, || async {
        let r = owner.get_request(request_id).await.unwrap();
        (r.result_id != 0).then_some(r.result_id)
    })
    .await;
    let game = eventually("a game on the result", Duration::from_secs(120), String::new, || async {
        owner.games_of(result_id).await.unwrap().first().copied()
    })
    .await;
    let g = eventually("the end of the game", Duration::from_secs(300), String::new, || async {
        let g = owner.game(game).await.unwrap();
        (g.position.status != Status::Open).then_some(g)
    })
    .await;
    (result_id, g)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraud_in_one_element_of_a_4096_wide_linear_step_is_descended_to_one_block_and_slashed() {
    let dir = tempfile::tempdir().unwrap();
    let (model, set) = wide_mlp_in(dir.path());
    refute_chain::init_tls();
    let net = LocalNet::start(0, BLOCK_TIME, params(), &[&model], dir.path()).await.expect("local deployment");
    let owner = net.client(accounts::OWNER).await.unwrap();
    // one element of the first hidden layer (K = 4,096), later layers recomputed from it
    let cheat = Cheat::Element { step: 1, element: 1000 };
    let cheater = executor_of(set(), &net, dir.path(), accounts::CHEATER, Some(cheat)).await;
    let watch = challenger_of(set(), &net, dir.path(), "challenger", Selection::default(), false).await;
    let request_id = ask(&owner, &model, 9).await;
    let (result_id, g) = the_game(&owner, request_id).await;
    assert_eq!(g.position.status, Status::ChallengerWon);
    let p = &g.position;
    assert_eq!((p.step_index, p.element), (1, 1000), "the first wrong step and its wrong element");
    assert_eq!(p.blocks, 8, "K = 4,096 in blocks of 512");
    assert_ne!(p.checkpoint_root, [0; 32], "the executor opened its checkpoints");
    assert_eq!(p.index, 7, "only the element is wrong: the descent ends at the last block");
    assert_eq!(owner.get_result(result_id).await.unwrap().status, ResultStatus::Rejected);
    eventually("both services to record the game's end", Duration::from_secs(30), String::new, || async {
        (cheater.svc.metrics.games_lost.get() == 1 && watch.svc.metrics.games_won.get() == 1).then_some(())
    })
    .await;
    cheater.stop().await;
    watch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_executor_wins_against_a_challenger_that_picks_wrong_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (model, set) = wide_mlp_in(dir.path());
    refute_chain::init_tls();
    let net = LocalNet::start(0, BLOCK_TIME, params(), &[&model], dir.path()).await.expect("local deployment");
    let owner = net.client(accounts::OWNER).await.unwrap();
    let honest = executor_of(set(), &net, dir.path(), accounts::EXECUTOR, None).await;
    // a griefer disputes a correct result, descends to a real step and element, names
    // it, picks checkpoints blindly and proves the block it reaches
    let griefer = challenger_of(set(), &net, dir.path(), "griefer", Selection::default(), true).await;
    let request_id = ask(&owner, &model, 10).await;
    let (result_id, g) = the_game(&owner, request_id).await;
    assert_eq!(g.position.status, Status::ExecutorWon, "the honest executor wins");
    assert!(g.position.blocks > 1 && g.position.checkpoint_root != [0; 32], "the game went through the checkpoint descent: {:?}", g.position);
    eventually("finality of the honest result", Duration::from_secs(120), String::new, || async {
        (owner.get_result(result_id).await.unwrap().status == ResultStatus::Finalized).then_some(())
    })
    .await;
    eventually("the executor to record its win", Duration::from_secs(30), String::new, || async {
        (honest.svc.metrics.games_won.get() == 1).then_some(())
    })
    .await;
    honest.stop().await;
    griefer.stop().await;
}
