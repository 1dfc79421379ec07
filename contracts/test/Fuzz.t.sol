// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {Commitments} from "../src/lib/Commitments.sol";
import {ChunkRange, ChunkRanges} from "../src/lib/ChunkRange.sol";
import {OneStepVerifier} from "../src/OneStepVerifier.sol";
import {LibHarness} from "./Vectors.t.sol";
import {Kit, Ty, StepDef, Committed, ModelDef, Tree} from "./utils/Kit.sol";
import {Ref, Fold} from "./utils/Ref.sol";

/// @notice Random trees and subsets against the multiproof verifier, random chunk
///         ranges against the range verifier, and random steps of every op, of
///         one block or many, against Ref: the verifier must agree with Ref's fold
///         on every block of an element (the state after it, or the element at the
///         last), starting from Ref's state before it, and Ref's fold must agree
///         with Ref's whole-tensor reference.
contract FuzzTest is Test {
    LibHarness lib;
    OneStepVerifier verifier;

    function setUp() public {
        lib = new LibHarness();
        verifier = new OneStepVerifier();
    }

    // ------------------------------------------------------------------ Merkle

    function _leaves(uint256 seed, uint256 n) internal pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            leaves[i] = keccak256(abi.encode(seed, i));
        }
    }

    function testFuzz_multiproofsVerifyAndTamperingFails(uint256 seed, uint8 count, uint64 mask, bool trace) public view {
        uint256 n = bound(count, 1, 40);
        uint8 tag = trace ? Commitments.TRACE_NODE : Commitments.SPEC_NODE;
        Tree memory t = Kit.tree(tag, _leaves(seed, n), bytes32(0));
        uint256 h = t.height;
        uint256 width = 1 << h;
        uint256 chosen;
        uint256[] memory tmp = new uint256[](width);
        for (uint256 i = 0; i < width; i++) {
            if ((mask >> (i % 64)) & 1 == 1) tmp[chosen++] = i;
        }
        if (chosen == 0) tmp[chosen++] = seed % width;
        uint256[] memory idx = new uint256[](chosen);
        bytes32[] memory vals = new bytes32[](chosen);
        for (uint256 i = 0; i < chosen; i++) {
            idx[i] = tmp[i];
            vals[i] = Kit.nodeAt(t, 0, tmp[i]);
        }
        bytes32[] memory proof = Kit.multi(t, idx);
        bytes32 root = Kit.rootOf(t);
        assertEq(lib.multiRoot(tag, h, _copy(idx), _copyH(vals), proof), root);
        if (chosen == 1) assertEq(lib.singleRoot(tag, h, idx[0], vals[0], proof), root);
        // another leaf value, or another tree kind, misses the root
        bytes32[] memory bad = _copyH(vals);
        bad[seed % chosen] = bytes32(uint256(bad[seed % chosen]) ^ 1);
        assertTrue(lib.multiRoot(tag, h, _copy(idx), bad, proof) != root);
        if (h > 0) assertTrue(lib.multiRoot(trace ? Commitments.SPEC_NODE : Commitments.TRACE_NODE, h, _copy(idx), _copyH(vals), proof) != root);
        if (proof.length > 0) {
            proof[seed % proof.length] = bytes32(uint256(proof[seed % proof.length]) ^ 1);
            assertTrue(lib.multiRoot(tag, h, _copy(idx), _copyH(vals), proof) != root);
        }
    }

    /// `height` is ceil(log2(n)), 0 for n <= 1.
    function testFuzz_height(uint256 n) public pure {
        uint256 h;
        while (h < 256 && (uint256(1) << h) < n) h++;
        assertEq(Commitments.height(n), h);
        assertEq(Commitments.height(1 << (n % 256)), n % 256);
        assertEq(Commitments.height((1 << (n % 255)) + 1), n % 255 + 1);
    }

    function test_malformedMultiproofsRevert() public {
        uint256[] memory idx = new uint256[](2);
        idx[0] = 1;
        idx[1] = 0;
        bytes32[] memory vals = new bytes32[](2);
        vm.expectRevert(Commitments.UnsortedIndices.selector);
        lib.multiRoot(1, 1, idx, vals, new bytes32[](0));
        idx[0] = 0;
        idx[1] = 2;
        vm.expectRevert(Commitments.IndexOutOfRange.selector);
        lib.multiRoot(1, 1, idx, vals, new bytes32[](0));
        vm.expectRevert(Commitments.EmptyProof.selector);
        lib.multiRoot(1, 1, new uint256[](0), new bytes32[](0), new bytes32[](0));
        idx[1] = 1;
        vm.expectRevert(Commitments.ProofLength.selector);
        lib.multiRoot(1, 1, idx, vals, new bytes32[](1));
    }

    function _copy(uint256[] memory a) internal pure returns (uint256[] memory b) {
        b = new uint256[](a.length);
        for (uint256 i = 0; i < a.length; i++) {
            b[i] = a[i];
        }
    }

    function _copyH(bytes32[] memory a) internal pure returns (bytes32[] memory b) {
        b = new bytes32[](a.length);
        for (uint256 i = 0; i < a.length; i++) {
            b[i] = a[i];
        }
    }

    /// A chunk range rebuilds the root with the general multiproof's siblings (the
    /// in-place verifier and the general one agree), and any change misses it.
    function testFuzz_chunkRangesVerifyAndTamperingFails(uint256 seed, uint16 chunksIn, uint16 firstIn, uint8 countIn) public view {
        uint256 n = bound(chunksIn, 1, 70);
        bytes memory data = Kit.randomI8(seed, n * 256 - seed % 200);
        Committed memory c = Kit.commit(Kit.i8(Kit.s1(uint32(data.length))), data);
        uint256 width = uint256(1) << c.tree.height;
        uint256 first = bound(firstIn, 0, width - 1);
        uint256 count = bound(countIn, 1, width - first);
        ChunkRange memory r = Kit.chunks(c, first, first + count);
        assertEq(lib.rangeRoot(r, c.tree.height), c.root, "range root");
        uint256[] memory idx = new uint256[](count);
        bytes32[] memory leaves = new bytes32[](count);
        for (uint256 i = 0; i < count; i++) {
            idx[i] = first + i;
            leaves[i] = Kit.nodeAt(c.tree, 0, first + i);
        }
        assertEq(lib.multiRoot(Commitments.DATA_NODE, c.tree.height, idx, leaves, r.proof), c.root, "the general multiproof");
        assertLe(r.proof.length, 2 * c.tree.height, "at most two siblings a level");
        // a changed byte or sibling misses the root
        bytes memory chunks = bytes.concat(r.chunks);
        chunks[seed % chunks.length] = bytes1(uint8(chunks[seed % chunks.length]) ^ 0x10);
        assertTrue(lib.rangeRoot(ChunkRange(first, chunks, r.proof), c.tree.height) != c.root, "a changed byte");
        if (r.proof.length > 0) {
            bytes32[] memory p = _copyH(r.proof);
            p[seed % p.length] = bytes32(uint256(p[seed % p.length]) ^ 1);
            assertTrue(lib.rangeRoot(ChunkRange(first, r.chunks, p), c.tree.height) != c.root, "a changed sibling");
        }
        // the same chunks named one further along miss it, or need other siblings
        // (unless the chunks there are the same bytes: padding chunks, say)
        if (first + count < width && keccak256(Kit.chunks(c, first + 1, first + 1 + count).chunks) != keccak256(r.chunks)) {
            try lib.rangeRoot(ChunkRange(first + 1, r.chunks, r.proof), c.tree.height) returns (bytes32 other) {
                assertTrue(other != c.root, "a shifted range");
            } catch (bytes memory err) {
                assertEq(bytes4(err), ChunkRanges.RangeProofLength.selector, "a shifted range");
            }
        }
    }

    function test_malformedChunkRangesRevert() public {
        Committed memory c = Kit.commit(Kit.i8(Kit.s1(1000)), Kit.randomI8(3, 1000));
        ChunkRange memory r = Kit.chunks(c, 1, 3);
        assertEq(lib.rangeRoot(r, 2), c.root);
        vm.expectRevert(ChunkRanges.RangeLength.selector);
        lib.rangeRoot(ChunkRange(1, new bytes(0), r.proof), 2);
        vm.expectRevert(ChunkRanges.RangeLength.selector);
        lib.rangeRoot(ChunkRange(1, new bytes(300), r.proof), 2);
        vm.expectRevert(ChunkRanges.RangePastTree.selector);
        lib.rangeRoot(ChunkRange(3, r.chunks, r.proof), 2);
        vm.expectRevert(ChunkRanges.RangePastTree.selector);
        lib.rangeRoot(ChunkRange(type(uint256).max, r.chunks, r.proof), 2);
        vm.expectRevert(ChunkRanges.RangeProofLength.selector);
        lib.rangeRoot(ChunkRange(1, r.chunks, new bytes32[](3)), 2);
        vm.expectRevert(ChunkRanges.RangeProofLength.selector);
        lib.rangeRoot(ChunkRange(1, r.chunks, new bytes32[](1)), 2);
    }

    // --------------------------------------------------------------------- ops

    /// @dev int8 bytes drawn towards the edges: -128, 127 and 0 each one time in
    ///      eight, otherwise uniform.
    function _edgy(uint256 seed, uint256 n) internal pure returns (bytes memory b) {
        b = new bytes(n);
        for (uint256 i = 0; i < n; i++) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint256 k = r % 8;
            b[i] = k == 0 ? bytes1(0x80) : k == 1 ? bytes1(0x7f) : k == 2 ? bytes1(0) : bytes1(uint8(r >> 8));
        }
    }

    /// @dev A requant table int32 [n, 3]: biases up to ±`biasRange`, shifts in [1, 40]
    ///      and multipliers in [0, 2^31): many outputs saturate at -128 or 127.
    function _table(uint256 seed, uint256 n, uint256 biasRange) internal pure returns (bytes memory q) {
        q = new bytes(12 * n);
        for (uint256 i = 0; i < n; i++) {
            uint256 r = uint256(keccak256(abi.encode(seed, i, "q")));
            Kit.set(q, 2, 3 * i, int256(r % (2 * biasRange + 1)) - int256(biasRange));
            Kit.set(q, 2, 3 * i + 1, (r >> 64) % 16 == 0 ? int256(0) : int256((r >> 72) % (1 << 31)));
            Kit.set(q, 2, 3 * i + 2, int256(1 + (r >> 128) % 40));
        }
    }

    /// @dev One step to check: its def, its input types and bytes.
    struct Case {
        StepDef s;
        Ty[] ins;
        bytes[] xs;
    }

    function _one(StepDef memory s, Ty memory xt, bytes memory x) internal pure returns (Case memory c) {
        c.s = s;
        c.ins = new Ty[](1);
        c.ins[0] = xt;
        c.xs = new bytes[](1);
        c.xs[0] = x;
    }

    /// @dev Evaluates every block of element `e` of the case on the verifier and
    ///      holds each result to Ref's fold; also holds the fold to the whole-tensor
    ///      reference when that is cheap, and checks that reading past what the
    ///      ranges hold reverts.
    function _check(Case memory k, uint256 e, uint256 seed) internal view {
        // the spec reads its inputs from steps 0 … n-1, the step itself is last
        uint256 nIn = k.ins.length;
        StepDef[] memory all = new StepDef[](nIn + 1);
        for (uint256 j = 0; j < nIn; j++) {
            all[j] = Ref.input(k.ins[j].shape);
        }
        for (uint256 j = 0; j < nIn; j++) {
            all[j].out = k.ins[j];
        }
        all[nIn] = k.s;
        Committed[] memory xs = new Committed[](nIn);
        for (uint256 j = 0; j < nIn; j++) {
            xs[j] = Kit.commit(k.ins[j], k.xs[j]);
        }
        Committed[] memory ws = new Committed[](k.s.wTypes.length);
        for (uint256 j = 0; j < ws.length; j++) {
            ws[j] = Kit.commit(k.s.wTypes[j], k.s.wData[j]);
        }
        bytes memory spec = Ref.encSpec(k.s, ws, all);
        Fold memory f = Ref.fold(k.s, k.ins, xs, ws, e);
        assertEq(verifier.blocks(spec), f.blocks, "blocks");
        _crossCheck(k, all, f, e);
        bytes32[] memory roots = new bytes32[](nIn);
        for (uint256 j = 0; j < nIn; j++) {
            roots[j] = xs[j].root;
        }
        for (uint256 b = 0; b < f.blocks; b++) {
            (ChunkRange[] memory ri, ChunkRange[] memory rw) = _ranges(k, xs, ws, e, b, seed);
            bytes memory prev = b == 0 ? bytes("") : Ref.encState(f.states[b - 1]);
            (bool last, int256 value, bytes32 leaf) = verifier.evaluate(spec, e, b, prev, roots, ri, rw);
            assertEq(last, b + 1 == f.blocks, "last");
            if (last) {
                assertEq(value, f.value, "the element");
                assertEq(leaf, Ref.elementLeaf(f.value), "the element leaf");
            } else {
                assertEq(value, 0, "no value before the last block");
                assertEq(leaf, Ref.stateLeaf(f.states[b]), "the checkpoint leaf");
            }
        }
    }

    /// @dev Ref's fold against Ref's whole-tensor reference, when the whole output
    ///      is small enough to compute in a test.
    function _crossCheck(Case memory k, StepDef[] memory all, Fold memory f, uint256 e) internal pure {
        (uint256 T,) = Ref.terms(k.s, k.ins);
        if (Kit.numel(k.s.out.shape) * (T + 1) > 20_000) return;
        ModelDef memory m;
        m.steps = all;
        bytes[] memory outs = new bytes[](all.length);
        for (uint256 j = 0; j < k.xs.length; j++) {
            outs[j] = k.xs[j];
        }
        bytes memory y = Ref.evalStep(m, all.length - 1, outs);
        assertEq(f.value, Kit.get(y, k.s.out.dtype, e), "the fold is the op");
    }

    /// @dev The ranges of block `b`: the chunks holding what it reads, widened by up
    ///      to a chunk on either side, and sometimes a range for an operand the
    ///      block does not read.
    function _ranges(Case memory k, Committed[] memory xs, Committed[] memory ws, uint256 e, uint256 b, uint256 seed)
        internal
        pure
        returns (ChunkRange[] memory ri, ChunkRange[] memory rw)
    {
        (uint256[2][] memory rin, uint256[2][] memory rwt) = Ref.reads(k.s, k.ins, xs, e, b);
        ri = new ChunkRange[](xs.length);
        rw = new ChunkRange[](ws.length);
        for (uint256 j = 0; j < xs.length; j++) {
            ri[j] = _widen(xs[j], rin[j], uint256(keccak256(abi.encode(seed, b, j))));
        }
        for (uint256 j = 0; j < ws.length; j++) {
            rw[j] = _widen(ws[j], rwt[j], uint256(keccak256(abi.encode(seed, b, j, "w"))));
        }
    }

    function _widen(Committed memory c, uint256[2] memory read, uint256 r) internal pure returns (ChunkRange memory) {
        uint256 width = uint256(1) << c.tree.height;
        if (read[1] <= read[0]) {
            // nothing read: usually nothing opened, sometimes a chunk (checked, unused)
            if (r % 4 != 0) return Kit.none();
            uint256 at = (r >> 8) % width;
            return Kit.chunks(c, at, at + 1);
        }
        uint256 first = read[0] / 256;
        uint256 end = (read[1] - 1) / 256 + 1;
        if ((r >> 16) % 3 == 0 && first > 0) first -= 1;
        if ((r >> 24) % 3 == 0 && end < width) end += 1;
        return Kit.chunks(c, first, end);
    }

    function testFuzz_linear(uint256 seed, uint16 kIn, uint8 nIn, uint8 pIn, bool relu) public view {
        uint32 k = uint32(bound(kIn, 1, 1600));
        uint32 n = uint32(bound(nIn, 1, 4));
        uint32 p = uint32(bound(pIn, 1, 3));
        Ty memory xt = Kit.i8(p == 1 ? Kit.s1(k) : Kit.s2(p, k));
        StepDef memory s = Ref.linear(0, xt, n, relu, seed);
        s.wData[0] = _edgy(seed ^ 1, uint256(n) * k);
        s.wData[1] = _table(seed, n, 1 << 20);
        _check(_one(s, xt, _edgy(seed, uint256(p) * k)), seed % (uint256(p) * n), seed);
    }

    function testFuzz_conv2d(uint256 seed, uint8 cIn, uint8 hIn, uint8 wIn, uint8 khIn, uint8 kwIn, uint8 strideIn, uint8 padIn) public view {
        uint32 c = uint32(bound(cIn, 1, 5));
        uint32 h = uint32(bound(hIn, 1, 30));
        uint32 w = uint32(bound(wIn, 1, 30));
        uint32 kh = uint32(bound(khIn, 1, 5));
        uint32 kw = uint32(bound(kwIn, 1, 5));
        _convCase(seed, [c, h, w, kh, kw], strideIn, padIn);
    }

    /// Wide kernel rows (up to 40 taps: runs of every length the verifier gathers,
    /// cut by padding or not) over small planes of many channels (blocks of many
    /// channels, whose runs are one group when they are spaced alike).
    function testFuzz_conv2dWideRowsAndManyChannels(
        uint256 seed,
        uint16 cIn,
        uint8 hIn,
        uint8 wIn,
        uint8 khIn,
        uint8 kwIn,
        uint8 strideIn,
        uint8 padIn
    ) public view {
        uint32 kw = uint32(bound(kwIn, 1, 40));
        uint32 kh = uint32(bound(khIn, 1, 4));
        uint32 h = uint32(bound(hIn, 1, 6));
        uint32 w = uint32(bound(wIn, 1, 44));
        uint32 c = uint32(bound(cIn, 1, 1500 / (kh * kw)));
        _convCase(seed, [c, h, w, kh, kw], strideIn, padIn);
    }

    /// @dev A conv2d case over `d = [C, H, W, KH, KW]` with strides and padding
    ///      drawn from `strideIn` and `padIn` (widened until a window fits).
    function _convCase(uint256 seed, uint32[5] memory d, uint8 strideIn, uint8 padIn) internal view {
        uint32 sh = uint32(bound(strideIn, 1, 3));
        uint32 sw = uint32(bound(strideIn >> 2, 1, 3));
        uint32 ph = uint32(bound(padIn, 0, d[3]));
        uint32 pw = uint32(bound(padIn >> 4, 0, d[4]));
        if (d[1] + 2 * ph < d[3]) ph = (d[3] - d[1] + 1) / 2;
        if (d[2] + 2 * pw < d[4]) pw = (d[4] - d[2] + 1) / 2;
        uint32 o = uint32(1 + seed % 3);
        uint32 oh = (d[1] + 2 * ph - d[3]) / sh + 1;
        uint32 ow = (d[2] + 2 * pw - d[4]) / sw + 1;
        Ty memory xt = Kit.i8(Kit.s3(d[0], d[1], d[2]));
        StepDef memory s = Ref.unary(
            Ref.CONV2D,
            0,
            Kit.i8(Kit.s3(o, oh, ow)),
            Ref.params(int64(uint64(sh)), int64(uint64(sw)), int64(uint64(ph)), int64(uint64(pw)), int64(uint64(seed >> 200) % 2))
        );
        s.wTypes = new Ty[](2);
        s.wData = new bytes[](2);
        s.wTypes[0] = Kit.i8(Kit.s4(o, d[0], d[3], d[4]));
        s.wData[0] = _edgy(seed ^ 7, uint256(o) * d[0] * d[3] * d[4]);
        s.wTypes[1] = Kit.i32(Kit.s2(o, 3));
        s.wData[1] = _table(seed, o, 1 << 20);
        _check(_one(s, xt, _edgy(seed, uint256(d[0]) * d[1] * d[2])), seed % (uint256(o) * oh * ow), seed);
    }

    function testFuzz_pools(uint256 seed, uint8 hIn, uint8 wIn, uint8 khIn, uint8 kwIn, uint8 strideIn, bool maxPool) public view {
        uint32 c = uint32(1 + seed % 2);
        uint32 h = uint32(bound(hIn, 1, 40));
        uint32 w = uint32(bound(wIn, 1, 60));
        uint32 kh = uint32(bound(khIn, 1, h + (maxPool ? 2 : 0)));
        uint32 kw = uint32(bound(kwIn, 1, w + (maxPool ? 2 : 0)));
        uint32 sh = uint32(bound(strideIn, 1, 3));
        uint32 sw = uint32(bound(strideIn >> 3, 1, 3));
        // maxpool pads at most half a kernel, enough for the window to fit
        uint32 ph = maxPool ? (kh > h ? (kh - h + 1) / 2 : uint32((seed >> 8) % (kh / 2 + 1))) : 0;
        uint32 pw = maxPool ? (kw > w ? (kw - w + 1) / 2 : uint32((seed >> 16) % (kw / 2 + 1))) : 0;
        vm.assume(ph <= kh / 2 && pw <= kw / 2);
        uint32 oh = (h + 2 * ph - kh) / sh + 1;
        uint32 ow = (w + 2 * pw - kw) / sw + 1;
        Ty memory xt = Kit.i8(Kit.s3(c, h, w));
        int64[] memory ps = maxPool
            ? Ref.params(int64(uint64(kh)), int64(uint64(kw)), int64(uint64(sh)), int64(uint64(sw)), int64(uint64(ph)), int64(uint64(pw)))
            : Ref.params(
                int64(uint64(kh)),
                int64(uint64(kw)),
                int64(uint64(sh)),
                int64(uint64(sw)),
                int64(uint64(1 + (seed >> 32) % (1 << 31))),
                int64(uint64(1 + (seed >> 80) % 45))
            );
        StepDef memory s = Ref.unary(maxPool ? Ref.MAXPOOL2D : Ref.AVGPOOL2D, 0, Kit.i8(Kit.s3(c, oh, ow)), ps);
        _check(_one(s, xt, _edgy(seed, uint256(c) * h * w)), seed % (uint256(c) * oh * ow), seed);
    }

    function testFuzz_argmax(uint256 seed, uint16 nIn, uint8 pIn, bool ties) public view {
        uint32 n = uint32(bound(nIn, 1, 1600));
        uint32 p = uint32(bound(pIn, 1, 3));
        Ty memory xt = Kit.i8(p == 1 ? Kit.s1(n) : Kit.s2(p, n));
        bytes memory x = _edgy(seed, uint256(p) * n);
        // many ties at the maximum: the first one wins, across blocks too
        if (ties) {
            for (uint256 i = 0; i < x.length; i += 1 + seed % 700) {
                x[i] = 0x7f;
            }
        }
        _check(_one(Ref.argmax(0, xt), xt, x), seed % p, seed);
    }

    function testFuzz_elementwiseOps(uint256 seed, uint16 nIn, uint8 which) public view {
        uint32 n = uint32(bound(nIn, 1, 700));
        Ty memory t = Kit.i8(Kit.s1(n));
        bytes memory a = _edgy(seed, n);
        uint256 e = seed % n;
        uint256 op = bound(which, 0, 4);
        if (op == 0) {
            _check(_one(Ref.unary(Ref.RELU, 0, t, Ref.noParams()), t, a), e, seed);
        } else if (op == 1) {
            Case memory k = _one(
                Ref.add(
                    0,
                    1,
                    t,
                    int64(uint64(seed >> 8) % (1 << 31)),
                    int64(uint64(seed >> 40) % (1 << 31)),
                    int64(uint64(1 + (seed >> 80) % 40)),
                    seed % 2 == 0
                ),
                t,
                a
            );
            k.ins = new Ty[](2);
            (k.ins[0], k.ins[1]) = (t, t);
            k.xs = new bytes[](2);
            (k.xs[0], k.xs[1]) = (a, _edgy(seed ^ 1, n));
            _check(k, e, seed);
        } else if (op == 2) {
            StepDef memory s = Ref.lut(0, t, seed);
            s.wData[0] = _edgy(seed ^ 9, 256);
            _check(_one(s, t, a), e, seed);
        } else if (op == 3) {
            Ty memory to = Kit.i8(n % 2 == 0 ? Kit.s2(2, n / 2) : Kit.s2(1, n));
            _check(_one(Ref.unary(Ref.RESHAPE, 0, to, Ref.noParams()), t, a), e, seed);
        } else {
            // a reshape of int32 elements
            Ty memory ti = Kit.i32(Kit.s1(n));
            Ty memory to = Kit.i32(n % 2 == 0 ? Kit.s2(n / 2, 2) : Kit.s2(n, 1));
            _check(_one(Ref.unary(Ref.RESHAPE, 0, to, Ref.noParams()), ti, _edgy(seed, 4 * uint256(n))), e, seed);
        }
    }

    // ------------------------------------------------------------ refusals

    /// @dev A linear step x [k] -> [3] (2 blocks for k = 600) with its committed
    ///      operands, and the fold of its element 1.
    function _linearCase(uint32 kLen)
        internal
        pure
        returns (bytes memory spec, bytes32[] memory roots, Committed[] memory xs, Committed[] memory ws, Case memory k, Fold memory f)
    {
        Ty memory xt = Kit.i8(Kit.s1(kLen));
        StepDef memory s = Ref.linear(0, xt, 3, false, 5);
        k = _one(s, xt, Kit.randomI8(6, kLen));
        StepDef[] memory all = new StepDef[](2);
        all[0] = Ref.input(xt.shape);
        all[1] = s;
        xs = new Committed[](1);
        xs[0] = Kit.commit(xt, k.xs[0]);
        ws = new Committed[](2);
        ws[0] = Kit.commit(s.wTypes[0], s.wData[0]);
        ws[1] = Kit.commit(s.wTypes[1], s.wData[1]);
        spec = Ref.encSpec(s, ws, all);
        roots = new bytes32[](1);
        roots[0] = xs[0].root;
        f = Ref.fold(s, k.ins, xs, ws, 1);
    }

    /// A block reads only what its ranges hold, from ranges that verify; a state
    /// has the op's length, none before block 0; the block and element exist.
    function test_theVerifierRefusesWhatItCannotCheck() public {
        (bytes memory spec, bytes32[] memory roots, Committed[] memory xs, Committed[] memory ws, Case memory k, Fold memory f) = _linearCase(600);
        assertEq(f.blocks, 2);
        (ChunkRange[] memory ri, ChunkRange[] memory rw) = _ranges(k, xs, ws, 1, 1, 0);
        bytes memory prev = Ref.encState(f.states[0]);
        (, int256 v,) = verifier.evaluate(spec, 1, 1, prev, roots, ri, rw);
        assertEq(v, f.value);
        // block 1 reads x[512..600), which chunk 2 holds and chunk 1 does not
        ChunkRange[] memory short = new ChunkRange[](1);
        short[0] = Kit.chunks(xs[0], 2, 3);
        (, int256 v2,) = verifier.evaluate(spec, 1, 1, prev, roots, short, rw);
        assertEq(v2, f.value);
        short[0] = Kit.chunks(xs[0], 1, 2);
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.ReadOutsideRange.selector, 0));
        verifier.evaluate(spec, 1, 1, prev, roots, short, rw);
        short[0] = Kit.none();
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.ReadOutsideRange.selector, 0));
        verifier.evaluate(spec, 1, 1, prev, roots, short, rw);
        // the Q row is read in the last block only
        ChunkRange[] memory noQ = new ChunkRange[](2);
        (noQ[0], noQ[1]) = (rw[0], Kit.none());
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.ReadOutsideRange.selector, 2));
        verifier.evaluate(spec, 1, 1, prev, roots, ri, noQ);
        (ChunkRange[] memory ri0, ChunkRange[] memory rw0) = _ranges(k, xs, ws, 1, 0, 1);
        rw0[1] = Kit.none();
        (bool last,, bytes32 leaf) = verifier.evaluate(spec, 1, 0, "", roots, ri0, rw0);
        assertFalse(last);
        assertEq(leaf, Ref.stateLeaf(f.states[0]));
        // a range that does not verify
        bytes32[] memory badRoots = new bytes32[](1);
        badRoots[0] = bytes32(uint256(roots[0]) ^ 1);
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.OpeningRoot.selector, 0));
        verifier.evaluate(spec, 1, 1, prev, badRoots, ri, rw);
        ChunkRange[] memory dirty = new ChunkRange[](1);
        dirty[0] = ChunkRange(ri[0].first, bytes.concat(ri[0].chunks), ri[0].proof);
        dirty[0].chunks[7] = bytes1(uint8(dirty[0].chunks[7]) ^ 1);
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.OpeningRoot.selector, 0));
        verifier.evaluate(spec, 1, 1, prev, roots, dirty, rw);
        dirty[0] = ChunkRange(ri[0].first, new bytes(100), ri[0].proof);
        vm.expectRevert(ChunkRanges.RangeLength.selector);
        verifier.evaluate(spec, 1, 1, prev, roots, dirty, rw);
        dirty[0] = ChunkRange(4, ri[0].chunks, ri[0].proof);
        vm.expectRevert(ChunkRanges.RangePastTree.selector);
        verifier.evaluate(spec, 1, 1, prev, roots, dirty, rw);
        // states
        vm.expectRevert(OneStepVerifier.BadState.selector);
        verifier.evaluate(spec, 1, 1, "", roots, ri, rw);
        vm.expectRevert(OneStepVerifier.BadState.selector);
        verifier.evaluate(spec, 1, 1, bytes.concat(prev, bytes1(0)), roots, ri, rw);
        vm.expectRevert(OneStepVerifier.BadState.selector);
        verifier.evaluate(spec, 1, 0, prev, roots, ri0, rw0);
        // blocks and elements
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.BadBlock.selector, 2, 2));
        verifier.evaluate(spec, 1, 2, prev, roots, ri, rw);
        vm.expectRevert(OneStepVerifier.OutOfRange.selector);
        verifier.evaluate(spec, 3, 1, prev, roots, ri, rw);
        vm.expectRevert(OneStepVerifier.OpeningCount.selector);
        verifier.evaluate(spec, 1, 1, prev, new bytes32[](0), ri, rw);
        vm.expectRevert(OneStepVerifier.OpeningCount.selector);
        verifier.evaluate(spec, 1, 1, prev, roots, ri, new ChunkRange[](1));
    }

    /// A state word is any int256: the fold is exact from any state, and the
    /// finish saturates.
    function test_aStateFoldsExactlyFromAnyValue() public view {
        (bytes memory spec, bytes32[] memory roots, Committed[] memory xs, Committed[] memory ws, Case memory k, Fold memory f) = _linearCase(1100);
        assertEq(f.blocks, 3);
        (ChunkRange[] memory ri, ChunkRange[] memory rw) = _ranges(k, xs, ws, 1, 1, 0);
        int256 big = 2 ** 100;
        int256 sum = f.states[1][0] - f.states[0][0]; // block 1's terms
        int256[] memory st = new int256[](1);
        st[0] = big + f.states[1][0];
        (bool last,, bytes32 leaf) = verifier.evaluate(spec, 1, 1, abi.encode(big + f.states[0][0]), roots, ri, rw);
        assertFalse(last);
        assertEq(leaf, Ref.stateLeaf(st), "the same terms added to another state");
        st[0] = -big + sum;
        (,, leaf) = verifier.evaluate(spec, 1, 1, abi.encode(-big), roots, ri, rw);
        assertEq(leaf, Ref.stateLeaf(st));
        (ri, rw) = _ranges(k, xs, ws, 1, 2, 0);
        (, int256 high,) = verifier.evaluate(spec, 1, 2, abi.encode(big), roots, ri, rw);
        assertEq(high, 127, "saturates");
        (, int256 low,) = verifier.evaluate(spec, 1, 2, abi.encode(-big), roots, ri, rw);
        assertEq(low, -128, "saturates");
    }

    /// Shapes that do not fit the op are refused (the model loader's checks).
    function test_specsWhoseShapesDoNotFitTheOpAreRefused() public {
        Ty memory xt = Kit.i8(Kit.s1(600));
        StepDef memory s = Ref.linear(0, xt, 3, false, 5);
        StepDef[] memory all = new StepDef[](2);
        all[0] = Ref.input(Kit.s1(601)); // the input type in the spec is not [K]
        all[1] = s;
        Committed[] memory ws = new Committed[](2);
        ws[0] = Kit.commit(s.wTypes[0], s.wData[0]);
        ws[1] = Kit.commit(s.wTypes[1], s.wData[1]);
        bytes memory spec = Ref.encSpec(s, ws, all);
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.BadShapes.selector, 1));
        verifier.blocks(spec);
        all[0] = Ref.input(Kit.s1(600));
        s.out = Kit.i8(Kit.s1(4));
        spec = Ref.encSpec(s, ws, all);
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.BadShapes.selector, 1));
        verifier.blocks(spec);
        s.out = Kit.i8(Kit.s1(3));
        assertEq(verifier.blocks(Ref.encSpec(s, ws, all)), 2);
    }
}
