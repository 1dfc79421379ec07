// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Commitments} from "./lib/Commitments.sol";
import {StepSpec, Spec} from "./lib/StepSpec.sol";
import {ChunkRange} from "./lib/ChunkRange.sol";
import {InferenceOracle} from "./InferenceOracle.sol";
import {OneStepVerifier} from "./OneStepVerifier.sol";

/// @title DisputeGame
/// @notice The bisection game of docs/protocol.md: the executor reveals nodes of its
///         trace tree, then of one step's data tree; the challenger picks the part
///         it disagrees with, down to one chunk; the challenger then proves one
///         element of it wrong, which OneStepVerifier recomputes. When that
///         element's reduction has more than one block, the executor commits to its
///         checkpoints and a third descent over them narrows the dispute to one
///         block, which the verifier folds from the checkpoint before it. Each side
///         has a chess clock, extended when it runs low (`clockExtension`). The
///         Rust twin of these rules is crates/game/src/referee.rs; every
///         accept/reject and every outcome here is the referee's. The oracle holds
///         every wei; this contract only tells it who won.
contract DisputeGame {
    using StepSpec for Spec;
    using StepSpec for uint256;

    /// @notice What the game is disputing.
    enum Phase {
        Trace,
        Header,
        Data,
        Chunk,
        OneStep,
        Checkpoints,
        Reduction,
        Block,
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

    /// @notice A game's clocks, as `getGame` returns them: when the last move was
    ///         made, the seconds each side has left, and the seconds of extension
    ///         each was granted so far (at most `clockSeconds`). Apart from the
    ///         rest of `Game` because a flat struct of so many fields is more than
    ///         common ABI tooling decodes (alloy's tuples stop at 24).
    struct Clocks {
        uint64 lastMoveAt;
        uint64 executorClock;
        uint64 challengerClock;
        uint64 executorExtension;
        uint64 challengerExtension;
    }

    /// @notice A game and its position, as `getGame` returns it. `byteLen` is the
    ///         disputed step's output length; `element`, `claimed`, `blocks` and
    ///         `checkpointRoot` are set once an element of a long reduction is
    ///         named (and its checkpoints opened).
    struct Game {
        uint256 resultId;
        address challenger;
        address executor;
        uint256 bond;
        Phase phase;
        Side turn;
        Status status;
        Clocks clocks;
        bytes32 node;
        uint32 height;
        uint64 index;
        uint32 stepIndex;
        bytes32 specHash;
        uint64 byteLen;
        bytes32 traceRoot;
        bytes32 specRoot;
        uint32 stepCount;
        uint64 element;
        int64 claimed;
        uint64 blocks;
        bytes32 checkpointRoot;
    }

    /// @notice The operands of a one-step proof (`proveStep`, `proveBlock`): the
    ///         disputed step's spec; for each input `j`, `inputRoots[j]` is the data
    ///         root of step `spec.inputs[j].step`'s output, bound to the trace root
    ///         by its commitment (built with the type in the spec) and the
    ///         single-leaf proof `inputTraceProofs[j]`; `inputs[j]` and `weights[k]`
    ///         are the chunk ranges the block reads.
    struct StepOperands {
        bytes spec;
        bytes32[] inputRoots;
        bytes32[][] inputTraceProofs;
        ChunkRange[] inputs;
        ChunkRange[] weights;
    }

    /// @dev A game in storage. Slot 0 is the position every move rewrites; slot 4
    ///      is written by `openHeader` (`NO_SPEC` until then), slot 5 by
    ///      `nameElement`, slot 6 by `openCheckpoints`.
    struct GameState {
        // slot 0: clocks and extensions never exceed clockSeconds <= MAX_DURATION < 2^24
        uint48 lastMoveAt;
        uint24 executorClock;
        uint24 challengerClock;
        uint24 executorExtension;
        uint24 challengerExtension;
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
        uint64 byteLen;
        uint64 prevGame; // the previous game on the same result (0: none)
        // slot 4
        bytes32 specHash;
        // slot 5
        uint64 element;
        int64 claimed;
        uint64 blocks;
        // slot 6
        bytes32 checkpointRoot;
    }

    /// @dev `specHash` before `openHeader`: the slot is made non-zero when the game
    ///      opens so that `openHeader`, the largest move but the one step, does not
    ///      pay for a first write (20,000 gas more; docs/gas.md). No spec leaf is 1.
    bytes32 private constant NO_SPEC = bytes32(uint256(1));

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
    /// @notice A side to move with less than this on its clock is raised to it,
    ///         while its extensions so far stay within `clockSeconds`:
    ///         `clockSeconds / 4` (docs/protocol.md, "Clock extension").
    uint64 public immutable clockExtension;
    /// @notice Most `arityLog2`: a reveal of 16 nodes.
    uint32 public constant MAX_ARITY_LOG2 = 4;
    /// @notice Longest `clockSeconds`: 30 days.
    uint64 public constant MAX_DURATION = 2_592_000;

    /// @notice Id of the next game.
    uint256 public nextGameId = 1;
    mapping(uint256 => GameState) private games;
    mapping(uint256 => Dispute) private disputes;

    /// @notice A game was opened on `resultId` by `challenger` with `bond`.
    event GameOpened(uint256 indexed gameId, uint256 indexed resultId, address indexed challenger, address executor, uint256 bond);
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
    /// @notice The challenger named output element `element` of the revealed chunk,
    ///         whose reduction has `blocks` blocks; the executor's value is `claimed`.
    event ElementNamed(uint256 indexed gameId, uint256 element, int256 claimed, uint256 blocks);
    /// @notice The executor opened the named element's checkpoint tree.
    event CheckpointsOpened(uint256 indexed gameId, bytes32 root);
    /// @notice The challenger's proof of block `block_` of element `element`: the
    ///         executor's leaf `block_` and the recomputed one.
    event BlockProven(uint256 indexed gameId, uint256 element, uint256 block_, bytes32 claimedLeaf, bytes32 computedLeaf);
    /// @notice The game ended with `status` (a `Status`).
    event GameResolved(uint256 indexed gameId, uint256 indexed resultId, uint8 status);

    /// @notice Constructor parameter `name` is `value`, outside `[least, most]`.
    error ParameterOutOfRange(string name, uint256 value, uint256 least, uint256 most);
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
    /// @notice `proveStep` on an element whose reduction has `blocks` (more than
    ///         one) blocks: it is disputed block by block (`nameElement`).
    error LongReduction(uint256 blocks);
    /// @notice `nameElement` on an element of one block: `proveStep` proves it.
    error ShortReduction();
    /// @notice The checkpoint root does not hold the element leaf of the executor's
    ///         value at leaf `blocks - 1`.
    error BadCheckpoints();
    /// @notice The state before the disputed block is not the executor's checkpoint
    ///         (or is given for block 0).
    error BadPrevState();
    /// @notice The bond does not fit the game's accounting (above 2^128 wei).
    error BondTooLarge();

    /// @param oracle_ The inference oracle (holds all funds).
    /// @param verifier_ The one-step verifier.
    /// @param arityLog2_ Levels one reveal opens, 1 to `MAX_ARITY_LOG2`.
    /// @param clockSeconds_ Each side's time in one game, 1 to `MAX_DURATION`.
    ///        Either out of its bounds is refused with `ParameterOutOfRange`.
    constructor(InferenceOracle oracle_, OneStepVerifier verifier_, uint32 arityLog2_, uint64 clockSeconds_) {
        if (arityLog2_ < 1 || arityLog2_ > MAX_ARITY_LOG2) revert ParameterOutOfRange("arityLog2", arityLog2_, 1, MAX_ARITY_LOG2);
        if (clockSeconds_ < 1 || clockSeconds_ > MAX_DURATION) revert ParameterOutOfRange("clockSeconds", clockSeconds_, 1, MAX_DURATION);
        oracle = oracle_;
        verifier = verifier_;
        arityLog2 = arityLog2_;
        clockSeconds = clockSeconds_;
        clockExtension = clockSeconds_ / 4;
    }

    // ------------------------------------------------------------------ opening

    /// @notice Opens a game against a pending result inside its challenge window,
    ///         with `msg.value` (at least the oracle's `minBond`) as the bond. The
    ///         executor moves first, from the trace root.
    /// @return gameId The new game's id.
    function challenge(uint256 resultId) external payable returns (uint256 gameId) {
        if (msg.value > type(uint128).max) revert BondTooLarge();
        (address executor, bytes32 traceRoot, uint32 stepCount, bytes32 specRoot) = oracle.openGame{value: msg.value}(resultId, msg.sender);
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
        g.executorClock = uint24(clockSeconds);
        g.challengerClock = uint24(clockSeconds);
        g.height = uint16(Commitments.height(stepCount));
        g.node = traceRoot;
        g.challenger = msg.sender;
        g.resultId = uint64(resultId);
        g.bond = uint128(msg.value);
        g.prevGame = prev;
        g.specHash = NO_SPEC;
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
            g.executorClock -= uint24(spent);
        } else {
            if (spent > g.challengerClock) revert ClockExpired();
            g.challengerClock -= uint24(spent);
        }
        g.lastMoveAt = uint48(block.timestamp);
    }

    /// @dev The clock extension, after a move that leaves the game open: a side now
    ///      to move with less than `clockExtension` is raised towards it by what its
    ///      extensions so far leave of `clockSeconds` (docs/protocol.md, "Clock
    ///      extension"). A short stretch of congestion then costs no side the game,
    ///      and each side's moves still take at most `2 · clockSeconds` in all.
    function _extend(GameState storage g) private {
        if (g.status != Status.Open) return;
        uint256 ext = clockExtension;
        if (g.turn == Side.Executor) {
            uint256 c = g.executorClock;
            if (c >= ext) return;
            uint256 e = g.executorExtension;
            uint256 add = _min(ext - c, clockSeconds - e);
            g.executorClock = uint24(c + add);
            g.executorExtension = uint24(e + add);
        } else {
            uint256 c = g.challengerClock;
            if (c >= ext) return;
            uint256 e = g.challengerExtension;
            uint256 add = _min(ext - c, clockSeconds - e);
            g.challengerClock = uint24(c + add);
            g.challengerExtension = uint24(e + add);
        }
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }

    /// @dev Checks `nodes` rebuild the current node of the phase's tree; returns the
    ///      levels they span.
    function _checkReveal(GameState storage g, bytes32[] calldata nodes) private view returns (uint256 levels) {
        Phase phase = g.phase;
        uint8 tag;
        if (phase == Phase.Trace) tag = Commitments.TRACE_NODE;
        else if (phase == Phase.Data) tag = Commitments.DATA_NODE;
        else if (phase == Phase.Reduction) tag = Commitments.CHECKPOINT_NODE;
        else revert WrongPhase(phase);
        uint256 height = g.height;
        levels = height < arityLog2 ? height : arityLog2;
        if (levels == 0 || nodes.length != uint256(1) << levels) revert BadReveal();
        if (Commitments.subtreeRoot(tag, nodes) != g.node) revert BadReveal();
    }

    /// @notice Executor: reveals the `2^k` nodes `k = min(arityLog2, height)` levels
    ///         below the current node (of the trace tree, of the disputed step's
    ///         data tree, or of the named element's checkpoint tree); they must
    ///         rebuild it.
    function revealNodes(uint256 gameId, bytes32[] calldata nodes) external {
        GameState storage g = _enter(gameId, Side.Executor);
        _checkReveal(g, nodes);
        g.turn = Side.Challenger;
        _extend(g);
        emit NodesRevealed(gameId, uint8(g.phase), g.height, g.index, nodes);
    }

    /// @notice Challenger: descends to `nodes[choice]`, re-sending the nodes the
    ///         executor revealed. Reaching a trace leaf decides the game (the input
    ///         leaf: the executor wins; a padding leaf: the executor wins iff it is
    ///         zero) or moves to `Header`; reaching a data leaf moves to `Chunk`;
    ///         reaching checkpoint leaf `b` decides the game if it is padding
    ///         (`b >= blocks`: the executor wins iff it is zero) or moves to `Block`,
    ///         where the challenger proves block `b`.
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
        if (height == 0) _reachLeaf(gameId, g, phase, index, node);
        _extend(g);
    }

    /// @dev The descent of `phase` reached leaf `index`, `node` (see `pick`).
    function _reachLeaf(uint256 gameId, GameState storage g, Phase phase, uint64 index, bytes32 node) private {
        if (phase == Phase.Data) {
            g.phase = Phase.Chunk;
        } else if (phase == Phase.Reduction) {
            // the reduction descent reached leaf `index` of the checkpoint tree
            if (index >= g.blocks) {
                _resolve(gameId, g, node != bytes32(0) ? Status.ChallengerWon : Status.ExecutorWon);
            } else {
                g.phase = Phase.Block;
                g.turn = Side.Challenger;
            }
        } else if (index == 0) {
            // the trace descent reached the input leaf, proven when the result was posted
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
    function openHeader(uint256 gameId, uint8 dtype, uint32[] calldata shape, bytes32 dataRoot, bytes calldata spec, bytes32[] calldata specProof)
        external
    {
        GameState storage g = _enter(gameId, Side.Executor);
        if (g.phase != Phase.Header) revert WrongPhase(g.phase);
        if (shape.length > 255 || Commitments.tensorCommitmentCalldata(dtype, shape, dataRoot) != g.node) revert BadHeader();
        Dispute storage d = disputes[g.resultId];
        uint32 stepIndex = g.stepIndex;
        bytes32 leaf = Commitments.specLeafCalldata(spec);
        uint256 h = Commitments.height(d.stepCount);
        if (Commitments.singleRoot(Commitments.SPEC_NODE, h, stepIndex, leaf, specProof) != d.specRoot) revert BadSpec();
        uint256 out = StepSpec.read(spec).outType();
        emit HeaderOpened(gameId, stepIndex, dtype, shape, dataRoot);
        if (!out.sameType(dtype, shape)) {
            _resolve(gameId, g, Status.ChallengerWon);
            return;
        }
        // a length is never cut to 32 bits: outputs of 2^32 bytes and more are
        // judged on their real length (no output of 2^64 bytes can be computed)
        uint256 len = out.byteLen();
        if (len > type(uint64).max) revert BadSpec();
        uint16 height = uint16(Commitments.height(Commitments.numChunks(len)));
        g.specHash = leaf;
        g.byteLen = uint64(len);
        g.node = dataRoot;
        g.height = height;
        g.index = 0;
        g.phase = height == 0 ? Phase.Chunk : Phase.Data;
        _extend(g);
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
            _extend(g);
        }
    }

    function _offset(bytes calldata b) private pure returns (uint256 offset) {
        assembly ("memory-safe") {
            offset := b.offset
        }
    }

    /// @dev The element the challenger names: `chunk` must be the revealed chunk and
    ///      `spec` the disputed step's; returns the spec, the element's index in the
    ///      output and the executor's value of it.
    function _named(GameState storage g, uint256 elementInChunk, bytes calldata chunk, bytes calldata spec)
        private
        view
        returns (Spec s, uint256 element, int256 claimed)
    {
        if (chunk.length != Commitments.CHUNK || Commitments.chunkLeafCalldata(_offset(chunk)) != g.node) revert BadChunk();
        if (Commitments.specLeafCalldata(spec) != g.specHash) revert BadSpec();
        s = StepSpec.read(spec);
        uint256 out = s.outType();
        uint256 size = out.elemSize();
        uint256 perChunk = Commitments.CHUNK / size;
        element = uint256(g.index) * perChunk + elementInChunk;
        if (elementInChunk >= perChunk || element >= out.numel()) revert BadElement();
        claimed = _element(chunk, elementInChunk, size);
    }

    /// @dev Checks that input `j`'s data root, under the type in the spec, is leaf
    ///      `inputs[j].step` of the trace root, for every input.
    function _checkInputs(GameState storage g, Spec s, StepOperands calldata operands) private view {
        uint256 n = s.inputCount();
        if (operands.inputRoots.length != n || operands.inputTraceProofs.length != n) revert BadInput(0);
        Dispute storage d = disputes[g.resultId];
        bytes32 traceRoot = d.traceRoot;
        uint256 h = Commitments.height(d.stepCount);
        for (uint256 j = 0; j < n; j++) {
            (uint256 step, uint256 t) = s.input(j);
            bytes32 c = t.commitment(operands.inputRoots[j]);
            if (Commitments.singleRoot(Commitments.TRACE_NODE, h, step, c, operands.inputTraceProofs[j]) != traceRoot) {
                revert BadInput(j);
            }
        }
    }

    /// @notice Challenger: proves element `elementInChunk` of the revealed chunk
    ///         wrong when its reduction is one block. `chunk` is the revealed chunk;
    ///         `operands` hold the disputed step's spec, its inputs' data roots
    ///         proven against the trace and the chunk ranges the element reads. The
    ///         verifier recomputes the element: a value other than the executor's
    ///         wins, the same value loses. Reverts (`LongReduction`) on an element of
    ///         more than one block, which is disputed with `nameElement`.
    function proveStep(uint256 gameId, uint256 elementInChunk, bytes calldata chunk, StepOperands calldata operands) external {
        GameState storage g = _enter(gameId, Side.Challenger);
        if (g.phase != Phase.OneStep) revert WrongPhase(g.phase);
        bytes calldata spec = operands.spec;
        (Spec s, uint256 element, int256 claimed) = _named(g, elementInChunk, chunk, spec);
        _checkInputs(g, s, operands);
        (bool last, int256 computed,) = verifier.evaluate(spec, element, 0, "", operands.inputRoots, operands.inputs, operands.weights);
        if (!last) revert LongReduction(verifier.blocks(spec));
        emit StepProven(gameId, element, claimed, computed);
        _resolve(gameId, g, claimed != computed ? Status.ChallengerWon : Status.ExecutorWon);
    }

    /// @notice Challenger: names element `elementInChunk` of the revealed chunk as
    ///         disputed when its reduction has `n >= 2` blocks (reverts with
    ///         `ShortReduction` on one block, which `proveStep` proves at once). The
    ///         game records the element, the executor's value of it and `n`; the
    ///         executor is to open the element's checkpoints.
    function nameElement(uint256 gameId, uint256 elementInChunk, bytes calldata chunk, bytes calldata spec) external {
        GameState storage g = _enter(gameId, Side.Challenger);
        if (g.phase != Phase.OneStep) revert WrongPhase(g.phase);
        (, uint256 element, int256 claimed) = _named(g, elementInChunk, chunk, spec);
        uint256 n = verifier.blocks(spec);
        if (n < 2) revert ShortReduction();
        // element < numel and n <= numel of an operand: both below 2^64 for any
        // output the game accepted (byteLen < 2^64) and any weight the loader accepts
        if (element > type(uint64).max || n > type(uint64).max) revert BadElement();
        g.element = uint64(element);
        g.claimed = int64(claimed);
        g.blocks = uint64(n);
        g.phase = Phase.Checkpoints;
        g.turn = Side.Executor;
        _extend(g);
        emit ElementNamed(gameId, element, claimed, n);
    }

    /// @notice Executor: opens the named element's checkpoint tree
    ///         (docs/commitments.md, "Checkpoints") by its root and the proof that
    ///         leaf `blocks - 1` is the element leaf of its value. The reduction
    ///         descent continues from the root; the executor reveals first.
    function openCheckpoints(uint256 gameId, bytes32 root, bytes32[] calldata lastProof) external {
        GameState storage g = _enter(gameId, Side.Executor);
        if (g.phase != Phase.Checkpoints) revert WrongPhase(g.phase);
        uint256 n = g.blocks;
        uint256 h = Commitments.height(n);
        bytes32 leaf = Commitments.elementLeaf(g.claimed);
        if (lastProof.length != h || Commitments.singleRoot(Commitments.CHECKPOINT_NODE, h, n - 1, leaf, lastProof) != root) {
            revert BadCheckpoints();
        }
        g.checkpointRoot = root;
        g.node = root;
        g.height = uint16(h);
        g.index = 0;
        g.phase = Phase.Reduction;
        _extend(g);
        emit CheckpointsOpened(gameId, root);
    }

    /// @notice Challenger: proves block `b` (the checkpoint leaf the descent reached)
    ///         of the named element wrong. `prevState` is the state before the block
    ///         (empty for block 0, whose state is the op's `init`) and `prevProof`
    ///         proves its checkpoint leaf is leaf `b - 1` of the executor's
    ///         checkpoint root (empty for block 0); `operands` as in `proveStep`. The
    ///         verifier folds block `b`: a leaf other than the executor's leaf `b`
    ///         wins, the same leaf loses.
    function proveBlock(uint256 gameId, bytes calldata prevState, bytes32[] calldata prevProof, StepOperands calldata operands) external {
        GameState storage g = _enter(gameId, Side.Challenger);
        if (g.phase != Phase.Block) revert WrongPhase(g.phase);
        bytes calldata spec = operands.spec;
        if (Commitments.specLeafCalldata(spec) != g.specHash) revert BadSpec();
        Spec s = StepSpec.read(spec);
        uint256 b = g.index;
        if (b == 0) {
            if (prevState.length != 0 || prevProof.length != 0) revert BadPrevState();
        } else {
            uint256 h = Commitments.height(g.blocks);
            bytes32 prev = Commitments.checkpointLeafCalldata(prevState);
            if (prevProof.length != h || Commitments.singleRoot(Commitments.CHECKPOINT_NODE, h, b - 1, prev, prevProof) != g.checkpointRoot) {
                revert BadPrevState();
            }
        }
        _checkInputs(g, s, operands);
        uint256 element = g.element;
        (,, bytes32 computed) = verifier.evaluate(spec, element, b, prevState, operands.inputRoots, operands.inputs, operands.weights);
        bytes32 claimedLeaf = g.node;
        emit BlockProven(gameId, element, b, claimedLeaf, computed);
        _resolve(gameId, g, computed != claimedLeaf ? Status.ChallengerWon : Status.ExecutorWon);
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
    ///         challenger is credited the bond and the game's share of the reward
    ///         less the claim fee (InferenceOracle.settleMoot).
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
    function getGame(uint256 gameId) external view returns (Game memory r) {
        GameState storage g = games[gameId];
        if (g.challenger == address(0)) return r;
        Dispute storage d = disputes[g.resultId];
        r.resultId = g.resultId;
        r.challenger = g.challenger;
        r.executor = d.executor;
        r.bond = g.bond;
        r.phase = g.phase;
        r.turn = g.turn;
        r.status = g.status;
        r.clocks = Clocks(g.lastMoveAt, g.executorClock, g.challengerClock, g.executorExtension, g.challengerExtension);
        r.node = g.node;
        r.height = g.height;
        r.index = g.index;
        r.stepIndex = g.stepIndex;
        r.specHash = g.specHash == NO_SPEC ? bytes32(0) : g.specHash;
        r.byteLen = g.byteLen;
        r.traceRoot = d.traceRoot;
        r.specRoot = d.specRoot;
        r.stepCount = d.stepCount;
        r.element = g.element;
        r.claimed = g.claimed;
        r.blocks = g.blocks;
        r.checkpointRoot = g.checkpointRoot;
    }

    /// @notice Every game opened on a result, oldest first.
    function gamesOf(uint256 resultId) external view returns (uint256[] memory ids) {
        uint256 n;
        for (uint256 id = disputes[resultId].lastGame; id != 0; id = games[id].prevGame) {
            n++;
        }
        ids = new uint256[](n);
        for (uint256 id = disputes[resultId].lastGame; id != 0; id = games[id].prevGame) {
            ids[--n] = id;
        }
    }
}
