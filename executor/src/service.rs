//! The executor's loop. Each tick:
//!
//! 1. **scan**: confirmed events into the store (requests for served models, our
//!    posts, games on our results), moving the cursor in the same write;
//! 2. **serve**: open requests, batched per model through the engine, posted with
//!    a stake, after checking on-chain that each is still open;
//! 3. **defend**: every open game on our results, most urgent clock first, a
//!    bounded number at once, each one move per tick from the solver;
//! 4. **settle**: finalize results whose window passed, note rejected ones, and
//!    withdraw what the oracle credited.
//!
//! Restart safety: before the first tick the service waits until none of its
//! transactions is in flight, then reads the chain before every action. A post
//! is recorded as `Posting` before it is sent, so after a crash the chain says
//! whether it landed; a move is remembered until mined (`play::play_once`).

use crate::cheat::Cheat;
use crate::metrics::Metrics;
use crate::records::{GameRec, RequestRec, RequestState, ResultRec, ResultState};
use refute_chain::alloy::primitives::U256;
use refute_chain::{Chain, ChainError, Event, GameInfo, RequestStatus, ResultStatus, ScanPolicy};
use refute_core::hash::{from_hex, to_hex};
use refute_core::Tensor;
use refute_game::{executor_move, Side, Status, TraceData};
use refute_runtime::shutdown::Shutdown;
use refute_service::play::{play_once, Action};
use refute_service::runner::{self, TickError};
use refute_service::{eth, id_of, ModelSet, Settings};
use refute_store::{id_key, Cf, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tracing::Instrument;

/// What an executor does beyond the common settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stake posted with each result, wei; `None`: the oracle's least stake.
    pub stake: Option<U256>,
    /// Most requests run through the engine at once.
    pub batch_size: usize,
    /// Deliberate fraud (hidden flag; demos and tests only).
    pub cheat: Option<Cheat>,
    /// This instance's shard `(I, N)`: it serves the requests whose id is `I` mod
    /// `N`, so that `N` executors split the requests with no coordination but the
    /// chain. `(0, 1)`: every request.
    pub shard: (u64, u64),
}

/// A running executor.
pub struct Executor {
    chain: Chain,
    store: Store,
    models: ModelSet,
    opts: Options,
    stake: U256,
    settings: Settings,
    arity_log2: u32,
    traces: Mutex<HashMap<u64, Arc<TraceData>>>,
    /// Its metrics.
    pub metrics: Metrics,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("sender", &self.chain.sender()).field("store", &self.store).finish()
    }
}

/// Why an executor could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The chain refused us (wrong chain, no contracts, bad key).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A setting the chain refuses (what `executor check` lists).
    #[error("the executor cannot serve with these settings:\n  - {}", .0.join("\n  - "))]
    Refused(Vec<String>),
}

/// What the chain says of an executor's settings: facts to show and problems that
/// stop it (`executor check` prints both; `executor run` refuses to start on a
/// problem rather than warn on every tick).
#[derive(Debug, Clone, Default)]
pub struct Preflight {
    /// What was found (account, balance, stake).
    pub facts: Vec<String>,
    /// What is wrong.
    pub problems: Vec<String>,
}

/// Checks the stake against the oracle's least stake, the balance against one
/// stake, and that every served model is registered.
pub async fn preflight(chain: &Chain, models: &ModelSet, stake: Option<U256>) -> Result<Preflight, ChainError> {
    let mut p = Preflight::default();
    let cfg = chain.oracle_config().await?;
    let stake = stake.unwrap_or(cfg.minStake);
    let balance = chain.eth_balance(chain.sender()).await?;
    p.facts.push(format!("account {}: balance {} ether; stake per result {} ether", chain.sender(), eth(balance), eth(stake)));
    if stake < cfg.minStake {
        p.problems.push(format!("stake: {} ether is below the oracle's least stake {} ether", eth(stake), eth(cfg.minStake)));
    }
    if balance < stake {
        p.problems.push(format!("balance: {} ether is less than one stake ({} ether): fund {}", eth(balance), eth(stake), chain.sender()));
    }
    for id in models.ids() {
        if !chain.is_registered(&id).await? {
            p.problems.push(format!("model {}: not registered on this deployment (`refute deploy --model` registers it)", to_hex(&id)));
        }
    }
    Ok(p)
}

