//! The monitor: reads confirmed events from the stored cursor up to the safe head,
//! hands each to the service, and moves the cursor in the same atomic write as
//! whatever the service recorded, so an event is never half-handled.

use crate::oracle::OracleChain;
use refute_chain::{ChainError, Cursor, Event, ScanPolicy};
use refute_store::{key, Batch, Cf, Store, StoreError};

/// Why a scan stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The chain could not be read.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The store could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The service could not handle an event.
    #[error("handling {event}: {msg}")]
    Handler {
        /// The event.
        event: String,
        /// What went wrong.
        msg: String,
    },
}

/// Most block ranges read in one call, so a tick stays short after a long pause.
const RANGES_PER_SCAN: usize = 20;

/// Reads new confirmed events into the store through `handle`. Returns how many
/// events were handled.
pub async fn scan<C: OracleChain, F>(chain: &C, store: &Store, policy: &ScanPolicy, name: &str, mut handle: F) -> Result<usize, ScanError>
where
    F: FnMut(&Event, &mut Batch<'_>) -> Result<(), String>,
{
    let cursor_key = key(&[name.as_bytes()]);
    let mut cursor: Option<Cursor> = store.get(Cf::Cursor, &cursor_key)?;
    if let Some(c) = cursor
        && c.hash != [0; 32]
    {
        let now = chain.block(c.block).await?;
        if now.hash != c.hash {
            tracing::warn!(block = c.block, "the chain below the cursor was reorganised; reading again from further back");
            cursor = policy.rewind(&c);
        }
    }
    let head = chain.head().await?;
    let mut handled = 0;
    for _ in 0..RANGES_PER_SCAN {
        let Some((from, to)) = policy.next_range(cursor.as_ref(), head) else { break };
        let events = chain.events(from, to).await?;
        let end = chain.block(to).await?;
        let mut batch = store.batch();
        for e in &events {
            handle(e, &mut batch).map_err(|msg| ScanError::Handler { event: format!("{e:?}"), msg })?;
        }
        let next = Cursor { block: to, hash: end.hash };
        batch.put(Cf::Cursor, &cursor_key, &next)?;
        store.write(batch)?;
        handled += events.len();
        cursor = Some(next);
        tracing::debug!(from, to, events = events.len(), "scanned");
    }
    warn_if_stalled(chain, policy, cursor.as_ref().map_or(0, |c| c.block), head).await?;
    Ok(handled)
}

/// How long the chain may go without a block while events wait for confirmations
/// before the scan says why nothing happens.
const STALL: u64 = 30;

/// Events that wait for confirmations on a chain that makes no blocks (a devnet
/// with instant mining mines only when a transaction comes) would wait forever in
/// silence: say so, at most once a minute.
async fn warn_if_stalled<C: OracleChain>(chain: &C, policy: &ScanPolicy, scanned: u64, head: u64) -> Result<(), ChainError> {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if policy.confirmations == 0 || scanned >= head {
        return Ok(());
    }
    let (latest, now) = (chain.block(head).await?.timestamp, chain.now().await?);
    let last = LAST.load(std::sync::atomic::Ordering::Relaxed);
    if now.saturating_sub(latest) >= STALL && now >= last + 60 && !chain.events(scanned + 1, head).await?.is_empty() {
        LAST.store(now, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(
            waiting_blocks = head - scanned,
            confirmations = policy.confirmations,
            seconds_without_a_block = now - latest,
            "events wait for confirmations but the chain makes no blocks (instant mining?): set --confirmations 0 on such a chain"
        );
    }
    Ok(())
}
