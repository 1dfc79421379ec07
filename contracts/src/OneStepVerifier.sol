// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Commitments} from "./lib/Commitments.sol";
import {StepSpec, Spec} from "./lib/StepSpec.sol";
import {ChunkRange, ChunkRanges} from "./lib/ChunkRange.sol";

/// @title OneStepVerifier
/// @notice Recomputes one block of one output element of one step from chunk ranges
///         of its inputs and weights, bit for bit as docs/semantics.md defines every
///         op and cuts every reduction into blocks ("Reductions: blocks, folds and
///         finishes"); the Rust twin is crates/core/src/reference.rs.
///
///         Operands are read straight from the ranges' chunks in calldata, 32 bytes
///         per `calldataload`, never through a search per element: a dot product
///         of two int8 runs costs about 23 gas a multiply-add (four multiplications
///         of eight byte lanes per word, see `_dotRuns`), and each operand's reads
///         are bounds-checked once per block, as one span of its range.
contract OneStepVerifier {
    using StepSpec for Spec;
    using StepSpec for uint256;

    /// @notice The block length constant of docs/semantics.md.
    uint256 public constant BLOCK = 512;

    /// @notice The number of ranges or input roots is not the spec's.
    error OpeningCount();
    /// @notice Range `which` (inputs first, then weights) does not rebuild its root.
    error OpeningRoot(uint256 which);
    /// @notice The op reads bytes of operand `which` that its range does not hold.
    error ReadOutsideRange(uint256 which);
    /// @notice The spec's shapes do not fit its op (what the model loader checks).
    error BadShapes(uint8 op);
    /// @notice A requantization multiplier or shift is out of range.
    error BadParams(uint8 op);
    /// @notice The op has no computation (`input`).
    error NotComputable(uint8 op);
    /// @notice The element is not below the output's element count.
    error OutOfRange();
    /// @notice The block is not below the element's number of blocks.
    error BadBlock(uint256 block_, uint256 blocks);
    /// @notice The state before the block does not have the op's length (none
    ///         before block 0).
    error BadState();

    /// @dev Where one operand's bytes are read from: the calldata offset of its
    ///      range's chunks, the tensor byte positions `[lo, hi)` they hold, and the
    ///      operand's number for errors.
    struct Src {
        uint256 base;
        uint256 lo;
        uint256 hi;
        uint256 id;
    }

    /// @notice Most entries of a softmax's exponential table.
    uint256 public constant SOFTMAX_TABLE = 256;
    /// @notice The bytes one term of a softmax reads, times its block length, at most.
    uint256 public constant SOFTMAX_BYTES = 256;

    /// @notice The bound on a layer norm's row, `N·zmax <= 2^28`.
    uint256 public constant LAYERNORM_ROW = 2 ** 28;

    /// @dev −2^63, the `init` of every running maximum.
    int256 private constant MIN_I64 = -(2 ** 63);

    // ---------------------------------------------------------------- blocks

    /// @notice The number of blocks `n` of every element of step `spec` (1 for an op
    ///         that does not reduce). Reverts on a malformed spec or shapes that do
    ///         not fit the op.
    function blocks(bytes calldata spec) external pure returns (uint256) {
        return _blocks(StepSpec.read(spec));
    }

    /// @dev `max(1, ceil(terms / per))`.
    function _ceil(uint256 terms, uint256 per) private pure returns (uint256) {
        return terms <= per ? 1 : (terms + per - 1) / per;
    }

    /// @dev Channels per `conv2d` block: `G = max(1, floor(512 / max(H·W, KH·KW,
    ///      2·KH)))`, as many as keep a block within 512 bytes of input planes, 512
    ///      taps and 256 window rows (each row is a run of its own, so rows are what
    ///      a block of short rows pays for).
    function _convG(uint256 xt, uint256 wt) private pure returns (uint256) {
        uint256 plane = xt.dim(1) * xt.dim(2);
        uint256 kh = wt.dim(2);
        uint256 taps = kh * wt.dim(3);
        uint256 m = plane > taps ? plane : taps;
        if (2 * kh > m) m = 2 * kh;
        return m == 0 ? BLOCK : (m >= BLOCK ? 1 : BLOCK / m);
    }

    /// @dev Window rows per pooling block: `G = max(1, floor(512 / max(W, KW, 2)))`,
    ///      as many as keep a block within 512 elements and 256 rows.
    function _poolG(uint256 w, uint256 kw) private pure returns (uint256) {
        uint256 m = w > kw ? w : kw;
        if (m < 2) m = 2;
        return m >= BLOCK ? 1 : BLOCK / m;
    }

    /// @dev Checks the spec's shapes against its op (counts of inputs and weights,
    ///      dtypes, ranks, and the dimensions the op's formulas tie together) and
    ///      returns its number of blocks.
    function _blocks(Spec s) private pure returns (uint256) {
        uint8 op = s.opCode();
        uint256 out = s.outType();
        uint256 nIn = s.inputCount();
        uint256 nW = s.weightCount();
        if (op == StepSpec.OP_INPUT) {
            _require(op, nIn == 0 && nW == 0);
            return 1;
        }
        _require(op, nIn >= 1);
        (, uint256 xt) = s.input(0);
        if (op == StepSpec.OP_LINEAR) {
            _require(op, nIn == 1 && nW == 2);
            (uint256 wt,) = s.weight(0);
            (uint256 qt,) = s.weight(1);
            uint256 r = xt.rank();
            _require(op, _i8(xt) && r >= 1 && _i8(wt) && wt.rank() == 2 && _i32(qt) && qt.rank() == 2);
            uint256 k = wt.dim(1);
            uint256 n = wt.dim(0);
            _require(op, qt.dim(0) == n && qt.dim(1) == 3 && xt.dim(r - 1) == k);
            _require(op, _i8(out) && out.rank() == r && out.dim(r - 1) == n);
            for (uint256 i = 0; i + 1 < r; i++) {
                _require(op, out.dim(i) == xt.dim(i));
            }
            return _ceil(k, BLOCK);
        }
        if (op == StepSpec.OP_CONV2D) {
            _require(op, nIn == 1 && nW == 2);
            (uint256 wt,) = s.weight(0);
            (uint256 qt,) = s.weight(1);
            _require(op, _i8(xt) && xt.rank() == 3 && _i8(wt) && wt.rank() == 4 && _i32(qt) && qt.rank() == 2);
            uint256 o = wt.dim(0);
            _require(op, wt.dim(1) == xt.dim(0) && qt.dim(0) == o && qt.dim(1) == 3);
            _require(op, _i8(out) && out.rank() == 3 && out.dim(0) == o);
            _requireWindow(op, out, xt, wt.dim(2), wt.dim(3), s.param(0), s.param(1), s.param(2), s.param(3));
            return _ceil(xt.dim(0), _convG(xt, wt));
        }
        if (op == StepSpec.OP_MAXPOOL2D || op == StepSpec.OP_AVGPOOL2D) {
            _require(op, nIn == 1 && nW == 0);
            _require(op, _i8(xt) && xt.rank() == 3 && _i8(out) && out.rank() == 3 && out.dim(0) == xt.dim(0));
            uint256 kh = uint256(s.param(0));
            uint256 kw = uint256(s.param(1));
            bool isMax = op == StepSpec.OP_MAXPOOL2D;
            _requireWindow(op, out, xt, kh, kw, s.param(2), s.param(3), isMax ? s.param(4) : int256(0), isMax ? s.param(5) : int256(0));
            return _ceil(kh, _poolG(xt.dim(2), kw));
        }
        if (op == StepSpec.OP_MATMUL) {
            // a [..., M, K] by b [..., K, N] ([..., N, K] transposed): [..., M, N]
            _require(op, nIn == 2 && nW == 0);
            (, uint256 bt) = s.input(1);
            uint256 r = xt.rank();
            _require(op, _i8(xt) && _i8(bt) && _i8(out) && r >= 2 && bt.rank() == r && out.rank() == r);
            for (uint256 i = 0; i + 2 < r; i++) {
                _require(op, bt.dim(i) == xt.dim(i) && out.dim(i) == xt.dim(i));
            }
            bool tb = s.param(0) == 1;
            uint256 k = xt.dim(r - 1);
            uint256 n = tb ? bt.dim(r - 2) : bt.dim(r - 1);
            _require(op, (tb ? bt.dim(r - 1) : bt.dim(r - 2)) == k && out.dim(r - 2) == xt.dim(r - 2) && out.dim(r - 1) == n);
            return _ceil(k, _matmulB(tb, n));
        }
        if (op == StepSpec.OP_ARGMAX) {
            _require(op, nIn == 1 && nW == 0);
            uint256 r = xt.rank();
            _require(op, _i8(xt) && r >= 1 && _i32(out) && out.rank() == r - 1);
            for (uint256 i = 0; i + 1 < r; i++) {
                _require(op, out.dim(i) == xt.dim(i));
            }
            return _ceil(xt.dim(r - 1), BLOCK);
        }
        if (op == StepSpec.OP_SOFTMAX) {
            // x int8 or int32 [..., N] (with a mask, ids int32 [N]), E int32 [L],
            // L <= 256: int8 [..., N]; two phases of whole blocks
            bool masked = s.param(0) == 1;
            _require(op, nIn == (masked ? 2 : 1) && nW == 1);
            (uint256 tt,) = s.weight(0);
            uint256 r = xt.rank();
            _require(op, (_i8(xt) || _i32(xt)) && r >= 1 && _i8(out) && out.rank() == r);
            _require(op, _i32(tt) && tt.rank() == 1 && tt.dim(0) <= SOFTMAX_TABLE);
            for (uint256 i = 0; i < r; i++) {
                _require(op, out.dim(i) == xt.dim(i));
            }
            uint256 n = xt.dim(r - 1);
            if (masked) {
                (, uint256 it) = s.input(1);
                _require(op, _i32(it) && it.rank() == 1 && it.dim(0) == n);
            }
            return 2 * _ceil(n, _softmaxB(xt, masked));
        }
        if (op == StepSpec.OP_LAYERNORM) {
            // x int8 or int32 [..., N], Q int32 [N, 2] (rows gamma, beta), the row
            // bound N·zmax <= 2^28: int8 [..., N]; one pass of blocks of 512 / w
            _require(op, nIn == 1 && nW == 1);
            (uint256 qt,) = s.weight(0);
            uint256 r = xt.rank();
            _require(op, (_i8(xt) || _i32(xt)) && r >= 1 && _i8(out) && out.rank() == r);
            for (uint256 i = 0; i < r; i++) {
                _require(op, out.dim(i) == xt.dim(i));
            }
            uint256 n = xt.dim(r - 1);
            _require(op, _i32(qt) && qt.rank() == 2 && qt.dim(0) == n && qt.dim(1) == 2);
            _require(op, n * _zmax(xt, s.param(0)) <= LAYERNORM_ROW);
            return _ceil(n, BLOCK / xt.elemSize());
        }
        if (op == StepSpec.OP_RELU) {
            _require(op, nIn == 1 && nW == 0 && _i8(xt) && StepSpec.sameType(xt, out));
        } else if (op == StepSpec.OP_ADD) {
            _require(op, nIn == 2 && nW == 0 && _i8(out));
            (, uint256 bt) = s.input(1);
            _require(op, StepSpec.sameType(xt, out) && StepSpec.sameType(bt, out));
        } else if (op == StepSpec.OP_RESIDUAL) {
            // a, b int8 or int32 of one shape: int32 of that shape
            _require(op, nIn == 2 && nW == 0 && _i32(out) && (_i8(xt) || _i32(xt)));
            (, uint256 bt) = s.input(1);
            _require(op, _i8(bt) || _i32(bt));
            uint256 r = out.rank();
            _require(op, xt.rank() == r && bt.rank() == r);
            for (uint256 i = 0; i < r; i++) {
                _require(op, xt.dim(i) == out.dim(i) && bt.dim(i) == out.dim(i));
            }
        } else if (op == StepSpec.OP_LUT) {
            _require(op, nIn == 1 && nW == 1 && _i8(xt) && StepSpec.sameType(xt, out));
            (uint256 tt,) = s.weight(0);
            _require(op, _i8(tt) && tt.rank() == 1 && tt.dim(0) == 256);
        } else if (op == StepSpec.OP_RESHAPE) {
            _require(op, nIn == 1 && nW == 0 && xt.dtype() == out.dtype() && xt.numel() == out.numel());
        } else if (op == StepSpec.OP_EMBEDDING) {
            // ids int32 [...], table int8 [V, D]: int8 [..., D]
            _require(op, nIn == 1 && nW == 1 && _i32(xt) && _i8(out));
            (uint256 tt,) = s.weight(0);
            uint256 r = xt.rank();
            _require(op, _i8(tt) && tt.rank() == 2 && out.rank() == r + 1 && out.dim(r) == tt.dim(1));
            for (uint256 i = 0; i < r; i++) {
                _require(op, out.dim(i) == xt.dim(i));
            }
        } else if (op == StepSpec.OP_PERMUTE) {
            // out.dim(k) = x.dim(perm[k]); the spec's reader checked the permutation
            uint256 r = xt.rank();
            _require(op, nIn == 1 && nW == 0 && xt.dtype() == out.dtype() && out.rank() == r && s.paramCount() == r);
            for (uint256 k = 0; k < r; k++) {
                _require(op, out.dim(k) == xt.dim(uint256(s.param(k))));
            }
        } else {
            _require(op, false);
        }
        return 1;
    }

    /// @dev The output plane of a window op is `floor((H + 2·pad − K) / stride) + 1`
    ///      by `floor((W + 2·pad − K) / stride) + 1`, with the padded plane at least
    ///      one window high and wide.
    function _requireWindow(uint8 op, uint256 out, uint256 xt, uint256 kh, uint256 kw, int256 sh, int256 sw, int256 ph, int256 pw) private pure {
        uint256 hp = xt.dim(1) + 2 * uint256(ph);
        uint256 wp = xt.dim(2) + 2 * uint256(pw);
        _require(op, hp >= kh && wp >= kw);
        _require(op, out.dim(1) == (hp - kh) / uint256(sh) + 1 && out.dim(2) == (wp - kw) / uint256(sw) + 1);
    }

    /// @dev matmul's block length: 512, or `max(1, floor(512 / N))` when b is not
    ///      transposed (its terms are N bytes apart).
    function _matmulB(bool transposed, uint256 n) private pure returns (uint256) {
        if (transposed || n <= 1) return BLOCK;
        return n >= BLOCK ? 1 : BLOCK / n;
    }

    /// @dev softmax's block length: `floor(256 / w)`, `w` the bytes one term reads
    ///      (x's element, and 4 of ids with a mask): a block also reads the whole
    ///      table (up to 1 KiB), so its own reads are kept to 256 bytes of each.
    function _softmaxB(uint256 xt, bool masked) private pure returns (uint256) {
        return SOFTMAX_BYTES / (xt.elemSize() + (masked ? 4 : 0));
    }

    /// @dev `zmax = 2^max(8w − 1 − pre, 0)`: the largest `|x >> pre|` of x's dtype.
    function _zmax(uint256 xt, int256 pre) private pure returns (uint256) {
        int256 e = int256(8 * xt.elemSize()) - 1 - pre;
        return e > 0 ? uint256(1) << uint256(e) : 1;
    }

    function _require(uint8 op, bool ok) private pure {
        if (!ok) revert BadShapes(op);
    }

    function _i8(uint256 t) private pure returns (bool) {
        return StepSpec.dtype(t) == Commitments.DTYPE_I8;
    }

    function _i32(uint256 t) private pure returns (bool) {
        return StepSpec.dtype(t) == Commitments.DTYPE_I32;
    }

    // -------------------------------------------------------------- evaluate

    /// @notice Folds block `block_` of output element `element` of step `spec`
    ///         from the state `prevState` (empty before block 0, whose state is the
    ///         op's `init`; otherwise the op's state, 32 bytes per field), after
    ///         checking every non-empty range against its data root (inputs:
    ///         `inputRoots`, weights: the roots in the spec).
    /// @return last Whether `block_` is the element's last block.
    /// @return value The element (the finish of the last state) when `last`, else 0.
    /// @return leaf The element leaf `keccak256(0x09 ‖ value)` when `last`, else the
    ///         checkpoint leaf `keccak256(0x07 ‖ state)` of the state after the block.
    function evaluate(
        bytes calldata spec,
        uint256 element,
        uint256 block_,
        bytes calldata prevState,
        bytes32[] calldata inputRoots,
        ChunkRange[] calldata inputs,
        ChunkRange[] calldata weights
    ) external pure returns (bool last, int256 value, bytes32 leaf) {
        Spec s = StepSpec.read(spec);
        uint256 n = _blocks(s);
        if (block_ >= n) revert BadBlock(block_, n);
        last = block_ == n - 1;
        uint8 op = s.opCode();
        uint256 words = (op == StepSpec.OP_SOFTMAX || op == StepSpec.OP_LAYERNORM) ? 3 : (op == StepSpec.OP_ARGMAX ? 2 : 1);
        if (prevState.length != (block_ == 0 ? 0 : 32 * words)) revert BadState();
        if (element >= s.outType().numel()) revert OutOfRange();
        (Src[] memory ins, Src[] memory ws) = _sources(s, inputRoots, inputs, weights);
        // the state before the block: `init`, or the given words
        int256 a;
        int256 b;
        int256 c;
        if (block_ == 0) {
            a = (op == StepSpec.OP_MAXPOOL2D || op == StepSpec.OP_ARGMAX || op == StepSpec.OP_SOFTMAX) ? MIN_I64 : int256(0);
        } else {
            assembly ("memory-safe") {
                a := calldataload(prevState.offset)
                if gt(prevState.length, 32) { b := calldataload(add(prevState.offset, 32)) }
                if gt(prevState.length, 64) { c := calldataload(add(prevState.offset, 64)) }
            }
        }
        if (op == StepSpec.OP_LINEAR) {
            (a, value) = _linear(s, element, block_, last, a, ins[0], ws[0], ws[1]);
        } else if (op == StepSpec.OP_CONV2D) {
            (a, value) = _conv(s, element, block_, last, a, ins[0], ws[0], ws[1]);
        } else if (op == StepSpec.OP_MAXPOOL2D || op == StepSpec.OP_AVGPOOL2D) {
            (a, value) = _pool(s, element, block_, last, a, ins[0]);
        } else if (op == StepSpec.OP_MATMUL) {
            a = _matmul(s, element, block_, a, ins[0], ins[1]);
            if (last) value = _requant(a, s.param(1), s.param(2), -128, op);
        } else if (op == StepSpec.OP_ARGMAX) {
            (a, b) = _argmax(s, element, block_, a, b, ins[0]);
            value = b;
        } else if (op == StepSpec.OP_SOFTMAX) {
            (a, b, c) = _softmax(s, element, block_, [a, b, c], ins, ws[0]);
            // acc <= 0 gives 0; else round half up of 128·mine / acc, at most 127
            if (last && b > 0) {
                value = (256 * c + b) / (2 * b);
                if (value > 127) value = 127;
            }
        } else if (op == StepSpec.OP_LAYERNORM) {
            (a, b, c) = _layernorm(s, element, block_, [a, b, c], ins[0]);
            if (last) value = _layernormFinish(s, element, [a, b, c], ws[0]);
        } else {
            value = _direct(s, element, ins, ws);
        }
        if (last) {
            leaf = Commitments.elementLeaf(value);
        } else {
            value = 0;
            leaf = words == 3 ? _stateLeaf3(a, b, c) : (words == 2 ? _stateLeaf2(a, b) : _stateLeaf1(a));
        }
    }

    function _stateLeaf1(int256 a) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0x07)
            mstore(add(p, 1), a)
            h := keccak256(p, 33)
        }
    }

    function _stateLeaf2(int256 a, int256 b) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0x07)
            mstore(add(p, 1), a)
            mstore(add(p, 33), b)
            h := keccak256(p, 65)
        }
    }

    function _stateLeaf3(int256 a, int256 b, int256 c) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0x07)
            mstore(add(p, 1), a)
            mstore(add(p, 33), b)
            mstore(add(p, 65), c)
            h := keccak256(p, 97)
        }
    }

    // --------------------------------------------------------------- sources

    /// @dev Checks every range with chunks against its root and notes where its
    ///      bytes are; an empty range holds nothing.
    function _sources(Spec s, bytes32[] calldata inputRoots, ChunkRange[] calldata inputs, ChunkRange[] calldata weights)
        private
        pure
        returns (Src[] memory ins, Src[] memory ws)
    {
        uint256 nIn = s.inputCount();
        uint256 nW = s.weightCount();
        if (inputs.length != nIn || inputRoots.length != nIn || weights.length != nW) revert OpeningCount();
        ins = new Src[](nIn);
        ws = new Src[](nW);
        for (uint256 j = 0; j < nIn; j++) {
            (, uint256 t) = s.input(j);
            ins[j] = _src(inputs[j], inputRoots[j], t.byteLen(), j);
        }
        for (uint256 k = 0; k < nW; k++) {
            (uint256 t, bytes32 root) = s.weight(k);
            ws[k] = _src(weights[k], root, t.byteLen(), nIn + k);
        }
    }

    function _src(ChunkRange calldata r, bytes32 root, uint256 len, uint256 id) private pure returns (Src memory x) {
        x.id = id;
        bytes calldata chunks = r.chunks;
        if (chunks.length == 0) return x;
        uint256 h = Commitments.height(Commitments.numChunks(len));
        if (ChunkRanges.root(r, h) != root) revert OpeningRoot(id);
        uint256 lo = r.first * Commitments.CHUNK;
        uint256 base;
        assembly ("memory-safe") {
            base := chunks.offset
        }
        x.base = base;
        x.lo = lo;
        x.hi = lo + chunks.length;
    }

    /// @dev The calldata offset of tensor bytes `[pos, pos + len)` of `x`; reverts
    ///      unless its range holds all of them (`len > 0`).
    function _at(Src memory x, uint256 pos, uint256 len) private pure returns (uint256) {
        uint256 lo = x.lo;
        if (pos < lo || pos - lo > x.hi - lo || len > x.hi - pos) revert ReadOutsideRange(x.id);
        return x.base + (pos - lo);
    }

    // ------------------------------------------------------------- word reads

    /// @dev Σ x[i]·w[i] over runs of two int8 tensors in calldata: `g[0]` groups
    ///      (channels) of `g[3]` runs (window rows) of `len` bytes; run (c, r) starts
    ///      at `xo + c·g[1] + r·rx` in x and `wo + c·g[2] + r·rw` in w, with
    ///      `g[4] = rx << 128 | rw`. The caller has checked that every run lies
    ///      inside its range.
    ///
    ///      The products are taken 32 bytes at a time: bytes are offset to unsigned
    ///      (`b + 128`, an xor with 0x80), w's word is byte-reversed, both are cut
    ///      into four sets of eight bytes in 32-bit lanes, and the product of set `k`
    ///      of x and set `3 − k` of w carries the sum of eight byte products in its
    ///      top lane (no lane sum reaches 2^32, so no carry crosses a lane). Bytes
    ///      that are not operands are zero in both words. The offsets are taken out
    ///      at the end: Σ x·w = Σ x'·w' − 128·(Σ x' + Σ w') + 16384·(terms), the byte
    ///      sums taken per word in 16-bit lanes. A run of 32 bytes or more is cut
    ///      into words; runs of 2 to 31 bytes are gathered, `floor(32 / len)` of
    ///      them into one word (w's with one load when its runs follow each
    ///      other); runs of one byte, and runs of 2 or 3 bytes whose w runs are
    ///      apart, go term by term (`sar(248, calldataload(p))` is the int8 at `p`). Channels whose runs are spaced as their rows (one
    ///      run each, or rows spaced as the channels are) are read as one group.
    function _dotRuns(uint256 xo, uint256 wo, uint256[5] memory g, uint256 len) private pure returns (int256 acc) {
        assembly ("memory-safe") {
            // Σ x'·w' and Σ (x' + w') of one pair of offset words
            function swar(x, w) -> p, t {
                t := shr(
                    240,
                    mul(
                        add(
                            add(
                                and(x, 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff),
                                and(shr(8, x), 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff)
                            ),
                            add(
                                and(w, 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff),
                                and(shr(8, w), 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff)
                            )
                        ),
                        0x0001000100010001000100010001000100010001000100010001000100010001
                    )
                )
                w := or(
                    and(shr(8, w), 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff),
                    and(shl(8, w), 0xff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00)
                )
                w := or(
                    and(shr(16, w), 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff),
                    and(shl(16, w), 0xffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000)
                )
                w := or(
                    and(shr(32, w), 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff),
                    and(shl(32, w), 0xffffffff00000000ffffffff00000000ffffffff00000000ffffffff00000000)
                )
                w := or(
                    and(shr(64, w), 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff),
                    and(shl(64, w), 0xffffffffffffffff0000000000000000ffffffffffffffff0000000000000000)
                )
                w := or(shr(128, w), shl(128, w))
                p := add(
                    add(
                        shr(
                            224,
                            mul(
                                and(x, 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff),
                                and(shr(24, w), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)
                            )
                        ),
                        shr(
                            224,
                            mul(
                                and(shr(8, x), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff),
                                and(shr(16, w), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)
                            )
                        )
                    ),
                    add(
                        shr(
                            224,
                            mul(
                                and(shr(16, x), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff),
                                and(shr(8, w), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)
                            )
                        ),
                        shr(
                            224,
                            mul(
                                and(shr(24, x), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff),
                                and(w, 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)
                            )
                        )
                    )
                )
            }
            // one run of n >= 32 bytes, word by word
            function long(x0, w0, n) -> p, t {
                for { let i := 0 } lt(i, n) { i := add(i, 32) } {
                    let x := xor(calldataload(add(x0, i)), 0x8080808080808080808080808080808080808080808080808080808080808080)
                    let w := xor(calldataload(add(w0, i)), 0x8080808080808080808080808080808080808080808080808080808080808080)
                    if lt(sub(n, i), 32) {
                        let keep := not(shr(shl(3, sub(n, i)), not(0)))
                        x := and(x, keep)
                        w := and(w, keep)
                    }
                    let pp, tt := swar(x, w)
                    p := add(p, pp)
                    t := add(t, tt)
                }
            }
            // nr runs of n < 32 bytes, per = floor(32 / n) of them gathered into a
            // word: each run's word is cut to its n bytes and or-ed in at the top
            // while the runs before it shift down, so the group is read from its
            // last run to its first; w's runs are one load when they follow each
            // other (rw = n), else gathered the same way. Four runs an iteration:
            // the loop's own cost is most of a short run's.
            function gathered(xr, wr, nr, rx, rw, n) -> p, t {
                let per := div(32, n)
                let n8 := shl(3, n)
                let keep := not(shr(n8, not(0)))
                let wOne := eq(rw, n)
                for { let r := 0 } lt(r, nr) {} {
                    let k := sub(nr, r)
                    if gt(k, per) { k := per }
                    let all := not(shr(shl(3, mul(k, n)), not(0)))
                    let xw := 0
                    let q := add(xr, mul(sub(k, 1), rx))
                    let j := k
                    for {} gt(j, 3) { j := sub(j, 4) } {
                        xw := or(shr(n8, xw), and(calldataload(q), keep))
                        xw := or(shr(n8, xw), and(calldataload(sub(q, rx)), keep))
                        xw := or(shr(n8, xw), and(calldataload(sub(q, shl(1, rx))), keep))
                        xw := or(shr(n8, xw), and(calldataload(sub(q, mul(3, rx))), keep))
                        q := sub(q, shl(2, rx))
                    }
                    for {} j { j := sub(j, 1) } {
                        xw := or(shr(n8, xw), and(calldataload(q), keep))
                        q := sub(q, rx)
                    }
                    xw := and(xor(xw, 0x8080808080808080808080808080808080808080808080808080808080808080), all)
                    let ww := 0
                    switch wOne
                    case 1 { ww := calldataload(wr) }
                    default {
                        q := add(wr, mul(sub(k, 1), rw))
                        j := k
                        for {} gt(j, 3) { j := sub(j, 4) } {
                            ww := or(shr(n8, ww), and(calldataload(q), keep))
                            ww := or(shr(n8, ww), and(calldataload(sub(q, rw)), keep))
                            ww := or(shr(n8, ww), and(calldataload(sub(q, shl(1, rw))), keep))
                            ww := or(shr(n8, ww), and(calldataload(sub(q, mul(3, rw))), keep))
                            q := sub(q, shl(2, rw))
                        }
                        for {} j { j := sub(j, 1) } {
                            ww := or(shr(n8, ww), and(calldataload(q), keep))
                            q := sub(q, rw)
                        }
                    }
                    ww := and(xor(ww, 0x8080808080808080808080808080808080808080808080808080808080808080), all)
                    let pp, tt := swar(xw, ww)
                    p := add(p, pp)
                    t := add(t, tt)
                    xr := add(xr, mul(k, rx))
                    wr := add(wr, mul(k, rw))
                    r := add(r, k)
                }
            }
            // runs of 2 or 3 bytes whose w runs are apart (a kernel row cut by the
            // plane's edge): term by term, one load of each a run
            // (counted by runs: a single run has no stride, rx = rw = 0)
            function short(xr, wr, nr, rx, rw, n) -> a {
                switch n
                case 2 {
                    for { let r := 0 } lt(r, nr) {
                        r := add(r, 1)
                        xr := add(xr, rx)
                        wr := add(wr, rw)
                    } {
                        let x := calldataload(xr)
                        let w := calldataload(wr)
                        a := add(a, add(mul(sar(248, x), sar(248, w)), mul(sar(248, shl(8, x)), sar(248, shl(8, w)))))
                    }
                }
                default {
                    for { let r := 0 } lt(r, nr) {
                        r := add(r, 1)
                        xr := add(xr, rx)
                        wr := add(wr, rw)
                    } {
                        let x := calldataload(xr)
                        let w := calldataload(wr)
                        a := add(
                            a,
                            add(
                                add(mul(sar(248, x), sar(248, w)), mul(sar(248, shl(8, x)), sar(248, shl(8, w)))),
                                mul(sar(248, shl(16, x)), sar(248, shl(16, w)))
                            )
                        )
                    }
                }
            }
            // runs of one byte, four at a time, term by term
            function ones(xr, wr, nr, rx, rw) -> a {
                let r := 0
                for {} lt(add(r, 3), nr) { r := add(r, 4) } {
                    a := add(
                        a,
                        add(
                            add(
                                mul(sar(248, calldataload(xr)), sar(248, calldataload(wr))),
                                mul(sar(248, calldataload(add(xr, rx))), sar(248, calldataload(add(wr, rw))))
                            ),
                            add(
                                mul(sar(248, calldataload(add(xr, shl(1, rx)))), sar(248, calldataload(add(wr, shl(1, rw))))),
                                mul(sar(248, calldataload(add(xr, mul(3, rx)))), sar(248, calldataload(add(wr, mul(3, rw)))))
                            )
                        )
                    )
                    xr := add(xr, shl(2, rx))
                    wr := add(wr, shl(2, rw))
                }
                for {} lt(r, nr) { r := add(r, 1) } {
                    a := add(a, mul(sar(248, calldataload(xr)), sar(248, calldataload(wr))))
                    xr := add(xr, rx)
                    wr := add(wr, rw)
                }
            }
            let nc := mload(g)
            let nr := mload(add(g, 96))
            let rx := shr(128, mload(add(g, 128)))
            let rw := and(mload(add(g, 128)), 0xffffffffffffffffffffffffffffffff)
            let cx := mload(add(g, 32))
            let cw := mload(add(g, 64))
            // channels whose runs continue the previous channel's at the same
            // strides (one run each, or rows spaced as the channels are) are one
            // group of nc·nr runs: a block of many small channels is then one loop
            if gt(nc, 1) {
                switch nr
                case 1 {
                    rx := cx
                    rw := cw
                    nr := nc
                    nc := 1
                }
                default {
                    if and(eq(cx, mul(nr, rx)), eq(cw, mul(nr, rw))) {
                        nr := mul(nr, nc)
                        nc := 1
                    }
                }
            }
            // the paths, by what measured cheapest: term by term for one-byte runs
            // and for runs of 2 or 3 bytes whose w runs are apart, gathered words
            // for the other runs under 32 bytes, words for long runs
            let path := 3
            if lt(len, 32) {
                path := 2
                if lt(len, 4) { if iszero(eq(rw, len)) { path := 1 } }
                if eq(len, 1) { path := 0 }
            }
            let p := 0
            let t := 0
            for { let c := 0 } lt(c, nc) { c := add(c, 1) } {
                let xr := add(xo, mul(c, cx))
                let wr := add(wo, mul(c, cw))
                switch path
                case 0 { acc := add(acc, ones(xr, wr, nr, rx, rw)) }
                case 1 { acc := add(acc, short(xr, wr, nr, rx, rw, len)) }
                case 2 {
                    let pp, tt := gathered(xr, wr, nr, rx, rw, len)
                    p := add(p, pp)
                    t := add(t, tt)
                }
                default {
                    for { let r := 0 } lt(r, nr) { r := add(r, 1) } {
                        let pp, tt := long(xr, wr, len)
                        p := add(p, pp)
                        t := add(t, tt)
                        xr := add(xr, rx)
                        wr := add(wr, rw)
                    }
                }
            }
            // the word paths' offsets out (their terms are nc·nr·len)
            if gt(path, 1) { acc := add(acc, sub(add(p, shl(14, mul(mul(nc, nr), len))), shl(7, t))) }
        }
    }

    /// @dev Σ x[i] over `nr` int8 runs of `len` bytes at calldata offsets `xo + r·rx`:
    ///      bytes offset to unsigned, summed in 16-bit lanes, the lanes summed by one
    ///      multiplication per word.
    function _sumRuns(uint256 xo, uint256 nr, uint256 rx, uint256 len) private pure returns (int256 acc) {
        assembly ("memory-safe") {
            let lanes := 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff
            let total := 0
            for { let r := 0 } lt(r, nr) { r := add(r, 1) } {
                let at := add(xo, mul(r, rx))
                for { let i := 0 } lt(i, len) { i := add(i, 32) } {
                    let x := xor(calldataload(add(at, i)), 0x8080808080808080808080808080808080808080808080808080808080808080)
                    if lt(sub(len, i), 32) { x := and(x, not(shr(shl(3, sub(len, i)), not(0)))) }
                    let pairs := add(and(x, lanes), and(shr(8, x), lanes))
                    total := add(total, shr(240, mul(pairs, 0x0001000100010001000100010001000100010001000100010001000100010001)))
                }
            }
            acc := sub(total, shl(7, mul(nr, len)))
        }
    }

    /// @dev max(best, every x[i]) over `nr` int8 runs of `len` bytes at calldata
    ///      offsets `xo + r·rx`.
    function _maxRuns(uint256 xo, uint256 nr, uint256 rx, uint256 len, int256 best) private pure returns (int256 m) {
        assembly ("memory-safe") {
            m := best
            for { let r := 0 } lt(r, nr) { r := add(r, 1) } {
                let at := add(xo, mul(r, rx))
                for { let i := 0 } lt(i, len) { i := add(i, 1) } {
                    let v := sar(248, calldataload(add(at, i)))
                    if sgt(v, m) { m := v }
                }
            }
        }
    }

    function _readI8(uint256 cd) private pure returns (int256 v) {
        assembly ("memory-safe") {
            v := signextend(0, byte(0, calldataload(cd)))
        }
    }

    function _readI32(uint256 cd) private pure returns (int256 v) {
        assembly ("memory-safe") {
            v := signextend(3, shr(224, calldataload(cd)))
        }
    }

    /// @dev `clamp((acc·m + 2^(s-1)) >> s, lo, 127)`, exact.
    function _requant(int256 acc, int256 m, int256 s, int256 lo, uint8 op) private pure returns (int256 y) {
        if (s < 1 || s > 62 || m < 0) revert BadParams(op);
        uint256 sh = uint256(s);
        y = (acc * m + int256(uint256(1) << (sh - 1))) >> sh;
        if (y < lo) y = lo;
        if (y > 127) y = 127;
    }

    function _lower(int256 relu) private pure returns (int256) {
        return relu == 1 ? int256(0) : int256(-128);
    }

    /// @dev `requant(Q[row,0] + acc, Q[row,1], Q[row,2], lo)`: the finish of linear
    ///      and conv2d, reading the 12 bytes of row `row` of `Q`.
    function _finishQ(int256 acc, Src memory q, uint256 row, int256 lo, uint8 op) private pure returns (int256) {
        uint256 o = _at(q, 12 * row, 12);
        return _requant(_readI32(o) + acc, _readI32(o + 4), _readI32(o + 8), lo, op);
    }

    // -------------------------------------------------------------- the ops

    /// @dev linear, block `b`: `acc += Σ x[p, k]·W[n, k]` for `512b ≤ k < 512(b+1)`.
    function _linear(Spec s, uint256 e, uint256 b, bool last, int256 acc, Src memory x, Src memory w, Src memory q)
        private
        pure
        returns (int256, int256 value)
    {
        (uint256 wt,) = s.weight(0);
        uint256 n = wt.dim(0);
        uint256 k = wt.dim(1);
        uint256 row = e / n;
        uint256 col = e % n;
        uint256 k0 = b * BLOCK;
        uint256 len = k - k0 < BLOCK ? k - k0 : BLOCK;
        if (len != 0) acc += _dotRuns(_at(x, row * k + k0, len), _at(w, col * k + k0, len), [uint256(1), 0, 0, 1, 0], len);
        if (last) value = _finishQ(acc, q, col, _lower(s.param(0)), StepSpec.OP_LINEAR);
        return (acc, value);
    }

    /// @dev matmul, block `b`: `acc += Σ a[p, i, k]·b[p, k, j]` over the block's `k`;
    ///      a's terms are one run, b's one run when transposed, else `N` bytes apart.
    function _matmul(Spec s, uint256 e, uint256 b, int256 acc, Src memory x, Src memory y) private pure returns (int256) {
        (, uint256 at) = s.input(0);
        uint256 out = s.outType();
        uint256 r = at.rank();
        uint256 m = out.dim(r - 2);
        uint256 n = out.dim(r - 1);
        uint256 k = at.dim(r - 1);
        bool tb = s.param(0) == 1;
        uint256 per = _matmulB(tb, n);
        uint256 k0 = b * per;
        uint256 len = k - k0 < per ? k - k0 : per;
        uint256 p = e / (m * n);
        uint256 xo = _at(x, (e / n) * k + k0, len);
        if (tb) {
            return acc + _dotRuns(xo, _at(y, (p * n + e % n) * k + k0, len), [uint256(1), 0, 0, 1, 0], len);
        }
        uint256 yo = _at(y, (p * k + k0) * n + e % n, (len - 1) * n + 1);
        return acc + _dotRuns(xo, yo, [uint256(1), 0, 0, len, (uint256(1) << 128) | n], 1);
    }

    /// @dev The rows `[u0, u1)` and columns `[v0, v1)` of a `kh` × `kw` window whose
    ///      top-left corner is at (`top`, `left`) of an `h` × `w` plane that lie
    ///      inside the plane (empty when `u1 <= u0` or `v1 <= v0`).
    function _inside(int256 top, int256 left, uint256 kh, uint256 kw, uint256 h, uint256 w)
        private
        pure
        returns (uint256 u0, uint256 u1, uint256 v0, uint256 v1)
    {
        u0 = top < 0 ? uint256(-top) : 0;
        u1 = int256(h) - top < int256(kh) ? (int256(h) > top ? uint256(int256(h) - top) : 0) : kh;
        v0 = left < 0 ? uint256(-left) : 0;
        v1 = int256(w) - left < int256(kw) ? (int256(w) > left ? uint256(int256(w) - left) : 0) : kw;
    }

    /// @dev Output coordinates (channel, row, column) of element `e` of `[C, OH, OW]`.
    function _coords(uint256 out, uint256 e) private pure returns (uint256 c, uint256 i, uint256 j) {
        uint256 oh = out.dim(1);
        uint256 ow = out.dim(2);
        c = e / (oh * ow);
        i = (e / ow) % oh;
        j = e % ow;
    }

    /// @dev conv2d, block `b`: channels `bG ≤ c < min((b+1)G, C)`, each window row
    ///      inside the plane one dot product of its `x` run and its `W` run.
    function _conv(Spec s, uint256 e, uint256 b, bool last, int256 acc, Src memory x, Src memory w, Src memory q)
        private
        pure
        returns (int256, int256 value)
    {
        (uint256 o, int256 sum) = _convSum(s, e, b, x, w);
        acc += sum;
        if (last) value = _finishQ(acc, q, o, _lower(s.param(4)), StepSpec.OP_CONV2D);
        return (acc, value);
    }

    /// @dev The terms of block `b` of conv2d element `e`, summed; and its output
    ///      channel.
    function _convSum(Spec s, uint256 e, uint256 b, Src memory x, Src memory w) private pure returns (uint256 o, int256 sum) {
        (, uint256 xt) = s.input(0);
        (uint256 wt,) = s.weight(0);
        uint256 i;
        uint256 j;
        (o, i, j) = _coords(s.outType(), e);
        // C, H, W, KH, KW, o, first and end channel of the block, plane row and
        // column of the window's corner (possibly negative, two's complement)
        uint256[10] memory g;
        (g[0], g[1], g[2], g[3], g[4], g[5]) = (xt.dim(0), xt.dim(1), xt.dim(2), wt.dim(2), wt.dim(3), o);
        uint256 per = _convG(xt, wt);
        g[6] = b * per;
        g[7] = g[6] + per < g[0] ? g[6] + per : g[0];
        int256 top = int256(i) * s.param(0) - s.param(2);
        int256 left = int256(j) * s.param(1) - s.param(3);
        (g[8], g[9]) = (uint256(top), uint256(left));
        (uint256 u0, uint256 u1, uint256 v0, uint256 v1) = _inside(top, left, g[3], g[4], g[1], g[2]);
        if (u1 > u0 && v1 > v0 && g[7] > g[6]) sum = _convRuns(g, u0, u1, v0, v1, x, w);
    }

    /// @dev The dot product of the runs of a conv2d block (`g` as in `_convSum`):
    ///      channels `g[6] … g[7]-1`, window rows `u0 … u1-1`, columns `v0 … v1-1`;
    ///      where the rows (then the channels) are contiguous in both tensors they
    ///      are one run. The first run's start and the last run's end in each tensor
    ///      must lie in its range, which then holds every run between.
    function _convRuns(uint256[10] memory g, uint256 u0, uint256 u1, uint256 v0, uint256 v1, Src memory x, Src memory w)
        private
        pure
        returns (int256)
    {
        uint256 len = v1 - v0;
        uint256[5] memory runs = [g[7] - g[6], g[1] * g[2], g[3] * g[4], u1 - u0, (g[2] << 128) | g[4]];
        if (len == g[2] && len == g[4]) (len, runs[3]) = (len * runs[3], 1);
        if (runs[3] == 1 && len == runs[1] && len == runs[2]) (len, runs[0]) = (len * runs[0], 1);
        // plane position of the first run: row top + u0, column left + v0 (both >= 0)
        uint256 xp = g[6] * runs[1] + uint256(int256(g[8]) + int256(u0)) * g[2] + uint256(int256(g[9]) + int256(v0));
        uint256 wp = ((g[5] * g[0] + g[6]) * g[3] + u0) * g[4] + v0;
        uint256 xSpan = (runs[0] - 1) * runs[1] + (runs[3] - 1) * g[2] + len;
        uint256 wSpan = (runs[0] - 1) * runs[2] + (runs[3] - 1) * g[4] + len;
        return _dotRuns(_at(x, xp, xSpan), _at(w, wp, wSpan), runs, len);
    }

    /// @dev maxpool2d and avgpool2d, block `b`: window rows `bG ≤ u < min((b+1)G,
    ///      KH)` inside the plane, each one run of `x`.
    function _pool(Spec s, uint256 e, uint256 b, bool last, int256 acc, Src memory x) private pure returns (int256, int256 value) {
        bool isMax = s.opCode() == StepSpec.OP_MAXPOOL2D;
        (, uint256 xt) = s.input(0);
        (uint256 c, uint256 i, uint256 j) = _coords(s.outType(), e);
        uint256 h = xt.dim(1);
        uint256 w = xt.dim(2);
        uint256 kh = uint256(s.param(0));
        uint256 kw = uint256(s.param(1));
        int256 ph = isMax ? s.param(4) : int256(0);
        int256 pw = isMax ? s.param(5) : int256(0);
        int256 top = int256(i) * s.param(2) - ph;
        (uint256 u0, uint256 u1, uint256 v0, uint256 v1) = _inside(top, int256(j) * s.param(3) - pw, kh, kw, h, w);
        uint256 per = _poolG(w, kw);
        uint256 r0 = b * per;
        uint256 r1 = r0 + per < kh ? r0 + per : kh;
        if (r0 < u0) r0 = u0;
        if (r1 > u1) r1 = u1;
        if (r1 > r0 && v1 > v0) {
            uint256 len = v1 - v0;
            uint256 xp = (c * h + uint256(top + int256(r0))) * w + uint256(int256(j) * s.param(3) - pw + int256(v0));
            uint256 at = _at(x, xp, (r1 - r0 - 1) * w + len);
            acc = isMax ? _maxRuns(at, r1 - r0, w, len, acc) : acc + _sumRuns(at, r1 - r0, w, len);
        }
        if (last) value = isMax ? acc : _requant(acc, s.param(4), s.param(5), -128, StepSpec.OP_AVGPOOL2D);
        return (acc, value);
    }

    /// @dev argmax, block `b`: `if x[p, t] > best: (best, index) = (x[p, t], t)` for
    ///      `512b ≤ t < 512(b+1)`; the finish is `index`.
    function _argmax(Spec s, uint256 e, uint256 b, int256 best, int256 index, Src memory x) private pure returns (int256, int256) {
        (, uint256 xt) = s.input(0);
        uint256 n = xt.lastDim();
        uint256 t0 = b * BLOCK;
        uint256 len = n - t0 < BLOCK ? n - t0 : BLOCK;
        if (len != 0) {
            uint256 at = _at(x, e * n + t0, len);
            assembly ("memory-safe") {
                for { let t := 0 } lt(t, len) { t := add(t, 1) } {
                    let v := sar(248, calldataload(add(at, t)))
                    if sgt(v, best) {
                        best := v
                        index := add(t0, t)
                    }
                }
            }
        }
        return (best, index);
    }

    /// @dev softmax, block `b` of element `e` from the state `st` = (best, acc, mine):
    ///      a block of the first phase folds `best = max(best, x[p, t])` over its
    ///      kept `t`; one of the second phase `acc += e(t)`, `e(t) = E[best − x[p, t]]`
    ///      for a kept `t` with `0 <= best − x[p, t] < L` (else 0), and `mine = e(j)`
    ///      at the element's own `j`. The second phase reads the whole table (what
    ///      the prover opens), x and the ids as one run each.
    function _softmax(Spec s, uint256 e, uint256 b, int256[3] memory st, Src[] memory ins, Src memory t)
        private
        pure
        returns (int256, int256, int256)
    {
        (, uint256 xt) = s.input(0);
        bool masked = s.param(0) == 1;
        // n, element size, block length, blocks per phase, first term, terms, row start, j
        uint256[8] memory g;
        g[0] = xt.lastDim();
        g[1] = xt.elemSize();
        g[2] = _softmaxB(xt, masked);
        g[3] = _ceil(g[0], g[2]);
        bool second = b >= g[3];
        g[4] = (second ? b - g[3] : b) * g[2];
        g[5] = g[0] - g[4] < g[2] ? g[0] - g[4] : g[2];
        g[6] = e - e % g[0];
        g[7] = e % g[0];
        uint256 xo = _at(ins[0], (g[6] + g[4]) * g[1], g[5] * g[1]);
        uint256 io = masked ? _at(ins[1], 4 * g[4], 4 * g[5]) : 0;
        int256 pad = s.param(1);
        uint256 to;
        uint256 len;
        if (second) {
            (uint256 tt,) = s.weight(0);
            len = tt.dim(0);
            to = _at(t, 0, 4 * len);
        }
        assembly ("memory-safe") {
            let n := mload(add(g, 0xa0))
            let sz := mload(add(g, 0x20))
            // x's element at i: the top byte (int8) or the top 4 bytes (int32) of a word
            let sh := sub(256, shl(3, sz))
            switch second
            case 0 {
                let best := mload(st)
                for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                    let x := sar(sh, calldataload(add(xo, mul(i, sz))))
                    let kept := 1
                    if masked { kept := iszero(eq(sar(224, calldataload(add(io, shl(2, i)))), pad)) }
                    if and(kept, sgt(x, best)) { best := x }
                }
                mstore(st, best)
            }
            default {
                let best := mload(st)
                let acc := mload(add(st, 0x20))
                let mine := mload(add(st, 0x40))
                // the element's own position in this block (past n when elsewhere)
                let own := sub(mload(add(g, 0xe0)), mload(add(g, 0x80)))
                for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                    let d := sub(best, sar(sh, calldataload(add(xo, mul(i, sz)))))
                    let v := 0
                    // 0 <= d < L: as unsigned, d < L (a negative d is above it)
                    if lt(d, len) { v := sar(224, calldataload(add(to, shl(2, d)))) }
                    if masked { if eq(sar(224, calldataload(add(io, shl(2, i)))), pad) { v := 0 } }
                    acc := add(acc, v)
                    if eq(i, own) { mine := v }
                }
                mstore(add(st, 0x20), acc)
                mstore(add(st, 0x40), mine)
            }
        }
        return (st[0], st[1], st[2]);
    }

    /// @dev layer norm, block `b` of element `e` from the state `st` = (S1, S2, mine):
    ///      `z = x[p, t] >> pre`, `S1 += z`, `S2 += z²` over the block's terms (one
    ///      run of x), and `mine = z` at the element's own `t = j`.
    function _layernorm(Spec s, uint256 e, uint256 b, int256[3] memory st, Src memory x) private pure returns (int256, int256, int256) {
        (, uint256 xt) = s.input(0);
        uint256 n = xt.lastDim();
        uint256 sz = xt.elemSize();
        uint256 per = BLOCK / sz;
        uint256 t0 = b * per;
        uint256 len = n - t0 < per ? n - t0 : per;
        uint256 xo = _at(x, (e - e % n + t0) * sz, len * sz);
        // the element's own position in this block (past len when elsewhere)
        uint256 own = e % n >= t0 ? e % n - t0 : len;
        // x's element at i is the top w bytes of a word: sar by (256 − 8w) + pre
        uint256 sh = 256 - 8 * sz + uint256(s.param(0));
        assembly ("memory-safe") {
            let s1 := mload(st)
            let s2 := mload(add(st, 0x20))
            let mine := mload(add(st, 0x40))
            for { let i := 0 } lt(i, len) { i := add(i, 1) } {
                let z := sar(sh, calldataload(add(xo, mul(i, sz))))
                s1 := add(s1, z)
                s2 := add(s2, mul(z, z))
                if eq(i, own) { mine := z }
            }
            mstore(st, s1)
            mstore(add(st, 0x20), s2)
            mstore(add(st, 0x40), mine)
        }
        return (st[0], st[1], st[2]);
    }

    /// @dev layer norm's finish from `st` = (S1, S2, mine) and row `j` of Q
    ///      (γ, β): `r = isqrt(max(N·S2 − S1² + eps, 1))`, `c = N·mine − S1` and
    ///      `clamp(floor((2·(γ·c + β·r) + r·2^s) / (2·r·2^s)), −128, 127)`; 0 (and Q
    ///      unread) for a state no fold reaches, which bounds every product.
    function _layernormFinish(Spec s, uint256 e, int256[3] memory st, Src memory q) private pure returns (int256 y) {
        (, uint256 xt) = s.input(0);
        int256 n = int256(xt.lastDim());
        int256 zm = int256(_zmax(xt, s.param(0)));
        (int256 s1, int256 s2, int256 mine) = (st[0], st[1], st[2]);
        if (s1 > n * zm || s1 < -n * zm || s2 < 0 || s2 > n * zm * zm || mine > zm || mine < -zm) return 0;
        uint256 o = _at(q, 8 * (e % uint256(n)), 8);
        int256 d = n * s2 - s1 * s1 + s.param(1);
        int256 r = int256(_isqrt(d > 1 ? uint256(d) : 1));
        int256 den = r << uint256(s.param(2));
        int256 num = 2 * (_readI32(o) * (n * mine - s1) + _readI32(o + 4) * r) + den;
        // floor division by 2·den > 0
        y = num / (2 * den);
        if (num < 0 && num % (2 * den) != 0) y -= 1;
        if (y < -128) y = -128;
        if (y > 127) y = 127;
    }

    /// @dev `floor(sqrt(v))` of `v >= 1`: Newton's iteration from a power of two
    ///      above the root decreases to it.
    function _isqrt(uint256 v) private pure returns (uint256 r) {
        r = 2;
        for (uint256 t = v; t >= 4; t >>= 2) {
            r <<= 1;
        }
        while (true) {
            uint256 next = (r + v / r) >> 1;
            if (next >= r) return r;
            r = next;
        }
    }

    /// @dev The ops that do not reduce: one block, computed directly.
    function _direct(Spec s, uint256 e, Src[] memory ins, Src[] memory ws) private pure returns (int256) {
        uint8 op = s.opCode();
        if (op == StepSpec.OP_RELU) {
            int256 v = _readI8(_at(ins[0], e, 1));
            return v > 0 ? v : int256(0);
        }
        if (op == StepSpec.OP_ADD) {
            int256 acc = _readI8(_at(ins[0], e, 1)) * s.param(0) + _readI8(_at(ins[1], e, 1)) * s.param(1);
            return _requant(acc, 1, s.param(2), _lower(s.param(3)), op);
        }
        if (op == StepSpec.OP_RESIDUAL) {
            // clamp((a·mA + b·mB + h) >> s) to int32, h = 2^(s−1) (0 when s = 0)
            int256 acc = _elem(s, 0, ins[0], e) * s.param(0) + _elem(s, 1, ins[1], e) * s.param(1);
            uint256 sh = uint256(s.param(2));
            if (sh > 0) acc += int256(uint256(1) << (sh - 1));
            acc >>= sh;
            if (acc < type(int32).min) return type(int32).min;
            if (acc > type(int32).max) return type(int32).max;
            return acc;
        }
        if (op == StepSpec.OP_LUT) {
            uint256 i = uint256(_readI8(_at(ins[0], e, 1)) + 128);
            return _readI8(_at(ws[0], i, 1));
        }
        if (op == StepSpec.OP_RESHAPE) {
            (, uint256 xt) = s.input(0);
            uint256 size = xt.elemSize();
            uint256 at = _at(ins[0], e * size, size);
            return size == 1 ? _readI8(at) : _readI32(at);
        }
        if (op == StepSpec.OP_EMBEDDING) {
            // E[id, d] for an id in [0, V), else 0 (the table is not read)
            (uint256 tt,) = s.weight(0);
            uint256 d = tt.dim(1);
            int256 id = _readI32(_at(ins[0], 4 * (e / d), 4));
            if (id < 0 || uint256(id) >= tt.dim(0)) return 0;
            return _readI8(_at(ws[0], uint256(id) * d + e % d, 1));
        }
        if (op == StepSpec.OP_PERMUTE) {
            return _permuted(s, e, ins[0]);
        }
        revert NotComputable(op);
    }

    /// @dev Element `e` of input `j` (int8 or int32, as its type says).
    function _elem(Spec s, uint256 j, Src memory x, uint256 e) private pure returns (int256) {
        (, uint256 t) = s.input(j);
        uint256 size = t.elemSize();
        uint256 at = _at(x, e * size, size);
        return size == 1 ? _readI8(at) : _readI32(at);
    }

    /// @dev permute: the input element at output element `e`'s coordinates put back
    ///      in the input's axis order, `j[perm[k]] = i_k`.
    function _permuted(Spec s, uint256 e, Src memory x) private pure returns (int256) {
        (, uint256 xt) = s.input(0);
        uint256 out = s.outType();
        uint256 r = xt.rank();
        uint256[8] memory j;
        for (uint256 k = r; k > 0; k--) {
            uint256 dk = out.dim(k - 1);
            j[uint256(s.param(k - 1))] = e % dk;
            e /= dk;
        }
        uint256 flat;
        for (uint256 a = 0; a < r; a++) {
            flat = flat * xt.dim(a) + j[a];
        }
        uint256 size = xt.elemSize();
        uint256 at = _at(x, flat * size, size);
        return size == 1 ? _readI8(at) : _readI32(at);
    }
}
