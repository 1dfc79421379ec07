//! The game lane on the in-memory chain ([`crate::fakechain`]): the scheduler
//! and `play_once` with the real solvers and the Rust referee, under the faults
//! a network produces, each test in milliseconds. The services' own players
//! (`Executor`, `Challenger`) are tested on anvil; these test the lane they
//! share.

use crate::fakechain::FakeChain;
use crate::games::{Player, Scheduler};
use crate::play::{play_once, Action, Played};
use crate::runner::TickError;
use refute_chain::GameInfo;
use refute_core::reference::eval_all;
use refute_core::testing::{random_input, reference_run, tensor_of, wide_mlp, Rng};
use refute_core::{Model, Tensor};
use refute_game::{challenger_move, executor_move, GameContext, Side, Status, TraceData};
use refute_store::{Store, StoreError};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const ARITY: u32 = 1;
const CLOCK: u64 = 600;
const BLOCK: u64 = 12;

/// One side of the tests: the real solver for its side over its own trace, the
/// lane's `play_once`, a store of its own.
struct TestPlayer {
    side: Side,
    chain: FakeChain,
    store: Store,
    /// The trace this side believes in, by game.
    traces: Vec<(u64, Arc<TraceData>)>,
    open: Mutex<BTreeSet<u64>>,
    /// While set, the player does nothing (a service that is down).
    silent: AtomicBool,
    /// What every turn did, in order.
    played: Mutex<Vec<(u64, Played)>>,
}

impl TestPlayer {
    fn new(side: Side, chain: &FakeChain, dir: &std::path::Path, traces: Vec<(u64, Arc<TraceData>)>) -> Arc<TestPlayer> {
        assert_eq!(chain.side(), side);
        let open = traces.iter().map(|(id, _)| *id).collect();
        Arc::new(TestPlayer {
            side,
            chain: chain.clone(),
            store: Store::open(dir).expect("store"),
            traces,
            open: Mutex::new(open),
            silent: AtomicBool::new(false),
            played: Mutex::default(),
        })
    }

    fn trace(&self, id: u64) -> Arc<TraceData> {
        self.traces.iter().find(|(g, _)| *g == id).map(|(_, t)| t.clone()).expect("a trace for every game")
    }

    fn count(&self, f: impl Fn(&Played) -> bool) -> usize {
        self.played.lock().unwrap().iter().filter(|(_, p)| f(p)).count()
    }
}

impl Player for TestPlayer {
    fn side(&self) -> Side {
        self.side
    }

    fn open_games(&self) -> Result<Vec<u64>, StoreError> {
        Ok(self.open.lock().unwrap().iter().copied().collect())
    }

    async fn play(self: Arc<Self>, id: u64, info: GameInfo) -> Result<(), TickError> {
        if self.silent.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (trace, revealed) = (self.trace(id), self.chain.revealed(id));
        let side = self.side;
        let played = play_once(&self.chain, &self.store, &info, side, |g| {
            match side {
                Side::Executor => executor_move(ARITY, &g.position, &trace),
                Side::Challenger => challenger_move(ARITY, &g.position, &trace, &revealed),
            }
            .map_err(|e| e.to_string())
        })
        .await?;
        if let Action::Ended(_) = played.action {
            self.open.lock().unwrap().remove(&id);
        }
        self.played.lock().unwrap().push((id, played));
        Ok(())
    }
}

