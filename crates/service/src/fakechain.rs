//! A chain in memory for the lanes' tests (feature `testkit`): the games are
//! positions that the Rust referee ([`refute_game::apply`]) moves, the way
//! `DisputeGame.sol` does on a node; the oracle keeps requests and results with
//! `InferenceOracle.sol`'s rules for posting, finalizing, rejecting (a request
//! open again until a fresh deadline) and crediting; and the node's part is a
//! mempool with nonces, fees and blocks that the test mines one at a time.
//! Faults are what a real network does to a sender: a send the node accepts and
//! then forgets (dropped), a base fee that rises over a sent fee (stuck), a block
//! that takes nothing (congestion), a clock that runs while nobody moves.
//!
//! It implements [`GameChain`] and [`OracleChain`], so the scheduler,
//! `play_once` and a service's serve lane run on it exactly as on
//! [`refute_chain::Chain`], in milliseconds; anvil stays the last word on whether
//! the contracts agree with the referee and these rules (the chain crate's and
//! the services' anvil tests).
//!
//! The node's rules, as anvil keeps them: a fresh send takes the sender's pending
//! nonce (the mined nonce, then every nonce in the mempool without a gap), so a
//! dropped send's nonce is taken by the next; a block takes, in order of tip, the
//! transactions whose nonce is next for their sender and whose most fee covers the
//! base fee; a move that the referee refuses in its block is mined and reverted
//! (its nonce is used); a move that the referee refuses at the head is refused at
//! the send, as gas estimation does.

use crate::oracle::OracleChain;
use crate::play::GameChain;
use refute_chain::alloy::primitives::{Address, U256};
use refute_chain::{
    BlockInfo, ChainError, Event, FeePolicy, GameInfo, Mined, PostCall, RequestInfo, RequestStatus, ResultInfo, ResultStatus, SentTx, TxStatus,
    STUCK_BLOCKS,
};
use refute_core::hash::Hash;
use refute_game::{apply, GameContext, Move, Phase, Position, Revealed, Side, Status};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

/// One side's handle on a shared in-memory chain: what it sends, it sends as
/// that side (the executor's or the challenger's account).
#[derive(Debug, Clone)]
pub struct FakeChain {
    world: Arc<Mutex<World>>,
    side: Side,
    policy: FeePolicy,
}

/// A move mined in a game, as the tests read the game's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinedMove {
    /// The block it was mined in.
    pub block: u64,
    /// Who sent it.
    pub side: Side,
    /// Its kind ([`Move::kind`]).
    pub kind: &'static str,
    /// Whether the referee accepted it (false: reverted, its nonce used).
    pub success: bool,
}

#[derive(Debug)]
struct World {
    block: u64,
    time: u64,
    block_time: u64,
    base_fee: u128,
    games: BTreeMap<u64, Game>,
    pool: Vec<PoolTx>,
    receipts: HashMap<String, (bool, Mined)>,
    /// Each side's mined nonce: executor, challenger.
    nonces: [u64; 2],
    /// Sends of each side still to drop (accepted, then forgotten).
    drops: [u32; 2],
    /// Every send accepted by the node, in order: (game, side, kind, nonce).
    sends: Vec<(Option<u64>, Side, &'static str, u64)>,
    next_hash: u64,
    /// Each block's timestamp, by number.
    times: Vec<u64>,
    /// Every event, with its block.
    events: Vec<(u64, Event)>,
    requests: BTreeMap<u64, RequestInfo>,
    results: BTreeMap<u64, ResultInfo>,
    credits: HashMap<Address, U256>,
    /// The oracle's challenge window and request timeout, seconds.
    window: u64,
    request_timeout: u64,
}

#[derive(Debug)]
struct Game {
    ctx: GameContext,
    info: GameInfo,
    revealed: Revealed,
    history: Vec<MinedMove>,
}

#[derive(Debug, Clone)]
struct PoolTx {
    sent: SentTx,
    side: Side,
    seq: u64,
    body: Body,
}

/// What a transaction calls.
#[derive(Debug, Clone)]
enum Body {
    /// A transfer of nothing to oneself (a filled gap).
    Fill,
    /// A move in a game.
    Move(u64, Move),
    /// A post with its stake.
    Post(PostCall, U256),
    /// The finalization of a result.
    Finalize(u64),
    /// A withdrawal of everything credited.
    Withdraw,
}

impl Body {
    fn kind(&self) -> &'static str {
        match self {
            Body::Fill => "fillNonceGap",
            Body::Move(_, m) => m.kind(),
            Body::Post(..) => "post",
            Body::Finalize(_) => "finalize",
            Body::Withdraw => "withdraw",
        }
    }
}

