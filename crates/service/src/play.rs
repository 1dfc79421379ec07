//! Playing one game for one tick: read the position from the chain, ask the
//! solver, send the move, and remember a sent move until it is mined so that a
//! restart neither forgets it nor sends it twice.

use refute_chain::{Chain, ChainError, GameInfo, TxState};
use refute_game::{Move, Side, Status};
use refute_store::{id_key, Cf, Store, StoreError};
use serde::{Deserialize, Serialize};

/// What one tick did for a game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Played {
    /// The game is over.
    Ended(Status),
    /// A move of this kind was sent and mined.
    Moved(&'static str),
    /// A move sent earlier is still pending.
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
    /// Transaction hash, hex.
    pub tx: String,
    /// The move's kind.
    pub kind: String,
}

/// Plays game `info` (as just read from the chain) as `side` for one tick.
/// `decide` is the solver: it returns the move to make when it is `side`'s turn.
/// A claim of the other side's expired clock needs no solver.
pub async fn play_once<F>(chain: &Chain, store: &Store, info: &GameInfo, side: Side, decide: F) -> Result<Played, PlayError>
where
    F: FnOnce(&GameInfo) -> Result<Option<Move>, String>,
{
    let game_id = info.id;
    let pos = &info.position;
    if pos.status != Status::Open {
        store.delete(Cf::Pending, &id_key(game_id))?;
        return Ok(Played::Ended(pos.status));
    }
    if let Some(p) = store.get::<PendingMove>(Cf::Pending, &id_key(game_id))? {
        match chain.tx_state(&p.tx).await? {
            TxState::Pending => return Ok(Played::Waiting),
            TxState::Mined | TxState::Unknown => store.delete(Cf::Pending, &id_key(game_id))?,
        }
    }
    let now = chain.now().await?;
    let mv = if pos.turn == side {
        if pos.expired(now) {
            // our clock ran out: nothing we send can land; the other side may claim it
            return Ok(Played::Idle);
        }
        match decide(info).map_err(PlayError::Solver)? {
            Some(mv) => mv,
            None => return Ok(Played::Idle),
        }
    } else if pos.expired(now) {
        Move::Timeout
    } else {
        return Ok(Played::Idle);
    };
    let kind = mv.kind();
    let sent = chain.send_move(game_id, &mv).await?;
    store.put(Cf::Pending, &id_key(game_id), &PendingMove { tx: sent.hash.clone(), kind: kind.into() })?;
    chain.wait_mined(&sent).await?;
    store.delete(Cf::Pending, &id_key(game_id))?;
    tracing::info!(game = game_id, side = ?side, r#move = kind, tx = %sent.hash, "move mined");
    Ok(Played::Moved(kind))
}
