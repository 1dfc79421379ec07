// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Commitments} from "./lib/Commitments.sol";
import {StepSpec} from "./lib/StepSpec.sol";
import {TensorOpening} from "./lib/TensorOpening.sol";

/// @title OneStepVerifier
/// @notice Recomputes one output element of one step from opened chunks of its
///         inputs and weights, bit for bit as docs/semantics.md defines every op
///         (the Rust twin is crates/core/src/reference.rs).
contract OneStepVerifier {
    error OpeningCount();
    error OpeningLength();
    error OpeningRoot(uint256 which);
    error ElementNotOpened(uint256 flat);
    error BadParams(uint8 op);
    error NotComputable(uint8 op);
    error OutOfRange();

    /// @dev Where a tensor's elements are read from: its opening and element size.
    struct Source {
        TensorOpening opening;
        uint256 size;
    }

    /// @notice The value of output element `outIndex` of the step `spec`, after
    ///         checking every opening against its data root (inputs: `inputRoots`,
    ///         weights: the roots in the spec). Reverts if an opening does not verify
    ///         or an element the op reads is not opened.
    function evaluate(
        bytes calldata spec,
        uint256 outIndex,
        bytes32[] calldata inputRoots,
        TensorOpening[] calldata inputs,
        TensorOpening[] calldata weights
    ) external pure returns (int256) {
        StepSpec.Spec memory s = StepSpec.parse(spec);
        if (inputs.length != s.inputs.length || inputRoots.length != s.inputs.length || weights.length != s.weights.length) {
            revert OpeningCount();
        }
        if (outIndex >= StepSpec.numel(s.out)) revert OutOfRange();
        for (uint256 i = 0; i < inputs.length; i++) {
            _verify(inputs[i], inputRoots[i], StepSpec.byteLen(s.inputs[i].ty), i);
        }
        for (uint256 i = 0; i < weights.length; i++) {
            _verify(weights[i], s.weights[i].dataRoot, StepSpec.byteLen(s.weights[i].ty), inputs.length + i);
        }
        return _compute(s, outIndex, inputs, weights);
    }

    function _verify(TensorOpening calldata o, bytes32 root, uint256 byteLen, uint256 which) private pure {
        (uint256[] memory idx, bytes32[] memory leaves) = _leaves(o);
        uint256 h = Commitments.height(Commitments.numChunks(byteLen));
        if (Commitments.multiRoot(Commitments.DATA_NODE, h, idx, leaves, o.proof) != root) revert OpeningRoot(which);
    }

    /// @dev The chunk indices and leaf hashes of an opening.
    function _leaves(TensorOpening calldata o) private pure returns (uint256[] memory idx, bytes32[] memory leaves) {
        uint256 n = o.chunkIndices.length;
        if (o.chunks.length != n * Commitments.CHUNK) revert OpeningLength();
        idx = new uint256[](n);
        leaves = new bytes32[](n);
        bytes calldata chunks = o.chunks;
        uint256 base;
        assembly ("memory-safe") {
            base := chunks.offset
        }
        for (uint256 i = 0; i < n; i++) {
            idx[i] = o.chunkIndices[i];
            leaves[i] = Commitments.chunkLeafCalldata(base + i * Commitments.CHUNK);
        }
    }

    /// @dev Element `flat` of a tensor of `size`-byte elements from its opening.
    function _get(TensorOpening calldata o, uint256 size, uint256 flat) private pure returns (int256 v) {
        uint256 off = flat * size;
        uint256 c = off >> 8;
        uint256[] calldata idx = o.chunkIndices;
        uint256 lo = 0;
        uint256 hi = idx.length;
        while (lo < hi) {
            uint256 mid = (lo + hi) >> 1;
            if (idx[mid] < c) lo = mid + 1;
            else hi = mid;
        }
        if (lo == idx.length || idx[lo] != c) revert ElementNotOpened(flat);
        uint256 pos = (lo << 8) + (off & 255);
        bytes calldata chunks = o.chunks;
        uint256 word;
        assembly ("memory-safe") {
            word := calldataload(add(chunks.offset, pos))
        }
        if (size == 1) {
            v = int256(int8(uint8(word >> 248)));
        } else {
            v = int256(int32(uint32(word >> 224)));
        }
    }

    function _requant(int256 acc, int256 m, int256 s, int256 lo) private pure returns (int256 y) {
        if (s < 1 || s > 62 || m < 0) revert BadParams(0);
        uint256 sh = uint256(s);
        y = (acc * m + int256(uint256(1) << (sh - 1))) >> sh;
        if (y < lo) y = lo;
        if (y > 127) y = 127;
    }

    function _flag(int64 v) private pure returns (int256) {
        return v == 1 ? int256(0) : int256(-128);
    }

    function _compute(StepSpec.Spec memory s, uint256 out, TensorOpening[] calldata ins, TensorOpening[] calldata ws)
        private
        pure
        returns (int256)
    {
        uint8 op = s.op;
        int64[] memory p = s.params;
        if (op == StepSpec.OP_LINEAR) {
            if (p.length != 1) revert BadParams(op);
            uint32[] memory wShape = s.weights[0].ty.shape;
            uint256 n = wShape[0];
            uint256 k = wShape[1];
            uint256 row = out / n;
            uint256 ch = out % n;
            int256 acc = _get(ws[1], 4, 3 * ch);
            uint256 xBase = row * k;
            uint256 wBase = ch * k;
            for (uint256 i = 0; i < k; i++) {
                acc += _get(ins[0], 1, xBase + i) * _get(ws[0], 1, wBase + i);
            }
            return _requant(acc, _get(ws[1], 4, 3 * ch + 1), _get(ws[1], 4, 3 * ch + 2), p[0] == 1 ? int256(0) : int256(-128));
        }
        if (op == StepSpec.OP_CONV2D) {
            if (p.length != 5) revert BadParams(op);
            return _conv(s, out, ins[0], ws[0], ws[1]);
        }
        if (op == StepSpec.OP_RELU) {
            int256 x = _get(ins[0], 1, out);
            return x > 0 ? x : int256(0);
        }
        if (op == StepSpec.OP_MAXPOOL2D) {
            if (p.length != 6) revert BadParams(op);
            return _maxpool(s, out, ins[0]);
        }
        if (op == StepSpec.OP_AVGPOOL2D) {
            if (p.length != 6) revert BadParams(op);
            return _avgpool(s, out, ins[0]);
        }
        if (op == StepSpec.OP_ADD) {
            if (p.length != 4) revert BadParams(op);
            int256 acc = _get(ins[0], 1, out) * int256(p[0]) + _get(ins[1], 1, out) * int256(p[1]);
            return _requant(acc, 1, int256(p[2]), p[3] == 1 ? int256(0) : int256(-128));
        }
        if (op == StepSpec.OP_LUT) {
            return _get(ws[0], 1, uint256(_get(ins[0], 1, out) + 128));
        }
        if (op == StepSpec.OP_RESHAPE) {
            return _get(ins[0], Commitments.elemSize(s.inputs[0].ty.dtype), out);
        }
        if (op == StepSpec.OP_ARGMAX) {
            uint32[] memory xs = s.inputs[0].ty.shape;
            uint256 n = xs[xs.length - 1];
            int256 best = type(int256).min;
            uint256 at = 0;
            for (uint256 i = 0; i < n; i++) {
                int256 v = _get(ins[0], 1, out * n + i);
                if (v > best) {
                    best = v;
                    at = i;
                }
            }
            return int256(at);
        }
        revert NotComputable(op);
    }

    /// @dev Window geometry shared by conv and pools: (output row, column, channel).
    function _coords(uint32[] memory outShape, uint256 out) private pure returns (uint256 c, int256 i, int256 j) {
        uint256 oh = outShape[1];
        uint256 ow = outShape[2];
        c = out / (oh * ow);
        i = int256((out / ow) % oh);
        j = int256(out % ow);
    }

    function _conv(StepSpec.Spec memory s, uint256 out, TensorOpening calldata x, TensorOpening calldata w, TensorOpening calldata q)
        private
        pure
        returns (int256)
    {
        int64[] memory p = s.params;
        uint32[] memory xs = s.inputs[0].ty.shape;
        uint32[] memory wsh = s.weights[0].ty.shape;
        (uint256 o, int256 i, int256 j) = _coords(s.out.shape, out);
        int256[6] memory g = [int256(uint256(xs[0])), int256(uint256(xs[1])), int256(uint256(xs[2])), int256(uint256(wsh[2])), int256(uint256(wsh[3])), int256(0)];
        int256 acc = _get(q, 4, 3 * o);
        int256 rowBase = i * int256(p[0]) - int256(p[2]);
        int256 colBase = j * int256(p[1]) - int256(p[3]);
        for (int256 c = 0; c < g[0]; c++) {
            for (int256 u = 0; u < g[3]; u++) {
                int256 hi = rowBase + u;
                if (hi < 0 || hi >= g[1]) continue;
                for (int256 v = 0; v < g[4]; v++) {
                    int256 wi = colBase + v;
                    if (wi < 0 || wi >= g[2]) continue;
                    int256 xv = _get(x, 1, uint256((c * g[1] + hi) * g[2] + wi));
                    int256 wv = _get(w, 1, uint256(((int256(o) * g[0] + c) * g[3] + u) * g[4] + v));
                    acc += xv * wv;
                }
            }
        }
        return _requant(acc, _get(q, 4, 3 * o + 1), _get(q, 4, 3 * o + 2), _flag(p[4]));
    }

    function _maxpool(StepSpec.Spec memory s, uint256 out, TensorOpening calldata x) private pure returns (int256 best) {
        int64[] memory p = s.params;
        uint32[] memory xs = s.inputs[0].ty.shape;
        (uint256 c, int256 i, int256 j) = _coords(s.out.shape, out);
        int256 h = int256(uint256(xs[1]));
        int256 w = int256(uint256(xs[2]));
        best = type(int256).min;
        for (int256 u = 0; u < p[0]; u++) {
            int256 hi = i * int256(p[2]) + u - int256(p[4]);
            if (hi < 0 || hi >= h) continue;
            for (int256 v = 0; v < p[1]; v++) {
                int256 wi = j * int256(p[3]) + v - int256(p[5]);
                if (wi < 0 || wi >= w) continue;
                int256 val = _get(x, 1, uint256((int256(c) * h + hi) * w + wi));
                if (val > best) best = val;
            }
        }
    }

    function _avgpool(StepSpec.Spec memory s, uint256 out, TensorOpening calldata x) private pure returns (int256) {
        int64[] memory p = s.params;
        uint32[] memory xs = s.inputs[0].ty.shape;
        (uint256 c, int256 i, int256 j) = _coords(s.out.shape, out);
        uint256 h = xs[1];
        uint256 w = xs[2];
        int256 acc = 0;
        for (uint256 u = 0; u < uint256(int256(p[0])); u++) {
            uint256 hi = uint256(i * int256(p[2])) + u;
            for (uint256 v = 0; v < uint256(int256(p[1])); v++) {
                uint256 wi = uint256(j * int256(p[3])) + v;
                acc += _get(x, 1, (c * h + hi) * w + wi);
            }
        }
        return _requant(acc, int256(p[4]), int256(p[5]), -128);
    }
}
