// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test, console2} from "forge-std/Test.sol";
import {Vm} from "forge-std/Vm.sol";
import {TensorOpening} from "../src/lib/TensorOpening.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {OneStepVerifier} from "../src/OneStepVerifier.sol";
import {DisputeGame} from "../src/DisputeGame.sol";
import {Kit, Ty, StepDef, Committed, ModelDef, TraceDef} from "./utils/Kit.sol";
import {Ref} from "./utils/Ref.sol";
import {DigitTwins} from "./utils/DigitTwins.sol";

/// @title GasTest
/// @notice The gas table of docs/gas.md: every transaction of the protocol, measured
///         on Solidity-built twins of fixtures/models/digits-{mlp,cnn,resnet} (same
///         shapes and parameters, random weights), with a dispute played to every
///         step of every model.
///
///         How a figure is taken: every protocol contract is `vm.cool`ed right
///         before the call (its storage and account cold, as at the start of a
///         transaction), the call is made from its real sender, and
///         `vm.lastCallGas()` gives its execution gas. The transaction figure adds
///         what a transaction pays on top: 21,000, the calldata (4 gas per zero
///         byte, 16 per other byte) and the EIP-3529 refund cap. Run with
///         `forge test --match-contract GasTest -vv` to print the table.
contract GasTest is Test {
    uint64 internal constant WINDOW = 1 days;
    uint64 internal constant CLOCK = 1 hours;
    uint256 internal constant FEE = 1 ether;
    uint256 internal constant STAKE = 10 ether;
    uint256 internal constant BOND = 2 ether;

    /// @notice The brief's budgets, on transaction gas.
    uint256 internal constant STEP_BUDGET = 1_000_000;
    uint256 internal constant MOVE_BUDGET = 100_000;

    ModelRegistry internal registry;
    InferenceOracle internal oracle;
    OneStepVerifier internal verifier;
    DisputeGame internal game;
    uint256 internal arity;

    address internal requester = makeAddr("requester");
    address internal executor = makeAddr("executor");
    address internal challenger = makeAddr("challenger");

    /// @dev One measured call.
    struct Measured {
        uint256 exec;
        uint256 txGas;
        uint256 calldataBytes;
    }

    /// @dev A model with its request input and honest step outputs.
    struct World {
        string name;
        ModelDef m;
        bytes x;
        bytes[] outs;
        TraceDef h;
    }

    /// @dev Totals of one game.
    struct Played {
        uint256 moves;
        uint256 txGas;
        uint256 maxMove; // largest move other than proveStep
        uint256 proveStep;
        uint256 verifierExec; // OneStepVerifier.evaluate alone, same arguments
        bytes lastRet;
    }

    bytes internal lastReturn;

    // ------------------------------------------------------------- measuring

    function _deploy(uint256 arityLog2) internal {
        arity = arityLog2;
        registry = new ModelRegistry();
        oracle = new InferenceOracle(
            registry,
            InferenceOracle.Config({
                challengeWindow: WINDOW,
                minStake: 1 ether,
                minBond: 1 ether,
                rewardBps: 5000,
                bondBurnBps: 2000,
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
        // address(0) holds ether on every public chain: a burn is not charged the
        // new-account surcharge there, so it is not here either
        vm.deal(address(0), 1);
    }

    /// @dev 21,000 plus the calldata of `data` (Cancun pricing).
    function _intrinsic(bytes memory data) internal pure returns (uint256 g) {
        g = 21_000;
        for (uint256 i = 0; i < data.length; i++) g += data[i] == 0 ? 4 : 16;
    }

    /// @dev Calls `to` from `from` as a fresh transaction would find it; reverts
    ///      with the callee's reason on failure.
    function _measure(address from, address to, uint256 value, bytes memory data) internal returns (Measured memory r) {
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
        uint256 gross = g.gasTotalUsed + _intrinsic(data);
        uint256 refund = g.gasRefunded > 0 ? uint256(uint64(g.gasRefunded)) : 0;
        if (refund > gross / 5) refund = gross / 5;
        r.txGas = gross - refund;
        r.calldataBytes = data.length;
    }

    function _row(string memory what, Measured memory r) internal pure {
        console2.log(
            string.concat("| ", what, " | ", vm.toString(r.txGas), " | ", vm.toString(r.exec), " | ", vm.toString(r.calldataBytes), " |")
        );
    }

    // ---------------------------------------------------------------- models

    /// @dev The two ops no digits model uses on their own, at the largest
    ///      activation shape of the fixtures ([16,8,8]): relu and lut.
    function _extra() internal pure returns (ModelDef memory) {
        StepDef[] memory s = new StepDef[](3);
        Ty memory t = Kit.i8(Kit.s3(16, 8, 8));
        s[0] = Ref.input(Kit.s3(16, 8, 8));
        s[1] = Ref.unary(Ref.RELU, 0, t, Ref.noParams());
        s[2] = Ref.lut(1, t, 402);
        return Ref.build(s);
    }

    function _world(string memory name, ModelDef memory m, uint256 seed) internal pure returns (World memory w) {
        w.name = name;
        w.m = m;
        w.x = Kit.randomI8(seed, Kit.byteLen(m.steps[0].out));
        w.outs = Ref.run(m, w.x);
        Committed[] memory cs = new Committed[](m.stepCount);
        for (uint256 i = 0; i < m.stepCount; i++) cs[i] = Kit.commit(m.steps[i].out, w.outs[i]);
        w.h = Ref.trace(cs);
    }

    /// @dev The element of step `i` a dispute proves: one that opens the most
    ///      chunks (a full conv window whose weight row crosses a chunk boundary, a
    ///      requant row across two chunks), else the last element.
    function _worstElement(ModelDef memory m, uint256 i) internal pure returns (uint256) {
        StepDef memory s = m.steps[i];
        uint256 n = Kit.numel(s.out.shape);
        if (s.op == Ref.CONV2D) {
            uint256 oh = s.out.shape[1];
            uint256 ow = s.out.shape[2];
            uint256 row = uint256(s.wTypes[0].shape[1]) * s.wTypes[0].shape[2] * s.wTypes[0].shape[3];
            // an output channel whose weight row straddles two chunks, else channel 0
            uint256 o;
            for (uint256 c = 0; c < s.out.shape[0]; c++) {
                if ((c * row) / 256 != (c * row + row - 1) / 256) {
                    o = c;
                    break;
                }
            }
            return (o * oh + oh / 2) * ow + ow / 2;
        }
        if (s.op == Ref.LINEAR) {
            uint256 nOut = s.wTypes[0].shape[0];
            for (uint256 c = 0; c < nOut; c++) {
                if ((12 * c) / 256 != (12 * c + 11) / 256) return c; // its (bias, m, s) spans two chunks
            }
            return nOut - 1;
        }
        return n - 1;
    }

    /// @dev The executor's trace: the honest one with element `e` of step `i`
    ///      changed (later steps left honest: the descent only sees leaf `i`).
    function _liar(World memory w, uint256 i, uint256 e) internal pure returns (TraceDef memory t, bytes[] memory outs) {
        outs = new bytes[](w.outs.length);
        for (uint256 k = 0; k < outs.length; k++) outs[k] = w.outs[k];
        outs[i] = bytes.concat(w.outs[i]);
        uint8 dt = w.m.steps[i].out.dtype;
        Kit.set(outs[i], dt, e, Kit.get(outs[i], dt, e) + 1);
        Committed[] memory cs = new Committed[](w.m.stepCount);
        for (uint256 k = 0; k < w.m.stepCount; k++) cs[k] = k == i ? Kit.commit(w.m.steps[i].out, outs[i]) : w.h.steps[k];
        t = Ref.trace(cs);
    }

    // --------------------------------------------------------------- lifecycle

    function _register(World memory w) internal returns (Measured memory r) {
        ModelDef memory m = w.m;
        uint256 last = m.stepCount - 1;
        r = _measure(
            address(this),
            address(registry),
            0,
            abi.encodeCall(
                ModelRegistry.register,
                (m.stepCount, m.specRoot, m.specs[0], Kit.single(m.specLevels, 0), m.specs[last], Kit.single(m.specLevels, last), "ipfs://model")
            )
        );
    }

    function _request(World memory w) internal returns (uint256 id, Measured memory r) {
        r = _measure(requester, address(oracle), FEE, abi.encodeCall(InferenceOracle.request, (w.m.id, w.x, address(0), 0)));
        id = abi.decode(lastReturn, (uint256));
    }

    function _post(uint256 requestId, TraceDef memory t) internal returns (uint256 id, Measured memory r) {
        uint256 last = t.steps.length - 1;
        r = _measure(
            executor,
            address(oracle),
            STAKE,
            abi.encodeCall(
                InferenceOracle.post,
                (requestId, Kit.canonical(t.steps[last]), t.root, uint32(t.steps.length), Kit.single(t.levels, 0), Kit.single(t.levels, last))
            )
        );
        id = abi.decode(lastReturn, (uint256));
    }

    function _challenge(uint256 resultId) internal returns (uint256 id, Measured memory r) {
        r = _measure(challenger, address(game), BOND, abi.encodeCall(DisputeGame.challenge, (resultId)));
        id = abi.decode(lastReturn, (uint256));
    }

    // ------------------------------------------------------------------ games

    function _levels(DisputeGame.Game memory g) internal view returns (uint256) {
        return g.height < arity ? g.height : arity;
    }

    /// @dev The first of `mine` that differs from `honest` (0 if none).
    function _firstDiff(bytes32[] memory mine, bytes32[] memory honest) internal pure returns (uint256) {
        for (uint256 k = 0; k < mine.length; k++) {
            if (mine[k] != honest[k]) return k;
        }
        return 0;
    }

    /// @dev The challenger's one-step proof of element `e` of step `i`.
    function _proveStepCall(World memory w, TraceDef memory t, bytes[] memory outs, uint256 gameId, uint256 i, uint256 e)
        internal
        pure
        returns (bytes memory call, bytes memory evalCall)
    {
        StepDef memory s = w.m.steps[i];
        uint256 perChunk = 256 / Kit.size(s.out.dtype);
        bytes memory chunk = Kit.slice(t.steps[i].padded, (e / perChunk) * 256, 256);
        (uint256[][] memory inDeps, uint256[][] memory wDeps) = Ref.deps(w.m, i, e, outs);
        uint256 n = s.inputs.length;
        bytes32[] memory roots = new bytes32[](n);
        bytes32[][] memory traceProofs = new bytes32[][](n);
        TensorOpening[] memory ins = new TensorOpening[](n);
        for (uint256 j = 0; j < n; j++) {
            Committed memory x = t.steps[s.inputs[j]];
            roots[j] = x.root;
            traceProofs[j] = Kit.single(t.levels, s.inputs[j]);
            ins[j] = Kit.opening(x, inDeps[j]);
        }
        TensorOpening[] memory ws = new TensorOpening[](s.wTypes.length);
        for (uint256 k = 0; k < ws.length; k++) ws[k] = Kit.opening(w.m.weights[i][k], wDeps[k]);
        call = abi.encodeCall(DisputeGame.proveStep, (gameId, e % perChunk, chunk, w.m.specs[i], roots, traceProofs, ins, ws));
        evalCall = abi.encodeCall(OneStepVerifier.evaluate, (w.m.specs[i], e, roots, ins, ws));
    }

    /// @dev One move of the side to move: the executor defends trace `t`, the
    ///      challenger descends towards its first difference from the honest
    ///      trace and proves element `e`.
    function _move(World memory w, TraceDef memory t, bytes[] memory outs, uint256 id, uint256 e, Played memory p)
        internal
        returns (string memory kind, Measured memory r)
    {
        DisputeGame.Game memory g = game.getGame(id);
        uint256 i = g.stepIndex;
        if (g.turn == DisputeGame.Side.Executor) {
            bytes memory call;
            if (g.phase == DisputeGame.Phase.Trace) {
                kind = "revealNodes (trace)";
                call = abi.encodeCall(DisputeGame.revealNodes, (id, Kit.below(t.levels, g.height, g.index, _levels(g))));
            } else if (g.phase == DisputeGame.Phase.Header) {
                kind = "openHeader";
                Committed memory c = t.steps[i];
                call = abi.encodeCall(
                    DisputeGame.openHeader, (id, c.ty.dtype, c.ty.shape, c.root, w.m.specs[i], Kit.single(w.m.specLevels, i))
                );
            } else if (g.phase == DisputeGame.Phase.Data) {
                kind = "revealNodes (data)";
                call = abi.encodeCall(DisputeGame.revealNodes, (id, Kit.below(t.steps[i].levels, g.height, g.index, _levels(g))));
            } else {
                kind = "revealChunk";
                call = abi.encodeCall(DisputeGame.revealChunk, (id, Kit.slice(t.steps[i].padded, uint256(g.index) * 256, 256)));
            }
            r = _measure(g.executor, address(game), 0, call);
        } else if (g.phase == DisputeGame.Phase.OneStep) {
            kind = "proveStep";
            (bytes memory call, bytes memory evalCall) = _proveStepCall(w, t, outs, id, i, e);
            p.verifierExec = _measure(address(this), address(verifier), 0, evalCall).exec;
            r = _measure(g.challenger, address(game), 0, call);
        } else {
            bool inTrace = g.phase == DisputeGame.Phase.Trace;
            kind = inTrace ? "pick (trace)" : "pick (data)";
            bytes32[][] memory mine = inTrace ? t.levels : t.steps[i].levels;
            bytes32[][] memory honest = inTrace ? w.h.levels : w.h.steps[i].levels;
            bytes32[] memory nodes = Kit.below(mine, g.height, g.index, _levels(g));
            uint256 choice = _firstDiff(nodes, Kit.below(honest, g.height, g.index, _levels(g)));
            r = _measure(g.challenger, address(game), 0, abi.encodeCall(DisputeGame.pick, (id, nodes, choice)));
        }
    }

    /// @dev Plays game `id` against the lying trace `t` to its end, printing a row
    ///      per move when `verbose`.
    function _play(World memory w, TraceDef memory t, bytes[] memory outs, uint256 id, uint256 e, bool verbose)
        internal
        returns (Played memory p)
    {
        for (uint256 k = 0; k < 64; k++) {
            if (game.getGame(id).status != DisputeGame.Status.Open) return p;
            vm.warp(vm.getBlockTimestamp() + 12);
            (string memory kind, Measured memory r) = _move(w, t, outs, id, e, p);
            p.moves++;
            p.txGas += r.txGas;
            if (keccak256(bytes(kind)) == keccak256("proveStep")) {
                p.proveStep = r.txGas;
                assertLe(r.txGas, STEP_BUDGET, "one step within budget");
            } else {
                if (r.txGas > p.maxMove) p.maxMove = r.txGas;
                assertLe(r.txGas, MOVE_BUDGET, "a move within budget");
            }
            if (verbose) _row(kind, r);
        }
        revert("the game did not end");
    }

    function _opName(uint8 op) internal pure returns (string memory) {
        string[10] memory names =
            ["input", "linear", "conv2d", "relu", "maxpool2d", "avgpool2d", "add", "lut", "reshape", "argmax"];
        return names[op];
    }

    function _shape(uint32[] memory s) internal pure returns (string memory out) {
        out = "[";
        for (uint256 i = 0; i < s.length; i++) out = string.concat(out, i == 0 ? "" : ",", vm.toString(uint256(s[i])));
        out = string.concat(out, "]");
    }

    /// @dev A dispute on every step of `w`'s model (the executor wrong at one
    ///      element of that step); one row per step.
    function _everyStep(World memory w) internal {
        for (uint256 i = 1; i < w.m.stepCount; i++) {
            uint256 e = _worstElement(w.m, i);
            (TraceDef memory t, bytes[] memory outs) = _liar(w, i, e);
            (uint256 req,) = _request(w);
            (uint256 res,) = _post(req, t);
            (uint256 id,) = _challenge(res);
            Played memory p = _play(w, t, outs, id, e, false);
            assertEq(uint8(game.getGame(id).status), uint8(DisputeGame.Status.ChallengerWon), "fraud is rejected");
            StepDef memory s = w.m.steps[i];
            uint256 nIn = s.inputs.length;
            console2.log(
                string.concat(
                    "| ",
                    w.name,
                    " step ",
                    vm.toString(i),
                    " | ",
                    _opName(s.op),
                    " ",
                    _shape(w.m.steps[s.inputs[0]].out.shape),
                    nIn > 1 ? " + " : "",
                    nIn > 1 ? _shape(w.m.steps[s.inputs[1]].out.shape) : "",
                    " -> ",
                    _shape(s.out.shape),
                    s.wTypes.length > 0 ? string.concat(", W ", _shape(s.wTypes[0].shape)) : "",
                    " | ",
                    vm.toString(p.proveStep),
                    " | ",
                    vm.toString(p.verifierExec),
                    " | ",
                    vm.toString(p.moves),
                    " | ",
                    vm.toString(p.maxMove),
                    " | ",
                    vm.toString(p.txGas),
                    " |"
                )
            );
        }
    }

    // ------------------------------------------------------------------ tests

    /// @notice Register, request, post, challenge, finalize, withdraw, refund, and
    ///         a whole dispute move by move, on the three digits models.
    function test_gasOfTheLifecycleAndOneDispute() public {
        _deploy(1);
        World[3] memory ws =
            [_world("digits-mlp", DigitTwins.mlp(100), 1), _world("digits-cnn", DigitTwins.cnn(200), 2), _world("digits-resnet", DigitTwins.resnet(300), 3)];
        console2.log("| transaction | tx gas | execution | calldata bytes |");
        console2.log("|---|---:|---:|---:|");
        for (uint256 k = 0; k < 3; k++) {
            World memory w = ws[k];
            _row(string.concat("register (", w.name, ", ", vm.toString(uint256(w.m.stepCount)), " steps)"), _register(w));
            (uint256 req, Measured memory r) = _request(w);
            _row(string.concat("request (", w.name, ", ", vm.toString(w.x.length), "-byte input)"), r);
            uint256 res;
            (res, r) = _post(req, w.h);
            _row(string.concat("post (", w.name, ", height-", vm.toString(w.h.levels.length - 1), " trace)"), r);
            vm.warp(vm.getBlockTimestamp() + WINDOW);
            _row("finalize (no callback)", _measure(address(this), address(oracle), 0, abi.encodeCall(InferenceOracle.finalize, (res))));
        }
        _row("withdraw", _measure(executor, address(oracle), 0, abi.encodeCall(InferenceOracle.withdraw, ())));
        (uint256 unserved,) = _request(ws[0]);
        vm.warp(vm.getBlockTimestamp() + 1 hours + 1);
        _row("refund", _measure(address(this), address(oracle), 0, abi.encodeCall(InferenceOracle.refund, (unserved))));

        // a timeout: the executor never moves
        World memory cnn = ws[1];
        (TraceDef memory t, bytes[] memory outs) = _liar(cnn, 3, _worstElement(cnn.m, 3));
        (uint256 req2,) = _request(cnn);
        (uint256 res2,) = _post(req2, t);
        Measured memory c;
        uint256 id;
        (id, c) = _challenge(res2);
        _row("challenge (first game on a result)", c);
        uint256 second;
        (second, c) = _challenge(res2);
        _row("challenge (another game on the same result)", c);
        vm.warp(vm.getBlockTimestamp() + CLOCK + 1);
        _row("timeout (executor silent: result rejected)", _measure(address(this), address(game), 0, abi.encodeCall(DisputeGame.timeout, (id))));
        _row("settleMoot (a parallel game)", _measure(address(this), address(game), 0, abi.encodeCall(DisputeGame.settleMoot, (second))));

        // a timeout of the challenger on an honest result
        (uint256 req3,) = _request(cnn);
        (uint256 res3,) = _post(req3, cnn.h);
        (id,) = _challenge(res3);
        vm.warp(vm.getBlockTimestamp() + 12);
        vm.prank(executor);
        game.revealNodes(id, Kit.below(cnn.h.levels, 3, 0, 1));
        vm.warp(vm.getBlockTimestamp() + CLOCK + 1);
        _row("timeout (challenger silent: bond to the executor)", _measure(address(this), address(game), 0, abi.encodeCall(DisputeGame.timeout, (id))));

        // one whole dispute, move by move: resnet's largest conv, arity 1
        World memory rn = ws[2];
        uint256 e = _worstElement(rn.m, 2);
        (t, outs) = _liar(rn, 2, e);
        (uint256 req4,) = _request(rn);
        (uint256 res4,) = _post(req4, t);
        (id,) = _challenge(res4);
        console2.log("");
        console2.log("| move (digits-resnet, wrong element in step 2, arity 1) | tx gas | execution | calldata bytes |");
        console2.log("|---|---:|---:|---:|");
        Played memory p = _play(rn, t, outs, id, e, true);
        console2.log(string.concat("| whole dispute: ", vm.toString(p.moves), " moves | ", vm.toString(p.txGas), " | | |"));
    }

    /// @dev Disputes on every step of model `which` (0 mlp, 1 cnn, 2 resnet, 3 relu
    ///      and lut at the largest activation shape) with `arityLog2`.
    function _gasOfEveryStep(uint256 which, uint256 arityLog2) internal {
        _deploy(arityLog2);
        World memory w;
        if (which == 0) w = _world("digits-mlp", DigitTwins.mlp(100), 1);
        else if (which == 1) w = _world("digits-cnn", DigitTwins.cnn(200), 2);
        else if (which == 2) w = _world("digits-resnet", DigitTwins.resnet(300), 3);
        else w = _world("relu+lut", _extra(), 4);
        _register(w);
        console2.log(string.concat("arityLog2 = ", vm.toString(arityLog2)));
        console2.log("| step | op and shapes | proveStep tx gas | of which evaluate | moves | largest other move | whole dispute |");
        console2.log("|---|---|---:|---:|---:|---:|---:|");
        _everyStep(w);
    }

    /// @notice One-step proofs of every step of digits-mlp, and whole disputes.
    function test_gasOfEveryStep_mlp() public {
        _gasOfEveryStep(0, 1);
        _gasOfEveryStep(0, 2);
    }

    /// @notice One-step proofs of every step of digits-cnn, and whole disputes.
    function test_gasOfEveryStep_cnn() public {
        _gasOfEveryStep(1, 1);
        _gasOfEveryStep(1, 2);
    }

    /// @notice One-step proofs of every step of digits-resnet, and whole disputes.
    function test_gasOfEveryStep_resnet() public {
        _gasOfEveryStep(2, 1);
        _gasOfEveryStep(2, 2);
        _gasOfEveryStep(2, 4);
    }

    /// @notice relu and lut on their own at [16,8,8].
    function test_gasOfEveryStep_reluLut() public {
        _gasOfEveryStep(3, 1);
    }
}
