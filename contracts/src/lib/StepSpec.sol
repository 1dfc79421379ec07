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
    error SpecUnknownOp(uint8 op);
    error SpecParamCount(uint8 op, uint256 count);
    error SpecParamRange(uint256 index, int64 value);

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

    /// @notice Parses canonical spec bytes; every byte must be used, and the op
    ///         and its parameters must be well formed (see `checkParams`).
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
        checkParams(s.op, s.params);
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

    /// @notice Checks an op code and its parameter list as the Rust decoder does
    ///         (`Op::from_code`): the documented count per op, flags 0 or 1, and
    ///         kernels, strides (at least 1) and paddings (at least 0) within u32.
    ///         Multipliers and shifts are checked where they are used.
    function checkParams(uint8 op, int64[] memory p) internal pure {
        if (op == OP_INPUT || op == OP_RELU || op == OP_LUT || op == OP_RESHAPE || op == OP_ARGMAX) {
            _count(op, p, 0);
        } else if (op == OP_LINEAR) {
            _count(op, p, 1);
            _flag(p, 0);
        } else if (op == OP_CONV2D) {
            _count(op, p, 5);
            _dim(p, 0, 1);
            _dim(p, 1, 1);
            _dim(p, 2, 0);
            _dim(p, 3, 0);
            _flag(p, 4);
        } else if (op == OP_MAXPOOL2D) {
            _count(op, p, 6);
            for (uint256 i = 0; i < 4; i++) _dim(p, i, 1);
            _dim(p, 4, 0);
            _dim(p, 5, 0);
        } else if (op == OP_AVGPOOL2D) {
            _count(op, p, 6);
            for (uint256 i = 0; i < 4; i++) _dim(p, i, 1);
        } else if (op == OP_ADD) {
            _count(op, p, 4);
            _flag(p, 3);
        } else {
            revert SpecUnknownOp(op);
        }
    }

    function _count(uint8 op, int64[] memory p, uint256 n) private pure {
        if (p.length != n) revert SpecParamCount(op, p.length);
    }

    function _flag(int64[] memory p, uint256 i) private pure {
        if (p[i] != 0 && p[i] != 1) revert SpecParamRange(i, p[i]);
    }

    function _dim(int64[] memory p, uint256 i, int64 min) private pure {
        if (p[i] < min || p[i] > int64(uint64(type(uint32).max))) revert SpecParamRange(i, p[i]);
    }

    /// @notice Whether `t` is exactly (`dtype`, `shape`).
    function sameType(TensorType memory t, uint8 dtype, uint32[] calldata shape) internal pure returns (bool) {
        if (t.dtype != dtype || t.shape.length != shape.length) return false;
        for (uint256 i = 0; i < shape.length; i++) {
            if (t.shape[i] != shape[i]) return false;
        }
        return true;
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
