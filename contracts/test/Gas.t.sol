// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {console2} from "forge-std/console2.sol";
import {ChunkRange} from "../src/lib/ChunkRange.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {OneStepVerifier} from "../src/OneStepVerifier.sol";
import {DisputeGame} from "../src/DisputeGame.sol";
import {Kit, Ty, StepDef, Committed, ModelDef, TraceDef} from "./utils/Kit.sol";
import {Ref} from "./utils/Ref.sol";
import {GameKit} from "./utils/GameKit.sol";
import {DigitTwins} from "./utils/DigitTwins.sol";

/// @title GasTest
/// @notice The gas tables of docs/gas.md: every transaction of the protocol, measured
///         on Solidity-built twins of fixtures/models/digits-{mlp,cnn,resnet} (same
///         shapes and parameters, random weights), with a dispute played to every
///         step of every model, and the verifier's gas per multiply-add.
///
///         How a figure is taken: every protocol contract is `vm.cool`ed right
///         before the call (its storage and account cold, as at the start of a
///         transaction), the call is made from its real sender, and
///         `vm.lastCallGas()` gives its execution gas. The transaction figure adds
///         what a transaction pays on top: 21,000, the calldata (4 gas per zero
///         byte, 16 per other byte) and the EIP-3529 refund cap (GameKit.measure).
///         Run with `forge test --match-contract GasTest -vv` to print the tables.
contract GasTest is GameKit {
    /// @notice The budgets, on transaction gas.
    uint256 internal constant STEP_BUDGET = 300_000;
    uint256 internal constant MOVE_BUDGET = 100_000;
    uint256 internal constant DISPUTE_BUDGET = 2_000_000;

    /// @dev A model with its request input and honest step outputs.
    struct World {
        string name;
        ModelDef m;
        bytes x;
        bytes[] outs;
        TraceDef h;
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
        for (uint256 i = 0; i < m.stepCount; i++) {
            cs[i] = Kit.commit(m.steps[i].out, w.outs[i]);
        }
        w.h = Ref.trace(cs);
    }

    function _which(uint256 which) internal pure returns (World memory) {
        if (which == 0) return _world("digits-mlp", DigitTwins.mlp(100), 1);
        if (which == 1) return _world("digits-cnn", DigitTwins.cnn(200), 2);
        if (which == 2) return _world("digits-resnet", DigitTwins.resnet(300), 3);
        return _world("relu+lut", _extra(), 4);
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
            uint256 rowLen = uint256(s.wTypes[0].shape[1]) * s.wTypes[0].shape[2] * s.wTypes[0].shape[3];
            // an output channel whose weight row straddles two chunks, else channel 0
            uint256 o;
            for (uint256 c = 0; c < s.out.shape[0]; c++) {
                if ((c * rowLen) / 256 != (c * rowLen + rowLen - 1) / 256) {
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
    function _liar(World memory w, uint256 i, uint256 e) internal pure returns (TraceDef memory t) {
        bytes memory out = bytes.concat(w.outs[i]);
        uint8 dt = w.m.steps[i].out.dtype;
        Kit.set(out, dt, e, Kit.get(out, dt, e) + 1);
        Committed[] memory cs = new Committed[](w.m.stepCount);
        for (uint256 k = 0; k < w.m.stepCount; k++) {
            cs[k] = k == i ? Kit.commit(w.m.steps[i].out, out) : w.h.steps[k];
        }
        t = Ref.trace(cs);
    }

    // --------------------------------------------------------------- lifecycle

    function _register(World memory w) internal returns (Measured memory r) {
        ModelDef memory m = w.m;
        uint256 last = m.stepCount - 1;
        r = measure(
            address(this),
            address(registry),
            0,
            abi.encodeCall(
                ModelRegistry.register,
                (m.stepCount, m.specRoot, m.specs[0], Kit.single(m.specTree, 0), m.specs[last], Kit.single(m.specTree, last), "ipfs://model")
            )
        );
    }

    function _request(World memory w) internal returns (uint256 id, Measured memory r) {
        r = measure(requester, address(oracle), FEE, abi.encodeCall(InferenceOracle.request, (w.m.id, w.x, address(0), 0)));
        id = abi.decode(lastReturn, (uint256));
    }

    function _post(uint256 requestId, TraceDef memory t) internal returns (uint256 id, Measured memory r) {
        uint256 last = t.steps.length - 1;
        r = measure(
            executor,
            address(oracle),
            STAKE,
            abi.encodeCall(
                InferenceOracle.post,
                (requestId, Kit.canonical(t.steps[last]), t.root, uint32(t.steps.length), Kit.single(t.tree, 0), Kit.single(t.tree, last))
            )
        );
        id = abi.decode(lastReturn, (uint256));
    }

    function _challenge(uint256 resultId) internal returns (uint256 id, Measured memory r) {
        r = measure(challenger, address(game), BOND, abi.encodeCall(DisputeGame.challenge, (resultId)));
        id = abi.decode(lastReturn, (uint256));
    }

    // ------------------------------------------------------------------ games

    /// @dev A game against the liar at element `e` of step `i`, played to its end;
    ///      the budgets are asserted on every move.
    function _dispute(World memory w, uint256 i, uint256 e) internal returns (Played memory p) {
        TraceDef memory t = _liar(w, i, e);
        (uint256 req,) = _request(w);
        (uint256 res,) = _post(req, t);
        (uint256 id,) = _challenge(res);
        play(id, w.m, t, w.h);
        assertEq(uint8(game.getGame(id).status), uint8(DisputeGame.Status.ChallengerWon), "fraud is rejected");
        p = played;
        assertLe(p.oneStep, STEP_BUDGET, "one step within budget");
        assertLe(p.maxOther, MOVE_BUDGET, string.concat("a move within budget: ", p.maxOtherKind));
        assertLe(p.txGas, DISPUTE_BUDGET, "a whole dispute within budget");
    }

    function _opName(uint8 op) internal pure returns (string memory) {
        string[10] memory names = ["input", "linear", "conv2d", "relu", "maxpool2d", "avgpool2d", "add", "lut", "reshape", "argmax"];
        return names[op];
    }

    function _shape(uint32[] memory s) internal pure returns (string memory out) {
        out = "[";
        for (uint256 i = 0; i < s.length; i++) {
            out = string.concat(out, i == 0 ? "" : ",", vm.toString(uint256(s[i])));
        }
        out = string.concat(out, "]");
    }

    /// @dev "op [in] -> [out], W [w]" for step `i`.
    function _label(ModelDef memory m, uint256 i) internal pure returns (string memory) {
        StepDef memory s = m.steps[i];
        uint256 nIn = s.inputs.length;
        return string.concat(
            _opName(s.op),
            " ",
            _shape(m.steps[s.inputs[0]].out.shape),
            nIn > 1 ? " + " : "",
            nIn > 1 ? _shape(m.steps[s.inputs[1]].out.shape) : "",
            " -> ",
            _shape(s.out.shape),
            s.wTypes.length > 0 ? string.concat(", W ", _shape(s.wTypes[0].shape)) : ""
        );
    }

    /// @dev A dispute on every step of `w`'s model (the executor wrong at one
    ///      element of that step); one row per step. Returns moves and gas per step.
    function _everyStep(World memory w) internal returns (uint256[] memory moves, uint256[] memory total) {
        moves = new uint256[](w.m.stepCount);
        total = new uint256[](w.m.stepCount);
        measureEvaluate = true;
        for (uint256 i = 1; i < w.m.stepCount; i++) {
            Played memory p = _dispute(w, i, _worstElement(w.m, i));
            (moves[i], total[i]) = (p.moves, p.txGas);
            uint256 n = Ref.blocks(w.m.steps[i], Ref.inputTypes(w.m, i));
            console2.log(
                string.concat(
                    "| ",
                    w.name,
                    " ",
                    vm.toString(i),
                    " | ",
                    _label(w.m, i),
                    " | ",
                    vm.toString(n),
                    " | ",
                    p.oneStepKind,
                    " ",
                    vm.toString(p.oneStep),
                    " | ",
                    vm.toString(p.evaluateExec),
                    " | ",
                    vm.toString(p.moves),
                    " | ",
                    vm.toString(p.maxOther),
                    " (",
                    p.maxOtherKind,
                    ") | ",
                    vm.toString(p.txGas),
                    " |"
                )
            );
        }
        measureEvaluate = false;
    }

    // ------------------------------------------------------------------ tests

    /// @notice Register, request, post, challenge, finalize, withdraw, refund, and
    ///         a whole dispute move by move, on the three digits models.
    function test_gasOfTheLifecycleAndOneDispute() public {
        deploy(1);
        World[3] memory ws = [_which(0), _which(1), _which(2)];
        console2.log("| transaction | tx gas | execution | calldata bytes |");
        console2.log("|---|---:|---:|---:|");
        for (uint256 k = 0; k < 3; k++) {
            World memory w = ws[k];
            row(string.concat("register (", w.name, ", ", vm.toString(uint256(w.m.stepCount)), " steps)"), _register(w));
            (uint256 req, Measured memory r) = _request(w);
            row(string.concat("request (", w.name, ", ", vm.toString(w.x.length), "-byte input)"), r);
            uint256 res;
            (res, r) = _post(req, w.h);
            row(string.concat("post (", w.name, ", height-", vm.toString(w.h.tree.height), " trace)"), r);
            vm.warp(vm.getBlockTimestamp() + WINDOW);
            row("finalize (no callback)", measure(address(this), address(oracle), 0, abi.encodeCall(InferenceOracle.finalize, (res))));
        }
        row("withdraw", measure(executor, address(oracle), 0, abi.encodeCall(InferenceOracle.withdraw, ())));
        (uint256 unserved,) = _request(ws[0]);
        vm.warp(vm.getBlockTimestamp() + 1 hours + 1);
        row("refund (request nobody served)", measure(address(this), address(oracle), 0, abi.encodeCall(InferenceOracle.refund, (unserved))));

        // a timeout: the executor never moves
        World memory cnn = ws[1];
        TraceDef memory t = _liar(cnn, 3, _worstElement(cnn.m, 3));
        (uint256 req2,) = _request(cnn);
        (uint256 res2,) = _post(req2, t);
        Measured memory c;
        uint256 id;
        (id, c) = _challenge(res2);
        row("challenge (first game on a result)", c);
        uint256 second;
        (second, c) = _challenge(res2);
        row("challenge (another game on the same result)", c);
        vm.warp(vm.getBlockTimestamp() + CLOCK + 1);
        row("timeout (executor silent: result rejected)", measure(address(this), address(game), 0, abi.encodeCall(DisputeGame.timeout, (id))));
        row(
            "settleMoot (a parallel game after the result was decided)",
            measure(address(this), address(game), 0, abi.encodeCall(DisputeGame.settleMoot, (second)))
        );

        // a timeout of the challenger on an honest result
        (uint256 req3,) = _request(cnn);
        (uint256 res3,) = _post(req3, cnn.h);
        (id,) = _challenge(res3);
        vm.warp(vm.getBlockTimestamp() + 12);
        vm.prank(executor);
        game.revealNodes(id, Kit.below(cnn.h.tree, 3, 0, 1));
        vm.warp(vm.getBlockTimestamp() + CLOCK + 1);
        row("timeout (challenger silent: bond to the executor)", measure(address(this), address(game), 0, abi.encodeCall(DisputeGame.timeout, (id))));

        // one whole dispute, move by move: resnet's largest conv (two blocks: the
        // reduction descent), arity 2
        World memory rn = ws[2];
        console2.log("");
        console2.log("| move (digits-resnet, wrong element in step 2, arity 2) | tx gas | execution | calldata bytes |");
        console2.log("|---|---:|---:|---:|");
        logMoves = true;
        Played memory p = _dispute(rn, 2, _worstElement(rn.m, 2));
        logMoves = false;
        console2.log(string.concat("| whole dispute: ", vm.toString(p.moves), " moves | ", vm.toString(p.txGas), " | | |"));
    }

    /// @dev Disputes on every step of model `which` (0 mlp, 1 cnn, 2 resnet, 3 relu
    ///      and lut at the largest activation shape) with `arityLog2`.
    function _gasOfEveryStep(uint256 which, uint256 arityLog2) internal returns (uint256[] memory, uint256[] memory) {
        deploy(arityLog2);
        World memory w = _which(which);
        _register(w);
        console2.log(string.concat("arityLog2 = ", vm.toString(arityLog2)));
        console2.log("| step | op and shapes | blocks | one step tx gas | of which evaluate | moves | largest other move | whole dispute |");
        console2.log("|---|---|---:|---:|---:|---:|---:|---:|");
        return _everyStep(w);
    }

    /// @notice One-step proofs of every step of digits-mlp, and whole disputes.
    function test_gasOfEveryStep_mlp() public {
        _gasOfEveryStep(0, 1);
    }

    /// @notice One-step proofs of every step of digits-cnn, and whole disputes.
    function test_gasOfEveryStep_cnn() public {
        _gasOfEveryStep(1, 1);
    }

    /// @notice One-step proofs of every step of digits-resnet, and whole disputes,
    ///         at arity 2, 4 and 16.
    function test_gasOfEveryStep_resnet() public {
        (uint256[] memory m1, uint256[] memory g1) = _gasOfEveryStep(2, 1);
        (uint256[] memory m2, uint256[] memory g2) = _gasOfEveryStep(2, 2);
        (uint256[] memory m4, uint256[] memory g4) = _gasOfEveryStep(2, 4);
        console2.log("");
        console2.log("| step | arity 2: moves / whole dispute | arity 4 | arity 16 |");
        console2.log("|---|---:|---:|---:|");
        uint256[3] memory steps = [uint256(2), 4, 8];
        string[3] memory names = ["2 (conv2d, the largest)", "4 (add)", "8 (argmax)"];
        for (uint256 k = 0; k < 3; k++) {
            uint256 i = steps[k];
            console2.log(
                string.concat(
                    "| ",
                    names[k],
                    " | ",
                    string.concat(vm.toString(m1[i]), " / ", vm.toString(g1[i])),
                    " | ",
                    string.concat(vm.toString(m2[i]), " / ", vm.toString(g2[i])),
                    " | ",
                    string.concat(vm.toString(m4[i]), " / ", vm.toString(g4[i])),
                    " |"
                )
            );
        }
    }

    /// @notice relu and lut on their own at [16,8,8].
    function test_gasOfEveryStep_reluLut() public {
        _gasOfEveryStep(3, 1);
    }

    // ------------------------------------------------------ deciding moves

    /// @dev Plays game `id` with the challenger steered towards trace leaf `leaf`
    ///      and chunk `chunk` (the honest descent elsewhere); returns when it ends.
    function _steered(uint256 id, World memory w, TraceDef memory t, uint256 leaf, uint256 chunk) internal {
        _resetPlayed();
        steer = true;
        for (uint256 i = 0; i < 64; i++) {
            DisputeGame.Game memory g = game.getGame(id);
            if (g.status != DisputeGame.Status.Open) break;
            vm.warp(vm.getBlockTimestamp() + 12);
            if (g.turn == DisputeGame.Side.Executor) {
                executorMove(id, w.m, t);
                continue;
            }
            uint256 levels = _levels(g);
            uint256 goal = g.phase == DisputeGame.Phase.Trace ? leaf : chunk;
            griefChoice = (goal >> (g.height - levels)) & ((uint256(1) << levels) - 1);
            challengerMove(id, w.m, t, w.h);
        }
        steer = false;
        require(game.getGame(id).status != DisputeGame.Status.Open, "the game did not end");
    }

    /// @dev A game on trace `t` of `w`, steered to (`leaf`, `chunk`); one row for
    ///      the move that ended it.
    function _decided(string memory what, World memory w, TraceDef memory t, uint256 leaf, uint256 chunk, DisputeGame.Status want) internal {
        (uint256 req,) = _request(w);
        (uint256 res,) = _post(req, t);
        (uint256 id,) = _challenge(res);
        _steered(id, w, t, leaf, chunk);
        assertEq(uint8(game.getGame(id).status), uint8(want), what);
        row(string.concat(lastKind, ": ", what), lastMove);
    }

    /// @notice The moves that end a game before the one step: each pays the
    ///         oracle's settlement (crediting the winner, burning a share).
    function test_gasOfTheMovesThatEndAGame() public {
        deploy(1);
        World memory cnn = _which(1);
        _register(cnn);
        console2.log("| move that ends the game (digits-cnn, arity 2) | tx gas | execution | calldata bytes |");
        console2.log("|---|---:|---:|---:|");
        _decided("the input leaf (executor wins)", cnn, cnn.h, 0, 0, DisputeGame.Status.ExecutorWon);
        _decided("a zero padding trace leaf (executor wins)", cnn, cnn.h, 7, 0, DisputeGame.Status.ExecutorWon);
        // step 4 (reshape [64]) committed as [16, 4]
        Committed[] memory cs = new Committed[](cnn.m.stepCount);
        for (uint256 i = 0; i < cs.length; i++) {
            cs[i] = cnn.h.steps[i];
        }
        cs[4] = Kit.commit(Kit.i8(Kit.s2(16, 4)), cnn.outs[4]);
        _decided("a header of the wrong shape (challenger wins)", cnn, Ref.trace(cs), 4, 0, DisputeGame.Status.ChallengerWon);
        // step 2 (maxpool [8,4,4]: 128 bytes) with a byte set past its end
        bytes memory padded = bytes.concat(cnn.h.steps[2].padded);
        padded[200] = 0x01;
        cs[4] = cnn.h.steps[4];
        cs[2] = Kit.commitPadded(cnn.h.steps[2].ty, padded);
        _decided("a chunk with a byte past the end (challenger wins)", cnn, Ref.trace(cs), 2, 0, DisputeGame.Status.ChallengerWon);
    }

    // ------------------------------------------------------- multiply-adds

    /// @dev `evaluate`'s execution gas on element 0 of a linear step x [p, k] ->
    ///      [p, n], W [n, k], every chunk of x and W opened (the same 2 + 2 chunks
    ///      whatever k, so only the reduction's length differs).
    function _linearGas(uint32 p, uint32 k, uint32 n) internal returns (uint256) {
        Ty memory xt = Kit.i8(Kit.s2(p, k));
        StepDef memory s = Ref.linear(0, xt, n, false, 9);
        StepDef[] memory all = new StepDef[](2);
        all[0] = Ref.input(xt.shape);
        all[1] = s;
        Committed memory x = Kit.commit(xt, Kit.randomI8(10, uint256(p) * k));
        Committed[] memory ws = new Committed[](2);
        ws[0] = Kit.commit(s.wTypes[0], s.wData[0]);
        ws[1] = Kit.commit(s.wTypes[1], s.wData[1]);
        bytes32[] memory roots = new bytes32[](1);
        roots[0] = x.root;
        ChunkRange[] memory ri = new ChunkRange[](1);
        ri[0] = Kit.chunks(x, 0, 2);
        ChunkRange[] memory rw = new ChunkRange[](2);
        rw[0] = Kit.chunks(ws[0], 0, 2);
        rw[1] = Kit.chunks(ws[1], 0, 1);
        bytes memory call = abi.encodeCall(OneStepVerifier.evaluate, (Ref.encSpec(s, ws, all), 0, 0, "", roots, ri, rw));
        return measure(address(this), address(verifier), 0, call).exec;
    }

    /// @notice The verifier's gas per multiply-add: `evaluate` on a linear block of
    ///         512 terms against one of 64, with the same chunks opened; the
    ///         difference over the 448 extra terms. The target is 40 gas.
    function test_gasPerMultiplyAdd() public {
        deploy(1);
        uint256 g512 = _linearGas(1, 512, 1);
        uint256 g64 = _linearGas(8, 64, 8);
        uint256 perMac = (g512 - g64) / 448;
        console2.log("| evaluate, linear block | execution gas |");
        console2.log("|---|---:|");
        console2.log(string.concat("| 512 terms (x [1,512], W [1,512]) | ", vm.toString(g512), " |"));
        console2.log(string.concat("| 64 terms (x [8,64], W [8,64]) | ", vm.toString(g64), " |"));
        console2.log(string.concat("| marginal gas per multiply-add | ", vm.toString(perMac), ".", vm.toString(((g512 - g64) * 10 / 448) % 10), " |"));
        assertLe(perMac, 40, "at most 40 gas a multiply-add");
    }
}
