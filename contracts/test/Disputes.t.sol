// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {ChunkRange} from "../src/lib/ChunkRange.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {OneStepVerifier} from "../src/OneStepVerifier.sol";
import {DisputeGame} from "../src/DisputeGame.sol";

/// @notice Deploys the protocol and registers the hand-built every-op model of
///         fixtures/vectors/disputes.json; shared by the dispute tests.
abstract contract ProtocolFixture is Test {
    struct ModelVector {
        uint256 stepCount;
        bytes32 specRoot;
        bytes inputSpec;
        bytes32[] inputProof;
        bytes outputSpec;
        bytes32[] outputProof;
        bytes input;
    }

    struct MoveVector {
        uint8 side;
        string kind;
        uint256 warp;
        bytes32[] nodes;
        uint256 choice;
        uint8 dtype;
        uint32[] shape;
        bytes32 dataRoot;
        bytes spec;
        bytes32[] specProof;
        bytes chunk;
        uint256 elementInChunk;
        bytes32[] inputRoots;
        bytes32[][] inputTraceProofs;
        ChunkRange[] inputs;
        ChunkRange[] weights;
        bytes32 root;
        bytes32[] lastProof;
        bytes prevState;
        bytes32[] prevProof;
    }

    struct Scenario {
        string name;
        uint256 arity;
        bytes output;
        bytes32 traceRoot;
        bytes32[] inputProof;
        bytes32[] outputProof;
        bool executorWins;
        MoveVector[] moves;
    }

    string constant MOVE_TYPE =
        "MoveVector(uint8 side,string kind,uint256 warp,bytes32[] nodes,uint256 choice,uint8 dtype,uint32[] shape,bytes32 dataRoot,bytes spec,bytes32[] specProof,bytes chunk,uint256 elementInChunk,bytes32[] inputRoots,bytes32[][] inputTraceProofs,ChunkRange[] inputs,ChunkRange[] weights,bytes32 root,bytes32[] lastProof,bytes prevState,bytes32[] prevProof)";
    string constant RANGE_TYPE = "ChunkRange(uint256 first,bytes chunks,bytes32[] proof)";

    uint64 constant WINDOW = 1 days;
    uint256 constant FEE = 1 ether;
    uint256 constant STAKE = 10 ether;
    uint256 constant BOND = 2 ether;
    uint256 constant MIN_BOND = 1 ether;
    uint16 constant REWARD_BPS = 5000;
    uint16 constant BOND_BURN_BPS = 2000;

    address requester = makeAddr("requester");
    address executor = makeAddr("executor");
    address challenger = makeAddr("challenger");

    ModelRegistry registry;
    InferenceOracle oracle;
    OneStepVerifier verifier;
    DisputeGame game;
    ModelVector model;
    bytes32 modelId;
    uint64 clock;
    string json;

    function _loadVectors() internal {
        json = vm.readFile("../fixtures/vectors/disputes.json");
        model = abi.decode(
            vm.parseJsonType(
                json,
                ".model",
                "ModelVector(uint256 stepCount,bytes32 specRoot,bytes inputSpec,bytes32[] inputProof,bytes outputSpec,bytes32[] outputProof,bytes input)"
            ),
            (ModelVector)
        );
        clock = uint64(vm.parseJsonUint(json, ".clockSeconds"));
    }

    function _scenarios() internal view returns (Scenario[] memory) {
        return abi.decode(
            vm.parseJsonTypeArray(
                json,
                ".scenarios",
                string.concat(
                    "Scenario(string name,uint256 arity,bytes output,bytes32 traceRoot,bytes32[] inputProof,bytes32[] outputProof,bool executorWins,MoveVector[] moves)",
                    RANGE_TYPE,
                    MOVE_TYPE
                )
            ),
            (Scenario[])
        );
    }

    /// @dev The fixture's parameters.
    function _config() internal pure returns (InferenceOracle.Config memory) {
        return InferenceOracle.Config({
            challengeWindow: WINDOW,
            minStake: 1 ether,
            minBond: MIN_BOND,
            rewardBps: REWARD_BPS,
            bondBurnBps: BOND_BURN_BPS,
            requestTimeout: 1 hours,
            maxCallbackGas: 500_000
        });
    }

    function _deploy(uint32 arity) internal {
        _deployWith(arity, _config());
    }

    /// @dev Deploys the protocol with the oracle's parameters `cfg` and registers
    ///      the fixture model.
    function _deployWith(uint32 arity, InferenceOracle.Config memory cfg) internal {
        registry = new ModelRegistry();
        oracle = new InferenceOracle(registry, cfg);
        verifier = new OneStepVerifier();
        game = new DisputeGame(oracle, verifier, arity, clock);
        oracle.setDisputeGame(address(game));
        modelId = registry.register(
            uint32(model.stepCount), model.specRoot, model.inputSpec, model.inputProof, model.outputSpec, model.outputProof, "fixture"
        );
        vm.deal(requester, 100 ether);
        vm.deal(executor, 100 ether);
        vm.deal(challenger, 100 ether);
    }

    /// @dev Request, post `s`'s result, and open a game on it.
    function _open(Scenario memory s) internal returns (uint256 requestId, uint256 resultId, uint256 gameId) {
        vm.prank(requester);
        requestId = oracle.request{value: FEE}(modelId, model.input, address(0), 0);
        vm.prank(executor);
        resultId = oracle.post{value: STAKE}(requestId, s.output, s.traceRoot, uint32(model.stepCount), s.inputProof, s.outputProof);
        vm.prank(challenger);
        gameId = game.challenge{value: BOND}(resultId);
    }

    function _play(uint256 gameId, MoveVector memory m) internal {
        vm.warp(vm.getBlockTimestamp() + m.warp);
        vm.prank(m.side == 0 ? executor : challenger);
        bytes32 k = keccak256(bytes(m.kind));
        if (k == keccak256("revealNodes")) game.revealNodes(gameId, m.nodes);
        else if (k == keccak256("pick")) game.pick(gameId, m.nodes, m.choice);
        else if (k == keccak256("openHeader")) game.openHeader(gameId, m.dtype, m.shape, m.dataRoot, m.spec, m.specProof);
        else if (k == keccak256("revealChunk")) game.revealChunk(gameId, m.chunk);
        else if (k == keccak256("proveStep")) game.proveStep(gameId, m.elementInChunk, m.chunk, _operands(m));
        else if (k == keccak256("nameElement")) game.nameElement(gameId, m.elementInChunk, m.chunk, m.spec);
        else if (k == keccak256("openCheckpoints")) game.openCheckpoints(gameId, m.root, m.lastProof);
        else if (k == keccak256("proveBlock")) game.proveBlock(gameId, m.prevState, m.prevProof, _operands(m));
        else if (k == keccak256("timeout")) game.timeout(gameId);
        else revert("unknown move kind");
    }

    /// @dev The operands of a one-step move.
    function _operands(MoveVector memory m) internal pure returns (DisputeGame.StepOperands memory) {
        return DisputeGame.StepOperands(m.spec, m.inputRoots, m.inputTraceProofs, m.inputs, m.weights);
    }

    /// @dev Every wei that came in was withdrawn, sent to address(0) or is still in
    ///      the oracle, which holds at least what waits to be burned.
    function _assertConserved() internal view {
        assertEq(oracle.totalIn(), oracle.totalOut() + oracle.totalBurned() + address(oracle).balance, "ETH conserved");
        assertGe(address(oracle).balance, oracle.burnPending(), "pending burns are held");
    }

    /// @dev Asserts that exactly `pending` wei wait to be burned on top of `sent`
    ///      already burned, then burns them: `burn()` sends exactly that to
    ///      address(0) and counts it in `totalBurned`.
    function _assertBurns(uint256 sent, uint256 pending) internal {
        assertEq(oracle.burnPending(), pending, "wei set aside to be burned");
        assertEq(oracle.totalBurned(), sent, "burned before");
        uint256 zeroBefore = address(0).balance;
        vm.expectEmit(address(oracle));
        emit InferenceOracle.Burned(pending);
        assertEq(oracle.burn(), pending, "burn() sends what was pending");
        assertEq(address(0).balance - zeroBefore, pending, "sent to address(0)");
        assertEq(oracle.totalBurned(), sent + pending, "and counted as burned");
        assertEq(oracle.burnPending(), 0);
        _assertConserved();
    }
}