fn slot(side: Side) -> usize {
    match side {
        Side::Executor => 0,
        Side::Challenger => 1,
    }
}

/// The account each side sends as.
pub fn account(side: Side) -> Address {
    match side {
        Side::Executor => Address::repeat_byte(0xe1),
        Side::Challenger => Address::repeat_byte(0xc1),
    }
}

impl World {
    /// The next nonce a fresh send of `side` takes: the mined nonce, then past
    /// every nonce in the mempool without a gap.
    fn pending_nonce(&self, side: Side) -> u64 {
        let mut n = self.nonces[slot(side)];
        while self.pool.iter().any(|t| t.side == side && t.sent.nonce == n) {
            n += 1;
        }
        n
    }

    fn hash(&mut self) -> String {
        self.next_hash += 1;
        format!("0x{:064x}", self.next_hash)
    }

    fn accept(&mut self, side: Side, call: &str, nonce: u64, fees: refute_chain::Fees, body: Body) -> SentTx {
        let sent = SentTx { call: call.to_string(), hash: self.hash(), nonce, max_fee: fees.max_fee, tip: fees.tip, block: self.block };
        let game = match &body {
            Body::Move(g, _) => Some(*g),
            _ => None,
        };
        self.sends.push((game, side, body.kind(), nonce));
        // a replacement takes the place of the transaction with its nonce
        self.pool.retain(|t| !(t.side == side && t.sent.nonce == nonce));
        if self.drops[slot(side)] > 0 {
            self.drops[slot(side)] -= 1;
        } else {
            let seq = self.next_hash;
            self.pool.push(PoolTx { sent: sent.clone(), side, seq, body });
        }
        sent
    }

    fn mine(&mut self, takes: usize) {
        self.block += 1;
        self.time += self.block_time;
        self.times.push(self.time);
        let mut taken = 0;
        while taken < takes {
            let (base, nonces) = (self.base_fee, self.nonces);
            let next = self
                .pool
                .iter()
                .enumerate()
                .filter(|(_, t)| t.sent.nonce == nonces[slot(t.side)] && t.sent.max_fee >= base)
                .max_by_key(|(_, t)| (t.sent.tip, std::cmp::Reverse(t.seq)))
                .map(|(i, _)| i);
            let Some(i) = next else { break };
            let tx = self.pool.remove(i);
            self.nonces[slot(tx.side)] += 1;
            let success = match &tx.body {
                Body::Fill => true,
                Body::Move(id, mv) => self.run_move(*id, tx.side, mv),
                other => self.run_oracle(tx.side, other).is_ok(),
            };
            self.receipts.insert(
                tx.sent.hash.clone(),
                (success, Mined { tx_hash: tx.sent.hash.parse().expect("the fake chain's hashes are hex"), block: self.block, gas_used: 21_000 }),
            );
            taken += 1;
        }
    }

    /// Runs a mined move through the referee; false if it reverts.
    fn run_move(&mut self, id: u64, side: Side, mv: &Move) -> bool {
        let (block, time) = (self.block, self.time);
        let Some(g) = self.games.get_mut(&id) else { return false };
        let before = g.info.position.clone();
        let success = match apply(&g.ctx, &before, side, mv, time) {
            Ok(next) => {
                match mv {
                    Move::RevealNodes(nodes) => g.revealed.record(before.phase, g.ctx.arity_log2, before.height, before.index, nodes),
                    Move::RevealChunk(c) => g.revealed.chunk = Some(**c),
                    _ => {}
                }
                g.info.position = next;
                true
            }
            Err(_) => false,
        };
        g.history.push(MinedMove { block, side, kind: mv.kind(), success });
        let (status, result_id) = (g.info.position.status, g.info.result_id);
        if success && status != Status::Open {
            self.resolved(id, result_id, status);
        }
        success
    }

