//! Following the chain from a stored cursor: which block range to read next, with
//! a confirmation depth, and what to do when the chain below the cursor changed.
//!
//! The cursor is the last block whose logs were fully processed, with its hash.
//! Only blocks at least `confirmations` deep are read, so reorganisations up to
//! that depth never reach the scanner. If a deeper one happens anyway (the stored
//! hash is no longer the canonical one), the scanner rewinds by twice the depth and
//! reads again; everything done with logs is idempotent, so reading twice is safe.

use serde::{Deserialize, Serialize};

/// The last block whose logs were fully processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Block number.
    pub block: u64,
    /// Its hash when it was processed.
    pub hash: [u8; 32],
}

/// How a scanner follows the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanPolicy {
    /// First block to read when there is no cursor (the deployment block).
    pub start_block: u64,
    /// Blocks a log must be under before it is read.
    pub confirmations: u64,
    /// Most blocks read in one `eth_getLogs` call.
    pub max_range: u64,
}

impl ScanPolicy {
    /// The next inclusive block range to read, if any, given the head.
    pub fn next_range(&self, cursor: Option<&Cursor>, head: u64) -> Option<(u64, u64)> {
        let safe = head.checked_sub(self.confirmations)?;
        let from = cursor.map_or(self.start_block, |c| c.block + 1);
        if from > safe {
            return None;
        }
        Some((from, safe.min(from + self.max_range.max(1) - 1)))
    }

    /// Where to resume after the cursor's block was found replaced by a reorg.
    pub fn rewind(&self, cursor: &Cursor) -> Option<Cursor> {
        let back = cursor.block.saturating_sub(2 * self.confirmations.max(1));
        if back < self.start_block {
            None
        } else {
            // the hash of the new cursor block is read again before use
            Some(Cursor { block: back, hash: [0; 32] })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: ScanPolicy = ScanPolicy { start_block: 10, confirmations: 2, max_range: 100 };

    #[test]
    fn reads_only_confirmed_blocks_from_the_start() {
        assert_eq!(P.next_range(None, 11), None);
        assert_eq!(P.next_range(None, 12), Some((10, 10)));
        assert_eq!(P.next_range(None, 500), Some((10, 109)));
        let c = Cursor { block: 109, hash: [1; 32] };
        assert_eq!(P.next_range(Some(&c), 500), Some((110, 209)));
        assert_eq!(P.next_range(Some(&Cursor { block: 498, hash: [0; 32] }), 500), None);
        assert_eq!(ScanPolicy { confirmations: 0, ..P }.next_range(None, 10), Some((10, 10)));
    }

    #[test]
    fn a_reorg_below_the_cursor_rewinds_twice_the_depth() {
        assert_eq!(P.rewind(&Cursor { block: 50, hash: [1; 32] }).map(|c| c.block), Some(46));
        assert_eq!(P.rewind(&Cursor { block: 12, hash: [1; 32] }), None);
    }
}
