// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {TensorOpening} from "../../src/lib/TensorOpening.sol";
import {ModelRegistry} from "../../src/ModelRegistry.sol";
import {InferenceOracle} from "../../src/InferenceOracle.sol";
import {OneStepVerifier} from "../../src/OneStepVerifier.sol";
import {DisputeGame} from "../../src/DisputeGame.sol";
import {Kit, Ty, StepDef, Committed, ModelDef, TraceDef} from "./Kit.sol";
import {Ref} from "./Ref.sol";

/// @notice The arguments of one `proveStep`.
struct StepProof {
    uint256 elementInChunk;
    bytes chunk;
    bytes spec;
    bytes32[] inputRoots;
    bytes32[][] inputTraceProofs;
    TensorOpening[] inputs;
    TensorOpening[] weights;
}

/// @title GameKit
/// @notice Deploys the protocol, registers models built with Ref, posts traces and
///         plays games with two solvers written for the tests: an executor that
///         defends whatever it committed, and a challenger that descends towards
///         the first node differing from the honest trace (or, with nothing to
///         dispute, griefs along a fixed choice).
abstract contract GameKit is Test {
    uint64 internal constant WINDOW = 1 days;
    uint64 internal constant CLOCK = 1 hours;
    uint256 internal constant FEE = 1 ether;
    uint256 internal constant STAKE = 10 ether;
    uint256 internal constant BOND = 2 ether;
    uint16 internal constant REWARD_BPS = 5000;
    uint16 internal constant BOND_BURN_BPS = 2000;

    ModelRegistry internal registry;
    InferenceOracle internal oracle;
    OneStepVerifier internal verifier;
    DisputeGame internal game;
    uint256 internal arity;

    address internal requester = makeAddr("requester");
    address internal executor = makeAddr("executor");
    address internal challenger = makeAddr("challenger");

    /// @notice When the challenger finds nothing to dispute: which child it picks.
    uint256 internal griefChoice;

    /// @notice Gas of each move kind in the last game played (0: none seen).
    mapping(bytes32 => uint256) internal lastGas;
    uint256 internal gameGas;
    uint256 internal gameMoves;

    function deploy(uint256 arityLog2) internal {
        arity = arityLog2;
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
        game = new DisputeGame(oracle, verifier, uint32(arityLog2), CLOCK);
        oracle.setDisputeGame(address(game));
        vm.deal(requester, 1000 ether);
        vm.deal(executor, 1000 ether);
        vm.deal(challenger, 1000 ether);
        // address(0) holds ether on every public chain: sending to it is not
        // charged as creating an account
        vm.deal(address(0), 1);
    }

    function register(ModelDef memory m) internal returns (bytes32 id) {
        uint256 last = m.stepCount - 1;
        id = registry.register(
            m.stepCount, m.specRoot, m.specs[0], Kit.single(m.specLevels, 0), m.specs[last], Kit.single(m.specLevels, last), "test"
        );
        assertEq(id, m.id, "model id");
    }

    function requestOn(ModelDef memory m, bytes memory x) internal returns (uint256 id) {
        vm.prank(requester);
        id = oracle.request{value: FEE}(m.id, x, address(0), 0);
    }

    function postTrace(uint256 requestId, TraceDef memory t) internal returns (uint256 resultId) {
        uint256 last = t.steps.length - 1;
        vm.prank(executor);
        resultId = oracle.post{value: STAKE}(
            requestId,
            Kit.canonical(t.steps[last]),
            t.root,
            uint32(t.steps.length),
            Kit.single(t.levels, 0),
            Kit.single(t.levels, last)
        );
    }

    function challengeAs(address who, uint256 resultId) internal returns (uint256 gameId) {
        vm.prank(who);
        gameId = game.challenge{value: BOND}(resultId);
    }

    // ---------------------------------------------------------------- solvers

    function _levels(DisputeGame.Game memory g) internal view returns (uint256) {
        return g.height < arity ? g.height : arity;
    }

    /// @notice The executor's move: whatever its committed trace `t` says.
    function executorMove(uint256 id, ModelDef memory m, TraceDef memory t) internal {
        DisputeGame.Game memory g = game.getGame(id);
        vm.startPrank(g.executor);
        if (g.phase == DisputeGame.Phase.Trace) {
            bytes32[] memory nodes = Kit.below(t.levels, g.height, g.index, _levels(g));
            game.revealNodes(id, nodes);
            _gas("revealNodes(trace)");
        } else if (g.phase == DisputeGame.Phase.Header) {
            Committed memory c = t.steps[g.stepIndex];
            game.openHeader(id, c.ty.dtype, c.ty.shape, c.root, m.specs[g.stepIndex], Kit.single(m.specLevels, g.stepIndex));
            _gas("openHeader");
        } else if (g.phase == DisputeGame.Phase.Data) {
            bytes32[] memory nodes = Kit.below(t.steps[g.stepIndex].levels, g.height, g.index, _levels(g));
            game.revealNodes(id, nodes);
            _gas("revealNodes(data)");
        } else if (g.phase == DisputeGame.Phase.Chunk) {
            game.revealChunk(id, Kit.slice(t.steps[g.stepIndex].padded, uint256(g.index) * 256, 256));
            _gas("revealChunk");
        } else {
            revert("the executor has no move");
        }
        vm.stopPrank();
    }

    /// @notice The challenger's move against the executor's trace `t`, knowing the
    ///         honest trace `h`.
    function challengerMove(uint256 id, ModelDef memory m, TraceDef memory t, TraceDef memory h, bytes[] memory honestOuts)
        internal
    {
        DisputeGame.Game memory g = game.getGame(id);
        vm.startPrank(g.challenger);
        if (g.phase == DisputeGame.Phase.Trace || g.phase == DisputeGame.Phase.Data) {
            bool trace = g.phase == DisputeGame.Phase.Trace;
            uint256 levels = _levels(g);
            bytes32[][] memory mine = trace ? t.levels : t.steps[g.stepIndex].levels;
            bytes32[][] memory theirs = trace ? h.levels : h.steps[g.stepIndex].levels;
            bytes32[] memory nodes = Kit.below(mine, g.height, g.index, levels);
            uint256 choice = griefChoice % nodes.length;
            if (theirs.length == mine.length) {
                bytes32[] memory honest = Kit.below(theirs, g.height, g.index, levels);
                for (uint256 k = 0; k < nodes.length; k++) {
                    if (nodes[k] != honest[k]) {
                        choice = k;
                        break;
                    }
                }
            }
            game.pick(id, nodes, choice);
            _gas(trace ? bytes32("pick(trace)") : bytes32("pick(data)"));
        } else if (g.phase == DisputeGame.Phase.OneStep) {
            StepProof memory p = stepProof(m, t, h, honestOuts, g.stepIndex, g.index);
            game.proveStep(id, p.elementInChunk, p.chunk, p.spec, p.inputRoots, p.inputTraceProofs, p.inputs, p.weights);
            _gas("proveStep");
        } else {
            revert("the challenger has no move");
        }
        vm.stopPrank();
    }

    /// @notice The one-step proof for chunk `chunkIndex` of step `step`: the first
    ///         element that differs from the honest output (or element 0), its
    ///         inputs opened from the executor's trace (the honest challenger only
    ///         reaches steps whose inputs it agrees with) and its weights.
    function stepProof(
        ModelDef memory m,
        TraceDef memory t,
        TraceDef memory h,
        bytes[] memory honestOuts,
        uint256 step,
        uint256 chunkIndex
    ) internal pure returns (StepProof memory p) {
        StepDef memory s = m.steps[step];
        Committed memory c = t.steps[step];
        uint256 sz = Kit.size(s.out.dtype);
        p.chunk = Kit.slice(c.padded, chunkIndex * 256, 256);
        bytes memory honestChunk = Kit.slice(h.steps[step].padded, chunkIndex * 256, 256);
        uint256 perChunk = 256 / sz;
        uint256 total = Kit.numel(s.out.shape);
        for (uint256 k = 0; k < perChunk && chunkIndex * perChunk + k < total; k++) {
            if (Kit.get(p.chunk, s.out.dtype, k) != Kit.get(honestChunk, s.out.dtype, k)) {
                p.elementInChunk = k;
                break;
            }
        }
        uint256 e = chunkIndex * perChunk + p.elementInChunk;
        p.spec = m.specs[step];
        (uint256[][] memory inDeps, uint256[][] memory wDeps) = Ref.deps(m, step, e, honestOuts);
        uint256 n = s.inputs.length;
        p.inputRoots = new bytes32[](n);
        p.inputTraceProofs = new bytes32[][](n);
        p.inputs = new TensorOpening[](n);
        for (uint256 j = 0; j < n; j++) {
            Committed memory x = t.steps[s.inputs[j]];
            p.inputRoots[j] = x.root;
            p.inputTraceProofs[j] = Kit.single(t.levels, s.inputs[j]);
            p.inputs[j] = Kit.opening(x, inDeps[j]);
        }
        p.weights = new TensorOpening[](s.wTypes.length);
        for (uint256 k = 0; k < s.wTypes.length; k++) p.weights[k] = Kit.opening(m.weights[step][k], wDeps[k]);
    }

    /// @notice Plays game `id` to its end (at most `maxMoves` moves).
    function play(uint256 id, ModelDef memory m, TraceDef memory t, TraceDef memory h, bytes[] memory honestOuts)
        internal
        returns (DisputeGame.Status)
    {
        gameGas = 0;
        gameMoves = 0;
        for (uint256 i = 0; i < 64; i++) {
            DisputeGame.Game memory g = game.getGame(id);
            if (g.status != DisputeGame.Status.Open) return g.status;
            vm.warp(vm.getBlockTimestamp() + 7);
            if (g.turn == DisputeGame.Side.Executor) executorMove(id, m, t);
            else challengerMove(id, m, t, h, honestOuts);
        }
        revert("the game did not end");
    }

    function _gas(bytes32 kind) internal {
        uint256 used = vm.lastCallGas().gasTotalUsed;
        lastGas[kind] = used;
        gameGas += used;
        gameMoves += 1;
    }

    function assertConserved() internal view {
        assertEq(oracle.totalIn(), oracle.totalOut() + oracle.totalBurned() + address(oracle).balance, "ETH conserved");
    }
}
