//! The serve lane on the in-memory chain (`refute_service::fakechain`): the
//! executor itself, with the real engine, its store and its oracle calls, under
//! what the chain and a crash do to it, each test in milliseconds. Its anvil
//! tests (`tests/anvil.rs`) stay the last word on the contracts.

use crate::service::{build_indexes, Executor, Options};
use refute_chain::alloy::primitives::{Address, U256};
use refute_chain::{ChainConfig, Deployment, Event, FeePolicy, PostCall, RequestStatus, ResultStatus};
use refute_core::testing::reference_run;
use refute_core::Model;
use refute_game::{Side, TraceData};
use refute_runtime::logging::LogFormat;
use refute_service::fakechain::{account, FakeChain};
use refute_service::oracle::OracleChain;
use refute_service::testkit::{fixture, random_input};
use refute_service::{ModelSet, Settings};
use refute_store::Store;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const BLOCK: u64 = 12;
const WINDOW: u64 = 600;
const STAKE: u64 = 1_000;

fn models() -> ModelSet {
    ModelSet::load(&[fixture("hand-every-op")]).expect("the fixture model")
}

fn model() -> Arc<Model> {
    let set = models();
    set.get(&set.ids()[0]).expect("one model").0.clone()
}

fn settings(dir: &Path) -> Settings {
    let deployment =
        Deployment { chain_id: 1, block: 0, registry: Address::ZERO, oracle: Address::ZERO, game: Address::ZERO, verifier: Address::ZERO };
    Settings {
        chain: ChainConfig { rpc_url: "http://fake.invalid".into(), private_key: String::new(), deployment, fees: FeePolicy::default() },
        confirmations: 0,
        poll_interval: Duration::from_millis(10),
        concurrency: 4,
        data_dir: dir.to_path_buf(),
        metrics_addr: None,
        log_format: LogFormat::Human,
    }
}

/// An honest executor on `chain` with its store in `dir` (opened again after a
/// crash: the same records).
fn executor(chain: &FakeChain, dir: &Path) -> Arc<Executor<FakeChain>> {
    let store = Store::open(dir).expect("store");
    build_indexes(&store).expect("indexes");
    let opts = Options { stake: None, batch_size: 8, cheat: None, cheat_only: None, shard: (0, 1) };
    Executor::on(chain.clone(), store, models(), opts, settings(dir), 1, U256::from(STAKE))
}

/// A fresh chain with the oracle's window, a request for the fixture model on
/// a random input, and the honest trace of that input.
fn requested(seed: u64) -> (FakeChain, u64, TraceData) {
    let (chain, _) = FakeChain::pair(1_000_000, BLOCK);
    chain.set_oracle(WINDOW, 3600);
    let model = model();
    let input = random_input(&model, seed);
    let id = chain.request(model.id(), input.canonical_bytes(), U256::from(10u64));
    let honest = TraceData::from_tensors(model.clone(), &reference_run(&model, &input));
    (chain, id, honest)
}

/// Posts sent by the executor's account, in order.
fn post_sends(chain: &FakeChain) -> usize {
    chain.sends().iter().filter(|(_, side, kind, _)| *side == Side::Executor && *kind == "post").count()
}

/// The results posted for `request`, by whom, in order.
fn posts_of(chain: &FakeChain, request: u64) -> Vec<(u64, Address)> {
    chain
        .all_events()
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::Posted { result_id, request_id, executor, .. } if request_id == request => Some((result_id, executor)),
            _ => None,
        })
        .collect()
}

/// Ticks of the serve lane with a block mined after each, until `done` or
/// `ticks` have passed.
async fn serve(exec: &Arc<Executor<FakeChain>>, chain: &FakeChain, ticks: usize, done: impl Fn() -> bool) {
    for _ in 0..ticks {
        exec.serve_tick().await.expect("a serve tick");
        if done() {
            return;
        }
        chain.mine();
    }
}

/// Results the executor knows as its own posts (posted, or adopted from the chain).
fn posted(exec: &Executor<FakeChain>) -> u64 {
    exec.metrics.results_posted.get()
}

/// The window passes, and the executor finalizes and withdraws its result.
async fn finalized(exec: &Arc<Executor<FakeChain>>, chain: &FakeChain, result: u64) {
    chain.wait(WINDOW);
    serve(exec, chain, 10, || chain.result(result).map(|r| r.status) == Some(ResultStatus::Finalized)).await;
    assert_eq!(chain.result(result).unwrap().status, ResultStatus::Finalized);
    let me = account(Side::Executor);
    serve(exec, chain, 10, || chain.sends().iter().any(|s| s.2 == "withdraw") && chain.pooled() == 0).await;
    assert!(chain.credited(me).await.unwrap().is_zero(), "the stake and the fee are withdrawn");
}