impl Executor {
    /// Opens the store, connects (waiting for the node if it is down) and waits
    /// until nothing sent before a restart is in flight. `None` if shutdown came
    /// first.
    pub async fn start(settings: Settings, models: ModelSet, opts: Options, shutdown: &Shutdown) -> Result<Option<Arc<Executor>>, StartError> {
        let store = runner::open_store(&settings)?;
        let Some(chain) = runner::connect(&settings, shutdown).await? else { return Ok(None) };
        let pre = preflight(&chain, &models, opts.stake).await?;
        if !pre.problems.is_empty() {
            return Err(StartError::Refused(pre.problems));
        }
        let (arity_log2, _) = chain.game_params().await?;
        let min_stake = chain.oracle_config().await?.minStake;
        let stake = opts.stake.unwrap_or(min_stake);
        if !runner::settle_in_flight(&chain, shutdown).await? {
            return Ok(None);
        }
        tracing::info!(sender = %chain.sender(), models = ?models.describe(), data_dir = %settings.data_dir.display(), "executor started");
        Ok(Some(Arc::new(Executor {
            chain,
            store,
            models,
            opts,
            stake,
            settings,
            arity_log2,
            traces: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
        })))
    }

    /// Traces held in memory: those of our results still pending.
    pub fn cached_traces(&self) -> usize {
        self.traces.lock().expect("trace cache").len()
    }

    /// The chain client (its sender is the executor's account).
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Ticks until shutdown; returns only on shutdown or a broken store.
    pub async fn run(self: Arc<Self>, shutdown: Shutdown) -> Result<(), StoreError> {
        let span = tracing::info_span!("executor", account = %self.chain.sender());
        let me = self.clone();
        runner::run_ticks(self.settings.poll_interval, &shutdown, move || {
            let me = me.clone();
            async move {
                let r = me.tick().await;
                if r.is_err() {
                    me.metrics.tick_failures.inc();
                }
                r
            }
        })
        .instrument(span)
        .await
    }

    /// One pass of scan, serve, defend and settle.
    pub async fn tick(self: &Arc<Self>) -> Result<(), TickError> {
        self.scan().await?;
        self.serve().await?;
        self.defend().await?;
        self.settle().await?;
        Ok(())
    }

    fn policy(&self) -> ScanPolicy {
        self.settings.scan_policy()
    }

