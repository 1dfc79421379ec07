//! The game lane both services share: a scheduler that keeps at most one job per
//! game, starts them most urgent clock first, and never waits for one game to let
//! another move.
//!
//! Each pass reads the position of every open game (the store's open index says
//! which) and queues those without a job, keyed by the deadline of this side's
//! clock (games where it is the other side's turn last), and starts one task for
//! each. A task waits for one of `concurrency` permits, then takes the most urgent
//! game in the queue (not necessarily the one it was started for: tasks may be
//! polled in any order, the queue decides), reads it again and plays it once
//! ([`crate::play::play_once`] through the service's [`Player`]). A slow job (a
//! trace recomputed, a settlement waiting for its block) holds only its own game.
//! Jobs run inside the span of the pass that started them, so their logs carry
//! the service's account.

use crate::play::GameChain;
use crate::runner::TickError;
use refute_chain::GameInfo;
use refute_game::Side;
use refute_store::StoreError;
use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

/// What a service plays: its side, its open games, and one job on one game.
pub trait Player: Send + Sync + 'static {
    /// The side this service plays.
    fn side(&self) -> Side;

    /// The ids of its games not yet ended (the store's open index).
    fn open_games(&self) -> Result<Vec<u64>, StoreError>;

    /// Plays game `id`, whose position was just read as `info`, for one turn. A
    /// store error stops the service; any other is logged and the game is tried
    /// again on the next pass.
    fn play(self: Arc<Self>, id: u64, info: GameInfo) -> impl Future<Output = Result<(), TickError>> + Send;
}

/// Keeps at most one job per game and hands out `concurrency` permits.
#[derive(Debug)]
pub struct Scheduler {
    running: Arc<Mutex<HashSet<u64>>>,
    /// Games queued and not yet taken by a task: (deadline, id), earliest first.
    queue: Arc<Mutex<BTreeSet<(u64, u64)>>>,
    permits: Arc<Semaphore>,
    jobs: Mutex<JoinSet<()>>,
    broken: Arc<Mutex<Option<StoreError>>>,
}

impl Scheduler {
    /// A scheduler running at most `concurrency` jobs at once.
    pub fn new(concurrency: usize) -> Scheduler {
        Scheduler {
            running: Arc::default(),
            queue: Arc::default(),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            jobs: Mutex::new(JoinSet::new()),
            broken: Arc::default(),
        }
    }

    /// Games with a job running now.
    pub fn running(&self) -> usize {
        self.running.lock().expect("running games").len()
    }

    /// One pass: starts a job for every open game of `player` that has none,
    /// most urgent first. Returns how many it started. A job's store error is
    /// returned by the next pass; a game whose position cannot be read is skipped
    /// (the others start) and the pass returns that error.
    pub async fn pass<P: Player, C: GameChain>(&self, player: &Arc<P>, chain: &C) -> Result<usize, TickError> {
        if let Some(e) = self.broken.lock().expect("broken").take() {
            return Err(TickError::Store(e));
        }
        self.reap();
        let ids: Vec<u64> = {
            let running = self.running.lock().expect("running games");
            player.open_games()?.into_iter().filter(|id| !running.contains(id)).collect()
        };
        if ids.is_empty() {
            return Ok(0);
        }
        let now = chain.now().await?;
        // a game that cannot be read is left for the next pass; the others start
        let (mut games, mut unread) = (Vec::with_capacity(ids.len()), None);
        for id in ids {
            match chain.game(id).await {
                Ok(info) => games.push((id, info)),
                Err(e) => {
                    tracing::warn!(game = id, error = %e, "could not read the game; trying again next pass");
                    unread.get_or_insert(e);
                }
            }
        }
        let side = player.side();
        let started = games.len();
        let mut jobs = self.jobs.lock().expect("jobs");
        // every game is queued before any task starts, so that the first task
        // already takes the most urgent of them all
        {
            let (mut running, mut queue) = (self.running.lock().expect("running games"), self.queue.lock().expect("queue"));
            for (id, info) in &games {
                running.insert(*id);
                queue.insert((now.saturating_add(urgency(side, &info.position, now)), *id));
            }
        }
        for _ in 0..started {
            let (player, permits, running, queue, broken) =
                (player.clone(), self.permits.clone(), self.running.clone(), self.queue.clone(), self.broken.clone());
            let chain = chain.clone();
            let job = async move {
                let _permit = permits.acquire_owned().await.expect("never closed");
                // one task per queued game: there is always one to take
                let Some((_, id)) = queue.lock().expect("queue").pop_first() else { return };
                // leaves the running set however the job ends, a panic included
                let _running = RunningGuard(running, id);
                // read again: the permit may have come a while after the pass
                let r = match chain.game(id).await {
                    Ok(info) => player.play(id, info).await,
                    Err(e) => Err(e.into()),
                };
                match r {
                    Ok(()) => {}
                    Err(TickError::Store(e)) => *broken.lock().expect("broken") = Some(e),
                    Err(e) => tracing::warn!(game = id, error = %e, "could not play this turn; trying again"),
                }
            };
            jobs.spawn(job.instrument(tracing::Span::current()));
        }
        match unread {
            Some(e) => Err(e.into()),
            None => Ok(started),
        }
    }

    /// Waits for every running job (on shutdown, so the store is closed only once
    /// no job writes to it). Returns a store error a job met.
    pub async fn drain(&self) -> Result<(), StoreError> {
        let mut jobs = std::mem::take(&mut *self.jobs.lock().expect("jobs"));
        while jobs.join_next().await.is_some() {}
        match self.broken.lock().expect("broken").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Forgets finished jobs.
    fn reap(&self) {
        let mut jobs = self.jobs.lock().expect("jobs");
        while let Some(done) = jobs.try_join_next() {
            if let Err(e) = done
                && e.is_panic()
            {
                tracing::error!(error = %e, "a game job panicked");
            }
        }
    }
}

/// Takes a game out of the running set when its job ends.
struct RunningGuard(Arc<Mutex<HashSet<u64>>>, u64);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

/// How urgent a game is for `side` (smaller first): the time left on its clock
/// when it is its turn; games where the other side is to move come after.
pub fn urgency(side: Side, pos: &refute_game::Position, now: u64) -> u64 {
    if pos.turn == side {
        pos.time_left(now)
    } else {
        u64::MAX
    }
}