#[tokio::test]
async fn a_request_is_served_once_posted_finalized_and_withdrawn() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, request, honest) = requested(1);
    let exec = executor(&chain, dir.path());
    exec.serve_tick().await.unwrap();
    assert_eq!(post_sends(&chain), 1, "the post is sent in the tick that saw the request");
    assert_eq!(chain.pooled(), 1, "and not waited for");
    serve(&exec, &chain, 5, || chain.request_info(request).unwrap().status == RequestStatus::Posted && chain.pooled() == 0).await;
    let posts = posts_of(&chain, request);
    assert_eq!(posts, vec![(1, account(Side::Executor))]);
    assert_eq!(chain.result(1).unwrap().trace_root, honest.root(), "the engine's trace is the reference's");
    assert_eq!(posted(&exec), 1);
    finalized(&exec, &chain, 1).await;
    assert_eq!(post_sends(&chain), 1);
}

#[tokio::test]
async fn a_request_taken_by_another_executor_is_served_again_when_that_result_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, request, honest) = requested(2);
    // a liar posts first
    let liar = Address::repeat_byte(0x0b);
    let lie = PostCall { root: [7; 32], ..PostCall::of(request, &honest) };
    let lied = chain.post_as(liar, &lie).unwrap();
    let exec = executor(&chain, dir.path());
    serve(&exec, &chain, 3, || false).await;
    assert_eq!(post_sends(&chain), 0, "a request taken by another is not served");

    chain.reject(lied);
    assert_eq!(chain.request_info(request).unwrap().status, RequestStatus::Open);
    serve(&exec, &chain, 6, || chain.request_info(request).unwrap().status == RequestStatus::Posted && chain.pooled() == 0).await;
    assert_eq!(posts_of(&chain, request), vec![(lied, liar), (2, account(Side::Executor))]);
    assert_eq!(chain.result(2).unwrap().trace_root, honest.root());
    assert_eq!(posted(&exec), 1);
    finalized(&exec, &chain, 2).await;
    assert_eq!(post_sends(&chain), 1, "served once after the rejection");
}

#[tokio::test]
async fn a_post_mined_while_the_executor_was_down_is_adopted_and_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, request, _) = requested(3);
    let exec = executor(&chain, dir.path());
    exec.serve_tick().await.unwrap();
    assert_eq!(post_sends(&chain), 1);
    // a crash with the post in flight: it is mined while the executor is down
    drop(exec);
    chain.mine();
    let exec = executor(&chain, dir.path());
    serve(&exec, &chain, 3, || false).await;
    assert_eq!(post_sends(&chain), 1, "the restarted executor follows its post and adopts it");
    assert_eq!(posted(&exec), 1, "adopted");
    assert_eq!(posts_of(&chain, request).len(), 1);
    finalized(&exec, &chain, 1).await;
}

#[tokio::test]
async fn a_post_whose_record_was_lost_is_adopted_from_the_chain() {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (chain, request, _) = requested(4);
    let exec = executor(&chain, first.path());
    exec.serve_tick().await.unwrap();
    chain.mine();
    drop(exec);
    // the store is lost (a crash before the write, a new disk): a new store on
    // the same account reads the request and its own post from the chain
    let exec = executor(&chain, second.path());
    serve(&exec, &chain, 3, || false).await;
    assert_eq!(post_sends(&chain), 1, "the chain shows the request served by us: nothing is sent again");
    assert_eq!(posts_of(&chain, request).len(), 1);
    assert_eq!(posted(&exec), 1, "adopted");
    finalized(&exec, &chain, 1).await;
}

#[tokio::test]
async fn a_post_the_node_dropped_is_sent_again_and_lands_once() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, request, _) = requested(5);
    chain.drop_next(1);
    let exec = executor(&chain, dir.path());
    serve(&exec, &chain, 6, || chain.request_info(request).unwrap().status == RequestStatus::Posted && chain.pooled() == 0).await;
    assert_eq!(post_sends(&chain), 2, "the dropped post and its second send");
    assert_eq!(posts_of(&chain, request).len(), 1);
    finalized(&exec, &chain, 1).await;
}

#[tokio::test]
async fn a_stuck_post_is_repriced_at_its_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, request, _) = requested(6);
    let exec = executor(&chain, dir.path());
    exec.serve_tick().await.unwrap();
    // a fee spike over the post's most fee: no block takes it
    chain.set_base_fee(100_000_000_000);
    serve(&exec, &chain, 6, || chain.request_info(request).unwrap().status == RequestStatus::Posted && chain.pooled() == 0).await;
    let nonces: Vec<u64> = chain.sends().iter().filter(|s| s.2 == "post").map(|s| s.3).collect();
    assert!(nonces.len() >= 2 && nonces.iter().all(|n| *n == nonces[0]), "re-priced at the same nonce: {nonces:?}");
    assert_eq!(posts_of(&chain, request).len(), 1);
}

#[tokio::test]
async fn a_burst_of_requests_is_posted_in_one_tick_without_waiting_for_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, _, _) = requested(7);
    let model = model();
    let ids: Vec<u64> = (0..19).map(|s| chain.request(model.id(), random_input(&model, 100 + s).canonical_bytes(), U256::from(10u64))).collect();
    let exec = executor(&chain, dir.path());
    exec.serve_tick().await.unwrap();
    assert_eq!(post_sends(&chain), 20, "twenty posts (three engine batches of at most 8) in one tick");
    chain.mine();
    exec.serve_tick().await.unwrap();
    for id in ids {
        assert_eq!(posts_of(&chain, id).len(), 1, "request {id}");
    }
}
