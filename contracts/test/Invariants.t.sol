// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {ProtocolFixture} from "./Disputes.t.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {DisputeGame} from "../src/DisputeGame.sol";

/// @notice Drives the protocol with random sequences of requests, honest and
///         fraudulent posts, challenges, moves, warps, timeouts, finalizations,
///         refunds and withdrawals.
contract Handler is Test {
    ProtocolFixture.Scenario internal honestGame; // honest result, griefing challenger
    ProtocolFixture.Scenario internal fraudGame; // fraudulent result, honest challenger
    InferenceOracle public oracle;
    DisputeGame public game;
    bytes32 modelId;
    bytes input;
    uint32 steps;

    address[] public actors;
    uint256[] public requestIds;
    uint256[] public resultIds;
    uint256[] public gameIds;
    mapping(uint256 => bool) public resultIsFraud;
    mapping(uint256 => uint256) public nextMove;
    mapping(uint256 => uint256) public openedAt;

    constructor(
        InferenceOracle oracle_,
        DisputeGame game_,
        bytes32 modelId_,
        bytes memory input_,
        uint32 steps_,
        ProtocolFixture.Scenario memory honest_,
        ProtocolFixture.Scenario memory fraud_
    ) {
        oracle = oracle_;
        game = game_;
        modelId = modelId_;
        input = input_;
        steps = steps_;
        _copy(honestGame, honest_);
        _copy(fraudGame, fraud_);
        for (uint256 i = 0; i < 4; i++) {
            address a = makeAddr(string.concat("actor", vm.toString(i)));
            actors.push(a);
            vm.deal(a, 1_000 ether);
        }
    }

    function _copy(ProtocolFixture.Scenario storage dst, ProtocolFixture.Scenario memory src) private {
        dst.output = src.output;
        dst.traceRoot = src.traceRoot;
        dst.inputProof = src.inputProof;
        dst.outputProof = src.outputProof;
        for (uint256 i = 0; i < src.moves.length; i++) {
            ProtocolFixture.MoveVector storage m = dst.moves.push();
            m.side = src.moves[i].side;
            m.kind = src.moves[i].kind;
            m.nodes = src.moves[i].nodes;
            m.choice = src.moves[i].choice;
            m.dtype = src.moves[i].dtype;
            m.shape = src.moves[i].shape;
            m.dataRoot = src.moves[i].dataRoot;
            m.spec = src.moves[i].spec;
            m.specProof = src.moves[i].specProof;
            m.chunk = src.moves[i].chunk;
            m.elementInChunk = src.moves[i].elementInChunk;
            m.inputRoots = src.moves[i].inputRoots;
            for (uint256 j = 0; j < src.moves[i].inputTraceProofs.length; j++) {
                m.inputTraceProofs.push(src.moves[i].inputTraceProofs[j]);
            }
            for (uint256 j = 0; j < src.moves[i].inputs.length; j++) {
                m.inputs.push(src.moves[i].inputs[j]);
            }
            for (uint256 j = 0; j < src.moves[i].weights.length; j++) {
                m.weights.push(src.moves[i].weights[j]);
            }
            m.root = src.moves[i].root;
            m.lastProof = src.moves[i].lastProof;
            m.prevState = src.moves[i].prevState;
            m.prevProof = src.moves[i].prevProof;
        }
    }

    function _actor(uint256 seed) private view returns (address) {
        return actors[seed % actors.length];
    }

    function requestInference(uint256 actorSeed, uint256 fee) external {
        fee = bound(fee, 0, 5 ether);
        vm.prank(_actor(actorSeed));
        requestIds.push(oracle.request{value: fee}(modelId, input, address(0), 0));
    }

    function post(uint256 actorSeed, uint256 requestSeed, bool fraud, uint256 stake) external {
        if (requestIds.length == 0) return;
        uint256 id = requestIds[requestSeed % requestIds.length];
        InferenceOracle.Request memory r = oracle.getRequest(id);
        if (r.status != InferenceOracle.RequestStatus.Open || block.timestamp > r.deadline) return;
        stake = bound(stake, oracle.minStake(), 20 ether);
        ProtocolFixture.Scenario storage s = fraud ? fraudGame : honestGame;
        vm.prank(_actor(actorSeed));
        uint256 res = oracle.post{value: stake}(id, s.output, s.traceRoot, steps, s.inputProof, s.outputProof);
        resultIds.push(res);
        resultIsFraud[res] = fraud;
    }

    function challenge(uint256 actorSeed, uint256 resultSeed, uint256 bond) external {
        if (resultIds.length == 0) return;
        uint256 res = resultIds[resultSeed % resultIds.length];
        InferenceOracle.InferenceResult memory r = oracle.getResult(res);
        if (r.status != InferenceOracle.ResultStatus.Pending || block.timestamp >= r.windowEnd) return;
        address who = _actor(actorSeed);
        if (who == r.executor) return;
        bond = bound(bond, oracle.minBond(), 5 ether);
        vm.prank(who);
        uint256 id = game.challenge{value: bond}(res);
        gameIds.push(id);
        openedAt[id] = block.timestamp;
    }

    /// Plays the next recorded move of a game (fraudulent results face the honest
    /// challenger's moves; honest ones a griefer's).
    function move(uint256 gameSeed) external {
        if (gameIds.length == 0) return;
        uint256 g = gameIds[gameSeed % gameIds.length];
        DisputeGame.Game memory s = game.getGame(g);
        if (s.status != DisputeGame.Status.Open) return;
        ProtocolFixture.MoveVector storage m = (resultIsFraud[s.resultId] ? fraudGame : honestGame).moves[nextMove[g]];
        uint64 clock = m.side == 0 ? s.clocks.executorClock : s.clocks.challengerClock;
        if (block.timestamp - s.clocks.lastMoveAt > clock) return;
        if (keccak256(bytes(m.kind)) == keccak256("timeout")) return;
        vm.startPrank(m.side == 0 ? s.executor : s.challenger);
        bytes32 k = keccak256(bytes(m.kind));
        if (k == keccak256("revealNodes")) game.revealNodes(g, m.nodes);
        else if (k == keccak256("pick")) game.pick(g, m.nodes, m.choice);
        else if (k == keccak256("openHeader")) game.openHeader(g, m.dtype, m.shape, m.dataRoot, m.spec, m.specProof);
        else if (k == keccak256("revealChunk")) game.revealChunk(g, m.chunk);
        else if (k == keccak256("nameElement")) game.nameElement(g, m.elementInChunk, m.chunk, m.spec);
        else if (k == keccak256("openCheckpoints")) game.openCheckpoints(g, m.root, m.lastProof);
        else if (k == keccak256("proveBlock")) game.proveBlock(g, m.prevState, m.prevProof, _operands(m));
        else game.proveStep(g, m.elementInChunk, m.chunk, _operands(m));
        vm.stopPrank();
        nextMove[g]++;
    }

    function _operands(ProtocolFixture.MoveVector storage m) private view returns (DisputeGame.StepOperands memory) {
        return DisputeGame.StepOperands(m.spec, m.inputRoots, m.inputTraceProofs, m.inputs, m.weights);
    }

    function warp(uint256 seconds_) external {
        vm.warp(vm.getBlockTimestamp() + bound(seconds_, 1, 2 days));
    }

    function timeout(uint256 gameSeed) external {
        if (gameIds.length == 0) return;
        uint256 g = gameIds[gameSeed % gameIds.length];
        DisputeGame.Game memory s = game.getGame(g);
        if (s.status != DisputeGame.Status.Open) return;
        uint64 clock = s.turn == DisputeGame.Side.Executor ? s.clocks.executorClock : s.clocks.challengerClock;
        if (block.timestamp - s.clocks.lastMoveAt <= clock) return;
        game.timeout(g);
    }

    function settleMoot(uint256 gameSeed) external {
        if (gameIds.length == 0) return;
        uint256 g = gameIds[gameSeed % gameIds.length];
        DisputeGame.Game memory s = game.getGame(g);
        if (s.status != DisputeGame.Status.Open) return;
        if (oracle.resultStatus(s.resultId) != InferenceOracle.ResultStatus.Rejected) return;
        game.settleMoot(g);
    }

    function finalize(uint256 resultSeed) external {
        if (resultIds.length == 0) return;
        uint256 res = resultIds[resultSeed % resultIds.length];
        InferenceOracle.InferenceResult memory r = oracle.getResult(res);
        if (r.status != InferenceOracle.ResultStatus.Pending || block.timestamp < r.windowEnd || r.openGames != 0) return;
        oracle.finalize(res);
    }

    function refund(uint256 requestSeed) external {
        if (requestIds.length == 0) return;
        uint256 id = requestIds[requestSeed % requestIds.length];
        InferenceOracle.Request memory r = oracle.getRequest(id);
        if (r.status != InferenceOracle.RequestStatus.Open || block.timestamp <= r.deadline) return;
        oracle.refund(id);
    }

    /// Anyone sends what settlements set aside to be burned.
    function burn(uint256 actorSeed) external {
        if (oracle.burnPending() == 0) return;
        uint256 pending = oracle.burnPending();
        uint256 burned = oracle.totalBurned();
        vm.prank(_actor(actorSeed));
        assertEq(oracle.burn(), pending);
        assertEq(oracle.totalBurned(), burned + pending);
    }

    function withdraw(uint256 actorSeed) external {
        address a = _actor(actorSeed);
        if (oracle.balanceOf(a) == 0) return;
        vm.prank(a);
        oracle.withdraw();
    }

    function requestCount() external view returns (uint256) {
        return requestIds.length;
    }

    function resultCount() external view returns (uint256) {
        return resultIds.length;
    }

    function gameCount() external view returns (uint256) {
        return gameIds.length;
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }
}

