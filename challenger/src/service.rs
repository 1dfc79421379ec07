//! The challenger: two lanes side by side ([`refute_service::runner::run_lanes`]).
//!
//! The **check** lane, each tick:
//! 1. **scan**: confirmed events into the store: requests for checked models
//!    (their inputs), results this instance follows (its models, its shard, its
//!    sample), and its own games;
//! 2. **check**: re-run the results to check (the store's open index) in batches
//!    with the engine and compare trace roots, recording a batch's verdicts in one
//!    write; on a mismatch open a game at once (idempotently: a game of ours
//!    already on the result is adopted);
//! 3. **withdraw** what the oracle credited (sent without waiting).
//!
//! The **games** lane hands every open game of ours to the scheduler
//! ([`refute_service::games`]): one job per game, most urgent clock first, each
//! one move from the pure solver, with the executor's reveals read from the
//! chain's events; a game made moot by another game's win is settled. Re-running
//! a burst of results never holds a game's clock.
//!
//! It never challenges a result whose trace root equals its own: that is the
//! only way a game is opened (the hidden `--grief` flag exists to demonstrate
//! what an honest executor does to a challenger that does otherwise).

use crate::metrics::Metrics;
use crate::records::{CheckState, GameRec, RequestRec, ResultRec};
use refute_chain::alloy::primitives::U256;
use refute_chain::{Chain, ChainError, Event, GameInfo, ResultStatus, SentTx};
use refute_core::hash::{from_hex, keccak, to_hex};
use refute_core::Tensor;
use refute_game::{challenger_move, Move, Phase, Side, SolverError, Status, TraceData};
use refute_runtime::shutdown::Shutdown;
use refute_service::games::{Player, Scheduler};
use refute_service::play::{play_once, Action};
use refute_service::runner::{self, TickError};
pub use refute_service::runner::{Preflight, StartError};
use refute_service::{eth, ModelSet, Settings};
use refute_store::{id_key, Cf, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Which results an instance follows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Selection {
    /// This instance's shard (0-based).
    pub shard: u64,
    /// Number of shards.
    pub shards: u64,
    /// Fraction of results checked, in (0, 1].
    pub sample: f64,
}

impl Default for Selection {
    fn default() -> Self {
        Selection { shard: 0, shards: 1, sample: 1.0 }
    }
}

impl Selection {
    /// Whether result `id` is this instance's to check. Shards split by id; the
    /// sample is drawn from a hash of the id salted with our address, so an
    /// executor cannot tell which results a given watchtower skips.
    pub fn follows(&self, id: u64, salt: &[u8]) -> bool {
        if id % self.shards != self.shard {
            return false;
        }
        if self.sample >= 1.0 {
            return true;
        }
        let h = keccak(&[salt, &id.to_be_bytes()]);
        let x = u64::from_be_bytes(h[..8].try_into().expect("8 bytes")) as f64 / u64::MAX as f64;
        x < self.sample
    }
}

/// What a challenger does beyond the common settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bond per game, wei; `None`: the game's least bond.
    pub bond: Option<U256>,
    /// Most results re-run at once.
    pub batch_size: usize,
    /// Which results to follow.
    pub selection: Selection,
    /// Challenge correct results too and pick blindly (hidden flag; demos only:
    /// such a challenger loses its bond).
    pub grief: bool,
}

/// A running challenger.
pub struct Challenger {
    chain: Chain,
    store: Store,
    models: ModelSet,
    opts: Options,
    bond: U256,
    settings: Settings,
    arity_log2: u32,
    /// Our traces of mismatched results, by result (dropped when the game ends).
    traces: Mutex<HashMap<u64, Arc<TraceData>>>,
    /// The withdrawal in flight.
    withdrawal: Mutex<Option<SentTx>>,
    scheduler: Scheduler,
    /// Its metrics.
    pub metrics: Metrics,
}

impl std::fmt::Debug for Challenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenger").field("sender", &self.chain.sender()).field("store", &self.store).finish()
    }
}

/// Checks the bond against the least bond, the balance against one bond, and that
/// every checked model is registered.
pub async fn preflight(chain: &Chain, models: &ModelSet, bond: Option<U256>) -> Result<Preflight, ChainError> {
    let mut p = Preflight::default();
    let cfg = chain.oracle_config().await?;
    let bond = bond.unwrap_or(cfg.minBond);
    let balance = chain.eth_balance(chain.sender()).await?;
    p.facts.push(format!("account {}: balance {} ether; bond per game {} ether", chain.sender(), eth(balance), eth(bond)));
    if bond < cfg.minBond {
        p.problems.push(format!("bond: {} ether is below the least bond {} ether", eth(bond), eth(cfg.minBond)));
    }
    if balance < bond {
        p.problems.push(format!("balance: {} ether is less than one bond ({} ether): fund {}", eth(balance), eth(bond), chain.sender()));
    }
    for id in models.ids() {
        if !chain.is_registered(&id).await? {
            p.problems.push(format!("model {}: not registered on this deployment", to_hex(&id)));
        }
    }
    Ok(p)
}

