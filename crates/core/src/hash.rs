//! keccak256 and the domain tags of `docs/commitments.md`.

use tiny_keccak::{Hasher, Keccak};

/// A 32-byte keccak256 digest.
pub type Hash = [u8; 32];

/// The all-zero hash: a padding leaf of the trace and spec trees.
pub const ZERO_HASH: Hash = [0u8; 32];

/// Domain tags: the first byte of every hashed message (see `docs/commitments.md`).
pub mod tag {
    /// Data leaf: `0x00 ‖ chunk`.
    pub const DATA_LEAF: u8 = 0x00;
    /// Data tree inner node.
    pub const DATA_NODE: u8 = 0x01;
    /// Tensor commitment.
    pub const TENSOR: u8 = 0x02;
    /// Trace tree inner node.
    pub const TRACE_NODE: u8 = 0x03;
    /// Spec leaf: `0x04 ‖ spec bytes`.
    pub const SPEC_LEAF: u8 = 0x04;
    /// Spec tree inner node.
    pub const SPEC_NODE: u8 = 0x05;
    /// Model id.
    pub const MODEL: u8 = 0x06;
    /// Checkpoint leaf: `0x07 ‖ state`.
    pub const CHECKPOINT_LEAF: u8 = 0x07;
    /// Checkpoint tree inner node.
    pub const CHECKPOINT_NODE: u8 = 0x08;
    /// Element leaf: `0x09 ‖ value`, the last leaf of a checkpoint tree.
    pub const ELEMENT_LEAF: u8 = 0x09;
}

/// keccak256 of the concatenation of `parts`.
pub fn keccak(parts: &[&[u8]]) -> Hash {
    let mut k = Keccak::v256();
    for p in parts {
        k.update(p);
    }
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

/// `tag ‖ left ‖ right`: the preimage of an inner node of a tagged tree.
pub fn node_preimage(tag: u8, left: &Hash, right: &Hash) -> [u8; 65] {
    let mut m = [0u8; 65];
    m[0] = tag;
    m[1..33].copy_from_slice(left);
    m[33..].copy_from_slice(right);
    m
}

/// keccak256 of `tag ‖ left ‖ right`: an inner node of a tagged tree.
pub fn node(tag: u8, left: &Hash, right: &Hash) -> Hash {
    keccak(&[&node_preimage(tag, left, right)])
}

/// Lower-case hex with a `0x` prefix, as chains and explorers print hashes.
pub fn to_hex(h: &Hash) -> String {
    format!("0x{}", hex::encode(h))
}

/// Parses a 32-byte hash from hex, with or without `0x`.
pub fn from_hex(s: &str) -> Option<Hash> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let bytes = hex::decode(s).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_of_empty_is_the_known_constant() {
        assert_eq!(to_hex(&keccak(&[])), "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    }

    #[test]
    fn parts_concatenate() {
        assert_eq!(keccak(&[b"ab", b"c"]), keccak(&[b"abc"]));
        assert_ne!(node(tag::DATA_NODE, &ZERO_HASH, &ZERO_HASH), node(tag::TRACE_NODE, &ZERO_HASH, &ZERO_HASH));
    }

    #[test]
    fn hex_round_trips() {
        let h = keccak(&[b"refute"]);
        assert_eq!(from_hex(&to_hex(&h)), Some(h));
        assert_eq!(from_hex("0x12"), None);
    }
}
