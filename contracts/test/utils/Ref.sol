// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Kit, Ty, StepDef, Committed, ModelDef, TraceDef} from "./Kit.sol";

/// @notice One element's reduction as Ref folds it: its number of blocks, the
///         state after every block from block `first` on (`states[b - first]`, one
///         word, or two for argmax; empty for an op that does not reduce) and the
///         element's value. `first` is 0 but for `Ref.foldFrom`, whose blocks
///         before `first` read only zeros and all leave the state `before`.
struct Fold {
    uint256 blocks;
    int256[][] states;
    int256 value;
    uint256 first;
    int256[] before;
}

/// @title Ref
/// @notice Whole-tensor reference of every op of docs/semantics.md, written for the
///         tests independently of OneStepVerifier (whole output at once, explicit
///         floor division); the per-element fold of docs/semantics.md ("Reductions"),
///         term by term with explicit coordinates; model building, traces; and which
///         bytes of each operand one block reads.
library Ref {
    uint256 internal constant BLOCK = 512;

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
    uint8 internal constant EMBEDDING = 10;
    uint8 internal constant PERMUTE = 11;
    uint8 internal constant MATMUL = 12;
    uint8 internal constant SOFTMAX = 13;
    uint8 internal constant LAYERNORM = 14;
    uint8 internal constant RESIDUAL = 15;

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
        for (uint256 i = 0; i < out.length; i++) {
            out[i] = xt.shape[i];
        }
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

    function avgpool(uint32 from, Ty memory xt, uint32 kh, uint32 kw, uint32 stride, int64 m, int64 sh) internal pure returns (StepDef memory s) {
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

    /// @notice The add of steps `a` and `b` (of shape `shape`) into an int32 stream.
    function residual(uint32 a, uint32 b, uint32[] memory shape, int64 ma, int64 mb, int64 sh) internal pure returns (StepDef memory s) {
        int64[] memory ps = new int64[](3);
        (ps[0], ps[1], ps[2]) = (ma, mb, sh);
        s = unary(RESIDUAL, a, Kit.i32(shape), ps);
        s.inputs = new uint32[](2);
        (s.inputs[0], s.inputs[1]) = (a, b);
    }

    /// @notice matmul of steps `a` and `b` to `out`, requantized by (`m`, `sh`).
    function matmul(uint32 a, uint32 b, Ty memory out, bool transposeB, int64 m, int64 sh) internal pure returns (StepDef memory s) {
        int64[] memory ps = new int64[](3);
        (ps[0], ps[1], ps[2]) = (transposeB ? int64(1) : int64(0), m, sh);
        s = unary(MATMUL, a, out, ps);
        s.inputs = new uint32[](2);
        (s.inputs[0], s.inputs[1]) = (a, b);
    }

    /// @notice softmax of step `x` (of type `xt`) with an exponential table of
    ///         `len` entries (its type only: the test commits its data), masked by
    ///         the ids of step `ids` equal to `pad` when `masked`.
    function softmax(uint32 x, Ty memory xt, bool masked, uint32 ids, int64 pad, uint32 len) internal pure returns (StepDef memory s) {
        int64[] memory ps = new int64[](2);
        (ps[0], ps[1]) = (masked ? int64(1) : int64(0), masked ? pad : int64(0));
        s = unary(SOFTMAX, x, Kit.i8(xt.shape), ps);
        if (masked) {
            s.inputs = new uint32[](2);
            (s.inputs[0], s.inputs[1]) = (x, ids);
        }
        s.wTypes = new Ty[](1);
        s.wData = new bytes[](1);
        s.wTypes[0] = Kit.i32(Kit.s1(len));
    }

    /// @notice layer norm of step `x` (of type `xt`) with parameters (`pre`, `eps`,
    ///         `sh`) and a table int32 [N, 2] of (γ, β) rows (its type only: the
    ///         test commits its data).
    function layernorm(uint32 x, Ty memory xt, int64 pre, int64 eps, int64 sh) internal pure returns (StepDef memory s) {
        int64[] memory ps = new int64[](3);
        (ps[0], ps[1], ps[2]) = (pre, eps, sh);
        s = unary(LAYERNORM, x, Kit.i8(xt.shape), ps);
        s.wTypes = new Ty[](1);
        s.wData = new bytes[](1);
        s.wTypes[0] = Kit.i32(Kit.s2(xt.shape[xt.shape.length - 1], 2));
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
        for (uint256 i = 0; i < out.length; i++) {
            out[i] = xt.shape[i];
        }
        s = unary(ARGMAX, from, Kit.i32(out), noParams());
    }

    // ------------------------------------------------------------------- models

    function encSpec(StepDef memory s, Committed[] memory w, StepDef[] memory all) internal pure returns (bytes memory) {
        Ty[] memory ins = new Ty[](s.inputs.length);
        for (uint256 j = 0; j < ins.length; j++) {
            ins[j] = all[s.inputs[j]].out;
        }
        return encSpecWith(s, w, ins);
    }

    /// @notice The canonical spec bytes of `s` whose inputs have types `ins`.
    function encSpecWith(StepDef memory s, Committed[] memory w, Ty[] memory ins) internal pure returns (bytes memory b) {
        b = abi.encodePacked(uint8(2), s.op, Kit.encType(s.out), uint8(s.inputs.length));
        for (uint256 j = 0; j < s.inputs.length; j++) {
            b = abi.encodePacked(b, s.inputs[j], Kit.encType(ins[j]));
        }
        b = abi.encodePacked(b, uint8(s.params.length));
        for (uint256 j = 0; j < s.params.length; j++) {
            b = abi.encodePacked(b, s.params[j]);
        }
        b = abi.encodePacked(b, uint8(w.length));
        for (uint256 j = 0; j < w.length; j++) {
            b = abi.encodePacked(b, Kit.encType(w[j].ty), w[j].root);
        }
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
            for (uint256 k = 0; k < steps[i].wTypes.length; k++) {
                m.weights[i][k] = Kit.commit(steps[i].wTypes[k], steps[i].wData[k]);
            }
            m.specs[i] = encSpec(steps[i], m.weights[i], steps);
            leaves[i] = keccak256(abi.encodePacked(bytes1(0x04), m.specs[i]));
        }
        m.specTree = Kit.tree(0x05, leaves, bytes32(0));
        m.specRoot = Kit.rootOf(m.specTree);
        m.id = keccak256(abi.encodePacked(bytes1(0x06), uint32(n), m.specRoot));
    }

    /// @notice Canonical outputs of every step on `x`.
    function run(ModelDef memory m, bytes memory x) internal pure returns (bytes[] memory outs) {
        outs = new bytes[](m.stepCount);
        outs[0] = x;
        for (uint256 i = 1; i < m.stepCount; i++) {
            outs[i] = evalStep(m, i, outs);
        }
    }

    /// @notice The honest trace of `m` on `x`.
    function honestTrace(ModelDef memory m, bytes memory x) internal pure returns (TraceDef memory) {
        bytes[] memory outs = run(m, x);
        Committed[] memory cs = new Committed[](m.stepCount);
        for (uint256 i = 0; i < m.stepCount; i++) {
            cs[i] = Kit.commit(m.steps[i].out, outs[i]);
        }
        return trace(cs);
    }

    function trace(Committed[] memory cs) internal pure returns (TraceDef memory t) {
        bytes32[] memory leaves = new bytes32[](cs.length);
        for (uint256 i = 0; i < cs.length; i++) {
            leaves[i] = cs[i].commitment;
        }
        t.steps = cs;
        t.tree = Kit.tree(0x03, leaves, bytes32(0));
        t.root = Kit.rootOf(t.tree);
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
                for (uint256 k = 0; k < K; k++) {
                    acc += Kit.get(x, 1, p * K + k) * Kit.get(s.wData[0], 1, c * K + k);
                }
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
            for (uint256 e = 0; e < n; e++) {
                Kit.set(y, 1, e, Kit.get(s.wData[0], 1, uint256(Kit.get(x, 1, e) + 128)));
            }
        } else if (op == RESHAPE) {
            for (uint256 b = 0; b < y.length; b++) {
                y[b] = x[b];
            }
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
                                acc += Kit.get(x, 1, uint256((c * H + hi) * W + wi)) * Kit.get(w, 1, uint256(((int256(o) * C + c) * KH + u) * KW + v));
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

    // ------------------------------------------------------------------ folds

    /// @notice Step `i` of `m`.
    function stepOf(ModelDef memory m, uint256 i) internal pure returns (StepDef memory) {
        return m.steps[Kit.at(m.index, i)];
    }

    /// @notice The spec bytes of step `i` of `m`.
    function specOf(ModelDef memory m, uint256 i) internal pure returns (bytes memory) {
        return m.specs[Kit.at(m.index, i)];
    }

    /// @notice The committed weights of step `i` of `m`.
    function weightsOf(ModelDef memory m, uint256 i) internal pure returns (Committed[] memory) {
        return m.weights[Kit.at(m.index, i)];
    }

    /// @notice The committed output of step `i` in trace `t`.
    function outOf(TraceDef memory t, uint256 i) internal pure returns (Committed memory) {
        return t.steps[Kit.at(t.index, i)];
    }

    /// @notice The input types of step `i` of `m`.
    function inputTypes(ModelDef memory m, uint256 i) internal pure returns (Ty[] memory t) {
        StepDef memory s = stepOf(m, i);
        t = new Ty[](s.inputs.length);
        for (uint256 j = 0; j < t.length; j++) {
            t[j] = stepOf(m, s.inputs[j]).out;
        }
    }

    /// @notice The committed inputs of step `i` in trace `t`.
    function inputsIn(ModelDef memory m, TraceDef memory t, uint256 i) internal pure returns (Committed[] memory xs) {
        StepDef memory s = stepOf(m, i);
        xs = new Committed[](s.inputs.length);
        for (uint256 j = 0; j < xs.length; j++) {
            xs[j] = outOf(t, s.inputs[j]);
        }
    }

    /// @notice A model of `stepCount` steps of which only `steps` (steps `index`,
    ///         increasing, with committed weights `weights`) are ever opened; the
    ///         other spec leaves are one filler hash. Its spec tree is built from
    ///         its structure.
    function buildSparse(StepDef[] memory steps, uint256[] memory index, Committed[][] memory weights, uint32 stepCount)
        internal
        pure
        returns (ModelDef memory m)
    {
        m.steps = steps;
        m.index = index;
        m.weights = weights;
        m.stepCount = stepCount;
        m.specs = new bytes[](steps.length);
        bytes32[] memory leaves = new bytes32[](steps.length);
        for (uint256 k = 0; k < steps.length; k++) {
            m.specs[k] = encSpecWith(steps[k], weights[k], inputTypes(m, index[k]));
            leaves[k] = keccak256(abi.encodePacked(bytes1(0x04), m.specs[k]));
        }
        m.specTree = Kit.sparseTree(0x05, Kit.height(stepCount), keccak256("a step no test opens"), index, leaves);
        m.specRoot = Kit.rootOf(m.specTree);
        m.id = keccak256(abi.encodePacked(bytes1(0x06), stepCount, m.specRoot));
    }

    /// @notice The trace of a sparse model: the outputs `cs` of steps `index`, every
    ///         other leaf zero.
    function sparseTrace(Committed[] memory cs, uint256[] memory index, uint256 stepCount) internal pure returns (TraceDef memory t) {
        bytes32[] memory leaves = new bytes32[](cs.length);
        for (uint256 k = 0; k < cs.length; k++) {
            leaves[k] = cs[k].commitment;
        }
        t.steps = cs;
        t.index = index;
        t.tree = Kit.sparseTree(0x03, Kit.height(stepCount), bytes32(0), index, leaves);
        t.root = Kit.rootOf(t.tree);
    }

    /// @dev The reduction of step `s` (inputs of types `ins`): its number of terms
    ///      `T` and block length `B` (docs/semantics.md's table); (0, 0) for an op
    ///      that does not reduce.
    function terms(StepDef memory s, Ty[] memory ins) internal pure returns (uint256 T, uint256 B) {
        if (s.op == LINEAR) return (s.wTypes[0].shape[1], BLOCK);
        if (s.op == MATMUL) {
            // B = 512 transposed, else max(1, floor(512 / N))
            uint256 n = s.out.shape[s.out.shape.length - 1];
            uint256 per = s.params[0] == 1 || n <= 1 ? BLOCK : (n >= BLOCK ? 1 : BLOCK / n);
            return (ins[0].shape[ins[0].shape.length - 1], per);
        }
        if (s.op == ARGMAX) return (ins[0].shape[ins[0].shape.length - 1], BLOCK);
        if (s.op == LAYERNORM) return (ins[0].shape[ins[0].shape.length - 1], BLOCK / Kit.size(ins[0].dtype));
        if (s.op == SOFTMAX) {
            // two phases of whole blocks, B = floor(256 / w), w = x's size (+ 4 with a mask)
            uint256 n = ins[0].shape[ins[0].shape.length - 1];
            uint256 per = 256 / (Kit.size(ins[0].dtype) + (s.params[0] == 1 ? 4 : 0));
            return (2 * ((n + per - 1) / per) * per, per);
        }
        if (s.op == CONV2D) {
            uint256 hw = uint256(ins[0].shape[1]) * ins[0].shape[2];
            uint256 taps = uint256(s.wTypes[0].shape[2]) * s.wTypes[0].shape[3];
            uint256 widest = hw > taps ? hw : taps;
            // G = max(1, floor(512 / max(H·W, KH·KW, 2·KH)))
            if (2 * uint256(s.wTypes[0].shape[2]) > widest) widest = 2 * uint256(s.wTypes[0].shape[2]);
            uint256 g = widest == 0 ? BLOCK : BLOCK / widest;
            if (g == 0) g = 1;
            return (uint256(ins[0].shape[0]) * taps, g * taps);
        }
        if (s.op == MAXPOOL2D || s.op == AVGPOOL2D) {
            uint256 kw = uint256(int256(s.params[1]));
            // G = max(1, floor(512 / max(W, KW, 2)))
            uint256 widest = ins[0].shape[2] > kw ? ins[0].shape[2] : kw;
            if (widest < 2) widest = 2;
            uint256 g = BLOCK / widest;
            if (g == 0) g = 1;
            return (uint256(int256(s.params[0])) * kw, g * kw);
        }
        return (0, 0);
    }

    /// @notice The number of blocks of every element of step `s`: `max(1, ceil(T / B))`.
    function blocks(StepDef memory s, Ty[] memory ins) internal pure returns (uint256) {
        (uint256 T, uint256 B) = terms(s, ins);
        if (T == 0) return 1;
        return (T + B - 1) / B;
    }

    /// @dev The coordinates (channel, row, column) of element `e` of a `[C, OH, OW]` output.
    function _at3(Ty memory out, uint256 e) private pure returns (uint256 c, int256 i, int256 j) {
        uint256 oh = out.shape[1];
        uint256 ow = out.shape[2];
        c = e / (oh * ow);
        i = int256((e / ow) % oh);
        j = int256(e % ow);
    }

    /// @notice Element `e` of step `s` folded term by term, block by block, from
    ///         committed inputs `xs` (types `ins`) and weights `ws`.
    function fold(StepDef memory s, Ty[] memory ins, Committed[] memory xs, Committed[] memory ws, uint256 e) internal pure returns (Fold memory f) {
        f.blocks = blocks(s, ins);
        f.states = new int256[][](f.blocks);
        (uint256 T, uint256 B) = terms(s, ins);
        if (T == 0 && B == 0) {
            f.value = _direct(s, xs, ws, e);
            for (uint256 b = 0; b < f.blocks; b++) {
                f.states[b] = new int256[](0);
            }
            return f;
        }
        // init: (0) for sums, (-2^63) for a maximum, (-2^63, 0) for argmax,
        // (-2^63, 0, 0) for softmax, (0, 0, 0) for layer norm
        int256[] memory st = new int256[](s.op == SOFTMAX || s.op == LAYERNORM ? 3 : (s.op == ARGMAX ? 2 : 1));
        if (s.op == MAXPOOL2D || s.op == ARGMAX || s.op == SOFTMAX) st[0] = -int256(2 ** 63);
        for (uint256 b = 0; b < f.blocks; b++) {
            uint256 end = (b + 1) * B < T ? (b + 1) * B : T;
            for (uint256 t = b * B; t < end; t++) {
                _term(s, ins, xs, ws, e, t, st);
            }
            f.states[b] = new int256[](st.length);
            for (uint256 k = 0; k < st.length; k++) {
                f.states[b][k] = st[k];
            }
        }
        f.value = _finish(s, ins, ws, e, st);
    }

    /// @notice `fold` of an element whose blocks before `first` read only zeros of
    ///         the input (the x of a linear layer, a conv or a pool, an argmax's
    ///         row): those blocks are not folded term by term, so an element of
    ///         millions of blocks can be folded from its last ones. Each of them
    ///         leaves the state `f.before` that a block of zeros leaves (block 0,
    ///         folded: `(0)` for a sum, `(0)` for a maximum, `(0, 0)` for argmax);
    ///         `f.states` holds the states after blocks `first … n − 1`. Reverts
    ///         unless every chunk of x with data lies past what block `first − 1`
    ///         reads.
    function foldFrom(StepDef memory s, Ty[] memory ins, Committed[] memory xs, Committed[] memory ws, uint256 e, uint256 first)
        internal
        pure
        returns (Fold memory f)
    {
        f.blocks = blocks(s, ins);
        _requireZerosBefore(s, ins, xs, e, first, f.blocks);
        int256[] memory st = new int256[](s.op == ARGMAX ? 2 : 1);
        if (s.op == MAXPOOL2D || s.op == ARGMAX) st[0] = -int256(2 ** 63);
        _foldBlock(s, ins, xs, ws, e, 0, st);
        f.first = first;
        f.before = new int256[](st.length);
        for (uint256 k = 0; k < st.length; k++) {
            f.before[k] = st[k];
        }
        f.states = new int256[][](f.blocks - first);
        for (uint256 b = first; b < f.blocks; b++) {
            _foldBlock(s, ins, xs, ws, e, b, st);
            f.states[b - first] = new int256[](st.length);
            for (uint256 k = 0; k < st.length; k++) {
                f.states[b - first][k] = st[k];
            }
        }
        f.value = _finish(s, ins, ws, e, st);
    }

    /// @dev Folds the terms of block `b` of element `e` into `st`.
    function _foldBlock(StepDef memory s, Ty[] memory ins, Committed[] memory xs, Committed[] memory ws, uint256 e, uint256 b, int256[] memory st)
        private
        pure
    {
        (uint256 T, uint256 B) = terms(s, ins);
        uint256 end = (b + 1) * B < T ? (b + 1) * B : T;
        for (uint256 t = b * B; t < end; t++) {
            _term(s, ins, xs, ws, e, t, st);
        }
    }

    /// @dev `foldFrom`'s preconditions: an op whose blocks of zeros all leave the
    ///      state a first block of zeros leaves (a maximum needs a term in every
    ///      block: no padding), and no data in x before what block `first` reads.
    function _requireZerosBefore(StepDef memory s, Ty[] memory ins, Committed[] memory xs, uint256 e, uint256 first, uint256 n) private pure {
        bool keep = s.op == LINEAR || s.op == MATMUL || s.op == CONV2D || s.op == AVGPOOL2D || s.op == ARGMAX
            || (s.op == MAXPOOL2D && s.params[4] == 0 && s.params[5] == 0);
        require(keep && first >= 1 && first < n, "foldFrom: an op whose zero blocks keep the state, a block past the first");
        require(Kit.isSparse(xs[0]), "foldFrom: a sparse input");
        (uint256[2][] memory rin,) = reads(s, ins, xs, e, first - 1);
        Committed memory x = xs[0];
        for (uint256 k = 0; k < x.chunkIdx.length && x.chunkIdx[k] * Kit.CHUNK < rin[0][1]; k++) {
            for (uint256 i = 0; i < Kit.CHUNK && x.chunkIdx[k] * Kit.CHUNK + i < rin[0][1]; i++) {
                require(x.chunkData[k][i] == 0, "foldFrom: data before block first");
            }
        }
    }

    /// @dev Folds term `t` of element `e` into `st`.
    function _term(StepDef memory s, Ty[] memory ins, Committed[] memory xs, Committed[] memory ws, uint256 e, uint256 t, int256[] memory st)
        private
        pure
    {
        if (s.op == LINEAR) {
            uint256 N = s.wTypes[0].shape[0];
            uint256 K = s.wTypes[0].shape[1];
            st[0] += Kit.elem(xs[0], (e / N) * K + t) * Kit.elem(ws[0], (e % N) * K + t);
        } else if (s.op == MATMUL) {
            (uint256 ai, uint256 bi) = _matmulAt(s, ins, e, t);
            st[0] += Kit.elem(xs[0], ai) * Kit.elem(xs[1], bi);
        } else if (s.op == ARGMAX) {
            uint256 N = ins[0].shape[ins[0].shape.length - 1];
            int256 v = Kit.elem(xs[0], e * N + t);
            if (v > st[0]) (st[0], st[1]) = (v, int256(t));
        } else if (s.op == SOFTMAX) {
            _softmaxTerm(s, ins, xs, ws, e, t, st);
        } else if (s.op == LAYERNORM) {
            uint256 n = ins[0].shape[ins[0].shape.length - 1];
            int256 z = Kit.elem(xs[0], e - e % n + t) >> uint256(int256(s.params[0]));
            st[0] += z;
            st[1] += z * z;
            if (t == e % n) st[2] = z;
        } else if (s.op == CONV2D) {
            uint256 KH = s.wTypes[0].shape[2];
            uint256 KW = s.wTypes[0].shape[3];
            uint256 C = ins[0].shape[0];
            int256 H = int256(uint256(ins[0].shape[1]));
            int256 W = int256(uint256(ins[0].shape[2]));
            (uint256 o, int256 i, int256 j) = _at3(s.out, e);
            uint256 c = t / (KH * KW);
            uint256 u = (t / KW) % KH;
            uint256 v = t % KW;
            int256 hi = i * s.params[0] + int256(u) - s.params[2];
            int256 wi = j * s.params[1] + int256(v) - s.params[3];
            // x̂ is zero outside the plane: the term adds nothing
            if (hi < 0 || hi >= H || wi < 0 || wi >= W) return;
            st[0] += Kit.elem(xs[0], uint256((int256(c) * H + hi) * W + wi)) * Kit.elem(ws[0], ((o * C + c) * KH + u) * KW + v);
        } else {
            bool isMax = s.op == MAXPOOL2D;
            uint256 KW = uint256(int256(s.params[1]));
            int256 H = int256(uint256(ins[0].shape[1]));
            int256 W = int256(uint256(ins[0].shape[2]));
            (uint256 c, int256 i, int256 j) = _at3(s.out, e);
            int256 hi = i * s.params[2] + int256(t / KW) - (isMax ? int256(s.params[4]) : int256(0));
            int256 wi = j * s.params[3] + int256(t % KW) - (isMax ? int256(s.params[5]) : int256(0));
            if (hi < 0 || hi >= H || wi < 0 || wi >= W) return; // no term there
            int256 val = Kit.elem(xs[0], uint256((int256(c) * H + hi) * W + wi));
            if (isMax) {
                if (val > st[0]) st[0] = val;
            } else {
                st[0] += val;
            }
        }
    }

    /// @dev softmax term `t` of element `e` (row position `k`, in the first phase or
    ///      the second): `best = max(best, x)` over kept keys; then `acc += e(k)`,
    ///      `e(k) = E[best − x]` for a kept key inside the table (else 0), and
    ///      `mine = e(k)` at the element's own position.
    function _softmaxTerm(StepDef memory s, Ty[] memory ins, Committed[] memory xs, Committed[] memory ws, uint256 e, uint256 t, int256[] memory st)
        private
        pure
    {
        (uint256 T,) = terms(s, ins);
        uint256 n = ins[0].shape[ins[0].shape.length - 1];
        bool second = t >= T / 2;
        uint256 k = second ? t - T / 2 : t;
        if (k >= n) return;
        int256 x = Kit.elem(xs[0], e - e % n + k);
        bool kept = s.params[0] == 0 || Kit.elem(xs[1], k) != s.params[1];
        if (!second) {
            if (kept && x > st[0]) st[0] = x;
            return;
        }
        int256 d = st[0] - x;
        int256 v = kept && d >= 0 && d < int256(uint256(ws[0].ty.shape[0])) ? Kit.elem(ws[0], uint256(d)) : int256(0);
        st[1] += v;
        if (k == e % n) st[2] = v;
    }

    /// @dev The positions in a and b of term `t` of matmul element `e`:
    ///      a[p, i, t] and b[p, t, j] (b[p, j, t] transposed).
    function _matmulAt(StepDef memory s, Ty[] memory ins, uint256 e, uint256 t) private pure returns (uint256 ai, uint256 bi) {
        uint256 r = s.out.shape.length;
        uint256 M = s.out.shape[r - 2];
        uint256 N = s.out.shape[r - 1];
        uint256 K = ins[0].shape[r - 1];
        uint256 p = e / (M * N);
        uint256 j = e % N;
        ai = (e / N) * K + t;
        bi = s.params[0] == 1 ? (p * N + j) * K + t : (p * K + t) * N + j;
    }

    function _finish(StepDef memory s, Ty[] memory ins, Committed[] memory ws, uint256 e, int256[] memory st) private pure returns (int256) {
        if (s.op == MATMUL) return requant(st[0], s.params[1], s.params[2], -128);
        if (s.op == LINEAR || s.op == CONV2D) {
            uint256 row = s.op == LINEAR ? e % s.wTypes[0].shape[0] : e / (uint256(s.out.shape[1]) * s.out.shape[2]);
            int256 relu = s.op == LINEAR ? s.params[0] : s.params[4];
            return requant(Kit.elem(ws[1], 3 * row) + st[0], Kit.elem(ws[1], 3 * row + 1), Kit.elem(ws[1], 3 * row + 2), lower(int64(relu)));
        }
        if (s.op == AVGPOOL2D) return requant(st[0], s.params[4], s.params[5], -128);
        if (s.op == ARGMAX) return st[1];
        if (s.op == SOFTMAX) {
            if (st[1] <= 0) return 0;
            int256 y = (256 * st[2] + st[1]) / (2 * st[1]);
            return y > 127 ? int256(127) : y;
        }
        if (s.op == LAYERNORM) return _layernormFinish(s, ins[0], ws, e, st);
        return st[0]; // maxpool2d
    }

    /// @dev 0 for a state no fold reaches; else `r = isqrt(max(N·S2 − S1² + eps, 1))`
    ///      (by bisection), `c = N·mine − S1`, and
    ///      `clamp(floor((2·(γ·c + β·r) + r·2^s) / (2·r·2^s)), −128, 127)`.
    function _layernormFinish(StepDef memory s, Ty memory x, Committed[] memory ws, uint256 e, int256[] memory st) private pure returns (int256) {
        int256 n = int256(uint256(ws[0].ty.shape[0]));
        int256 bits = int256(8 * Kit.size(x.dtype)) - 1 - s.params[0];
        int256 zm = bits > 0 ? int256(2 ** uint256(bits)) : int256(1);
        if (st[0] > n * zm || st[0] < -n * zm || st[1] < 0 || st[1] > n * zm * zm || st[2] > zm || st[2] < -zm) return 0;
        uint256 j = e % uint256(n);
        int256 d = n * st[1] - st[0] * st[0] + s.params[1];
        if (d < 1) d = 1;
        int256 lo = 0;
        int256 hi = 2 ** 32;
        while (hi - lo > 1) {
            int256 mid = (lo + hi) / 2;
            if (mid * mid <= d) lo = mid;
            else hi = mid;
        }
        int256 den = lo * int256(2 ** uint256(int256(s.params[2])));
        int256 num = 2 * (Kit.elem(ws[0], 2 * j) * (n * st[2] - st[0]) + Kit.elem(ws[0], 2 * j + 1) * lo) + den;
        int256 y = floorDiv(num, 2 * den);
        return y < -128 ? int256(-128) : (y > 127 ? int256(127) : y);
    }

    /// @dev The ops that do not reduce, one element.
    function _direct(StepDef memory s, Committed[] memory xs, Committed[] memory ws, uint256 e) private pure returns (int256) {
        if (s.op == RELU) {
            int256 v = Kit.elem(xs[0], e);
            return v > 0 ? v : int256(0);
        }
        if (s.op == ADD) {
            int256 acc = Kit.elem(xs[0], e) * s.params[0] + Kit.elem(xs[1], e) * s.params[1];
            return requant(acc, 1, s.params[2], lower(s.params[3]));
        }
        if (s.op == RESIDUAL) {
            int256 acc = Kit.elem(xs[0], e) * s.params[0] + Kit.elem(xs[1], e) * s.params[1];
            if (s.params[2] > 0) acc += int256(2 ** uint256(int256(s.params[2]) - 1));
            acc = floorDiv(acc, int256(2 ** uint256(int256(s.params[2]))));
            return acc < type(int32).min ? int256(type(int32).min) : (acc > type(int32).max ? int256(type(int32).max) : acc);
        }
        if (s.op == LUT) return Kit.elem(ws[0], uint256(Kit.elem(xs[0], e) + 128));
        if (s.op == RESHAPE) return Kit.elem(xs[0], e);
        if (s.op == EMBEDDING) {
            uint256 d = ws[0].ty.shape[1];
            int256 id = Kit.elem(xs[0], e / d);
            if (id < 0 || uint256(id) >= ws[0].ty.shape[0]) return 0;
            return Kit.elem(ws[0], uint256(id) * d + e % d);
        }
        if (s.op == PERMUTE) return Kit.elem(xs[0], _permuted(s, xs[0].ty, e));
        revert("no computation");
    }

    /// @dev The flat input index of permute output element `e`: its coordinates in
    ///      the output's shape, axis k put back at input axis perm[k].
    function _permuted(StepDef memory s, Ty memory xt, uint256 e) private pure returns (uint256 flat) {
        uint256 r = xt.shape.length;
        uint256[] memory j = new uint256[](r);
        uint256 rest = e;
        for (uint256 k = r; k > 0; k--) {
            j[uint256(int256(s.params[k - 1]))] = rest % s.out.shape[k - 1];
            rest /= s.out.shape[k - 1];
        }
        for (uint256 a = 0; a < r; a++) {
            flat = flat * xt.shape[a] + j[a];
        }
    }

    /// @notice The checkpoint leaf of a state: keccak256(0x07 ‖ its words).
    function stateLeaf(int256[] memory st) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x07), st));
    }

    /// @notice The element leaf of a value: keccak256(0x09 ‖ value).
    function elementLeaf(int256 v) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x09), v));
    }

    /// @notice A state's encoding: its words.
    function encState(int256[] memory st) internal pure returns (bytes memory) {
        return abi.encodePacked(st);
    }

    /// @notice The leaves of a checkpoint tree of fold `f` whose element is `y`.
    function checkpointLeaves(Fold memory f, int256 y) internal pure returns (bytes32[] memory leaves) {
        require(f.first == 0, "the leaves of every block");
        leaves = new bytes32[](f.blocks);
        for (uint256 b = 0; b + 1 < f.blocks; b++) {
            leaves[b] = stateLeaf(f.states[b]);
        }
        leaves[f.blocks - 1] = elementLeaf(y);
    }

    // ------------------------------------------------------------------ reads

    /// @notice The bytes `[lo, hi)` of each input and weight that block `b` of
    ///         element `e` of step `s` reads (`lo == hi`: none): the positions its
    ///         terms name (inside the plane), and the finish's `Q` row in the last
    ///         block. `xs` gives a table's index (lut).
    function reads(StepDef memory s, Ty[] memory ins, Committed[] memory xs, uint256 e, uint256 b)
        internal
        pure
        returns (uint256[2][] memory rin, uint256[2][] memory rw)
    {
        rin = new uint256[2][](s.inputs.length);
        rw = new uint256[2][](s.wTypes.length);
        (uint256 T, uint256 B) = terms(s, ins);
        bool last = b + 1 == blocks(s, ins);
        uint256 t0 = b * B;
        uint256 t1 = (b + 1) * B < T ? (b + 1) * B : T;
        if (s.op == LINEAR) {
            uint256 N = s.wTypes[0].shape[0];
            uint256 K = s.wTypes[0].shape[1];
            if (t1 > t0) {
                rin[0] = [(e / N) * K + t0, (e / N) * K + t1];
                rw[0] = [(e % N) * K + t0, (e % N) * K + t1];
            }
            if (last) rw[1] = [12 * (e % N), 12 * (e % N) + 12];
        } else if (s.op == MATMUL) {
            if (t1 > t0) {
                (uint256 a0, uint256 b0) = _matmulAt(s, ins, e, t0);
                (, uint256 b1) = _matmulAt(s, ins, e, t1 - 1);
                rin[0] = [a0, a0 + t1 - t0];
                rin[1] = [b0, b1 + 1];
            }
        } else if (s.op == EMBEDDING) {
            uint256 d = s.wTypes[0].shape[1];
            rin[0] = [4 * (e / d), 4 * (e / d) + 4];
            int256 id = Kit.elem(xs[0], e / d);
            if (id >= 0 && uint256(id) < s.wTypes[0].shape[0]) rw[0] = [uint256(id) * d + e % d, uint256(id) * d + e % d + 1];
        } else if (s.op == PERMUTE) {
            uint256 sz = Kit.size(ins[0].dtype);
            uint256 at = _permuted(s, ins[0], e) * sz;
            rin[0] = [at, at + sz];
        } else if (s.op == ARGMAX) {
            uint256 N = ins[0].shape[ins[0].shape.length - 1];
            if (t1 > t0) rin[0] = [e * N + t0, e * N + t1];
        } else if (s.op == SOFTMAX) {
            // one run of x and of the ids; the whole table in the second phase
            uint256 n = ins[0].shape[ins[0].shape.length - 1];
            bool second = t0 >= T / 2;
            uint256 k0 = second ? t0 - T / 2 : t0;
            uint256 k1 = k0 + B < n ? k0 + B : n;
            uint256 sz = Kit.size(ins[0].dtype);
            rin[0] = [(e - e % n + k0) * sz, (e - e % n + k1) * sz];
            if (s.params[0] == 1) rin[1] = [4 * k0, 4 * k1];
            if (second) rw[0] = [uint256(0), 4 * uint256(s.wTypes[0].shape[0])];
        } else if (s.op == LAYERNORM) {
            // one run of x; the element's (γ, β) row in the last block
            uint256 n = ins[0].shape[ins[0].shape.length - 1];
            uint256 sz = Kit.size(ins[0].dtype);
            rin[0] = [(e - e % n + t0) * sz, (e - e % n + t1) * sz];
            if (last) rw[0] = [8 * (e % n), 8 * (e % n) + 8];
        } else if (s.op == CONV2D || s.op == MAXPOOL2D || s.op == AVGPOOL2D) {
            (rin[0], rw) = _windowReads(s, ins, e, t0, t1, last);
        } else if (s.op == ADD) {
            rin[0] = [e, e + 1];
            rin[1] = [e, e + 1];
        } else if (s.op == RESIDUAL) {
            uint256 sa = Kit.size(ins[0].dtype);
            uint256 sb = Kit.size(ins[1].dtype);
            rin[0] = [e * sa, e * sa + sa];
            rin[1] = [e * sb, e * sb + sb];
        } else if (s.op == LUT) {
            rin[0] = [e, e + 1];
            uint256 at = uint256(Kit.elem(xs[0], e) + 128);
            rw[0] = [at, at + 1];
        } else {
            uint256 sz = Kit.size(ins[0].dtype); // relu, reshape
            rin[0] = [e * sz, e * sz + sz];
        }
    }

    /// @dev What the terms `[t0, t1)` of a window op read: the span from the first
    ///      to the last position inside the plane, of `x` and (conv2d) of `W`.
    function _windowReads(StepDef memory s, Ty[] memory ins, uint256 e, uint256 t0, uint256 t1, bool last)
        private
        pure
        returns (uint256[2] memory rx, uint256[2][] memory rw)
    {
        rw = new uint256[2][](s.wTypes.length);
        bool conv = s.op == CONV2D;
        uint256 KH = conv ? s.wTypes[0].shape[2] : uint256(int256(s.params[0]));
        uint256 KW = conv ? s.wTypes[0].shape[3] : uint256(int256(s.params[1]));
        int256[4] memory g; // strides, pads
        if (conv) g = [int256(s.params[0]), s.params[1], s.params[2], s.params[3]];
        else if (s.op == MAXPOOL2D) g = [int256(s.params[2]), s.params[3], s.params[4], s.params[5]];
        else g = [int256(s.params[2]), s.params[3], int256(0), int256(0)];
        uint256 C = ins[0].shape[0];
        int256 H = int256(uint256(ins[0].shape[1]));
        int256 W = int256(uint256(ins[0].shape[2]));
        (uint256 o, int256 i, int256 j) = _at3(s.out, e);
        uint256 xlo = type(uint256).max;
        uint256 xhi;
        uint256 wlo = type(uint256).max;
        uint256 whi;
        for (uint256 t = t0; t < t1; t++) {
            uint256 c = conv ? t / (KH * KW) : o;
            uint256 u = (t / KW) % KH;
            uint256 v = t % KW;
            int256 hi = i * g[0] + int256(u) - g[2];
            int256 wi = j * g[1] + int256(v) - g[3];
            if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
            uint256 xp = uint256((int256(c) * H + hi) * W + wi);
            if (xp < xlo) xlo = xp;
            if (xp + 1 > xhi) xhi = xp + 1;
            if (conv) {
                uint256 wp = ((o * C + c) * KH + u) * KW + v;
                if (wp < wlo) wlo = wp;
                if (wp + 1 > whi) whi = wp + 1;
            }
        }
        if (xhi > 0) rx = [xlo, xhi];
        if (whi > 0) rw[0] = [wlo, whi];
        if (conv && last) rw[1] = [12 * o, 12 * o + 12];
    }
}
