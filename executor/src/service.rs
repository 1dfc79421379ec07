//! The executor: two lanes side by side ([`refute_service::runner::run_lanes`]).
//!
//! The **serve** lane, each tick:
//! 1. **scan**: confirmed events into the store (requests for served models in
//!    this shard, our posts, rejections), moving the cursor in the same write;
//! 2. **serve**: the open requests (the store's open index), batched per model
//!    through the engine on a blocking thread, each posted with a stake and sent
//!    without waiting for its block; a post in flight is followed on the next
//!    ticks (re-priced when stuck; once mined, the chain says whose result landed);
//! 3. **settle**: results whose window has passed are finalized (sent without
//!    waiting), rejected ones noted, and what the oracle credited withdrawn.
//!
//! The **games** lane scans for games opened on our results (its own cursor) and
//! hands every open game to the scheduler ([`refute_service::games`]): one job per
//! game, most urgent clock first, each one move from the solver. Neither lane waits
//! for the other, so a burst of posts never holds a game's clock.
//!
//! Restart safety: before the first tick the service waits until none of its
//! transactions is in flight, then reads the chain before every action. A post in
//! flight is recorded with its transaction; a request the chain shows served by us
//! is adopted whatever the record says; a move is remembered until mined
//! (`play::play_once`).

use crate::cheat::Cheat;
use crate::metrics::Metrics;
use crate::records::{GameRec, RequestRec, RequestState, ResultRec, ResultState};
use crate::source::TraceSource;
use refute_chain::alloy::primitives::U256;
use refute_chain::{Chain, ChainError, Event, GameInfo, PostCall, RequestStatus, ResultStatus, ScanPolicy, SentTx, TxStatus};
use refute_core::hash::{from_hex, to_hex};
use refute_core::Tensor;
use refute_game::{executor_move, Side, Status, TraceData};
use refute_runtime::shutdown::Shutdown;
use refute_service::games::{Player, Scheduler};
use refute_service::oracle::OracleChain;
use refute_service::play::{play_once, Action};
use refute_service::runner::{self, TickError};
pub use refute_service::runner::{Preflight, StartError};
use refute_service::{eth, ModelSet, Settings};
use refute_store::{id_key, Cf, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// What an executor does beyond the common settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stake posted with each result, wei; `None`: the oracle's least stake.
    pub stake: Option<U256>,
    /// Most requests run through the engine at once.
    pub batch_size: usize,
    /// Deliberate fraud (hidden flag; demos and tests only).
    pub cheat: Option<Cheat>,
    /// With `cheat`: lie on this request only, and serve every other honestly
    /// (benchmarks play one game in a burst of honest results). `None`: lie on
    /// every request.
    pub cheat_only: Option<u64>,
    /// This instance's shard `(I, N)`: it serves the requests whose id is `I` mod
    /// `N`, so that `N` executors split the requests with no coordination but the
    /// chain. `(0, 1)`: every request.
    pub shard: (u64, u64),
}

/// A running executor, on the real chain or (tests) any [`OracleChain`].
pub struct Executor<C = Chain> {
    chain: C,
    store: Store,
    models: ModelSet,
    opts: Options,
    /// Where posts and traces come from (honest, or the hidden `--cheat`).
    source: TraceSource,
    stake: U256,
    settings: Settings,
    arity_log2: u32,
    /// Traces of results in a game, by result (dropped when its last game ends).
    traces: Mutex<HashMap<u64, Arc<TraceData>>>,
    /// Posts in flight, by request, to re-price one that is stuck.
    posts: Mutex<HashMap<u64, Arc<PostCall>>>,
    /// Finalizations in flight, by result.
    finalizing: Mutex<HashMap<u64, SentTx>>,
    /// The withdrawal in flight.
    withdrawal: Mutex<Option<SentTx>>,
    scheduler: Scheduler,
    /// Its metrics.
    pub metrics: Metrics,
}

