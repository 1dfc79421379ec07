// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {Commitments} from "../src/lib/Commitments.sol";
import {StepSpec, Spec} from "../src/lib/StepSpec.sol";
import {ChunkRange, ChunkRanges} from "../src/lib/ChunkRange.sol";
import {OneStepVerifier} from "../src/OneStepVerifier.sol";

/// @notice Exposes the libraries' internal functions to the tests.
contract LibHarness {
    function tensorCommitment(uint8 dtype, uint32[] memory shape, bytes memory data) external pure returns (bytes32, bytes32) {
        bytes32 root = Commitments.dataRoot(data);
        return (root, Commitments.tensorCommitment(dtype, shape, root));
    }

    function multiRoot(uint8 tag, uint256 h, uint256[] memory idx, bytes32[] memory leaves, bytes32[] calldata proof)
        external
        pure
        returns (bytes32)
    {
        return Commitments.multiRoot(tag, h, idx, leaves, proof);
    }

    function singleRoot(uint8 tag, uint256 h, uint256 index, bytes32 leaf, bytes32[] calldata proof) external pure returns (bytes32) {
        return Commitments.singleRoot(tag, h, index, leaf, proof);
    }

    function rangeRoot(ChunkRange calldata r, uint256 h) external pure returns (bytes32) {
        return ChunkRanges.root(r, h);
    }

    /// @notice Reads a spec: its op code, and its output dtype and shape.
    function readSpec(bytes calldata spec) external pure returns (uint8 op, uint8 dtype, uint32[] memory shape) {
        Spec s = StepSpec.read(spec);
        uint256 out = StepSpec.outType(s);
        return (StepSpec.opCode(s), StepSpec.dtype(out), StepSpec.shapeOf(out));
    }

    function specLeaf(bytes memory spec) external pure returns (bytes32) {
        return Commitments.specLeaf(spec);
    }

    function checkpointLeaf(bytes calldata state) external pure returns (bytes32) {
        return Commitments.checkpointLeafCalldata(state);
    }

    function elementLeaf(int256 value) external pure returns (bytes32) {
        return Commitments.elementLeaf(value);
    }

    function modelId(uint32 stepCount, bytes32 specRoot) external pure returns (bytes32) {
        return Commitments.modelId(stepCount, specRoot);
    }
}