    /// A game ended: its result has one game less, and is rejected when the
    /// challenger won (the request open again until a fresh deadline).
    fn resolved(&mut self, game_id: u64, result_id: u64, status: Status) {
        let (block, time) = (self.block, self.time);
        self.events.push((block, Event::GameResolved { game_id, status }));
        let Some(r) = self.results.get_mut(&result_id) else { return };
        r.open_games = r.open_games.saturating_sub(1);
        if status == Status::ChallengerWon && r.status == ResultStatus::Pending {
            self.reject(result_id, time);
        }
    }

    fn reject(&mut self, result_id: u64, time: u64) {
        let Some(r) = self.results.get_mut(&result_id) else { return };
        r.status = ResultStatus::Rejected;
        r.rejected_at = time;
        let request_id = r.request_id;
        if let Some(q) = self.requests.get_mut(&request_id) {
            q.status = RequestStatus::Open;
            q.result_id = 0;
            q.deadline = time + self.request_timeout;
        }
        self.events.push((self.block, Event::Rejected { result_id, request_id }));
    }

    /// Whether `body` would succeed now, sent by `side` (gas estimation at the
    /// head, and the checks again when it is mined).
    fn check(&self, side: Side, body: &Body) -> Result<(), String> {
        match body {
            Body::Post(call, _) => {
                let q = self.requests.get(&call.request_id).ok_or("UnknownRequest")?;
                if q.status != RequestStatus::Open {
                    return Err("RequestNotOpen".into());
                }
                if self.time >= q.deadline {
                    return Err("RequestExpired".into());
                }
                Ok(())
            }
            Body::Finalize(id) => {
                let r = self.results.get(id).ok_or("UnknownResult")?;
                if r.status != ResultStatus::Pending {
                    return Err("ResultNotPending".into());
                }
                if self.time < r.window_end {
                    return Err("WindowOpen".into());
                }
                if r.open_games > 0 {
                    return Err("GamesOpen".into());
                }
                Ok(())
            }
            Body::Withdraw => match self.credits.get(&account(side)) {
                Some(c) if !c.is_zero() => Ok(()),
                _ => Err("NothingToWithdraw".into()),
            },
            Body::Move(id, mv) => {
                let g = self.games.get(id).ok_or("no such game")?;
                apply(&g.ctx, &g.info.position, side, mv, self.time).map(drop).map_err(|e| e.to_string())
            }
            Body::Fill => Ok(()),
        }
    }

    /// Runs a mined oracle call; an error is a revert.
    fn run_oracle(&mut self, side: Side, body: &Body) -> Result<(), String> {
        self.check(side, body)?;
        let block = self.block;
        match body {
            Body::Post(call, stake) => {
                let result_id = self.results.len() as u64 + 1;
                self.post(result_id, account(side), call, *stake);
            }
            Body::Finalize(id) => {
                let r = self.results.get_mut(id).expect("checked");
                r.status = ResultStatus::Finalized;
                let (executor, stake, request_id) = (r.executor, r.stake, r.request_id);
                let q = self.requests.get_mut(&request_id).expect("a result's request");
                q.status = RequestStatus::Finalized;
                let paid = stake + q.fee;
                *self.credits.entry(executor).or_default() += paid;
                self.events.push((block, Event::Finalized { result_id: *id }));
            }
            Body::Withdraw => {
                self.credits.remove(&account(side));
            }
            Body::Fill | Body::Move(..) => {}
        }
        Ok(())
    }

