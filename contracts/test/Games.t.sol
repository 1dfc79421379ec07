// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {DisputeGame} from "../src/DisputeGame.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {Kit, Ty, StepDef, Committed, ModelDef, TraceDef} from "./utils/Kit.sol";
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
        for (uint256 i = 0; i < outs.length; i++) c[i] = bytes.concat(outs[i]);
    }

    /// @dev The trace of an executor whose step `step` has element `e` changed by
    ///      `delta`; later steps are recomputed from it (a consistent liar).
    function _liar(World memory w, uint256 step, uint256 e, int256 delta) internal pure returns (TraceDef memory) {
        bytes[] memory outs = _copy(w.outs);
        uint8 dt = w.m.steps[step].out.dtype;
        int256 v = Kit.get(outs[step], dt, e) + delta;
        Kit.set(outs[step], dt, e, v);
        for (uint256 i = step + 1; i < w.m.stepCount; i++) outs[i] = Ref.evalStep(w.m, i, outs);
        return _commitAll(w.m, outs);
    }

    function _commitAll(ModelDef memory model, bytes[] memory outs) internal pure returns (TraceDef memory) {
        Committed[] memory cs = new Committed[](model.stepCount);
        for (uint256 i = 0; i < model.stepCount; i++) cs[i] = Kit.commit(model.steps[i].out, outs[i]);
        return Ref.trace(cs);
    }

    /// @dev Opens a game of `challenger` on a result posted from trace `t`.
    function _dispute(World memory w, TraceDef memory t) internal returns (uint256 requestId, uint256 resultId, uint256 gameId) {
        requestId = requestOn(w.m, w.x);
        resultId = postTrace(requestId, t);
        gameId = challengeAs(challenger, resultId);
    }

    function _expectChallengerWon(uint256 requestId, uint256 resultId, uint256 gameId) internal view {
        DisputeGame.Game memory g = game.getGame(gameId);
        assertEq(uint8(g.status), uint8(DisputeGame.Status.ChallengerWon), "challenger won");
        assertEq(uint8(g.phase), uint8(DisputeGame.Phase.Resolved));
        assertEq(uint8(oracle.resultStatus(resultId)), uint8(InferenceOracle.ResultStatus.Rejected));
        assertEq(uint8(oracle.status(requestId)), uint8(InferenceOracle.RequestStatus.Open), "the request reopened");
        assertEq(oracle.balanceOf(challenger), BOND + STAKE * REWARD_BPS / 10_000, "bond and reward");
        assertEq(oracle.balanceOf(executor), 0);
        assertEq(oracle.totalBurned(), STAKE - STAKE * REWARD_BPS / 10_000, "the rest of the stake burned");
        assertConserved();
    }

    function _expectExecutorWon(World memory w, uint256 requestId, uint256 resultId, uint256 gameId) internal {
        DisputeGame.Game memory g = game.getGame(gameId);
        assertEq(uint8(g.status), uint8(DisputeGame.Status.ExecutorWon), "executor won");
        uint256 burned = BOND * BOND_BURN_BPS / 10_000;
        assertEq(oracle.balanceOf(executor), BOND - burned, "the bond, less the burned share");
        assertEq(oracle.totalBurned(), burned);
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
        play(id, w.m, t, w.h, w.outs);
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
        for (uint256 i = 0; i < bad.length; i++) bad[i] = w.h.steps[i];
        bad[4] = Kit.commit(Kit.i8(Kit.s1(600)), w.outs[4]);
        TraceDef memory t = Ref.trace(bad);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        play(id, w.m, t, w.h, w.outs);
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
        for (uint256 i = 0; i < bad.length; i++) bad[i] = w.h.steps[i];
        bytes memory padded = bytes.concat(w.h.steps[3].padded);
        padded[at] = 0x01;
        bad[3] = Kit.commitPadded(w.h.steps[3].ty, padded);
        TraceDef memory t = Ref.trace(bad);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        play(id, w.m, t, w.h, w.outs);
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
        for (uint256 i = 0; i < 7; i++) leaves[i] = w.h.steps[i].commitment;
        leaves[7] = keccak256("not a padding leaf");
        TraceDef memory t;
        t.steps = w.h.steps;
        t.levels = Kit.tree(0x03, leaves, bytes32(0));
        t.root = Kit.rootOf(t.levels);
        (uint256 req, uint256 res, uint256 id) = _dispute(w, t);
        play(id, w.m, t, w.h, w.outs);
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
            else challengerMove(id, w.m, t, w.h, w.outs);
        }
        // the executor stops; its clock runs out
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(uint8(g.turn), uint8(DisputeGame.Side.Executor));
        vm.warp(vm.getBlockTimestamp() + g.executorClock);
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
            challengerMove(id, w.m, w.h, w.h, w.outs);
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
        vm.warp(vm.getBlockTimestamp() + g.challengerClock + 1);
        game.timeout(id);
        g = game.getGame(id);
        assertEq(uint8(g.status), uint8(DisputeGame.Status.ExecutorWon));
        if (!fraud) {
            _expectExecutorWon(w, req, res, id);
        } else {
            // a lazy challenger loses its own game; fraud stands only until an honest one plays
            assertEq(uint8(oracle.resultStatus(res)), uint8(InferenceOracle.ResultStatus.Pending));
            uint256 id2 = challengeAs(makeAddrWithEth("watchtower"), res);
            play(id2, w.m, t, w.h, w.outs);
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

    /// Every position of a game is one the honest executor can answer: play the
    /// honest executor against a griefer aiming at every trace leaf and chunk.
    function test_theHonestExecutorWinsEveryGriefingPath_arity2() public {
        for (uint256 leaf = 0; leaf < 8; leaf++) {
            for (uint256 chunk = 0; chunk < 4; chunk += 3) {
                _grief(2, leaf, chunk);
            }
        }
    }
}
