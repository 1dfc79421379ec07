// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Commitments} from "./Commitments.sol";

/// @title StepSpec
/// @notice Parses the canonical bytes of a step spec (docs/commitments.md, "Step
///         specs"); the Rust twin is crates/core/src/spec.rs.
library StepSpec {
    uint8 internal constant VERSION = 1;
    uint256 internal constant MAX_RANK = 8;

    uint8 internal constant OP_INPUT = 0;
    uint8 internal constant OP_LINEAR = 1;
    uint8 internal constant OP_CONV2D = 2;
    uint8 internal constant OP_RELU = 3;
    uint8 internal constant OP_MAXPOOL2D = 4;
    uint8 internal constant OP_AVGPOOL2D = 5;
    uint8 internal constant OP_ADD = 6;
    uint8 internal constant OP_LUT = 7;
    uint8 internal constant OP_RESHAPE = 8;
    uint8 internal constant OP_ARGMAX = 9;

    /// @notice A dtype and a shape.
    struct TensorType {
        uint8 dtype;
        uint32[] shape;
    }

    /// @notice An input: the step it reads and that step's output type.
    struct Input {
        uint32 step;
        TensorType ty;
    }

    /// @notice A weight header: type and data root.
    struct Weight {
        TensorType ty;
        bytes32 dataRoot;
    }

    /// @notice A parsed spec.
    struct Spec {
        uint8 op;
        TensorType out;
        Input[] inputs;
        int64[] params;
        Weight[] weights;
    }

    error SpecTruncated();
    error SpecTrailingBytes();
    error SpecVersion(uint8 version);
    error SpecDType(uint8 dtype);
    error SpecRank(uint256 rank);

    function _u8(bytes memory b, uint256 p) private pure returns (uint8 v, uint256) {
        if (p + 1 > b.length) revert SpecTruncated();
        return (uint8(b[p]), p + 1);
    }

    function _word(bytes memory b, uint256 p, uint256 n) private pure returns (uint256 v, uint256) {
        if (p + n > b.length) revert SpecTruncated();
        assembly ("memory-safe") {
            v := shr(sub(256, mul(n, 8)), mload(add(add(b, 32), p)))
        }
        return (v, p + n);
    }

    function _type(bytes memory b, uint256 p) private pure returns (TensorType memory t, uint256) {
        uint8 dtype;
        uint8 rank;
        (dtype, p) = _u8(b, p);
        if (dtype != Commitments.DTYPE_I8 && dtype != Commitments.DTYPE_I32) revert SpecDType(dtype);
        (rank, p) = _u8(b, p);
        if (rank > MAX_RANK) revert SpecRank(rank);
        t.dtype = dtype;
        t.shape = new uint32[](rank);
        for (uint256 i = 0; i < rank; i++) {
            uint256 d;
            (d, p) = _word(b, p, 4);
            t.shape[i] = uint32(d);
        }
        return (t, p);
    }

    /// @notice Parses canonical spec bytes; every byte must be used.
    function parse(bytes memory b) internal pure returns (Spec memory s) {
        uint256 p = 0;
        uint8 version;
        (version, p) = _u8(b, p);
        if (version != VERSION) revert SpecVersion(version);
        (s.op, p) = _u8(b, p);
        (s.out, p) = _type(b, p);
        uint8 n;
        (n, p) = _u8(b, p);
        s.inputs = new Input[](n);
        for (uint256 i = 0; i < n; i++) {
            uint256 step;
            (step, p) = _word(b, p, 4);
            s.inputs[i].step = uint32(step);
            (s.inputs[i].ty, p) = _type(b, p);
        }
        (n, p) = _u8(b, p);
        s.params = new int64[](n);
        for (uint256 i = 0; i < n; i++) {
            uint256 v;
            (v, p) = _word(b, p, 8);
            s.params[i] = int64(uint64(v));
        }
        (n, p) = _u8(b, p);
        s.weights = new Weight[](n);
        for (uint256 i = 0; i < n; i++) {
            (s.weights[i].ty, p) = _type(b, p);
            uint256 root;
            (root, p) = _word(b, p, 32);
            s.weights[i].dataRoot = bytes32(root);
        }
        if (p != b.length) revert SpecTrailingBytes();
    }

    /// @notice Canonical byte length of a type.
    function byteLen(TensorType memory t) internal pure returns (uint256) {
        return Commitments.byteLen(t.dtype, t.shape);
    }

    /// @notice Element count of a type.
    function numel(TensorType memory t) internal pure returns (uint256) {
        return Commitments.numel(t.shape);
    }

    /// @notice The commitment of a tensor of type `t` with data root `root`.
    function commitment(TensorType memory t, bytes32 root) internal pure returns (bytes32) {
        return Commitments.tensorCommitment(t.dtype, t.shape, root);
    }
}
