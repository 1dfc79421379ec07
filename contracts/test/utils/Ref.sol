// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Kit, Ty, StepDef, Committed, ModelDef, TraceDef} from "./Kit.sol";

/// @title Ref
/// @notice Whole-tensor reference of every op of docs/semantics.md, written for the
///         tests independently of OneStepVerifier (whole output at once, explicit
///         floor division), plus model building, traces, and which elements one
///         output element reads.
library Ref {
    uint8 internal constant INPUT = 0;
    uint8 internal constant LINEAR = 1;
    uint8 internal constant CONV2D = 2;
    uint8 internal constant RELU = 3;
    uint8 internal constant MAXPOOL2D = 4;
    uint8 internal constant AVGPOOL2D = 5;
    uint8 internal constant ADD = 6;
    uint8 internal constant LUT = 7;
    uint8 internal constant RESHAPE = 8;
    uint8 internal constant ARGMAX = 9;

    // --------------------------------------------------------------- arithmetic

    function floorDiv(int256 a, int256 d) internal pure returns (int256 q) {
        q = a / d;
        if (a % d != 0 && a < 0) q -= 1;
    }

    function requant(int256 acc, int256 m, int256 s, int256 lo) internal pure returns (int256 y) {
        y = floorDiv(acc * m + int256(2) ** uint256(s - 1), int256(2) ** uint256(s));
        if (y < lo) y = lo;
        if (y > 127) y = 127;
    }

    function lower(int64 relu) internal pure returns (int256) {
        return relu == 1 ? int256(0) : int256(-128);
    }

    // ---------------------------------------------------------------- step defs

    function _none() private pure returns (Ty[] memory t, bytes[] memory d) {
        t = new Ty[](0);
        d = new bytes[](0);
    }

    function input(uint32[] memory shape) internal pure returns (StepDef memory s) {
        s.op = INPUT;
        s.out = Kit.i8(shape);
        s.inputs = new uint32[](0);
        s.params = new int64[](0);
        (s.wTypes, s.wData) = _none();
    }

    function unary(uint8 op, uint32 from, Ty memory out, int64[] memory ps) internal pure returns (StepDef memory s) {
        s.op = op;
        s.out = out;
        s.inputs = new uint32[](1);
        s.inputs[0] = from;
        s.params = ps;
        (s.wTypes, s.wData) = _none();
    }

    function params(int64 a) internal pure returns (int64[] memory p) {
        p = new int64[](1);
        p[0] = a;
    }

    function params(int64 a, int64 b, int64 c, int64 d) internal pure returns (int64[] memory p) {
        p = new int64[](4);
        (p[0], p[1], p[2], p[3]) = (a, b, c, d);
    }

    function params(int64 a, int64 b, int64 c, int64 d, int64 e) internal pure returns (int64[] memory p) {
        p = new int64[](5);
        (p[0], p[1], p[2], p[3], p[4]) = (a, b, c, d, e);
    }

    function params(int64 a, int64 b, int64 c, int64 d, int64 e, int64 f) internal pure returns (int64[] memory p) {
        p = new int64[](6);
        (p[0], p[1], p[2], p[3], p[4], p[5]) = (a, b, c, d, e, f);
    }

    function noParams() internal pure returns (int64[] memory) {
        return new int64[](0);
    }

    /// @notice linear: x [..., K] -> [..., N] with W int8 [N, K] and Q int32 [N, 3].
    function linear(uint32 from, Ty memory xt, uint32 n, bool relu, uint256 seed) internal pure returns (StepDef memory s) {
        uint32 k = xt.shape[xt.shape.length - 1];
        uint32[] memory out = new uint32[](xt.shape.length);
        for (uint256 i = 0; i < out.length; i++) out[i] = xt.shape[i];
        out[out.length - 1] = n;
        s = unary(LINEAR, from, Kit.i8(out), params(relu ? int64(1) : int64(0)));
        s.wTypes = new Ty[](2);
        s.wData = new bytes[](2);
        s.wTypes[0] = Kit.i8(Kit.s2(n, k));
        s.wData[0] = Kit.randomI8(seed, uint256(n) * k);
        s.wTypes[1] = Kit.i32(Kit.s2(n, 3));
        s.wData[1] = Kit.requantTable(seed, n, 20_000, 34, 6);
    }

    /// @notice conv2d: x [C, H, W] -> [O, OH, OW] with a KxK kernel.
    function conv(uint32 from, Ty memory xt, uint32 o, uint32 k, uint32 stride, uint32 pad, bool relu, uint256 seed)
        internal
        pure
        returns (StepDef memory s)
    {
        uint32 c = xt.shape[0];
        uint32 oh = (xt.shape[1] + 2 * pad - k) / stride + 1;
        uint32 ow = (xt.shape[2] + 2 * pad - k) / stride + 1;
        s = unary(
            CONV2D,
            from,
            Kit.i8(Kit.s3(o, oh, ow)),
            params(int64(uint64(stride)), int64(uint64(stride)), int64(uint64(pad)), int64(uint64(pad)), relu ? int64(1) : int64(0))
        );
        s.wTypes = new Ty[](2);
        s.wData = new bytes[](2);
        s.wTypes[0] = Kit.i8(Kit.s4(o, c, k, k));
        s.wData[0] = Kit.randomI8(seed, uint256(o) * c * k * k);
        s.wTypes[1] = Kit.i32(Kit.s2(o, 3));
        s.wData[1] = Kit.requantTable(seed, o, 20_000, 36, 6);
    }

    function maxpool(uint32 from, Ty memory xt, uint32 k, uint32 stride, uint32 pad) internal pure returns (StepDef memory s) {
        uint32 oh = (xt.shape[1] + 2 * pad - k) / stride + 1;
        uint32 ow = (xt.shape[2] + 2 * pad - k) / stride + 1;
        int64 K = int64(uint64(k));
        int64 S = int64(uint64(stride));
        int64 P = int64(uint64(pad));
        s = unary(MAXPOOL2D, from, Kit.i8(Kit.s3(xt.shape[0], oh, ow)), params(K, K, S, S, P, P));
    }

    function avgpool(uint32 from, Ty memory xt, uint32 kh, uint32 kw, uint32 stride, int64 m, int64 sh)
        internal
        pure
        returns (StepDef memory s)
    {
        uint32 oh = (xt.shape[1] - kh) / stride + 1;
        uint32 ow = (xt.shape[2] - kw) / stride + 1;
        int64 S = int64(uint64(stride));
        s = unary(AVGPOOL2D, from, Kit.i8(Kit.s3(xt.shape[0], oh, ow)), params(int64(uint64(kh)), int64(uint64(kw)), S, S, m, sh));
    }

    function add(uint32 a, uint32 b, Ty memory t, int64 ma, int64 mb, int64 sh, bool relu) internal pure returns (StepDef memory s) {
        s = unary(ADD, a, t, params(ma, mb, sh, relu ? int64(1) : int64(0)));
        s.inputs = new uint32[](2);
        (s.inputs[0], s.inputs[1]) = (a, b);
    }

    function lut(uint32 from, Ty memory xt, uint256 seed) internal pure returns (StepDef memory s) {
        s = unary(LUT, from, xt, noParams());
        s.wTypes = new Ty[](1);
        s.wData = new bytes[](1);
        s.wTypes[0] = Kit.i8(Kit.s1(256));
        s.wData[0] = Kit.randomI8(seed, 256);
    }

    function argmax(uint32 from, Ty memory xt) internal pure returns (StepDef memory s) {
        uint32[] memory out = new uint32[](xt.shape.length - 1);
        for (uint256 i = 0; i < out.length; i++) out[i] = xt.shape[i];
        s = unary(ARGMAX, from, Kit.i32(out), noParams());
    }

    // ------------------------------------------------------------------- models

    function encSpec(StepDef memory s, Committed[] memory w, StepDef[] memory all) internal pure returns (bytes memory b) {
        b = abi.encodePacked(uint8(1), s.op, Kit.encType(s.out), uint8(s.inputs.length));
        for (uint256 j = 0; j < s.inputs.length; j++) b = abi.encodePacked(b, s.inputs[j], Kit.encType(all[s.inputs[j]].out));
        b = abi.encodePacked(b, uint8(s.params.length));
        for (uint256 j = 0; j < s.params.length; j++) b = abi.encodePacked(b, s.params[j]);
        b = abi.encodePacked(b, uint8(w.length));
        for (uint256 j = 0; j < w.length; j++) b = abi.encodePacked(b, Kit.encType(w[j].ty), w[j].root);
    }

    function build(StepDef[] memory steps) internal pure returns (ModelDef memory m) {
        uint256 n = steps.length;
        m.steps = steps;
        m.stepCount = uint32(n);
        m.weights = new Committed[][](n);
        m.specs = new bytes[](n);
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            m.weights[i] = new Committed[](steps[i].wTypes.length);
            for (uint256 k = 0; k < steps[i].wTypes.length; k++) m.weights[i][k] = Kit.commit(steps[i].wTypes[k], steps[i].wData[k]);
            m.specs[i] = encSpec(steps[i], m.weights[i], steps);
            leaves[i] = keccak256(abi.encodePacked(bytes1(0x04), m.specs[i]));
        }
        m.specLevels = Kit.tree(0x05, leaves, bytes32(0));
        m.specRoot = Kit.rootOf(m.specLevels);
        m.id = keccak256(abi.encodePacked(bytes1(0x06), uint32(n), m.specRoot));
    }

    /// @notice Canonical outputs of every step on `x`.
    function run(ModelDef memory m, bytes memory x) internal pure returns (bytes[] memory outs) {
        outs = new bytes[](m.stepCount);
        outs[0] = x;
        for (uint256 i = 1; i < m.stepCount; i++) outs[i] = evalStep(m, i, outs);
    }

    /// @notice The honest trace of `m` on `x`.
    function honestTrace(ModelDef memory m, bytes memory x) internal pure returns (TraceDef memory) {
        bytes[] memory outs = run(m, x);
        Committed[] memory cs = new Committed[](m.stepCount);
        for (uint256 i = 0; i < m.stepCount; i++) cs[i] = Kit.commit(m.steps[i].out, outs[i]);
        return trace(cs);
    }

    function trace(Committed[] memory cs) internal pure returns (TraceDef memory t) {
        bytes32[] memory leaves = new bytes32[](cs.length);
        for (uint256 i = 0; i < cs.length; i++) leaves[i] = cs[i].commitment;
        t.steps = cs;
        t.levels = Kit.tree(0x03, leaves, bytes32(0));
        t.root = Kit.rootOf(t.levels);
    }

    // ---------------------------------------------------------------- the ops

    function evalStep(ModelDef memory m, uint256 i, bytes[] memory outs) internal pure returns (bytes memory y) {
        StepDef memory s = m.steps[i];
        uint8 op = s.op;
        bytes memory x = outs[s.inputs[0]];
        Ty memory xt = m.steps[s.inputs[0]].out;
        uint256 n = Kit.numel(s.out.shape);
        y = new bytes(Kit.byteLen(s.out));
        if (op == LINEAR) {
            uint256 N = s.wTypes[0].shape[0];
            uint256 K = s.wTypes[0].shape[1];
            for (uint256 e = 0; e < n; e++) {
                uint256 p = e / N;
                uint256 c = e % N;
                int256 acc = Kit.get(s.wData[1], 2, 3 * c);
                for (uint256 k = 0; k < K; k++) acc += Kit.get(x, 1, p * K + k) * Kit.get(s.wData[0], 1, c * K + k);
                Kit.set(y, 1, e, requant(acc, Kit.get(s.wData[1], 2, 3 * c + 1), Kit.get(s.wData[1], 2, 3 * c + 2), lower(s.params[0])));
            }
        } else if (op == CONV2D) {
            _conv(s, xt, x, y);
        } else if (op == RELU) {
            for (uint256 e = 0; e < n; e++) {
                int256 v = Kit.get(x, 1, e);
                Kit.set(y, 1, e, v > 0 ? v : int256(0));
            }
        } else if (op == MAXPOOL2D || op == AVGPOOL2D) {
            _pool(s, xt, x, y);
        } else if (op == ADD) {
            bytes memory b = outs[s.inputs[1]];
            for (uint256 e = 0; e < n; e++) {
                int256 acc = Kit.get(x, 1, e) * s.params[0] + Kit.get(b, 1, e) * s.params[1];
                Kit.set(y, 1, e, requant(acc, 1, s.params[2], lower(s.params[3])));
            }
        } else if (op == LUT) {
            for (uint256 e = 0; e < n; e++) Kit.set(y, 1, e, Kit.get(s.wData[0], 1, uint256(Kit.get(x, 1, e) + 128)));
        } else if (op == RESHAPE) {
            for (uint256 b = 0; b < y.length; b++) y[b] = x[b];
        } else if (op == ARGMAX) {
            uint256 N = xt.shape[xt.shape.length - 1];
            for (uint256 e = 0; e < n; e++) {
                uint256 best;
                for (uint256 k = 1; k < N; k++) {
                    if (Kit.get(x, 1, e * N + k) > Kit.get(x, 1, e * N + best)) best = k;
                }
                Kit.set(y, 2, e, int256(best));
            }
        } else {
            revert("no such op");
        }
    }

    function _conv(StepDef memory s, Ty memory xt, bytes memory x, bytes memory y) private pure {
        int256 C = int256(uint256(xt.shape[0]));
        int256 H = int256(uint256(xt.shape[1]));
        int256 W = int256(uint256(xt.shape[2]));
        int256 KH = int256(uint256(s.wTypes[0].shape[2]));
        int256 KW = int256(uint256(s.wTypes[0].shape[3]));
        uint256 O = s.out.shape[0];
        uint256 OH = s.out.shape[1];
        uint256 OW = s.out.shape[2];
        bytes memory w = s.wData[0];
        bytes memory q = s.wData[1];
        for (uint256 o = 0; o < O; o++) {
            for (uint256 i = 0; i < OH; i++) {
                for (uint256 j = 0; j < OW; j++) {
                    int256 acc = Kit.get(q, 2, 3 * o);
                    for (int256 c = 0; c < C; c++) {
                        for (int256 u = 0; u < KH; u++) {
                            int256 hi = int256(i) * s.params[0] + u - s.params[2];
                            if (hi < 0 || hi >= H) continue;
                            for (int256 v = 0; v < KW; v++) {
                                int256 wi = int256(j) * s.params[1] + v - s.params[3];
                                if (wi < 0 || wi >= W) continue;
                                acc += Kit.get(x, 1, uint256((c * H + hi) * W + wi))
                                    * Kit.get(w, 1, uint256(((int256(o) * C + c) * KH + u) * KW + v));
                            }
                        }
                    }
                    uint256 e = (o * OH + i) * OW + j;
                    Kit.set(y, 1, e, requant(acc, Kit.get(q, 2, 3 * o + 1), Kit.get(q, 2, 3 * o + 2), lower(s.params[4])));
                }
            }
        }
    }

    function _pool(StepDef memory s, Ty memory xt, bytes memory x, bytes memory y) private pure {
        bool isMax = s.op == MAXPOOL2D;
        int256 H = int256(uint256(xt.shape[1]));
        int256 W = int256(uint256(xt.shape[2]));
        int256 padH = isMax ? int256(s.params[4]) : int256(0);
        int256 padW = isMax ? int256(s.params[5]) : int256(0);
        uint256 C = s.out.shape[0];
        uint256 OH = s.out.shape[1];
        uint256 OW = s.out.shape[2];
        for (uint256 c = 0; c < C; c++) {
            for (uint256 i = 0; i < OH; i++) {
                for (uint256 j = 0; j < OW; j++) {
                    int256 best = -1000;
                    int256 sum;
                    for (int256 u = 0; u < s.params[0]; u++) {
                        int256 hi = int256(i) * s.params[2] + u - padH;
                        if (hi < 0 || hi >= H) continue;
                        for (int256 v = 0; v < s.params[1]; v++) {
                            int256 wi = int256(j) * s.params[3] + v - padW;
                            if (wi < 0 || wi >= W) continue;
                            int256 val = Kit.get(x, 1, uint256((int256(c) * H + hi) * W + wi));
                            if (val > best) best = val;
                            sum += val;
                        }
                    }
                    uint256 e = (c * OH + i) * OW + j;
                    Kit.set(y, 1, e, isMax ? best : requant(sum, s.params[4], s.params[5], -128));
                }
            }
        }
    }

    // ------------------------------------------------------------ dependencies

    /// @notice The elements of each input and weight that output element `e` of
    ///         step `i` reads (`outs`: the step outputs, for a table's index).
    function deps(ModelDef memory m, uint256 i, uint256 e, bytes[] memory outs)
        internal
        pure
        returns (uint256[][] memory ins, uint256[][] memory ws)
    {
        StepDef memory s = m.steps[i];
        ins = new uint256[][](s.inputs.length);
        ws = new uint256[][](s.wTypes.length);
        Ty memory xt = m.steps[s.inputs[0]].out;
        uint8 op = s.op;
        if (op == LINEAR) {
            uint256 N = s.wTypes[0].shape[0];
            uint256 K = s.wTypes[0].shape[1];
            ins[0] = _range((e / N) * K, K);
            ws[0] = _range((e % N) * K, K);
            ws[1] = _range(3 * (e % N), 3);
        } else if (op == CONV2D) {
            (ins[0], ws[0]) = _convDeps(s, xt, e);
            ws[1] = _range(3 * (e / (uint256(s.out.shape[1]) * s.out.shape[2])), 3);
        } else if (op == MAXPOOL2D || op == AVGPOOL2D) {
            ins[0] = _poolDeps(s, xt, e);
        } else if (op == ADD) {
            ins[0] = _range(e, 1);
            ins[1] = _range(e, 1);
        } else if (op == LUT) {
            ins[0] = _range(e, 1);
            ws[0] = _range(uint256(Kit.get(outs[s.inputs[0]], 1, e) + 128), 1);
        } else if (op == ARGMAX) {
            uint256 N = xt.shape[xt.shape.length - 1];
            ins[0] = _range(e * N, N);
        } else {
            ins[0] = _range(e, 1); // relu, reshape
        }
    }

    function _range(uint256 start, uint256 n) private pure returns (uint256[] memory r) {
        r = new uint256[](n);
        for (uint256 i = 0; i < n; i++) r[i] = start + i;
    }

    function _convDeps(StepDef memory s, Ty memory xt, uint256 e) private pure returns (uint256[] memory xs, uint256[] memory wsd) {
        uint256 C = xt.shape[0];
        int256 H = int256(uint256(xt.shape[1]));
        int256 W = int256(uint256(xt.shape[2]));
        uint256 KH = s.wTypes[0].shape[2];
        uint256 KW = s.wTypes[0].shape[3];
        uint256 OH = s.out.shape[1];
        uint256 OW = s.out.shape[2];
        uint256 o = e / (OH * OW);
        int256 i = int256((e / OW) % OH);
        int256 j = int256(e % OW);
        uint256[] memory bx = new uint256[](C * KH * KW);
        uint256[] memory bw = new uint256[](C * KH * KW);
        uint256 n;
        for (uint256 c = 0; c < C; c++) {
            for (uint256 u = 0; u < KH; u++) {
                for (uint256 v = 0; v < KW; v++) {
                    int256 hi = i * s.params[0] + int256(u) - s.params[2];
                    int256 wi = j * s.params[1] + int256(v) - s.params[3];
                    if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                    bx[n] = uint256((int256(c) * H + hi) * W + wi);
                    bw[n] = ((o * C + c) * KH + u) * KW + v;
                    n++;
                }
            }
        }
        xs = new uint256[](n);
        wsd = new uint256[](n);
        for (uint256 k = 0; k < n; k++) (xs[k], wsd[k]) = (bx[k], bw[k]);
    }

    function _poolDeps(StepDef memory s, Ty memory xt, uint256 e) private pure returns (uint256[] memory xs) {
        bool isMax = s.op == MAXPOOL2D;
        int256 H = int256(uint256(xt.shape[1]));
        int256 W = int256(uint256(xt.shape[2]));
        uint256 OH = s.out.shape[1];
        uint256 OW = s.out.shape[2];
        uint256 c = e / (OH * OW);
        int256 i = int256((e / OW) % OH);
        int256 j = int256(e % OW);
        uint256 kh = uint256(int256(s.params[0]));
        uint256 kw = uint256(int256(s.params[1]));
        uint256[] memory buf = new uint256[](kh * kw);
        uint256 n;
        for (uint256 u = 0; u < kh; u++) {
            for (uint256 v = 0; v < kw; v++) {
                int256 hi = i * s.params[2] + int256(u) - (isMax ? int256(s.params[4]) : int256(0));
                int256 wi = j * s.params[3] + int256(v) - (isMax ? int256(s.params[5]) : int256(0));
                if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                buf[n++] = uint256((int256(c) * H + hi) * W + wi);
            }
        }
        xs = new uint256[](n);
        for (uint256 k = 0; k < n; k++) xs[k] = buf[k];
    }
}
