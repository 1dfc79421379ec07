//! Playing one game for one tick: read the position from the chain, follow the
//! move sent earlier until it is mined, and otherwise ask the solver and send the
//! next move. A sent move is remembered in the store until it is mined, so that a
//! restart neither forgets it nor sends it twice, and it is followed on every tick:
//! sent again at once if the node no longer has it (dropped, lost in a node restart,
//! or its nonce taken by another transaction), re-priced when it is stuck.
//!
//! A tick never waits for mining: it sends and returns, and the next tick (a block
//! later, or sooner) looks again. A tick that finds its move mined reads the game
//! again and decides at once, so a side that moves twice in a row (a header, then
//! the reveal of its data) loses no block between the two.

use refute_chain::{Chain, ChainError, GameInfo, SentTx, TxStatus};
use refute_game::{Move, Side, Status};
use refute_store::{id_key, Cf, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// What the game lane needs of the chain: the time, a game's position, and
/// sending and following moves. [`Chain`] is the real one; the `testkit`
/// feature's `fakechain::FakeChain` keeps the games in memory with the
/// Rust referee, so that the lane's behaviour under faults is tested in
/// milliseconds.
pub trait GameChain: Clone + Send + Sync + 'static {
    /// The latest block's timestamp, the time the clocks are read against.
    fn now(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// Game `id` as the chain holds it.
    fn game(&self, id: u64) -> impl Future<Output = Result<GameInfo, ChainError>> + Send;

    /// Sends move `mv` in game `game_id` without waiting for its block;
    /// `replacing`: the stuck send of the same move to re-price (same nonce).
    fn send_move(&self, game_id: u64, mv: &Move, replacing: Option<&SentTx>) -> impl Future<Output = Result<SentTx, ChainError>> + Send;

    /// Where a sent transaction stands.
    fn tx_status(&self, tx: &SentTx) -> impl Future<Output = Result<TxStatus, ChainError>> + Send;

    /// Fills the first gap in the sender's nonces, so that what is queued behind
    /// it can be mined.
    fn fill_nonce_gap(&self) -> impl Future<Output = Result<SentTx, ChainError>> + Send;
}

impl GameChain for Chain {
    fn now(&self) -> impl Future<Output = Result<u64, ChainError>> + Send {
        Chain::now(self)
    }

    fn game(&self, id: u64) -> impl Future<Output = Result<GameInfo, ChainError>> + Send {
        Chain::game(self, id)
    }

    fn send_move(&self, game_id: u64, mv: &Move, replacing: Option<&SentTx>) -> impl Future<Output = Result<SentTx, ChainError>> + Send {
        Chain::send_move(self, game_id, mv, replacing)
    }

    fn tx_status(&self, tx: &SentTx) -> impl Future<Output = Result<TxStatus, ChainError>> + Send {
        Chain::tx_status(self, tx)
    }

    fn fill_nonce_gap(&self) -> impl Future<Output = Result<SentTx, ChainError>> + Send {
        Chain::fill_nonce_gap(self)
    }
}

/// What one tick did for a game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Played {
    /// A move of ours mined since the last tick (its kind).
    pub mined: Option<String>,
    /// Our move in flight was lost (dropped, or its nonce taken) and this tick sent
    /// the move again.
    pub resent: bool,
    /// What the tick did then.
    pub action: Action,
}

/// What a tick did after looking at the move in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The game is over.
    Ended(Status),
    /// A move of this kind was sent.
    Sent(&'static str),
    /// A stuck move of this kind was sent again with a higher fee.
    Repriced(&'static str),
    /// A move sent earlier is still on its way.
    Waiting,
    /// Nothing to do (the other side's turn, time left).
    Idle,
}

/// Why a game could not be played this tick (it is tried again next tick).
#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    /// The chain could not be read or the move was refused.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The solver could not decide (a bug, or data this service lacks).
    #[error("solver: {0}")]
    Solver(String),
}

/// A move sent and not yet known to be mined.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingMove {
    /// The transaction (its latest send).
    pub tx: SentTx,
    /// The move's kind.
    pub kind: String,
}

