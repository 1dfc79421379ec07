//! The skeleton both services share. [`open`] and [`ready`]: open the store (its
//! open index built once for an older store), connect (waiting out a node that is
//! down), refuse settings the chain refuses ([`Preflight`]), and wait until
//! nothing sent before a restart is still in flight. [`run_service`]: tick the service's lanes
//! side by side until shutdown, then wait for its game jobs. A failed tick is
//! logged and tried again on the next one; only a broken store stops the service,
//! because without it the service could forget a game.

use crate::config::Settings;
use crate::games::Scheduler;
use refute_chain::{Chain, ChainError};
use refute_runtime::shutdown::Shutdown;
use refute_store::{Store, StoreError};
use std::time::Duration;
use tracing::Instrument;

/// What the chain says of a service's settings: facts to show and problems that
/// stop it (`check` prints both; `run` refuses to start on a problem rather than
/// warn on every tick).
#[derive(Debug, Clone, Default)]
pub struct Preflight {
    /// What was found (account, balance, stake or bond).
    pub facts: Vec<String>,
    /// What is wrong.
    pub problems: Vec<String>,
}

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The chain refused us (wrong chain, no contracts, bad key).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A setting the chain refuses (what `check` lists).
    #[error("the {service} cannot start with these settings:\n  - {}", .problems.join("\n  - "))]
    Refused {
        /// `executor` or `challenger`.
        service: &'static str,
        /// What is wrong.
        problems: Vec<String>,
    },
}

/// The first half of a service's start: opens the store, builds its open index
/// once (`index`, for a store written before the index existed) and connects,
/// waiting out a node that is down. `None` if shutdown came first. The service
/// then runs its preflight on the chain and calls [`ready`].
pub async fn open(
    settings: &Settings,
    shutdown: &Shutdown,
    index: impl FnOnce(&Store) -> Result<(), StoreError>,
) -> Result<Option<(Store, Chain)>, StartError> {
    let store = open_store(settings)?;
    index(&store)?;
    let Some(chain) = connect(settings, shutdown).await? else { return Ok(None) };
    Ok(Some((store, chain)))
}

/// The second half of a service's start: refuses to start `service` on a
/// problem its preflight `pre` found, and waits until nothing the account sent
/// before a restart is in flight. Returns the game's reveal arity (log2), fixed by
/// the deployment; `None` if shutdown came first.
pub async fn ready(service: &'static str, chain: &Chain, pre: Preflight, shutdown: &Shutdown) -> Result<Option<u32>, StartError> {
    if !pre.problems.is_empty() {
        return Err(StartError::Refused { service, problems: pre.problems });
    }
    let (arity_log2, _) = chain.game_params().await?;
    if !settle_in_flight(chain, shutdown).await? {
        return Ok(None);
    }
    Ok(Some(arity_log2))
}

/// Runs a service's `lanes` inside `span` until shutdown, then waits for every
/// game job of `scheduler`, so that the store is closed only once nothing writes
/// to it. Returns only on shutdown or a broken store.
pub async fn run_service(span: tracing::Span, shutdown: &Shutdown, lanes: Vec<Lane>, scheduler: &Scheduler) -> Result<(), StoreError> {
    let r = run_lanes(shutdown, lanes).instrument(span).await;
    let drained = scheduler.drain().await;
    r.and(drained)
}

/// Connects to the chain; a node that cannot be reached is waited for (logging
/// each attempt) until shutdown, while a wrong chain or deployment is an error.
pub async fn connect(settings: &Settings, shutdown: &Shutdown) -> Result<Option<Chain>, ChainError> {
    let mut wait = Duration::from_millis(500);
    loop {
        match Chain::connect(&settings.chain).await {
            Ok(c) => return Ok(Some(c)),
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, retry_in = ?wait, "cannot reach the node; waiting");
            }
            Err(e) => return Err(e),
        }
        if sleep_or_shutdown(wait, shutdown).await {
            return Ok(None);
        }
        wait = (wait * 2).min(Duration::from_secs(15));
    }
}

/// How long the transactions sent before a restart may stay in the mempool before
/// they are cancelled.
pub const IN_FLIGHT_PATIENCE: Duration = Duration::from_secs(30);

/// Waits until none of the sender's transactions is pending, so the chain shows
/// everything this service sent before it last stopped. Transactions still pending
/// after [`IN_FLIGHT_PATIENCE`] and [`refute_chain::STUCK_BLOCKS`] blocks (priced out
/// by the base fee, say) are cancelled: replaced by transfers of nothing at the fee
/// cap; what they did is decided again from the chain.
pub async fn settle_in_flight(chain: &Chain, shutdown: &Shutdown) -> Result<bool, ChainError> {
    let since = tokio::time::Instant::now();
    let first_head = chain.head().await?;
    let mut cancelled = false;
    loop {
        let n = chain.in_flight().await?;
        if n == 0 {
            return Ok(true);
        }
        let stuck = since.elapsed() >= IN_FLIGHT_PATIENCE && chain.head().await? >= first_head + refute_chain::STUCK_BLOCKS;
        if stuck && !cancelled {
            tracing::warn!(transactions = n, "transactions sent before the restart are still not mined; cancelling them");
            chain.cancel_in_flight().await?;
            cancelled = true;
        } else {
            tracing::info!(transactions = n, "waiting for transactions sent before the restart to be mined");
        }
        if sleep_or_shutdown(Duration::from_secs(1), shutdown).await {
            return Ok(false);
        }
    }
}

/// Sleeps `d`; true if shutdown was asked for meanwhile.
pub async fn sleep_or_shutdown(d: Duration, shutdown: &Shutdown) -> bool {
    let mut s = shutdown.clone();
    tokio::select! {
        _ = tokio::time::sleep(d) => s.requested(),
        _ = s.wait() => true,
    }
}

