// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ChunkRange} from "../../src/lib/ChunkRange.sol";

/// @notice A dtype (1 int8, 2 int32) and a shape.
struct Ty {
    uint8 dtype;
    uint32[] shape;
}

/// @notice One step of a model built in a test: op, output type, the steps it
///         reads, its i64 parameters, and its weights (types and canonical bytes;
///         the bytes may be empty for a weight committed sparsely).
struct StepDef {
    uint8 op;
    Ty out;
    uint32[] inputs;
    int64[] params;
    Ty[] wTypes;
    bytes[] wData;
}

/// @notice A Merkle tree with tag `tag` and height `height`, either dense (every
///         level kept, `levels[0]` the leaves) or sparse: every leaf is `pad[0]`
///         except the leaves at the increasing indices `idx` (hashes `leaves`), and
///         `pad[l]` is the root of a subtree of height `l` of default leaves. Sparse
///         trees stand for tensors and traces too large to hold (a 2^32-byte tensor
///         is a tree of height 24): their nodes are computed from their structure.
struct Tree {
    uint8 tag;
    uint256 height;
    bytes32[][] levels;
    bytes32[] pad;
    uint256[] idx;
    bytes32[] leaves;
}

/// @notice A committed tensor: its header type, its data tree and its bytes, dense
///         (`padded`: the whole padded tree's bytes, 256 · 2^height, normally zero
///         past the real bytes) or sparse (every chunk zero except chunks `chunkIdx`,
///         increasing, whose bytes are `chunkData`), its data root and commitment.
struct Committed {
    Ty ty;
    bytes padded;
    uint256[] chunkIdx;
    bytes[] chunkData;
    Tree tree;
    bytes32 root;
    bytes32 commitment;
}

/// @notice A model built in a test, with its specs and spec tree. When `index` is
///         empty, `steps[i]`, `weights[i]` and `specs[i]` are step `i`'s; a sparse
///         model (too many steps to hold) lists only the steps a test opens, in
///         increasing `index`: entry `k` is step `index[k]` (see `Kit.at`).
struct ModelDef {
    StepDef[] steps;
    Committed[][] weights;
    bytes[] specs;
    Tree specTree;
    bytes32 specRoot;
    uint32 stepCount;
    bytes32 id;
    uint256[] index;
}

/// @notice A trace: the committed step outputs and the trace tree; `index` as in
///         `ModelDef`.
struct TraceDef {
    Committed[] steps;
    Tree tree;
    bytes32 root;
    uint256[] index;
}