/// Plays game `info` (as just read from the chain) as `side` for one tick.
/// `decide` is the solver: it returns the move to make when it is `side`'s turn.
/// A claim of the other side's expired clock needs no solver.
pub async fn play_once<C: GameChain, F>(chain: &C, store: &Store, info: &GameInfo, side: Side, decide: F) -> Result<Played, PlayError>
where
    F: FnOnce(&GameInfo) -> Result<Option<Move>, String>,
{
    let game_id = info.id;
    let key = id_key(game_id);
    let pending: Option<PendingMove> = store.get(Cf::Pending, &key)?;
    let mut replacing = None;
    let mut resent = false;
    let mut mined = None;
    let mut fresh = None;
    if let Some(p) = pending {
        match chain.tx_status(&p.tx).await? {
            TxStatus::Mined { success, .. } => {
                store.delete(Cf::Pending, &key)?;
                if success {
                    tracing::info!(game = game_id, side = ?side, r#move = %p.kind, tx = %p.tx.hash, "move mined");
                    mined = Some(p.kind);
                } else {
                    // the chain moved on between our decision and the block
                    tracing::warn!(game = game_id, r#move = %p.kind, tx = %p.tx.hash, "move reverted on-chain; deciding again");
                }
                // `info` may have been read before the move landed: read the game
                // again and decide from a position that shows it, so that a side
                // to move again (a header opened, then its data revealed) moves in
                // this turn rather than a block later
                fresh = Some(chain.game(game_id).await?);
            }
            TxStatus::Pending => return Ok(Played { mined: None, resent: false, action: Action::Waiting }),
            TxStatus::Queued => {
                // an earlier transaction of ours is missing: fill its nonce so this
                // one can be mined
                chain.fill_nonce_gap().await?;
                return Ok(Played { mined: None, resent: false, action: Action::Waiting });
            }
            TxStatus::Stuck => replacing = Some(p),
            status @ (TxStatus::Dropped | TxStatus::Replaced) => {
                tracing::warn!(game = game_id, r#move = %p.kind, tx = %p.tx.hash, ?status, "the node no longer has our move; sending it again");
                store.delete(Cf::Pending, &key)?;
                resent = true;
            }
        }
    }
    let info = fresh.as_ref().unwrap_or(info);
    let pos = &info.position;
    if pos.status != Status::Open {
        store.delete(Cf::Pending, &key)?;
        return Ok(Played { mined, resent: false, action: Action::Ended(pos.status) });
    }
    let now = chain.now().await?;
    let mv = if pos.turn == side {
        if pos.expired(now) {
            // our clock ran out: nothing we send can land; the other side may claim it
            return Ok(Played { mined, resent: false, action: Action::Idle });
        }
        match decide(info).map_err(PlayError::Solver)? {
            Some(mv) => mv,
            None => return Ok(Played { mined, resent: false, action: Action::Idle }),
        }
    } else if pos.expired(now) {
        Move::Timeout
    } else {
        return Ok(Played { mined, resent: false, action: Action::Idle });
    };
    let kind = mv.kind();
    let sent = match &replacing {
        Some(p) => match chain.send_move(game_id, &mv, Some(&p.tx)).await {
            Ok(s) => s,
            Err(ChainError::FeeCapped { cap, .. }) => {
                tracing::warn!(game = game_id, r#move = kind, tx = %p.tx.hash, cap_gwei = refute_chain::gwei(cap), "our move is stuck and the fee cap stops re-pricing it (raise --max-fee-per-gas)");
                return Ok(Played { mined: None, resent: false, action: Action::Waiting });
            }
            // mined after all (or replaced): the next turn reads its status
            Err(ChainError::NonceUsed { .. }) => return Ok(Played { mined: None, resent: false, action: Action::Waiting }),
            Err(e) => return Err(e.into()),
        },
        None => chain.send_move(game_id, &mv, None).await?,
    };
    store.put(Cf::Pending, &key, &PendingMove { tx: sent.clone(), kind: kind.into() })?;
    let action = if let Some(p) = &replacing {
        tracing::info!(game = game_id, side = ?side, r#move = kind, old = %p.tx.hash, tx = %sent.hash, max_fee_gwei = refute_chain::gwei(sent.max_fee), "stuck move re-priced");
        Action::Repriced(kind)
    } else {
        tracing::info!(game = game_id, side = ?side, r#move = kind, tx = %sent.hash, "move sent");
        Action::Sent(kind)
    };
    Ok(Played { mined, resent, action })
}