/// A model whose every reduction has two blocks (the reduction descent is
/// played), its honest trace, and a lie at one element of its first layer that
/// stays consistent afterwards.
fn traces() -> (Arc<TraceData>, Arc<TraceData>, Arc<Model>) {
    let model = Arc::new(wide_mlp(1024, 1));
    let input = random_input(&mut Rng::new(5), model.input_type());
    let honest = reference_run(&model, &input);
    let mut lie = honest.clone();
    let t = &lie[1];
    let mut v: Vec<i64> = (0..t.numel()).map(|i| t.get(i)).collect();
    v[3] = if v[3] < 127 { v[3] + 1 } else { v[3] - 1 };
    lie[1] = tensor_of(t.ty(), &v);
    for i in 2..lie.len() {
        let step = &model.steps()[i];
        let ins: Vec<&Tensor> = step.inputs.iter().map(|&j| &lie[j as usize]).collect();
        let ws: Vec<&Tensor> = step.weights.iter().collect();
        let values = eval_all(&step.spec, &ins, &ws);
        lie[i] = tensor_of(lie[i].ty(), &values);
    }
    (Arc::new(TraceData::from_tensors(model.clone(), &honest)), Arc::new(TraceData::from_tensors(model.clone(), &lie)), model)
}

fn context(model: &Model, posted: &TraceData) -> GameContext {
    GameContext {
        trace_root: posted.root(),
        step_count: model.step_count() as u32,
        spec_root: model.spec_root(),
        arity_log2: ARITY,
        clock_seconds: CLOCK,
    }
}

/// One pass of `player`'s scheduler, its jobs run to the end.
async fn turn(scheduler: &Scheduler, player: &Arc<TestPlayer>) {
    scheduler.pass(player, &player.chain).await.expect("pass");
    scheduler.drain().await.expect("jobs");
}

/// Both sides take a turn, then a block is mined, until every game ends (at most
/// `blocks` blocks).
async fn play_out(chain: &FakeChain, sides: &[(&Scheduler, &Arc<TestPlayer>)], games: &[u64], blocks: usize) {
    for _ in 0..blocks {
        for (s, p) in sides {
            turn(s, p).await;
        }
        if games.iter().all(|&g| status(chain, g) != Status::Open) {
            return;
        }
        chain.mine();
    }
    panic!("the games did not end in {blocks} blocks");
}

fn status(chain: &FakeChain, id: u64) -> Status {
    chain.status(id).expect("the game")
}

/// Every move mined in `id` was accepted, and each side sent exactly the moves
/// that were mined (nothing twice) besides the `dropped` sends that the node
/// forgot or that a replacement took the place of.
fn assert_clean(chain: &FakeChain, id: u64, dropped: usize) {
    let history = chain.history(id);
    assert!(history.iter().all(|m| m.success), "a move reverted: {history:?}");
    let sends = chain.sends().into_iter().filter(|(g, ..)| *g == Some(id)).count();
    assert_eq!(sends, history.len() + dropped, "sends {:?} against mined {history:?}", chain.sends());
}

/// One game `id` on a new chain, posted with `posted`: the executor defends
/// `posted`, the challenger believes `believed`; each side with its own store and
/// a scheduler of one permit. The directory holds the stores.
struct Duel {
    exec: FakeChain,
    chal: FakeChain,
    e: Arc<TestPlayer>,
    c: Arc<TestPlayer>,
    se: Scheduler,
    sc: Scheduler,
    _dir: tempfile::TempDir,
}