/// @title Kit
/// @notice Test-side twins of the commitments, written independently of
///         src/lib (plain abi.encodePacked hashing, trees kept in memory or built
///         from their structure), and the prover side of multiproofs and chunk
///         ranges.
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
        for (uint256 i = 0; i < shape.length; i++) {
            n *= shape[i];
        }
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
        for (uint256 i = 0; i < t.shape.length; i++) {
            b = abi.encodePacked(b, t.shape[i]);
        }
    }

    function sameType(Ty memory a, Ty memory b) internal pure returns (bool) {
        return keccak256(encType(a)) == keccak256(encType(b));
    }

    /// @notice Where step `i` is listed: `i` itself when `index` is empty, else
    ///         its entry in `index` (which must list it).
    function at(uint256[] memory index, uint256 i) internal pure returns (uint256 k) {
        if (index.length == 0) return i;
        k = _lowerBound(index, i);
        require(k < index.length && index[k] == i, "the step is not listed");
    }

    // ------------------------------------------------------------------- trees

    function node(uint8 tag, bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(tag), a, b));
    }

    /// @notice The dense tree over `leaves` padded to 2^height with `pad`.
    function tree(uint8 tag, bytes32[] memory leaves, bytes32 pad) internal pure returns (Tree memory t) {
        uint256 h = height(leaves.length);
        t.tag = tag;
        t.height = h;
        bytes32[][] memory lv = new bytes32[][](h + 1);
        lv[0] = new bytes32[](uint256(1) << h);
        for (uint256 i = 0; i < lv[0].length; i++) {
            lv[0][i] = i < leaves.length ? leaves[i] : pad;
        }
        for (uint256 l = 1; l <= h; l++) {
            lv[l] = new bytes32[](uint256(1) << (h - l));
            for (uint256 i = 0; i < lv[l].length; i++) {
                lv[l][i] = node(tag, lv[l - 1][2 * i], lv[l - 1][2 * i + 1]);
            }
        }
        t.levels = lv;
    }

    /// @notice The sparse tree of height `h` whose leaves are all `fill` except
    ///         `leaves[k]` at `idx[k]` (increasing).
    function sparseTree(uint8 tag, uint256 h, bytes32 fill, uint256[] memory idx, bytes32[] memory leaves) internal pure returns (Tree memory t) {
        t.tag = tag;
        t.height = h;
        t.pad = new bytes32[](h + 1);
        t.pad[0] = fill;
        for (uint256 l = 1; l <= h; l++) {
            t.pad[l] = node(tag, t.pad[l - 1], t.pad[l - 1]);
        }
        for (uint256 k = 1; k < idx.length; k++) {
            require(idx[k] > idx[k - 1], "sparse leaves in order");
        }
        t.idx = idx;
        t.leaves = leaves;
    }

    function isDense(Tree memory t) internal pure returns (bool) {
        return t.levels.length != 0;
    }

    /// @dev The first k with idx[k] >= lo (idx.length if none).
    function _lowerBound(uint256[] memory idx, uint256 lo) private pure returns (uint256 a) {
        uint256 b = idx.length;
        while (a < b) {
            uint256 m = (a + b) / 2;
            if (idx[m] < lo) a = m + 1;
            else b = m;
        }
    }

    /// @notice Node `i` of level `level` (0: leaves).
    function nodeAt(Tree memory t, uint256 level, uint256 i) internal pure returns (bytes32) {
        if (isDense(t)) return t.levels[level][i];
        uint256 lo = i << level;
        uint256 k = _lowerBound(t.idx, lo);
        if (k == t.idx.length || t.idx[k] >= lo + (uint256(1) << level)) return t.pad[level];
        if (level == 0) return t.leaves[k];
        return node(t.tag, nodeAt(t, level - 1, 2 * i), nodeAt(t, level - 1, 2 * i + 1));
    }

    function rootOf(Tree memory t) internal pure returns (bytes32) {
        return nodeAt(t, t.height, 0);
    }

    /// @notice The siblings of leaf `i`, bottom up.
    function single(Tree memory t, uint256 i) internal pure returns (bytes32[] memory p) {
        p = new bytes32[](t.height);
        for (uint256 l = 0; l < t.height; l++) {
            p[l] = nodeAt(t, l, (i >> l) ^ 1);
        }
    }

    /// @notice The multiproof of the leaves at sorted `idx` (docs/commitments.md).
    function multi(Tree memory t, uint256[] memory idx) internal pure returns (bytes32[] memory proof) {
        uint256 h = t.height;
        bytes32[] memory buf = new bytes32[](idx.length * (h + 1) + 1);
        uint256 p;
        uint256[] memory layer = new uint256[](idx.length);
        for (uint256 i = 0; i < idx.length; i++) {
            layer[i] = idx[i];
        }
        uint256 n = idx.length;
        for (uint256 level = 0; level < h; level++) {
            uint256 m;
            uint256 i;
            while (i < n) {
                uint256 k = layer[i];
                if (k % 2 == 0 && i + 1 < n && layer[i + 1] == k + 1) {
                    i += 2;
                } else {
                    buf[p++] = nodeAt(t, level, k ^ 1);
                    i++;
                }
                layer[m++] = k / 2;
            }
            n = m;
        }
        proof = new bytes32[](p);
        for (uint256 i = 0; i < p; i++) {
            proof[i] = buf[i];
        }
    }

    /// @notice The nodes `levels` below node (`h`, `index`) of a tree.
    function below(Tree memory t, uint256 h, uint256 index, uint256 levels) internal pure returns (bytes32[] memory nodes) {
        nodes = new bytes32[](uint256(1) << levels);
        for (uint256 k = 0; k < nodes.length; k++) {
            nodes[k] = nodeAt(t, h - levels, (index << levels) + k);
        }
    }

    // ----------------------------------------------------------------- tensors

    function slice(bytes memory b, uint256 start, uint256 len) internal pure returns (bytes memory out) {
        out = new bytes(len);
        for (uint256 i = 0; i < len; i++) {
            out[i] = b[start + i];
        }
    }

    function leafOf(bytes memory chunk) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0), chunk));
    }

    function zeroLeaf() internal pure returns (bytes32) {
        return leafOf(new bytes(CHUNK));
    }

    function commitmentOf(Ty memory t, bytes32 root) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x02), encType(t), root));
    }

    /// @notice Commits canonical bytes under type `t` (zero padding).
    function commit(Ty memory t, bytes memory data) internal pure returns (Committed memory) {
        uint256 width = uint256(1) << height(chunksOf(byteLen(t)));
        bytes memory padded = new bytes(width * CHUNK);
        for (uint256 i = 0; i < data.length; i++) {
            padded[i] = data[i];
        }
        return commitPadded(t, padded);
    }

    /// @notice Commits a whole padded data tree under header type `t`, whatever
    ///         its padding holds.
    function commitPadded(Ty memory t, bytes memory padded) internal pure returns (Committed memory c) {
        bytes32[] memory leaves = new bytes32[](padded.length / CHUNK);
        for (uint256 i = 0; i < leaves.length; i++) {
            leaves[i] = leafOf(slice(padded, i * CHUNK, CHUNK));
        }
        c.ty = t;
        c.padded = padded;
        c.tree = tree(0x01, leaves, bytes32(0));
        c.root = rootOf(c.tree);
        c.commitment = commitmentOf(t, c.root);
    }

    /// @notice Commits a tensor of type `t` whose chunks are all zero except chunks
    ///         `idx` (increasing), which hold `data`: its tree is built from its
    ///         structure, so it may be as large as the format allows.
    function commitSparse(Ty memory t, uint256[] memory idx, bytes[] memory data) internal pure returns (Committed memory c) {
        bytes32[] memory leaves = new bytes32[](idx.length);
        for (uint256 k = 0; k < idx.length; k++) {
            require(data[k].length == CHUNK, "a chunk is 256 bytes");
            leaves[k] = leafOf(data[k]);
        }
        c.ty = t;
        c.chunkIdx = idx;
        c.chunkData = data;
        c.tree = sparseTree(0x01, height(chunksOf(byteLen(t))), zeroLeaf(), idx, leaves);
        c.root = rootOf(c.tree);
        c.commitment = commitmentOf(t, c.root);
    }

    function isSparse(Committed memory c) internal pure returns (bool) {
        return !isDense(c.tree);
    }

    /// @notice Chunk `i` of a committed tensor's padded tree.
    function chunk(Committed memory c, uint256 i) internal pure returns (bytes memory) {
        if (!isSparse(c)) return slice(c.padded, i * CHUNK, CHUNK);
        uint256 k = _lowerBound(c.chunkIdx, i);
        if (k < c.chunkIdx.length && c.chunkIdx[k] == i) return c.chunkData[k];
        return new bytes(CHUNK);
    }

    /// @notice Byte `pos` of a committed tensor's padded tree.
    function byteAt(Committed memory c, uint256 pos) internal pure returns (uint8) {
        if (!isSparse(c)) return uint8(c.padded[pos]);
        uint256 k = _lowerBound(c.chunkIdx, pos / CHUNK);
        if (k < c.chunkIdx.length && c.chunkIdx[k] == pos / CHUNK) return uint8(c.chunkData[k][pos % CHUNK]);
        return 0;
    }

    /// @notice Element `i` of a committed tensor, by its dtype.
    function elem(Committed memory c, uint256 i) internal pure returns (int256) {
        if (c.ty.dtype == 1) return int256(int8(byteAt(c, i)));
        uint256 o = 4 * i;
        uint32 v = (uint32(byteAt(c, o)) << 24) | (uint32(byteAt(c, o + 1)) << 16) | (uint32(byteAt(c, o + 2)) << 8) | uint32(byteAt(c, o + 3));
        return int256(int32(v));
    }

    function canonical(Committed memory c) internal pure returns (bytes memory) {
        return slice(c.padded, 0, byteLen(c.ty));
    }

    /// @notice Element `i` of canonical (or padded) bytes.
    function get(bytes memory data, uint8 dtype, uint256 i) internal pure returns (int256) {
        if (dtype == 1) return int256(int8(uint8(data[i])));
        uint256 o = 4 * i;
        uint32 v =
            (uint32(uint8(data[o])) << 24) | (uint32(uint8(data[o + 1])) << 16) | (uint32(uint8(data[o + 2])) << 8) | uint32(uint8(data[o + 3]));
        return int256(int32(v));
    }

    function set(bytes memory data, uint8 dtype, uint256 i, int256 v) internal pure {
        if (dtype == 1) {
            data[i] = bytes1(uint8(int8(v)));
            return;
        }
        uint32 u = uint32(int32(v));
        for (uint256 k = 0; k < 4; k++) {
            data[4 * i + k] = bytes1(uint8(u >> (24 - 8 * k)));
        }
    }

    /// @notice Pseudo-random int8 bytes.
    function randomI8(uint256 seed, uint256 n) internal pure returns (bytes memory b) {
        b = new bytes(n);
        for (uint256 i = 0; i < n; i += 32) {
            bytes32 r = keccak256(abi.encode(seed, i));
            for (uint256 k = 0; k < 32 && i + k < n; k++) {
                b[i + k] = r[k];
            }
        }
    }

    /// @notice A requant table (bias, m, s) per output channel: int32 [n, 3].
    function requantTable(uint256 seed, uint256 n, int256 biasRange, uint256 sMin, uint256 sSpan) internal pure returns (bytes memory q) {
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

    // ------------------------------------------------------------ chunk ranges

    /// @notice The chunk range of `c` holding its bytes `[lo, hi)`: the chunks from
    ///         the one holding `lo` to the one holding `hi - 1`, with their
    ///         multiproof; no chunks when `lo == hi` (nothing read).
    function range(Committed memory c, uint256 lo, uint256 hi) internal pure returns (ChunkRange memory r) {
        if (hi <= lo) {
            r.chunks = new bytes(0);
            r.proof = new bytes32[](0);
            return r;
        }
        return chunks(c, lo / CHUNK, (hi - 1) / CHUNK + 1);
    }

    /// @notice The chunk range of chunks `[first, end)` of `c` (`end > first`).
    function chunks(Committed memory c, uint256 first, uint256 end) internal pure returns (ChunkRange memory r) {
        r.first = first;
        uint256[] memory idx = new uint256[](end - first);
        bytes memory data = new bytes((end - first) * CHUNK);
        for (uint256 i = first; i < end; i++) {
            idx[i - first] = i;
            bytes memory ch = chunk(c, i);
            for (uint256 b = 0; b < CHUNK; b++) {
                data[(i - first) * CHUNK + b] = ch[b];
            }
        }
        r.chunks = data;
        r.proof = multi(c.tree, idx);
    }

    /// @notice A range that opens nothing.
    function none() internal pure returns (ChunkRange memory r) {
        r.chunks = new bytes(0);
        r.proof = new bytes32[](0);
    }
}
