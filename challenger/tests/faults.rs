//! What real networks do to a move in flight, on a real node (anvil, a block a
//! second) with the real services, for each side of a game: the honest side wins
//! after its pending move is lost in a node restart (state kept, mempool lost),
//! dropped from the mempool with no outage, replaced by another transaction at the
//! same nonce, or priced out by a base-fee spike within its fee cap.
//!
//! Each test plays a game between an honest side and a dishonest one (a cheating
//! executor against the honest watchtower; a griefing watchtower against the honest
//! executor), waits until it is the honest side's turn, stops mining so that its
//! move waits in the mempool, does the harm, and lets the chain go on.

use refute_chain::alloy::network::EthereumWallet;
use refute_chain::alloy::primitives::{Address, U256};
use refute_chain::alloy::providers::{Provider, ProviderBuilder};
use refute_chain::alloy::rpc::types::TransactionRequest;
use refute_chain::alloy::signers::local::PrivateKeySigner;
use refute_chain::{Chain, DeployParams, ResultStatus};
use refute_challenger::{Challenger, Selection};
use refute_core::Model;
use refute_executor::cheat::Cheat;
use refute_executor::Executor;
use refute_game::{Side, Status};
use refute_runtime::shutdown::Shutdown;
use refute_service::localnet::{accounts, LocalNet};
use refute_service::testkit::{eventually, fixture, load_fixture, random_input};
use refute_service::ModelSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const MODEL: &str = "hand-every-op";
const BLOCK_TIME: Option<u64> = Some(1);
const GWEI: u128 = 1_000_000_000;

/// The harm done to the honest side's pending move.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The node stops for 3 s and comes back with its state and an empty mempool.
    NodeRestart,
    /// The node evicts the move from its mempool.
    Dropped,
    /// Another transaction of the same account takes the move's nonce.
    Replaced,
    /// The base fee rises above the move's fee (within the fee cap) for a while.
    FeeSpike,
}

fn params() -> DeployParams {
    DeployParams { challenge_window: 20, clock_seconds: 120, request_timeout: 600, ..DeployParams::default() }
}

fn models() -> ModelSet {
    ModelSet::load(&[fixture(MODEL)]).unwrap()
}

struct Services {
    executor: Arc<Executor>,
    challenger: Arc<Challenger>,
    stops: Vec<tokio::sync::watch::Sender<bool>>,
    tasks: Vec<tokio::task::JoinHandle<Result<(), refute_store::StoreError>>>,
}

impl Services {
    async fn stop(self) {
        for s in &self.stops {
            let _ = s.send(true);
        }
        for t in self.tasks {
            t.await.unwrap().unwrap();
        }
    }
}

/// The honest side and its adversary, started on `net`.
async fn services(net: &LocalNet, dir: &Path, honest: Side) -> Services {
    let (cheat, grief) = match honest {
        Side::Challenger => (Some(Cheat::Output), false),
        Side::Executor => (None, true),
    };
    let executor_account = if cheat.is_some() { accounts::CHEATER } else { accounts::EXECUTOR };
    let (stop_e, shut_e) = Shutdown::manual();
    let settings = net.settings(executor_account, &dir.join("executor"), BLOCK_TIME);
    let executor =
        Executor::start(settings, models(), refute_executor::Options { stake: None, batch_size: 8, cheat, cheat_only: None, shard: (0, 1) }, &shut_e)
            .await
            .unwrap()
            .unwrap();
    let (stop_c, shut_c) = Shutdown::manual();
    let settings = net.settings(accounts::CHALLENGER, &dir.join("challenger"), BLOCK_TIME);
    let opts = refute_challenger::Options { bond: None, batch_size: 8, selection: Selection::default(), grief };
    let challenger = Challenger::start(settings, models(), opts, &shut_c).await.unwrap().unwrap();
    let tasks = vec![tokio::spawn(executor.clone().run(shut_e)), tokio::spawn(challenger.clone().run(shut_c))];
    Services { executor, challenger, stops: vec![stop_e, stop_c], tasks }
}

/// The honest side's account and key.
fn honest_account(net: &LocalNet, honest: Side) -> (Address, String) {
    let i = if honest == Side::Executor { accounts::EXECUTOR } else { accounts::CHALLENGER };
    (net.devnet.address(i), net.devnet.key(i))
}

/// Waits until it is `side`'s turn in `game` with mining stopped and `side`'s move in
/// the mempool; returns the move's transaction hashes.
async fn move_in_flight(net: &LocalNet, owner: &Chain, game: u64, side: Side, who: Address) -> Vec<String> {
    loop {
        eventually("the honest side's turn", Duration::from_secs(120), String::new, || async {
            let p = owner.game(game).await.unwrap().position;
            (p.status == Status::Open && p.turn == side).then_some(())
        })
        .await;
        net.devnet.pause_mining().await.unwrap();
        // a block may have come between the look and the pause
        if owner.game(game).await.unwrap().position.turn == side {
            break;
        }
        net.devnet.resume_mining().await.unwrap();
    }
    eventually("the honest side's move in the mempool", Duration::from_secs(30), String::new, || async {
        let txs = net.devnet.mempool_of(who).await.unwrap();
        (!txs.is_empty()).then_some(txs)
    })
    .await
}

