//! A chain in memory for the game lane's tests (feature `testkit`): the games are
//! positions that the Rust referee ([`refute_game::apply`]) moves, the way
//! `DisputeGame.sol` does on a node, and the node's part is a mempool with
//! nonces, fees and blocks that the test mines one at a time. Faults are what a
//! real network does to a sender: a send the node accepts and then forgets
//! (dropped), a base fee that rises over a sent fee (stuck), a block that takes
//! nothing (congestion), a clock that runs while nobody moves.
//!
//! It implements [`GameChain`], so the scheduler and `play_once` run on it exactly
//! as on [`refute_chain::Chain`], in milliseconds; anvil stays the last word on
//! whether the contract agrees with the referee (the chain crate's tests).
//!
//! The node's rules, as anvil keeps them: a fresh send takes the sender's pending
//! nonce (the mined nonce, then every nonce in the mempool without a gap), so a
//! dropped send's nonce is taken by the next; a block takes, in order of tip, the
//! transactions whose nonce is next for their sender and whose most fee covers the
//! base fee; a move that the referee refuses in its block is mined and reverted
//! (its nonce is used); a move that the referee refuses at the head is refused at
//! the send, as gas estimation does.

use crate::play::GameChain;
use refute_chain::alloy::primitives::{Address, U256};
use refute_chain::{ChainError, FeePolicy, GameInfo, Mined, SentTx, TxStatus, STUCK_BLOCKS};
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
    /// The move and its game; `None`: a transfer of nothing (a filled gap).
    body: Option<(u64, Move)>,
}

fn slot(side: Side) -> usize {
    match side {
        Side::Executor => 0,
        Side::Challenger => 1,
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

    fn accept(&mut self, side: Side, call: &str, nonce: u64, fees: refute_chain::Fees, body: Option<(u64, Move)>) -> SentTx {
        let sent = SentTx { call: call.to_string(), hash: self.hash(), nonce, max_fee: fees.max_fee, tip: fees.tip, block: self.block };
        let kind = body.as_ref().map_or("fillNonceGap", |(_, m)| m.kind());
        self.sends.push((body.as_ref().map(|(g, _)| *g), side, kind, nonce));
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
                None => true,
                Some((id, mv)) => self.run_move(*id, tx.side, mv),
            };
            self.receipts.insert(tx.sent.hash.clone(), (success, Mined { block: self.block, gas_used: 21_000 }));
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
        success
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
            challenger: Address::repeat_byte(0xc1),
            executor: Address::repeat_byte(0xe1),
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
        let r = (|| {
            let mut w = self.world();
            let call = mv.call();
            // gas estimation: the move must be accepted at the head
            let g = w.games.get(&game_id).ok_or_else(|| reverted(call, "no such game"))?;
            apply(&g.ctx, &g.info.position, self.side, mv, w.time).map_err(|e| reverted(call, e))?;
            let fees = self.policy.price(w.base_fee, replacing.map(SentTx::fees)).ok_or_else(|| ChainError::FeeCapped {
                call: call.to_string(),
                cap: self.policy.cap,
                needed: replacing.map_or(0, |t| t.max_fee),
            })?;
            let nonce = match replacing {
                Some(t) if w.nonces[slot(self.side)] > t.nonce => return Err(ChainError::NonceUsed { call: call.to_string(), nonce: t.nonce }),
                Some(t) => t.nonce,
                None => w.pending_nonce(self.side),
            };
            Ok(w.accept(self.side, call, nonce, fees, Some((game_id, mv.clone()))))
        })();
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
            w.accept(self.side, "fillNonceGap", nonce, fees, None)
        };
        async move { Ok(sent) }
    }
}
