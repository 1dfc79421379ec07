// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./Disputes.t.sol";
import {Commitments} from "../src/lib/Commitments.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {InferenceOracle, IInferenceCallback} from "../src/InferenceOracle.sol";
import {DisputeGame} from "../src/DisputeGame.sol";

contract GoodReceiver is IInferenceCallback {
    uint256 public calls;
    bytes public lastOutput;

    function onInferenceFinal(uint256, bytes32, bytes calldata output) external {
        calls++;
        lastOutput = output;
    }
}

contract RevertingReceiver is IInferenceCallback {
    function onInferenceFinal(uint256, bytes32, bytes calldata) external pure {
        revert("no");
    }
}

contract GreedyReceiver is IInferenceCallback {
    function onInferenceFinal(uint256, bytes32, bytes calldata) external pure {
        while (true) {}
    }
}

contract RejectingWallet {
    receive() external payable {
        revert("no ETH");
    }
}

/// @notice Requests, posts, finality, callbacks, refunds, parallel and moot games,
///         payouts, and every revert of the registry and the oracle.
contract LifecycleTest is ProtocolFixture {
    Scenario honest;
    Scenario wrongOutput;
    Scenario middle;

    function setUp() public {
        _loadVectors();
        Scenario[] memory all = _scenarios();
        for (uint256 i = 0; i < all.length; i++) {
            bytes32 n = keccak256(bytes(all[i].name));
            if (n == keccak256("griefer-loses-arity1")) honest = all[i];
            if (n == keccak256("wrong-output-arity1")) wrongOutput = all[i];
            if (n == keccak256("wrong-middle-step-arity1")) middle = all[i];
        }
        _deploy(1);
    }

    function _request(address cb, uint64 gas) internal returns (uint256) {
        vm.prank(requester);
        return oracle.request{value: FEE}(modelId, model.input, cb, gas);
    }

    function _post(uint256 requestId, Scenario memory s) internal returns (uint256) {
        vm.prank(executor);
        return oracle.post{value: STAKE}(requestId, s.output, s.traceRoot, uint32(model.stepCount), s.inputProof, s.outputProof);
    }

    // ---------------------------------------------------------------- registry

    function test_registryRefusesDuplicatesBadProofsAndNonInputFirstSteps() public {
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.AlreadyRegistered.selector, modelId));
        registry.register(uint32(model.stepCount), model.specRoot, model.inputSpec, model.inputProof, model.outputSpec, model.outputProof, "");
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.SpecNotInModel.selector, 0));
        registry.register(uint32(model.stepCount), bytes32(uint256(1)), model.inputSpec, model.inputProof, model.outputSpec, model.outputProof, "");
        vm.expectRevert(ModelRegistry.NoSteps.selector);
        registry.register(0, model.specRoot, model.inputSpec, model.inputProof, model.outputSpec, model.outputProof, "");
        // the output spec in place of the input spec: a one-step "model" whose first step is not `input`
        bytes32 root = Commitments.specLeaf(model.outputSpec);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.FirstStepNotInput.selector, 9));
        registry.register(1, root, model.outputSpec, new bytes32[](0), model.outputSpec, new bytes32[](0), "");
        ModelRegistry.ModelInfo memory m = registry.getModel(modelId);
        assertEq(m.stepCount, model.stepCount);
        assertEq(m.inputShape.length, 3);
        assertEq(m.outputShape.length, 0);
        assertEq(m.outputDType, 2);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, bytes32(0)));
        registry.getModel(bytes32(0));
    }

    // ---------------------------------------------------------------- requests

    function test_requestChecksModelInputAndCallbackGas() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.UnknownModel.selector, bytes32(0)));
        oracle.request(bytes32(0), model.input, address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.InputLength.selector, 64, 3));
        oracle.request(modelId, hex"010203", address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.CallbackGasTooHigh.selector, 500_000));
        oracle.request(modelId, model.input, address(1), 500_001);
        uint256 id = _request(address(0), 0);
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(r.fee, FEE);
        assertEq(uint8(r.status), uint8(InferenceOracle.RequestStatus.Open));
        _assertConserved();
    }

    function test_postChecksStateStakeStepsLengthAndProofs() public {
        uint256 id = _request(address(0), 0);
        Scenario memory s = honest;
        uint32 n = uint32(model.stepCount);
        vm.startPrank(executor);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.StakeTooLow.selector, 1 ether));
        oracle.post{value: 0.5 ether}(id, s.output, s.traceRoot, n, s.inputProof, s.outputProof);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.WrongStepCount.selector, n));
        oracle.post{value: STAKE}(id, s.output, s.traceRoot, n + 1, s.inputProof, s.outputProof);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.OutputLength.selector, 4, 1));
        oracle.post{value: STAKE}(id, hex"00", s.traceRoot, n, s.inputProof, s.outputProof);
        vm.expectRevert(InferenceOracle.InputNotInTrace.selector);
        oracle.post{value: STAKE}(id, s.output, s.traceRoot, n, s.outputProof, s.outputProof);
        vm.expectRevert(InferenceOracle.OutputNotInTrace.selector);
        oracle.post{value: STAKE}(id, hex"00000005", s.traceRoot, n, s.inputProof, s.outputProof);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestNotOpen.selector, 99));
        oracle.post{value: STAKE}(99, s.output, s.traceRoot, n, s.inputProof, s.outputProof);
        oracle.post{value: STAKE}(id, s.output, s.traceRoot, n, s.inputProof, s.outputProof);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestNotOpen.selector, id));
        oracle.post{value: STAKE}(id, s.output, s.traceRoot, n, s.inputProof, s.outputProof);
        vm.stopPrank();
        _assertConserved();
    }

    function test_anUnservedRequestIsRefundedAfterItsDeadline() public {
        uint256 id = _request(address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestNotExpired.selector, id));
        oracle.refund(id);
        vm.warp(vm.getBlockTimestamp() + 1 hours + 1);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestExpired.selector, id));
        _post(id, honest);
        oracle.refund(id);
        assertEq(oracle.balanceOf(requester), FEE);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestNotOpen.selector, id));
        oracle.refund(id);
        uint256 before = requester.balance;
        vm.prank(requester);
        oracle.withdraw();
        assertEq(requester.balance, before + FEE);
        vm.prank(requester);
        vm.expectRevert(InferenceOracle.NothingToWithdraw.selector);
        oracle.withdraw();
        _assertConserved();
    }

    // ---------------------------------------------------------------- finality

    function test_finalityPaysTheExecutorAndCallsBack() public {
        GoodReceiver cb = new GoodReceiver();
        uint256 id = _request(address(cb), 200_000);
        uint256 res = _post(id, honest);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.WindowOpen.selector, uint64(block.timestamp + WINDOW)));
        oracle.finalize(res);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotFinal.selector, id));
        oracle.output(id);
        vm.warp(vm.getBlockTimestamp() + WINDOW);
        oracle.finalize(res);
        assertEq(cb.calls(), 1);
        assertEq(cb.lastOutput(), honest.output);
        assertEq(oracle.output(id), honest.output);
        assertEq(oracle.balanceOf(executor), STAKE + FEE);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.ResultNotPending.selector, res));
        oracle.finalize(res);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.ResultNotPending.selector, res));
        game.challenge{value: BOND}(res);
        _assertConserved();
    }

    function test_revertingAndGasHungryCallbacksDoNotBlockFinality() public {
        address[2] memory receivers = [address(new RevertingReceiver()), address(new GreedyReceiver())];
        for (uint256 i = 0; i < 2; i++) {
            uint256 id = _request(receivers[i], 300_000);
            uint256 res = _post(id, honest);
            vm.warp(vm.getBlockTimestamp() + WINDOW);
            vm.expectEmit(true, true, false, true, address(oracle));
            emit InferenceOracle.CallbackResult(id, receivers[i], false);
            oracle.finalize(res);
            assertEq(uint8(oracle.status(id)), uint8(InferenceOracle.RequestStatus.Finalized));
        }
    }

    function test_aCallerCannotStarveTheCallback() public {
        GoodReceiver cb = new GoodReceiver();
        uint256 id = _request(address(cb), 400_000);
        uint256 res = _post(id, honest);
        vm.warp(vm.getBlockTimestamp() + WINDOW);
        // too little gas for the promised callback: the whole call reverts
        (bool ok,) = address(oracle).call{gas: 300_000}(abi.encodeCall(InferenceOracle.finalize, (res)));
        assertFalse(ok);
        assertEq(uint8(oracle.status(id)), uint8(InferenceOracle.RequestStatus.Posted));
        oracle.finalize(res);
        assertEq(cb.calls(), 1);
    }

    function test_aReceiverThatRejectsETHKeepsItsBalance() public {
        RejectingWallet w = new RejectingWallet();
        vm.deal(address(w), 10 ether);
        vm.prank(address(w));
        uint256 id = oracle.request{value: FEE}(modelId, model.input, address(0), 0);
        vm.warp(vm.getBlockTimestamp() + 1 hours + 1);
        oracle.refund(id);
        vm.prank(address(w));
        vm.expectRevert(InferenceOracle.TransferFailed.selector);
        oracle.withdraw();
        assertEq(oracle.balanceOf(address(w)), FEE);
    }

    // ------------------------------------------------------------------- games

    function test_aResultWithAnOpenGameDoesNotFinalize() public {
        uint256 id = _request(address(0), 0);
        uint256 res = _post(id, honest);
        vm.prank(challenger);
        game.challenge{value: BOND}(res);
        vm.warp(vm.getBlockTimestamp() + WINDOW);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.GamesOpen.selector, 1));
        oracle.finalize(res);
    }

    function test_challengesNeedABondAndTheWindow() public {
        uint256 id = _request(address(0), 0);
        uint256 res = _post(id, honest);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.BondTooLow.selector, 1 ether));
        game.challenge{value: 0.1 ether}(res);
        vm.warp(vm.getBlockTimestamp() + WINDOW);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.WindowClosed.selector, uint64(block.timestamp)));
        game.challenge{value: BOND}(res);
        vm.expectRevert(InferenceOracle.NotDisputeGame.selector);
        oracle.settleGame(res, challenger, 0, true);
        vm.expectRevert(InferenceOracle.NotDeployer.selector);
        vm.prank(challenger);
        oracle.setDisputeGame(address(1));
        vm.expectRevert(InferenceOracle.GameAlreadySet.selector);
        oracle.setDisputeGame(address(1));
    }

    /// Two watchtowers dispute a fraudulent result in parallel: the first win
    /// rejects it and the reward is shared between the two games open then; the
    /// other game becomes moot, returns its bond and pays its share less the claim
    /// fee; the request reopens for an honest post.
    function test_parallelGamesOnAFraudulentResult() public {
        uint256 id = _request(address(0), 0);
        uint256 res = _post(id, wrongOutput);
        address other = makeAddr("other");
        vm.deal(other, 10 ether);
        vm.prank(challenger);
        uint256 g1 = game.challenge{value: BOND}(res);
        vm.prank(other);
        uint256 g2 = game.challenge{value: BOND}(res);
        assertEq(game.gamesOf(res).length, 2);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotMoot.selector, g2));
        game.settleMoot(g2);
        for (uint256 j = 0; j < wrongOutput.moves.length; j++) {
            _play(g1, wrongOutput.moves[j]);
        }
        assertEq(uint8(game.getGame(g1).status), uint8(DisputeGame.Status.ChallengerWon));
        assertEq(uint8(oracle.resultStatus(res)), uint8(InferenceOracle.ResultStatus.Rejected));
        uint256 share = STAKE * REWARD_BPS / 10_000 / 2;
        uint256 fee = MIN_BOND * BOND_BURN_BPS / 10_000;
        assertEq(oracle.claimFee(), fee);
        assertEq(oracle.balanceOf(challenger), BOND + share, "the winner's bond and share");
        assertEq(oracle.burnPending(), STAKE - 2 * share, "the stake less the two shares waits to be burned");
        InferenceOracle.InferenceResult memory r = oracle.getResult(res);
        assertEq(r.gamesAtRejection, 2);
        assertEq(r.share, share);
        assertEq(r.rejectedAt, vm.getBlockTimestamp());
        assertEq(r.openGames, 1, "the moot game is still open");
        vm.expectEmit(address(oracle));
        emit InferenceOracle.BondReturned(res, other, BOND + share - fee);
        game.settleMoot(g2);
        assertEq(uint8(game.getGame(g2).status), uint8(DisputeGame.Status.Moot));
        assertEq(oracle.balanceOf(other), BOND + share - fee, "the bond and the share less the claim fee");
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.GameOver.selector, g2));
        game.timeout(g2);
        // the request is open again and an honest executor serves it
        uint256 res2 = _post(id, honest);
        vm.warp(vm.getBlockTimestamp() + WINDOW);
        oracle.finalize(res2);
        assertEq(oracle.output(id), honest.output);
        // the moot game burned the claim fee
        _assertBurns(0, STAKE - 2 * share + fee);
    }

    /// A settlement only sets the burned wei aside (`burnPending`); anyone then
    /// sends all of it to address(0) with `burn()`, which counts it in
    /// `totalBurned`. A rejected result's request is open again (and refundable
    /// after its deadline).
    function test_burnsWaitUntilAnyoneSendsThem() public {
        vm.expectRevert(InferenceOracle.NothingToBurn.selector);
        oracle.burn();
        // a griefer loses: `bondBurnBps` of its bond is set aside
        uint256 bondBurn = BOND * BOND_BURN_BPS / 10_000;
        uint256 res = _post(_request(address(0), 0), honest);
        vm.prank(challenger);
        uint256 g = game.challenge{value: BOND}(res);
        for (uint256 j = 0; j < honest.moves.length; j++) {
            _play(g, honest.moves[j]);
        }
        assertEq(uint8(game.getGame(g).status), uint8(DisputeGame.Status.ExecutorWon));
        assertEq(oracle.burnPending(), bondBurn);
        // a fraud is rejected: the stake less the reward is added
        uint256 stakeBurn = STAKE - STAKE * REWARD_BPS / 10_000;
        uint256 id = _request(address(0), 0);
        res = _post(id, wrongOutput);
        assertEq(oracle.getRequest(id).resultId, res);
        vm.prank(challenger);
        g = game.challenge{value: BOND}(res);
        for (uint256 j = 0; j < wrongOutput.moves.length; j++) {
            _play(g, wrongOutput.moves[j]);
        }
        assertEq(uint8(game.getGame(g).status), uint8(DisputeGame.Status.ChallengerWon));
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(uint8(r.status), uint8(InferenceOracle.RequestStatus.Open), "the request is open again");
        assertEq(r.resultId, 0);
        assertEq(uint8(oracle.status(id)), uint8(InferenceOracle.RequestStatus.Open));
        assertEq(oracle.burnPending(), bondBurn + stakeBurn);
        assertEq(oracle.totalBurned(), 0, "nothing sent by the settlements");
        _assertConserved();
        // anyone sends both at once
        uint256 zeroBefore = address(0).balance;
        uint256 held = address(oracle).balance;
        vm.expectEmit(address(oracle));
        emit InferenceOracle.Burned(bondBurn + stakeBurn);
        vm.prank(makeAddr("anyone"));
        assertEq(oracle.burn(), bondBurn + stakeBurn);
        assertEq(address(0).balance - zeroBefore, bondBurn + stakeBurn, "sent to address(0)");
        assertEq(held - address(oracle).balance, bondBurn + stakeBurn);
        assertEq(oracle.totalBurned(), bondBurn + stakeBurn);
        assertEq(oracle.burnPending(), 0);
        _assertConserved();
        vm.expectRevert(InferenceOracle.NothingToBurn.selector);
        oracle.burn();
        // the reopened request is refunded after its fresh deadline, once
        assertEq(r.deadline, oracle.getResult(res).rejectedAt + 1 hours, "a fresh deadline");
        vm.warp(uint256(r.deadline) + 1);
        oracle.refund(id);
        assertEq(uint8(oracle.status(id)), uint8(InferenceOracle.RequestStatus.Refunded));
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestNotOpen.selector, id));
        oracle.refund(id);
        _assertConserved();
    }

    function test_movesAreCheckedForPartyTurnPhaseAndClock() public {
        uint256 id = _request(address(0), 0);
        uint256 res = _post(id, middle);
        vm.prank(challenger);
        uint256 g = game.challenge{value: BOND}(res);
        MoveVector memory first = middle.moves[0];
        vm.prank(challenger);
        vm.expectRevert(DisputeGame.NotYourTurn.selector);
        game.pick(g, first.nodes, 0);
        vm.prank(challenger);
        vm.expectRevert(DisputeGame.NotAParty.selector);
        game.revealNodes(g, first.nodes);
        vm.prank(requester);
        vm.expectRevert(DisputeGame.NotAParty.selector);
        game.revealNodes(g, first.nodes);
        bytes32[] memory bad = new bytes32[](2);
        vm.prank(executor);
        vm.expectRevert(DisputeGame.BadReveal.selector);
        game.revealNodes(g, bad);
        vm.prank(executor);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.WrongPhase.selector, DisputeGame.Phase.Trace));
        game.revealChunk(g, new bytes(256));
        vm.expectRevert(DisputeGame.ClockRunning.selector);
        game.timeout(g);
        vm.warp(vm.getBlockTimestamp() + clock + 1);
        vm.prank(executor);
        vm.expectRevert(DisputeGame.ClockExpired.selector);
        game.revealNodes(g, first.nodes);
        game.timeout(g);
        assertEq(uint8(game.getGame(g).status), uint8(DisputeGame.Status.ChallengerWon));
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.UnknownGame.selector, 999));
        game.timeout(999);
        _assertConserved();
    }

    function test_clocksAreChargedOnlyToTheMover() public {
        uint256 id = _request(address(0), 0);
        uint256 res = _post(id, middle);
        vm.prank(challenger);
        uint256 g = game.challenge{value: BOND}(res);
        vm.warp(vm.getBlockTimestamp() + 100);
        _play(g, middle.moves[0]); // warps 1 more second
        DisputeGame.Game memory s = game.getGame(g);
        assertEq(s.clocks.executorClock, clock - 101);
        assertEq(s.clocks.challengerClock, clock);
        assertEq(uint8(s.turn), uint8(DisputeGame.Side.Challenger));
        assertEq(s.clocks.executorExtension, 0, "no extension with most of a clock left");
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ParameterOutOfRange.selector, "arityLog2", 5, 1, 4));
        new DisputeGame(oracle, verifier, 5, 10);
    }

    // ------------------------------------------------------------ issue 19

    /// A result posted while the oracle has no dispute game could never be
    /// challenged: posting waits until the game is named.
    function test_postBeforeTheDisputeGameIsSetIsRefused() public {
        InferenceOracle bare = new InferenceOracle(registry, oracle.config());
        vm.prank(requester);
        uint256 id = bare.request{value: FEE}(modelId, model.input, address(0), 0);
        Scenario memory s = honest;
        uint32 n = uint32(model.stepCount);
        vm.prank(executor);
        vm.expectRevert(InferenceOracle.DisputeGameNotSet.selector);
        bare.post{value: STAKE}(id, s.output, s.traceRoot, n, s.inputProof, s.outputProof);
        // checked first: whatever else is wrong with the post
        vm.prank(executor);
        vm.expectRevert(InferenceOracle.DisputeGameNotSet.selector);
        bare.post(99, "", bytes32(0), 0, new bytes32[](0), new bytes32[](0));
        bare.setDisputeGame(address(new DisputeGame(bare, verifier, 1, clock)));
        vm.prank(executor);
        uint256 res = bare.post{value: STAKE}(id, s.output, s.traceRoot, n, s.inputProof, s.outputProof);
        assertEq(uint8(bare.resultStatus(res)), uint8(InferenceOracle.ResultStatus.Pending));
    }

    /// @dev A fraud posted on a fresh request, challenged and played out `late`
    ///      seconds after the request's first deadline; returns the request, the
    ///      result and when it was rejected.
    function _rejectLate(uint256 late) internal returns (uint256 id, uint256 res, uint256 rejectedAt) {
        id = _request(address(0), 0);
        uint64 first = oracle.getRequest(id).deadline;
        res = _post(id, wrongOutput);
        vm.warp(uint256(first) + late);
        vm.prank(challenger);
        uint256 g = game.challenge{value: BOND}(res);
        for (uint256 j = 0; j < wrongOutput.moves.length; j++) {
            _play(g, wrongOutput.moves[j]);
        }
        assertEq(uint8(oracle.resultStatus(res)), uint8(InferenceOracle.ResultStatus.Rejected));
        rejectedAt = vm.getBlockTimestamp();
        assertGt(rejectedAt, first, "rejected after the first deadline");
        assertEq(oracle.getResult(res).rejectedAt, rejectedAt);
    }

    /// A rejection reopens the request with a fresh serve deadline: another
    /// executor may post until `rejectedAt + requestTimeout` although the first
    /// deadline has passed, and the fee is not refundable before then.
    function test_aReopenedRequestGetsAFreshDeadline() public {
        (uint256 id,, uint256 rejectedAt) = _rejectLate(10 minutes);
        uint256 fresh = rejectedAt + 1 hours;
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(uint8(r.status), uint8(InferenceOracle.RequestStatus.Open));
        assertEq(r.deadline, fresh, "getRequest shows the fresh deadline");
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestNotExpired.selector, id));
        oracle.refund(id);
        vm.warp(fresh);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestNotExpired.selector, id));
        oracle.refund(id);
        // served at the last second of the fresh deadline
        uint256 snap = vm.snapshotState();
        uint256 res2 = _post(id, honest);
        assertEq(oracle.getRequest(id).resultId, res2);
        vm.warp(vm.getBlockTimestamp() + WINDOW);
        oracle.finalize(res2);
        assertEq(oracle.output(id), honest.output);
        vm.revertToState(snap);
        // one second later: too late to serve, refundable
        vm.warp(fresh + 1);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestExpired.selector, id));
        _post(id, honest);
        oracle.refund(id);
        assertEq(oracle.balanceOf(requester), FEE);
        _assertConserved();
    }

    /// A request rejected twice gets the deadline of its latest rejection.
    function test_aSecondRejectionGivesAnotherFreshDeadline() public {
        (uint256 id,, uint256 firstRejection) = _rejectLate(5 minutes);
        vm.warp(firstRejection + 50 minutes);
        uint256 res2 = _post(id, wrongOutput);
        vm.warp(firstRejection + 2 hours);
        vm.prank(challenger);
        uint256 g = game.challenge{value: BOND}(res2);
        for (uint256 j = 0; j < wrongOutput.moves.length; j++) {
            _play(g, wrongOutput.moves[j]);
        }
        uint256 second = vm.getBlockTimestamp();
        assertEq(oracle.getRequest(id).deadline, second + 1 hours);
        assertEq(uint8(oracle.status(id)), uint8(InferenceOracle.RequestStatus.Open));
        _post(id, honest);
    }
}