    async fn scan(&self) -> Result<(), TickError> {
        let me = self.chain.sender();
        let store = &self.store;
        let models = &self.models;
        let metrics = &self.metrics;
        // records written earlier in this scan (the batch is not readable yet)
        let mut fresh: HashMap<u64, RequestRec> = HashMap::new();
        let get_req = |fresh: &HashMap<u64, RequestRec>, id: u64| -> Result<Option<RequestRec>, String> {
            match fresh.get(&id) {
                Some(r) => Ok(Some(r.clone())),
                None => store.get(Cf::Requests, &id_key(id)).map_err(|e| e.to_string()),
            }
        };
        refute_service::scan::scan(&self.chain, store, &self.policy(), "executor", |e, batch| {
            match e {
                Event::Requested { request_id, model_id, fee, deadline, input, block, .. }
                    if models.contains(model_id) && request_id % self.opts.shard.1 == self.opts.shard.0 =>
                {
                    if get_req(&fresh, *request_id)?.is_none() {
                        let rec = RequestRec {
                            model_id: to_hex(model_id),
                            input: hex::encode(input),
                            fee: fee.to_string(),
                            deadline: *deadline,
                            block: *block,
                            state: RequestState::Open,
                            cheat: None,
                        };
                        put(batch, Cf::Requests, *request_id, &rec)?;
                        fresh.insert(*request_id, rec);
                        metrics.requests_seen.inc();
                        tracing::info!(request = request_id, model = %to_hex(model_id), "request seen");
                    }
                }
                Event::Posted { result_id, request_id, executor, trace_root, block, .. } if *executor == me => {
                    if store.get::<ResultRec>(Cf::Results, &id_key(*result_id)).map_err(|e| e.to_string())?.is_none() {
                        let rec = ResultRec { request_id: *request_id, trace_root: to_hex(trace_root), block: *block, state: ResultState::Pending };
                        put(batch, Cf::Results, *result_id, &rec)?;
                    }
                }
                Event::Rejected { request_id, .. } => {
                    // someone else's result was rejected: the request is open again
                    if let Some(mut r) = get_req(&fresh, *request_id)?
                        && r.state == RequestState::Taken
                    {
                        r.state = RequestState::Open;
                        put(batch, Cf::Requests, *request_id, &r)?;
                        fresh.insert(*request_id, r);
                    }
                }
                Event::GameOpened { game_id, result_id, challenger, executor, block } if *executor == me => {
                    if store.get::<GameRec>(Cf::Games, &id_key(*game_id)).map_err(|e| e.to_string())?.is_none() {
                        let rec = GameRec { result_id: *result_id, challenger: challenger.to_string(), block: *block, moves: 0, ended: None };
                        put(batch, Cf::Games, *game_id, &rec)?;
                        metrics.games_defended.inc();
                        tracing::warn!(game = game_id, result = result_id, %challenger, "our result is challenged; defending");
                    }
                }
                _ => {}
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn serve(&self) -> Result<(), TickError> {
        let me = self.chain.sender();
        let now = self.chain.now().await?;
        let mut todo: BTreeMap<String, Vec<(u64, RequestRec)>> = BTreeMap::new();
        for (k, mut rec) in self.store.all::<RequestRec>(Cf::Requests)? {
            if !matches!(rec.state, RequestState::Open | RequestState::Posting) {
                continue;
            }
            let id = id_of(&k);
            let info = self.chain.get_request(id).await?;
            let new_state = match info.status {
                RequestStatus::Open if now < info.deadline => {
                    todo.entry(rec.model_id.clone()).or_default().push((id, rec));
                    continue;
                }
                RequestStatus::Open | RequestStatus::Refunded | RequestStatus::None => RequestState::Closed,
                RequestStatus::Posted | RequestStatus::Finalized => {
                    let r = self.chain.get_result(info.result_id).await?;
                    if r.executor == me {
                        // posted before a crash: adopt it
                        self.adopt(info.result_id, id, &r.trace_root)?;
                        RequestState::Posted { result_id: info.result_id }
                    } else if info.status == RequestStatus::Posted {
                        RequestState::Taken
                    } else {
                        RequestState::Closed
                    }
                }
            };
            if new_state != rec.state {
                tracing::debug!(request = id, state = ?new_state, "request state");
                rec.state = new_state;
                self.store.put(Cf::Requests, &id_key(id), &rec)?;
            }
        }
        for (model_hex, reqs) in todo {
            let Some((model, engine)) = from_hex(&model_hex).and_then(|h| self.models.get(&h)) else { continue };
            let (model, engine) = (model.clone(), engine.clone());
            for chunk in reqs.chunks(self.opts.batch_size) {
                let mut inputs = Vec::with_capacity(chunk.len());
                let mut ids = Vec::with_capacity(chunk.len());
                for (id, rec) in chunk {
                    let parsed = hex::decode(&rec.input)
                        .map_err(|e| e.to_string())
                        .and_then(|b| Tensor::from_canonical_bytes(model.input_type().clone(), &b).map_err(|e| e.to_string()));
                    match parsed {
                        Ok(t) => {
                            inputs.push(t);
                            ids.push((*id, rec.clone()));
                        }
                        Err(e) => {
                            tracing::warn!(request = id, error = %e, "the request's input does not fit the model; not serving it");
                            let mut r = rec.clone();
                            r.state = RequestState::Closed;
                            self.store.put(Cf::Requests, &id_key(*id), &r)?;
                        }
                    }
                }
                if inputs.is_empty() {
                    continue;
                }
                let eng = engine.clone();
                let run = tokio::task::spawn_blocking(move || eng.lock().unwrap_or_else(|e| e.into_inner()).run(&inputs))
                    .await
                    .map_err(|e| TickError::Other(format!("engine task: {e}")))?
                    .map_err(|e| TickError::Other(format!("engine: {e}")))?;
                for (sample, (id, mut rec)) in ids.into_iter().enumerate() {
                    let mut tensors: Vec<Tensor> = (0..run.step_count()).map(|s| run.step_tensor(sample, s)).collect();
                    let cheat = self.opts.cheat.filter(|c| c.check(&model).is_ok());
                    if let Some(c) = cheat {
                        c.apply(&model, &mut tensors);
                        tracing::warn!(request = id, cheat = %c, "posting a WRONG result on purpose (--cheat)");
                    }
                    let trace = TraceData::from_tensors(model.clone(), &tensors);
                    rec.state = RequestState::Posting;
                    rec.cheat = cheat;
                    self.store.put(Cf::Requests, &id_key(id), &rec)?;
                    match self.chain.post(id, &trace, self.stake).await {
                        Ok(result_id) => {
                            self.adopt(result_id, id, &trace.root())?;
                            rec.state = RequestState::Posted { result_id };
                            self.store.put(Cf::Requests, &id_key(id), &rec)?;
                            self.traces.lock().expect("trace cache").insert(result_id, Arc::new(trace));
                            self.metrics.results_posted.inc();
                            tracing::info!(request = id, result = result_id, root = %to_hex(&self.traces.lock().expect("trace cache")[&result_id].root()), "result posted");
                        }
                        // the chain decides on the next tick (it stays `Posting`)
                        Err(e) => tracing::warn!(request = id, error = %e, "post failed"),
                    }
                }
            }
        }
        Ok(())
    }

    /// Records one of our results if not yet known.
    fn adopt(&self, result_id: u64, request_id: u64, root: &refute_core::hash::Hash) -> Result<(), StoreError> {
        if self.store.get::<ResultRec>(Cf::Results, &id_key(result_id))?.is_none() {
            let rec = ResultRec { request_id, trace_root: to_hex(root), block: 0, state: ResultState::Pending };
            self.store.put(Cf::Results, &id_key(result_id), &rec)?;
        }
        Ok(())
    }

    /// The trace we committed to in a result: cached, or recomputed from the
    /// stored input (and cheat) and checked against the posted root.
    async fn trace_of(&self, result_id: u64) -> Result<Arc<TraceData>, TickError> {
        if let Some(t) = self.traces.lock().expect("trace cache").get(&result_id) {
            return Ok(t.clone());
        }
        let res: ResultRec =
            self.store.get(Cf::Results, &id_key(result_id))?.ok_or_else(|| TickError::Other(format!("result {result_id} is not ours")))?;
        let req: RequestRec = self
            .store
            .get(Cf::Requests, &id_key(res.request_id))?
            .ok_or_else(|| TickError::Other(format!("request {} of result {result_id} is unknown", res.request_id)))?;
        let model_id = from_hex(&req.model_id).ok_or_else(|| TickError::Other(format!("bad model id {}", req.model_id)))?;
        let (model, engine) = self.models.get(&model_id).ok_or_else(|| TickError::Other(format!("model {} is no longer served", req.model_id)))?;
        let (model, engine) = (model.clone(), engine.clone());
        let input = hex::decode(&req.input).map_err(|e| TickError::Other(e.to_string()))?;
        let cheat = req.cheat;
        let trace = tokio::task::spawn_blocking(move || -> Result<TraceData, String> {
            let t = Tensor::from_canonical_bytes(model.input_type().clone(), &input).map_err(|e| e.to_string())?;
            let (mut tensors, _) = engine.lock().unwrap_or_else(|e| e.into_inner()).run_one(&t).map_err(|e| e.to_string())?;
            if let Some(c) = cheat {
                c.apply(&model, &mut tensors);
            }
            Ok(TraceData::from_tensors(model, &tensors))
        })
        .await
        .map_err(|e| TickError::Other(format!("engine task: {e}")))?
        .map_err(TickError::Other)?;
        if to_hex(&trace.root()) != res.trace_root {
            return Err(TickError::Other(format!(
                "cannot reproduce the trace of result {result_id}: root {} != posted {}",
                to_hex(&trace.root()),
                res.trace_root
            )));
        }
        let trace = Arc::new(trace);
        self.traces.lock().expect("trace cache").insert(result_id, trace.clone());
        Ok(trace)
    }

    async fn defend(self: &Arc<Self>) -> Result<(), TickError> {
        let now = self.chain.now().await?;
        let mut games: Vec<(u64, GameRec, GameInfo)> = Vec::new();
        for (k, rec) in self.store.all::<GameRec>(Cf::Games)? {
            if rec.ended.is_some() {
                continue;
            }
            let id = id_of(&k);
            games.push((id, rec, self.chain.game(id).await?));
        }
        // the most urgent first: our clock when it is our move, then the rest
        games.sort_by_key(|(_, _, g)| {
            let p = &g.position;
            if p.turn == Side::Executor {
                p.time_left(now)
            } else {
                u64::MAX
            }
        });
        let limit = Arc::new(tokio::sync::Semaphore::new(self.settings.concurrency));
        let mut jobs = tokio::task::JoinSet::new();
        for (id, rec, info) in games {
            let me = self.clone();
            let permit = limit.clone().acquire_owned().await.expect("never closed");
            jobs.spawn(async move {
                let _permit = permit;
                (id, me.defend_one(id, rec, info).await)
            });
        }
        let mut first_err = None;
        while let Some(j) = jobs.join_next().await {
            let (id, r) = j.map_err(|e| TickError::Other(format!("game task: {e}")))?;
            match r {
                Ok(()) => {}
                Err(TickError::Store(e)) => return Err(TickError::Store(e)),
                Err(e) => {
                    tracing::warn!(game = id, error = %e, "could not play this tick");
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    async fn defend_one(&self, id: u64, mut rec: GameRec, info: GameInfo) -> Result<(), TickError> {
        let trace = if info.position.status == Status::Open && info.position.turn == Side::Executor {
            Some(self.trace_of(rec.result_id).await?)
        } else {
            None
        };
        let arity = self.arity_log2;
        let played = play_once(&self.chain, &self.store, &info, Side::Executor, |g| match &trace {
            Some(t) => executor_move(arity, &g.position, t).map_err(|e| e.to_string()),
            None => Ok(None),
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
            self.store.put(Cf::Games, &id_key(id), &rec)?;
        }
        if let Action::Ended(status) = played.action {
            rec.ended = Some(status);
            match status {
                Status::ExecutorWon => {
                    self.metrics.games_won.inc();
                    tracing::info!(game = id, "game won");
                }
                Status::ChallengerWon => {
                    self.metrics.games_lost.inc();
                    tracing::error!(game = id, "game lost: the result is rejected and the stake slashed");
                }
                _ => tracing::info!(game = id, status = ?status, "game ended"),
            }
            self.store.put(Cf::Games, &id_key(id), &rec)?;
        }
        Ok(())
    }

    async fn settle(&self) -> Result<(), TickError> {
        let now = self.chain.now().await?;
        for (k, mut rec) in self.store.all::<ResultRec>(Cf::Results)? {
            if rec.state != ResultState::Pending {
                continue;
            }
            let id = id_of(&k);
            let r = self.chain.get_result(id).await?;
            if r.status != ResultStatus::Pending {
                // final or rejected: no game on it needs our trace any more (a moot
                // game's settlement takes none)
                self.traces.lock().expect("trace cache").remove(&id);
            }
            match r.status {
                ResultStatus::Finalized => {
                    rec.state = ResultState::Finalized;
                    self.metrics.results_finalized.inc();
                    tracing::info!(result = id, "result final");
                }
                ResultStatus::Rejected | ResultStatus::None => {
                    rec.state = ResultState::Rejected;
                    self.metrics.results_rejected.inc();
                    tracing::error!(result = id, "result rejected; stake slashed");
                    if let Some(mut q) = self.store.get::<RequestRec>(Cf::Requests, &id_key(rec.request_id))? {
                        q.state = RequestState::Rejected;
                        self.store.put(Cf::Requests, &id_key(rec.request_id), &q)?;
                    }
                }
                ResultStatus::Pending => {
                    if now >= r.window_end && r.open_games == 0 {
                        match self.chain.finalize(id).await {
                            Ok(_) => tracing::info!(result = id, "finalized"),
                            Err(e) => tracing::warn!(result = id, error = %e, "finalize failed; trying again"),
                        }
                    }
                    continue;
                }
            }
            self.store.put(Cf::Results, &id_key(id), &rec)?;
        }
        let withdrawn = self.chain.withdraw().await?;
        if !withdrawn.is_zero() {
            tracing::info!(ether = eth(withdrawn), "withdrew");
        }
        self.metrics.credited_eth.set(eth(self.chain.credited(self.chain.sender()).await?));
        self.metrics.balance_eth.set(eth(self.chain.eth_balance(self.chain.sender()).await?));
        Ok(())
    }
}

/// Adds a record to a scan's batch.
fn put<T: serde::Serialize>(batch: &mut refute_store::Batch<'_>, cf: Cf, id: u64, v: &T) -> Result<(), String> {
    batch.put(cf, &id_key(id), v).map(|_| ()).map_err(|e| e.to_string())
}
