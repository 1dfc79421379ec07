// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Commitments
/// @notice Tensor commitments, padded Merkle trees and multiproofs exactly as in
///         docs/commitments.md; the Rust twin is crates/core (commit.rs, merkle.rs).
library Commitments {
    /// @notice Bytes per chunk of a tensor's canonical bytes.
    uint256 internal constant CHUNK = 256;

    uint8 internal constant DATA_LEAF = 0x00;
    uint8 internal constant DATA_NODE = 0x01;
    uint8 internal constant TENSOR = 0x02;
    uint8 internal constant TRACE_NODE = 0x03;
    uint8 internal constant SPEC_LEAF = 0x04;
    uint8 internal constant SPEC_NODE = 0x05;
    uint8 internal constant MODEL = 0x06;
    uint8 internal constant CHECKPOINT_LEAF = 0x07;
    uint8 internal constant CHECKPOINT_NODE = 0x08;
    uint8 internal constant ELEMENT_LEAF = 0x09;

    uint8 internal constant DTYPE_I8 = 1;
    uint8 internal constant DTYPE_I32 = 2;

    /// @notice A multiproof names no leaf.
    error EmptyProof();
    /// @notice Multiproof indices are not strictly increasing.
    error UnsortedIndices();
    /// @notice A leaf index is not below 2^height.
    error IndexOutOfRange();
    /// @notice The proof has more or fewer siblings than the leaves need.
    error ProofLength();
    /// @notice A dtype code other than 1 (int8) or 2 (int32).
    error BadDType(uint8 dtype);

    /// @notice keccak256(tag ‖ left ‖ right): an inner node of a tagged tree.
    function node(uint8 tag, bytes32 left, bytes32 right) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, tag)
            mstore(add(p, 1), left)
            mstore(add(p, 33), right)
            h := keccak256(p, 65)
        }
    }

    /// @notice Leaf hash of a 256-byte chunk held in calldata at `offset`.
    function chunkLeafCalldata(uint256 offset) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0)
            calldatacopy(add(p, 1), offset, 256)
            h := keccak256(p, 257)
        }
    }

    /// @notice Leaf hash of chunk `i` of `data` (memory), zero-padded to 256 bytes.
    function chunkLeaf(bytes memory data, uint256 i) internal pure returns (bytes32 h) {
        uint256 start = i * CHUNK;
        uint256 len = data.length > start ? data.length - start : 0;
        if (len > CHUNK) len = CHUNK;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0)
            // zero the chunk, then copy the real bytes over it
            for { let k := 0 } lt(k, 256) { k := add(k, 32) } { mstore(add(add(p, 1), k), 0) }
            let src := add(add(data, 32), start)
            for { let k := 0 } lt(k, len) { k := add(k, 32) } { mstore(add(add(p, 1), k), mload(add(src, k))) }
            // bytes copied past `len` by the last word are cleared again
            for { let k := len } lt(k, 256) { k := add(k, 1) } { mstore8(add(add(p, 1), k), 0) }
            h := keccak256(p, 257)
        }
    }

    /// @notice Leaf hash of an all-zero chunk: the padding leaf of data trees.
    function zeroChunkLeaf() internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            for { let k := 0 } lt(k, 288) { k := add(k, 32) } { mstore(add(p, k), 0) }
            h := keccak256(p, 257)
        }
    }

    /// @notice The root of the complete subtree whose `2^k` nodes at one level are
    ///         `nodes` (calldata): what a reveal of `k` levels must rebuild.
    ///         `nodes.length` must be a power of two (the caller checks it).
    function subtreeRoot(uint8 tag, bytes32[] calldata nodes) internal pure returns (bytes32 r) {
        assembly ("memory-safe") {
            let n := nodes.length
            let buf := mload(0x40)
            calldatacopy(buf, nodes.offset, shl(5, n))
            let scratch := add(buf, shl(5, n))
            mstore8(scratch, tag)
            for {} gt(n, 1) {} {
                let half := shr(1, n)
                // parent i overwrites slot i, whose children (2i, 2i+1) are already read
                for { let i := 0 } lt(i, half) { i := add(i, 1) } {
                    let child := add(buf, shl(6, i))
                    mstore(add(scratch, 1), mload(child))
                    mstore(add(scratch, 33), mload(add(child, 32)))
                    mstore(add(buf, shl(5, i)), keccak256(scratch, 65))
                }
                n := half
            }
            r := mload(buf)
        }
    }

    /// @notice Whether bytes `from` to 255 of a 256-byte calldata chunk at `offset`
    ///         are all zero (the padding rule of data trees).
    function tailIsZero(uint256 offset, uint256 from) internal pure returns (bool ok) {
        assembly ("memory-safe") {
            ok := 1
            let start := and(from, not(31))
            if lt(start, 256) {
                // the word holding byte `from`: drop its leading real bytes
                if shl(shl(3, sub(from, start)), calldataload(add(offset, start))) { ok := 0 }
                for { let i := add(start, 32) } lt(i, 256) { i := add(i, 32) } {
                    if calldataload(add(offset, i)) { ok := 0 }
                }
            }
        }
    }

    /// @notice ceil(log2(n)), 0 for n <= 1: the bit length of n - 1, by halving.
    function height(uint256 n) internal pure returns (uint256 h) {
        assembly ("memory-safe") {
            if gt(n, 1) {
                let v := sub(n, 1)
                if gt(v, 0xffffffffffffffffffffffffffffffff) {
                    v := shr(128, v)
                    h := 128
                }
                if gt(v, 0xffffffffffffffff) {
                    v := shr(64, v)
                    h := add(h, 64)
                }
                if gt(v, 0xffffffff) {
                    v := shr(32, v)
                    h := add(h, 32)
                }
                if gt(v, 0xffff) {
                    v := shr(16, v)
                    h := add(h, 16)
                }
                if gt(v, 0xff) {
                    v := shr(8, v)
                    h := add(h, 8)
                }
                if gt(v, 0xf) {
                    v := shr(4, v)
                    h := add(h, 4)
                }
                if gt(v, 0x3) {
                    v := shr(2, v)
                    h := add(h, 2)
                }
                if gt(v, 0x1) {
                    v := shr(1, v)
                    h := add(h, 1)
                }
                h := add(h, v)
            }
        }
    }

    /// @notice Number of chunks of a tensor of `byteLen` bytes (at least one).
    function numChunks(uint256 len) internal pure returns (uint256) {
        return len == 0 ? 1 : (len + CHUNK - 1) / CHUNK;
    }

    /// @notice Bytes per element of a dtype.
    function elemSize(uint8 dtype) internal pure returns (uint256) {
        if (dtype == DTYPE_I8) return 1;
        if (dtype == DTYPE_I32) return 4;
        revert BadDType(dtype);
    }

    /// @notice Element count of a shape (1 for rank 0).
    function numel(uint32[] memory shape) internal pure returns (uint256 n) {
        n = 1;
        for (uint256 i = 0; i < shape.length; i++) {
            n *= shape[i];
        }
    }

    /// @notice Canonical byte length of a tensor type.
    function byteLen(uint8 dtype, uint32[] memory shape) internal pure returns (uint256) {
        return numel(shape) * elemSize(dtype);
    }

    /// @notice The data root of short canonical bytes (request inputs, posted outputs).
    function dataRoot(bytes memory data) internal pure returns (bytes32) {
        uint256 n = numChunks(data.length);
        bytes32[] memory layer = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            layer[i] = chunkLeaf(data, i);
        }
        bytes32 pad = zeroChunkLeaf();
        while (n > 1) {
            uint256 half = (n + 1) / 2;
            for (uint256 i = 0; i < half; i++) {
                bytes32 right = 2 * i + 1 < n ? layer[2 * i + 1] : pad;
                layer[i] = node(DATA_NODE, layer[2 * i], right);
            }
            pad = node(DATA_NODE, pad, pad);
            n = half;
        }
        return layer[0];
    }

    /// @notice keccak256(0x02 ‖ dtype ‖ rank ‖ dims (u32 BE) ‖ dataRoot).
    function tensorCommitment(uint8 dtype, uint32[] memory shape, bytes32 root) internal pure returns (bytes32 h) {
        uint256 rank = shape.length;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 2)
            mstore8(add(p, 1), dtype)
            mstore8(add(p, 2), rank)
            let q := add(p, 3)
            for { let i := 0 } lt(i, rank) { i := add(i, 1) } {
                let d := mload(add(add(shape, 32), mul(i, 32)))
                mstore(q, shl(224, d))
                q := add(q, 4)
            }
            mstore(q, root)
            h := keccak256(p, add(35, mul(rank, 4)))
        }
    }

    /// @notice keccak256(0x06 ‖ stepCount (u32 BE) ‖ specRoot).
    function modelId(uint32 stepCount, bytes32 specRoot) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(MODEL), stepCount, specRoot));
    }

    /// @notice keccak256(0x04 ‖ spec).
    function specLeaf(bytes memory spec) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(SPEC_LEAF), spec));
    }

    /// @notice keccak256(0x04 ‖ spec) of a spec in calldata.
    function specLeafCalldata(bytes calldata spec) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0x04)
            calldatacopy(add(p, 1), spec.offset, spec.length)
            h := keccak256(p, add(spec.length, 1))
        }
    }

    /// @notice The element leaf of a checkpoint tree: keccak256(0x09 ‖ value), the
    ///         value as one 32-byte two's complement word (docs/commitments.md,
    ///         "Checkpoints").
    function elementLeaf(int256 value) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0x09)
            mstore(add(p, 1), value)
            h := keccak256(p, 33)
        }
    }

    /// @notice The checkpoint leaf of a state given as its encoded words in
    ///         calldata: keccak256(0x07 ‖ state).
    function checkpointLeafCalldata(bytes calldata state) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0x07)
            calldatacopy(add(p, 1), state.offset, state.length)
            h := keccak256(p, add(state.length, 1))
        }
    }

    /// @notice keccak256(0x02 ‖ dtype ‖ rank ‖ dims (u32 BE) ‖ dataRoot) of a shape
    ///         in calldata; `shape.length` must be below 256 (the caller checks it).
    function tensorCommitmentCalldata(uint8 dtype, uint32[] calldata shape, bytes32 root) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let rank := shape.length
            let p := mload(0x40)
            mstore8(p, 2)
            mstore8(add(p, 1), dtype)
            mstore8(add(p, 2), rank)
            let q := add(p, 3)
            for { let i := 0 } lt(i, rank) { i := add(i, 1) } {
                // each element is an ABI word; a dimension above 2^32 - 1 is not a u32
                mstore(q, shl(224, calldataload(add(shape.offset, shl(5, i)))))
                q := add(q, 4)
            }
            mstore(q, root)
            h := keccak256(p, add(35, mul(rank, 4)))
        }
    }

    /// @notice Rebuilds a root from one leaf and its siblings (bottom up).
    function singleRoot(uint8 tag, uint256 h, uint256 index, bytes32 leaf, bytes32[] calldata proof) internal pure returns (bytes32 x) {
        if (proof.length != h) revert ProofLength();
        if (h < 256 && index >> h != 0) revert IndexOutOfRange();
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore8(m, tag)
            x := leaf
            let p := proof.offset
            for { let l := 0 } lt(l, h) { l := add(l, 1) } {
                switch and(shr(l, index), 1)
                case 0 {
                    mstore(add(m, 1), x)
                    mstore(add(m, 33), calldataload(p))
                }
                default {
                    mstore(add(m, 1), calldataload(p))
                    mstore(add(m, 33), x)
                }
                x := keccak256(m, 65)
                p := add(p, 32)
            }
        }
    }

    /// @notice Rebuilds the root of a tree of height `h` from leaves at strictly
    ///         increasing `indices` and a multiproof (docs/commitments.md, "Proofs").
    ///         `idx` and `hashes` are consumed (used as scratch).
    function multiRoot(uint8 tag, uint256 h, uint256[] memory idx, bytes32[] memory hashes, bytes32[] calldata proof)
        internal
        pure
        returns (bytes32)
    {
        uint256 n = idx.length;
        if (n == 0) revert EmptyProof();
        for (uint256 i = 0; i < n; i++) {
            if (i > 0 && idx[i] <= idx[i - 1]) revert UnsortedIndices();
        }
        if (h < 256 && idx[n - 1] >> h != 0) revert IndexOutOfRange();
        uint256 p = 0;
        for (uint256 level = 0; level < h; level++) {
            uint256 m = 0;
            uint256 i = 0;
            while (i < n) {
                uint256 k = idx[i];
                bytes32 x = hashes[i];
                bytes32 parent;
                if (k & 1 == 0 && i + 1 < n && idx[i + 1] == k + 1) {
                    parent = node(tag, x, hashes[i + 1]);
                    i += 2;
                } else {
                    if (p >= proof.length) revert ProofLength();
                    parent = k & 1 == 0 ? node(tag, x, proof[p]) : node(tag, proof[p], x);
                    p++;
                    i++;
                }
                idx[m] = k >> 1;
                hashes[m] = parent;
                m++;
            }
            n = m;
        }
        if (p != proof.length) revert ProofLength();
        return hashes[0];
    }
}
