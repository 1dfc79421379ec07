//! The monitor: reads confirmed events from the stored cursor up to the safe head,
//! hands each to the service, and moves the cursor in the same atomic write as
//! whatever the service recorded, so an event is never half-handled.

use refute_chain::{Chain, ChainError, Cursor, Event, ScanPolicy};
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
pub async fn scan<F>(chain: &Chain, store: &Store, policy: &ScanPolicy, name: &str, mut handle: F) -> Result<usize, ScanError>
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
    Ok(handled)
}
