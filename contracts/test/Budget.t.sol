// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {console2} from "forge-std/console2.sol";
import {DisputeGame} from "../src/DisputeGame.sol";
import {Kit, Ty, StepDef, Committed, ModelDef, TraceDef} from "./utils/Kit.sol";
import {Ref, Fold} from "./utils/Ref.sol";
import {GameKit} from "./utils/GameKit.sol";
import {DigitTwins} from "./utils/DigitTwins.sol";

/// @notice The gas budgets, on transaction gas (GameKit.measure): a one-step proof
///         (`proveStep` or `proveBlock`) at most 300k, every other move at most
///         100k, a whole dispute at most 2M. Asserted on every step of twins of the
///         digit fixtures (same shapes as fixtures/models/digits-{mlp,cnn,resnet}.json,
///         random weights), and, for the one step and every move, at the model
///         loader's extremes (docs/semantics.md, "Bounds the loader enforces"):
///         traces of height 16, weight and data trees of height 24, the widest
///         one-channel conv windows, pooling rows of 512, unaligned blocks of 512
///         over three chunks. The extremes are models of 39,999 steps and tensors of
///         up to 2^32 bytes whose trees are built from their structure.
contract BudgetTest is GameKit {
    uint256 internal constant STEP_BUDGET = 300_000;
    uint256 internal constant MOVE_BUDGET = 100_000;
    uint256 internal constant DISPUTE_BUDGET = 2_000_000;

    function _commit(ModelDef memory m, bytes[] memory outs) internal pure returns (TraceDef memory) {
        Committed[] memory cs = new Committed[](m.stepCount);
        for (uint256 i = 0; i < m.stepCount; i++) {
            cs[i] = Kit.commit(m.steps[i].out, outs[i]);
        }
        return Ref.trace(cs);
    }

    function _assertBudgets(string memory what, bool whole) internal view {
        console2.log(what);
        console2.log(
            string.concat(
                "  ",
                played.oneStepKind,
                " ",
                vm.toString(played.oneStep),
                " (execution ",
                vm.toString(played.oneStepExec),
                ", of which evaluate ",
                vm.toString(played.evaluateExec),
                "), largest other move ",
                vm.toString(played.maxOther),
                " (",
                played.maxOtherKind,
                "), ",
                vm.toString(played.moves),
                " moves, whole dispute ",
                vm.toString(played.txGas)
            )
        );
        assertGt(played.oneStep, 0, "a one-step proof was made");
        assertLe(played.oneStep, STEP_BUDGET, string.concat(what, ": one step"));
        assertLe(played.maxOther, MOVE_BUDGET, string.concat(what, ": ", played.maxOtherKind));
        if (whole) assertLe(played.txGas, DISPUTE_BUDGET, string.concat(what, ": whole dispute"));
    }

    // ----------------------------------------------------------- digit twins

    /// @dev Plays a game against a liar whose element `e` of `step` is off by one
    ///      (later steps left honest: the game goes to the first wrong step).
    function _lieAt(ModelDef memory m, bytes memory x, bytes[] memory outs, TraceDef memory h, uint256 step, uint256 e) internal {
        deploy(1);
        register(m);
        bytes[] memory lie = new bytes[](outs.length);
        for (uint256 i = 0; i < outs.length; i++) {
            lie[i] = outs[i];
        }
        lie[step] = bytes.concat(outs[step]);
        uint8 dt = m.steps[step].out.dtype;
        Kit.set(lie[step], dt, e, Kit.get(lie[step], dt, e) + 1);
        TraceDef memory t = _commit(m, lie);
        uint256 id = challengeAs(challenger, postTrace(requestOn(m, x), t));
        play(id, m, t, h);
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(uint8(g.status), uint8(DisputeGame.Status.ChallengerWon));
        assertEq(g.stepIndex, step);
        _assertBudgets(string.concat("step ", vm.toString(step), " op ", vm.toString(uint256(m.steps[step].op))), true);
    }

    /// @dev Every step of `m`, lying at a central element (full windows).
    function _everyStep(ModelDef memory m, bytes memory x) internal {
        bytes[] memory outs = Ref.run(m, x);
        TraceDef memory h = _commit(m, outs);
        for (uint256 step = 1; step < m.stepCount; step++) {
            uint256 n = Kit.numel(m.steps[step].out.shape);
            uint256 e = n > 8 ? n / 2 + 3 : n - 1;
            _lieAt(m, x, outs, h, step, e);
        }
    }

    function test_everyStepOfTheDigitsMlpFitsTheBudget() public {
        _everyStep(DigitTwins.mlp(0), Kit.randomI8(1, 64));
    }

    function test_everyStepOfTheDigitsCnnFitsTheBudget() public {
        _everyStep(DigitTwins.cnn(10), Kit.randomI8(2, 64));
    }

    function test_everyStepOfTheDigitsResnetFitsTheBudget() public {
        _everyStep(DigitTwins.resnet(20), Kit.randomI8(3, 64));
    }

    // -------------------------------------------------------------- extremes

    /// @dev Steps of the extreme models: 39,999 of them (a trace of height 16;
    ///      the loader allows 2^16); the disputed step `D` reads the steps just
    ///      before it, whose outputs are given; the last step is a relu of the
    ///      one-byte input.
    uint32 internal constant STEPS = 39_999;
    uint256 internal constant D = STEPS - 2;
    uint256 internal constant NONE = type(uint256).max;

    /// @dev An extreme: the disputed step, its inputs' types and committed values,
    ///      its committed weights, the element the executor gets wrong, the block
    ///      from which its checkpoints lie (`NONE`: the last leaf only, so the last
    ///      block is proven) and the block the solvers fold from (`Ref.foldFrom`:
    ///      the blocks before it read zeros; 0: every block).
    struct Extreme {
        string name;
        StepDef step;
        Ty[] inTys;
        Committed[] inputs;
        Committed[] weights;
        uint256 element;
        uint256 lieFrom;
        uint256 first;
    }

    /// @dev A tensor of type `t`, zero but for pseudo-random bytes over the
    ///      increasing byte ranges `ranges` (the chunks holding them, zero outside
    ///      the ranges), committed from its structure.
    function _sparseData(Ty memory t, uint256 seed, uint256[2][] memory ranges) internal pure returns (Committed memory) {
        uint256 most;
        for (uint256 r = 0; r < ranges.length; r++) {
            if (ranges[r][1] > ranges[r][0]) most += (ranges[r][1] - 1) / 256 - ranges[r][0] / 256 + 1;
        }
        uint256[] memory idx = new uint256[](most);
        uint256 n;
        for (uint256 r = 0; r < ranges.length; r++) {
            if (ranges[r][1] <= ranges[r][0]) continue;
            for (uint256 c = ranges[r][0] / 256; c <= (ranges[r][1] - 1) / 256; c++) {
                if (n == 0 || c > idx[n - 1]) idx[n++] = c;
            }
        }
        uint256[] memory chunkIdx = new uint256[](n);
        bytes[] memory data = new bytes[](n);
        for (uint256 k = 0; k < n; k++) {
            chunkIdx[k] = idx[k];
            data[k] = Kit.randomI8(uint256(keccak256(abi.encode(seed, idx[k]))), 256);
            for (uint256 b = 0; b < 256; b++) {
                uint256 pos = idx[k] * 256 + b;
                bool inside;
                for (uint256 r = 0; r < ranges.length && !inside; r++) {
                    inside = pos >= ranges[r][0] && pos < ranges[r][1];
                }
                if (!inside) data[k][b] = 0;
            }
        }
        return Kit.commitSparse(t, chunkIdx, data);
    }

    /// @dev A requant table int32 [n, 3] (n >= 43) that is zero but for its first
    ///      two chunks: rows 0 to 41 valid requantizations (row 21 straddles the
    ///      two chunks).
    function _sparseTable(uint32 n, uint256 seed) internal pure returns (Committed memory) {
        uint256[] memory idx = new uint256[](2);
        bytes[] memory data = new bytes[](2);
        bytes memory q = Kit.requantTable(seed, 43, 10_000, 36, 6);
        (idx[0], idx[1]) = (0, 1);
        (data[0], data[1]) = (Kit.slice(q, 0, 256), Kit.slice(q, 256, 256));
        return Kit.commitSparse(Kit.i32(Kit.s2(n, 3)), idx, data);
    }

    /// @dev The inputs and weights of `x`: random where blocks `x.first … n − 1`
    ///      of its element read (the whole element's reads when it has one block),
    ///      zero elsewhere; the requant table's first two chunks.
    function _fill(Extreme memory x, uint256 seed) internal pure {
        uint256 n = Ref.blocks(x.step, x.inTys);
        uint256 nIn = x.inTys.length;
        uint256[2][][] memory rx = new uint256[2][][](nIn);
        for (uint256 j = 0; j < nIn; j++) {
            rx[j] = new uint256[2][](n - x.first);
        }
        uint256[2][] memory rw = new uint256[2][](n - x.first);
        for (uint256 b = x.first; b < n; b++) {
            (uint256[2][] memory rin, uint256[2][] memory rws) = Ref.reads(x.step, x.inTys, new Committed[](nIn), x.element, b);
            for (uint256 j = 0; j < nIn; j++) {
                rx[j][b - x.first] = rin[j];
            }
            if (rws.length > 0) rw[b - x.first] = rws[0];
        }
        x.inputs = new Committed[](nIn);
        for (uint256 j = 0; j < nIn; j++) {
            x.inputs[j] = _sparseData(x.inTys[j], seed + j, rx[j]);
        }
        x.weights = new Committed[](x.step.wTypes.length);
        if (x.weights.length == 1) x.weights[0] = _sparseData(x.step.wTypes[0], seed + 7, rw);
        if (x.weights.length == 2) {
            x.weights[0] = _sparseData(x.step.wTypes[0], seed + 7, rw);
            x.weights[1] = _sparseTable(x.step.wTypes[1].shape[0], seed + 8);
        }
    }

    /// @dev The last block of `x`'s element proven (from the state before it, with
    ///      the finish), the solvers folding the last two.
    function _lastBlock(Extreme memory x, uint256 seed) internal pure returns (Extreme memory) {
        x.lieFrom = NONE;
        x.first = Ref.blocks(x.step, x.inTys) - 2;
        _fill(x, seed);
        return x;
    }

    /// @dev The block before the last proven (the checkpoints lie from it on), the
    ///      solvers folding from the block before it.
    function _blockBeforeLast(Extreme memory x, uint256 seed) internal pure returns (Extreme memory) {
        uint256 n = Ref.blocks(x.step, x.inTys);
        x.lieFrom = n - 2;
        x.first = n - 3;
        _fill(x, seed);
        return x;
    }

    function _one(Ty memory t) internal pure returns (Ty[] memory ts) {
        ts = new Ty[](1);
        ts[0] = t;
    }

    function _withWeights(StepDef memory s, Ty memory w, Ty memory q) internal pure returns (StepDef memory) {
        s.wTypes = new Ty[](2);
        s.wData = new bytes[](2);
        (s.wTypes[0], s.wTypes[1]) = (w, q);
        return s;
    }

    function _i64(uint256 v) internal pure returns (int64) {
        return int64(uint64(v));
    }

    /// @dev conv2d over `g = [C, H, W, KH, KW, sH, sW, pH, pW]`, as many output
    ///      channels as keep W and the output within 2^32 elements (W's tree of
    ///      height 24); the element is output channel 21 (its Q row straddles two
    ///      chunks) at position (`i`, `j`); its last block proven.
    function _conv(string memory name, uint32[9] memory g, uint256 i, uint256 j, uint256 seed) internal pure returns (Extreme memory x) {
        uint256 oh = (uint256(g[1]) + 2 * g[7] - g[3]) / g[5] + 1;
        uint256 ow = (uint256(g[2]) + 2 * g[8] - g[4]) / g[6] + 1;
        uint256 o = (uint256(1) << 32) / (uint256(g[0]) * g[3] * g[4]);
        if ((uint256(1) << 32) / (oh * ow) < o) o = (uint256(1) << 32) / (oh * ow);
        x.name = name;
        x.inTys = _one(Kit.i8(Kit.s3(g[0], g[1], g[2])));
        x.step = Ref.unary(
            Ref.CONV2D, 0, Kit.i8(Kit.s3(uint32(o), uint32(oh), uint32(ow))), Ref.params(_i64(g[5]), _i64(g[6]), _i64(g[7]), _i64(g[8]), 0)
        );
        x.step = _withWeights(x.step, Kit.i8(Kit.s4(uint32(o), g[0], g[3], g[4])), Kit.i32(Kit.s2(uint32(o), 3)));
        x.element = (21 * oh + i) * ow + j;
        return _lastBlock(x, seed);
    }

    /// @dev linear x [2, 131071] (K at the loader's bound: 256 blocks) -> [2, 32768],
    ///      W [32768, 131071] (height 24); element (1, 21): x's row 1 starts 255
    ///      bytes into a chunk and W's row 21 235 bytes in, so every block spans
    ///      three chunks of each, and Q's row 21 straddles two.
    function _linear(string memory name, bool last) internal pure returns (Extreme memory x) {
        return _linearOfRank(name, 2, last);
    }

    /// @dev `_linear` with x and the output of rank `r` (leading dimensions of 1):
    ///      rank 8, the most a type has, is the largest spec and header.
    function _linearOfRank(string memory name, uint256 r, bool last) internal pure returns (Extreme memory x) {
        uint32 k = 131_071;
        uint32 n = 32_768;
        uint32[] memory xs = new uint32[](r);
        uint32[] memory ys = new uint32[](r);
        for (uint256 i = 0; i + 2 < r; i++) {
            (xs[i], ys[i]) = (1, 1);
        }
        (xs[r - 2], xs[r - 1], ys[r - 2], ys[r - 1]) = (2, k, 2, n);
        x.name = name;
        x.inTys = _one(Kit.i8(xs));
        x.step = _withWeights(Ref.unary(Ref.LINEAR, 0, Kit.i8(ys), Ref.params(0)), Kit.i8(Kit.s2(n, k)), Kit.i32(Kit.s2(n, 3)));
        x.element = n + 21;
        return last ? _lastBlock(x, 1) : _blockBeforeLast(x, 1);
    }

    /// @dev matmul of a [2, 131071] (K at the bound) by b of `n` columns, transposed
    ///      (b [n, K]) or not (b [K, n]); the element in row 1, column 21 (or 1);
    ///      its last block or the one before proven.
    function _matmul(string memory name, bool tb, uint32 n, bool last) internal pure returns (Extreme memory x) {
        uint32 k = 131_071;
        x.name = name;
        x.inTys = new Ty[](2);
        (x.inTys[0], x.inTys[1]) = (Kit.i8(Kit.s2(2, k)), tb ? Kit.i8(Kit.s2(n, k)) : Kit.i8(Kit.s2(k, n)));
        x.step = Ref.matmul(0, 1, Kit.i8(Kit.s2(2, n)), tb, int64(1) << 30, 46);
        x.element = n + (n > 21 ? 21 : n - 1);
        return last ? _lastBlock(x, 9) : _blockBeforeLast(x, 9);
    }

    /// @dev embedding of int32 ids [2^20] from a table [2^20, 4096] (2^32 bytes,
    ///      height 24; the output has 2^32 elements, the most there may be): the id
    ///      before the last names the table's last row, whose last byte is the
    ///      element.
    function _embedding() internal pure returns (Extreme memory x) {
        uint32 v = uint32(1) << 20;
        uint32 d = 4096;
        x.name = "embedding of ids [2^20] from a table [2^20, 4096] (height 24), its last row";
        x.inTys = _one(Kit.i32(Kit.s1(v)));
        x.step = Ref.unary(Ref.EMBEDDING, 0, Kit.i8(Kit.s2(v, d)), Ref.noParams());
        x.step.wTypes = new Ty[](1);
        x.step.wData = new bytes[](1);
        x.step.wTypes[0] = Kit.i8(Kit.s2(v, d));
        uint256 p = v - 2;
        x.element = p * d + d - 1;
        uint256[] memory idx = new uint256[](1);
        bytes[] memory data = new bytes[](1);
        idx[0] = 4 * p / 256;
        data[0] = new bytes(256);
        Kit.set(data[0], 2, (4 * p % 256) / 4, int256(uint256(v - 1)));
        x.inputs = new Committed[](1);
        x.inputs[0] = Kit.commitSparse(x.inTys[0], idx, data);
        uint256[2][] memory at = new uint256[2][](1);
        at[0] = [uint256(v - 1) * d + d - 1, uint256(v) * d];
        x.weights = new Committed[](1);
        x.weights[0] = _sparseData(x.step.wTypes[0], 12, at);
    }

    /// @dev softmax over rows of `n` of x `[rows, n]` (int8 or int32, at most 2^32
    ///      bytes: height 24), masked by ids `[n]` or not, with a table of 256 entries
    ///      (`2^30 >> floor(d / 8)`): the last element of the last row, its last
    ///      block (the second phase: a run of x, of the ids and the whole table).
    function _softmax(string memory name, bool wide, bool masked, uint32 rows, uint32 n) internal pure returns (Extreme memory x) {
        x.name = name;
        Ty memory xt = wide ? Kit.i32(Kit.s2(rows, n)) : Kit.i8(Kit.s2(rows, n));
        x.inTys = new Ty[](masked ? 2 : 1);
        x.inTys[0] = xt;
        if (masked) x.inTys[1] = Kit.i32(Kit.s1(n));
        x.step = Ref.softmax(0, xt, masked, 1, 12_345, 256);
        x.element = uint256(rows) * n - 1;
        x.lieFrom = NONE;
        _fill(x, 13);
        uint256[] memory idx = new uint256[](4);
        bytes[] memory data = new bytes[](4);
        for (uint256 k = 0; k < 4; k++) {
            idx[k] = k;
            data[k] = new bytes(256);
            for (uint256 i = 0; i < 64; i++) {
                Kit.set(data[k], 2, i, int256((uint256(1) << 30) >> ((64 * k + i) / 8)));
            }
        }
        x.weights[0] = Kit.commitSparse(x.step.wTypes[0], idx, data);
    }

    /// @dev layer norm over rows of `n` of x `[rows, n]` (int8 or int32, at most 2^32
    ///      bytes: height 24) at the input shift `pre`, the largest eps and output
    ///      shift: the last element of the last row, its last block (a run of x and
    ///      the element's row of (γ, β)).
    function _layernorm(string memory name, bool wide, uint32 rows, uint32 n, int64 pre) internal pure returns (Extreme memory x) {
        x.name = name;
        Ty memory xt = wide ? Kit.i32(Kit.s2(rows, n)) : Kit.i8(Kit.s2(rows, n));
        x.inTys = new Ty[](1);
        x.inTys[0] = xt;
        x.step = Ref.layernorm(0, xt, pre, 2 ** 56, 32);
        x.element = uint256(rows) * n - 1;
        x.lieFrom = NONE;
        _fill(x, 14);
    }

    /// @dev permute of rank 8 (the most), its axes reversed, over x [2, …, 2, 2^25 − 1]
    ///      (2^32 − 128 bytes, height 24).
    function _permute() internal pure returns (Extreme memory x) {
        uint32[] memory xs = new uint32[](8);
        uint32[] memory ys = new uint32[](8);
        int64[] memory perm = new int64[](8);
        for (uint256 a = 0; a < 8; a++) {
            xs[a] = a == 7 ? uint32((uint256(1) << 25) - 1) : 2;
            perm[a] = int64(uint64(7 - a));
        }
        for (uint256 a = 0; a < 8; a++) {
            ys[a] = xs[7 - a];
        }
        x.name = "permute of rank 8 reversed over [2, ..., 2, 2^25 - 1] (height 24)";
        x.inTys = _one(Kit.i8(xs));
        x.step = Ref.unary(Ref.PERMUTE, 0, Kit.i8(ys), perm);
        x.element = 3_000_000_019;
        _fill(x, 13);
    }

    /// @dev A pool over x [1, H, W] of a `kh` x `kw` window (stride 1, no padding),
    ///      H as large as keeps x within 2^32 bytes (a tree of height 24); the
    ///      element at output row `i` and column `j`; its last block proven.
    function _pool(string memory name, bool isMax, uint32 w, uint32 kh, uint32 kw, uint256 i, uint256 j) internal pure returns (Extreme memory x) {
        uint32 h = uint32((uint256(1) << 32) / w);
        x.name = name;
        x.inTys = _one(Kit.i8(Kit.s3(1, h, w)));
        Ty memory out = Kit.i8(Kit.s3(1, h - kh + 1, w - kw + 1));
        int64[] memory ps = isMax ? Ref.params(_i64(kh), _i64(kw), 1, 1, 0, 0) : Ref.params(_i64(kh), _i64(kw), 1, 1, int64(1) << 30, 46);
        x.step = Ref.unary(isMax ? Ref.MAXPOOL2D : Ref.AVGPOOL2D, 0, out, ps);
        x.element = i * (w - kw + 1) + j;
        return _lastBlock(x, 3);
    }

    /// @dev argmax over x [2, 2^31 - 224] (2^32 - 448 bytes, height 24): 2^22
    ///      blocks (a checkpoint tree of height 22); row 1 starts 32 bytes into a
    ///      chunk, so the full block before the last spans three chunks.
    function _argmax() internal pure returns (Extreme memory x) {
        uint32 n = uint32((uint256(1) << 31) - 224);
        x.name = "argmax over [2, 2^31 - 224] (height 24): 2^22 blocks, the block before the last unaligned";
        x.inTys = _one(Kit.i8(Kit.s2(2, n)));
        x.step = Ref.argmax(0, x.inTys[0]);
        x.element = 1;
        return _blockBeforeLast(x, 4);
    }

    /// @dev relu over [2^32 - 1]: data trees of height 24 (its input and its output).
    function _relu() internal pure returns (Extreme memory x) {
        x.name = "relu over [2^32 - 1]: data trees of height 24";
        x.inTys = _one(Kit.i8(Kit.s1(uint32((uint256(1) << 32) - 1))));
        x.step = Ref.unary(Ref.RELU, 0, x.inTys[0], Ref.noParams());
        x.element = 2_000_000_123;
        _fill(x, 5);
    }

    /// @dev add of two [2^32 - 1] inputs: two trace proofs, two input ranges of
    ///      height 24.
    function _add() internal pure returns (Extreme memory x) {
        Ty memory t = Kit.i8(Kit.s1(uint32((uint256(1) << 32) - 1)));
        x.name = "add of two [2^32 - 1] (height 24)";
        x.inTys = new Ty[](2);
        (x.inTys[0], x.inTys[1]) = (t, t);
        x.step = Ref.add(0, 1, t, 1 << 20, 1 << 20, 21, false);
        x.element = 3_000_000_007;
        _fill(x, 6);
    }

    /// @dev residual of two int32 [2^30] inputs (2^32 bytes each, height 24) into an
    ///      int32 stream at the largest multipliers.
    function _residual() internal pure returns (Extreme memory x) {
        Ty memory t = Kit.i32(Kit.s1(uint32(1) << 30));
        x.name = "residual of two int32 [2^30] (2^32 bytes each, height 24)";
        x.inTys = new Ty[](2);
        (x.inTys[0], x.inTys[1]) = (t, t);
        x.step = Ref.residual(0, 1, t.shape, 2 ** 30, 2 ** 30, 31);
        x.element = 1_000_000_007;
        _fill(x, 15);
    }

    /// @dev The output of `x.step` that is zero but for the chunk of its element,
    ///      which holds `value` there.
    function _sparseOut(Extreme memory x, int256 value) internal pure returns (Committed memory) {
        Ty memory out = x.step.out;
        uint256 sz = Kit.size(out.dtype);
        uint256[] memory idx = new uint256[](1);
        idx[0] = x.element * sz / 256;
        bytes[] memory data = new bytes[](1);
        data[0] = new bytes(256);
        Kit.set(data[0], out.dtype, (x.element * sz % 256) / sz, value);
        return Kit.commitSparse(out, idx, data);
    }

    /// @dev The sparse model of extreme `x`: step 0 (a one-byte input), the steps
    ///      `D − k … D − 1` that give its `k` inputs, step `D`, and step
    ///      `STEPS − 1`, a relu of step 0.
    function _model(Extreme memory x) internal pure returns (ModelDef memory) {
        return _modelOf(x, STEPS);
    }

    /// @dev `_model` with `steps` steps (the disputed step `steps − 2`).
    function _modelOf(Extreme memory x, uint32 steps_) internal pure returns (ModelDef memory) {
        uint256 d = uint256(steps_) - 2;
        uint256 nIn = x.inTys.length;
        StepDef[] memory steps = new StepDef[](nIn + 3);
        uint256[] memory index = new uint256[](nIn + 3);
        Committed[][] memory ws = new Committed[][](nIn + 3);
        steps[0] = Ref.input(Kit.s1(1));
        ws[0] = new Committed[](0);
        x.step.inputs = new uint32[](nIn);
        for (uint256 j = 0; j < nIn; j++) {
            index[1 + j] = d - nIn + j;
            steps[1 + j] = Ref.input(x.inTys[j].shape);
            steps[1 + j].out = x.inTys[j];
            ws[1 + j] = new Committed[](0);
            x.step.inputs[j] = uint32(index[1 + j]);
        }
        (index[nIn + 1], steps[nIn + 1], ws[nIn + 1]) = (d, x.step, x.weights);
        (index[nIn + 2], steps[nIn + 2], ws[nIn + 2]) = (steps_ - 1, Ref.unary(Ref.RELU, 0, steps[0].out, Ref.noParams()), new Committed[](0));
        return Ref.buildSparse(steps, index, ws, steps_);
    }

    /// @dev The trace of `x`'s model whose step `D` output is `out`.
    function _trace(Extreme memory x, ModelDef memory m, Committed memory out) internal pure returns (TraceDef memory) {
        uint256 nIn = x.inTys.length;
        Committed[] memory cs = new Committed[](nIn + 3);
        cs[0] = Kit.commit(Kit.i8(Kit.s1(1)), hex"05");
        for (uint256 j = 0; j < nIn; j++) {
            cs[1 + j] = x.inputs[j];
        }
        cs[nIn + 1] = out;
        cs[nIn + 2] = Kit.commit(Kit.i8(Kit.s1(1)), hex"05");
        return Ref.sparseTrace(cs, m.index, m.stepCount);
    }

    function _fold(Extreme memory x) internal pure returns (Fold memory) {
        if (x.first == 0) return Ref.fold(x.step, x.inTys, x.inputs, x.weights, x.element);
        return Ref.foldFrom(x.step, x.inTys, x.inputs, x.weights, x.element, x.first);
    }

    /// @dev Plays extreme `x` at `arityLog2`: the liar's element is off by one and
    ///      its checkpoints lie from `x.lieFrom`; asserts the fraud is rejected and
    ///      the budgets; prints the extreme's row.
    function _playExtreme(Extreme memory x, uint256 arityLog2) internal {
        deploy(arityLog2);
        ModelDef memory m = _model(x);
        register(m);
        Fold memory f = _fold(x);
        TraceDef memory h = _trace(x, m, _sparseOut(x, f.value));
        bool top = x.step.out.dtype == 1 && f.value == 127;
        TraceDef memory t = _trace(x, m, _sparseOut(x, top ? int256(126) : f.value + 1));
        uint256 id = challengeAs(challenger, postTrace(requestOn(m, hex"05"), t));
        (cpLieFrom, cpFoldFrom, measureEvaluate) = (x.lieFrom, x.first, true);
        play(id, m, t, h);
        (cpLieFrom, cpFoldFrom, measureEvaluate) = (NONE, 0, false);
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(uint8(g.status), uint8(DisputeGame.Status.ChallengerWon), "fraud is rejected");
        assertEq(g.stepIndex, D);
        if (f.blocks > 1) {
            assertEq(g.element, x.element, "the wrong element was named");
            assertEq(g.blocks, f.blocks);
            assertEq(g.index, x.lieFrom < f.blocks - 1 ? x.lieFrom : f.blocks - 1, "the first wrong checkpoint");
        } else {
            assertEq(g.blocks, 0, "one block: proven at once");
            assertEq(g.index, x.element * Kit.size(x.step.out.dtype) / 256, "the wrong chunk was reached");
        }
        string memory what = string.concat(x.name, ", arity ", vm.toString(uint256(1) << arityLog2));
        _assertBudgets(what, false);
        console2.log(
            string.concat(
                "| ",
                what,
                " | ",
                vm.toString(f.blocks),
                " | ",
                played.oneStepKind,
                " ",
                vm.toString(played.oneStep),
                " | ",
                vm.toString(STEP_BUDGET - played.oneStep),
                " | ",
                vm.toString(played.evaluateExec),
                " | ",
                string.concat(vm.toString(played.maxOther), " (", played.maxOtherKind, ")"),
                " | ",
                vm.toString(played.moves),
                " | ",
                vm.toString(played.txGas),
                " |"
            )
        );
    }

    function _g(uint32 c, uint32 h, uint32 w, uint32 kh, uint32 kw, uint32 sh, uint32 pw) internal pure returns (uint32[9] memory) {
        return [c, h, w, kh, kw, sh, 1, 0, pw];
    }

    function test_extremeLinearFitsTheBudget() public {
        _playExtreme(_linear("linear K = 131071, W [32768, 131071] (height 24), the last block: 3 + 3 chunks and a straddling Q row", true), 1);
        _playExtreme(_linear("linear K = 131071, W height 24, the block before the last: 512 terms over 3 + 3 chunks", false), 1);
        _playExtreme(_linearOfRank("linear K = 131071 over x of rank 8 (the largest spec and header), the last block", 8, true), 1);
    }

    /// One-channel conv blocks at the loader's bounds: 512 taps, windows spanning
    /// up to 2,048 bytes (9 chunks) of an input of 2^32 bytes, in rows of 256 down
    /// to 2 bytes, W of height 24, 255 channels (the most 512 taps allow), the last
    /// block with its finish.
    function test_extremeConvWindowsFitTheBudget() public {
        _playExtreme(_conv("conv2d 2x256 over [255, 9399, 1792]: a 2,048-byte window of 2 rows", _g(255, 9399, 1792, 2, 256, 146, 0), 0, 1, 11), 1);
        _playExtreme(_conv("conv2d 4x128 over [255, 26317, 640]: a 2,048-byte window of 4 rows", _g(255, 26317, 640, 4, 128, 411, 0), 0, 1, 12), 1);
        _playExtreme(_conv("conv2d 8x64 over [255, 59515, 283]: 8 rows spanning 2,045 bytes", _g(255, 59515, 283, 8, 64, 929, 0), 0, 0, 13), 1);
        _playExtreme(_conv("conv2d 16x32 over [255, 125694, 134]: 16 rows spanning 2,042 bytes", _g(255, 125694, 134, 16, 32, 1963, 0), 0, 0, 14), 1);
        _playExtreme(_conv("conv2d 32x16 over [255, 259123, 65]: 32 rows spanning 2,031 bytes", _g(255, 259123, 65, 32, 16, 4048, 0), 0, 0, 15), 1);
        _playExtreme(_conv("conv2d 64x8 over [255, 526344, 32]: 64 rows spanning 2,024 bytes", _g(255, 526344, 32, 64, 8, 8223, 0), 1, 0, 16), 1);
        _playExtreme(
            _conv("conv2d 128x4 over [255, 1052688, 16]: 128 rows spanning 2,036 bytes", _g(255, 1052688, 16, 128, 4, 16446, 0), 1, 0, 17), 1
        );
        _playExtreme(
            _conv("conv2d 256x2 over [255, 2105376, 8]: 256 rows of 2 taps spanning 2,042 bytes", _g(255, 2105376, 8, 256, 2, 32892, 0), 1, 0, 18), 1
        );
        _playExtreme(
            _conv("conv2d 170x3 over [256, 1398101, 12]: 170 rows of 3 taps spanning 2,031 bytes", _g(256, 1398101, 12, 170, 3, 21842, 0), 1, 0, 19),
            1
        );
    }

    /// The same windows cut by a column of padding: rows shorter than the kernel's,
    /// so W's rows are apart (gathered words no longer apply).
    function test_extremeConvWindowsCutByPaddingFitTheBudget() public {
        _playExtreme(_conv("conv2d 32x16 pad 1 over [255, 259123, 65]: 32 rows of 15", _g(255, 259123, 65, 32, 16, 4048, 1), 0, 0, 21), 1);
        _playExtreme(_conv("conv2d 64x8 pad 1 over [255, 526344, 32]: 64 rows of 7", _g(255, 526344, 32, 64, 8, 8223, 1), 1, 0, 22), 1);
        _playExtreme(_conv("conv2d 128x4 pad 1 over [255, 1052688, 16]: 128 rows of 3", _g(255, 1052688, 16, 128, 4, 16446, 1), 1, 0, 23), 1);
        _playExtreme(
            _conv("conv2d 256x2 pad 1 over [255, 2105376, 8]: 256 rows of 1, 2 apart in W", _g(255, 2105376, 8, 256, 2, 32892, 1), 1, 0, 24), 1
        );
        _playExtreme(
            _conv("conv2d 170x3 pad 1 over [256, 1398101, 12]: 170 rows of 2, 3 apart in W", _g(256, 1398101, 12, 170, 3, 21842, 1), 1, 0, 25), 1
        );
    }

    /// 256 window rows of one tap (the rows bound), 511 channels (the most 256 taps
    /// allow), and blocks of many channels: 256 channels of 1x1 planes, of 1x2
    /// planes (one-byte runs 2 apart), 128 channels of two one-tap rows, 64 of four,
    /// 170 channels of one 2-tap row.
    function test_extremeConvRowsAndChannelsFitTheBudget() public {
        _playExtreme(
            _conv("conv2d 256x1 over [511, 1050628, 8]: 256 rows of one tap spanning 2,041 bytes", _g(511, 1050628, 8, 256, 1, 16412, 0), 0, 0, 31), 1
        );
        _playExtreme(_conv("conv2d 1x1 over [130816, 1, 1]: 256 channels a block", _g(130_816, 1, 1, 1, 1, 1, 0), 0, 0, 32), 1);
        _playExtreme(_conv("conv2d 1x1 over [130816, 1, 2]: 256 one-byte runs 2 apart", _g(130_816, 1, 2, 1, 1, 1, 0), 0, 0, 33), 1);
        _playExtreme(_conv("conv2d 2x1 over [65408, 2, 2]: 128 channels of 2 one-tap rows", _g(65_408, 2, 2, 2, 1, 1, 0), 0, 0, 34), 1);
        _playExtreme(_conv("conv2d 4x1 over [32704, 4, 2]: 64 channels of 4 one-tap rows", _g(32_704, 4, 2, 4, 1, 1, 0), 0, 0, 35), 1);
        _playExtreme(_conv("conv2d 1x2 over [65450, 1, 3]: 170 channels of one 2-tap row", _g(65_450, 1, 3, 1, 2, 1, 0), 0, 0, 36), 1);
    }

    /// Pools over inputs of 2^32 bytes: rows of 512 (one a block, 128 blocks: the
    /// window bound 2^16), and 256 rows of one element a block (256 blocks).
    function test_extremePoolsFitTheBudget() public {
        _playExtreme(_pool("maxpool2d 128x512 over [1, 7158278, 600]: one unaligned row of 512 a block", true, 600, 128, 512, 3_000_001, 50), 1);
        _playExtreme(_pool("maxpool2d 65536x1 over [1, 2^31, 2]: 256 rows of one element a block", true, 2, 65_536, 1, 1_000_001, 1), 1);
        _playExtreme(_pool("avgpool2d 128x512 over [1, 7158278, 600]: one unaligned row of 512 a block", false, 600, 128, 512, 3_000_001, 50), 1);
        _playExtreme(_pool("avgpool2d 65536x1 over [1, 2^31, 2]: 256 rows of one element a block", false, 2, 65_536, 1, 1_000_001, 1), 1);
    }

    function test_extremeArgmaxFitsTheBudget() public {
        _playExtreme(_argmax(), 1);
    }

    /// Products of two activations at the loader's bound on K: b read transposed
    /// (one run, like a linear layer's W, height 24), or not, with terms 2 bytes
    /// apart (blocks of 256 spanning 511 bytes) or 32,768 apart (blocks of one term,
    /// 131,071 of them).
    function test_extremeMatmulFitsTheBudget() public {
        _playExtreme(_matmul("matmul K = 131071, b [32768, K] transposed (height 24), the last block", true, 32_768, true), 1);
        _playExtreme(_matmul("matmul K = 131071, b transposed, the block before the last: 512 terms", true, 32_768, false), 1);
        _playExtreme(_matmul("matmul K = 131071, b [K, 2]: the block before the last, 256 terms 2 bytes apart", false, 2, false), 1);
        _playExtreme(_matmul("matmul K = 131071, b [K, 32768] (height 24): 131071 blocks of one term, the last", false, 32_768, true), 1);
    }

    function test_extremeSoftmaxFitsTheBudget() public {
        _playExtreme(_softmax("softmax int8 [2^23, 512] (height 24): 256 terms and the table", false, false, 1 << 23, 512), 1);
        _playExtreme(_softmax("softmax int8 [8421504, 510] masked by ids [510]: 51 terms, 20 blocks", false, true, 8_421_504, 510), 1);
        _playExtreme(_softmax("softmax int32 [2^24, 64] (2^32 bytes) masked by ids [64]: 32 terms", true, true, 1 << 24, 64), 1);
    }

    function test_extremeLayerNormFitsTheBudget() public {
        _playExtreme(_layernorm("layernorm int8 [2^23, 512] (height 24): 512 terms and (gamma, beta)", false, 1 << 23, 512, 0), 1);
        _playExtreme(_layernorm("layernorm int8 [2^22, 1024]: the second of 2 blocks", false, 1 << 22, 1024, 0), 1);
        _playExtreme(_layernorm("layernorm int32 [2^23, 128] (2^32 bytes), pre 10: 128 terms", true, 1 << 23, 128, 10), 1);
    }

    function test_extremeEmbeddingAndPermuteFitTheBudget() public {
        _playExtreme(_embedding(), 1);
        _playExtreme(_permute(), 1);
    }

    function test_extremeElementwiseFitTheBudget() public {
        _playExtreme(_relu(), 1);
        _playExtreme(_add(), 1);
        _playExtreme(_residual(), 1);
    }

    /// The widest descent (arity 16) on the tallest trees: every move, reveals of 16
    /// nodes included, stays within the budget.
    function test_extremesAtArity16FitTheBudget() public {
        _playExtreme(_relu(), 4);
        _playExtreme(_argmax(), 4);
        _playExtreme(_linear("linear K = 131071, W height 24, the last block", true), 4);
    }

    // ------------------------------------------------- moves that end a game

    /// @dev How a game at the extremes ends before (or instead of) a one step.
    enum Ending {
        InputLeaf,
        ZeroPaddingLeaf,
        DirtyPaddingLeaf,
        WrongShape,
        DirtyChunk,
        ChunkPastTheEnd,
        ZeroPaddingCheckpoint,
        DirtyPaddingCheckpoint,
        ExecutorSilent,
        ChallengerSilent
    }

    /// @dev The game's expected winner and last move.
    function _expected(Ending e) internal pure returns (DisputeGame.Status, string memory) {
        DisputeGame.Status ew = DisputeGame.Status.ExecutorWon;
        DisputeGame.Status cw = DisputeGame.Status.ChallengerWon;
        if (e == Ending.InputLeaf) return (ew, "pick (trace): the input leaf, the executor wins");
        if (e == Ending.ZeroPaddingLeaf) return (ew, "pick (trace): a zero padding leaf, the executor wins");
        if (e == Ending.DirtyPaddingLeaf) return (cw, "pick (trace): a non-zero padding leaf, the challenger wins");
        if (e == Ending.WrongShape) return (cw, "openHeader: a header of the wrong shape, the challenger wins");
        if (e == Ending.DirtyChunk) return (cw, "revealChunk: a byte past the end, the challenger wins");
        if (e == Ending.ChunkPastTheEnd) return (ew, "revealChunk: a zero chunk past the end, the executor wins");
        if (e == Ending.ZeroPaddingCheckpoint) return (ew, "pick (reduction): a zero padding checkpoint leaf, the executor wins");
        if (e == Ending.DirtyPaddingCheckpoint) return (cw, "pick (reduction): a non-zero padding checkpoint leaf, the challenger wins");
        if (e == Ending.ExecutorSilent) return (cw, "timeout: the executor silent, the challenger wins");
        return (ew, "timeout: the challenger silent, the executor wins");
    }

    /// @dev The trace the executor posts for ending `e` of extreme `x` (honest
    ///      output `y`), and the descent's targets: trace leaf, chunk, checkpoint
    ///      leaf (`NONE`: the honest descent).
    function _endingTrace(Extreme memory x, ModelDef memory m, Committed memory y, Ending e)
        internal
        pure
        returns (TraceDef memory t, uint256[3] memory goal)
    {
        goal = [NONE, NONE, NONE];
        uint256 top = (uint256(1) << Kit.height(STEPS)) - 1;
        if (e == Ending.InputLeaf) goal[0] = 0;
        if (e == Ending.ZeroPaddingLeaf) goal[0] = top;
        if (e == Ending.WrongShape) {
            // the step's output committed with its dimensions reversed: a header of
            // the spec's rank (as long as the executor's header would be)
            uint256 r = y.ty.shape.length;
            uint32[] memory rev = new uint32[](r);
            for (uint256 k = 0; k < r; k++) {
                rev[k] = y.ty.shape[r - 1 - k];
            }
            require(keccak256(abi.encode(rev)) != keccak256(abi.encode(y.ty.shape)), "another shape");
            y = Kit.commitSparse(Ty(y.ty.dtype, rev), y.chunkIdx, y.chunkData);
        }
        if (e == Ending.DirtyChunk) {
            // a non-zero byte in the tree's last chunk, past the output's bytes
            uint256 len = Kit.byteLen(y.ty);
            uint256 last = (uint256(1) << y.tree.height) - 1;
            require(len < (last + 1) * 256, "bytes past the end");
            uint256[] memory idx = new uint256[](y.chunkIdx.length + 1);
            bytes[] memory data = new bytes[](idx.length);
            for (uint256 k = 0; k < y.chunkIdx.length; k++) {
                (idx[k], data[k]) = (y.chunkIdx[k], y.chunkData[k]);
            }
            (idx[idx.length - 1], data[idx.length - 1]) = (last, new bytes(256));
            data[idx.length - 1][255] = 0x01;
            y = Kit.commitSparse(y.ty, idx, data);
        }
        if (e == Ending.ChunkPastTheEnd) {
            (goal[0], goal[1]) = (D, (uint256(1) << y.tree.height) - 1);
            require(goal[1] >= Kit.chunksOf(Kit.byteLen(y.ty)), "a chunk past the end");
        }
        if (e == Ending.ZeroPaddingCheckpoint || e == Ending.DirtyPaddingCheckpoint) {
            uint256 n = Ref.blocks(x.step, x.inTys);
            (goal[0], goal[1], goal[2]) = (D, x.element * Kit.size(x.step.out.dtype) / 256, (uint256(1) << Kit.height(n)) - 1);
            require(goal[2] >= n, "a padding checkpoint leaf");
        }
        t = _trace(x, m, y);
        if (e == Ending.DirtyPaddingLeaf) {
            // a non-zero leaf past the last step
            Committed[] memory cs = new Committed[](t.steps.length + 1);
            uint256[] memory index = new uint256[](cs.length);
            for (uint256 k = 0; k < t.steps.length; k++) {
                (cs[k], index[k]) = (t.steps[k], m.index[k]);
            }
            cs[cs.length - 1].commitment = keccak256("not a padding leaf");
            index[cs.length - 1] = top;
            t = Ref.sparseTrace(cs, index, STEPS);
        }
    }

    /// @dev A game at the extremes (extreme `x`'s model, a trace of height 16,
    ///      arity 2, winners with no balance before the game) that ends as `e`
    ///      says: asserts the winner and that every move, the last included, is
    ///      within the move budget; prints the last move's row.
    function _playEnding(Extreme memory x, Ending e) internal {
        _playEnding(x, e, 0);
    }

    /// @dev `_playEnding` with `others` more games opened on the result before the
    ///      game is played (a rejection then shares the reward among them all).
    ///      When the game rejects the result, one of the others is then played to
    ///      the same end, which settles it as moot (the moot path of
    ///      `settleGame`), and the rest are settled with `settleMoot`: each within
    ///      the move budget too.
    function _playEnding(Extreme memory x, Ending e, uint256 others) internal {
        deploy(1);
        ModelDef memory m = _model(x);
        register(m);
        Fold memory f = _fold(x);
        Committed memory y = _sparseOut(x, f.value);
        TraceDef memory h = _trace(x, m, y);
        (TraceDef memory t, uint256[3] memory goal) = _endingTrace(x, m, y, e);
        // posted with the model's step count (the trace may list a padding leaf)
        uint256 req = requestOn(m, hex"05");
        vm.prank(executor);
        uint256 res = oracle.post{value: STAKE}(
            req, Kit.canonical(t.steps[m.index.length - 1]), t.root, STEPS, Kit.single(t.tree, 0), Kit.single(t.tree, STEPS - 1)
        );
        uint256 id = challengeAs(challenger, res);
        uint256[] memory more = new uint256[](others);
        for (uint256 k = 0; k < others; k++) {
            address other = makeAddr(string.concat("other", vm.toString(k)));
            vm.deal(other, 100 ether);
            more[k] = challengeAs(other, res);
        }
        (DisputeGame.Status want, string memory what) = _expected(e);
        what = string.concat(what, " (", x.name, ")");
        cpFoldFrom = x.first;
        if (e == Ending.DirtyPaddingCheckpoint) cpPadding = keccak256("not a padding leaf");
        griefElement = x.element % (256 / Kit.size(x.step.out.dtype));
        _playOut(id, m, t, h, e, goal);
        assertEq(uint8(game.getGame(id).status), uint8(want), what);
        assertEq(played.oneStep, 0, "decided before a one step");
        assertEq(played.maxOther, maxGas[keccak256(bytes(played.maxOtherKind))]);
        if (others > 0) {
            assertEq(uint8(want), uint8(DisputeGame.Status.ChallengerWon), "others become moot on a rejection");
            assertEq(oracle.getResult(res).gamesAtRejection, others + 1);
            what = string.concat(what, ", ", vm.toString(others + 1), " games open");
        }
        _logEnding(what);
        if (others > 0) _settleOthers(more, m, t, h, e, goal, what);
        (cpFoldFrom, cpPadding, griefElement) = (0, bytes32(0), 0);
        assertConserved();
    }

    /// @dev Plays game `id` to the end `e` says.
    function _playOut(uint256 id, ModelDef memory m, TraceDef memory t, TraceDef memory h, Ending e, uint256[3] memory goal) internal {
        if (e == Ending.ExecutorSilent || e == Ending.ChallengerSilent) {
            _resetPlayed();
            if (e == Ending.ChallengerSilent) executorMove(id, m, t);
            vm.warp(vm.getBlockTimestamp() + CLOCK + 1);
            _move(address(this), abi.encodeCall(DisputeGame.timeout, (id)), "timeout", false);
        } else {
            playSteered(id, m, t, h, goal[0], goal[1], goal[2]);
        }
    }

    /// @dev Prints the last move's row and asserts it and the game's largest move
    ///      within the move budget.
    function _logEnding(string memory what) internal view {
        console2.log(
            string.concat(
                "| ", what, " | ", vm.toString(lastMove.txGas), " | ", vm.toString(lastMove.exec), " | ", vm.toString(lastMove.calldataBytes), " | "
            )
        );
        console2.log(string.concat("  largest move of the game: ", vm.toString(played.maxOther), " (", played.maxOtherKind, ")"));
        assertLe(lastMove.txGas, MOVE_BUDGET, what);
        assertLe(played.maxOther, MOVE_BUDGET, string.concat(what, ": ", played.maxOtherKind));
    }

    /// @dev The games open beside a rejecting one: the first played to the same
    ///      end (settled as moot by its last move), the others settled with
    ///      `settleMoot`; each credited its bond and share less the claim fee.
    function _settleOthers(
        uint256[] memory more,
        ModelDef memory m,
        TraceDef memory t,
        TraceDef memory h,
        Ending e,
        uint256[3] memory goal,
        string memory what
    ) internal {
        uint256 share = oracle.getResult(game.getGame(more[0]).resultId).share;
        uint256 fee = oracle.claimFee();
        uint256 due = BOND + share - (share < fee ? share : fee);
        _playOut(more[0], m, t, h, e, goal);
        assertEq(uint8(game.getGame(more[0]).status), uint8(DisputeGame.Status.Moot), "moot");
        assertEq(oracle.balanceOf(game.getGame(more[0]).challenger), due);
        _logEnding(string.concat(what, ": a game open at rejection, decided later (moot)"));
        Measured memory most;
        for (uint256 k = 1; k < more.length; k++) {
            Measured memory r = measure(address(this), address(game), 0, abi.encodeCall(DisputeGame.settleMoot, (more[k])));
            if (r.txGas > most.txGas) most = r;
            assertEq(oracle.balanceOf(game.getGame(more[k]).challenger), due);
        }
        if (more.length > 1) {
            lastMove = most;
            _logEnding(string.concat(what, ": settleMoot, the largest"));
        }
    }

    /// Every way a game ends before the one step, at a trace of height 16, on the
    /// conv2d 4x128 extreme (its spec the largest the loader's conv steps have, an
    /// output tree of height 23, 255 blocks: checkpoint leaf 255 is padding) and
    /// the relu extreme (a last chunk with a byte past the end): within 100k.
    function test_movesThatEndAGameAtTheExtremesFitTheBudget() public {
        Extreme memory conv = _conv("conv2d 4x128", _g(255, 26317, 640, 4, 128, 411, 0), 0, 1, 12);
        Extreme memory relu = _relu();
        for (uint256 e = 0; e <= uint256(type(Ending).max); e++) {
            _playEnding(Ending(e) == Ending.DirtyChunk ? relu : conv, Ending(e));
        }
        // the largest spec and header: a linear step of rank 8
        _playEnding(_linearOfRank("linear of rank 8", 8, true), Ending.WrongShape);
    }

    /// A rejection with many games open (the reward shared among 40) and the moot
    /// settlements after it, a moot game's deciding move and `settleMoot`, at the
    /// extremes: each within 100k.
    function test_rejectionsWithManyGamesOpenAndMootSettlementsFitTheBudget() public {
        Extreme memory conv = _conv("conv2d 4x128", _g(255, 26317, 640, 4, 128, 411, 0), 0, 1, 12);
        _playEnding(_linearOfRank("linear of rank 8", 8, true), Ending.WrongShape, 39);
        _playEnding(conv, Ending.DirtyPaddingCheckpoint, 39);
        _playEnding(conv, Ending.DirtyPaddingLeaf, 3);
        _playEnding(_relu(), Ending.DirtyChunk, 3);
        _playEnding(conv, Ending.ExecutorSilent, 3);
    }

    // ------------------------------------------------------------ the defence

    /// @dev The deepest game: argmax over x [2^30, 2^32 − 1] (int8), whose int32
    ///      output of 2^32 bytes is a data tree of height 24 and whose every element
    ///      reduces 2^32 − 1 terms in 2^23 blocks (a checkpoint tree of height 23),
    ///      in a model of 2^32 − 1 steps (a trace of height 32, the most a 32-bit
    ///      step count has). The loader's models reach at most 16 + 26 + 25 levels
    ///      (2^16 steps; an int32 output of 2^32 elements; a conv of 129-row
    ///      kernels over 2^25 one-channel blocks), 12 fewer reveals than these 79,
    ///      so this game bounds every defence. The named element is the last of
    ///      chunk 2^23; the solvers fold its last two blocks.
    function _deepest() internal pure returns (Extreme memory x) {
        x.name = "argmax over [2^30, 2^32 - 1]: data tree height 24, 2^23 blocks (checkpoint tree height 23), trace height 32";
        x.inTys = _one(Kit.i8(Kit.s2(uint32(1 << 30), type(uint32).max)));
        x.step = Ref.argmax(0, x.inTys[0]);
        x.element = (uint256(1) << 29) + 63;
        x.lieFrom = NONE;
        x.first = Ref.blocks(x.step, x.inTys) - 2;
        _fill(x, 41);
    }

    /// `DEFENCE_GAS` (the oracle's floor on `minBond`) covers every transaction an
    /// honest executor sends in the longest game: a griefer descends the trace
    /// (height 32), the data tree (height 24) and the checkpoint tree (height 23)
    /// at arity 2, the most reveals, and goes silent at the last block; the
    /// executor's reveals, header, chunk and checkpoints and the timeout that ends
    /// the game are summed. Fails if they come to more than `DEFENCE_GAS`.
    function test_theDefenceOfTheLongestGameIsWithinDefenceGas() public {
        Extreme memory x = _deepest();
        uint32 count = type(uint32).max;
        deploy(1);
        ModelDef memory m = _modelOf(x, count);
        register(m);
        Fold memory f = _fold(x);
        assertEq(f.blocks, 2 ** 23);
        TraceDef memory h = _trace(x, m, _sparseOut(x, f.value));
        assertEq(h.tree.height, 32);
        uint256 id = challengeAs(challenger, postTrace(requestOn(m, hex"05"), h));
        cpFoldFrom = x.first;
        griefElement = 63;
        uint256[3] memory goal = [uint256(count) - 2, x.element * 4 / 256, f.blocks - 1];
        // [count, total, least, most] of the executor's moves by phase (the timeout
        // under Block, where the griefer stops)
        uint256[4][8] memory by;
        _resetPlayed();
        for (uint256 i = 0; i < 256; i++) {
            DisputeGame.Game memory g = game.getGame(id);
            require(g.status == DisputeGame.Status.Open, "the game ended early");
            if (g.phase == DisputeGame.Phase.Block) break;
            vm.warp(vm.getBlockTimestamp() + 7);
            if (g.turn == DisputeGame.Side.Executor) {
                uint256 before = played.executorTxGas;
                executorMove(id, m, h);
                _book(by[uint256(g.phase)], played.executorTxGas - before);
                continue;
            }
            uint256 at = g.phase == DisputeGame.Phase.Trace ? goal[0] : g.phase == DisputeGame.Phase.Data ? goal[1] : goal[2];
            steer = g.phase == DisputeGame.Phase.Trace || g.phase == DisputeGame.Phase.Data || g.phase == DisputeGame.Phase.Reduction;
            if (steer) griefChoice = (at >> (g.height - _levels(g))) & 1;
            challengerMove(id, m, h, h);
            steer = false;
        }
        (cpFoldFrom, griefElement) = (0, 0);
        DisputeGame.Game memory end = game.getGame(id);
        assertEq(end.stepIndex, goal[0]);
        assertEq(end.blocks, 2 ** 23);
        assertEq(end.index, goal[2], "the last checkpoint leaf");
        // the griefer is silent: the executor ends the game
        vm.warp(vm.getBlockTimestamp() + CLOCK + 1);
        uint256 prior = played.executorTxGas;
        _move(executor, abi.encodeCall(DisputeGame.timeout, (id)), "timeout", false);
        _book(by[uint256(DisputeGame.Phase.Block)], played.executorTxGas - prior);
        assertEq(uint8(game.getGame(id).status), uint8(DisputeGame.Status.ExecutorWon));
        assertEq(by[uint256(DisputeGame.Phase.Trace)][0], 32);
        assertEq(by[uint256(DisputeGame.Phase.Data)][0], 24);
        assertEq(by[uint256(DisputeGame.Phase.Reduction)][0], 23);
        _logDefence(by);
        uint256 total = played.executorTxGas;
        uint256 rounded = (total + 249_999) / 250_000 * 250_000;
        console2.log(
            string.concat(
                "| **the defence: ",
                vm.toString(played.executorMoves),
                " transactions** | | | | **",
                vm.toString(total),
                "** (rounded up to 250,000: ",
                vm.toString(rounded),
                ") |"
            )
        );
        assertLe(total, oracle.DEFENCE_GAS(), "the defence of the longest game within DEFENCE_GAS");
    }

    /// @dev Books a move of `gas` in `b` ([count, total, least, most]).
    function _book(uint256[4] memory b, uint256 gas) internal pure {
        b[0] += 1;
        b[1] += gas;
        if (b[2] == 0 || gas < b[2]) b[2] = gas;
        if (gas > b[3]) b[3] = gas;
    }

    function _logDefence(uint256[4][8] memory by) internal pure {
        string[8] memory names = [
            "revealNodes (trace)",
            "openHeader",
            "revealNodes (data)",
            "revealChunk",
            "",
            "openCheckpoints",
            "revealNodes (reduction)",
            "timeout (the griefer silent)"
        ];
        console2.log("| executor transaction | count | least | most | total |");
        console2.log("|---|---:|---:|---:|---:|");
        uint256[7] memory order = [uint256(0), 1, 2, 3, 5, 6, 7];
        for (uint256 k = 0; k < 7; k++) {
            uint256 p = order[k];
            uint256[4] memory b = by[p];
            console2.log(
                string.concat(
                    "| ", names[p], " | ", vm.toString(b[0]), " | ", vm.toString(b[2]), " | ", vm.toString(b[3]), " | ", vm.toString(b[1]), " |"
                )
            );
        }
    }
}
