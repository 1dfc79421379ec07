// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test, console2} from "forge-std/Test.sol";
import {Vm} from "forge-std/Vm.sol";
import {ChunkRange} from "../../src/lib/ChunkRange.sol";
import {ModelRegistry} from "../../src/ModelRegistry.sol";
import {InferenceOracle} from "../../src/InferenceOracle.sol";
import {OneStepVerifier} from "../../src/OneStepVerifier.sol";
import {DisputeGame} from "../../src/DisputeGame.sol";
import {Kit, Ty, StepDef, Committed, ModelDef, TraceDef, Tree} from "./Kit.sol";
import {Ref, Fold} from "./Ref.sol";

/// @title GameKit
/// @notice Deploys the protocol, registers models built with Ref, posts traces and
///         plays games with two solvers written for the tests: an executor that
///         defends whatever it committed (its checkpoints are the fold of its own
///         committed inputs, ending at its own value, unless a test makes it lie),
///         and a challenger that descends towards the first node differing from
///         the honest trace or the honest checkpoints (or, with nothing to
///         dispute, griefs along `griefChoice`).
///
///         Every move is sent as a transaction would find the chain: the protocol
///         contracts are `vm.cool`ed first, and its *tx gas* is the execution gas
///         plus 21,000, the calldata (4 gas per zero byte, 16 per other byte) and
///         the EIP-3529 refund cap, as docs/gas.md states.
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

    // ------------------------------------------------------------ solver knobs

    /// @notice When the challenger finds nothing to dispute: which child it picks.
    uint256 internal griefChoice;
    /// @notice When set, the challenger picks `griefChoice` whatever differs.
    bool internal steer;
    /// @notice When the challenger finds no wrong element in the chunk: which one
    ///         it names (modulo the chunk's elements).
    uint256 internal griefElement;
    /// @notice The executor's checkpoints from this block on (below the last) are
    ///         off by one (none by default).
    uint256 internal cpLieFrom = type(uint256).max;
    /// @notice The executor's padding checkpoint leaves (zero when honest).
    bytes32 internal cpPadding;
    /// @notice When not zero, both solvers fold the named element from this block
    ///         (`Ref.foldFrom`: the blocks before it read only zeros) and hold its
    ///         checkpoint tree sparse: elements of millions of blocks.
    uint256 internal cpFoldFrom;

    // ------------------------------------------------------------ measurements

    /// @notice One measured transaction.
    struct Measured {
        uint256 exec;
        uint256 txGas;
        uint256 calldataBytes;
    }

    /// @notice The last game played: moves, total tx gas (both sides), the largest
    ///         move other than the one step and its kind, the one step (tx gas,
    ///         execution gas, and `evaluate` alone when `measureEvaluate`), and
    ///         what the executor sent: its moves and their tx gas.
    struct Played {
        uint256 moves;
        uint256 txGas;
        uint256 maxOther;
        string maxOtherKind;
        string oneStepKind;
        uint256 oneStep;
        uint256 oneStepExec;
        uint256 evaluateExec;
        uint256 executorMoves;
        uint256 executorTxGas;
    }

    Played internal played;
    /// @notice The last move sent, and its kind.
    Measured internal lastMove;
    string internal lastKind;
    /// @notice Largest tx gas of each move kind in the last game.
    mapping(bytes32 => uint256) internal maxGas;
    bytes32[] internal kinds;
    /// @notice Print one markdown row per move.
    bool internal logMoves;
    /// @notice Also measure `OneStepVerifier.evaluate` alone before each one step.
    bool internal measureEvaluate;
    bytes internal lastReturn;

    /// @notice A named element's checkpoints as a solver holds them: `blocks`
    ///         leaves; leaf `b >= first` is `leaves[b - first]` (a padding leaf
    ///         past `blocks`) and the state after block `b < blocks` is
    ///         `states[b - first]`; every block before `first` leaves the state
    ///         `before`, whose leaf is `fill`. `first` is 0 but with `cpFoldFrom`.
    struct Checkpoints {
        uint256 blocks;
        uint256 first;
        bytes32 fill;
        bytes32[] leaves;
        int256[][] states;
        int256[] before;
    }

    /// @dev The checkpoints of each game (computed once per game and side), ABI
    ///      encoded, by `_key(gameId, honest)`: ids restart with every deployment.
    mapping(bytes32 => bytes) internal cpCache;

    function _key(uint256 id, bool honest) internal view returns (bytes32) {
        return keccak256(abi.encode(address(game), id, honest));
    }

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
        vm.deal(requester, 10_000 ether);
        vm.deal(executor, 10_000 ether);
        vm.deal(challenger, 10_000 ether);
        // address(0) holds ether on every public chain: sending to it is not
        // charged as creating an account
        vm.deal(address(0), 1);
    }

    /// @dev 21,000 plus the calldata of `data` (Cancun pricing).
    function intrinsic(bytes memory data) internal pure returns (uint256 g) {
        g = 21_000;
        for (uint256 i = 0; i < data.length; i++) {
            g += data[i] == 0 ? 4 : 16;
        }
    }

    /// @notice Calls `to` from `from` as a fresh transaction would find it; reverts
    ///         with the callee's reason on failure.
    function measure(address from, address to, uint256 value, bytes memory data) internal returns (Measured memory r) {
        vm.cool(address(registry));
        vm.cool(address(oracle));
        vm.cool(address(verifier));
        vm.cool(address(game));
        vm.prank(from);
        (bool ok, bytes memory ret) = to.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        lastReturn = ret;
        Vm.Gas memory g = vm.lastCallGas();
        r.exec = g.gasTotalUsed;
        uint256 gross = g.gasTotalUsed + intrinsic(data);
        uint256 refund = g.gasRefunded > 0 ? uint256(uint64(g.gasRefunded)) : 0;
        if (refund > gross / 5) refund = gross / 5;
        r.txGas = gross - refund;
        r.calldataBytes = data.length;
    }

    function row(string memory what, Measured memory r) internal pure {
        console2.log(string.concat("| ", what, " | ", vm.toString(r.txGas), " | ", vm.toString(r.exec), " | ", vm.toString(r.calldataBytes), " |"));
    }

    /// @dev Sends a move of the game and books its gas under `kind`.
    function _move(address from, bytes memory data, string memory kind, bool oneStep) internal {
        Measured memory r = measure(from, address(game), 0, data);
        lastMove = r;
        lastKind = kind;
        played.moves += 1;
        played.txGas += r.txGas;
        if (from == executor) {
            played.executorMoves += 1;
            played.executorTxGas += r.txGas;
        }
        bytes32 k = keccak256(bytes(kind));
        if (maxGas[k] == 0) kinds.push(k);
        if (r.txGas > maxGas[k]) maxGas[k] = r.txGas;
        if (oneStep) {
            played.oneStep = r.txGas;
            played.oneStepExec = r.exec;
            played.oneStepKind = kind;
        } else if (r.txGas > played.maxOther) {
            played.maxOther = r.txGas;
            played.maxOtherKind = kind;
        }
        if (logMoves) row(kind, r);
    }

    function _resetPlayed() internal {
        delete played;
        for (uint256 i = 0; i < kinds.length; i++) {
            delete maxGas[kinds[i]];
        }
        delete kinds;
    }

    // ---------------------------------------------------------------- protocol

    function register(ModelDef memory m) internal returns (bytes32 id) {
        uint256 last = m.stepCount - 1;
        id = registry.register(
            m.stepCount, m.specRoot, Ref.specOf(m, 0), Kit.single(m.specTree, 0), Ref.specOf(m, last), Kit.single(m.specTree, last), "test"
        );
        assertEq(id, m.id, "model id");
    }

    function requestOn(ModelDef memory m, bytes memory x) internal returns (uint256 id) {
        vm.prank(requester);
        id = oracle.request{value: FEE}(m.id, x, address(0), 0);
    }

    function postTrace(uint256 requestId, TraceDef memory t) internal returns (uint256 resultId) {
        uint256 count = stepCount(t);
        uint256 last = count - 1;
        vm.prank(executor);
        resultId = oracle.post{value: STAKE}(
            requestId, Kit.canonical(Ref.outOf(t, last)), t.root, uint32(count), Kit.single(t.tree, 0), Kit.single(t.tree, last)
        );
    }

    /// @notice The number of steps of trace `t`: one past its last listed step.
    function stepCount(TraceDef memory t) internal pure returns (uint256) {
        return t.index.length == 0 ? t.steps.length : t.index[t.index.length - 1] + 1;
    }

    function challengeAs(address who, uint256 resultId) internal returns (uint256 gameId) {
        vm.prank(who);
        gameId = game.challenge{value: BOND}(resultId);
    }

    // ------------------------------------------------------------- checkpoints

    /// @dev The named element of game `id` folded from trace `t`'s inputs (from
    ///      `cpFoldFrom` when set), and the executor's value of it.
    function _foldNamed(uint256 id, ModelDef memory m, TraceDef memory t) internal view returns (Fold memory f, int256 claimed) {
        DisputeGame.Game memory g = game.getGame(id);
        uint256 i = g.stepIndex;
        StepDef memory s = Ref.stepOf(m, i);
        Ty[] memory ins = Ref.inputTypes(m, i);
        if (cpFoldFrom == 0) f = Ref.fold(s, ins, Ref.inputsIn(m, t, i), Ref.weightsOf(m, i), g.element);
        else f = Ref.foldFrom(s, ins, Ref.inputsIn(m, t, i), Ref.weightsOf(m, i), g.element, cpFoldFrom);
        assertEq(f.blocks, g.blocks, "Ref and the verifier cut the element alike");
        claimed = g.claimed;
    }

    /// @dev The checkpoints of the named element folded from trace `t`'s inputs,
    ///      ending at the executor's value (the honest one when `honest`), padded
    ///      with `pad`; the executor's (not `honest`) with the lies `cpLieFrom` asks
    ///      for.
    function _checkpoints(uint256 id, ModelDef memory m, TraceDef memory t, bool honest, bytes32 pad) internal returns (Checkpoints memory c) {
        bytes32 key = _key(id, honest);
        if (cpCache[key].length != 0) return abi.decode(cpCache[key], (Checkpoints));
        (Fold memory f, int256 claimed) = _foldNamed(id, m, t);
        if (!honest && cpLieFrom < f.blocks) {
            require(cpLieFrom >= f.first, "a lie in a block the solvers fold");
            for (uint256 b = cpLieFrom; b + 1 < f.blocks; b++) {
                f.states[b - f.first][0] += 1;
            }
        }
        c.blocks = f.blocks;
        c.first = f.first;
        c.states = f.states;
        c.before = f.before;
        if (f.first > 0) c.fill = Ref.stateLeaf(f.before);
        // dense: every leaf; sparse: from `first` to the end of the padded tree
        uint256 end = f.first == 0 ? f.blocks : uint256(1) << Kit.height(f.blocks);
        c.leaves = new bytes32[](end - f.first);
        bytes32 last = Ref.elementLeaf(honest ? f.value : claimed);
        for (uint256 b = f.first; b < end; b++) {
            if (b >= f.blocks) c.leaves[b - f.first] = pad;
            else if (b + 1 == f.blocks) c.leaves[b - f.first] = last;
            else c.leaves[b - f.first] = Ref.stateLeaf(f.states[b - f.first]);
        }
        cpCache[key] = abi.encode(c);
    }

    /// @notice The executor's checkpoints of the named element: the fold of its own
    ///         committed inputs, its value as the last leaf, with the lies the knobs
    ///         ask for.
    function executorCheckpointsOf(uint256 id, ModelDef memory m, TraceDef memory t) internal returns (Checkpoints memory) {
        return _checkpoints(id, m, t, false, cpPadding);
    }

    /// @notice The honest checkpoints of the named element (the challenger's).
    function honestCheckpointsOf(uint256 id, ModelDef memory m, TraceDef memory h) internal returns (Checkpoints memory) {
        return _checkpoints(id, m, h, true, bytes32(0));
    }

    /// @notice The executor's checkpoint leaves and states (every block: no
    ///         `cpFoldFrom`).
    function executorCheckpoints(uint256 id, ModelDef memory m, TraceDef memory t)
        internal
        returns (bytes32[] memory leaves, int256[][] memory states)
    {
        Checkpoints memory c = executorCheckpointsOf(id, m, t);
        require(c.first == 0, "every leaf is held");
        return (c.leaves, c.states);
    }

    /// @notice The honest checkpoint leaves (every block: no `cpFoldFrom`).
    function honestCheckpoints(uint256 id, ModelDef memory m, TraceDef memory h) internal returns (bytes32[] memory) {
        Checkpoints memory c = honestCheckpointsOf(id, m, h);
        require(c.first == 0, "every leaf is held");
        return c.leaves;
    }

    /// @dev A checkpoint tree over `leaves`, padded with `pad`.
    function checkpointTree(bytes32[] memory leaves, bytes32 pad) internal pure returns (Tree memory) {
        return Kit.tree(0x08, leaves, pad);
    }

    /// @dev The checkpoint tree of `c`: dense, or built from its structure.
    function checkpointTree(Checkpoints memory c, bytes32 pad) internal pure returns (Tree memory) {
        if (c.first == 0) return Kit.tree(0x08, c.leaves, pad);
        uint256[] memory idx = new uint256[](c.leaves.length);
        for (uint256 k = 0; k < idx.length; k++) {
            idx[k] = c.first + k;
        }
        return Kit.sparseTree(0x08, Kit.height(c.blocks), c.fill, idx, c.leaves);
    }

    /// @dev The state after block `b` of `c`.
    function stateAfter(Checkpoints memory c, uint256 b) internal pure returns (int256[] memory) {
        return b < c.first ? c.before : c.states[b - c.first];
    }

    // ---------------------------------------------------------------- solvers

    function _levels(DisputeGame.Game memory g) internal view returns (uint256) {
        return g.height < arity ? g.height : arity;
    }

    /// @notice The executor's move: whatever its committed trace `t` says.
    function executorMove(uint256 id, ModelDef memory m, TraceDef memory t) internal {
        DisputeGame.Game memory g = game.getGame(id);
        uint256 i = g.stepIndex;
        if (g.phase == DisputeGame.Phase.Trace) {
            bytes32[] memory nodes = Kit.below(t.tree, g.height, g.index, _levels(g));
            _move(g.executor, abi.encodeCall(DisputeGame.revealNodes, (id, nodes)), "revealNodes (trace)", false);
        } else if (g.phase == DisputeGame.Phase.Header) {
            Committed memory c = Ref.outOf(t, i);
            _move(
                g.executor,
                abi.encodeCall(DisputeGame.openHeader, (id, c.ty.dtype, c.ty.shape, c.root, Ref.specOf(m, i), Kit.single(m.specTree, i))),
                "openHeader",
                false
            );
        } else if (g.phase == DisputeGame.Phase.Data) {
            bytes32[] memory nodes = Kit.below(Ref.outOf(t, i).tree, g.height, g.index, _levels(g));
            _move(g.executor, abi.encodeCall(DisputeGame.revealNodes, (id, nodes)), "revealNodes (data)", false);
        } else if (g.phase == DisputeGame.Phase.Chunk) {
            _move(g.executor, abi.encodeCall(DisputeGame.revealChunk, (id, Kit.chunk(Ref.outOf(t, i), g.index))), "revealChunk", false);
        } else if (g.phase == DisputeGame.Phase.Checkpoints) {
            Checkpoints memory c = executorCheckpointsOf(id, m, t);
            Tree memory tr = checkpointTree(c, cpPadding);
            bytes memory call = abi.encodeCall(DisputeGame.openCheckpoints, (id, Kit.rootOf(tr), Kit.single(tr, c.blocks - 1)));
            _move(g.executor, call, "openCheckpoints", false);
        } else if (g.phase == DisputeGame.Phase.Reduction) {
            Checkpoints memory c = executorCheckpointsOf(id, m, t);
            bytes32[] memory nodes = Kit.below(checkpointTree(c, cpPadding), g.height, g.index, _levels(g));
            _move(g.executor, abi.encodeCall(DisputeGame.revealNodes, (id, nodes)), "revealNodes (reduction)", false);
        } else {
            revert("the executor has no move");
        }
    }

    /// @dev The child to descend to: the first that differs from the honest one,
    ///      else `griefChoice`.
    function _choose(bytes32[] memory mine, bytes32[] memory honest) internal view returns (uint256) {
        if (!steer) {
            for (uint256 k = 0; k < mine.length; k++) {
                if (mine[k] != honest[k]) return k;
            }
        }
        return griefChoice % mine.length;
    }

    /// @notice The challenger's move against the executor's trace `t`, knowing the
    ///         honest trace `h`.
    function challengerMove(uint256 id, ModelDef memory m, TraceDef memory t, TraceDef memory h) internal {
        DisputeGame.Game memory g = game.getGame(id);
        uint256 i = g.stepIndex;
        if (g.phase == DisputeGame.Phase.Trace || g.phase == DisputeGame.Phase.Data) {
            bool trace = g.phase == DisputeGame.Phase.Trace;
            uint256 levels = _levels(g);
            Tree memory mine = trace ? t.tree : Ref.outOf(t, i).tree;
            Tree memory theirs = trace ? h.tree : Ref.outOf(h, i).tree;
            bytes32[] memory nodes = Kit.below(mine, g.height, g.index, levels);
            uint256 choice = griefChoice % nodes.length;
            if (theirs.height == mine.height) choice = _choose(nodes, Kit.below(theirs, g.height, g.index, levels));
            _move(g.challenger, abi.encodeCall(DisputeGame.pick, (id, nodes, choice)), trace ? "pick (trace)" : "pick (data)", false);
        } else if (g.phase == DisputeGame.Phase.Reduction) {
            _pickReduction(id, g, m, t, h);
        } else if (g.phase == DisputeGame.Phase.OneStep) {
            (uint256 local, uint256 e) = _disputedElement(m, t, h, i, g.index);
            bytes memory chunk = Kit.chunk(Ref.outOf(t, i), g.index);
            if (Ref.blocks(Ref.stepOf(m, i), Ref.inputTypes(m, i)) == 1) {
                DisputeGame.StepOperands memory ops = operands(m, t, i, e, 0);
                _measureEvaluate(ops, e, 0, "");
                _move(g.challenger, abi.encodeCall(DisputeGame.proveStep, (id, local, chunk, ops)), "proveStep", true);
            } else {
                _move(g.challenger, abi.encodeCall(DisputeGame.nameElement, (id, local, chunk, Ref.specOf(m, i))), "nameElement", false);
            }
        } else if (g.phase == DisputeGame.Phase.Block) {
            (bytes memory prevState, bytes32[] memory prevProof) = prevCheckpoint(id, m, t);
            DisputeGame.StepOperands memory ops = operands(m, t, i, g.element, g.index);
            _measureEvaluate(ops, g.element, g.index, prevState);
            _move(g.challenger, abi.encodeCall(DisputeGame.proveBlock, (id, prevState, prevProof, ops)), "proveBlock", true);
        } else {
            revert("the challenger has no move");
        }
    }

    /// @dev The challenger's pick in the reduction descent: towards the first leaf
    ///      that differs from the honest checkpoints.
    function _pickReduction(uint256 id, DisputeGame.Game memory g, ModelDef memory m, TraceDef memory t, TraceDef memory h) internal {
        uint256 levels = _levels(g);
        bytes32[] memory nodes = Kit.below(checkpointTree(executorCheckpointsOf(id, m, t), cpPadding), g.height, g.index, levels);
        bytes32[] memory honest = Kit.below(checkpointTree(honestCheckpointsOf(id, m, h), bytes32(0)), g.height, g.index, levels);
        _move(g.challenger, abi.encodeCall(DisputeGame.pick, (id, nodes, _choose(nodes, honest))), "pick (reduction)", false);
    }

    /// @notice The state before the disputed block and its proof against the
    ///         executor's checkpoint root (nothing for block 0).
    function prevCheckpoint(uint256 id, ModelDef memory m, TraceDef memory t) internal returns (bytes memory prevState, bytes32[] memory prevProof) {
        DisputeGame.Game memory g = game.getGame(id);
        if (g.index == 0) return ("", new bytes32[](0));
        Checkpoints memory c = executorCheckpointsOf(id, m, t);
        prevState = Ref.encState(stateAfter(c, g.index - 1));
        prevProof = Kit.single(checkpointTree(c, cpPadding), g.index - 1);
    }

    function _measureEvaluate(DisputeGame.StepOperands memory ops, uint256 e, uint256 b, bytes memory prevState) internal {
        if (!measureEvaluate) return;
        bytes memory call = abi.encodeCall(OneStepVerifier.evaluate, (ops.spec, e, b, prevState, ops.inputRoots, ops.inputs, ops.weights));
        played.evaluateExec = measure(address(this), address(verifier), 0, call).exec;
    }

    /// @notice The element of chunk `chunkIndex` of step `step` the challenger
    ///         disputes: the first that differs from the honest output, else
    ///         `griefElement`.
    function _disputedElement(ModelDef memory m, TraceDef memory t, TraceDef memory h, uint256 step, uint256 chunkIndex)
        internal
        view
        returns (uint256 local, uint256 e)
    {
        Ty memory out = Ref.stepOf(m, step).out;
        Committed memory mine = Ref.outOf(t, step);
        Committed memory honest = Ref.outOf(h, step);
        uint256 perChunk = 256 / Kit.size(out.dtype);
        uint256 total = Kit.numel(out.shape);
        uint256 inChunk = total - chunkIndex * perChunk < perChunk ? total - chunkIndex * perChunk : perChunk;
        local = griefElement % inChunk;
        for (uint256 k = 0; k < inChunk; k++) {
            uint256 at = chunkIndex * perChunk + k;
            if (Kit.elem(mine, at) != Kit.elem(honest, at)) {
                local = k;
                break;
            }
        }
        e = chunkIndex * perChunk + local;
    }

    /// @notice The operands of block `b` of element `e` of step `step`: its inputs
    ///         opened from the executor's trace (the honest challenger only reaches
    ///         steps whose inputs it agrees with) and its weights, each the range of
    ///         chunks holding what the block reads.
    function operands(ModelDef memory m, TraceDef memory t, uint256 step, uint256 e, uint256 b)
        internal
        pure
        returns (DisputeGame.StepOperands memory ops)
    {
        StepDef memory s = Ref.stepOf(m, step);
        Committed[] memory xs = Ref.inputsIn(m, t, step);
        (uint256[2][] memory rin, uint256[2][] memory rw) = Ref.reads(s, Ref.inputTypes(m, step), xs, e, b);
        uint256 n = s.inputs.length;
        ops.spec = Ref.specOf(m, step);
        ops.inputRoots = new bytes32[](n);
        ops.inputTraceProofs = new bytes32[][](n);
        ops.inputs = new ChunkRange[](n);
        for (uint256 j = 0; j < n; j++) {
            ops.inputRoots[j] = xs[j].root;
            ops.inputTraceProofs[j] = Kit.single(t.tree, s.inputs[j]);
            ops.inputs[j] = Kit.range(xs[j], rin[j][0], rin[j][1]);
        }
        ops.weights = new ChunkRange[](s.wTypes.length);
        Committed[] memory ws = Ref.weightsOf(m, step);
        for (uint256 k = 0; k < s.wTypes.length; k++) {
            ops.weights[k] = Kit.range(ws[k], rw[k][0], rw[k][1]);
        }
    }

    /// @notice Plays game `id` to its end.
    function play(uint256 id, ModelDef memory m, TraceDef memory t, TraceDef memory h) internal returns (DisputeGame.Status) {
        _resetPlayed();
        for (uint256 i = 0; i < 512; i++) {
            DisputeGame.Game memory g = game.getGame(id);
            if (g.status != DisputeGame.Status.Open) return g.status;
            vm.warp(vm.getBlockTimestamp() + 7);
            if (g.turn == DisputeGame.Side.Executor) executorMove(id, m, t);
            else challengerMove(id, m, t, h);
        }
        revert("the game did not end");
    }

    /// @notice Plays game `id` to its end with the challenger steered at every
    ///         descent: towards trace leaf `leaf`, data chunk `chunk` and checkpoint
    ///         leaf `cp` (`type(uint256).max`: the honest descent there).
    function playSteered(uint256 id, ModelDef memory m, TraceDef memory t, TraceDef memory h, uint256 leaf, uint256 chunk, uint256 cp)
        internal
        returns (DisputeGame.Status)
    {
        _resetPlayed();
        for (uint256 i = 0; i < 512; i++) {
            DisputeGame.Game memory g = game.getGame(id);
            if (g.status != DisputeGame.Status.Open) return g.status;
            vm.warp(vm.getBlockTimestamp() + 7);
            if (g.turn == DisputeGame.Side.Executor) {
                executorMove(id, m, t);
                continue;
            }
            uint256 goal = g.phase == DisputeGame.Phase.Trace ? leaf : g.phase == DisputeGame.Phase.Data ? chunk : cp;
            steer = goal != type(uint256).max
                && (g.phase == DisputeGame.Phase.Trace || g.phase == DisputeGame.Phase.Data || g.phase == DisputeGame.Phase.Reduction);
            if (steer) griefChoice = (goal >> (g.height - _levels(g))) & ((uint256(1) << _levels(g)) - 1);
            challengerMove(id, m, t, h);
            steer = false;
        }
        revert("the game did not end");
    }

    /// @notice Every wei that came in was withdrawn, sent to address(0) or is still
    ///         in the oracle, which holds at least what waits to be burned.
    function assertConserved() internal view {
        assertEq(oracle.totalIn(), oracle.totalOut() + oracle.totalBurned() + address(oracle).balance, "ETH conserved");
        assertGe(address(oracle).balance, oracle.burnPending(), "pending burns are held");
    }

    /// @notice Asserts that settlements set exactly `pending` wei aside to be burned
    ///         and none was sent yet, then burns it: `burn()` sends exactly that to
    ///         address(0) and counts it in `totalBurned`.
    function assertBurns(uint256 pending) internal {
        assertEq(oracle.burnPending(), pending, "wei set aside to be burned");
        assertEq(oracle.totalBurned(), 0, "nothing is sent before burn()");
        uint256 zeroBefore = address(0).balance;
        vm.expectEmit(address(oracle));
        emit InferenceOracle.Burned(pending);
        assertEq(oracle.burn(), pending, "burn() sends what was pending");
        assertEq(address(0).balance - zeroBefore, pending, "sent to address(0)");
        assertEq(oracle.totalBurned(), pending, "and counted as burned");
        assertEq(oracle.burnPending(), 0);
        assertConserved();
    }
}
