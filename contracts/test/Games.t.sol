// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {DisputeGame} from "../src/DisputeGame.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {Kit, Ty, StepDef, Committed, ModelDef, TraceDef, Tree} from "./utils/Kit.sol";
import {OneStepVerifier} from "../src/OneStepVerifier.sol";
import {Ref} from "./utils/Ref.sol";
import {GameKit} from "./utils/GameKit.sol";

/// @notice Whole disputes played in Solidity on a tiny model built in the test
///         (input [2,300] → relu → lut → add (residual) → reshape [20,30] →
///         linear 30→4 → argmax), with arity 1 and 2: the executor beats griefing
///         challengers, and the honest challenger beats every kind of fraud.
contract GamesTest is GameKit {
    /// @dev One dispute's world: the model, the request's input, the honest step
    ///      outputs and trace.
    struct World {
        ModelDef m;
        bytes x;
        bytes[] outs;
        TraceDef h;
    }

    /// @dev The tiny model; the 600-byte tensors span three chunks (data height 2,
    ///      one padding chunk) and the 7 steps leave one padding trace leaf.
    function _model() internal pure returns (ModelDef memory) {
        StepDef[] memory s = new StepDef[](7);
        Ty memory t = Kit.i8(Kit.s2(2, 300));
        s[0] = Ref.input(Kit.s2(2, 300));
        s[1] = Ref.unary(Ref.RELU, 0, t, Ref.noParams());
        s[2] = Ref.lut(1, t, 11);
        s[3] = Ref.add(2, 0, t, 3 << 28, 5 << 27, 30, true);
        s[4] = Ref.unary(Ref.RESHAPE, 3, Kit.i8(Kit.s2(20, 30)), Ref.noParams());
        s[5] = Ref.linear(4, s[4].out, 4, false, 12);
        s[6] = Ref.argmax(5, s[5].out);
        return Ref.build(s);
    }

    function _setUp(uint256 arityLog2) internal returns (World memory w) {
        deploy(arityLog2);
        w.m = _model();
        register(w.m);
        w.x = Kit.randomI8(99, 600);
        w.outs = Ref.run(w.m, w.x);
        w.h = _commitAll(w.m, w.outs);
    }

    function _copy(bytes[] memory outs) internal pure returns (bytes[] memory c) {
        c = new bytes[](outs.length);
        for (uint256 i = 0; i < outs.length; i++) {
            c[i] = bytes.concat(outs[i]);
        }
    }

    /// @dev The trace of an executor whose step `step` has element `e` changed by
    ///      `delta`; later steps are recomputed from it (a consistent liar).
    function _liar(World memory w, uint256 step, uint256 e, int256 delta) internal pure returns (TraceDef memory) {
        bytes[] memory outs = _copy(w.outs);
        uint8 dt = w.m.steps[step].out.dtype;
        int256 v = Kit.get(outs[step], dt, e) + delta;
        Kit.set(outs[step], dt, e, v);
        for (uint256 i = step + 1; i < w.m.stepCount; i++) {
            outs[i] = Ref.evalStep(w.m, i, outs);
        }
        return _commitAll(w.m, outs);
    }

    function _commitAll(ModelDef memory model, bytes[] memory outs) internal pure returns (TraceDef memory) {
        Committed[] memory cs = new Committed[](model.stepCount);
        for (uint256 i = 0; i < model.stepCount; i++) {
            cs[i] = Kit.commit(model.steps[i].out, outs[i]);
        }
        return Ref.trace(cs);
    }

    /// @dev Opens a game of `challenger` on a result posted from trace `t`.
    function _dispute(World memory w, TraceDef memory t) internal returns (uint256 requestId, uint256 resultId, uint256 gameId) {
        requestId = requestOn(w.m, w.x);
        resultId = postTrace(requestId, t);
        gameId = challengeAs(challenger, resultId);
    }

    function _expectChallengerWon(uint256 requestId, uint256 resultId, uint256 gameId) internal {
        DisputeGame.Game memory g = game.getGame(gameId);
        assertEq(uint8(g.status), uint8(DisputeGame.Status.ChallengerWon), "challenger won");
        assertEq(uint8(g.phase), uint8(DisputeGame.Phase.Resolved));
        assertEq(uint8(oracle.resultStatus(resultId)), uint8(InferenceOracle.ResultStatus.Rejected));
        assertEq(uint8(oracle.status(requestId)), uint8(InferenceOracle.RequestStatus.Open), "the request reopened");
        assertEq(oracle.balanceOf(challenger), BOND + STAKE * REWARD_BPS / 10_000, "bond and reward");
        assertEq(oracle.balanceOf(executor), 0);
        assertConserved();
        // the rest of the stake is burned
        assertBurns(STAKE - STAKE * REWARD_BPS / 10_000);
    }

    function _expectExecutorWon(World memory w, uint256 requestId, uint256 resultId, uint256 gameId) internal {
        DisputeGame.Game memory g = game.getGame(gameId);
        assertEq(uint8(g.status), uint8(DisputeGame.Status.ExecutorWon), "executor won");
        uint256 burned = BOND * BOND_BURN_BPS / 10_000;
        assertEq(oracle.balanceOf(executor), BOND - burned, "the bond, less the burned share");
        assertBurns(burned);
        vm.warp(uint256(oracle.getResult(resultId).windowEnd));
        oracle.finalize(resultId);
        assertEq(oracle.balanceOf(executor), BOND - burned + STAKE + FEE);
        assertEq(oracle.output(requestId), w.outs[w.outs.length - 1]);
        assertConserved();
    }

    // ------------------------------------------------------- fraud is rejected

    function _wrongStep(uint256 arityLog2, uint256 step, uint256 e) internal {
        World memory w = _setUp(arityLog2);
        TraceDef memory t = _liar(w, step, e, 1);
        assertTrue(t.root != w.h.root);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        play(id, w.m, t, w.h);
        _expectChallengerWon(req, res, id);
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(g.stepIndex, step, "the game reached the first wrong step");
    }

    function test_wrongOutputLoses_arity1() public {
        _wrongStep(1, 6, 3);
    }

    function test_wrongOutputLoses_arity2() public {
        _wrongStep(2, 6, 19);
    }

    function test_wrongMiddleStepLoses_arity1() public {
        _wrongStep(1, 2, 10);
    }

    function test_wrongMiddleStepLoses_arity2() public {
        _wrongStep(2, 2, 10);
    }

    /// One element deep in the third chunk of a residual add.
    function test_oneWrongElementLoses_arity1() public {
        _wrongStep(1, 3, 550);
    }

    function test_oneWrongElementLoses_arity2() public {
        _wrongStep(2, 3, 550);
    }

    function test_wrongLinearElementLoses_arity2() public {
        _wrongStep(2, 5, 77);
    }

    function _wrongShape(uint256 arityLog2) internal {
        World memory w = _setUp(arityLog2);
        // step 4's bytes committed as [600] instead of [20, 30]
        Committed[] memory bad = new Committed[](w.h.steps.length);
        for (uint256 i = 0; i < bad.length; i++) {
            bad[i] = w.h.steps[i];
        }
        bad[4] = Kit.commit(Kit.i8(Kit.s1(600)), w.outs[4]);
        TraceDef memory t = Ref.trace(bad);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        play(id, w.m, t, w.h);
        _expectChallengerWon(req, res, id);
        assertEq(game.getGame(id).stepIndex, 4);
    }

    function test_wrongHeaderShapeLoses_arity1() public {
        _wrongShape(1);
    }

    function test_wrongHeaderShapeLoses_arity2() public {
        _wrongShape(2);
    }

    function _dirtyPadding(uint256 arityLog2, uint256 at) internal {
        World memory w = _setUp(arityLog2);
        Committed[] memory bad = new Committed[](w.h.steps.length);
        for (uint256 i = 0; i < bad.length; i++) {
            bad[i] = w.h.steps[i];
        }
        bytes memory padded = bytes.concat(w.h.steps[3].padded);
        padded[at] = 0x01;
        bad[3] = Kit.commitPadded(w.h.steps[3].ty, padded);
        TraceDef memory t = Ref.trace(bad);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        play(id, w.m, t, w.h);
        _expectChallengerWon(req, res, id);
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(g.index, at / 256, "the dirty chunk");
    }

    /// A non-zero byte after the tensor's end in its last real chunk.
    function test_nonZeroPaddingByteLoses_arity1() public {
        _dirtyPadding(1, 700);
    }

    function test_nonZeroPaddingByteLoses_arity2() public {
        _dirtyPadding(2, 700);
    }

    /// A non-zero byte in a padding chunk of the data tree.
    function test_nonZeroPaddingChunkLoses_arity1() public {
        _dirtyPadding(1, 3 * 256 + 5);
    }

    function test_nonZeroPaddingChunkLoses_arity2() public {
        _dirtyPadding(2, 3 * 256 + 255);
    }

    function _dirtyTraceLeaf(uint256 arityLog2) internal {
        World memory w = _setUp(arityLog2);
        bytes32[] memory leaves = new bytes32[](8);
        for (uint256 i = 0; i < 7; i++) {
            leaves[i] = w.h.steps[i].commitment;
        }
        leaves[7] = keccak256("not a padding leaf");
        TraceDef memory t;
        t.steps = w.h.steps;
        t.tree = Kit.tree(0x03, leaves, bytes32(0));
        t.root = Kit.rootOf(t.tree);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        play(id, w.m, t, w.h);
        _expectChallengerWon(req, res, id);
        assertEq(game.getGame(id).index, 7);
    }

    function test_nonZeroTracePaddingLoses_arity1() public {
        _dirtyTraceLeaf(1);
    }

    function test_nonZeroTracePaddingLoses_arity2() public {
        _dirtyTraceLeaf(2);
    }

    function _silentExecutor(uint256 arityLog2, uint256 movesFirst) internal {
        World memory w = _setUp(arityLog2);
        TraceDef memory t = _liar(w, 5, 0, -1);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        for (uint256 i = 0; i < movesFirst; i++) {
            if (game.getGame(id).turn == DisputeGame.Side.Executor) executorMove(id, w.m, t);
            else challengerMove(id, w.m, t, w.h);
        }
        // the executor stops; its clock runs out
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(uint8(g.turn), uint8(DisputeGame.Side.Executor));
        vm.warp(vm.getBlockTimestamp() + g.clocks.executorClock);
        vm.expectRevert(DisputeGame.ClockRunning.selector);
        game.timeout(id);
        vm.warp(vm.getBlockTimestamp() + 1);
        game.timeout(id);
        _expectChallengerWon(req, res, id);
    }

    function test_anExecutorWhoStopsMovingLoses_arity1() public {
        _silentExecutor(1, 0);
    }

    function test_anExecutorWhoStopsMovingLoses_arity2() public {
        _silentExecutor(2, 4);
    }

    // ---------------------------------------------- honest executors never lose

    function _grief(uint256 arityLog2, uint256 target, uint256 chunkTarget) internal returns (uint256 id) {
        World memory w = _setUp(arityLog2);
        (uint256 req, uint256 res, uint256 gid) = _dispute(w, w.h);
        id = gid;
        for (uint256 i = 0; i < 64; i++) {
            DisputeGame.Game memory g = game.getGame(id);
            if (g.status != DisputeGame.Status.Open) break;
            if (g.turn == DisputeGame.Side.Executor) {
                executorMove(id, w.m, w.h);
                continue;
            }
            // steer towards the target leaf (trace) or chunk (data)
            uint256 levels = _levels(g);
            uint256 goal = g.phase == DisputeGame.Phase.Trace ? target : chunkTarget;
            griefChoice = (goal >> (g.height - levels)) & ((uint256(1) << levels) - 1);
            challengerMove(id, w.m, w.h, w.h);
        }
        _expectExecutorWon(w, req, res, id);
    }

    function test_griefingTheInputLeafLoses_arity1() public {
        uint256 id = _grief(1, 0, 0);
        assertEq(game.getGame(id).index, 0);
    }

    function test_griefingAPaddingLeafLoses_arity2() public {
        uint256 id = _grief(2, 7, 0);
        assertEq(game.getGame(id).index, 7);
    }

    function test_griefingACorrectElementLoses_arity1() public {
        uint256 id = _grief(1, 5, 0);
        assertEq(game.getGame(id).stepIndex, 5);
    }

    function test_griefingACorrectElementLoses_arity2() public {
        uint256 id = _grief(2, 3, 2);
        assertEq(game.getGame(id).stepIndex, 3);
        assertEq(game.getGame(id).index, 2);
    }

    function test_griefingAPaddingChunkLoses_arity1() public {
        uint256 id = _grief(1, 3, 3);
        assertEq(game.getGame(id).index, 3);
    }

    function test_griefingAPaddingChunkLoses_arity2() public {
        uint256 id = _grief(2, 1, 3);
        assertEq(game.getGame(id).index, 3);
    }

    function _silentChallenger(uint256 arityLog2, bool fraud) internal {
        World memory w = _setUp(arityLog2);
        TraceDef memory t = fraud ? _liar(w, 4, 1, 1) : w.h;
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        executorMove(id, w.m, t);
        DisputeGame.Game memory g = game.getGame(id);
        vm.warp(vm.getBlockTimestamp() + g.clocks.challengerClock + 1);
        game.timeout(id);
        g = game.getGame(id);
        assertEq(uint8(g.status), uint8(DisputeGame.Status.ExecutorWon));
        if (!fraud) {
            _expectExecutorWon(w, req, res, id);
        } else {
            // a lazy challenger loses its own game; fraud stands only until an honest one plays
            assertEq(uint8(oracle.resultStatus(res)), uint8(InferenceOracle.ResultStatus.Pending));
            uint256 id2 = challengeAs(makeAddrWithEth("watchtower"), res);
            play(id2, w.m, t, w.h);
            assertEq(uint8(game.getGame(id2).status), uint8(DisputeGame.Status.ChallengerWon));
            assertEq(uint8(oracle.status(req)), uint8(InferenceOracle.RequestStatus.Open));
        }
        assertConserved();
    }

    function makeAddrWithEth(string memory name) internal returns (address a) {
        a = makeAddr(name);
        vm.deal(a, 100 ether);
    }

    function test_aChallengerWhoStopsMovingLoses_arity1() public {
        _silentChallenger(1, false);
    }

    function test_aChallengerWhoStopsMovingLoses_arity2() public {
        _silentChallenger(2, false);
    }

    function test_aLazyChallengerCannotShieldFraud_arity2() public {
        _silentChallenger(2, true);
    }

    // ---------------------------------------------------------- clock extension

    /// @dev The clock and the extension so far of the side to move.
    function _mover(DisputeGame.Game memory g) internal pure returns (uint256 clock, uint256 extension) {
        return g.turn == DisputeGame.Side.Executor
            ? (g.clocks.executorClock, g.clocks.executorExtension)
            : (g.clocks.challengerClock, g.clocks.challengerExtension);
    }

    function _moveAs(uint256 id, World memory w, TraceDef memory t) internal {
        if (game.getGame(id).turn == DisputeGame.Side.Executor) executorMove(id, w.m, t);
        else challengerMove(id, w.m, t, w.h);
    }

    /// A side that must move with less than `clockExtension` left is raised to
    /// it after the other's move; a side with more is not.
    function test_aSideLeftWithLittleTimeIsRaisedToTheExtension() public {
        World memory w = _setUp(1);
        TraceDef memory t = _liar(w, 5, 0, 1);
        (,, uint256 id) = _dispute(w, t);
        uint256 ext = game.clockExtension();
        assertEq(ext, CLOCK / 4);
        // the executor moves with 10 seconds left of its clock
        vm.warp(vm.getBlockTimestamp() + CLOCK - 10);
        executorMove(id, w.m, t);
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(g.clocks.executorClock, 10);
        assertEq(g.clocks.executorExtension, 0, "not the side to move: not raised yet");
        assertEq(g.clocks.challengerClock, CLOCK);
        // the challenger answers at once: the executor, now to move, is raised
        challengerMove(id, w.m, t, w.h);
        g = game.getGame(id);
        assertEq(g.clocks.executorClock, ext, "raised to clockExtension");
        assertEq(g.clocks.executorExtension, ext - 10);
        assertEq(g.clocks.challengerExtension, 0);
        // the challenger moves with more than the extension left: not raised
        vm.warp(vm.getBlockTimestamp() + 1);
        executorMove(id, w.m, t);
        vm.warp(vm.getBlockTimestamp() + CLOCK - ext);
        challengerMove(id, w.m, t, w.h);
        executorMove(id, w.m, t);
        g = game.getGame(id);
        assertEq(g.clocks.challengerClock, ext, "exactly the extension left");
        assertEq(g.clocks.challengerExtension, 0, "not below it: not raised");
        // its clock runs out only past the extension
        vm.warp(vm.getBlockTimestamp() + ext);
        vm.expectRevert(DisputeGame.ClockRunning.selector);
        game.timeout(id);
    }

    /// Both sides play as slowly as their clocks allow, each move at the last
    /// second: each is granted extensions of at most `clockSeconds` in all, and
    /// the game, fraud rejected, ends within 4 · clockSeconds of its opening.
    function _slowGame(uint256 arityLog2) internal {
        World memory w = _setUp(arityLog2);
        TraceDef memory t = _liar(w, 3, 550, 1);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        uint256 opened = vm.getBlockTimestamp();
        uint256 granted;
        for (uint256 i = 0; i < 64; i++) {
            DisputeGame.Game memory g = game.getGame(id);
            if (g.status != DisputeGame.Status.Open) break;
            (uint256 clock, uint256 ext) = _mover(g);
            assertLe(clock, CLOCK);
            assertLe(g.clocks.executorExtension, CLOCK, "the executor's extensions within clockSeconds");
            assertLe(g.clocks.challengerExtension, CLOCK, "the challenger's extensions within clockSeconds");
            if (ext > 0 && clock == game.clockExtension()) granted++;
            vm.warp(vm.getBlockTimestamp() + clock);
            _moveAs(id, w, t);
        }
        DisputeGame.Game memory end = game.getGame(id);
        assertEq(uint8(end.status), uint8(DisputeGame.Status.ChallengerWon), "the honest challenger still wins");
        assertGt(granted, 0, "extensions were granted");
        assertLe(vm.getBlockTimestamp() - opened, 4 * uint256(CLOCK), "within 4 clocks");
        _expectChallengerWon(req, res, id);
    }

    function test_aSlowGameEndsWithinFourClocks_arity1() public {
        _slowGame(1);
    }

    function test_aSlowGameEndsWithinFourClocks_arity2() public {
        _slowGame(2);
    }

    /// Once a side was granted `clockSeconds` of extension it gets no more: a
    /// side that keeps moving at the last second runs out, and the game ends by
    /// timeout within 4 · clockSeconds (and one second) of its opening.
    function test_extensionsStopAtClockSecondsAndTheSlowSideTimesOut() public {
        World memory w = _setUp(1);
        TraceDef memory t = _liar(w, 3, 550, 1);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        uint256 opened = vm.getBlockTimestamp();
        for (uint256 i = 0; i < 64; i++) {
            DisputeGame.Game memory g = game.getGame(id);
            require(g.status == DisputeGame.Status.Open, "the game ended before the executor's extensions ran out");
            (uint256 clock, uint256 ext) = _mover(g);
            if (g.turn == DisputeGame.Side.Executor && clock == 0) {
                assertEq(ext, CLOCK, "no extension left");
                break;
            }
            // the executor spends all its time; the challenger answers at once
            if (g.turn == DisputeGame.Side.Executor) vm.warp(vm.getBlockTimestamp() + clock);
            _moveAs(id, w, t);
        }
        DisputeGame.Game memory at = game.getGame(id);
        assertEq(at.clocks.executorExtension, CLOCK, "capped at clockSeconds");
        assertEq(at.clocks.challengerExtension, 0);
        assertEq(vm.getBlockTimestamp() - opened, 2 * uint256(CLOCK), "the executor's clock and extensions, all spent");
        vm.warp(vm.getBlockTimestamp() + 1);
        game.timeout(id);
        assertLe(vm.getBlockTimestamp() - opened, 4 * uint256(CLOCK) + 1);
        _expectChallengerWon(req, res, id);
    }

    /// Every position of a game is one the honest executor can answer: play the
    /// honest executor against a griefer aiming at every trace leaf and chunk.
    function test_theHonestExecutorWinsEveryGriefingPath_arity2() public {
        for (uint256 leaf = 0; leaf < 8; leaf++) {
            for (uint256 chunk = 0; chunk < 4; chunk += 3) {
                _grief(2, leaf, chunk);
            }
        }
    }

    // ------------------------------------------------------ long reductions

    /// @dev A model with a long reduction at every reducing op: linear K = 1300 (3
    ///      blocks, one padding checkpoint leaf), argmax N = 1300 (3 blocks, a
    ///      two-word state), maxpool 30x3 over a 50-wide plane (10 rows a block: 3
    ///      blocks), a 3x3 conv over 4 channels of 26x25 (one channel a block: 4
    ///      blocks), a global 52x50 avgpool (10 rows a block: 6 blocks).
    function _longModel() internal pure returns (ModelDef memory) {
        StepDef[] memory s = new StepDef[](9);
        s[0] = Ref.input(Kit.s2(2, 1300));
        s[1] = Ref.linear(0, s[0].out, 5, false, 21);
        s[2] = Ref.argmax(0, s[0].out);
        s[3] = Ref.unary(Ref.RESHAPE, 0, Kit.i8(Kit.s3(1, 52, 50)), Ref.noParams());
        s[4] = Ref.unary(Ref.MAXPOOL2D, 3, Kit.i8(Kit.s3(1, 23, 50)), Ref.params(30, 3, 1, 1, 0, 1));
        s[5] = Ref.unary(Ref.RESHAPE, 0, Kit.i8(Kit.s3(4, 26, 25)), Ref.noParams());
        s[6] = Ref.conv(5, s[5].out, 2, 3, 1, 1, true, 22);
        s[7] = Ref.avgpool(3, s[3].out, 52, 50, 1, 1652, 22);
        s[8] = Ref.unary(Ref.RELU, 1, s[1].out, Ref.noParams());
        return Ref.build(s);
    }

    function _longWorld() internal pure returns (World memory w) {
        w.m = _longModel();
        w.x = Kit.randomI8(98, 2600);
        w.outs = Ref.run(w.m, w.x);
        w.h = _commitAll(w.m, w.outs);
    }

    function _setUpLong(uint256 arityLog2) internal returns (World memory w) {
        deploy(arityLog2);
        w = _longWorld();
        register(w.m);
    }

    /// @dev The number of blocks of the long model's step `step`.
    function _blocksOf(World memory w, uint256 step) internal pure returns (uint256) {
        return Ref.blocks(w.m.steps[step], Ref.inputTypes(w.m, step));
    }

    /// @dev A liar whose element `e` of `step` is off by one, with checkpoints that
    ///      are honest up to block `lieFrom` and off by one from there (none: all
    ///      honest but the last leaf, its wrong value). The honest challenger
    ///      descends to the first wrong checkpoint and proves that block.
    function _longLie(uint256 arityLog2, uint256 step, uint256 e, uint256 lieFrom) internal {
        World memory w = _setUpLong(arityLog2);
        uint256 n = _blocksOf(w, step);
        assertGe(n, 2, "a long reduction");
        TraceDef memory t = _liar(w, step, e, 1);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        cpLieFrom = lieFrom;
        play(id, w.m, t, w.h);
        _expectChallengerWon(req, res, id);
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(g.stepIndex, step, "the first wrong step");
        assertEq(g.element, e, "the named element");
        assertEq(g.claimed, Kit.elem(t.steps[step], e), "the executor's value");
        assertEq(g.blocks, n, "its blocks");
        assertTrue(g.checkpointRoot != bytes32(0), "checkpoints opened");
        assertEq(g.index, lieFrom < n - 1 ? lieFrom : n - 1, "the first wrong checkpoint was proven");
        assertEq(played.oneStepKind, "proveBlock");
    }

    function test_aWrongLinearElementIsFoundByTheReductionDescent_arity1() public {
        _longLie(1, 1, 7, type(uint256).max);
    }

    function test_aLieInTheMiddleOfALinearReduction_arity2() public {
        _longLie(2, 1, 3, 1);
    }

    function test_aLieAtTheFirstBlockIsProvenFromInit_arity1() public {
        _longLie(1, 1, 9, 0);
    }

    function test_aWrongArgmaxIsFoundByTheReductionDescent_arity1() public {
        _longLie(1, 2, 1, 1);
    }

    function test_aWrongMaxpoolElementIsFoundByTheReductionDescent_arity2() public {
        _longLie(2, 4, 600, 0);
    }

    function test_aWrongConvElementIsFoundByTheReductionDescent_arity1() public {
        _longLie(1, 6, 700, 2);
    }

    function test_aWrongAvgpoolIsFoundByTheReductionDescent_arity2() public {
        _longLie(2, 7, 0, 3);
    }

    function test_aWrongAvgpoolWithHonestCheckpointsLosesAtTheLastBlock_arity1() public {
        _longLie(1, 7, 0, type(uint256).max);
    }

    /// @dev Steers the challenger's descent: at a trace node towards leaf `leaf`,
    ///      at a data node towards chunk `chunk`, at a checkpoint node towards leaf
    ///      `cp`; returns when the game ends.
    function _steered(uint256 id, World memory w, TraceDef memory t, uint256 leaf, uint256 chunk, uint256 cp) internal {
        for (uint256 i = 0; i < 128; i++) {
            DisputeGame.Game memory g = game.getGame(id);
            if (g.status != DisputeGame.Status.Open) return;
            vm.warp(vm.getBlockTimestamp() + 7);
            if (g.turn == DisputeGame.Side.Executor) {
                executorMove(id, w.m, t);
                continue;
            }
            if (g.phase == DisputeGame.Phase.Trace || g.phase == DisputeGame.Phase.Data || g.phase == DisputeGame.Phase.Reduction) {
                uint256 levels = _levels(g);
                uint256 goal = g.phase == DisputeGame.Phase.Trace ? leaf : g.phase == DisputeGame.Phase.Data ? chunk : cp;
                griefChoice = (goal >> (g.height - levels)) & ((uint256(1) << levels) - 1);
            }
            challengerMove(id, w.m, t, w.h);
        }
        revert("the game did not end");
    }

    /// @dev An honest executor (world `w`, deployed anew) against a challenger that
    ///      names element `griefElement` of chunk `chunk` of `step` and descends to
    ///      checkpoint leaf `cp`: the executor wins.
    function _griefCheckpoint(World memory w, uint256 arityLog2, uint256 step, uint256 chunk, uint256 cp) internal {
        deploy(arityLog2);
        register(w.m);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, w.h);
        steer = true;
        _steered(id, w, w.h, step, chunk, cp);
        steer = false;
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(g.stepIndex, step);
        assertEq(g.index, cp, "the checkpoint leaf reached");
        _expectExecutorWon(w, req, res, id);
    }

    /// @dev Every checkpoint leaf the challenger may pick in step `step`'s tree,
    ///      padding included: the honest executor wins them all.
    function _everyCheckpoint(uint256 step, uint256 chunk, uint256 arityLog2) internal {
        World memory w = _longWorld();
        uint256 n = _blocksOf(w, step);
        uint256 width = uint256(1) << Kit.height(n);
        for (uint256 cp = 0; cp < width; cp++) {
            griefElement = 3 * cp + step;
            _griefCheckpoint(w, arityLog2, step, chunk, cp);
        }
    }

    function test_theHonestExecutorWinsWhicheverCheckpointIsPicked_linear() public {
        _everyCheckpoint(1, 0, 1);
    }

    function test_theHonestExecutorWinsWhicheverCheckpointIsPicked_argmax() public {
        _everyCheckpoint(2, 0, 2);
    }

    function test_theHonestExecutorWinsWhicheverCheckpointIsPicked_maxpool() public {
        _everyCheckpoint(4, 3, 1);
    }

    function test_theHonestExecutorWinsWhicheverCheckpointIsPicked_conv() public {
        _everyCheckpoint(6, 5, 2);
    }

    function test_theHonestExecutorWinsWhicheverCheckpointIsPicked_avgpool() public {
        _everyCheckpoint(7, 0, 1);
    }

    /// A padding checkpoint leaf that is not zero loses, wherever the rest stands.
    function test_aDirtyPaddingCheckpointLeafLoses() public {
        World memory w = _setUpLong(1);
        assertEq(_blocksOf(w, 1), 3, "leaf 3 is padding");
        TraceDef memory t = _liar(w, 1, 4, 1);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        cpPadding = keccak256("not a padding leaf");
        // the honest descent, then towards leaf 3 in the checkpoint tree
        for (uint256 i = 0; i < 128; i++) {
            DisputeGame.Game memory g = game.getGame(id);
            if (g.status != DisputeGame.Status.Open) break;
            vm.warp(vm.getBlockTimestamp() + 7);
            if (g.turn == DisputeGame.Side.Executor) {
                executorMove(id, w.m, t);
                continue;
            }
            steer = g.phase == DisputeGame.Phase.Reduction;
            griefChoice = (3 >> (g.height - _levels(g))) & 1;
            challengerMove(id, w.m, t, w.h);
        }
        steer = false;
        DisputeGame.Game memory end = game.getGame(id);
        assertEq(end.index, 3);
        assertEq(played.oneStep, 0, "decided by the pick, no block proven");
        _expectChallengerWon(req, res, id);
    }

    /// @dev Plays until it is the challenger's turn in `phase`.
    function _playTo(uint256 id, World memory w, TraceDef memory t, DisputeGame.Phase phase) internal {
        for (uint256 i = 0; i < 128; i++) {
            DisputeGame.Game memory g = game.getGame(id);
            require(g.status == DisputeGame.Status.Open, "the game ended early");
            if (g.phase == phase && g.turn == DisputeGame.Side.Challenger) return;
            vm.warp(vm.getBlockTimestamp() + 7);
            if (g.turn == DisputeGame.Side.Executor) executorMove(id, w.m, t);
            else challengerMove(id, w.m, t, w.h);
        }
        revert("never reached the phase");
    }

    /// The state before the disputed block must be the executor's checkpoint
    /// before it, proven against its root; block 0 takes none.
    function test_aWrongPrevStateOrProofReverts() public {
        World memory w = _setUpLong(1);
        TraceDef memory t = _liar(w, 1, 2, 1);
        (,, uint256 id) = _dispute(w, t);
        cpLieFrom = 1;
        _playTo(id, w, t, DisputeGame.Phase.Block);
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(g.index, 1);
        (bytes memory prevState, bytes32[] memory prevProof) = prevCheckpoint(id, w.m, t);
        DisputeGame.StepOperands memory ops = operands(w.m, t, 1, g.element, 1);
        vm.startPrank(challenger);
        bytes memory other = bytes.concat(prevState);
        other[31] = bytes1(uint8(other[31]) ^ 1);
        vm.expectRevert(DisputeGame.BadPrevState.selector);
        game.proveBlock(id, other, prevProof, ops);
        vm.expectRevert(DisputeGame.BadPrevState.selector);
        game.proveBlock(id, bytes.concat(prevState, bytes32(0)), prevProof, ops);
        vm.expectRevert(DisputeGame.BadPrevState.selector);
        game.proveBlock(id, "", new bytes32[](0), ops);
        bytes32[] memory badProof = new bytes32[](prevProof.length);
        for (uint256 k = 0; k < badProof.length; k++) {
            badProof[k] = prevProof[k];
        }
        badProof[0] = bytes32(uint256(badProof[0]) ^ 1);
        vm.expectRevert(DisputeGame.BadPrevState.selector);
        game.proveBlock(id, prevState, badProof, ops);
        vm.expectRevert(DisputeGame.BadPrevState.selector);
        game.proveBlock(id, prevState, new bytes32[](prevProof.length + 1), ops);
        // the executor's leaf 2 (the element leaf) is not leaf b - 1 = 0
        vm.expectRevert(DisputeGame.BadPrevState.selector);
        game.proveBlock(id, abi.encode(int256(g.claimed)), prevProof, ops);
        game.proveBlock(id, prevState, prevProof, ops);
        vm.stopPrank();
        assertEq(uint8(game.getGame(id).status), uint8(DisputeGame.Status.ChallengerWon));
    }

    function test_block0TakesNoPrevState() public {
        World memory w = _setUpLong(2);
        TraceDef memory t = _liar(w, 2, 0, 1);
        (,, uint256 id) = _dispute(w, t);
        cpLieFrom = 0;
        _playTo(id, w, t, DisputeGame.Phase.Block);
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(g.index, 0);
        _proveBlock0(id, operands(w.m, t, 2, g.element, 0), operands(w.m, t, 2, g.element, 1));
        assertEq(uint8(game.getGame(id).status), uint8(DisputeGame.Status.ChallengerWon));
    }

    /// @dev Block 0 with a state or a proof, and with the operands of block 1,
    ///      reverts; with none and its own operands it is proven.
    function _proveBlock0(uint256 id, DisputeGame.StepOperands memory ops, DisputeGame.StepOperands memory block1) internal {
        vm.startPrank(challenger);
        vm.expectRevert(DisputeGame.BadPrevState.selector);
        game.proveBlock(id, abi.encode(int256(-2 ** 63), int256(0)), new bytes32[](0), ops);
        vm.expectRevert(DisputeGame.BadPrevState.selector);
        game.proveBlock(id, "", new bytes32[](1), ops);
        // the operands of another block do not hold what block 0 reads
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.ReadOutsideRange.selector, 0));
        game.proveBlock(id, "", new bytes32[](0), block1);
        game.proveBlock(id, "", new bytes32[](0), ops);
        vm.stopPrank();
    }

    /// proveStep is for one block, nameElement for more.
    function test_proveStepOnALongReductionAndNameElementOnAShortOneRevert() public {
        World memory w = _setUpLong(1);
        TraceDef memory t = _liar(w, 1, 5, 1);
        (,, uint256 id) = _dispute(w, t);
        _playTo(id, w, t, DisputeGame.Phase.OneStep);
        DisputeGame.Game memory g = game.getGame(id);
        bytes memory chunk = Kit.chunk(t.steps[1], g.index);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.LongReduction.selector, 3));
        game.proveStep(id, 5, chunk, operands(w.m, t, 1, 5, 0));
        // a wrong chunk, spec or element is refused before anything else
        vm.startPrank(challenger);
        vm.expectRevert(DisputeGame.BadChunk.selector);
        game.nameElement(id, 5, new bytes(256), w.m.specs[1]);
        vm.expectRevert(DisputeGame.BadSpec.selector);
        game.nameElement(id, 5, chunk, w.m.specs[2]);
        vm.expectRevert(DisputeGame.BadElement.selector);
        game.nameElement(id, 10, chunk, w.m.specs[1]);
        vm.stopPrank();

        World memory small = _setUp(1);
        TraceDef memory t2 = _liar(small, 3, 10, 1);
        (,, uint256 id2) = _dispute(small, t2);
        _playTo(id2, small, t2, DisputeGame.Phase.OneStep);
        DisputeGame.Game memory g2 = game.getGame(id2);
        vm.prank(challenger);
        vm.expectRevert(DisputeGame.ShortReduction.selector);
        game.nameElement(id2, 10, Kit.chunk(t2.steps[3], g2.index), small.m.specs[3]);
    }

    /// The checkpoint root must hold the element leaf of the executor's own value
    /// at leaf n - 1.
    function test_checkpointsMustEndAtTheExecutorsValue() public {
        World memory w = _setUpLong(1);
        TraceDef memory t = _liar(w, 2, 1, 1);
        (,, uint256 id) = _dispute(w, t);
        for (uint256 i = 0; i < 128; i++) {
            DisputeGame.Game memory g = game.getGame(id);
            if (g.phase == DisputeGame.Phase.Checkpoints) break;
            vm.warp(vm.getBlockTimestamp() + 7);
            if (g.turn == DisputeGame.Side.Executor) executorMove(id, w.m, t);
            else challengerMove(id, w.m, t, w.h);
        }
        DisputeGame.Game memory at = game.getGame(id);
        assertEq(uint8(at.turn), uint8(DisputeGame.Side.Executor));
        (bytes32[] memory leaves,) = executorCheckpoints(id, w.m, t);
        // an honest fold that ends at the honest value, not the executor's
        bytes32[] memory honest = honestCheckpoints(id, w.m, w.h);
        Tree memory good = checkpointTree(leaves, bytes32(0));
        Tree memory other = checkpointTree(honest, bytes32(0));
        vm.startPrank(executor);
        vm.expectRevert(DisputeGame.BadCheckpoints.selector);
        game.openCheckpoints(id, Kit.rootOf(other), Kit.single(other, 2));
        vm.expectRevert(DisputeGame.BadCheckpoints.selector);
        game.openCheckpoints(id, Kit.rootOf(good), Kit.single(good, 1));
        vm.expectRevert(DisputeGame.BadCheckpoints.selector);
        game.openCheckpoints(id, Kit.rootOf(good), new bytes32[](1));
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.WrongPhase.selector, DisputeGame.Phase.Checkpoints));
        game.revealNodes(id, Kit.below(good, 2, 0, 1));
        game.openCheckpoints(id, Kit.rootOf(good), Kit.single(good, 2));
        vm.stopPrank();
        DisputeGame.Game memory g2 = game.getGame(id);
        assertEq(uint8(g2.phase), uint8(DisputeGame.Phase.Reduction));
        assertEq(uint8(g2.turn), uint8(DisputeGame.Side.Executor), "the executor reveals first");
        assertEq(g2.checkpointRoot, Kit.rootOf(good));
        assertEq(g2.height, 2);
    }

    // ---------------------------------------------------- 2^32 bytes and more

    /// @dev A conv2d [1,1,1] -> [1,65537,65537] (1x1 kernel of weight 1, padding
    ///      32768, requant making y = x): 4,295,098,369 output bytes, all zero but
    ///      the centre; its data tree (height 25) is built from its structure.
    function _wideWorld(uint256 arityLog2, int8 x) internal returns (World memory w) {
        deploy(arityLog2);
        StepDef[] memory s = new StepDef[](3);
        s[0] = Ref.input(Kit.s3(1, 1, 1));
        s[1] = Ref.conv(0, s[0].out, 1, 1, 1, 32768, false, 0);
        s[1].wData[0] = hex"01";
        s[1].wData[1] = abi.encodePacked(int32(0), int32(2 ** 30), int32(30));
        s[2] = Ref.unary(Ref.RELU, 0, s[0].out, Ref.noParams());
        w.m = Ref.build(s);
        register(w.m);
        w.x = abi.encodePacked(x);
        assertEq(Kit.byteLen(s[1].out), 4_295_098_369);
        w.h = _wideTrace(w, 2_147_549_184, x);
        // only the posted output of the steps' outputs is held whole
        w.outs = new bytes[](3);
        w.outs[2] = Kit.canonical(w.h.steps[2]);
    }

    /// @dev The trace whose conv output is zero but for element `at`, which is `v`.
    function _wideTrace(World memory w, uint256 at, int8 v) internal pure returns (TraceDef memory) {
        Committed[] memory cs = new Committed[](3);
        cs[0] = Kit.commit(w.m.steps[0].out, w.x);
        uint256[] memory idx = new uint256[](1);
        idx[0] = at / 256;
        bytes[] memory data = new bytes[](1);
        data[0] = new bytes(256);
        data[0][at % 256] = bytes1(uint8(v));
        cs[1] = Kit.commitSparse(w.m.steps[1].out, idx, data);
        cs[2] = Kit.commit(w.m.steps[2].out, abi.encodePacked(x8(w.x) > 0 ? x8(w.x) : int8(0)));
        return Ref.trace(cs);
    }

    function x8(bytes memory x) internal pure returns (int8) {
        return int8(uint8(x[0]));
    }

    /// An honest executor's chunk past byte 2^32 is real data, not padding: the
    /// game reaches the one step there (a 32-bit length would have judged it
    /// padding), and a griefer loses.
    function test_aChunkPastByte2To32IsJudgedOnTheRealLength_honest() public {
        World memory w = _wideWorld(1, 5);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, w.h);
        uint256 chunk = 16_777_500; // bytes 4,295,040,000 to 4,295,040,255
        assertGt(chunk * 256, 2 ** 32);
        for (uint256 i = 0; i < 128; i++) {
            DisputeGame.Game memory g = game.getGame(id);
            if (g.phase == DisputeGame.Phase.OneStep) break;
            require(g.status == DisputeGame.Status.Open, "the game ended before the one step");
            vm.warp(vm.getBlockTimestamp() + 7);
            if (g.turn == DisputeGame.Side.Executor) {
                executorMove(id, w.m, w.h);
                continue;
            }
            uint256 levels = _levels(g);
            uint256 goal = g.phase == DisputeGame.Phase.Trace ? 1 : chunk;
            griefChoice = (goal >> (g.height - levels)) & ((uint256(1) << levels) - 1);
            challengerMove(id, w.m, w.h, w.h);
        }
        DisputeGame.Game memory at = game.getGame(id);
        assertEq(uint8(at.phase), uint8(DisputeGame.Phase.OneStep), "a real chunk reaches the one step");
        assertEq(at.byteLen, 4_295_098_369, "the length is not cut to 32 bits");
        assertEq(at.index, chunk);
        assertEq(at.height, 0);
        griefElement = 77;
        play(id, w.m, w.h, w.h);
        griefElement = 0;
        assertEq(played.oneStepKind, "proveStep");
        _expectExecutorWon(w, req, res, id);
    }

    /// A wrong element past byte 2^32 is proven wrong there.
    function test_aWrongElementPastByte2To32IsProvable() public {
        World memory w = _wideWorld(2, -3);
        // the executor's conv output also has element 4,295,000,000 set to 1
        TraceDef memory t = _wideTrace(w, 2_147_549_184, -3);
        uint256 wrongAt = 4_295_000_000;
        uint256[] memory idx = new uint256[](2);
        (idx[0], idx[1]) = (2_147_549_184 / 256, wrongAt / 256);
        bytes[] memory data = new bytes[](2);
        data[0] = Kit.chunk(w.h.steps[1], idx[0]);
        data[1] = new bytes(256);
        data[1][wrongAt % 256] = 0x01;
        Committed[] memory cs = new Committed[](3);
        (cs[0], cs[2]) = (t.steps[0], t.steps[2]);
        cs[1] = Kit.commitSparse(w.m.steps[1].out, idx, data);
        t = Ref.trace(cs);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        play(id, w.m, t, w.h);
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(g.index, wrongAt / 256, "the chunk past 2^32");
        assertEq(played.oneStepKind, "proveStep");
        _expectChallengerWon(req, res, id);
    }
}