impl Challenger {
    /// Opens the store, connects (waiting for the node if it is down) and waits
    /// until nothing sent before a restart is in flight. `None` if shutdown came
    /// first.
    pub async fn start(settings: Settings, models: ModelSet, opts: Options, shutdown: &Shutdown) -> Result<Option<Arc<Challenger>>, StartError> {
        let index = |store: &Store| {
            store.build_open_index::<ResultRec>(Cf::Results, |r| r.state.is_open())?;
            store.build_open_index::<GameRec>(Cf::Games, |g| g.ended.is_none()).map(drop)
        };
        let Some((store, chain)) = runner::open(&settings, shutdown, index).await? else { return Ok(None) };
        let pre = preflight(&chain, &models, opts.bond).await?;
        let Some(arity_log2) = runner::ready("challenger", &chain, pre, shutdown).await? else { return Ok(None) };
        let bond = opts.bond.unwrap_or(chain.oracle_config().await?.minBond);
        tracing::info!(sender = %chain.sender(), models = ?models.describe(), selection = ?opts.selection, "challenger started");
        let scheduler = Scheduler::new(settings.concurrency);
        Ok(Some(Arc::new(Challenger {
            chain,
            store,
            models,
            opts,
            bond,
            settings,
            arity_log2,
            traces: Mutex::default(),
            withdrawal: Mutex::default(),
            scheduler,
            metrics: Metrics::default(),
        })))
    }

    /// The chain client (its sender is the challenger's account).
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Runs the check and games lanes until shutdown; returns only on shutdown
    /// or a broken store, once every game job has stopped.
    pub async fn run(self: Arc<Self>, shutdown: Shutdown) -> Result<(), StoreError> {
        let span = tracing::info_span!("challenger", account = %self.chain.sender());
        let (every, failures) = (self.settings.poll_interval, &self.metrics.tick_failures);
        let lanes = vec![
            runner::lane("check", every, &self, failures, |me| Box::pin(async move { me.check_tick().await })),
            runner::lane("games", every, &self, failures, |me| Box::pin(async move { me.games_tick().await })),
        ];
        runner::run_service(span, &shutdown, lanes, &self.scheduler).await
    }

    /// One tick of the check lane: scan, check, withdraw.
    pub async fn check_tick(self: &Arc<Self>) -> Result<(), TickError> {
        self.scan().await?;
        self.check().await?;
        runner::withdraw(&self.chain, &self.withdrawal).await?;
        self.metrics.balance_eth.set(eth(self.chain.eth_balance(self.chain.sender()).await?));
        Ok(())
    }

    /// One tick of the games lane: a pass of the scheduler over every open game.
    pub async fn games_tick(self: &Arc<Self>) -> Result<(), TickError> {
        self.scheduler.pass(self, &self.chain).await?;
        Ok(())
    }

