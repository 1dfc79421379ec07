//! Checkpoints of one element's fold and their commitments (`docs/commitments.md`,
//! "Checkpoints").
//!
//! When a dispute reaches one element of a long reduction, the executor commits to
//! the state of its fold after every block: leaf `b < n − 1` of the **checkpoint
//! tree** is the checkpoint leaf of the state after block `b`, leaf `n − 1` the
//! element leaf of the element itself. The descent over that tree finds the first
//! block whose state the challenger disputes.

use crate::hash::{keccak, tag, Hash};
use crate::merkle::{MerkleTree, TreeKind};

/// Bytes of one state field: a 32-byte big-endian two's complement word.
pub const WORD: usize = 32;

/// The state of a fold: the op's fields in order (`docs/semantics.md`).
///
/// Fields are kept in 128 bits so that folding never overflows; the states of the
/// first ops stay within 64 bits, which is what [`State::decode`] accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct State(pub Vec<i128>);

/// `v` as a 32-byte big-endian two's complement word.
pub fn word(v: i128) -> [u8; WORD] {
    let mut w = if v < 0 { [0xff; WORD] } else { [0; WORD] };
    w[WORD - 16..].copy_from_slice(&v.to_be_bytes());
    w
}

impl State {
    /// The canonical bytes: each field as a 32-byte word.
    pub fn encode(&self) -> Vec<u8> {
        self.0.iter().flat_map(|&v| word(v)).collect()
    }

    /// Parses `fields` words, each the sign extension of a 64-bit value; anything
    /// else is not a state of the first ops.
    pub fn decode(bytes: &[u8], fields: usize) -> Option<State> {
        if bytes.len() != fields * WORD {
            return None;
        }
        bytes
            .chunks_exact(WORD)
            .map(|w| {
                let low = i64::from_be_bytes(w[WORD - 8..].try_into().expect("8 bytes"));
                (word(low as i128)[..] == *w).then_some(low as i128)
            })
            .collect::<Option<Vec<_>>>()
            .map(State)
    }

    /// The checkpoint leaf: `keccak256(0x07 ‖ state)`.
    pub fn leaf(&self) -> Hash {
        keccak(&[&[tag::CHECKPOINT_LEAF], &self.encode()])
    }
}

/// The checkpoint leaf of arbitrary bytes given as a state (what the contract
/// hashes, whatever the bytes are).
pub fn checkpoint_leaf_of_bytes(state: &[u8]) -> Hash {
    keccak(&[&[tag::CHECKPOINT_LEAF], state])
}

/// The element leaf: `keccak256(0x09 ‖ value)`, value as one 32-byte word.
pub fn element_leaf(value: i64) -> Hash {
    keccak(&[&[tag::ELEMENT_LEAF], &word(value as i128)])
}

/// The checkpoint tree over an element's leaves (one per block), padded with zero
/// leaves.
pub fn checkpoint_tree(leaves: Vec<Hash>) -> MerkleTree {
    MerkleTree::new(TreeKind::Checkpoint, leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_sign_extended_big_endian() {
        assert_eq!(word(-5)[..31], [0xff; 31]);
        assert_eq!(word(-5)[31], 0xfb);
        assert_eq!(word(3)[..31], [0; 31]);
        assert_eq!(word(3)[31], 3);
        let s = State(vec![i64::MIN as i128, 7]);
        let b = s.encode();
        assert_eq!(b.len(), 64);
        assert_eq!(State::decode(&b, 2), Some(s.clone()));
        assert_eq!(State::decode(&b, 1), None);
        assert_eq!(State::decode(&b[..63], 2), None);
    }

    #[test]
    fn words_outside_64_bits_are_not_states() {
        assert_eq!(State::decode(&word(i64::MAX as i128 + 1), 1), None);
        assert_eq!(State::decode(&word(i64::MIN as i128 - 1), 1), None);
        let mut w = word(1);
        w[0] = 0x80;
        assert_eq!(State::decode(&w, 1), None);
        assert_eq!(State::decode(&word(i64::MAX as i128), 1), Some(State(vec![i64::MAX as i128])));
    }

    #[test]
    fn leaves_are_domain_separated() {
        // the state (3) and the element 3 have the same word and different leaves
        assert_ne!(State(vec![3]).leaf(), element_leaf(3));
        assert_eq!(State(vec![3]).leaf(), checkpoint_leaf_of_bytes(&word(3)));
        assert_eq!(element_leaf(-1), keccak(&[&[0x09], &[0xff; 32]]));
    }
}
