// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Commitments} from "./lib/Commitments.sol";
import {StepSpec} from "./lib/StepSpec.sol";
import {TensorOpening} from "./lib/TensorOpening.sol";
import {InferenceOracle} from "./InferenceOracle.sol";
import {OneStepVerifier} from "./OneStepVerifier.sol";

/// @title DisputeGame
/// @notice The bisection game of docs/protocol.md: the executor reveals nodes of its
///         trace tree, then of one step's data tree, the challenger picks the part
///         it disagrees with, down to one chunk; the challenger then proves one
///         element of it wrong, which OneStepVerifier recomputes. Each side has a
///         chess clock. The Rust twin of these rules is crates/game/src/referee.rs.
contract DisputeGame {
    /// @notice What the game is disputing.
    enum Phase {
        Trace,
        Header,
        Data,
        Chunk,
        OneStep,
        Resolved
    }

    /// @notice A party.
    enum Side {
        Executor,
        Challenger
    }

    /// @notice How a game stands.
    enum Status {
        Open,
        ExecutorWon,
        ChallengerWon,
        Moot
    }

    /// @notice A game and its position.
    struct Game {
        uint256 resultId;
        address challenger;
        address executor;
        uint256 bond;
        Phase phase;
        Side turn;
        Status status;
        uint64 lastMoveAt;
        uint64 executorClock;
        uint64 challengerClock;
        bytes32 node;
        uint32 height;
        uint64 index;
        uint32 stepIndex;
        bytes32 specHash;
        uint32 byteLen;
        bytes32 traceRoot;
        bytes32 specRoot;
        uint32 stepCount;
    }

    InferenceOracle public immutable oracle;
    OneStepVerifier public immutable verifier;
    /// @notice Levels one reveal opens (the descent's arity is 2^arityLog2).
    uint32 public immutable arityLog2;
    /// @notice Each side's total time in one game, in seconds.
    uint64 public immutable clockSeconds;

    uint256 public nextGameId = 1;
    mapping(uint256 => Game) private games;
    mapping(uint256 => uint256[]) private resultGames;

    event GameOpened(
        uint256 indexed gameId, uint256 indexed resultId, address indexed challenger, address executor, uint256 bond
    );
    event NodesRevealed(uint256 indexed gameId, uint8 phase, uint32 height, uint64 index, bytes32[] nodes);
    event Picked(uint256 indexed gameId, uint8 phase, uint256 choice, bytes32 node);
    event HeaderOpened(uint256 indexed gameId, uint32 stepIndex, uint8 dtype, uint32[] shape, bytes32 dataRoot);
    event ChunkRevealed(uint256 indexed gameId, uint64 chunkIndex, bytes chunk);
    event StepProven(uint256 indexed gameId, uint256 element, int256 claimed, int256 computed);
    event GameResolved(uint256 indexed gameId, uint256 indexed resultId, uint8 status);

    error BadArity();
    error UnknownGame(uint256 gameId);
    error GameOver(uint256 gameId);
    error NotYourTurn();
    error NotAParty();
    error WrongPhase(Phase phase);
    error ClockExpired();
    error ClockRunning();
    error BadReveal();
    error BadChoice();
    error BadHeader();
    error BadSpec();
    error BadChunk();
    error BadElement();
    error BadInput(uint256 input);
    error NotMoot(uint256 gameId);

    /// @param oracle_ The inference oracle (holds all funds).
    /// @param verifier_ The one-step verifier.
    /// @param arityLog2_ Levels one reveal opens, 1 to 4.
    /// @param clockSeconds_ Each side's time in one game.
    constructor(InferenceOracle oracle_, OneStepVerifier verifier_, uint32 arityLog2_, uint64 clockSeconds_) {
        if (arityLog2_ == 0 || arityLog2_ > 4 || clockSeconds_ == 0) revert BadArity();
        oracle = oracle_;
        verifier = verifier_;
        arityLog2 = arityLog2_;
        clockSeconds = clockSeconds_;
    }

    // ------------------------------------------------------------------ opening

    /// @notice Opens a game against a pending result, with `msg.value` as the bond.
    function challenge(uint256 resultId) external payable returns (uint256 gameId) {
        (address executor, bytes32 traceRoot, uint32 stepCount, bytes32 specRoot) =
            oracle.openGame{value: msg.value}(resultId);
        gameId = nextGameId++;
        Game storage g = games[gameId];
        g.resultId = resultId;
        g.challenger = msg.sender;
        g.executor = executor;
        g.bond = msg.value;
        g.phase = Phase.Trace;
        g.turn = Side.Executor;
        g.lastMoveAt = uint64(block.timestamp);
        g.executorClock = clockSeconds;
        g.challengerClock = clockSeconds;
        g.node = traceRoot;
        g.height = uint32(Commitments.height(stepCount));
        g.traceRoot = traceRoot;
        g.specRoot = specRoot;
        g.stepCount = stepCount;
        resultGames[resultId].push(gameId);
        emit GameOpened(gameId, resultId, msg.sender, executor, msg.value);
    }

    // -------------------------------------------------------------------- moves

    /// @dev Checks turn, party and clock, and charges the mover's clock.
    function _move(uint256 gameId, Side side) private returns (Game storage g) {
        g = games[gameId];
        if (g.executor == address(0)) revert UnknownGame(gameId);
        if (g.status != Status.Open) revert GameOver(gameId);
        if (g.turn != side) revert NotYourTurn();
        if (msg.sender != (side == Side.Executor ? g.executor : g.challenger)) revert NotAParty();
        uint64 spent = uint64(block.timestamp) - g.lastMoveAt;
        if (side == Side.Executor) {
            if (spent > g.executorClock) revert ClockExpired();
            g.executorClock -= spent;
        } else {
            if (spent > g.challengerClock) revert ClockExpired();
            g.challengerClock -= spent;
        }
        g.lastMoveAt = uint64(block.timestamp);
    }

    /// @dev Checks `nodes` rebuild the current node; returns the levels they span.
    function _checkReveal(Game storage g, bytes32[] calldata nodes) private view returns (uint32 levels) {
        if (g.phase != Phase.Trace && g.phase != Phase.Data) revert WrongPhase(g.phase);
        levels = g.height < arityLog2 ? g.height : arityLog2;
        if (levels == 0 || nodes.length != uint256(1) << levels) revert BadReveal();
        uint8 tag = g.phase == Phase.Trace ? Commitments.TRACE_NODE : Commitments.DATA_NODE;
        bytes32[] memory layer = nodes;
        uint256 n = layer.length;
        while (n > 1) {
            for (uint256 i = 0; i < n / 2; i++) {
                layer[i] = Commitments.node(tag, layer[2 * i], layer[2 * i + 1]);
            }
            n /= 2;
        }
        if (layer[0] != g.node) revert BadReveal();
    }

    /// @notice Executor: reveals the `2^k` nodes `k` levels below the current node.
    function revealNodes(uint256 gameId, bytes32[] calldata nodes) external {
        Game storage g = _move(gameId, Side.Executor);
        _checkReveal(g, nodes);
        g.turn = Side.Challenger;
        emit NodesRevealed(gameId, uint8(g.phase), g.height, g.index, nodes);
    }

    /// @notice Challenger: descends to `nodes[choice]`, re-sending the revealed nodes.
    function pick(uint256 gameId, bytes32[] calldata nodes, uint256 choice) external {
        Game storage g = _move(gameId, Side.Challenger);
        uint32 levels = _checkReveal(g, nodes);
        if (choice >= nodes.length) revert BadChoice();
        g.node = nodes[choice];
        g.index = uint64(uint256(g.index) * nodes.length + choice);
        g.height -= levels;
        g.turn = Side.Executor;
        emit Picked(gameId, uint8(g.phase), choice, g.node);
        if (g.height != 0) return;
        if (g.phase == Phase.Data) {
            g.phase = Phase.Chunk;
            return;
        }
        // the trace descent reached step `index`
        if (g.index == 0) {
            // the input leaf was proven when the result was posted
            _resolve(gameId, g, Status.ExecutorWon);
        } else if (g.index >= g.stepCount) {
            _resolve(gameId, g, g.node != bytes32(0) ? Status.ChallengerWon : Status.ExecutorWon);
        } else {
            g.stepIndex = uint32(g.index);
            g.phase = Phase.Header;
        }
    }

    /// @notice Executor: opens the disputed step's commitment and shows its spec
    ///         with a proof against the model's spec root. A dtype or shape other
    ///         than the spec's output type loses at once.
    function openHeader(
        uint256 gameId,
        uint8 dtype,
        uint32[] calldata shape,
        bytes32 dataRoot,
        bytes calldata spec,
        bytes32[] calldata specProof
    ) external {
        Game storage g = _move(gameId, Side.Executor);
        if (g.phase != Phase.Header) revert WrongPhase(g.phase);
        if (Commitments.tensorCommitment(dtype, shape, dataRoot) != g.node) revert BadHeader();
        bytes32 leaf = Commitments.specLeaf(spec);
        uint256 h = Commitments.height(g.stepCount);
        if (Commitments.singleRoot(Commitments.SPEC_NODE, h, g.stepIndex, leaf, specProof) != g.specRoot) revert BadSpec();
        StepSpec.Spec memory s = StepSpec.parse(spec);
        emit HeaderOpened(gameId, g.stepIndex, dtype, shape, dataRoot);
        if (!_sameType(s.out, dtype, shape)) {
            _resolve(gameId, g, Status.ChallengerWon);
            return;
        }
        uint256 len = Commitments.byteLen(dtype, shape);
        g.specHash = leaf;
        g.byteLen = uint32(len);
        g.node = dataRoot;
        g.height = uint32(Commitments.height(Commitments.numChunks(len)));
        g.index = 0;
        g.phase = g.height == 0 ? Phase.Chunk : Phase.Data;
    }

    function _sameType(StepSpec.TensorType memory t, uint8 dtype, uint32[] calldata shape) private pure returns (bool) {
        if (t.dtype != dtype || t.shape.length != shape.length) return false;
        for (uint256 i = 0; i < shape.length; i++) {
            if (t.shape[i] != shape[i]) return false;
        }
        return true;
    }

    /// @notice Executor: reveals the chosen chunk. A non-zero byte past the
    ///         tensor's end loses; a well-formed chunk wholly past the end wins.
    function revealChunk(uint256 gameId, bytes calldata chunk) external {
        Game storage g = _move(gameId, Side.Executor);
        if (g.phase != Phase.Chunk) revert WrongPhase(g.phase);
        if (chunk.length != Commitments.CHUNK) revert BadChunk();
        if (_chunkLeaf(chunk) != g.node) revert BadChunk();
        emit ChunkRevealed(gameId, g.index, chunk);
        uint256 start = uint256(g.index) * Commitments.CHUNK;
        uint256 real = g.byteLen > start ? g.byteLen - start : 0;
        if (real > Commitments.CHUNK) real = Commitments.CHUNK;
        for (uint256 i = real; i < Commitments.CHUNK; i++) {
            if (chunk[i] != 0) {
                _resolve(gameId, g, Status.ChallengerWon);
                return;
            }
        }
        if (g.index >= Commitments.numChunks(g.byteLen)) {
            _resolve(gameId, g, Status.ExecutorWon);
            return;
        }
        g.phase = Phase.OneStep;
        g.turn = Side.Challenger;
    }

    function _chunkLeaf(bytes calldata chunk) private pure returns (bytes32) {
        uint256 offset;
        assembly ("memory-safe") {
            offset := chunk.offset
        }
        return Commitments.chunkLeafCalldata(offset);
    }

    /// @notice Challenger: proves element `elementInChunk` of the revealed chunk
    ///         wrong. Each input's data root is bound to the trace by its
    ///         commitment (built with the type in the spec) and a trace proof; the
    ///         verifier checks the openings and recomputes the element.
    function proveStep(
        uint256 gameId,
        uint256 elementInChunk,
        bytes calldata chunk,
        bytes calldata spec,
        bytes32[] calldata inputRoots,
        bytes32[][] calldata inputTraceProofs,
        TensorOpening[] calldata inputs,
        TensorOpening[] calldata weights
    ) external {
        Game storage g = _move(gameId, Side.Challenger);
        if (g.phase != Phase.OneStep) revert WrongPhase(g.phase);
        if (chunk.length != Commitments.CHUNK || _chunkLeaf(chunk) != g.node) revert BadChunk();
        if (Commitments.specLeaf(spec) != g.specHash) revert BadSpec();
        StepSpec.Spec memory s = StepSpec.parse(spec);
        uint256 size = Commitments.elemSize(s.out.dtype);
        uint256 element = uint256(g.index) * (Commitments.CHUNK / size) + elementInChunk;
        if (elementInChunk >= Commitments.CHUNK / size || element >= StepSpec.numel(s.out)) revert BadElement();
        if (inputRoots.length != s.inputs.length || inputTraceProofs.length != s.inputs.length) revert BadInput(0);
        uint256 h = Commitments.height(g.stepCount);
        for (uint256 j = 0; j < s.inputs.length; j++) {
            bytes32 c = StepSpec.commitment(s.inputs[j].ty, inputRoots[j]);
            if (Commitments.singleRoot(Commitments.TRACE_NODE, h, s.inputs[j].step, c, inputTraceProofs[j]) != g.traceRoot) {
                revert BadInput(j);
            }
        }
        int256 claimed = _element(chunk, elementInChunk, size);
        int256 computed = verifier.evaluate(spec, element, inputRoots, inputs, weights);
        emit StepProven(gameId, element, claimed, computed);
        _resolve(gameId, g, claimed != computed ? Status.ChallengerWon : Status.ExecutorWon);
    }

    function _element(bytes calldata chunk, uint256 local, uint256 size) private pure returns (int256) {
        uint256 word;
        assembly ("memory-safe") {
            word := calldataload(add(chunk.offset, mul(local, size)))
        }
        return size == 1 ? int256(int8(uint8(word >> 248))) : int256(int32(uint32(word >> 224)));
    }

    /// @notice Anyone: ends the game against the side to move once its clock ran out.
    function timeout(uint256 gameId) external {
        Game storage g = games[gameId];
        if (g.executor == address(0)) revert UnknownGame(gameId);
        if (g.status != Status.Open) revert GameOver(gameId);
        uint64 clock = g.turn == Side.Executor ? g.executorClock : g.challengerClock;
        if (uint64(block.timestamp) - g.lastMoveAt <= clock) revert ClockRunning();
        _resolve(gameId, g, g.turn == Side.Executor ? Status.ChallengerWon : Status.ExecutorWon);
    }

    /// @notice Anyone: ends a game whose result another game already rejected;
    ///         the bond is returned.
    function settleMoot(uint256 gameId) external {
        Game storage g = games[gameId];
        if (g.executor == address(0)) revert UnknownGame(gameId);
        if (g.status != Status.Open) revert GameOver(gameId);
        if (oracle.resultStatus(g.resultId) != InferenceOracle.ResultStatus.Rejected) revert NotMoot(gameId);
        _resolve(gameId, g, Status.Moot);
    }

    /// @dev Ends a game and settles it with the oracle. A decided game on a result
    ///      that another game has already rejected is moot.
    function _resolve(uint256 gameId, Game storage g, Status outcome) private {
        if (outcome != Status.Moot && oracle.resultStatus(g.resultId) == InferenceOracle.ResultStatus.Rejected) {
            outcome = Status.Moot;
        }
        g.status = outcome;
        g.phase = Phase.Resolved;
        emit GameResolved(gameId, g.resultId, uint8(outcome));
        if (outcome == Status.Moot) {
            oracle.settleMoot(g.resultId, g.challenger, g.bond);
        } else {
            oracle.settleGame(g.resultId, g.challenger, g.bond, outcome == Status.ExecutorWon);
        }
    }

    // -------------------------------------------------------------------- views

    /// @notice A game and its position.
    function getGame(uint256 gameId) external view returns (Game memory) {
        return games[gameId];
    }

    /// @notice Every game opened on a result.
    function gamesOf(uint256 resultId) external view returns (uint256[] memory) {
        return resultGames[resultId];
    }
}
