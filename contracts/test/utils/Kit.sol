// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TensorOpening} from "../../src/lib/TensorOpening.sol";

/// @notice A dtype (1 int8, 2 int32) and a shape.
struct Ty {
    uint8 dtype;
    uint32[] shape;
}

/// @notice One step of a model built in a test: op, output type, the steps it
///         reads, its i64 parameters, and its weights (types and canonical bytes).
struct StepDef {
    uint8 op;
    Ty out;
    uint32[] inputs;
    int64[] params;
    Ty[] wTypes;
    bytes[] wData;
}

/// @notice A committed tensor: its header type, the bytes of its whole padded data
///         tree (256 · 2^height bytes, normally zero past the real bytes), the
///         tree's levels (0: leaves), its data root and its commitment.
struct Committed {
    Ty ty;
    bytes padded;
    bytes32[][] levels;
    bytes32 root;
    bytes32 commitment;
}

/// @notice A model built in a test, with its specs and spec tree.
struct ModelDef {
    StepDef[] steps;
    Committed[][] weights;
    bytes[] specs;
    bytes32[][] specLevels;
    bytes32 specRoot;
    uint32 stepCount;
    bytes32 id;
}

/// @notice A trace: every step's committed output and the trace tree.
struct TraceDef {
    Committed[] steps;
    bytes32[][] levels;
    bytes32 root;
}