impl<C: OracleChain> std::fmt::Debug for Executor<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("sender", &self.chain.sender()).field("store", &self.store).finish()
    }
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

/// Builds the store's open indexes of an executor's records (at every open).
pub fn build_indexes(store: &Store) -> Result<(), StoreError> {
    store.build_open_index::<RequestRec>(Cf::Requests, |r| r.state.is_open())?;
    store.build_open_index::<ResultRec>(Cf::Results, |r| r.state == ResultState::Pending)?;
    store.build_open_index::<GameRec>(Cf::Games, |g| g.ended.is_none()).map(drop)
}

impl Executor<Chain> {
    /// Opens the store, connects (waiting for the node if it is down) and waits
    /// until nothing sent before a restart is in flight. `None` if shutdown came
    /// first.
    pub async fn start(settings: Settings, models: ModelSet, opts: Options, shutdown: &Shutdown) -> Result<Option<Arc<Executor>>, StartError> {
        let Some((store, chain)) = runner::open(&settings, shutdown, build_indexes).await? else { return Ok(None) };
        let pre = preflight(&chain, &models, opts.stake).await?;
        let Some(arity_log2) = runner::ready("executor", &chain, pre, shutdown).await? else { return Ok(None) };
        let stake = opts.stake.unwrap_or(chain.oracle_config().await?.minStake);
        tracing::info!(sender = %chain.sender(), models = ?models.describe(), shard = ?opts.shard, data_dir = %settings.data_dir.display(), "executor started");
        Ok(Some(Executor::on(chain, store, models, opts, settings, arity_log2, stake)))
    }
}

impl<C: OracleChain> Executor<C> {
    /// An executor on `chain` with an opened `store` (its indexes built by
    /// [`build_indexes`]), the game's arity and the stake per post: what
    /// [`Executor::start`] makes after its checks, and what the lane tests make on
    /// the fake chain.
    pub fn on(chain: C, store: Store, models: ModelSet, opts: Options, settings: Settings, arity_log2: u32, stake: U256) -> Arc<Executor<C>> {
        let scheduler = Scheduler::new(settings.concurrency);
        Arc::new(Executor {
            chain,
            store,
            models,
            source: TraceSource::of(opts.cheat, opts.cheat_only),
            opts,
            stake,
            settings,
            arity_log2,
            traces: Mutex::default(),
            posts: Mutex::default(),
            finalizing: Mutex::default(),
            withdrawal: Mutex::default(),
            scheduler,
            metrics: Metrics::default(),
        })
    }

    /// Traces held in memory: those of our results in a game.
    pub fn cached_traces(&self) -> usize {
        self.traces.lock().expect("trace cache").len()
    }

    /// The chain client (its sender is the executor's account).
    pub fn chain(&self) -> &C {
        &self.chain
    }

    /// Runs the serve and games lanes until shutdown; returns only on shutdown or
    /// a broken store, once every game job has stopped.
    pub async fn run(self: Arc<Self>, shutdown: Shutdown) -> Result<(), StoreError> {
        let span = tracing::info_span!("executor", account = %self.chain.sender());
        let (every, failures) = (self.settings.poll_interval, &self.metrics.tick_failures);
        let lanes = vec![
            runner::lane("serve", every, &self, failures, |me| Box::pin(async move { me.serve_tick().await })),
            runner::lane("games", every, &self, failures, |me| Box::pin(async move { me.games_tick().await })),
        ];
        runner::run_service(span, &shutdown, lanes, &self.scheduler).await
    }

    /// One tick of the serve lane: scan, serve, settle.
    pub async fn serve_tick(self: &Arc<Self>) -> Result<(), TickError> {
        self.scan().await?;
        self.serve().await?;
        self.settle().await?;
        Ok(())
    }

