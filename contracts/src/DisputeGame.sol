// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Commitments} from "./lib/Commitments.sol";
import {StepSpec} from "./lib/StepSpec.sol";
import {TensorOpening} from "./lib/TensorOpening.sol";
import {InferenceOracle} from "./InferenceOracle.sol";
import {OneStepVerifier} from "./OneStepVerifier.sol";

/// @title DisputeGame
/// @notice The bisection game of docs/protocol.md: the executor reveals nodes of its
///         trace tree, then of one step's data tree; the challenger picks the part
///         it disagrees with, down to one chunk; the challenger then proves one
///         element of it wrong, which OneStepVerifier recomputes. Each side has a
///         chess clock. The Rust twin of these rules is crates/game/src/referee.rs;
///         every accept/reject and every outcome here is the referee's.
///         The oracle holds every wei; this contract only tells it who won.
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

    /// @notice A game and its position, as `getGame` returns it.
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

    /// @dev A game in storage. Slot 0 is the position every move rewrites.
    struct GameState {
        // slot 0
        uint48 lastMoveAt;
        uint48 executorClock;
        uint48 challengerClock;
        uint16 height;
        uint64 index;
        Phase phase;
        Side turn;
        Status status;
        // slot 1
        bytes32 node;
        // slot 2
        address challenger;
        uint64 resultId;
        uint32 stepIndex;
        // slot 3
        uint128 bond;
        uint32 byteLen;
        uint64 prevGame; // the previous game on the same result (0: none)
        // slot 4
        bytes32 specHash;
    }

    /// @dev What every game on one result shares, written by its first game.
    struct Dispute {
        bytes32 traceRoot;
        bytes32 specRoot;
        address executor;
        uint32 stepCount;
        uint64 lastGame;
    }

    /// @notice The inference oracle (holds all funds).
    InferenceOracle public immutable oracle;
    /// @notice The one-step verifier.
    OneStepVerifier public immutable verifier;
    /// @notice Levels one reveal opens (the descent's arity is 2^arityLog2).
    uint32 public immutable arityLog2;
    /// @notice Each side's total time in one game, in seconds.
    uint64 public immutable clockSeconds;

    /// @notice Id of the next game.
    uint256 public nextGameId = 1;
    mapping(uint256 => GameState) private games;
    mapping(uint256 => Dispute) private disputes;

    /// @notice A game was opened on `resultId` by `challenger` with `bond`.
    event GameOpened(
        uint256 indexed gameId, uint256 indexed resultId, address indexed challenger, address executor, uint256 bond
    );
    /// @notice The executor revealed `nodes`, the `2^k` nodes `k` levels below the
    ///         current node, which is at `height` and `index` of the `phase`'s tree.
    event NodesRevealed(uint256 indexed gameId, uint8 phase, uint32 height, uint64 index, bytes32[] nodes);
    /// @notice The challenger descended to `nodes[choice]`, now the current node.
    event Picked(uint256 indexed gameId, uint8 phase, uint256 choice, bytes32 node);
    /// @notice The executor opened step `stepIndex`'s commitment.
    event HeaderOpened(uint256 indexed gameId, uint32 stepIndex, uint8 dtype, uint32[] shape, bytes32 dataRoot);
    /// @notice The executor revealed chunk `chunkIndex` of the disputed step's output.
    event ChunkRevealed(uint256 indexed gameId, uint64 chunkIndex, bytes chunk);
    /// @notice The challenger's one-step proof of output element `element`:
    ///         the executor's value and the recomputed one.
    event StepProven(uint256 indexed gameId, uint256 element, int256 claimed, int256 computed);
    /// @notice The game ended with `status` (a `Status`).
    event GameResolved(uint256 indexed gameId, uint256 indexed resultId, uint8 status);

    /// @notice `arityLog2` is not 1 to 4.
    error BadArity();
    /// @notice `clockSeconds` is zero or above 2^48.
    error BadClock();
    /// @notice No such game.
    error UnknownGame(uint256 gameId);
    /// @notice The game is over.
    error GameOver(uint256 gameId);
    /// @notice It is the other side's turn.
    error NotYourTurn();
    /// @notice The sender is not the side to move.
    error NotAParty();
    /// @notice The move does not belong to the current phase.
    error WrongPhase(Phase phase);
    /// @notice The mover's clock has run out.
    error ClockExpired();
    /// @notice A timeout was claimed while time remains.
    error ClockRunning();
    /// @notice The nodes do not rebuild the current node or have the wrong count.
    error BadReveal();
    /// @notice The choice names no revealed node.
    error BadChoice();
    /// @notice The header does not hash to the step's commitment.
    error BadHeader();
    /// @notice The spec is not the disputed step's spec in the model.
    error BadSpec();
    /// @notice The chunk is not 256 bytes hashing to the current leaf.
    error BadChunk();
    /// @notice The element is outside the chunk or the tensor.
    error BadElement();
    /// @notice Input `input`'s commitment is not proven against the trace, or the
    ///         proof lists have the wrong length.
    error BadInput(uint256 input);
    /// @notice The game's result is not rejected.
    error NotMoot(uint256 gameId);
    /// @notice The model has a single step: its post proved everything, nothing can
    ///         be disputed.
    error NothingToDispute(uint256 resultId);
    /// @notice The bond does not fit the game's accounting (above 2^128 wei).
    error BondTooLarge();

    /// @param oracle_ The inference oracle (holds all funds).
    /// @param verifier_ The one-step verifier.
    /// @param arityLog2_ Levels one reveal opens, 1 to 4.
    /// @param clockSeconds_ Each side's time in one game.
    constructor(InferenceOracle oracle_, OneStepVerifier verifier_, uint32 arityLog2_, uint64 clockSeconds_) {
        if (arityLog2_ == 0 || arityLog2_ > 4) revert BadArity();
        if (clockSeconds_ == 0 || clockSeconds_ > type(uint48).max) revert BadClock();
        oracle = oracle_;
        verifier = verifier_;
        arityLog2 = arityLog2_;
        clockSeconds = clockSeconds_;
    }

    // ------------------------------------------------------------------ opening

    /// @notice Opens a game against a pending result inside its challenge window,
    ///         with `msg.value` (at least the oracle's `minBond`) as the bond. The
    ///         executor moves first, from the trace root.
    /// @return gameId The new game's id.
    function challenge(uint256 resultId) external payable returns (uint256 gameId) {
        if (msg.value > type(uint128).max) revert BondTooLarge();
        (address executor, bytes32 traceRoot, uint32 stepCount, bytes32 specRoot) =
            oracle.openGame{value: msg.value}(resultId, msg.sender);
        if (stepCount < 2) revert NothingToDispute(resultId);
        gameId = nextGameId++;
        Dispute storage d = disputes[resultId];
        uint64 prev = d.lastGame;
        if (prev == 0) {
            d.traceRoot = traceRoot;
            d.specRoot = specRoot;
            d.executor = executor;
            d.stepCount = stepCount;
        }
        d.lastGame = uint64(gameId);
        GameState storage g = games[gameId];
        g.lastMoveAt = uint48(block.timestamp);
        g.executorClock = uint48(clockSeconds);
        g.challengerClock = uint48(clockSeconds);
        g.height = uint16(Commitments.height(stepCount));
        g.node = traceRoot;
        g.challenger = msg.sender;
        g.resultId = uint64(resultId);
        g.bond = uint128(msg.value);
        g.prevGame = prev;
        emit GameOpened(gameId, resultId, msg.sender, executor, msg.value);
    }

    // -------------------------------------------------------------------- moves

    /// @dev Checks the game is open, `side` is to move and is the sender, and its
    ///      clock has not run out; charges the clock.
    function _enter(uint256 gameId, Side side) private returns (GameState storage g) {
        g = games[gameId];
        address challenger = g.challenger;
        if (challenger == address(0)) revert UnknownGame(gameId);
        if (g.status != Status.Open) revert GameOver(gameId);
        if (g.turn != side) revert NotYourTurn();
        address mover = side == Side.Executor ? disputes[g.resultId].executor : challenger;
        if (msg.sender != mover) revert NotAParty();
        uint256 spent = block.timestamp - g.lastMoveAt;
        if (side == Side.Executor) {
            if (spent > g.executorClock) revert ClockExpired();
            g.executorClock -= uint48(spent);
        } else {
            if (spent > g.challengerClock) revert ClockExpired();
            g.challengerClock -= uint48(spent);
        }
        g.lastMoveAt = uint48(block.timestamp);
    }

    /// @dev Checks `nodes` rebuild the current node; returns the levels they span.
    function _checkReveal(GameState storage g, bytes32[] calldata nodes) private view returns (uint256 levels) {
        Phase phase = g.phase;
        if (phase != Phase.Trace && phase != Phase.Data) revert WrongPhase(phase);
        uint256 height = g.height;
        levels = height < arityLog2 ? height : arityLog2;
        if (levels == 0 || nodes.length != uint256(1) << levels) revert BadReveal();
        uint8 tag = phase == Phase.Trace ? Commitments.TRACE_NODE : Commitments.DATA_NODE;
        if (Commitments.subtreeRoot(tag, nodes) != g.node) revert BadReveal();
    }

    /// @notice Executor: reveals the `2^k` nodes `k = min(arityLog2, height)` levels
    ///         below the current node (of the trace tree, or of the disputed step's
    ///         data tree); they must rebuild it.
    function revealNodes(uint256 gameId, bytes32[] calldata nodes) external {
        GameState storage g = _enter(gameId, Side.Executor);
        _checkReveal(g, nodes);
        g.turn = Side.Challenger;
        emit NodesRevealed(gameId, uint8(g.phase), g.height, g.index, nodes);
    }

    /// @notice Challenger: descends to `nodes[choice]`, re-sending the nodes the
    ///         executor revealed. Reaching a trace leaf decides the game (the input
    ///         leaf: the executor wins; a padding leaf: the executor wins iff it is
    ///         zero) or moves to `Header`; reaching a data leaf moves to `Chunk`.
    function pick(uint256 gameId, bytes32[] calldata nodes, uint256 choice) external {
        GameState storage g = _enter(gameId, Side.Challenger);
        uint256 levels = _checkReveal(g, nodes);
        if (choice >= nodes.length) revert BadChoice();
        bytes32 node = nodes[choice];
        uint64 index = uint64((uint256(g.index) << levels) | choice);
        uint16 height = uint16(g.height - levels);
        Phase phase = g.phase;
        g.node = node;
        g.index = index;
        g.height = height;
        g.turn = Side.Executor;
        emit Picked(gameId, uint8(phase), choice, node);
        if (height != 0) return;
        if (phase == Phase.Data) {
            g.phase = Phase.Chunk;
            return;
        }
        // the trace descent reached step `index`
        if (index == 0) {
            // the input leaf was proven when the result was posted
            _resolve(gameId, g, Status.ExecutorWon);
        } else if (index >= disputes[g.resultId].stepCount) {
            _resolve(gameId, g, node != bytes32(0) ? Status.ChallengerWon : Status.ExecutorWon);
        } else {
            g.stepIndex = uint32(index);
            g.phase = Phase.Header;
        }
    }

    /// @notice Executor: opens the disputed step's commitment as (dtype, shape,
    ///         dataRoot) and shows the step's spec with a proof against the model's
    ///         spec root. A dtype or shape other than the spec's output type loses
    ///         at once; otherwise the descent continues over the data tree.
    function openHeader(
        uint256 gameId,
        uint8 dtype,
        uint32[] calldata shape,
        bytes32 dataRoot,
        bytes calldata spec,
        bytes32[] calldata specProof
    ) external {
        GameState storage g = _enter(gameId, Side.Executor);
        if (g.phase != Phase.Header) revert WrongPhase(g.phase);
        if (shape.length > 255 || Commitments.tensorCommitment(dtype, shape, dataRoot) != g.node) revert BadHeader();
        Dispute storage d = disputes[g.resultId];
        uint32 stepIndex = g.stepIndex;
        bytes32 leaf = Commitments.specLeaf(spec);
        uint256 h = Commitments.height(d.stepCount);
        if (Commitments.singleRoot(Commitments.SPEC_NODE, h, stepIndex, leaf, specProof) != d.specRoot) revert BadSpec();
        StepSpec.Spec memory s = StepSpec.parse(spec);
        emit HeaderOpened(gameId, stepIndex, dtype, shape, dataRoot);
        if (!StepSpec.sameType(s.out, dtype, shape)) {
            _resolve(gameId, g, Status.ChallengerWon);
            return;
        }
        uint256 len = StepSpec.byteLen(s.out);
        uint16 height = uint16(Commitments.height(Commitments.numChunks(len)));
        g.specHash = leaf;
        g.byteLen = uint32(len);
        g.node = dataRoot;
        g.height = height;
        g.index = 0;
        g.phase = height == 0 ? Phase.Chunk : Phase.Data;
    }

    /// @notice Executor: reveals the 256 bytes of the chosen chunk. A non-zero byte
    ///         past the tensor's byte length loses; a well-formed chunk wholly past
    ///         the end wins (nothing there can be wrong); otherwise the challenger
    ///         is to prove one of its elements wrong.
    function revealChunk(uint256 gameId, bytes calldata chunk) external {
        GameState storage g = _enter(gameId, Side.Executor);
        if (g.phase != Phase.Chunk) revert WrongPhase(g.phase);
        if (chunk.length != Commitments.CHUNK || Commitments.chunkLeafCalldata(_offset(chunk)) != g.node) revert BadChunk();
        uint64 index = g.index;
        emit ChunkRevealed(gameId, index, chunk);
        uint256 len = g.byteLen;
        uint256 start = uint256(index) * Commitments.CHUNK;
        if (!Commitments.tailIsZero(_offset(chunk), len > start ? len - start : 0)) {
            _resolve(gameId, g, Status.ChallengerWon);
        } else if (index >= Commitments.numChunks(len)) {
            _resolve(gameId, g, Status.ExecutorWon);
        } else {
            g.phase = Phase.OneStep;
            g.turn = Side.Challenger;
        }
    }

    function _offset(bytes calldata b) private pure returns (uint256 offset) {
        assembly ("memory-safe") {
            offset := b.offset
        }
    }

    /// @notice Challenger: proves element `elementInChunk` of the revealed chunk
    ///         wrong. `chunk` is the revealed chunk, `spec` the disputed step's
    ///         spec; for each input `j`, `inputRoots[j]` is the data root of step
    ///         `spec.inputs[j].step`'s output, bound to the trace root by its
    ///         commitment (built with the type in the spec) and the single-leaf
    ///         proof `inputTraceProofs[j]`; `inputs[j]` and `weights[k]` open the
    ///         chunks the op reads. The verifier recomputes the element: a value
    ///         other than the executor's wins, the same value loses.
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
        GameState storage g = _enter(gameId, Side.Challenger);
        if (g.phase != Phase.OneStep) revert WrongPhase(g.phase);
        if (chunk.length != Commitments.CHUNK || Commitments.chunkLeafCalldata(_offset(chunk)) != g.node) revert BadChunk();
        if (Commitments.specLeaf(spec) != g.specHash) revert BadSpec();
        StepSpec.Spec memory s = StepSpec.parse(spec);
        uint256 size = Commitments.elemSize(s.out.dtype);
        uint256 element = uint256(g.index) * (Commitments.CHUNK / size) + elementInChunk;
        if (elementInChunk >= Commitments.CHUNK / size || element >= StepSpec.numel(s.out)) revert BadElement();
        uint256 n = s.inputs.length;
        if (inputRoots.length != n || inputTraceProofs.length != n) revert BadInput(0);
        Dispute storage d = disputes[g.resultId];
        bytes32 traceRoot = d.traceRoot;
        uint256 h = Commitments.height(d.stepCount);
        for (uint256 j = 0; j < n; j++) {
            bytes32 c = StepSpec.commitment(s.inputs[j].ty, inputRoots[j]);
            if (Commitments.singleRoot(Commitments.TRACE_NODE, h, s.inputs[j].step, c, inputTraceProofs[j]) != traceRoot) {
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

    /// @notice Anyone: ends the game against the side to move once its clock has
    ///         run out.
    function timeout(uint256 gameId) external {
        GameState storage g = games[gameId];
        if (g.challenger == address(0)) revert UnknownGame(gameId);
        if (g.status != Status.Open) revert GameOver(gameId);
        Side turn = g.turn;
        uint256 clock = turn == Side.Executor ? g.executorClock : g.challengerClock;
        if (block.timestamp - g.lastMoveAt <= clock) revert ClockRunning();
        _resolve(gameId, g, turn == Side.Executor ? Status.ChallengerWon : Status.ExecutorWon);
    }

    /// @notice Anyone: ends a game whose result another game already rejected; the
    ///         bond is returned to the challenger.
    function settleMoot(uint256 gameId) external {
        GameState storage g = games[gameId];
        if (g.challenger == address(0)) revert UnknownGame(gameId);
        if (g.status != Status.Open) revert GameOver(gameId);
        uint256 resultId = g.resultId;
        if (oracle.resultStatus(resultId) != InferenceOracle.ResultStatus.Rejected) revert NotMoot(gameId);
        g.status = Status.Moot;
        g.phase = Phase.Resolved;
        emit GameResolved(gameId, resultId, uint8(Status.Moot));
        oracle.settleMoot(resultId, g.challenger, g.bond);
    }

    /// @dev Ends a game and settles it with the oracle. A decided game on a result
    ///      that another game has already rejected is moot (the oracle says so).
    function _resolve(uint256 gameId, GameState storage g, Status outcome) private {
        g.status = outcome;
        g.phase = Phase.Resolved;
        uint256 resultId = g.resultId;
        if (oracle.settleGame(resultId, g.challenger, g.bond, outcome == Status.ExecutorWon)) {
            outcome = Status.Moot;
            g.status = outcome;
        }
        emit GameResolved(gameId, resultId, uint8(outcome));
    }

    // -------------------------------------------------------------------- views

    /// @notice A game and its position (all zero for an unknown id).
    function getGame(uint256 gameId) external view returns (Game memory) {
        GameState storage g = games[gameId];
        if (g.challenger == address(0)) return Game(0, address(0), address(0), 0, Phase.Trace, Side.Executor, Status.Open, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        Dispute storage d = disputes[g.resultId];
        return Game({
            resultId: g.resultId,
            challenger: g.challenger,
            executor: d.executor,
            bond: g.bond,
            phase: g.phase,
            turn: g.turn,
            status: g.status,
            lastMoveAt: g.lastMoveAt,
            executorClock: g.executorClock,
            challengerClock: g.challengerClock,
            node: g.node,
            height: g.height,
            index: g.index,
            stepIndex: g.stepIndex,
            specHash: g.specHash,
            byteLen: g.byteLen,
            traceRoot: d.traceRoot,
            specRoot: d.specRoot,
            stepCount: d.stepCount
        });
    }

    /// @notice Every game opened on a result, oldest first.
    function gamesOf(uint256 resultId) external view returns (uint256[] memory ids) {
        uint256 n;
        for (uint256 id = disputes[resultId].lastGame; id != 0; id = games[id].prevGame) n++;
        ids = new uint256[](n);
        for (uint256 id = disputes[resultId].lastGame; id != 0; id = games[id].prevGame) ids[--n] = id;
    }
}