/// @notice Properties that hold after any sequence of protocol actions.
contract InvariantsTest is ProtocolFixture {
    Handler handler;

    function setUp() public {
        _loadVectors();
        _deploy(1);
        Scenario[] memory all = _scenarios();
        Scenario memory honest;
        Scenario memory fraud;
        for (uint256 i = 0; i < all.length; i++) {
            bytes32 n = keccak256(bytes(all[i].name));
            if (n == keccak256("griefer-loses-arity1")) honest = all[i];
            if (n == keccak256("wrong-middle-step-arity1")) fraud = all[i];
        }
        handler = new Handler(oracle, game, modelId, model.input, uint32(model.stepCount), honest, fraud);
        targetContract(address(handler));
    }

    /// Every wei that came in was withdrawn, burned, or is still in the oracle.
    function invariant_ethIsConserved() public view {
        _assertConserved();
    }

    /// The oracle holds exactly what it owes: credited balances plus what open work
    /// holds (fees of unserved or pending requests, stakes of pending results,
    /// bonds of open games, and for each game still open on a rejected result its
    /// share of the reward) plus what settlements set aside to be burned: every
    /// wei in is credited, burned or held.
    function invariant_theOracleIsSolvent() public view {
        uint256 held;
        for (uint256 i = 0; i < handler.requestCount(); i++) {
            InferenceOracle.Request memory r = oracle.getRequest(handler.requestIds(i));
            if (r.status == InferenceOracle.RequestStatus.Open || r.status == InferenceOracle.RequestStatus.Posted) held += r.fee;
        }
        for (uint256 i = 0; i < handler.resultCount(); i++) {
            InferenceOracle.InferenceResult memory r = oracle.getResult(handler.resultIds(i));
            if (r.status == InferenceOracle.ResultStatus.Pending) held += r.stake;
        }
        for (uint256 i = 0; i < handler.gameCount(); i++) {
            DisputeGame.Game memory g = game.getGame(handler.gameIds(i));
            if (g.status != DisputeGame.Status.Open) continue;
            held += g.bond;
            InferenceOracle.InferenceResult memory r = oracle.getResult(g.resultId);
            if (r.status == InferenceOracle.ResultStatus.Rejected) held += r.share;
        }
        uint256 credited;
        for (uint256 i = 0; i < handler.actorCount(); i++) {
            credited += oracle.balanceOf(handler.actors(i));
        }
        assertEq(address(oracle).balance, held + credited + oracle.burnPending());
    }

    /// Clocks and extensions stay within `clockSeconds`, and a game open more than
    /// 4 · clockSeconds can be ended by a timeout: every game ends within 4 clocks.
    function invariant_everyGameEndsWithinFourClocks() public view {
        uint256 c = game.clockSeconds();
        for (uint256 i = 0; i < handler.gameCount(); i++) {
            uint256 id = handler.gameIds(i);
            DisputeGame.Game memory g = game.getGame(id);
            if (g.status != DisputeGame.Status.Open) continue;
            assertLe(g.clocks.executorClock, c);
            assertLe(g.clocks.challengerClock, c);
            assertLe(g.clocks.executorExtension, c, "extensions within clockSeconds");
            assertLe(g.clocks.challengerExtension, c, "extensions within clockSeconds");
            uint256 left = g.turn == DisputeGame.Side.Executor ? g.clocks.executorClock : g.clocks.challengerClock;
            if (block.timestamp > handler.openedAt(id) + 4 * c) assertGt(block.timestamp - g.clocks.lastMoveAt, left, "past 4 clocks: timed out");
        }
    }

    /// A result with an open game is never final, and a fraudulent one never is.
    function invariant_noFinalResultHasAnOpenGameOrIsFraudulent() public view {
        for (uint256 i = 0; i < handler.gameCount(); i++) {
            DisputeGame.Game memory g = game.getGame(handler.gameIds(i));
            if (g.status == DisputeGame.Status.Open) {
                assertTrue(oracle.resultStatus(g.resultId) != InferenceOracle.ResultStatus.Finalized, "open game, final result");
            }
        }
        for (uint256 i = 0; i < handler.resultCount(); i++) {
            uint256 res = handler.resultIds(i);
            if (handler.resultIsFraud(res) && game.gamesOf(res).length > 0) {
                // a fraudulent result that was challenged by the honest solver never finalizes
                bool honestGameWasPlayed;
                uint256[] memory gs = game.gamesOf(res);
                for (uint256 j = 0; j < gs.length; j++) {
                    if (game.getGame(gs[j]).status == DisputeGame.Status.ChallengerWon) honestGameWasPlayed = true;
                }
                if (honestGameWasPlayed) {
                    assertEq(uint8(oracle.resultStatus(res)), uint8(InferenceOracle.ResultStatus.Rejected));
                }
            }
        }
    }

    /// Every game ends: once both clocks can have run out, timeouts end all games,
    /// every result settles, and everything held becomes withdrawable.
    function afterInvariant() external {
        vm.warp(vm.getBlockTimestamp() + 2 * uint256(clock) + 2);
        for (uint256 round = 0; round < 2; round++) {
            for (uint256 i = 0; i < handler.gameCount(); i++) {
                uint256 id = handler.gameIds(i);
                DisputeGame.Game memory g = game.getGame(id);
                if (g.status != DisputeGame.Status.Open) continue;
                if (oracle.resultStatus(g.resultId) == InferenceOracle.ResultStatus.Rejected) game.settleMoot(id);
                else game.timeout(id);
            }
        }
        vm.warp(vm.getBlockTimestamp() + WINDOW);
        for (uint256 i = 0; i < handler.gameCount(); i++) {
            assertTrue(game.getGame(handler.gameIds(i)).status != DisputeGame.Status.Open, "every game ended");
        }
        for (uint256 i = 0; i < handler.resultCount(); i++) {
            uint256 res = handler.resultIds(i);
            if (oracle.resultStatus(res) == InferenceOracle.ResultStatus.Pending) oracle.finalize(res);
        }
        for (uint256 i = 0; i < handler.requestCount(); i++) {
            uint256 id = handler.requestIds(i);
            if (oracle.status(id) == InferenceOracle.RequestStatus.Open) oracle.refund(id);
        }
        // what waits to be burned is sent, all of it
        uint256 pending = oracle.burnPending();
        uint256 burned = oracle.totalBurned();
        if (pending != 0) oracle.burn();
        assertEq(oracle.totalBurned(), burned + pending);
        assertEq(oracle.burnPending(), 0);
        uint256 credited;
        for (uint256 i = 0; i < handler.actorCount(); i++) {
            credited += oracle.balanceOf(handler.actors(i));
        }
        assertEq(address(oracle).balance, credited, "everything is withdrawable");
        _assertConserved();
    }
}