    /// One tick of the games lane: games opened on our results, then a pass of
    /// the scheduler over every open one.
    pub async fn games_tick(self: &Arc<Self>) -> Result<(), TickError> {
        self.scan_games().await?;
        self.scheduler.pass(self, &self.chain).await?;
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
                            post_tx: None,
                        };
                        put(batch, Cf::Requests, *request_id, &rec, true)?;
                        fresh.insert(*request_id, rec);
                        metrics.requests_seen.inc();
                        tracing::info!(request = request_id, model = %to_hex(model_id), "request seen");
                    }
                }
                Event::Posted { result_id, request_id, executor, trace_root, block, .. } if *executor == me => {
                    if store.get::<ResultRec>(Cf::Results, &id_key(*result_id)).map_err(|e| e.to_string())?.is_none() {
                        let rec = ResultRec {
                            request_id: *request_id,
                            trace_root: to_hex(trace_root),
                            block: *block,
                            state: ResultState::Pending,
                            window_end: 0,
                        };
                        put(batch, Cf::Results, *result_id, &rec, true)?;
                    }
                }
                Event::Rejected { result_id, request_id } => {
                    if let Some(mut r) = store.get::<ResultRec>(Cf::Results, &id_key(*result_id)).map_err(|e| e.to_string())?
                        && r.state == ResultState::Pending
                    {
                        // ours: settle asks the chain at once
                        r.window_end = 0;
                        put(batch, Cf::Results, *result_id, &r, true)?;
                    } else if let Some(mut r) = get_req(&fresh, *request_id)?
                        && r.state == RequestState::Taken
                    {
                        // someone else's result was rejected: the request is open again
                        r.state = RequestState::Open;
                        put(batch, Cf::Requests, *request_id, &r, true)?;
                        fresh.insert(*request_id, r);
                    }
                }
                _ => {}
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn scan_games(&self) -> Result<(), TickError> {
        let me = self.chain.sender();
        let store = &self.store;
        let metrics = &self.metrics;
        refute_service::scan::scan(&self.chain, store, &self.policy(), "executor-games", |e, batch| {
            if let Event::GameOpened { game_id, result_id, challenger, executor, block } = e
                && *executor == me
                && store.get::<GameRec>(Cf::Games, &id_key(*game_id)).map_err(|e| e.to_string())?.is_none()
            {
                let rec = GameRec { result_id: *result_id, challenger: challenger.to_string(), block: *block, moves: 0, ended: None };
                put(batch, Cf::Games, *game_id, &rec, true)?;
                metrics.games_defended.inc();
                tracing::warn!(game = game_id, result = result_id, %challenger, "our result is challenged; defending");
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Follows our post of request `id` in flight. `Some(rec)` when the chain is to
    /// decide what the request needs now (the post was mined, or the node lost it),
    /// `None` while it is on its way.
    async fn follow_post(&self, id: u64, mut rec: RequestRec) -> Result<Option<RequestRec>, TickError> {
        let Some(tx) = rec.post_tx.clone() else { return Ok(Some(rec)) };
        match self.chain.tx_status(&tx).await? {
            TxStatus::Pending => Ok(None),
            TxStatus::Queued => {
                // an earlier transaction of ours is missing: fill its nonce
                self.chain.fill_nonce_gap().await?;
                Ok(None)
            }
            TxStatus::Stuck => {
                let call = self.posts.lock().expect("posts").get(&id).cloned();
                // without the call (sent before a restart, which waits for it) it
                // is left to be mined or cancelled
                let Some(call) = call else { return Ok(None) };
                match self.chain.send_post(&call, self.stake, Some(&tx)).await {
                    Ok(sent) => {
                        tracing::info!(request = id, old = %tx.hash, tx = %sent.hash, max_fee_gwei = refute_chain::gwei(sent.max_fee), "stuck post re-priced");
                        rec.post_tx = Some(sent);
                        self.store.put_record(Cf::Requests, id, &rec, true)?;
                    }
                    // mined after all (or replaced): the next tick reads its status
                    Err(ChainError::NonceUsed { .. }) => {}
                    Err(e) => tracing::warn!(request = id, tx = %tx.hash, error = %e, "our post is stuck and could not be re-priced"),
                }
                Ok(None)
            }
            status @ (TxStatus::Mined { .. } | TxStatus::Dropped | TxStatus::Replaced) => {
                if !matches!(status, TxStatus::Mined { .. }) {
                    tracing::warn!(request = id, tx = %tx.hash, ?status, "the node no longer has our post; the chain decides again");
                }
                self.posts.lock().expect("posts").remove(&id);
                rec.post_tx = None;
                Ok(Some(rec))
            }
        }
    }

    async fn serve(&self) -> Result<(), TickError> {
        let me = self.chain.sender();
        let now = self.chain.now().await?;
        let mut todo: BTreeMap<String, Vec<(u64, RequestRec)>> = BTreeMap::new();
        for (id, rec) in self.store.open_records::<RequestRec>(Cf::Requests)? {
            let followed = rec.post_tx.is_some();
            let Some(mut rec) = self.follow_post(id, rec).await? else { continue };
            let info = self.chain.get_request(id).await?;
            let new_state = match info.status {
                RequestStatus::Open if now < info.deadline => {
                    if followed {
                        rec.state = RequestState::Open;
                        self.store.put_record(Cf::Requests, id, &rec, true)?;
                    }
                    todo.entry(rec.model_id.clone()).or_default().push((id, rec));
                    continue;
                }
                RequestStatus::Open | RequestStatus::Refunded | RequestStatus::None => RequestState::Closed,
                RequestStatus::Posted | RequestStatus::Finalized => {
                    let r = self.chain.get_result(info.result_id).await?;
                    if r.executor == me {
                        // ours: just mined, or posted before a crash
                        self.adopt(info.result_id, id, &r.trace_root, r.window_end)?;
                        self.metrics.results_posted.inc();
                        tracing::info!(request = id, result = info.result_id, root = %to_hex(&r.trace_root), "result posted");
                        RequestState::Posted { result_id: info.result_id }
                    } else if info.status == RequestStatus::Posted {
                        RequestState::Taken
                    } else {
                        RequestState::Closed
                    }
                }
            };
            if new_state != rec.state || followed {
                tracing::debug!(request = id, state = ?new_state, "request state");
                rec.state = new_state;
                self.store.put_record(Cf::Requests, id, &rec, rec.state.is_open())?;
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
                            self.store.put_record(Cf::Requests, *id, &r, false)?;
                        }
                    }
                }
                if inputs.is_empty() {
                    continue;
                }
                let run = refute_service::models::run_batch(&engine, inputs).await.map_err(TickError::Other)?;
                // the posts of a batch are recorded in one write: a crash before it
                // leaves them `Open`, and the chain then shows them served by us
                let mut batch = self.store.batch();
                let mut sent_any = false;
                for (sample, (id, mut rec)) in ids.into_iter().enumerate() {
                    let (call, cheat) = self.source.post(&model, &run, sample, id);
                    match self.chain.send_post(&call, self.stake, None).await {
                        Ok(sent) => {
                            tracing::debug!(request = id, tx = %sent.hash, "post sent");
                            rec.state = RequestState::Posting;
                            rec.cheat = cheat;
                            rec.post_tx = Some(sent);
                            batch.put_record(Cf::Requests, id, &rec, true)?;
                            self.posts.lock().expect("posts").insert(id, Arc::new(call));
                            sent_any = true;
                        }
                        // the chain decides on the next tick (taken by another, say)
                        Err(e) => tracing::warn!(request = id, error = %e, "post failed"),
                    }
                }
                if sent_any {
                    self.store.write(batch)?;
                }
            }
        }
        Ok(())
    }

    /// Records one of our results if not yet known.
    fn adopt(&self, result_id: u64, request_id: u64, root: &refute_core::hash::Hash, window_end: u64) -> Result<(), StoreError> {
        if self.store.get::<ResultRec>(Cf::Results, &id_key(result_id))?.is_none() {
            let rec = ResultRec { request_id, trace_root: to_hex(root), block: 0, state: ResultState::Pending, window_end };
            self.store.put_record(Cf::Results, result_id, &rec, true)?;
        }
        Ok(())
    }

    /// The trace we committed to in a result: cached while a game on it is open,
    /// or recomputed from the stored input (and cheat) and checked against the
    /// posted root.
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
        let trace =
            refute_service::models::with_engine(&engine, move |e| TraceSource::trace(&model, e, &input, cheat)).await.map_err(TickError::Other)?;
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

    async fn defend_one(&self, id: u64, info: GameInfo) -> Result<(), TickError> {
        let Some(mut rec) = self.store.get::<GameRec>(Cf::Games, &id_key(id))? else { return Ok(()) };
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
            self.store.put_record(Cf::Games, id, &rec, true)?;
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
            self.store.put_record(Cf::Games, id, &rec, false)?;
            // the trace is needed while another game on the same result is open
            let others = self.store.open_records::<GameRec>(Cf::Games)?.into_iter().any(|(_, g)| g.result_id == rec.result_id);
            if !others {
                self.traces.lock().expect("trace cache").remove(&rec.result_id);
            }
        }
        Ok(())
    }

    async fn settle(&self) -> Result<(), TickError> {
        let now = self.chain.now().await?;
        for (id, mut rec) in self.store.open_records::<ResultRec>(Cf::Results)? {
            if rec.window_end > now {
                // in its window, no rejection seen: nothing to ask the chain
                continue;
            }
            let in_flight = self.finalizing.lock().expect("finalizing").get(&id).cloned();
            if let Some(tx) = in_flight {
                if matches!(self.chain.tx_status(&tx).await?, TxStatus::Pending | TxStatus::Queued) {
                    continue;
                }
                self.finalizing.lock().expect("finalizing").remove(&id);
            }
            let r = self.chain.get_result(id).await?;
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
                        self.store.put_record(Cf::Requests, rec.request_id, &q, false)?;
                    }
                }
                ResultStatus::Pending => {
                    if rec.window_end != r.window_end {
                        rec.window_end = r.window_end;
                        self.store.put_record(Cf::Results, id, &rec, true)?;
                    }
                    if now >= r.window_end && r.open_games == 0 {
                        match self.chain.send_finalize(id).await {
                            Ok(tx) => {
                                tracing::debug!(result = id, tx = %tx.hash, "finalize sent");
                                self.finalizing.lock().expect("finalizing").insert(id, tx);
                            }
                            Err(e) => tracing::warn!(result = id, error = %e, "finalize failed; trying again"),
                        }
                    }
                    continue;
                }
            }
            self.store.put_record(Cf::Results, id, &rec, false)?;
        }
        runner::withdraw(&self.chain, &self.withdrawal).await?;
        self.metrics.credited_eth.set(eth(self.chain.credited(self.chain.sender()).await?));
        self.metrics.balance_eth.set(eth(self.chain.eth_balance(self.chain.sender()).await?));
        Ok(())
    }
}

impl<C: OracleChain> Player for Executor<C> {
    fn side(&self) -> Side {
        Side::Executor
    }

    fn open_games(&self) -> Result<Vec<u64>, StoreError> {
        self.store.open_ids(Cf::Games)
    }

    async fn play(self: Arc<Self>, id: u64, info: GameInfo) -> Result<(), TickError> {
        self.defend_one(id, info).await
    }
}

/// Adds a record and its open-index entry to a scan's batch.
fn put<T: serde::Serialize>(batch: &mut refute_store::Batch<'_>, cf: Cf, id: u64, v: &T, open: bool) -> Result<(), String> {
    batch.put_record(cf, id, v, open).map(|_| ()).map_err(|e| e.to_string())
}
