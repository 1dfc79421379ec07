//! The executor against a real node (anvil, one block a second): a request served,
//! finalized and called back; a game against a scripted challenger that the
//! executor wins, with SIGKILLs just after posting and in the middle of the game;
//! a node that goes away for a while; settings that are wrong.

use refute_chain::alloy::primitives::{Address, U256};
use refute_chain::{Chain, DeployParams, Event, ExampleConsumer, RequestStatus, ResultStatus};
use refute_core::testing::reference_run;
use refute_core::Model;
use refute_executor::cheat::Cheat;
use refute_game::{challenger_move, Side, Status, TraceData};
use refute_runtime::shutdown::Shutdown;
use refute_service::localnet::{accounts, LocalNet};
use refute_service::testkit::{eventually, fixture, load_fixture, random_input, Proc};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const MODEL: &str = "hand-every-op";
const BLOCK_TIME: Option<u64> = Some(1);

fn params() -> DeployParams {
    DeployParams { challenge_window: 6, clock_seconds: 20, request_timeout: 600, ..DeployParams::default() }
}

async fn net(dir: &Path, model: &Model) -> LocalNet {
    refute_chain::init_tls();
    LocalNet::start(0, BLOCK_TIME, params(), &[model], dir).await.expect("local deployment")
}

fn executor_args(net: &LocalNet, rpc_url: &str, data: &Path) -> Vec<String> {
    [
        "run",
        "--rpc-url",
        rpc_url,
        "--private-key",
        &net.devnet.key(accounts::EXECUTOR),
        "--deployment",
        net.deployment_file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--model",
        fixture(MODEL).to_str().unwrap(),
        "--confirmations",
        "1",
        "--poll-interval-ms",
        "200",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn spawn_executor(net: &LocalNet, dir: &Path) -> Proc {
    Proc::spawn(
        Path::new(env!("CARGO_BIN_EXE_executor")),
        &executor_args(net, &net.devnet.endpoint(), &dir.join("executor")),
        &dir.join("executor.log"),
    )
}

fn status(dir: &Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_executor"))
        .args(["status", "--data-dir", dir.join("executor").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "executor status: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

async fn posts_for(chain: &Chain, request_id: u64) -> usize {
    let head = chain.head().await.unwrap();
    chain.events(0, head).await.unwrap().iter().filter(|e| matches!(e, Event::Posted { request_id: r, .. } if *r == request_id)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_served_finalized_and_the_integrator_called_back() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_fixture(MODEL);
    let net = net(dir.path(), &model).await;
    let owner = net.client(accounts::OWNER).await.unwrap();
    let consumer = ExampleConsumer::deploy(&owner, &model.id()).await.unwrap();
    let input = random_input(&model, 1);
    let want = reference_run(&model, &input).last().unwrap().canonical_bytes();
    let fee = U256::from(10u64).pow(U256::from(16u64));
    let request_id = consumer.ask(&owner, &input.canonical_bytes(), fee).await.unwrap();

    let exec = spawn_executor(&net, dir.path());
    let answer = eventually(
        "the integrator's callback",
        Duration::from_secs(120),
        || exec.log_tail(),
        || async { consumer.answer(&owner, request_id).await.unwrap() },
    )
    .await;
    assert_eq!(answer, want, "the integrator received the exact output");
    let req = owner.get_request(request_id).await.unwrap();
    assert_eq!(req.status, RequestStatus::Finalized);
    let res = owner.get_result(req.result_id).await.unwrap();
    assert_eq!(res.executor, net.devnet.address(accounts::EXECUTOR));
    assert_eq!(res.status, ResultStatus::Finalized);
    // the executor withdraws its stake and fee
    let executor_addr = net.devnet.address(accounts::EXECUTOR);
    eventually(
        "the executor to withdraw",
        Duration::from_secs(30),
        || exec.log_tail(),
        || async { owner.credited(executor_addr).await.unwrap().is_zero().then_some(()) },
    )
    .await;
    assert_eq!(posts_for(&owner, request_id).await, 1);
    // its own records catch up with the chain on its next tick
    eventually(
        "the executor's records to show the result final",
        Duration::from_secs(30),
        || status(dir.path()),
        || async { status(dir.path()).contains("Finalized").then_some(()) },
    )
    .await;
}

/// Plays the challenger's side of `game` from a wrong belief `believed` until
/// `stop` says so or the game ends; returns the moves made. A move the contract
/// refuses ends the script (a real griefer would be stuck there, too).
async fn scripted_challenger(chain: &Chain, game: u64, believed: &TraceData, arity: u32, max_moves: usize) -> usize {
    let mut moves = 0;
    while moves < max_moves {
        let g = chain.game(game).await.unwrap();
        if g.position.status != Status::Open {
            break;
        }
        if g.position.turn != Side::Challenger {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let revealed = chain.revealed(game, arity, 0).await.unwrap();
        let mv = match challenger_move(arity, &g.position, believed, &revealed) {
            Ok(Some(mv)) => mv,
            Ok(None) => break, // nothing left to say: the executor's reveals agree with us
            Err(e) => panic!("the scripted challenger has no move at {:?}: {e:?}", g.position),
        };
        let mined = match chain.send_move(game, &mv, None).await {
            Ok(tx) => chain.wait_mined(&tx).await,
            Err(e) => Err(e),
        };
        match mined {
            Ok(_) => moves += 1,
            // a move can lose a race with the clock or the end of the game; anything else is a bug
            Err(e) if chain.game(game).await.unwrap().position.status != Status::Open => {
                eprintln!("scripted challenger: the game ended under move {mv:?}: {e}");
                break;
            }
            Err(e) => {
                let why = if let refute_game::Move::Pick { nodes, choice } = &mv {
                    let c = refute_chain::bindings::DisputeGame::new(chain.deployment().game, chain.provider().clone());
                    let nodes: Vec<_> = nodes.iter().map(|h| refute_chain::alloy::primitives::B256::from(*h)).collect();
                    format!("{:?}", c.pick(U256::from(game), nodes, U256::from(*choice)).from(chain.sender()).call().await)
                } else {
                    String::new()
                };
                panic!(
                    "scripted challenger move {mv:?} at {:?} failed: {e}; now {:?}; call: {why}",
                    g.position,
                    chain.game(game).await.unwrap().position
                )
            }
        }
    }
    moves
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_wins_a_game_and_survives_sigkill_after_posting_and_mid_game() {
    let dir = tempfile::tempdir().unwrap();
    let model = Arc::new(load_fixture(MODEL));
    let net = net(dir.path(), &model).await;
    let owner = net.client(accounts::OWNER).await.unwrap();
    let challenger = net.client(accounts::CHALLENGER).await.unwrap();
    let input = random_input(&model, 2);
    let fee = U256::from(10u64).pow(U256::from(16u64));
    let request_id = owner.request(&model.id(), &input.canonical_bytes(), fee, Address::ZERO, 0).await.unwrap();

    // killed the moment its result is on-chain
    let mut exec = spawn_executor(&net, dir.path());
    let result_id = eventually(
        "the post",
        Duration::from_secs(120),
        || exec.log_tail(),
        || async {
            let r = owner.get_request(request_id).await.unwrap();
            (r.status == RequestStatus::Posted).then_some(r.result_id)
        },
    )
    .await;
    exec.kill9();
    let mut exec = spawn_executor(&net, dir.path());

    // a challenger who believes one element of a middle step differs
    let mut believed = reference_run(&model, &input);
    let middle = model.step_count() / 2;
    Cheat::Element { step: middle, element: 0 }.apply(&model, &mut believed);
    let believed = TraceData::from_tensors(model.clone(), &believed);
    let (arity, _) = challenger.game_params().await.unwrap();
    let min_bond = owner.oracle_config().await.unwrap().minBond;
    let game = challenger.challenge(result_id, min_bond).await.unwrap();

    // two of its moves, then the executor is killed mid-game and comes back later
    let first = scripted_challenger(&challenger, game, &believed, arity, 2).await;
    assert_eq!(first, 2, "the executor answered the first moves\n{}", exec.log_tail());
    eventually(
        "the executor's answer",
        Duration::from_secs(30),
        || exec.log_tail(),
        || async { (challenger.game(game).await.unwrap().position.turn == Side::Challenger).then_some(()) },
    )
    .await;
    exec.kill9();
    let rest = tokio::spawn({
        let believed = believed.clone();
        let cfg = net.chain_config(accounts::CHALLENGER);
        async move {
            let c = Chain::connect(&cfg).await.unwrap();
            scripted_challenger(&c, game, &believed, arity, 100).await
        }
    });
    tokio::time::sleep(Duration::from_secs(3)).await; // the executor's clock runs meanwhile
    let exec = spawn_executor(&net, dir.path());
    let later = rest.await.unwrap();
    assert!(later >= 1, "the game went on after the restart");

    let end = eventually(
        "the end of the game",
        Duration::from_secs(180),
        || exec.log_tail(),
        || async {
            let s = challenger.game(game).await.unwrap().position.status;
            (s != Status::Open).then_some(s)
        },
    )
    .await;
    assert_eq!(end, Status::ExecutorWon, "{}", exec.log_tail());
    let res = eventually(
        "finality after the game",
        Duration::from_secs(60),
        || exec.log_tail(),
        || async {
            let r = owner.get_result(result_id).await.unwrap();
            (r.status != ResultStatus::Pending).then_some(r.status)
        },
    )
    .await;
    assert_eq!(res, ResultStatus::Finalized);
    assert_eq!(posts_for(&owner, request_id).await, 1, "posted once despite the kill");
    drop(exec);
    let s = status(dir.path());
    assert!(s.contains("ExecutorWon"), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_goes_away_for_a_while_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_fixture(MODEL);
    let net = net(dir.path(), &model).await;
    let proxy = refute_service::testkit::FlakyProxy::start(&net.devnet.endpoint()).await;
    let owner = net.client(accounts::OWNER).await.unwrap();

    let mut settings = net.settings(accounts::EXECUTOR, &dir.path().join("executor"), BLOCK_TIME);
    settings.chain.rpc_url = proxy.url();
    let models = refute_service::ModelSet::load(&[fixture(MODEL)]).unwrap();
    let (stop, shutdown) = Shutdown::manual();
    let exec = refute_executor::Executor::start(
        settings,
        models,
        refute_executor::Options { stake: None, batch_size: 4, cheat: None, cheat_only: None, shard: (0, 1) },
        &shutdown,
    )
    .await
    .unwrap()
    .unwrap();
    let task = tokio::spawn(exec.clone().run(shutdown));

    // the node goes away right after two requests, for longer than a few ticks
    let fee = U256::from(10u64).pow(U256::from(16u64));
    let mut ids = vec![];
    for seed in 0..2 {
        let input = random_input(&model, 10 + seed);
        ids.push(owner.request(&model.id(), &input.canonical_bytes(), fee, Address::ZERO, 0).await.unwrap());
    }
    proxy.down();
    tokio::time::sleep(Duration::from_secs(6)).await;
    proxy.up();

    for id in &ids {
        eventually("finality", Duration::from_secs(120), String::new, || async {
            (owner.get_request(*id).await.unwrap().status == RequestStatus::Finalized).then_some(())
        })
        .await;
        assert_eq!(posts_for(&owner, *id).await, 1);
    }
    assert!(proxy.refused() > 0, "the executor reached for the node during the outage");
    assert_eq!(exec.metrics.results_posted.get(), 2);
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}

#[test]
fn wrong_settings_are_named_before_anything_starts() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_executor"))
        .args(["run", "--rpc-url", "ftp://nowhere", "--private-key", "0x1234", "--stake", "lots", "--model", "/nonexistent.json"])
        .env_remove("REFUTE_DEPLOYMENT")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for what in ["rpc_url:", "private_key:", "deployment:", "models:", "stake:"] {
        assert!(err.contains(what), "{what} not named in:\n{err}");
    }
}

/// Runs `executor run` with `args` to its end (it must refuse to start), with
/// `timeout`; returns its standard error.
fn refused(args: &[String], timeout: Duration) -> String {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_executor"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let end = std::time::Instant::now() + timeout;
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < end, "`executor run` kept running instead of refusing");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "`executor run` exited successfully");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_refuses_at_start_what_check_refuses_and_names_swapped_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_fixture(MODEL);
    let net = net(dir.path(), &model).await;
    let base = executor_args(&net, &net.devnet.endpoint(), &dir.path().join("executor"));
    let with = |edit: &dyn Fn(&mut Vec<String>)| {
        let mut a = base.clone();
        edit(&mut a);
        a
    };
    let set = |a: &mut Vec<String>, flag: &str, v: &str| {
        let i = a.iter().position(|x| x == flag).unwrap();
        a[i + 1] = v.to_string();
    };
    // a stake below the oracle's least stake
    let err = refused(&with(&|a| a.extend(["--stake".into(), "1wei".into()])), Duration::from_secs(60));
    assert!(err.contains("stake:") && err.contains("below the oracle's least stake"), "{err}");
    // a model the deployment has not registered
    let other = dir.path().join("unregistered.json");
    refute_core::testing::wide_mlp(8, 1).save(&other).unwrap();
    let err = refused(&with(&|a| set(a, "--model", other.to_str().unwrap())), Duration::from_secs(60));
    assert!(err.contains("not registered on this deployment"), "{err}");
    // an account with nothing to stake
    let err =
        refused(&with(&|a| set(a, "--private-key", "0x0000000000000000000000000000000000000000000000000000000000000001")), Duration::from_secs(60));
    assert!(err.contains("balance:") && err.contains("less than one stake"), "{err}");
    // a deployment file whose oracle and game addresses are swapped
    let mut d = net.deployment.clone();
    std::mem::swap(&mut d.oracle, &mut d.game);
    let swapped = dir.path().join("swapped.json");
    d.save(&swapped).unwrap();
    let err = refused(&with(&|a| set(a, "--deployment", swapped.to_str().unwrap())), Duration::from_secs(60));
    assert!(err.contains(&format!("the address given as the oracle ({})", d.oracle)) && err.contains("does not hold an InferenceOracle"), "{err}");
    // nothing of the above: the log file it writes has no terminal colour codes
    let mut ok = Proc::spawn(Path::new(env!("CARGO_BIN_EXE_executor")), &base, &dir.path().join("plain.log"));
    eventually(
        "the executor to start",
        Duration::from_secs(60),
        || ok.log_tail(),
        || async { std::fs::read_to_string(dir.path().join("plain.log")).unwrap_or_default().contains("executor started").then_some(()) },
    )
    .await;
    ok.kill9();
    let log = std::fs::read_to_string(dir.path().join("plain.log")).unwrap();
    assert!(!log.contains('\u{1b}'), "escape codes in a log file:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_refuses_connections_at_start_is_waited_for_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_fixture(MODEL);
    let net = net(dir.path(), &model).await;
    // a port nothing listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let args = executor_args(&net, &format!("http://127.0.0.1:{port}"), &dir.path().join("executor"));
    let log = dir.path().join("waiting.log");
    let p = Proc::spawn(Path::new(env!("CARGO_BIN_EXE_executor")), &args, &log);
    eventually(
        "the executor to say it waits for the node",
        Duration::from_secs(60),
        || p.log_tail(),
        || async { std::fs::read_to_string(&log).unwrap_or_default().contains("cannot reach the node; waiting").then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_instant_mining_an_honest_result_finalizes() {
    // a node that mines only when a transaction comes: the latest block is old while
    // the window passes; the services judge time by the pending block
    let dir = tempfile::tempdir().unwrap();
    let model = load_fixture(MODEL);
    refute_chain::init_tls();
    let net = LocalNet::start(0, None, params(), &[&model], dir.path()).await.expect("local deployment");
    let owner = net.client(accounts::OWNER).await.unwrap();
    let (stop, shutdown) = Shutdown::manual();
    let settings = net.settings(accounts::EXECUTOR, &dir.path().join("executor"), None);
    let opts = refute_executor::Options { stake: None, batch_size: 8, cheat: None, cheat_only: None, shard: (0, 1) };
    let exec = refute_executor::Executor::start(settings, refute_service::ModelSet::load(&[fixture(MODEL)]).unwrap(), opts, &shutdown)
        .await
        .unwrap()
        .unwrap();
    let task = tokio::spawn(exec.clone().run(shutdown));
    let fee = U256::from(10u64).pow(U256::from(16u64));
    let id = owner.request(&model.id(), &random_input(&model, 3).canonical_bytes(), fee, Address::ZERO, 0).await.unwrap();
    eventually("finality with instant mining", Duration::from_secs(60), String::new, || async {
        (owner.get_request(id).await.unwrap().status == RequestStatus::Finalized).then_some(())
    })
    .await;
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_waiting_for_confirmations_on_a_chain_without_blocks_are_named() {
    // instant mining and two confirmations: a request's block never gets them; the
    // executor says why it does nothing rather than wait in silence
    let dir = tempfile::tempdir().unwrap();
    let model = load_fixture(MODEL);
    refute_chain::init_tls();
    let net = LocalNet::start(0, None, params(), &[&model], dir.path()).await.expect("local deployment");
    let owner = net.client(accounts::OWNER).await.unwrap();
    let mut args = executor_args(&net, &net.devnet.endpoint(), &dir.path().join("executor"));
    let i = args.iter().position(|a| a == "--confirmations").unwrap();
    args[i + 1] = "2".into();
    let log = dir.path().join("stalled.log");
    let p = Proc::spawn(Path::new(env!("CARGO_BIN_EXE_executor")), &args, &log);
    let fee = U256::from(10u64).pow(U256::from(16u64));
    owner.request(&model.id(), &random_input(&model, 4).canonical_bytes(), fee, Address::ZERO, 0).await.unwrap();
    eventually(
        "the executor to name the missing confirmations",
        Duration::from_secs(120),
        || p.log_tail(),
        || async { std::fs::read_to_string(&log).unwrap_or_default().contains("set --confirmations 0 on such a chain").then_some(()) },
    )
    .await;
}

/// Two executors with their own keys and stores split the requests by id (`--shard
/// 0/2`, `--shard 1/2`): every request is posted once, by the shard that owns it, and
/// finalized; nothing coordinates them but the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_executor_shards_split_the_requests_and_serve_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_fixture(MODEL);
    refute_chain::init_tls();
    let net = LocalNet::start(0, None, params(), &[&model], dir.path()).await.expect("local deployment");
    let owner = net.client(accounts::OWNER).await.unwrap();
    // the second shard runs on another funded key (the cheater's, honest here)
    let mut running = vec![];
    for (shard, account) in [(0u64, accounts::EXECUTOR), (1, accounts::CHEATER)] {
        let (stop, shutdown) = Shutdown::manual();
        let settings = net.settings(account, &dir.path().join(format!("executor-{shard}")), None);
        let opts = refute_executor::Options { stake: None, batch_size: 8, cheat: None, cheat_only: None, shard: (shard, 2) };
        let exec = refute_executor::Executor::start(settings, refute_service::ModelSet::load(&[fixture(MODEL)]).unwrap(), opts, &shutdown)
            .await
            .unwrap()
            .unwrap();
        running.push((stop, tokio::spawn(exec.clone().run(shutdown)), exec));
    }
    let fee = U256::from(10u64).pow(U256::from(16u64));
    let mut ids = vec![];
    for seed in 0..4 {
        ids.push(owner.request(&model.id(), &random_input(&model, seed).canonical_bytes(), fee, Address::ZERO, 0).await.unwrap());
    }
    for &id in &ids {
        let result = eventually("finality of every request", Duration::from_secs(90), String::new, || async {
            let r = owner.get_request(id).await.unwrap();
            (r.status == RequestStatus::Finalized).then_some(r.result_id)
        })
        .await;
        let owner_of_shard = net.devnet.address(if id % 2 == 0 { accounts::EXECUTOR } else { accounts::CHEATER });
        assert_eq!(owner.get_result(result).await.unwrap().executor, owner_of_shard, "request {id} served by its shard");
        assert_eq!(posts_for(&owner, id).await, 1, "request {id} posted once");
    }
    for (i, (_, _, exec)) in running.iter().enumerate() {
        assert_eq!(exec.metrics.results_posted.get(), 2, "shard {i} posted its half");
    }
    for (stop, task, _) in running {
        stop.send(true).unwrap();
        task.await.unwrap().unwrap();
    }
}
