// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./Disputes.t.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {DigitConsumer} from "../src/examples/DigitConsumer.sol";

/// @notice The example integrator: answers only from the oracle and only for its
///         own requests, never overwritten; a refunded fee goes back to its owner
///         (it used to be locked in the oracle for ever); ether only from the oracle.
contract DigitConsumerTest is ProtocolFixture {
    Scenario honest;
    Scenario fraud;
    DigitConsumer consumer;
    address owner = makeAddr("owner");
    address user = makeAddr("user");

    function setUp() public {
        _loadVectors();
        Scenario[] memory all = _scenarios();
        for (uint256 i = 0; i < all.length; i++) {
            bytes32 n = keccak256(bytes(all[i].name));
            if (n == keccak256("griefer-loses-arity1")) honest = all[i];
            if (n == keccak256("wrong-output-arity1")) fraud = all[i];
        }
        _deploy(1);
        vm.prank(owner);
        consumer = new DigitConsumer(oracle, modelId);
        vm.deal(user, 10 ether);
    }

    function _ask() internal returns (uint256 id) {
        vm.prank(user);
        id = consumer.ask{value: FEE}(model.input);
        assertTrue(consumer.asked(id));
    }

    function _post(uint256 id, Scenario memory s) internal returns (uint256) {
        vm.prank(executor);
        return oracle.post{value: STAKE}(id, s.output, s.traceRoot, uint32(model.stepCount), s.inputProof, s.outputProof);
    }

    function test_theOwnerIsTheDeployer() public view {
        assertEq(consumer.owner(), owner);
        assertEq(address(consumer.oracle()), address(oracle));
        assertEq(consumer.modelId(), modelId);
    }

    /// The final answer of its own request arrives once, from the oracle.
    function test_aFinalAnswerOfItsOwnRequestIsKept() public {
        uint256 id = _ask();
        uint256 res = _post(id, honest);
        vm.warp(vm.getBlockTimestamp() + WINDOW);
        vm.expectEmit(address(oracle));
        emit InferenceOracle.CallbackResult(id, address(consumer), true);
        oracle.finalize(res);
        assertTrue(consumer.answered(id));
        assertEq(consumer.answers(id), honest.output);
        assertEq(consumer.callbacks(), 1);
        // never overwritten, even by the oracle
        vm.prank(address(oracle));
        consumer.onInferenceFinal(id, modelId, hex"deadbeef");
        assertEq(consumer.answers(id), honest.output);
        assertEq(consumer.callbacks(), 1);
    }

    /// Callbacks from anyone but the oracle, and for requests it never made (a
    /// requester may name any contract as its callback), are refused.
    function test_callbacksFromOthersOrForOthersRequestsAreRefused() public {
        uint256 id = _ask();
        vm.prank(user);
        vm.expectRevert(DigitConsumer.OnlyOracle.selector);
        consumer.onInferenceFinal(id, modelId, hex"00000001");
        vm.prank(address(oracle));
        vm.expectRevert(abi.encodeWithSelector(DigitConsumer.UnknownRequest.selector, 77));
        consumer.onInferenceFinal(77, modelId, hex"00000001");
        // someone else's request naming the consumer: the callback fails, nothing stored
        vm.prank(user);
        uint256 other = oracle.request{value: FEE}(modelId, model.input, address(consumer), 200_000);
        uint256 res = _post(other, honest);
        vm.warp(vm.getBlockTimestamp() + WINDOW);
        vm.expectEmit(address(oracle));
        emit InferenceOracle.CallbackResult(other, address(consumer), false);
        oracle.finalize(res);
        assertFalse(consumer.answered(other));
        assertEq(consumer.callbacks(), 0);
    }

    /// An unserved request's fee goes back to the owner, and only the owner.
    function test_theOwnerReclaimsTheFeeOfAnUnservedRequest() public {
        uint256 id = _ask();
        vm.expectRevert(DigitConsumer.NotOwner.selector);
        vm.prank(user);
        consumer.reclaim(id);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestNotExpired.selector, id));
        consumer.reclaim(id);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(DigitConsumer.UnknownRequest.selector, 99));
        consumer.reclaim(99);
        vm.warp(uint256(oracle.getRequest(id).deadline) + 1);
        vm.expectEmit(address(consumer));
        emit DigitConsumer.Reclaimed(id, FEE);
        vm.prank(owner);
        consumer.reclaim(id);
        assertEq(owner.balance, FEE);
        assertEq(address(consumer).balance, 0);
        assertEq(oracle.balanceOf(address(consumer)), 0);
        assertEq(uint8(oracle.status(id)), uint8(InferenceOracle.RequestStatus.Refunded));
        _assertConserved();
    }

    /// Anyone may refund the request at the oracle first: the owner still gets the
    /// fee, through the consumer's balance there.
    function test_aFeeRefundedByAnyoneIsStillReclaimed() public {
        uint256 id = _ask();
        vm.warp(uint256(oracle.getRequest(id).deadline) + 1);
        oracle.refund(id);
        assertEq(oracle.balanceOf(address(consumer)), FEE);
        vm.prank(owner);
        consumer.reclaim(id);
        assertEq(owner.balance, FEE);
        // nothing left: a second reclaim sends nothing
        vm.expectEmit(address(consumer));
        emit DigitConsumer.Reclaimed(id, 0);
        vm.prank(owner);
        consumer.reclaim(id);
        assertEq(owner.balance, FEE);
    }

    /// A request reopened by a rejection is reclaimed only after its fresh
    /// deadline, so that another executor can still serve it.
    function test_aReopenedRequestIsReclaimedAfterItsFreshDeadline() public {
        uint256 id = _ask();
        uint256 res = _post(id, fraud);
        vm.prank(challenger);
        uint256 g = game.challenge{value: BOND}(res);
        for (uint256 j = 0; j < fraud.moves.length; j++) {
            _play(g, fraud.moves[j]);
        }
        uint256 fresh = oracle.getResult(res).rejectedAt + 1 hours;
        assertEq(oracle.getRequest(id).deadline, fresh);
        vm.warp(fresh);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestNotExpired.selector, id));
        consumer.reclaim(id);
        vm.warp(fresh + 1);
        vm.prank(owner);
        consumer.reclaim(id);
        assertEq(owner.balance, FEE);
    }

    /// Ether from anyone but the oracle is refused: it could never be taken out.
    function test_etherOnlyFromTheOracle() public {
        vm.prank(user);
        (bool ok,) = address(consumer).call{value: 1 ether}("");
        assertFalse(ok);
        assertEq(address(consumer).balance, 0);
        vm.deal(address(oracle), address(oracle).balance + 1);
        vm.prank(address(oracle));
        (ok,) = address(consumer).call{value: 1}("");
        assertTrue(ok);
    }
}