/// Plays one game with `fault` done to the honest side's move; checks that side wins.
async fn survives(honest: Side, fault: Fault) {
    let dir = tempfile::tempdir().unwrap();
    let model: Model = load_fixture(MODEL);
    refute_chain::init_tls();
    let mut net = LocalNet::start(0, BLOCK_TIME, params(), &[&model], dir.path()).await.expect("local deployment");
    let owner = net.client(accounts::OWNER).await.unwrap();
    let svc = services(&net, dir.path(), honest).await;
    let fee = U256::from(10u64).pow(U256::from(16u64));
    let request_id = owner.request(&model.id(), &random_input(&model, 31).canonical_bytes(), fee, Address::ZERO, 0).await.unwrap();
    let result_id = eventually("the post", Duration::from_secs(60), String::new, || async {
        Some(owner.get_request(request_id).await.unwrap().result_id).filter(|&r| r != 0)
    })
    .await;
    let game =
        eventually("a game", Duration::from_secs(60), String::new, || async { owner.games_of(result_id).await.unwrap().first().copied() }).await;
    // let the game get under way: a few moves in, then the harm
    eventually("a few moves", Duration::from_secs(120), String::new, || async {
        let p = owner.game(game).await.unwrap().position;
        (p.status != Status::Open || svc.executor.metrics.moves.get() + svc.challenger.metrics.moves.get() >= 2).then_some(())
    })
    .await;
    let (who, key) = honest_account(&net, honest);
    let pending = move_in_flight(&net, &owner, game, honest, who).await;
    match fault {
        Fault::NodeRestart => net.devnet.restart(Duration::from_secs(3)).unwrap(),
        Fault::Dropped => {
            // the node held the moves and dropped them (a look at the mempool after
            // would race the service: its games lane looks every tick and sends the
            // same signed move again, which has the same hash; a later move may go
            // with an earlier one it depends on)
            let mut dropped = 0;
            for h in &pending {
                dropped += usize::from(net.devnet.drop_transaction(h).await.unwrap());
            }
            assert!(dropped >= 1, "the node held the moves {pending:?} and dropped them");
            net.devnet.resume_mining().await.unwrap();
        }
        Fault::Replaced => {
            // the same account sends a transfer of nothing at the move's nonce, paying more
            let signer: PrivateKeySigner = key.parse().unwrap();
            let p = ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(net.devnet.endpoint().parse().unwrap());
            let nonce = p.get_transaction_count(who).latest().await.unwrap();
            let tx = TransactionRequest::default()
                .from(who)
                .to(who)
                .value(U256::ZERO)
                .nonce(nonce)
                .gas_limit(21_000)
                .max_fee_per_gas(100 * GWEI)
                .max_priority_fee_per_gas(20 * GWEI);
            let _replacement = p.send_transaction(tx).await.unwrap();
            net.devnet.resume_mining().await.unwrap();
        }
        Fault::FeeSpike => {
            // 50 gwei, far above the move's fee, within the default cap of 200 gwei,
            // held for a few blocks (empty blocks lower the base fee again)
            net.devnet.set_next_base_fee(50 * GWEI).await.unwrap();
            net.devnet.resume_mining().await.unwrap();
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(900)).await;
                net.devnet.set_next_base_fee(50 * GWEI).await.unwrap();
            }
        }
    }
    let end = eventually(
        "the end of the game",
        Duration::from_secs(300),
        || std::fs::read_to_string(net.devnet.log()).unwrap_or_default().lines().rev().take(20).collect::<Vec<_>>().join("\n"),
        || async {
            let g = owner.game(game).await.ok()?;
            (g.position.status != Status::Open).then_some(g.position.status)
        },
    )
    .await;
    let want = if honest == Side::Executor { Status::ExecutorWon } else { Status::ChallengerWon };
    assert_eq!(end, want, "{fault:?} against the honest {honest:?}");
    let (resent, repriced) = if honest == Side::Executor {
        (svc.executor.metrics.moves_resent.get(), svc.executor.metrics.moves_repriced.get())
    } else {
        (svc.challenger.metrics.moves_resent.get(), svc.challenger.metrics.moves_repriced.get())
    };
    match fault {
        Fault::NodeRestart | Fault::Dropped | Fault::Replaced => assert!(resent >= 1, "{fault:?}: the lost move was sent again"),
        // anvil evicts a transaction priced under the base fee (geth keeps it in the
        // pool, where it is re-priced in place): either way it is sent again at the
        // new base fee
        Fault::FeeSpike => assert!(resent + repriced >= 1, "{fault:?}: the priced-out move was sent again at the new price"),
    }
    let result = owner.get_result(result_id).await.unwrap().status;
    if honest == Side::Challenger {
        assert_eq!(result, ResultStatus::Rejected, "the fraud does not stand");
    } else {
        eventually("finality of the honest result", Duration::from_secs(120), String::new, || async {
            (owner.get_result(result_id).await.unwrap().status == ResultStatus::Finalized).then_some(())
        })
        .await;
    }
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchtower_wins_when_its_move_is_lost_in_a_node_restart() {
    survives(Side::Challenger, Fault::NodeRestart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchtower_wins_when_its_move_is_dropped_from_the_mempool() {
    survives(Side::Challenger, Fault::Dropped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchtower_wins_when_its_move_is_replaced_at_the_same_nonce() {
    survives(Side::Challenger, Fault::Replaced).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchtower_wins_through_a_fee_spike_within_its_cap() {
    survives(Side::Challenger, Fault::FeeSpike).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_wins_when_its_move_is_lost_in_a_node_restart() {
    survives(Side::Executor, Fault::NodeRestart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_wins_when_its_move_is_dropped_from_the_mempool() {
    survives(Side::Executor, Fault::Dropped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_wins_when_its_move_is_replaced_at_the_same_nonce() {
    survives(Side::Executor, Fault::Replaced).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_wins_through_a_fee_spike_within_its_cap() {
    survives(Side::Executor, Fault::FeeSpike).await;
}
