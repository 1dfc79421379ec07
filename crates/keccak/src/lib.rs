//! keccak256 of many messages of one length at once: the hot path of commitments,
//! where a tensor's data tree hashes thousands of 257-byte leaves and 65-byte nodes,
//! all independent of each other.
//!
//! On x86-64 CPUs with AVX-512 (F and BW) the messages go eight at a time through
//! one Keccak-f permutation on 512-bit registers (eight independent states, one per
//! 64-bit lane), loaded straight from the messages; elsewhere, and for a last lone
//! message, one at a time through `tiny-keccak`. [`keccak256_many_prefixed`] hashes
//! each message after a one-byte prefix without building the prefixed message: the
//! data tree's leaves are `0x00 ‖ chunk`, so their chunks are hashed where they lie.
//! Both paths give keccak256 exactly, as the tests check against `tiny-keccak` on
//! random messages of every length class (one block, a full block, several blocks),
//! with and without a prefix.
//!
//! The crate holds the workspace's only `unsafe` code: the call into the functions
//! compiled for AVX-512, made only after the CPU was found to have it, and the
//! vector loads from message bytes they make.

#[cfg(target_arch = "x86_64")]
mod avx512;

use tiny_keccak::{Hasher, Keccak};

/// A keccak256 digest.
pub type Hash = [u8; 32];

/// How many messages one wide permutation hashes.
pub const LANES: usize = 8;

/// keccak256 of one message, through `tiny-keccak`.
pub fn keccak256(msg: &[u8]) -> Hash {
    keccak256_after(None, msg)
}

/// Whether [`keccak256_many`] hashes eight messages per permutation on this CPU.
pub fn is_wide() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx512::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// keccak256 of every message, in order: `out[i] = keccak256(msgs[i])`.
///
/// # Panics
/// If `out` and `msgs` differ in length, or the messages differ in length.
pub fn keccak256_many<M: AsRef<[u8]>>(msgs: &[M], out: &mut [Hash]) {
    many(None, msgs, out)
}

/// keccak256 of every message after one prefix byte, in order:
/// `out[i] = keccak256(prefix ‖ msgs[i])`, read straight from the messages (a data
/// tree's leaf is `0x00 ‖ chunk`: its chunks need not be copied behind a tag).
///
/// # Panics
/// If `out` and `msgs` differ in length, or the messages differ in length.
pub fn keccak256_many_prefixed<M: AsRef<[u8]>>(prefix: u8, msgs: &[M], out: &mut [Hash]) {
    many(Some(prefix), msgs, out)
}

/// keccak256 of `prefix ‖ msg`, one message at a time.
fn keccak256_after(prefix: Option<u8>, msg: &[u8]) -> Hash {
    let mut k = Keccak::v256();
    if let Some(p) = prefix {
        k.update(&[p]);
    }
    k.update(msg);
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

fn many<M: AsRef<[u8]>>(prefix: Option<u8>, msgs: &[M], out: &mut [Hash]) {
    assert_eq!(msgs.len(), out.len(), "one digest per message");
    let Some(len) = msgs.first().map(|m| m.as_ref().len()) else { return };
    assert!(msgs.iter().all(|m| m.as_ref().len() == len), "messages of one length");
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        let mut groups = msgs.chunks_exact(LANES);
        let mut outs = out.chunks_exact_mut(LANES);
        for (m, o) in (&mut groups).zip(&mut outs) {
            avx512::hash8(prefix, std::array::from_fn(|i| m[i].as_ref()), o);
        }
        let (rest, rest_out) = (groups.remainder(), outs.into_remainder());
        // A wide permutation costs about one and a half narrow ones (measured:
        // docs/performance.md), so two or more leftover messages take the wide
        // path, the spare lanes filled with copies.
        if rest.len() >= 2 {
            let mut wide = [[0u8; 32]; LANES];
            avx512::hash8(prefix, std::array::from_fn(|i| rest[i.min(rest.len() - 1)].as_ref()), &mut wide);
            rest_out.copy_from_slice(&wide[..rest.len()]);
        } else {
            for (m, o) in rest.iter().zip(rest_out) {
                *o = keccak256_after(prefix, m.as_ref());
            }
        }
        return;
    }
    for (m, o) in msgs.iter().zip(out) {
        *o = keccak256_after(prefix, m.as_ref());
    }
}
