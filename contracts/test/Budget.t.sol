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
        for (uint256 i = 0; i < m.stepCount; i++) cs[i] = Kit.commit(m.steps[i].out, outs[i]);
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
        for (uint256 i = 0; i < outs.length; i++) lie[i] = outs[i];
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

    /// @dev Steps of the extreme models: 39,999 of them (a trace of height 16); the
    ///      disputed step `D` reads step `D - 1`, whose output is given; the last
    ///      step is a relu of the one-byte input.
    uint32 internal constant STEPS = 39_999;
    uint256 internal constant D = STEPS - 2;

    /// @dev An extreme: the disputed step, its input's type and committed value, its
    ///      committed weights, the element the executor gets wrong, and the block
    ///      from which its checkpoints lie (none: the last leaf only).
    struct Extreme {
        string name;
        StepDef step;
        Ty inTy;
        Committed input;
        Committed[] weights;
        uint256 element;
        uint256 lieFrom;
    }

    /// @dev Chunks `[first, end)` of pseudo-random bytes, as sparse chunk lists.
    function _randomChunks(uint256 seed, uint256 first, uint256 end)
        internal
        pure
        returns (uint256[] memory idx, bytes[] memory data)
    {
        idx = new uint256[](end - first);
        data = new bytes[](end - first);
        for (uint256 i = first; i < end; i++) {
            idx[i - first] = i;
            data[i - first] = Kit.randomI8(seed + i, 256);
        }
    }

    /// @dev A tensor of type `t`, zero but for random bytes over `[lo, hi)` (whole
    ///      chunks), committed from its structure.
    function _sparseRandom(Ty memory t, uint256 seed, uint256 lo, uint256 hi) internal pure returns (Committed memory) {
        (uint256[] memory idx, bytes[] memory data) = _randomChunks(seed, lo / 256, (hi - 1) / 256 + 1);
        return Kit.commitSparse(t, idx, data);
    }

    /// @dev A requant table int32 [n, 3] that is zero but for its first chunk (rows
    ///      0 to 20 valid requantizations).
    function _sparseTable(uint32 n, uint256 seed) internal pure returns (Committed memory) {
        uint256[] memory idx = new uint256[](1);
        bytes[] memory data = new bytes[](1);
        data[0] = Kit.slice(Kit.requantTable(seed, 22, 20_000, 36, 6), 0, 256);
        return Kit.commitSparse(Kit.i32(Kit.s2(n, 3)), idx, data);
    }

    /// @dev The output of `x.step` that is zero but for the chunk of `element`,
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

    /// @dev Plays extreme `x` at `arityLog2`: the liar's element is off by one and
    ///      its checkpoints lie from `x.lieFrom`; asserts the fraud is rejected.
    function _playExtreme(Extreme memory x, uint256 arityLog2) internal {
        deploy(arityLog2);
        StepDef[] memory steps = new StepDef[](4);
        uint256[] memory index = new uint256[](4);
        (index[0], index[1], index[2], index[3]) = (0, D - 1, D, STEPS - 1);
        steps[0] = Ref.input(Kit.s1(1));
        steps[1] = Ref.input(x.inTy.shape);
        steps[1].out = x.inTy;
        steps[2] = x.step;
        steps[2].inputs = new uint32[](1);
        steps[2].inputs[0] = uint32(D - 1);
        steps[3] = Ref.unary(Ref.RELU, 0, steps[0].out, Ref.noParams());
        Committed[][] memory ws = new Committed[][](4);
        (ws[0], ws[1], ws[2], ws[3]) = (new Committed[](0), new Committed[](0), x.weights, new Committed[](0));
        ModelDef memory m = Ref.buildSparse(steps, index, ws, STEPS);
        register(m);
        bytes memory input = hex"05";
        Ty[] memory ins = new Ty[](1);
        ins[0] = x.inTy;
        Committed[] memory xs = new Committed[](1);
        xs[0] = x.input;
        Fold memory f = Ref.fold(x.step, ins, xs, x.weights, x.element);
        Committed[] memory cs = new Committed[](4);
        cs[0] = Kit.commit(steps[0].out, input);
        cs[1] = x.input;
        cs[2] = _sparseOut(x, f.value);
        cs[3] = Kit.commit(steps[3].out, input);
        TraceDef memory h = Ref.sparseTrace(cs, index, STEPS);
        Committed[] memory lie = new Committed[](4);
        (lie[0], lie[1], lie[3]) = (cs[0], cs[1], cs[3]);
        lie[2] = _sparseOut(x, f.value == 127 ? int256(126) : f.value + 1);
        TraceDef memory t = Ref.sparseTrace(lie, index, STEPS);
        uint256 id = challengeAs(challenger, postTrace(requestOn(m, input), t));
        cpLieFrom = x.lieFrom;
        measureEvaluate = true;
        play(id, m, t, h);
        measureEvaluate = false;
        cpLieFrom = type(uint256).max;
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(uint8(g.status), uint8(DisputeGame.Status.ChallengerWon), "fraud is rejected");
        assertEq(g.stepIndex, D);
        if (g.blocks > 0) {
            assertEq(g.element, x.element, "the wrong element was named");
            assertEq(g.index, x.lieFrom < f.blocks - 1 ? x.lieFrom : f.blocks - 1, "the first wrong checkpoint");
        } else {
            assertEq(g.index, x.element * Kit.size(x.step.out.dtype) / 256, "the wrong chunk was reached");
        }
        _assertBudgets(string.concat(x.name, ", arity ", vm.toString(uint256(1) << arityLog2)), false);
    }

    /// @dev linear x [2, 20000] -> [2, 214748], W [214748, 20000] (4,294,960,000
    ///      bytes: a tree of height 24); element (1, 1): both rows start 32 bytes
    ///      into a chunk, so a block of 512 spans three chunks of each; 40 blocks.
    function _linearExtreme() internal pure returns (Extreme memory x) {
        uint32 k = 20_000;
        uint32 n = 214_748;
        x.name = "linear K=20000, W [214748,20000] (height 24), unaligned block of 512";
        x.inTy = Kit.i8(Kit.s2(2, k));
        x.step = Ref.unary(Ref.LINEAR, 0, Kit.i8(Kit.s2(2, n)), Ref.params(0));
        x.step.wTypes = new Ty[](2);
        x.step.wData = new bytes[](2);
        x.step.wTypes[0] = Kit.i8(Kit.s2(n, k));
        x.step.wTypes[1] = Kit.i32(Kit.s2(n, 3));
        x.input = _sparseRandom(x.inTy, 1, k, 2 * k);
        x.weights = new Committed[](2);
        x.weights[0] = _sparseRandom(x.step.wTypes[0], 2, k, 2 * k);
        x.weights[1] = _sparseTable(n, 3);
        x.element = n + 1;
        x.lieFrom = 20;
    }

    /// @dev conv2d x [4, 8, 576] 8x64 kernel (512 taps), one channel a block: each
    ///      window spans (8 - 1)·576 + 64 = 4096 bytes (17 chunks from column 100);
    ///      W [2097152, 4, 8, 64] is 2^32 bytes (height 24); the last block is the
    ///      one proven.
    function _convWideExtreme() internal pure returns (Extreme memory x) {
        uint32 o = 2_097_152;
        x.name = "conv2d 8x64 over [4,8,576]: a 4096-byte window, 512 taps, W height 24";
        x.inTy = Kit.i8(Kit.s3(4, 8, 576));
        x.step = Ref.unary(Ref.CONV2D, 0, Kit.i8(Kit.s3(o, 1, 513)), Ref.params(1, 1, 0, 0, 0));
        x.step.wTypes = new Ty[](2);
        x.step.wData = new bytes[](2);
        x.step.wTypes[0] = Kit.i8(Kit.s4(o, 4, 8, 64));
        x.step.wTypes[1] = Kit.i32(Kit.s2(o, 3));
        x.input = _sparseRandom(x.inTy, 4, 0, 4 * 8 * 576);
        uint256 oc = 5;
        x.weights = new Committed[](2);
        x.weights[0] = _sparseRandom(x.step.wTypes[0], 5, oc * 2048, oc * 2048 + 2048);
        x.weights[1] = _sparseTable(o, 6);
        x.element = oc * 513 + 100;
        // the last block: its window, the state before it and the finish's Q row
        x.lieFrom = type(uint256).max;
    }

    /// @dev conv2d x [2, 512, 8] 512x1 kernel: 512 window rows of one tap, spanning
    ///      511·8 + 1 = 4089 bytes; W [4194304, 2, 512, 1] is 2^32 bytes; the
    ///      last block (with the finish) is the one proven.
    function _convTallExtreme() internal pure returns (Extreme memory x) {
        uint32 o = 4_194_304;
        x.name = "conv2d 512x1 over [2,512,8]: 512 rows of one tap, W height 24";
        x.inTy = Kit.i8(Kit.s3(2, 512, 8));
        x.step = Ref.unary(Ref.CONV2D, 0, Kit.i8(Kit.s3(o, 1, 8)), Ref.params(1, 1, 0, 0, 1));
        x.step.wTypes = new Ty[](2);
        x.step.wData = new bytes[](2);
        x.step.wTypes[0] = Kit.i8(Kit.s4(o, 2, 512, 1));
        x.step.wTypes[1] = Kit.i32(Kit.s2(o, 3));
        x.input = _sparseRandom(x.inTy, 7, 0, 2 * 4096);
        uint256 oc = 12;
        x.weights = new Committed[](2);
        x.weights[0] = _sparseRandom(x.step.wTypes[0], 8, oc * 1024, oc * 1024 + 1024);
        x.weights[1] = _sparseTable(o, 9);
        x.element = oc * 8 + 3;
        x.lieFrom = type(uint256).max;
    }

    /// @dev maxpool2d 8x512 over [1, 60000, 600] (36,000,000 bytes): one window row
    ///      of 512 a block, each starting 50 bytes past a 600-byte row: 3 chunks.
    function _maxpoolExtreme() internal pure returns (Extreme memory x) {
        x.name = "maxpool2d 8x512 over [1,60000,600]: rows of 512, unaligned";
        x.inTy = Kit.i8(Kit.s3(1, 60_000, 600));
        x.step = Ref.unary(Ref.MAXPOOL2D, 0, Kit.i8(Kit.s3(1, 59_993, 89)), Ref.params(8, 512, 1, 1, 0, 0));
        x.step.wTypes = new Ty[](0);
        x.step.wData = new bytes[](0);
        uint256 i = 30_001;
        x.input = _sparseRandom(x.inTy, 10, i * 600, (i + 8) * 600);
        x.weights = new Committed[](0);
        x.element = i * 89 + 50;
        x.lieFrom = 3;
    }

    /// @dev argmax over x [42949, 100000] (4,294,900,000 bytes, height 24), row
    ///      30001 starting 160 bytes into a chunk; 196 blocks (checkpoint height 8).
    function _argmaxExtreme() internal pure returns (Extreme memory x) {
        uint32 n = 100_000;
        x.name = "argmax over [42949,100000] (height 24): 196 blocks, unaligned";
        x.inTy = Kit.i8(Kit.s2(42_949, n));
        x.step = Ref.argmax(0, x.inTy);
        uint256 p = 30_001;
        x.input = _sparseRandom(x.inTy, 11, p * n, (p + 1) * n);
        x.weights = new Committed[](0);
        x.element = p;
        x.lieFrom = 97;
    }

    /// @dev relu over 2^31 + 2^20 bytes: a data tree of height 24 to descend.
    function _tallDataExtreme() internal pure returns (Extreme memory x) {
        uint32 len = 2_148_532_224;
        x.name = "relu over [2148532224]: an output data tree of height 24";
        x.inTy = Kit.i8(Kit.s1(len));
        x.step = Ref.unary(Ref.RELU, 0, x.inTy, Ref.noParams());
        x.step.wTypes = new Ty[](0);
        x.step.wData = new bytes[](0);
        uint256 e = 2_000_000_123;
        x.input = _sparseRandom(x.inTy, 12, e, e + 1);
        x.weights = new Committed[](0);
        x.element = e;
        x.lieFrom = type(uint256).max;
    }

    function test_extremeLinearFitsTheBudget() public {
        _playExtreme(_linearExtreme(), 1);
    }

    function test_extremeConvWindowFitsTheBudget() public {
        _playExtreme(_convWideExtreme(), 1);
    }

    function test_extremeConvRowsFitTheBudget() public {
        _playExtreme(_convTallExtreme(), 1);
    }

    function test_extremeMaxpoolFitsTheBudget() public {
        _playExtreme(_maxpoolExtreme(), 1);
    }

    function test_extremeArgmaxFitsTheBudget() public {
        _playExtreme(_argmaxExtreme(), 1);
    }

    function test_extremeDataTreeFitsTheBudget() public {
        _playExtreme(_tallDataExtreme(), 1);
    }

    /// The widest descent (arity 16) on the tallest trees: every move, reveals of 16
    /// nodes included, stays within the budget.
    function test_extremesAtArity16FitTheBudget() public {
        _playExtreme(_tallDataExtreme(), 4);
        _playExtreme(_linearExtreme(), 4);
    }
}