/// @notice The shared vectors in fixtures/vectors, written by the Rust code
///         (crates/core/tests/vectors.rs): Solidity must agree on every one.
contract VectorsTest is Test {
    struct TensorVector {
        bytes bytes_;
        bytes32 commitment;
        bytes32 dataRoot;
        uint8 dtype;
        uint32[] shape;
    }

    /// @dev One block of one element (fixtures/vectors/ops.json).
    struct OpCase {
        string name;
        bytes spec;
        uint256 element;
        uint256 block;
        uint256 blocks;
        bytes prevState;
        bool last;
        int256 value;
        bytes32 leaf;
        bytes32[] inputRoots;
        ChunkRange[] inputs;
        ChunkRange[] weights;
    }

    LibHarness lib;
    OneStepVerifier verifier;

    function setUp() public {
        lib = new LibHarness();
        verifier = new OneStepVerifier();
    }

    function _at(string memory array, uint256 i, string memory field) internal pure returns (string memory) {
        return string.concat(".", array, "[", vm.toString(i), "].", field);
    }

    function test_tensorCommitmentsMatchRust() public view {
        string memory json = vm.readFile("../fixtures/vectors/commitments.json");
        uint256 n;
        for (; vm.keyExistsJson(json, string.concat(".tensors[", vm.toString(n), "]")); n++) {
            bytes memory data = vm.parseJsonBytes(json, _at("tensors", n, "bytes"));
            uint256[] memory dims = vm.parseJsonUintArray(json, _at("tensors", n, "shape"));
            uint32[] memory shape = new uint32[](dims.length);
            for (uint256 d = 0; d < dims.length; d++) {
                shape[d] = uint32(dims[d]);
            }
            uint8 dtype = uint8(vm.parseJsonUint(json, _at("tensors", n, "dtype")));
            (bytes32 root, bytes32 c) = lib.tensorCommitment(dtype, shape, data);
            assertEq(root, vm.parseJsonBytes32(json, _at("tensors", n, "dataRoot")), "data root");
            assertEq(c, vm.parseJsonBytes32(json, _at("tensors", n, "commitment")), "commitment");
        }
        assertGt(n, 5);
    }

    function _tag(string memory kind) internal pure returns (uint8) {
        bytes32 k = keccak256(bytes(kind));
        if (k == keccak256("data")) return Commitments.DATA_NODE;
        if (k == keccak256("trace")) return Commitments.TRACE_NODE;
        if (k == keccak256("spec")) return Commitments.SPEC_NODE;
        if (k == keccak256("checkpoint")) return Commitments.CHECKPOINT_NODE;
        revert(string.concat("unknown tree kind ", kind));
    }

    function test_multiproofsMatchRust() public view {
        string memory json = vm.readFile("../fixtures/vectors/commitments.json");
        uint256 n;
        for (; vm.keyExistsJson(json, string.concat(".multiproofs[", vm.toString(n), "]")); n++) {
            uint8 tag = _tag(vm.parseJsonString(json, _at("multiproofs", n, "kind")));
            uint256 h = vm.parseJsonUint(json, _at("multiproofs", n, "height"));
            uint256[] memory idx = vm.parseJsonUintArray(json, _at("multiproofs", n, "indices"));
            bytes32[] memory leaves = vm.parseJsonBytes32Array(json, _at("multiproofs", n, "leaves"));
            bytes32[] memory proof = vm.parseJsonBytes32Array(json, _at("multiproofs", n, "proof"));
            bytes32 root = vm.parseJsonBytes32(json, _at("multiproofs", n, "root"));
            if (idx.length == 1) {
                assertEq(lib.singleRoot(tag, h, idx[0], leaves[0], proof), root, "single");
            }
            assertEq(lib.multiRoot(tag, h, idx, leaves, proof), root, "multi");
            // a changed leaf no longer reaches the root
            leaves[0] = bytes32(uint256(leaves[0]) ^ 1);
            idx = vm.parseJsonUintArray(json, _at("multiproofs", n, "indices"));
            assertTrue(lib.multiRoot(tag, h, idx, leaves, proof) != root, "tampered");
        }
        assertGt(n, 10);
    }

    /// The checkpoint and element leaves of docs/commitments.md ("Checkpoints").
    function test_checkpointAndElementLeavesMatchRust() public view {
        string memory json = vm.readFile("../fixtures/vectors/commitments.json");
        uint256 n;
        for (; vm.keyExistsJson(json, string.concat(".checkpointLeaves[", vm.toString(n), "]")); n++) {
            bytes memory state = vm.parseJsonBytes(json, _at("checkpointLeaves", n, "state"));
            assertEq(state.length % 32, 0, "a state is whole words");
            assertEq(lib.checkpointLeaf(state), vm.parseJsonBytes32(json, _at("checkpointLeaves", n, "leaf")), "checkpoint leaf");
        }
        assertGt(n, 3);
        uint256 m;
        for (; vm.keyExistsJson(json, string.concat(".elementLeaves[", vm.toString(m), "]")); m++) {
            int256 value = vm.parseJsonInt(json, _at("elementLeaves", m, "value"));
            assertEq(lib.elementLeaf(value), vm.parseJsonBytes32(json, _at("elementLeaves", m, "leaf")), "element leaf");
        }
        assertGt(m, 3);
    }

    function test_specsAndModelIdsMatchRust() public view {
        string memory json = vm.readFile("../fixtures/vectors/commitments.json");
        uint256 n;
        for (; vm.keyExistsJson(json, string.concat(".specs[", vm.toString(n), "]")); n++) {
            bytes memory spec = vm.parseJsonBytes(json, _at("specs", n, "bytes"));
            assertEq(lib.specLeaf(spec), vm.parseJsonBytes32(json, _at("specs", n, "leaf")));
            (uint8 op, uint8 dtype, uint32[] memory outShape) = lib.readSpec(spec);
            assertEq(op, vm.parseJsonUint(json, _at("specs", n, "op")));
            assertEq(dtype, vm.parseJsonUint(json, _at("specs", n, "outDtype")));
            uint256[] memory shape = vm.parseJsonUintArray(json, _at("specs", n, "outShape"));
            assertEq(outShape.length, shape.length);
            for (uint256 d = 0; d < shape.length; d++) {
                assertEq(outShape[d], shape[d]);
            }
        }
        assertGt(n, 20);
        uint256 m;
        for (; vm.keyExistsJson(json, string.concat(".models[", vm.toString(m), "]")); m++) {
            uint32 steps = uint32(vm.parseJsonUint(json, _at("models", m, "stepCount")));
            bytes32 specRoot = vm.parseJsonBytes32(json, _at("models", m, "specRoot"));
            assertEq(lib.modelId(steps, specRoot), vm.parseJsonBytes32(json, _at("models", m, "id")));
        }
        assertGt(m, 0);
    }

    /// Every case of ops.json: `blocks(spec)` and every output of `evaluate` (the
    /// block's `last`, the element's value at the last block, the leaf) are Rust's.
    function test_everyOpCaseMatchesRust() public view {
        string memory json = vm.readFile("../fixtures/vectors/ops.json");
        OpCase[] memory cases = abi.decode(
            vm.parseJsonTypeArray(
                json,
                ".cases",
                "OpCase(string name,bytes spec,uint256 element,uint256 block,uint256 blocks,bytes prevState,bool last,int256 value,bytes32 leaf,bytes32[] inputRoots,ChunkRange[] inputs,ChunkRange[] weights)ChunkRange(uint256 first,bytes chunks,bytes32[] proof)"
            ),
            (OpCase[])
        );
        assertGt(cases.length, 300);
        bool[16] memory seen;
        bool[16] memory seenLong;
        for (uint256 i = 0; i < cases.length; i++) {
            OpCase memory c = cases[i];
            assertEq(verifier.blocks(c.spec), c.blocks, c.name);
            (bool last, int256 value, bytes32 leaf) = verifier.evaluate(c.spec, c.element, c.block, c.prevState, c.inputRoots, c.inputs, c.weights);
            assertEq(last, c.last, c.name);
            assertEq(value, c.value, c.name);
            assertEq(leaf, c.leaf, c.name);
            uint8 op = uint8(c.spec[1]);
            seen[op] = true;
            if (c.blocks > 1 && c.block > 0) seenLong[op] = true;
        }
        for (uint256 op = 1; op < 16; op++) {
            assertTrue(seen[op], "every op has cases");
        }
        // every reducing op has a case past its first block, from a given state
        uint8[8] memory reducing = [1, 2, 4, 5, 9, 12, 13, 14];
        for (uint256 k = 0; k < reducing.length; k++) {
            assertTrue(seenLong[reducing[k]], "a block after the first");
        }
    }
}
