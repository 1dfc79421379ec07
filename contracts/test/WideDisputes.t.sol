// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {console2} from "forge-std/console2.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {OneStepVerifier} from "../src/OneStepVerifier.sol";
import {DisputeGame} from "../src/DisputeGame.sol";
import {ProtocolFixture} from "./Disputes.t.sol";
import {GameKit} from "./utils/GameKit.sol";

/// @notice Every scenario of fixtures/vectors/wide-disputes.json: disputes over wide
///         steps (linear up to K = 131071, 3x3 convs up to 512 channels, argmax over
///         50257, global pools, and models with long reductions at several steps),
///         played by the Rust solvers and refereed by the Rust rules, replayed on the
///         contracts with every move measured as a transaction (GameKit.measure).
///         Each must end as in Rust and fit the budgets: one step (`proveStep` or
///         `proveBlock`) at most 300k tx gas, every other move at most 100k, the
///         whole dispute at most 2M. Prints the table of docs/gas.md.
contract WideDisputesTest is GameKit {
    uint256 internal constant STEP_BUDGET = 300_000;
    uint256 internal constant MOVE_BUDGET = 100_000;
    uint256 internal constant DISPUTE_BUDGET = 2_000_000;

    /// @dev One scenario: its own model, the posted result and the moves.
    struct WideScenario {
        string name;
        string label;
        ProtocolFixture.ModelVector model;
        uint256 arity;
        bytes output;
        bytes32 traceRoot;
        bytes32[] inputProof;
        bytes32[] outputProof;
        bool executorWins;
        ProtocolFixture.MoveVector[] moves;
    }

    string constant MODEL_TYPE =
        "ModelVector(uint256 stepCount,bytes32 specRoot,bytes inputSpec,bytes32[] inputProof,bytes outputSpec,bytes32[] outputProof,bytes input)";
    string constant MOVE_TYPE =
        "MoveVector(uint8 side,string kind,uint256 warp,bytes32[] nodes,uint256 choice,uint8 dtype,uint32[] shape,bytes32 dataRoot,bytes spec,bytes32[] specProof,bytes chunk,uint256 elementInChunk,bytes32[] inputRoots,bytes32[][] inputTraceProofs,ChunkRange[] inputs,ChunkRange[] weights,bytes32 root,bytes32[] lastProof,bytes prevState,bytes32[] prevProof)";
    string constant RANGE_TYPE = "ChunkRange(uint256 first,bytes chunks,bytes32[] proof)";

    function _deployFor(WideScenario memory s, uint64 clockSeconds) internal returns (bytes32 modelId) {
        arity = s.arity;
        registry = new ModelRegistry();
        oracle = new InferenceOracle(
            registry,
            InferenceOracle.Config({
                challengeWindow: WINDOW,
                minStake: 1 ether,
                minBond: 1 ether,
                rewardBps: REWARD_BPS,
                bondBurnBps: BOND_BURN_BPS,
                requestTimeout: 1 hours,
                maxCallbackGas: 500_000
            })
        );
        verifier = new OneStepVerifier();
        game = new DisputeGame(oracle, verifier, uint32(s.arity), clockSeconds);
        oracle.setDisputeGame(address(game));
        vm.deal(requester, 100 ether);
        vm.deal(executor, 100 ether);
        vm.deal(challenger, 100 ether);
        vm.deal(address(0), 1);
        ProtocolFixture.ModelVector memory m = s.model;
        modelId = registry.register(uint32(m.stepCount), m.specRoot, m.inputSpec, m.inputProof, m.outputSpec, m.outputProof, "wide");
    }

    function _operands(ProtocolFixture.MoveVector memory m) internal pure returns (DisputeGame.StepOperands memory) {
        return DisputeGame.StepOperands(m.spec, m.inputRoots, m.inputTraceProofs, m.inputs, m.weights);
    }

    /// @dev The calldata of move `m` of game `id`, and whether it is a one step.
    function _call(uint256 id, ProtocolFixture.MoveVector memory m) internal pure returns (bytes memory data, bool oneStep) {
        bytes32 k = keccak256(bytes(m.kind));
        if (k == keccak256("revealNodes")) {
            data = abi.encodeCall(DisputeGame.revealNodes, (id, m.nodes));
        } else if (k == keccak256("pick")) {
            data = abi.encodeCall(DisputeGame.pick, (id, m.nodes, m.choice));
        } else if (k == keccak256("openHeader")) {
            data = abi.encodeCall(DisputeGame.openHeader, (id, m.dtype, m.shape, m.dataRoot, m.spec, m.specProof));
        } else if (k == keccak256("revealChunk")) {
            data = abi.encodeCall(DisputeGame.revealChunk, (id, m.chunk));
        } else if (k == keccak256("proveStep")) {
            (data, oneStep) = (abi.encodeCall(DisputeGame.proveStep, (id, m.elementInChunk, m.chunk, _operands(m))), true);
        } else if (k == keccak256("nameElement")) {
            data = abi.encodeCall(DisputeGame.nameElement, (id, m.elementInChunk, m.chunk, m.spec));
        } else if (k == keccak256("openCheckpoints")) {
            data = abi.encodeCall(DisputeGame.openCheckpoints, (id, m.root, m.lastProof));
        } else if (k == keccak256("proveBlock")) {
            (data, oneStep) = (abi.encodeCall(DisputeGame.proveBlock, (id, m.prevState, m.prevProof, _operands(m))), true);
        } else if (k == keccak256("timeout")) {
            data = abi.encodeCall(DisputeGame.timeout, (id));
        } else {
            revert(string.concat("unknown move kind ", m.kind));
        }
    }

    function _replay(WideScenario memory s, uint64 clockSeconds) internal {
        bytes32 modelId = _deployFor(s, clockSeconds);
        vm.prank(requester);
        uint256 requestId = oracle.request{value: FEE}(modelId, s.model.input, address(0), 0);
        vm.prank(executor);
        uint256 resultId = oracle.post{value: STAKE}(requestId, s.output, s.traceRoot, uint32(s.model.stepCount), s.inputProof, s.outputProof);
        uint256 id = challengeAs(challenger, resultId);
        _resetPlayed();
        for (uint256 j = 0; j < s.moves.length; j++) {
            ProtocolFixture.MoveVector memory m = s.moves[j];
            vm.warp(vm.getBlockTimestamp() + m.warp);
            (bytes memory data, bool oneStep) = _call(id, m);
            _move(m.side == 0 ? executor : challenger, data, m.kind, oneStep);
        }
        DisputeGame.Game memory g = game.getGame(id);
        assertEq(uint8(g.phase), uint8(DisputeGame.Phase.Resolved), s.name);
        DisputeGame.Status want = s.executorWins ? DisputeGame.Status.ExecutorWon : DisputeGame.Status.ChallengerWon;
        assertEq(uint8(g.status), uint8(want), s.name);
        assertConserved();
        console2.log(
            string.concat(
                "| ",
                s.name,
                " | ",
                s.label,
                " | ",
                vm.toString(uint256(1) << s.arity),
                " | ",
                s.executorWins ? "executor" : "challenger",
                " | ",
                played.oneStep == 0 ? "-" : string.concat(played.oneStepKind, " ", vm.toString(played.oneStep)),
                " | ",
                vm.toString(played.maxOther),
                " (",
                played.maxOtherKind,
                ") | ",
                vm.toString(played.moves),
                " | ",
                vm.toString(played.txGas),
                " |"
            )
        );
        if (played.oneStep > STEP_BUDGET) overruns.push(string.concat(s.name, ": one step ", vm.toString(played.oneStep)));
        if (played.maxOther > MOVE_BUDGET) {
            overruns.push(string.concat(s.name, ": ", played.maxOtherKind, " ", vm.toString(played.maxOther)));
        }
        if (played.txGas > DISPUTE_BUDGET) overruns.push(string.concat(s.name, ": whole dispute ", vm.toString(played.txGas)));
    }

    /// @dev Every budget a scenario exceeded (the table is printed whole first).
    string[] internal overruns;

    function test_everyWideDisputeEndsAsInRustWithinTheBudgets() public {
        string memory json = vm.readFile("../fixtures/vectors/wide-disputes.json");
        uint64 clockSeconds = uint64(vm.parseJsonUint(json, ".clockSeconds"));
        WideScenario[] memory all = abi.decode(
            vm.parseJsonTypeArray(
                json,
                ".scenarios",
                string.concat(
                    "WideScenario(string name,string label,ModelVector model,uint256 arity,bytes output,bytes32 traceRoot,bytes32[] inputProof,bytes32[] outputProof,bool executorWins,MoveVector[] moves)",
                    RANGE_TYPE,
                    MODEL_TYPE,
                    MOVE_TYPE
                )
            ),
            (WideScenario[])
        );
        assertGt(all.length, 12);
        console2.log("| scenario | op and shapes | arity | winner | one step | largest other move | moves | whole dispute |");
        console2.log("|---|---|---:|---|---:|---:|---:|---:|");
        bool[4] memory kinds; // a proveStep, a proveBlock, an executor win, a challenger win
        for (uint256 i = 0; i < all.length; i++) {
            _replay(all[i], clockSeconds);
            if (keccak256(bytes(played.oneStepKind)) == keccak256("proveStep")) kinds[0] = true;
            if (keccak256(bytes(played.oneStepKind)) == keccak256("proveBlock")) kinds[1] = true;
            kinds[all[i].executorWins ? 2 : 3] = true;
        }
        for (uint256 k = 0; k < 4; k++) {
            assertTrue(kinds[k], "every kind of ending is replayed");
        }
        for (uint256 k = 0; k < overruns.length; k++) {
            console2.log(string.concat("over budget: ", overruns[k]));
        }
        assertEq(overruns.length, 0, "every move within its budget");
    }
}
