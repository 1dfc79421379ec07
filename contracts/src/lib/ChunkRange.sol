// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice A run of consecutive chunks of one tensor opened against its data root
///         (docs/commitments.md, "Chunk ranges"): chunks `first … first + count − 1`
///         concatenated in `chunks` (256 bytes each) and the multiproof of those
///         leaves in `proof` (the general multiproof's sibling order, at most two
///         siblings per level). A range with no chunks opens nothing and is not
///         checked; nothing may be read from it.
struct ChunkRange {
    uint256 first;
    bytes chunks;
    bytes32[] proof;
}

/// @title ChunkRanges
/// @notice Rebuilds the data root of a chunk range in place: the leaves are hashed
///         into one memory buffer and every level overwrites it from the left.
library ChunkRanges {
    /// @notice `chunks` is empty or not a whole number of 256-byte chunks.
    error RangeLength();
    /// @notice The range runs past the `2^height` leaves of the tree.
    error RangePastTree();
    /// @notice The proof has more or fewer siblings than the range needs.
    error RangeProofLength();

    /// @notice The data root that range `r` rebuilds in a tree of height `h`.
    ///         Reverts on an empty range, a length that is not a multiple of 256, a
    ///         range past `2^h` leaves, or a proof of the wrong length.
    function root(ChunkRange calldata r, uint256 h) internal pure returns (bytes32 x) {
        bytes calldata chunks = r.chunks;
        uint256 len = chunks.length;
        if (len == 0 || len & 255 != 0) revert RangeLength();
        uint256 count = len >> 8;
        uint256 first = r.first;
        // first + count <= 2^h, without overflow
        if (h < 256 && (count > (uint256(1) << h) || first > (uint256(1) << h) - count)) revert RangePastTree();
        bytes32[] calldata proof = r.proof;
        bool ok;
        assembly ("memory-safe") {
            let buf := mload(0x40)
            // scratch for one 257-byte leaf message or one 65-byte node message,
            // past the buffer of `count` hashes
            let scratch := add(buf, shl(5, count))
            let src := chunks.offset
            mstore8(scratch, 0x00)
            for { let i := 0 } lt(i, count) { i := add(i, 1) } {
                calldatacopy(add(scratch, 1), add(src, shl(8, i)), 256)
                mstore(add(buf, shl(5, i)), keccak256(scratch, 257))
            }
            mstore8(scratch, 0x01)
            let lo := first
            let n := count
            let p := proof.offset
            let pEnd := add(p, shl(5, proof.length))
            ok := 1
            let level := 0
            for {} and(lt(level, h), gt(n, 1)) { level := add(level, 1) } {
                // parent k of this level goes to buf[k]; reads run ahead of writes
                let i := 0
                let w := 0
                if and(lo, 1) {
                    if iszero(lt(p, pEnd)) { ok := 0 }
                    mstore(add(scratch, 1), calldataload(p))
                    mstore(add(scratch, 33), mload(buf))
                    mstore(buf, keccak256(scratch, 65))
                    p := add(p, 32)
                    i := 1
                    w := 1
                }
                for {} lt(add(i, 1), n) { i := add(i, 2) } {
                    let c := add(buf, shl(5, i))
                    mstore(add(scratch, 1), mload(c))
                    mstore(add(scratch, 33), mload(add(c, 32)))
                    mstore(add(buf, shl(5, w)), keccak256(scratch, 65))
                    w := add(w, 1)
                }
                if lt(i, n) {
                    // the last node of the level has no right neighbour in the range
                    if iszero(lt(p, pEnd)) { ok := 0 }
                    mstore(add(scratch, 1), mload(add(buf, shl(5, i))))
                    mstore(add(scratch, 33), calldataload(p))
                    mstore(add(buf, shl(5, w)), keccak256(scratch, 65))
                    p := add(p, 32)
                    w := add(w, 1)
                }
                n := w
                lo := shr(1, lo)
            }
            // one node left: a sibling a level, on the side its index says
            let node := mload(buf)
            for {} lt(level, h) { level := add(level, 1) } {
                if iszero(lt(p, pEnd)) { ok := 0 }
                let sib := calldataload(p)
                p := add(p, 32)
                switch and(lo, 1)
                case 0 {
                    mstore(add(scratch, 1), node)
                    mstore(add(scratch, 33), sib)
                }
                default {
                    mstore(add(scratch, 1), sib)
                    mstore(add(scratch, 33), node)
                }
                node := keccak256(scratch, 65)
                lo := shr(1, lo)
            }
            mstore(buf, node)
            if iszero(eq(p, pEnd)) { ok := 0 }
            x := mload(buf)
        }
        if (!ok) revert RangeProofLength();
    }
}