    fn post(&mut self, result_id: u64, executor: Address, call: &PostCall, stake: U256) {
        let (block, time) = (self.block, self.time);
        let r = ResultInfo {
            request_id: call.request_id,
            executor,
            stake,
            trace_root: call.root,
            posted_at: time,
            window_end: time + self.window,
            open_games: 0,
            status: ResultStatus::Pending,
            rejected_at: 0,
            games_at_rejection: 0,
            share: U256::ZERO,
            output: call.output.clone(),
        };
        self.results.insert(result_id, r);
        let q = self.requests.get_mut(&call.request_id).expect("checked");
        q.status = RequestStatus::Posted;
        q.result_id = result_id;
        self.events.push((
            block,
            Event::Posted { result_id, request_id: call.request_id, executor, trace_root: call.root, output: call.output.clone(), block },
        ));
    }

    /// A block for something done from outside the mempool (a request, another
    /// party's post, a challenge): it is in the next block.
    fn next_block(&mut self) -> (u64, u64) {
        self.block += 1;
        self.time += self.block_time;
        self.times.push(self.time);
        (self.block, self.time)
    }

    /// Sends `body` as `side`: estimated at the head, priced, given a nonce.
    fn send(&mut self, side: Side, policy: &FeePolicy, body: Body, replacing: Option<&SentTx>) -> Result<SentTx, ChainError> {
        let call = body.kind();
        self.check(side, &body).map_err(|e| reverted(call, e))?;
        let fees = policy.price(self.base_fee, replacing.map(SentTx::fees)).ok_or_else(|| ChainError::FeeCapped {
            call: call.to_string(),
            cap: policy.cap,
            needed: replacing.map_or(0, |t| t.max_fee),
        })?;
        let nonce = match replacing {
            Some(t) if self.nonces[slot(side)] > t.nonce => return Err(ChainError::NonceUsed { call: call.to_string(), nonce: t.nonce }),
            Some(t) => t.nonce,
            None => self.pending_nonce(side),
        };
        Ok(self.accept(side, call, nonce, fees, body))
    }
}