    async fn scan(&self) -> Result<(), TickError> {
        let me = self.chain.sender();
        let store = &self.store;
        let models = &self.models;
        let sel = self.opts.selection;
        let mut fresh: HashMap<u64, RequestRec> = HashMap::new();
        refute_service::scan::scan(&self.chain, store, &self.settings.scan_policy(), "challenger", |e, batch| {
            match e {
                Event::Requested { request_id, model_id, input, .. } if models.contains(model_id) => {
                    let rec = RequestRec { model_id: to_hex(model_id), input: hex::encode(input) };
                    // kept for its input only: never in the open index
                    put(batch, Cf::Requests, *request_id, &rec, false)?;
                    fresh.insert(*request_id, rec);
                }
                Event::Posted { result_id, request_id, executor, trace_root, block, .. } if *executor != me => {
                    let req = match fresh.get(request_id) {
                        Some(r) => Some(r.clone()),
                        None => store.get::<RequestRec>(Cf::Requests, &id_key(*request_id)).map_err(|e| e.to_string())?,
                    };
                    // a request we did not keep is for a model we do not check
                    let Some(req) = req else { return Ok(()) };
                    if !sel.follows(*result_id, me.as_slice()) {
                        return Ok(());
                    }
                    if store.get::<ResultRec>(Cf::Results, &id_key(*result_id)).map_err(|e| e.to_string())?.is_none() {
                        let rec = ResultRec {
                            request_id: *request_id,
                            model_id: req.model_id,
                            executor: executor.to_string(),
                            trace_root: to_hex(trace_root),
                            block: *block,
                            state: CheckState::ToCheck,
                        };
                        put(batch, Cf::Results, *result_id, &rec, true)?;
                    }
                }
                Event::GameOpened { game_id, result_id, challenger, block, .. } if *challenger == me => {
                    if store.get::<GameRec>(Cf::Games, &id_key(*game_id)).map_err(|e| e.to_string())?.is_none() {
                        put(batch, Cf::Games, *game_id, &GameRec { result_id: *result_id, block: *block, moves: 0, ended: None }, true)?;
                    }
                }
                _ => {}
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn check(&self) -> Result<(), TickError> {
        let mut todo: BTreeMap<String, Vec<(u64, ResultRec)>> = BTreeMap::new();
        let mut mismatched = Vec::new();
        for (id, rec) in self.store.open_records::<ResultRec>(Cf::Results)? {
            match rec.state {
                CheckState::ToCheck => todo.entry(rec.model_id.clone()).or_default().push((id, rec)),
                CheckState::Mismatch { .. } => mismatched.push((id, rec)),
                _ => {}
            }
        }
        // block times for the detection metric, one call per block
        let mut block_times: HashMap<u64, u64> = HashMap::new();
        for (model_hex, results) in todo {
            let Some((model, engine)) = from_hex(&model_hex).and_then(|h| self.models.get(&h)) else { continue };
            let (model, engine) = (model.clone(), engine.clone());
            for chunk in results.chunks(self.opts.batch_size) {
                // a batch's verdicts land in one write
                let mut batch = self.store.batch();
                let mut inputs = Vec::new();
                let mut ids = Vec::new();
                for (id, rec) in chunk {
                    let input = self
                        .store
                        .get::<RequestRec>(Cf::Requests, &id_key(rec.request_id))?
                        .and_then(|r| hex::decode(r.input).ok())
                        .and_then(|b| Tensor::from_canonical_bytes(model.input_type().clone(), &b).ok());
                    match input {
                        Some(t) => {
                            inputs.push(t);
                            ids.push((*id, rec.clone()));
                        }
                        None => {
                            // the oracle accepted a post for an input that is not
                            // a tensor of the model's input type: nobody can run it
                            let mut r = rec.clone();
                            r.state = CheckState::Missed { why: "the request's input does not fit the model".into() };
                            batch.put_record(Cf::Results, *id, &r, false)?;
                        }
                    }
                }
                if !inputs.is_empty() {
                    let run = refute_service::models::run_batch(&engine, inputs).await.map_err(TickError::Other)?;
                    let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
                    for (sample, (id, mut rec)) in ids.into_iter().enumerate() {
                        // the engine's own root: a correct result is never hashed again
                        let ours = to_hex(&run.trace(sample).root);
                        self.metrics.results_checked.inc();
                        let block_time = match block_times.get(&rec.block) {
                            Some(t) => *t,
                            None => {
                                let t = self.chain.block(rec.block).await.map(|b| b.timestamp).unwrap_or(0);
                                block_times.insert(rec.block, t);
                                t
                            }
                        };
                        if block_time > 0 {
                            self.metrics.detection_seconds.observe((wall - block_time as f64).max(0.0));
                        }
                        if ours == rec.trace_root && !self.opts.grief {
                            rec.state = CheckState::Correct;
                            tracing::debug!(result = id, "result checked: correct");
                        } else {
                            if ours != rec.trace_root {
                                self.metrics.mismatches.inc();
                                tracing::warn!(result = id, executor = %rec.executor, posted = %rec.trace_root, ours = %ours, "WRONG result detected");
                            } else {
                                tracing::warn!(result = id, "challenging a correct result on purpose (--grief)");
                            }
                            rec.state = CheckState::Mismatch { ours };
                            mismatched.push((id, rec.clone()));
                            // kept for the game only: a correct result needs no trace
                            let tensors: Vec<Tensor> = (0..run.step_count()).map(|s| run.step_tensor(sample, s)).collect();
                            self.traces.lock().expect("trace cache").insert(id, Arc::new(TraceData::from_tensors(model.clone(), &tensors)));
                        }
                        batch.put_record(Cf::Results, id, &rec, rec.state.is_open())?;
                    }
                }
                self.store.write(batch)?;
            }
        }
        for (id, rec) in mismatched {
            if let Err(e) = self.open_game(id, rec).await {
                match e {
                    TickError::Store(e) => return Err(TickError::Store(e)),
                    e => tracing::warn!(result = id, error = %e, "could not open a game yet"),
                }
            }
        }
        Ok(())
    }

    /// Opens our game on a wrong result, unless one of ours is already open on it.
    async fn open_game(&self, id: u64, mut rec: ResultRec) -> Result<(), TickError> {
        let me = self.chain.sender();
        for g in self.chain.games_of(id).await? {
            let info = self.chain.game(g).await?;
            if info.challenger == me {
                self.adopt_game(g, id, rec.block)?;
                rec.state = CheckState::Challenged { game_id: g };
                self.store.put_record(Cf::Results, id, &rec, false)?;
                return Ok(());
            }
        }
        let r = self.chain.get_result(id).await?;
        let now = self.chain.now().await?;
        if r.status != ResultStatus::Pending || now >= r.window_end {
            let why = if r.status != ResultStatus::Pending {
                format!("the result is already {:?}", r.status)
            } else {
                "its challenge window closed".into()
            };
            tracing::error!(result = id, why = %why, "a wrong result we could not challenge");
            rec.state = CheckState::Missed { why };
            self.store.put_record(Cf::Results, id, &rec, false)?;
            self.traces.lock().expect("trace cache").remove(&id);
            return Ok(());
        }
        let game_id = self.chain.challenge(id, self.bond).await?;
        // reveals come after the post, so reading them from the post's block is enough
        self.adopt_game(game_id, id, rec.block)?;
        rec.state = CheckState::Challenged { game_id };
        self.store.put_record(Cf::Results, id, &rec, false)?;
        self.metrics.games_opened.inc();
        tracing::warn!(game = game_id, result = id, bond_eth = eth(self.bond), "game opened");
        Ok(())
    }

    /// Traces held in memory: those of results in a game not yet ended.
    pub fn cached_traces(&self) -> usize {
        self.traces.lock().expect("trace cache").len()
    }

    fn adopt_game(&self, game_id: u64, result_id: u64, block: u64) -> Result<(), StoreError> {
        if self.store.get::<GameRec>(Cf::Games, &id_key(game_id))?.is_none() {
            self.store.put_record(Cf::Games, game_id, &GameRec { result_id, block, moves: 0, ended: None }, true)?;
        }
        Ok(())
    }

    /// Our honest trace for a result: cached, or recomputed from the stored input.
    async fn trace_of(&self, result_id: u64) -> Result<Arc<TraceData>, TickError> {
        if let Some(t) = self.traces.lock().expect("trace cache").get(&result_id) {
            return Ok(t.clone());
        }
        let rec: ResultRec =
            self.store.get(Cf::Results, &id_key(result_id))?.ok_or_else(|| TickError::Other(format!("result {result_id} is not followed")))?;
        let req: RequestRec = self
            .store
            .get(Cf::Requests, &id_key(rec.request_id))?
            .ok_or_else(|| TickError::Other(format!("request {} is unknown", rec.request_id)))?;
        let model_id = from_hex(&req.model_id).ok_or_else(|| TickError::Other(format!("bad model id {}", req.model_id)))?;
        let (model, engine) = self.models.get(&model_id).ok_or_else(|| TickError::Other(format!("model {} is not loaded", req.model_id)))?;
        let input = hex::decode(&req.input).map_err(|e| TickError::Other(e.to_string()))?;
        let (model, engine) = (model.clone(), engine.clone());
        let trace = refute_service::models::with_engine(&engine, move |e| refute_service::models::honest_trace(&model, e, &input))
            .await
            .map_err(TickError::Other)?;
        let trace = Arc::new(trace);
        self.traces.lock().expect("trace cache").insert(result_id, trace.clone());
        Ok(trace)
    }

    async fn play_one(&self, id: u64, info: GameInfo) -> Result<(), TickError> {
        let Some(mut rec) = self.store.get::<GameRec>(Cf::Games, &id_key(id))? else { return Ok(()) };
        let pos = &info.position;
        if pos.status == Status::Open && self.chain.get_result(info.result_id).await?.status == ResultStatus::Rejected {
            // another game already rejected the result: ours is moot, the bond comes back
            self.chain.settle_moot(id).await?;
            tracing::info!(game = id, "settled a moot game");
        }
        let (trace, revealed) = if pos.status == Status::Open && pos.turn == Side::Challenger {
            let t = self.trace_of(info.result_id).await?;
            let r = self.chain.revealed(id, self.arity_log2, rec.block).await?;
            (Some(t), r)
        } else {
            (None, Default::default())
        };
        let arity = self.arity_log2;
        let grief = self.opts.grief;
        let played = play_once(&self.chain, &self.store, &info, Side::Challenger, |g| {
            let Some(t) = &trace else { return Ok(None) };
            match challenger_move(arity, &g.position, t, &revealed) {
                Err(SolverError::NoDisagreement) if grief => {
                    // a griefer has nothing to dispute and picks blindly: the last
                    // child that is not padding, so that it reaches a real step, chunk
                    // and block (padding would end the game at once)
                    let p = &g.position;
                    let nodes = revealed.below(p.phase, arity, p.height, p.index).ok_or("reveal unknown")?;
                    let below = p.height - refute_game::position::reveal_levels(arity, p.height);
                    let padding = p.phase.tree().map(|k| k.padding_root(below));
                    let choice = (0..nodes.len()).rev().find(|&c| Some(nodes[c]) != padding).unwrap_or(nodes.len() - 1);
                    Ok(Some(Move::Pick { nodes, choice }))
                }
                Err(SolverError::ChunkAgrees) if grief && g.position.phase == Phase::OneStep => grief_element(arity, &g.position, t, &revealed),
                other => other.map_err(|e| e.to_string()),
            }
        })
        .await?;
        if played.resent {
            self.metrics.moves_resent.inc();
        }
        if matches!(played.action, Action::Repriced(_)) {
            self.metrics.moves_repriced.inc();
        }
        if played.mined.is_some() {
            rec.moves += 1;
            self.metrics.moves.inc();
            self.store.put_record(Cf::Games, id, &rec, true)?;
        }
        if let Action::Ended(status) = played.action {
            rec.ended = Some(status);
            // one game a result: its trace is not needed again
            self.traces.lock().expect("trace cache").remove(&rec.result_id);
            match status {
                Status::ChallengerWon => {
                    self.metrics.games_won.inc();
                    tracing::info!(game = id, "game won: the result is rejected and the executor slashed");
                }
                Status::ExecutorWon => {
                    self.metrics.games_lost.inc();
                    tracing::error!(game = id, "game lost: the bond is forfeit");
                }
                _ => tracing::info!(game = id, status = ?status, "game ended"),
            }
            self.store.put_record(Cf::Games, id, &rec, false)?;
        }
        Ok(())
    }
}

impl Player for Challenger {
    fn side(&self) -> Side {
        Side::Challenger
    }

    fn open_games(&self) -> Result<Vec<u64>, StoreError> {
        self.store.open_ids(Cf::Games)
    }

    async fn play(self: Arc<Self>, id: u64, info: GameInfo) -> Result<(), TickError> {
        self.play_one(id, info).await
    }
}

/// A griefer's one step when the revealed chunk is right: dispute its first element
/// all the same (named, for a long reduction, so the checkpoint descent is played
/// too; proven at once otherwise), which the honest executor wins.
fn grief_element(arity: u32, pos: &refute_game::Position, ours: &TraceData, revealed: &refute_game::Revealed) -> Result<Option<Move>, String> {
    let chunk = revealed.chunk.ok_or("the chunk is not revealed yet")?;
    let mut pretend = revealed.clone();
    let mut other = chunk;
    other[0] ^= 1;
    pretend.chunk = Some(other);
    Ok(match challenger_move(arity, pos, ours, &pretend).map_err(|e| e.to_string())? {
        Some(Move::ProveStep(mut p)) => {
            p.chunk = chunk;
            Some(Move::ProveStep(p))
        }
        Some(Move::NameElement { element_in_chunk, spec, .. }) => Some(Move::NameElement { element_in_chunk, chunk: Box::new(chunk), spec }),
        other => other,
    })
}

/// Adds a record and its open-index entry to a scan's batch.
fn put<T: serde::Serialize>(batch: &mut refute_store::Batch<'_>, cf: Cf, id: u64, v: &T, open: bool) -> Result<(), String> {
    batch.put_record(cf, id, v, open).map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::Selection;

    #[test]
    fn shards_split_results_and_the_sample_is_near_its_fraction() {
        let shards: Vec<Selection> = (0..3).map(|i| Selection { shard: i, shards: 3, sample: 1.0 }).collect();
        for id in 0..300 {
            assert_eq!(shards.iter().filter(|s| s.follows(id, b"salt")).count(), 1, "result {id} has one owner");
        }
        let half = Selection { sample: 0.5, ..Selection::default() };
        let n = (0..10_000).filter(|&id| half.follows(id, b"salt")).count();
        assert!((4_500..5_500).contains(&n), "{n} of 10000 sampled at 0.5");
        let other = (0..10_000).filter(|&id| half.follows(id, b"pepper") != half.follows(id, b"salt")).count();
        assert!(other > 1_000, "different salts sample differently ({other})");
    }
}
