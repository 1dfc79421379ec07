// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {Commitments} from "../src/lib/Commitments.sol";
import {TensorOpening} from "../src/lib/TensorOpening.sol";
import {OneStepVerifier} from "../src/OneStepVerifier.sol";
import {LibHarness} from "./Vectors.t.sol";

/// @notice Random trees and subsets against the multiproof verifier, and random
///         small steps of every op against a whole-tensor reimplementation.
contract FuzzTest is Test {
    LibHarness lib;
    OneStepVerifier verifier;

    function setUp() public {
        lib = new LibHarness();
        verifier = new OneStepVerifier();
    }

    // ------------------------------------------------------------------ Merkle

    function _levels(uint8 tag, bytes32[] memory leaves, uint256 h) internal pure returns (bytes32[][] memory lv) {
        lv = new bytes32[][](h + 1);
        lv[0] = new bytes32[](1 << h);
        for (uint256 i = 0; i < leaves.length; i++) lv[0][i] = leaves[i];
        // padding leaves are zero (trace/spec trees); the multiproof rule is the same
        for (uint256 l = 1; l <= h; l++) {
            lv[l] = new bytes32[](1 << (h - l));
            for (uint256 i = 0; i < lv[l].length; i++) lv[l][i] = Commitments.node(tag, lv[l - 1][2 * i], lv[l - 1][2 * i + 1]);
        }
    }

    /// The prover side of docs/commitments.md's algorithm, written out for the test.
    function _prove(bytes32[][] memory lv, uint256[] memory idx, uint256 h) internal pure returns (bytes32[] memory proof) {
        bytes32[] memory buf = new bytes32[](idx.length * (h + 1));
        uint256 p;
        uint256[] memory layer = idx;
        uint256 n = idx.length;
        for (uint256 level = 0; level < h; level++) {
            uint256[] memory next = new uint256[](n);
            uint256 m;
            uint256 i;
            while (i < n) {
                uint256 k = layer[i];
                if (k % 2 == 0 && i + 1 < n && layer[i + 1] == k + 1) {
                    i += 2;
                } else {
                    buf[p++] = lv[level][k ^ 1];
                    i++;
                }
                next[m++] = k / 2;
            }
            layer = next;
            n = m;
        }
        proof = new bytes32[](p);
        for (uint256 i = 0; i < p; i++) proof[i] = buf[i];
    }

    function testFuzz_multiproofsVerifyAndTamperingFails(uint256 seed, uint8 count, uint64 mask, bool trace) public view {
        uint256 n = bound(count, 1, 40);
        uint8 tag = trace ? Commitments.TRACE_NODE : Commitments.SPEC_NODE;
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) leaves[i] = keccak256(abi.encode(seed, i));
        uint256 h = Commitments.height(n);
        bytes32[][] memory lv = _levels(tag, leaves, h);
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
            vals[i] = lv[0][tmp[i]];
        }
        bytes32[] memory proof = _prove(lv, idx, h);
        bytes32 root = lv[h][0];
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
        for (uint256 i = 0; i < a.length; i++) b[i] = a[i];
    }

    function _copyH(bytes32[] memory a) internal pure returns (bytes32[] memory b) {
        b = new bytes32[](a.length);
        for (uint256 i = 0; i < a.length; i++) b[i] = a[i];
    }

    // --------------------------------------------------------------------- ops

    function _type(uint8 dtype, uint32[] memory shape) internal pure returns (bytes memory t) {
        t = abi.encodePacked(dtype, uint8(shape.length));
        for (uint256 i = 0; i < shape.length; i++) t = abi.encodePacked(t, shape[i]);
    }

    function _dims(uint32 a) internal pure returns (uint32[] memory s) {
        s = new uint32[](1);
        s[0] = a;
    }

    function _dims(uint32 a, uint32 b) internal pure returns (uint32[] memory s) {
        s = new uint32[](2);
        (s[0], s[1]) = (a, b);
    }

    function _dims(uint32 a, uint32 b, uint32 c) internal pure returns (uint32[] memory s) {
        s = new uint32[](3);
        (s[0], s[1], s[2]) = (a, b, c);
    }

    function _dims(uint32 a, uint32 b, uint32 c, uint32 d) internal pure returns (uint32[] memory s) {
        s = new uint32[](4);
        (s[0], s[1], s[2], s[3]) = (a, b, c, d);
    }

    /// A whole tensor opened: every chunk, no proof needed.
    function _open(bytes memory data) internal pure returns (TensorOpening memory o, bytes32 root) {
        uint256 n = Commitments.numChunks(data.length);
        o.chunkIndices = new uint256[](n);
        for (uint256 i = 0; i < n; i++) o.chunkIndices[i] = i;
        o.chunks = new bytes(n * 256);
        for (uint256 i = 0; i < data.length; i++) o.chunks[i] = data[i];
        // a whole padded level needs no siblings: pad to a power of two
        uint256 width = 1 << Commitments.height(n);
        if (width != n) {
            o.chunkIndices = new uint256[](width);
            for (uint256 i = 0; i < width; i++) o.chunkIndices[i] = i;
            bytes memory c = new bytes(width * 256);
            for (uint256 i = 0; i < data.length; i++) c[i] = data[i];
            o.chunks = c;
        }
        root = Commitments.dataRoot(data);
    }

    function _i8s(uint256 seed, uint256 n) internal pure returns (bytes memory b) {
        b = new bytes(n);
        for (uint256 i = 0; i < n; i++) b[i] = bytes1(uint8(uint256(keccak256(abi.encode(seed, i)))));
    }

    function _i8(bytes memory b, uint256 i) internal pure returns (int256) {
        return int256(int8(uint8(b[i])));
    }

    function _rq(int256 acc, int256 m, int256 s, bool relu) internal pure returns (int256 y) {
        y = (acc * m + int256(1 << uint256(s - 1))) >> uint256(s);
        int256 lo = relu ? int256(0) : int256(-128);
        y = y < lo ? lo : y > 127 ? int256(127) : y;
    }

    function _eval(bytes memory spec, uint256 out, bytes32[] memory roots, TensorOpening[] memory ins, TensorOpening[] memory ws)
        internal
        view
        returns (int256)
    {
        return verifier.evaluate(spec, out, roots, ins, ws);
    }

    function testFuzz_linear(uint256 seed, uint8 kIn, uint8 nIn, uint8 shift, bool relu) public view {
        uint32 k = uint32(bound(kIn, 1, 40));
        uint32 n = uint32(bound(nIn, 1, 8));
        uint256 s = bound(shift, 1, 30);
        bytes memory x = _i8s(seed, k);
        bytes memory w = _i8s(seed ^ 1, k * n);
        bytes memory q;
        int256[] memory bias = new int256[](n);
        uint256 m = uint256(keccak256(abi.encode(seed, "m"))) % (1 << 31);
        for (uint256 i = 0; i < n; i++) {
            bias[i] = int256(uint256(keccak256(abi.encode(seed, i, "b"))) % 20001) - 10000;
            q = abi.encodePacked(q, int32(int256(bias[i])), uint32(m), uint32(s));
        }
        (TensorOpening memory xo, bytes32 xr) = _open(x);
        (TensorOpening memory wo, bytes32 wr) = _open(w);
        (TensorOpening memory qo, bytes32 qr) = _open(q);
        bytes memory spec = abi.encodePacked(uint8(1), uint8(1), _type(1, _dims(n)), uint8(1), uint32(0), _type(1, _dims(k)));
        spec = abi.encodePacked(spec, uint8(1), int64(relu ? int64(1) : int64(0)), uint8(2), _type(1, _dims(n, k)), wr, _type(2, _dims(n, 3)), qr);
        TensorOpening[] memory ins = new TensorOpening[](1);
        ins[0] = xo;
        TensorOpening[] memory ws = new TensorOpening[](2);
        (ws[0], ws[1]) = (wo, qo);
        bytes32[] memory roots = new bytes32[](1);
        roots[0] = xr;
        uint256 out = seed % n;
        int256 acc = bias[out];
        for (uint256 i = 0; i < k; i++) acc += _i8(x, i) * _i8(w, out * k + i);
        assertEq(_eval(spec, out, roots, ins, ws), _rq(acc, int256(m), int256(s), relu));
    }

    function testFuzz_conv2d(uint256 seed, uint8 cIn, uint8 hIn, uint8 kIn, bool stride2, bool pad) public view {
        uint32 c = uint32(bound(cIn, 1, 3));
        uint32 hw = uint32(bound(hIn, 3, 7));
        uint32 kk = uint32(bound(kIn, 1, 3));
        uint32 st = stride2 ? 2 : 1;
        uint32 pd = pad ? kk / 2 : 0;
        uint32 o = 2;
        uint32 oh = (hw + 2 * pd - kk) / st + 1;
        bytes memory x = _i8s(seed, c * hw * hw);
        bytes memory w = _i8s(seed ^ 7, o * c * kk * kk);
        bytes memory q = abi.encodePacked(int32(5), uint32(1 << 30), uint32(36), int32(-5), uint32(1 << 30), uint32(37));
        (TensorOpening memory xo, bytes32 xr) = _open(x);
        (TensorOpening memory wo, bytes32 wr) = _open(w);
        (TensorOpening memory qo, bytes32 qr) = _open(q);
        bytes memory spec = abi.encodePacked(uint8(1), uint8(2), _type(1, _dims(o, oh, oh)), uint8(1), uint32(0), _type(1, _dims(c, hw, hw)));
        spec = abi.encodePacked(spec, uint8(5), int64(int32(st)), int64(int32(st)), int64(int32(pd)), int64(int32(pd)), int64(0));
        spec = abi.encodePacked(spec, uint8(2), _type(1, _dims(o, c, kk, kk)), wr, _type(2, _dims(o, 3)), qr);
        TensorOpening[] memory ins = new TensorOpening[](1);
        ins[0] = xo;
        TensorOpening[] memory ws = new TensorOpening[](2);
        (ws[0], ws[1]) = (wo, qo);
        bytes32[] memory roots = new bytes32[](1);
        roots[0] = xr;
        uint256 out = seed % (o * oh * oh);
        uint256 oc = out / (oh * oh);
        int256 i = int256((out / oh) % oh);
        int256 j = int256(out % oh);
        int256 acc = oc == 0 ? int256(5) : int256(-5);
        for (uint256 ch = 0; ch < c; ch++) {
            for (uint256 u = 0; u < kk; u++) {
                for (uint256 v = 0; v < kk; v++) {
                    int256 hi = i * int256(uint256(st)) + int256(u) - int256(uint256(pd));
                    int256 wi = j * int256(uint256(st)) + int256(v) - int256(uint256(pd));
                    if (hi < 0 || wi < 0 || hi >= int256(uint256(hw)) || wi >= int256(uint256(hw))) continue;
                    acc += _i8(x, (ch * hw + uint256(hi)) * hw + uint256(wi)) * _i8(w, ((oc * c + ch) * kk + u) * kk + v);
                }
            }
        }
        assertEq(_eval(spec, out, roots, ins, ws), _rq(acc, 1 << 30, oc == 0 ? int256(36) : int256(37), false));
    }

    function _oneInput(bytes memory x) internal pure returns (TensorOpening[] memory ins, bytes32[] memory roots) {
        ins = new TensorOpening[](1);
        roots = new bytes32[](1);
        (ins[0], roots[0]) = _open(x);
    }

    function testFuzz_pools(uint256 seed, uint8 hIn, bool maxPool) public view {
        uint32 hw = uint32(bound(hIn, 2, 8));
        uint32 c = 2;
        bytes memory x = _i8s(seed, c * hw * hw);
        (TensorOpening[] memory ins, bytes32[] memory roots) = _oneInput(x);
        uint32 k = 2;
        uint32 oh = maxPool ? (hw + 2 - k) / 2 + 1 : (hw - k) / 2 + 1; // maxpool pads 1
        bytes memory spec = abi.encodePacked(uint8(1), uint8(maxPool ? 4 : 5), _type(1, _dims(c, oh, oh)), uint8(1), uint32(0), _type(1, _dims(c, hw, hw)));
        if (maxPool) spec = abi.encodePacked(spec, uint8(6), int64(2), int64(2), int64(2), int64(2), int64(1), int64(1), uint8(0));
        else spec = abi.encodePacked(spec, uint8(6), int64(2), int64(2), int64(2), int64(2), int64(1 << 30), int64(32), uint8(0));
        uint256 out = seed % (c * oh * oh);
        uint256 ch = out / (oh * oh);
        int256 i = int256((out / oh) % oh);
        int256 j = int256(out % oh);
        int256 want = maxPool ? type(int256).min : int256(0);
        int256 padding = maxPool ? int256(1) : int256(0);
        for (int256 u = 0; u < 2; u++) {
            for (int256 v = 0; v < 2; v++) {
                int256 hi = i * 2 + u - padding;
                int256 wi = j * 2 + v - padding;
                if (hi < 0 || wi < 0 || hi >= int256(uint256(hw)) || wi >= int256(uint256(hw))) continue;
                int256 val = _i8(x, (ch * hw + uint256(hi)) * hw + uint256(wi));
                if (maxPool) want = val > want ? val : want;
                else want += val;
            }
        }
        if (!maxPool) want = _rq(want, 1 << 30, 32, false);
        assertEq(_eval(spec, out, roots, ins, new TensorOpening[](0)), want);
    }

    function testFuzz_elementwiseOps(uint256 seed, uint8 nIn, uint8 which) public view {
        uint32 n = uint32(bound(nIn, 1, 300));
        bytes memory a = _i8s(seed, n);
        bytes memory b = _i8s(seed ^ 1, n);
        uint256 out = seed % n;
        uint256 op = bound(which, 0, 3);
        bytes memory t1 = _type(1, _dims(n));
        if (op == 0) {
            // relu
            (TensorOpening[] memory ins, bytes32[] memory roots) = _oneInput(a);
            bytes memory spec = abi.encodePacked(uint8(1), uint8(3), t1, uint8(1), uint32(0), t1, uint8(0), uint8(0));
            int256 v = _i8(a, out);
            assertEq(_eval(spec, out, roots, ins, new TensorOpening[](0)), v > 0 ? v : int256(0));
        } else if (op == 1) {
            // add with relu
            TensorOpening[] memory ins = new TensorOpening[](2);
            bytes32[] memory roots = new bytes32[](2);
            (ins[0], roots[0]) = _open(a);
            (ins[1], roots[1]) = _open(b);
            bytes memory spec = abi.encodePacked(uint8(1), uint8(6), t1, uint8(2), uint32(0), t1, uint32(1), t1);
            spec = abi.encodePacked(spec, uint8(4), int64(3 << 20), int64(5 << 19), int64(22), int64(1), uint8(0));
            int256 acc = _i8(a, out) * (3 << 20) + _i8(b, out) * (5 << 19);
            assertEq(_eval(spec, out, roots, ins, new TensorOpening[](0)), _rq(acc, 1, 22, true));
        } else if (op == 2) {
            // lookup table
            (TensorOpening[] memory ins, bytes32[] memory roots) = _oneInput(a);
            bytes memory table = _i8s(seed ^ 9, 256);
            TensorOpening[] memory ws = new TensorOpening[](1);
            bytes32 tr;
            (ws[0], tr) = _open(table);
            bytes memory spec = abi.encodePacked(uint8(1), uint8(7), t1, uint8(1), uint32(0), t1, uint8(0), uint8(1), _type(1, _dims(256)), tr);
            assertEq(_eval(spec, out, roots, ins, ws), _i8(table, uint256(_i8(a, out) + 128)));
        } else {
            // argmax over rows of 4 (ties resolve to the first)
            uint32 rows = (n + 3) / 4;
            bytes memory x = _i8s(seed, rows * 4);
            for (uint256 i = 0; i < x.length; i += 3) x[i] = bytes1(uint8(0x7f)); // many ties at the maximum
            (TensorOpening[] memory ins, bytes32[] memory roots) = _oneInput(x);
            bytes memory spec = abi.encodePacked(uint8(1), uint8(9), _type(2, _dims(rows)), uint8(1), uint32(0), _type(1, _dims(rows, 4)), uint8(0), uint8(0));
            uint256 r = seed % rows;
            uint256 best;
            for (uint256 i = 1; i < 4; i++) {
                if (_i8(x, r * 4 + i) > _i8(x, r * 4 + best)) best = i;
            }
            assertEq(_eval(spec, r, roots, ins, new TensorOpening[](0)), int256(best));
        }
    }

    function test_elementsOutsideTheOpeningRevert() public {
        bytes memory x = _i8s(1, 600);
        (TensorOpening[] memory ins, bytes32[] memory roots) = _oneInput(x);
        // open only chunk 0 (with its siblings as proof), read element 300 (chunk 1)
        bytes32[] memory leaves = new bytes32[](4);
        for (uint256 i = 0; i < 4; i++) leaves[i] = Commitments.chunkLeaf(x, i);
        TensorOpening memory part;
        part.chunkIndices = new uint256[](1);
        part.chunks = new bytes(256);
        for (uint256 i = 0; i < 256; i++) part.chunks[i] = x[i];
        part.proof = new bytes32[](2);
        part.proof[0] = leaves[1];
        part.proof[1] = Commitments.node(1, leaves[2], leaves[3]);
        ins[0] = part;
        bytes memory t = _type(1, _dims(600));
        bytes memory spec = abi.encodePacked(uint8(1), uint8(3), t, uint8(1), uint32(0), t, uint8(0), uint8(0));
        assertEq(verifier.evaluate(spec, 5, roots, ins, new TensorOpening[](0)), _i8(x, 5) > 0 ? _i8(x, 5) : int256(0));
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.ElementNotOpened.selector, 300));
        verifier.evaluate(spec, 300, roots, ins, new TensorOpening[](0));
        roots[0] = bytes32(uint256(roots[0]) ^ 1);
        vm.expectRevert(abi.encodeWithSelector(OneStepVerifier.OpeningRoot.selector, 0));
        verifier.evaluate(spec, 5, roots, ins, new TensorOpening[](0));
    }
}
