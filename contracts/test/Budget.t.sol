// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {console2} from "forge-std/console2.sol";
import {DisputeGame} from "../src/DisputeGame.sol";
import {Kit, Ty, StepDef, Committed, ModelDef, TraceDef} from "./utils/Kit.sol";
import {Ref} from "./utils/Ref.sol";
import {GameKit} from "./utils/GameKit.sol";

/// @notice The gas budgets of the brief on twins of the digit fixtures (same
///         shapes as fixtures/models/digits-{mlp,cnn,resnet}.json, random
///         weights): for every step, a liar whose one element of that step is wrong
///         loses a whole game in which one step costs at most 1M gas and every
///         other move at most 100k (execution gas of the call).
contract BudgetTest is GameKit {
    uint256 internal constant STEP_BUDGET = 1_000_000;
    uint256 internal constant MOVE_BUDGET = 100_000;

    function mlp() internal pure returns (ModelDef memory) {
        StepDef[] memory s = new StepDef[](4);
        s[0] = Ref.input(Kit.s1(64));
        s[1] = Ref.linear(0, s[0].out, 64, true, 1);
        s[2] = Ref.linear(1, s[1].out, 10, false, 2);
        s[3] = Ref.argmax(2, s[2].out);
        return Ref.build(s);
    }

    function cnn() internal pure returns (ModelDef memory) {
        StepDef[] memory s = new StepDef[](7);
        s[0] = Ref.input(Kit.s3(1, 8, 8));
        s[1] = Ref.conv(0, s[0].out, 8, 3, 1, 1, true, 3);
        s[2] = Ref.maxpool(1, s[1].out, 2, 2, 0);
        s[3] = Ref.conv(2, s[2].out, 16, 3, 1, 0, true, 4);
        s[4] = Ref.unary(Ref.RESHAPE, 3, Kit.i8(Kit.s1(64)), Ref.noParams());
        s[5] = Ref.linear(4, s[4].out, 10, false, 5);
        s[6] = Ref.argmax(5, s[5].out);
        return Ref.build(s);
    }

    function resnet() internal pure returns (ModelDef memory) {
        StepDef[] memory s = new StepDef[](9);
        s[0] = Ref.input(Kit.s3(1, 8, 8));
        s[1] = Ref.conv(0, s[0].out, 16, 3, 1, 1, true, 6);
        s[2] = Ref.conv(1, s[1].out, 16, 3, 1, 1, true, 7);
        s[3] = Ref.conv(2, s[2].out, 16, 3, 1, 1, false, 8);
        s[4] = Ref.add(3, 1, s[3].out, 1660384161, 38227055, 30, true);
        s[5] = Ref.avgpool(4, s[4].out, 8, 8, 8, 1265034798, 34);
        s[6] = Ref.unary(Ref.RESHAPE, 5, Kit.i8(Kit.s1(16)), Ref.noParams());
        s[7] = Ref.linear(6, s[6].out, 10, false, 9);
        s[8] = Ref.argmax(7, s[7].out);
        return Ref.build(s);
    }

    /// @dev Plays a game against a liar whose element `e` of `step` is off by one
    ///      (later steps left honest: the game goes to the first wrong step).
    function _lieAt(ModelDef memory m, bytes memory x, bytes[] memory outs, uint256 step, uint256 e) internal {
        deploy(1);
        register(m);
        bytes[] memory lie = new bytes[](outs.length);
        for (uint256 i = 0; i < outs.length; i++) lie[i] = bytes.concat(outs[i]);
        uint8 dt = m.steps[step].out.dtype;
        Kit.set(lie[step], dt, e, Kit.get(lie[step], dt, e) + 1);
        TraceDef memory t = _commit(m, lie);
        TraceDef memory h = _commit(m, outs);
        uint256 req = requestOn(m, x);
        uint256 res = postTrace(req, t);
        uint256 id = challengeAs(challenger, res);
        play(id, m, t, h, outs);
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(uint8(g.status), uint8(DisputeGame.Status.ChallengerWon));
        assertEq(g.stepIndex, step);
        console2.log("step", step, "op", m.steps[step].op);
        console2.log("  proveStep", lastGas["proveStep"], "whole game", gameGas);
        console2.log("  openHeader", lastGas["openHeader"], "revealChunk", lastGas["revealChunk"]);
        assertLe(lastGas["proveStep"], STEP_BUDGET, "one step");
        bytes32[6] memory kinds =
            [bytes32("revealNodes(trace)"), "pick(trace)", "openHeader", "revealNodes(data)", "pick(data)", "revealChunk"];
        for (uint256 k = 0; k < kinds.length; k++) assertLe(lastGas[kinds[k]], MOVE_BUDGET, string(abi.encodePacked(kinds[k])));
        for (uint256 k = 0; k < kinds.length; k++) delete lastGas[kinds[k]];
        delete lastGas["proveStep"];
    }

    function _commit(ModelDef memory m, bytes[] memory outs) internal pure returns (TraceDef memory) {
        Committed[] memory cs = new Committed[](m.stepCount);
        for (uint256 i = 0; i < m.stepCount; i++) cs[i] = Kit.commit(m.steps[i].out, outs[i]);
        return Ref.trace(cs);
    }

    /// @dev Every step of `m`, lying at a central element (full windows).
    function _everyStep(ModelDef memory m, bytes memory x) internal {
        bytes[] memory outs = Ref.run(m, x);
        for (uint256 step = 1; step < m.stepCount; step++) {
            uint256 n = Kit.numel(m.steps[step].out.shape);
            uint256 e = n > 8 ? n / 2 + 3 : n - 1;
            _lieAt(m, x, outs, step, e);
        }
    }

    function test_everyStepOfTheDigitsMlpFitsTheBudget() public {
        _everyStep(mlp(), Kit.randomI8(1, 64));
    }

    function test_everyStepOfTheDigitsCnnFitsTheBudget() public {
        _everyStep(cnn(), Kit.randomI8(2, 64));
    }

    function test_everyStepOfTheDigitsResnetFitsTheBudget() public {
        _everyStep(resnet(), Kit.randomI8(3, 64));
    }
}