impl FakeChain {
    /// A new chain at block 0, time `start`, with blocks every `block_time`
    /// seconds and a base fee of 1 gwei: the executor's handle and the
    /// challenger's.
    pub fn pair(start: u64, block_time: u64) -> (FakeChain, FakeChain) {
        let world = World {
            block: 0,
            time: start,
            block_time,
            base_fee: 1_000_000_000,
            games: BTreeMap::new(),
            pool: Vec::new(),
            receipts: HashMap::new(),
            nonces: [0, 0],
            drops: [0, 0],
            sends: Vec::new(),
            next_hash: 0,
            times: vec![start],
            events: Vec::new(),
            requests: BTreeMap::new(),
            results: BTreeMap::new(),
            credits: HashMap::new(),
            window: 600,
            request_timeout: 3600,
        };
        let world = Arc::new(Mutex::new(world));
        let policy = FeePolicy::default();
        (FakeChain { world: world.clone(), side: Side::Executor, policy }, FakeChain { world, side: Side::Challenger, policy })
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The side this handle sends as.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Opens game `id` on `ctx` now, each side's clock `ctx.clock_seconds`, the
    /// executor to reveal first (as `challenge` does).
    pub fn open_game(&self, id: u64, ctx: GameContext) {
        let mut w = self.world();
        let position = Position::opening(ctx.trace_root, ctx.step_count, ctx.clock_seconds, w.time);
        let info = GameInfo {
            id,
            result_id: id,
            challenger: account(Side::Challenger),
            executor: account(Side::Executor),
            bond: U256::ZERO,
            position,
            trace_root: ctx.trace_root,
            step_count: ctx.step_count,
        };
        w.games.insert(id, Game { ctx, info, revealed: Revealed::default(), history: Vec::new() });
    }

    /// Mines one block: the clock moves on by the block time and every
    /// transaction that can be included is.
    pub fn mine(&self) {
        self.world().mine(usize::MAX);
    }

    /// Mines one block that takes at most `takes` transactions (a full block:
    /// the rest wait).
    pub fn mine_taking(&self, takes: usize) {
        self.world().mine(takes);
    }

    /// Lets `seconds` pass with no block, then mines one.
    pub fn wait(&self, seconds: u64) {
        let mut w = self.world();
        w.time += seconds;
        w.mine(usize::MAX);
    }

    /// The head block's number.
    pub fn head(&self) -> u64 {
        self.world().block
    }

    /// Sets the base fee (wei per gas): raising it over a sent fee leaves that
    /// transaction stuck until it is re-priced.
    pub fn set_base_fee(&self, wei: u128) {
        self.world().base_fee = wei;
    }

    /// The next `n` sends of this side are accepted and then forgotten by the
    /// node (never mined, not in the mempool).
    pub fn drop_next(&self, n: u32) {
        let s = slot(self.side);
        self.world().drops[s] += n;
    }

    /// Game `id`'s status, if it exists.
    pub fn status(&self, id: u64) -> Option<Status> {
        self.world().games.get(&id).map(|g| g.info.position.status)
    }

    /// The moves mined in game `id`, in order.
    pub fn history(&self, id: u64) -> Vec<MinedMove> {
        self.world().games.get(&id).map(|g| g.history.clone()).unwrap_or_default()
    }

    /// What the executor has revealed in game `id` (what the challenger reads
    /// from the game's events on a real chain).
    pub fn revealed(&self, id: u64) -> Revealed {
        self.world().games.get(&id).map(|g| g.revealed.clone()).unwrap_or_default()
    }

    /// Every send the node accepted, in order: the game (none for a filled
    /// nonce gap), the sender, the move's kind, the nonce.
    pub fn sends(&self) -> Vec<(Option<u64>, Side, &'static str, u64)> {
        self.world().sends.clone()
    }

    /// Transactions of this side waiting in the mempool.
    pub fn pooled(&self) -> usize {
        let w = self.world();
        w.pool.iter().filter(|t| t.side == self.side).count()
    }

    /// Ends game `id` as `status` from outside the game (a moot game settled
    /// because another game rejected its result).
    pub fn settle(&self, id: u64, status: Status) {
        let mut w = self.world();
        if let Some(g) = w.games.get_mut(&id) {
            g.info.position.status = status;
            g.info.position.phase = Phase::Resolved;
        }
    }
}

/// The oracle, from outside the mempool: what other parties do, each in a
/// block of its own.
impl FakeChain {
    /// Sets the oracle's challenge window and request timeout (seconds; 600 and
    /// 3600 at first).
    pub fn set_oracle(&self, window: u64, request_timeout: u64) {
        let mut w = self.world();
        (w.window, w.request_timeout) = (window, request_timeout);
    }

    /// A requester asks for `model_id` on `input` with `fee`, in a block of its
    /// own; returns the request id. (The input's commitment is not computed: the
    /// services do not read it.)
    pub fn request(&self, model_id: Hash, input: Vec<u8>, fee: U256) -> u64 {
        let mut w = self.world();
        let (block, time) = w.next_block();
        let id = w.requests.len() as u64 + 1;
        let requester = Address::repeat_byte(0xaa);
        let deadline = time + w.request_timeout;
        let info = RequestInfo { requester, model_id, fee, input_commitment: [0; 32], deadline, status: RequestStatus::Open, result_id: 0 };
        w.requests.insert(id, info);
        w.events.push((block, Event::Requested { request_id: id, model_id, requester, fee, deadline, input, block }));
        id
    }

    /// Another executor, `executor`, posts `call`, in a block of its own; returns
    /// the result id, or why the oracle refused it.
    pub fn post_as(&self, executor: Address, call: &PostCall) -> Result<u64, String> {
        let mut w = self.world();
        w.next_block();
        w.check(Side::Executor, &Body::Post(call.clone(), U256::ZERO))?;
        let id = w.results.len() as u64 + 1;
        w.post(id, executor, call, U256::from(1u64));
        Ok(id)
    }

