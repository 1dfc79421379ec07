// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {console2} from "forge-std/console2.sol";
import {DisputeGame} from "../src/DisputeGame.sol";
import {Kit, Ty, StepDef, Committed, ModelDef, TraceDef} from "./utils/Kit.sol";
import {Ref} from "./utils/Ref.sol";
import {GameKit} from "./utils/GameKit.sol";
import {DigitTwins} from "./utils/DigitTwins.sol";

/// @notice The gas budgets of the brief on twins of the digit fixtures (same
///         shapes as fixtures/models/digits-{mlp,cnn,resnet}.json, random
///         weights): for every step, a liar whose one element of that step is wrong
///         loses a whole game in which one step costs at most 1M gas and every
///         other move at most 100k (execution gas of the call).
contract BudgetTest is GameKit {
    uint256 internal constant STEP_BUDGET = 1_000_000;
    uint256 internal constant MOVE_BUDGET = 100_000;

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
        _everyStep(DigitTwins.mlp(0), Kit.randomI8(1, 64));
    }

    function test_everyStepOfTheDigitsCnnFitsTheBudget() public {
        _everyStep(DigitTwins.cnn(10), Kit.randomI8(2, 64));
    }

    function test_everyStepOfTheDigitsResnetFitsTheBudget() public {
        _everyStep(DigitTwins.resnet(20), Kit.randomI8(3, 64));
    }
}