fn duel(id: u64, model: &Model, posted: Arc<TraceData>, believed: Arc<TraceData>) -> Duel {
    let (exec, chal) = FakeChain::pair(1_000, BLOCK);
    exec.open_game(id, context(model, &posted));
    let dir = tempfile::tempdir().unwrap();
    let e = TestPlayer::new(Side::Executor, &exec, &dir.path().join("e"), vec![(id, posted)]);
    let c = TestPlayer::new(Side::Challenger, &chal, &dir.path().join("c"), vec![(id, believed)]);
    Duel { exec, chal, e, c, se: Scheduler::new(1), sc: Scheduler::new(1), _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lie_loses_and_the_truth_wins_with_both_games_in_one_lane() {
    let (honest, lie, model) = traces();
    let (exec, chal) = FakeChain::pair(1_000, BLOCK);
    // game 1: the executor lies; game 2: the challenger disputes the truth
    exec.open_game(1, context(&model, &lie));
    exec.open_game(2, context(&model, &honest));
    let dir = tempfile::tempdir().unwrap();
    let e = TestPlayer::new(Side::Executor, &exec, &dir.path().join("e"), vec![(1, lie.clone()), (2, honest.clone())]);
    let c = TestPlayer::new(Side::Challenger, &chal, &dir.path().join("c"), vec![(1, honest.clone()), (2, lie.clone())]);
    let (se, sc) = (Scheduler::new(4), Scheduler::new(4));
    play_out(&exec, &[(&se, &e), (&sc, &c)], &[1, 2], 400).await;
    assert_eq!(status(&exec, 1), Status::ChallengerWon);
    assert_eq!(status(&exec, 2), Status::ExecutorWon);
    for g in [1, 2] {
        assert_clean(&exec, g, 0);
        // the descent reached the reduction: both blocks of the element's fold
        let kinds: Vec<_> = exec.history(g).iter().map(|m| m.kind).collect();
        assert!(kinds.contains(&"nameElement") && kinds.contains(&"openCheckpoints"), "{kinds:?}");
    }
    // every move within a block of the one before it: the lane never held a game
    for g in [1, 2] {
        let h = exec.history(g);
        assert!(h.windows(2).all(|w| w[1].block == w[0].block + 1), "{h:?}");
    }
    assert!(e.open_games().unwrap().is_empty() && c.open_games().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_moves_are_sent_again_and_the_game_ends_as_it_would() {
    let (honest, lie, model) = traces();
    let Duel { exec, chal, e, c, se, sc, _dir } = duel(7, &model, lie, honest);
    // the executor's first move and two of the challenger's vanish from the node
    exec.drop_next(1);
    turn(&se, &e).await;
    assert_eq!(exec.pooled(), 0, "the first move was dropped");
    exec.mine();
    turn(&se, &e).await;
    assert_eq!(e.count(|p| p.resent), 1, "seen dropped and sent again");
    exec.mine();
    chal.drop_next(2);
    play_out(&exec, &[(&se, &e), (&sc, &c)], &[7], 400).await;
    assert_eq!(status(&exec, 7), Status::ChallengerWon);
    assert_eq!(c.count(|p| p.resent), 2);
    assert_clean(&exec, 7, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_priced_under_a_risen_base_fee_is_repriced_and_mined() {
    let (honest, lie, model) = traces();
    let Duel { exec, e, c, se, sc, _dir, .. } = duel(3, &model, honest, lie);
    turn(&se, &e).await;
    let first = exec.sends()[0].3;
    // 3 gwei offered, the base fee goes to 5: nothing of ours can be mined
    exec.set_base_fee(5_000_000_000);
    exec.mine();
    assert!(exec.history(3).is_empty(), "priced under the base fee, not mined");
    turn(&se, &e).await;
    assert_eq!(e.count(|p| p.action == Action::Repriced("revealNodes")), 1);
    assert_eq!(exec.sends()[1].3, first, "the replacement takes the stuck move's nonce");
    exec.mine();
    assert_eq!(exec.history(3).len(), 1, "the re-priced move is mined");
    play_out(&exec, &[(&se, &e), (&sc, &c)], &[3], 400).await;
    assert_eq!(status(&exec, 3), Status::ExecutorWon);
    assert_clean(&exec, 3, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_executor_loses_on_time_and_does_not_move_after_its_clock() {
    let (honest, lie, model) = traces();
    let Duel { exec, chal, e, c, se, sc, _dir } = duel(4, &model, lie, honest);
    e.silent.store(true, Ordering::SeqCst);
    // the clock runs, the challenger has nothing to claim yet
    exec.wait(CLOCK - 2 * BLOCK);
    turn(&sc, &c).await;
    assert_eq!(chal.pooled(), 0, "no timeout claimed while the executor has time");
    exec.wait(BLOCK);
    // the executor wakes too late: its clock has run out, it sends nothing
    e.silent.store(false, Ordering::SeqCst);
    turn(&se, &e).await;
    assert_eq!(exec.pooled(), 0, "nothing sent on an expired clock");
    assert_eq!(e.count(|p| p.action == Action::Idle), 1);
    turn(&sc, &c).await;
    exec.mine();
    assert_eq!(status(&exec, 4), Status::ChallengerWon);
    let h = exec.history(4);
    assert_eq!((h.len(), h[0].side, h[0].kind), (1, Side::Challenger, "timeout"));
    // both lanes see the end and let the game go
    turn(&se, &e).await;
    turn(&sc, &c).await;
    assert!(e.open_games().unwrap().is_empty() && c.open_games().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_a_move_in_flight_follows_it_and_sends_nothing_twice() {
    let (honest, lie, model) = traces();
    let (exec, chal) = FakeChain::pair(1_000, BLOCK);
    exec.open_game(5, context(&model, &lie));
    let dir = tempfile::tempdir().unwrap();
    let c = TestPlayer::new(Side::Challenger, &chal, &dir.path().join("c"), vec![(5, honest.clone())]);
    let sc = Scheduler::new(1);
    let e = TestPlayer::new(Side::Executor, &exec, &dir.path().join("e"), vec![(5, lie.clone())]);
    let se = Scheduler::new(1);
    turn(&se, &e).await;
    assert_eq!(exec.pooled(), 1);
    // the executor goes down with its move in the mempool, and comes back
    drop((se, e));
    let e = TestPlayer::new(Side::Executor, &exec, &dir.path().join("e"), vec![(5, lie)]);
    let se = Scheduler::new(1);
    turn(&se, &e).await;
    assert_eq!(e.count(|p| p.action == Action::Waiting), 1, "the move sent before the restart is followed");
    assert_eq!(exec.sends().len(), 1, "and not sent again");
    // the challenger restarts mid-game too
    exec.mine();
    turn(&sc, &c).await;
    drop((sc, c));
    let c = TestPlayer::new(Side::Challenger, &chal, &dir.path().join("c"), vec![(5, honest)]);
    let sc = Scheduler::new(1);
    play_out(&exec, &[(&se, &e), (&sc, &c)], &[5], 400).await;
    assert_eq!(status(&exec, 5), Status::ChallengerWon);
    assert_clean(&exec, 5, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_game_with_least_time_left_moves_first() {
    let (honest, _, model) = traces();
    let (exec, _) = FakeChain::pair(1_000, BLOCK);
    // opened 100 s apart: game 30 has the least time left, game 10 the most
    for id in [30, 20, 10] {
        exec.open_game(id, context(&model, &honest));
        exec.wait(100);
    }
    let dir = tempfile::tempdir().unwrap();
    let e = TestPlayer::new(Side::Executor, &exec, &dir.path().join("e"), [10, 20, 30].map(|g| (g, honest.clone())).to_vec());
    // one job at a time: the order of the sends is the order of urgency
    turn(&Scheduler::new(1), &e).await;
    let order: Vec<u64> = exec.sends().iter().map(|(g, ..)| g.unwrap()).collect();
    assert_eq!(order, vec![30, 20, 10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moot_game_is_let_go_with_its_move_in_flight() {
    let (_, lie, model) = traces();
    let (exec, _) = FakeChain::pair(1_000, BLOCK);
    exec.open_game(6, context(&model, &lie));
    let dir = tempfile::tempdir().unwrap();
    let e = TestPlayer::new(Side::Executor, &exec, &dir.path().join("e"), vec![(6, lie)]);
    let se = Scheduler::new(1);
    turn(&se, &e).await;
    // another game rejected the result: this one ends before the move lands
    exec.settle(6, Status::ChallengerWon);
    exec.mine();
    assert!(!exec.history(6)[0].success, "the move reverts in its block");
    turn(&se, &e).await;
    turn(&se, &e).await;
    assert!(e.open_games().unwrap().is_empty(), "the game is let go");
    assert_eq!(exec.sends().len(), 1, "nothing more is sent on an ended game");
}