    /// The challenger opens a game on result `result_id`, in a block of its own,
    /// with the context `ctx` (whose root must be the result's); returns the
    /// game id.
    pub fn challenge(&self, result_id: u64, ctx: GameContext) -> u64 {
        let mut w = self.world();
        let (block, time) = w.next_block();
        let r = w.results.get_mut(&result_id).expect("a result to challenge");
        assert_eq!(r.trace_root, ctx.trace_root, "a game is over the posted root");
        assert_eq!(r.status, ResultStatus::Pending, "only a pending result is challenged");
        r.open_games += 1;
        let executor = r.executor;
        let id = w.games.keys().next_back().map_or(1, |k| k + 1);
        let position = Position::opening(ctx.trace_root, ctx.step_count, ctx.clock_seconds, time);
        let challenger = account(Side::Challenger);
        let info =
            GameInfo { id, result_id, challenger, executor, bond: U256::ZERO, position, trace_root: ctx.trace_root, step_count: ctx.step_count };
        w.games.insert(id, Game { ctx, info, revealed: Revealed::default(), history: Vec::new() });
        w.events.push((block, Event::GameOpened { game_id: id, result_id, challenger, executor, block }));
        id
    }

    /// Result `result_id` is rejected by a game played elsewhere, in a block of
    /// its own: its request is open again until a fresh deadline.
    pub fn reject(&self, result_id: u64) {
        let mut w = self.world();
        let (_, time) = w.next_block();
        w.reject(result_id, time);
    }

    /// Every event so far, with its block.
    pub fn all_events(&self) -> Vec<(u64, Event)> {
        self.world().events.clone()
    }

    /// Result `id` as the oracle holds it, if it exists.
    pub fn result(&self, id: u64) -> Option<ResultInfo> {
        self.world().results.get(&id).cloned()
    }

    /// Request `id` as the oracle holds it, if it exists.
    pub fn request_info(&self, id: u64) -> Option<RequestInfo> {
        self.world().requests.get(&id).cloned()
    }
}

fn reverted(call: &str, why: impl std::fmt::Display) -> ChainError {
    ChainError::Reverted { call: call.to_string(), reason: why.to_string() }
}

impl GameChain for FakeChain {
    fn now(&self) -> impl Future<Output = Result<u64, ChainError>> + Send {
        let t = self.world().time;
        async move { Ok(t) }
    }

    fn game(&self, id: u64) -> impl Future<Output = Result<GameInfo, ChainError>> + Send {
        let g = self.world().games.get(&id).map(|g| g.info.clone()).ok_or_else(|| ChainError::Decode(format!("no game {id}")));
        async move { g }
    }

    fn send_move(&self, game_id: u64, mv: &Move, replacing: Option<&SentTx>) -> impl Future<Output = Result<SentTx, ChainError>> + Send {
        let r = self.world().send(self.side, &self.policy, Body::Move(game_id, mv.clone()), replacing);
        async move { r }
    }

    fn tx_status(&self, tx: &SentTx) -> impl Future<Output = Result<TxStatus, ChainError>> + Send {
        let status = {
            let w = self.world();
            if let Some(&(success, mined)) = w.receipts.get(&tx.hash) {
                TxStatus::Mined { success, mined }
            } else if let Some(t) = w.pool.iter().find(|t| t.sent.hash == tx.hash) {
                if t.sent.nonce >= w.pending_nonce(t.side) {
                    TxStatus::Queued
                } else if w.block >= tx.block + STUCK_BLOCKS || tx.max_fee < w.base_fee {
                    TxStatus::Stuck
                } else {
                    TxStatus::Pending
                }
            } else if w.nonces[slot(self.side)] > tx.nonce {
                TxStatus::Replaced
            } else {
                TxStatus::Dropped
            }
        };
        async move { Ok(status) }
    }