/// Why a tick failed.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// The chain failed; the tick is tried again.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The store failed: the service stops.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something else went wrong with one item; the tick is tried again.
    #[error("{0}")]
    Other(String),
}

impl From<crate::scan::ScanError> for TickError {
    fn from(e: crate::scan::ScanError) -> Self {
        match e {
            crate::scan::ScanError::Chain(c) => TickError::Chain(c),
            crate::scan::ScanError::Store(s) => TickError::Store(s),
            other => TickError::Other(other.to_string()),
        }
    }
}

impl From<crate::play::PlayError> for TickError {
    fn from(e: crate::play::PlayError) -> Self {
        match e {
            crate::play::PlayError::Chain(c) => TickError::Chain(c),
            crate::play::PlayError::Store(s) => TickError::Store(s),
            other => TickError::Other(other.to_string()),
        }
    }
}

/// Calls `tick` every `interval` until shutdown. Chain and other errors are
/// logged and retried; a store error ends the loop with that error.
pub async fn run_ticks<F, Fut>(interval: Duration, shutdown: &Shutdown, mut tick: F) -> Result<(), StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), TickError>>,
{
    let mut failures = 0u32;
    loop {
        if shutdown.requested() {
            return Ok(());
        }
        let pause = match tick().await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(after = failures, "ticking again normally");
                }
                failures = 0;
                interval
            }
            Err(TickError::Store(e)) => return Err(e),
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, failures, "tick failed; trying again");
                // back off while the node is away, but never longer than a few
                // seconds: a clock may be running
                (interval * failures.min(8)).min(Duration::from_secs(5))
            }
        };
        if sleep_or_shutdown(pause, shutdown).await {
            return Ok(());
        }
    }
}

/// A lane's tick: called every interval (see [`run_lanes`]).
pub type LaneTick = Box<dyn FnMut() -> TickFuture + Send>;

/// One lane of a service: a name for its logs, how often it ticks, and its tick.
pub struct Lane {
    /// Its name (`serve`, `games`, ...), a field of every log line it writes.
    pub name: &'static str,
    /// Pause between ticks.
    pub interval: Duration,
    /// The tick.
    pub tick: LaneTick,
}

/// The future a lane's tick returns.
pub type TickFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), TickError>> + Send>>;

/// A lane of service `svc` that calls `tick(svc)` every `interval` and counts its
/// failed ticks in `failures`.
pub fn lane<S: Send + Sync + 'static>(
    name: &'static str,
    interval: Duration,
    svc: &std::sync::Arc<S>,
    failures: &prometheus_client::metrics::counter::Counter,
    tick: fn(std::sync::Arc<S>) -> TickFuture,
) -> Lane {
    let (svc, failures) = (svc.clone(), failures.clone());
    Lane {
        name,
        interval,
        tick: Box::new(move || {
            let (svc, failures) = (svc.clone(), failures.clone());
            Box::pin(async move {
                let r = tick(svc).await;
                if r.is_err() {
                    failures.inc();
                }
                r
            })
        }),
    }
}

/// Withdraws what the oracle credited to the sender, one withdrawal in flight at
/// a time (`in_flight`): a withdrawal still pending is waited for on later calls,
/// never sent twice.
pub async fn withdraw<C: crate::oracle::OracleChain>(
    chain: &C,
    in_flight: &std::sync::Mutex<Option<refute_chain::SentTx>>,
) -> Result<(), ChainError> {
    let pending = in_flight.lock().expect("withdrawal").clone();
    if let Some(tx) = pending
        && matches!(chain.tx_status(&tx).await?, refute_chain::TxStatus::Pending | refute_chain::TxStatus::Queued)
    {
        return Ok(());
    }
    let sent = chain.send_withdraw().await?;
    if let Some((amount, _)) = &sent {
        tracing::info!(ether = crate::eth(*amount), "withdrawing");
    }
    *in_flight.lock().expect("withdrawal") = sent.map(|(_, tx)| tx);
    Ok(())
}

/// Runs the lanes side by side, each on its own task, until shutdown. A lane that
/// stops (a broken store) stops the others, and its error is returned once they
/// have all stopped; a lane that panics is waited for likewise and its panic
/// carried on. Lanes run inside the caller's span.
pub async fn run_lanes(shutdown: &Shutdown, lanes: Vec<Lane>) -> Result<(), StoreError> {
    let (stop, inner) = Shutdown::manual();
    let mut set = tokio::task::JoinSet::new();
    for lane in lanes {
        let span = tracing::info_span!("lane", lane = lane.name);
        let inner = inner.clone();
        set.spawn(async move { run_ticks(lane.interval, &inner, lane.tick).await }.instrument(span));
    }
    let mut outer = shutdown.clone();
    let (mut stopping, mut first_err, mut panic) = (false, None, None);
    loop {
        tokio::select! {
            _ = outer.wait(), if !stopping => {
                let _ = stop.send(true);
                stopping = true;
            }
            done = set.join_next() => {
                let Some(done) = done else { break };
                match done {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "the store failed; stopping");
                        first_err.get_or_insert(e);
                    }
                    Err(e) if e.is_panic() => panic = panic.or(Some(e.into_panic())),
                    Err(_) => {}
                }
                if !stopping {
                    let _ = stop.send(true);
                    stopping = true;
                }
            }
        }
    }
    if let Some(p) = panic {
        std::panic::resume_unwind(p);
    }
    first_err.map_or(Ok(()), Err)
}

/// Opens the store, creating its directory.
pub fn open_store(settings: &Settings) -> Result<Store, StoreError> {
    let _ = std::fs::create_dir_all(&settings.data_dir);
    Store::open(&settings.data_dir)
}