/// @title Kit
/// @notice Test-side twins of the commitments, written independently of
///         src/lib (plain abi.encodePacked hashing, whole trees kept in memory),
///         and the prover side of multiproofs.
library Kit {
    uint256 internal constant CHUNK = 256;

    // ------------------------------------------------------------------ shapes

    function s0() internal pure returns (uint32[] memory s) {
        s = new uint32[](0);
    }

    function s1(uint32 a) internal pure returns (uint32[] memory s) {
        s = new uint32[](1);
        s[0] = a;
    }

    function s2(uint32 a, uint32 b) internal pure returns (uint32[] memory s) {
        s = new uint32[](2);
        (s[0], s[1]) = (a, b);
    }

    function s3(uint32 a, uint32 b, uint32 c) internal pure returns (uint32[] memory s) {
        s = new uint32[](3);
        (s[0], s[1], s[2]) = (a, b, c);
    }

    function s4(uint32 a, uint32 b, uint32 c, uint32 d) internal pure returns (uint32[] memory s) {
        s = new uint32[](4);
        (s[0], s[1], s[2], s[3]) = (a, b, c, d);
    }

    function i8(uint32[] memory shape) internal pure returns (Ty memory t) {
        t.dtype = 1;
        t.shape = shape;
    }

    function i32(uint32[] memory shape) internal pure returns (Ty memory t) {
        t.dtype = 2;
        t.shape = shape;
    }

    function numel(uint32[] memory shape) internal pure returns (uint256 n) {
        n = 1;
        for (uint256 i = 0; i < shape.length; i++) n *= shape[i];
    }

    function size(uint8 dtype) internal pure returns (uint256) {
        return dtype == 1 ? 1 : 4;
    }

    function byteLen(Ty memory t) internal pure returns (uint256) {
        return numel(t.shape) * size(t.dtype);
    }

    function height(uint256 n) internal pure returns (uint256 h) {
        while ((uint256(1) << h) < n) h++;
    }

    function chunksOf(uint256 len) internal pure returns (uint256) {
        return len == 0 ? 1 : (len + CHUNK - 1) / CHUNK;
    }

    function encType(Ty memory t) internal pure returns (bytes memory b) {
        b = abi.encodePacked(t.dtype, uint8(t.shape.length));
        for (uint256 i = 0; i < t.shape.length; i++) b = abi.encodePacked(b, t.shape[i]);
    }

    function sameType(Ty memory a, Ty memory b) internal pure returns (bool) {
        return keccak256(encType(a)) == keccak256(encType(b));
    }

    // ------------------------------------------------------------------- trees

    function node(uint8 tag, bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(tag), a, b));
    }

    /// @notice Every level of the tree over `leaves` padded to 2^height with `pad`.
    function tree(uint8 tag, bytes32[] memory leaves, bytes32 pad) internal pure returns (bytes32[][] memory lv) {
        uint256 h = height(leaves.length);
        lv = new bytes32[][](h + 1);
        lv[0] = new bytes32[](uint256(1) << h);
        for (uint256 i = 0; i < lv[0].length; i++) lv[0][i] = i < leaves.length ? leaves[i] : pad;
        for (uint256 l = 1; l <= h; l++) {
            lv[l] = new bytes32[](uint256(1) << (h - l));
            for (uint256 i = 0; i < lv[l].length; i++) lv[l][i] = node(tag, lv[l - 1][2 * i], lv[l - 1][2 * i + 1]);
        }
    }

    function rootOf(bytes32[][] memory lv) internal pure returns (bytes32) {
        return lv[lv.length - 1][0];
    }

    /// @notice The siblings of leaf `i`, bottom up.
    function single(bytes32[][] memory lv, uint256 i) internal pure returns (bytes32[] memory p) {
        p = new bytes32[](lv.length - 1);
        for (uint256 l = 0; l + 1 < lv.length; l++) p[l] = lv[l][(i >> l) ^ 1];
    }

    /// @notice The multiproof of the leaves at sorted `idx` (docs/commitments.md).
    function multi(bytes32[][] memory lv, uint256[] memory idx) internal pure returns (bytes32[] memory proof) {
        uint256 h = lv.length - 1;
        bytes32[] memory buf = new bytes32[](idx.length * (h + 1));
        uint256 p;
        uint256[] memory layer = new uint256[](idx.length);
        for (uint256 i = 0; i < idx.length; i++) layer[i] = idx[i];
        uint256 n = idx.length;
        for (uint256 level = 0; level < h; level++) {
            uint256 m;
            uint256 i;
            while (i < n) {
                uint256 k = layer[i];
                if (k % 2 == 0 && i + 1 < n && layer[i + 1] == k + 1) {
                    i += 2;
                } else {
                    buf[p++] = lv[level][k ^ 1];
                    i++;
                }
                layer[m++] = k / 2;
            }
            n = m;
        }
        proof = new bytes32[](p);
        for (uint256 i = 0; i < p; i++) proof[i] = buf[i];
    }

    /// @notice The nodes `levels` below node (`h`, `index`) of a tree.
    function below(bytes32[][] memory lv, uint256 h, uint256 index, uint256 levels) internal pure returns (bytes32[] memory nodes) {
        nodes = new bytes32[](uint256(1) << levels);
        for (uint256 k = 0; k < nodes.length; k++) nodes[k] = lv[h - levels][(index << levels) + k];
    }

    // ----------------------------------------------------------------- tensors

    function slice(bytes memory b, uint256 start, uint256 len) internal pure returns (bytes memory out) {
        out = new bytes(len);
        for (uint256 i = 0; i < len; i++) out[i] = b[start + i];
    }

    function chunkLeaf(bytes memory padded, uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0), slice(padded, i * CHUNK, CHUNK)));
    }

    function commitmentOf(Ty memory t, bytes32 root) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x02), encType(t), root));
    }

    /// @notice Commits canonical bytes under type `t` (zero padding).
    function commit(Ty memory t, bytes memory data) internal pure returns (Committed memory) {
        uint256 width = uint256(1) << height(chunksOf(byteLen(t)));
        bytes memory padded = new bytes(width * CHUNK);
        for (uint256 i = 0; i < data.length; i++) padded[i] = data[i];
        return commitPadded(t, padded);
    }

    /// @notice Commits a whole padded data tree under header type `t`, whatever
    ///         its padding holds.
    function commitPadded(Ty memory t, bytes memory padded) internal pure returns (Committed memory c) {
        bytes32[] memory leaves = new bytes32[](padded.length / CHUNK);
        for (uint256 i = 0; i < leaves.length; i++) leaves[i] = chunkLeaf(padded, i);
        c.ty = t;
        c.padded = padded;
        c.levels = tree(0x01, leaves, bytes32(0));
        c.root = rootOf(c.levels);
        c.commitment = commitmentOf(t, c.root);
    }

    function canonical(Committed memory c) internal pure returns (bytes memory) {
        return slice(c.padded, 0, byteLen(c.ty));
    }

    /// @notice Element `i` of canonical (or padded) bytes.
    function get(bytes memory data, uint8 dtype, uint256 i) internal pure returns (int256) {
        if (dtype == 1) return int256(int8(uint8(data[i])));
        uint256 o = 4 * i;
        uint32 v = (uint32(uint8(data[o])) << 24) | (uint32(uint8(data[o + 1])) << 16) | (uint32(uint8(data[o + 2])) << 8)
            | uint32(uint8(data[o + 3]));
        return int256(int32(v));
    }

    function set(bytes memory data, uint8 dtype, uint256 i, int256 v) internal pure {
        if (dtype == 1) {
            data[i] = bytes1(uint8(int8(v)));
            return;
        }
        uint32 u = uint32(int32(v));
        for (uint256 k = 0; k < 4; k++) data[4 * i + k] = bytes1(uint8(u >> (24 - 8 * k)));
    }

    /// @notice Pseudo-random int8 bytes.
    function randomI8(uint256 seed, uint256 n) internal pure returns (bytes memory b) {
        b = new bytes(n);
        for (uint256 i = 0; i < n; i += 32) {
            bytes32 r = keccak256(abi.encode(seed, i));
            for (uint256 k = 0; k < 32 && i + k < n; k++) b[i + k] = r[k];
        }
    }

    /// @notice A requant table (bias, m, s) per output channel: int32 [n, 3].
    function requantTable(uint256 seed, uint256 n, int256 biasRange, uint256 sMin, uint256 sSpan)
        internal
        pure
        returns (bytes memory q)
    {
        q = new bytes(12 * n);
        for (uint256 i = 0; i < n; i++) {
            uint256 r = uint256(keccak256(abi.encode(seed, i, "q")));
            int256 bias = int256(r % uint256(2 * biasRange + 1)) - biasRange;
            int256 m = int256((1 << 30) + (r >> 64) % (1 << 30));
            int256 s = int256(sMin + (r >> 128) % sSpan);
            set(q, 2, 3 * i, bias);
            set(q, 2, 3 * i + 1, m);
            set(q, 2, 3 * i + 2, s);
        }
    }

    // ----------------------------------------------------------------- openings

    /// @notice Opens the chunks holding `elems` (element indices) of `c`.
    function opening(Committed memory c, uint256[] memory elems) internal pure returns (TensorOpening memory o) {
        uint256 width = c.padded.length / CHUNK;
        bool[] memory want = new bool[](width);
        uint256 n;
        uint256 sz = size(c.ty.dtype);
        for (uint256 i = 0; i < elems.length; i++) {
            uint256 k = elems[i] * sz / CHUNK;
            if (!want[k]) {
                want[k] = true;
                n++;
            }
        }
        o.chunkIndices = new uint256[](n);
        o.chunks = new bytes(n * CHUNK);
        uint256 m;
        for (uint256 k = 0; k < width; k++) {
            if (!want[k]) continue;
            o.chunkIndices[m] = k;
            for (uint256 b = 0; b < CHUNK; b++) o.chunks[m * CHUNK + b] = c.padded[k * CHUNK + b];
            m++;
        }
        o.proof = multi(c.levels, o.chunkIndices);
    }
}