    fn fill_nonce_gap(&self) -> impl Future<Output = Result<SentTx, ChainError>> + Send {
        let sent = {
            let mut w = self.world();
            let nonce = w.pending_nonce(self.side);
            let fees = self.policy.price(w.base_fee, None).expect("a first send always has a price");
            w.accept(self.side, "fillNonceGap", nonce, fees, Body::Fill)
        };
        async move { Ok(sent) }
    }
}

/// A block's hash on the fake chain: its number, so that no block is ever
/// reorganised.
fn block_hash(number: u64) -> Hash {
    let mut h = [0u8; 32];
    h[24..].copy_from_slice(&number.to_be_bytes());
    h[0] = 0xb1;
    h
}

impl OracleChain for FakeChain {
    fn sender(&self) -> Address {
        account(self.side)
    }

    fn head(&self) -> impl Future<Output = Result<u64, ChainError>> + Send {
        let b = self.world().block;
        async move { Ok(b) }
    }

    fn block(&self, number: u64) -> impl Future<Output = Result<BlockInfo, ChainError>> + Send {
        let r = self
            .world()
            .times
            .get(number as usize)
            .map(|&timestamp| BlockInfo { number, hash: block_hash(number), timestamp })
            .ok_or_else(|| ChainError::Unavailable(format!("no block {number}")));
        async move { r }
    }

    fn events(&self, from: u64, to: u64) -> impl Future<Output = Result<Vec<Event>, ChainError>> + Send {
        let r = self.world().events.iter().filter(|(b, _)| (from..=to).contains(b)).map(|(_, e)| e.clone()).collect();
        async move { Ok(r) }
    }

    fn get_request(&self, id: u64) -> impl Future<Output = Result<RequestInfo, ChainError>> + Send {
        // the contract answers zeros for an unknown id
        let r = self.world().requests.get(&id).cloned().unwrap_or(RequestInfo {
            requester: Address::ZERO,
            model_id: [0; 32],
            fee: U256::ZERO,
            input_commitment: [0; 32],
            deadline: 0,
            status: RequestStatus::None,
            result_id: 0,
        });
        async move { Ok(r) }
    }

    fn get_result(&self, id: u64) -> impl Future<Output = Result<ResultInfo, ChainError>> + Send {
        let r = self.world().results.get(&id).cloned().unwrap_or(ResultInfo {
            request_id: 0,
            executor: Address::ZERO,
            stake: U256::ZERO,
            trace_root: [0; 32],
            posted_at: 0,
            window_end: 0,
            open_games: 0,
            status: ResultStatus::None,
            rejected_at: 0,
            games_at_rejection: 0,
            share: U256::ZERO,
            output: Vec::new(),
        });
        async move { Ok(r) }
    }

    fn send_post(&self, call: &PostCall, stake: U256, replacing: Option<&SentTx>) -> impl Future<Output = Result<SentTx, ChainError>> + Send {
        let r = self.world().send(self.side, &self.policy, Body::Post(call.clone(), stake), replacing);
        async move { r }
    }

    fn send_finalize(&self, id: u64) -> impl Future<Output = Result<SentTx, ChainError>> + Send {
        let r = self.world().send(self.side, &self.policy, Body::Finalize(id), None);
        async move { r }
    }

    fn credited(&self, who: Address) -> impl Future<Output = Result<U256, ChainError>> + Send {
        let c = self.world().credits.get(&who).copied().unwrap_or_default();
        async move { Ok(c) }
    }

    fn eth_balance(&self, _who: Address) -> impl Future<Output = Result<U256, ChainError>> + Send {
        // every account is funded: fees are not accounted on the fake chain
        let funded = U256::from(10u64).pow(U256::from(21u64));
        async move { Ok(funded) }
    }

    fn send_withdraw(&self) -> impl Future<Output = Result<Option<(U256, SentTx)>, ChainError>> + Send {
        let r = {
            let mut w = self.world();
            match w.credits.get(&account(self.side)).copied() {
                Some(amount) if !amount.is_zero() => w.send(self.side, &self.policy, Body::Withdraw, None).map(|tx| Some((amount, tx))),
                _ => Ok(None),
            }
        };
        async move { r }
    }
}