/// @notice Every scenario of fixtures/vectors/disputes.json, played by the Rust
///         solvers and refereed by the Rust rules, replayed on the contracts: same
///         moves accepted, same outcome, and the payouts that follow from it.
contract DisputesTest is ProtocolFixture {
    function setUp() public {
        _loadVectors();
    }

    function test_everyScenarioEndsAsInRust() public {
        Scenario[] memory all = _scenarios();
        assertGt(all.length, 10);
        for (uint256 i = 0; i < all.length; i++) {
            _replay(all[i]);
        }
    }

    function _replay(Scenario memory s) internal {
        _deploy(uint32(s.arity));
        (uint256 requestId, uint256 resultId, uint256 gameId) = _open(s);
        for (uint256 j = 0; j < s.moves.length; j++) {
            _play(gameId, s.moves[j]);
        }
        DisputeGame.Game memory g = game.getGame(gameId);
        assertEq(uint8(g.phase), uint8(DisputeGame.Phase.Resolved), s.name);
        DisputeGame.Status want = s.executorWins ? DisputeGame.Status.ExecutorWon : DisputeGame.Status.ChallengerWon;
        assertEq(uint8(g.status), uint8(want), s.name);
        if (s.executorWins) {
            uint256 burned = BOND * BOND_BURN_BPS / 10_000;
            assertEq(oracle.balanceOf(executor), BOND - burned, s.name);
            _assertBurns(0, burned);
            // the result finalizes after its window; the executor gets stake and fee
            vm.warp(uint256(oracle.getResult(resultId).windowEnd));
            oracle.finalize(resultId);
            assertEq(oracle.balanceOf(executor), BOND - burned + STAKE + FEE);
            assertEq(oracle.output(requestId), s.output);
        } else {
            uint256 reward = STAKE * REWARD_BPS / 10_000;
            assertEq(oracle.balanceOf(challenger), BOND + reward, s.name);
            _assertBurns(0, STAKE - reward);
            assertEq(uint8(oracle.status(requestId)), uint8(InferenceOracle.RequestStatus.Open), "the request reopens");
            vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotFinal.selector, requestId));
            oracle.output(requestId);
        }
        _assertConserved();
    }
}
