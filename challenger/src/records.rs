//! What the challenger remembers: the inputs of requests for models it checks,
//! the results it follows and where checking each stands, and its games.

use serde::{Deserialize, Serialize};

/// A request for a checked model (kept for its input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRec {
    /// Model id, hex.
    pub model_id: String,
    /// Input bytes, hex.
    pub input: String,
}

/// A posted result this instance follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRec {
    /// Its request.
    pub request_id: u64,
    /// Model id, hex.
    pub model_id: String,
    /// Who posted it, hex.
    pub executor: String,
    /// The posted trace root, hex.
    pub trace_root: String,
    /// Block of the post.
    pub block: u64,
    /// Where checking it stands.
    pub state: CheckState,
}

/// Where checking a result stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckState {
    /// Not re-run yet.
    ToCheck,
    /// Our trace root equals the posted one: never challenged.
    Correct,
    /// Our root differs; a game is to be opened.
    Mismatch {
        /// Our root, hex.
        ours: String,
    },
    /// A game of ours is open (or was) on it.
    Challenged {
        /// The game.
        game_id: u64,
    },
    /// Wrong, but it left the window (or was rejected by someone else) before we
    /// could open a game.
    Missed {
        /// Why.
        why: String,
    },
}

impl CheckState {
    /// Whether the result is in the open index: still to be re-run, or wrong with
    /// no game of ours on it yet.
    pub fn is_open(&self) -> bool {
        matches!(self, CheckState::ToCheck | CheckState::Mismatch { .. })
    }
}

/// One of our games.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameRec {
    /// The disputed result.
    pub result_id: u64,
    /// A block at or before the game's opening (reveals are read from here).
    pub block: u64,
    /// Moves we made.
    pub moves: u32,
    /// `None` while open; the final status after.
    pub ended: Option<refute_game::Status>,
}
