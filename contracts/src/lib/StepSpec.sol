// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Commitments} from "./Commitments.sol";

/// @notice A validated step spec in calldata: where its parts start, packed in one
///         word so that it lives on the stack (bits 0-7: op code; then 32 bits each:
///         the output type, the input count byte, the parameter count byte and the
///         weight count byte, as absolute calldata offsets). Made only by
///         `StepSpec.read`, which checks every byte first.
type Spec is uint256;

/// @title StepSpec
/// @notice Reads the canonical bytes of a step spec (docs/commitments.md, "Step
///         specs") where they lie in calldata, without copying them: `read`
///         validates the whole encoding once, exactly as the Rust decoder does
///         (crates/core/src/spec.rs, `StepSpec::decode` and `Op::from_code`), and
///         returns a `Spec` through which the op, its parameters, the output type,
///         the inputs and the weights are read by offset.
///
///         A *type* is named by the calldata offset of its dtype byte; it is
///         `dtype:u8 ‖ rank:u8 ‖ dim:u32*`, the same bytes a tensor commitment hashes.
library StepSpec {
    uint8 internal constant VERSION = 2;
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
    uint8 internal constant OP_EMBEDDING = 10;
    uint8 internal constant OP_PERMUTE = 11;
    uint8 internal constant OP_MATMUL = 12;
    uint8 internal constant OP_SOFTMAX = 13;
    uint8 internal constant OP_LAYERNORM = 14;
    uint8 internal constant OP_RESIDUAL = 15;

    error SpecTruncated();
    error SpecTrailingBytes();
    error SpecVersion(uint8 version);
    error SpecDType(uint8 dtype);
    error SpecRank(uint256 rank);
    error SpecUnknownOp(uint8 op);
    error SpecParamCount(uint8 op, uint256 count);
    error SpecParamRange(uint256 index, int64 value);

    // ------------------------------------------------------------- validation

    /// @notice Validates `b` as canonical spec bytes of op-set 2 and returns where
    ///         its parts are: version 2, a known op with its documented parameter
    ///         count and ranges (`checkParams`), dtype codes 1 or 2, ranks at most 8,
    ///         and no byte left over.
    function read(bytes calldata b) internal pure returns (Spec s) {
        uint256 p;
        uint256 end;
        assembly ("memory-safe") {
            p := b.offset
            end := add(p, b.length)
        }
        if (b.length < 2) revert SpecTruncated();
        uint8 version = _u8(p);
        if (version != VERSION) revert SpecVersion(version);
        uint256 code = _u8(p + 1);
        uint256 outAt = p + 2;
        p = _type(outAt, end);
        uint256 inputs = p;
        p = _need(p, 1, end);
        uint256 n = _u8(inputs);
        for (uint256 j = 0; j < n; j++) {
            p = _type(_need(p, 4, end), end);
        }
        uint256 params = p;
        p = _need(p, 1, end);
        n = _u8(params);
        p = _need(p, 8 * n, end);
        checkParams(uint8(code), params);
        uint256 weights = p;
        p = _need(p, 1, end);
        n = _u8(weights);
        for (uint256 k = 0; k < n; k++) {
            p = _need(_type(p, end), 32, end);
        }
        if (p != end) revert SpecTrailingBytes();
        s = Spec.wrap(code | (outAt << 8) | (inputs << 40) | (params << 72) | (weights << 104));
    }

    function _u8(uint256 at) private pure returns (uint8 v) {
        assembly ("memory-safe") {
            v := byte(0, calldataload(at))
        }
    }

    /// @dev `p + n`, reverting if that is past `end`.
    function _need(uint256 p, uint256 n, uint256 end) private pure returns (uint256) {
        if (n > end - p) revert SpecTruncated();
        return p + n;
    }

    /// @dev Validates the type at `t` and returns the offset after it.
    function _type(uint256 t, uint256 end) private pure returns (uint256) {
        _need(t, 2, end);
        uint8 d = _u8(t);
        if (d != Commitments.DTYPE_I8 && d != Commitments.DTYPE_I32) revert SpecDType(d);
        uint256 r = _u8(t + 1);
        if (r > MAX_RANK) revert SpecRank(r);
        return _need(t + 2, 4 * r, end);
    }

    /// @notice Checks an op code and its parameters (count byte at `params`) as the
    ///         Rust decoder does (`Op::from_code`): the documented count per op, flags
    ///         0 or 1, kernels, strides (at least 1) and paddings (at least 0)
    ///         within u32, a permutation naming each of its 1 to 8 axes once, and a
    ///         softmax's pad id within int32 (0 without a mask), and a layer norm's
    ///         input shift in [0, 31], eps in [0, 2^56] and output shift in [0, 32],
    ///         and a residual's multipliers in [0, 2^30] and shift in [0, 62].
    ///         Other multipliers and shifts are checked where they are used.
    function checkParams(uint8 op, uint256 params) internal pure {
        uint256 n = _u8(params);
        if (op == OP_INPUT || op == OP_RELU || op == OP_LUT || op == OP_RESHAPE || op == OP_ARGMAX || op == OP_EMBEDDING) {
            _count(op, n, 0);
        } else if (op == OP_LINEAR) {
            _count(op, n, 1);
            _flag(params, 0);
        } else if (op == OP_CONV2D) {
            _count(op, n, 5);
            _dim(params, 0, 1);
            _dim(params, 1, 1);
            _dim(params, 2, 0);
            _dim(params, 3, 0);
            _flag(params, 4);
        } else if (op == OP_MAXPOOL2D) {
            _count(op, n, 6);
            for (uint256 i = 0; i < 4; i++) {
                _dim(params, i, 1);
            }
            _dim(params, 4, 0);
            _dim(params, 5, 0);
        } else if (op == OP_AVGPOOL2D) {
            _count(op, n, 6);
            for (uint256 i = 0; i < 4; i++) {
                _dim(params, i, 1);
            }
        } else if (op == OP_ADD) {
            _count(op, n, 4);
            _flag(params, 3);
        } else if (op == OP_MATMUL) {
            _count(op, n, 3);
            _flag(params, 0);
        } else if (op == OP_SOFTMAX) {
            // [masked, pad]: the pad id an int32 value, and 0 without a mask
            _count(op, n, 2);
            _flag(params, 0);
            int64 pad = _paramAt(params, 1);
            if (pad < type(int32).min || pad > type(int32).max || (_paramAt(params, 0) == 0 && pad != 0)) revert SpecParamRange(1, pad);
        } else if (op == OP_LAYERNORM) {
            // [pre, eps, s]
            _count(op, n, 3);
            _within(params, 0, 31);
            _within(params, 1, 2 ** 56);
            _within(params, 2, 32);
        } else if (op == OP_RESIDUAL) {
            // [mA, mB, s]
            _count(op, n, 3);
            _within(params, 0, 2 ** 30);
            _within(params, 1, 2 ** 30);
            _within(params, 2, 62);
        } else if (op == OP_PERMUTE) {
            // a permutation of the n axes, 1 <= n <= 8: each axis below n, none twice
            if (n == 0 || n > MAX_RANK) revert SpecParamCount(op, n);
            uint256 used;
            for (uint256 i = 0; i < n; i++) {
                int64 a = _paramAt(params, i);
                if (a < 0 || uint64(a) >= n || (used >> uint64(a)) & 1 == 1) revert SpecParamRange(i, a);
                used |= uint256(1) << uint64(a);
            }
        } else {
            revert SpecUnknownOp(op);
        }
    }

    function _count(uint8 op, uint256 got, uint256 want) private pure {
        if (got != want) revert SpecParamCount(op, got);
    }

    function _paramAt(uint256 params, uint256 i) private pure returns (int64 v) {
        assembly ("memory-safe") {
            v := signextend(7, shr(192, calldataload(add(add(params, 1), shl(3, i)))))
        }
    }

    function _flag(uint256 params, uint256 i) private pure {
        int64 v = _paramAt(params, i);
        if (v != 0 && v != 1) revert SpecParamRange(i, v);
    }

    function _within(uint256 params, uint256 i, int64 max) private pure {
        int64 v = _paramAt(params, i);
        if (v < 0 || v > max) revert SpecParamRange(i, v);
    }

    function _dim(uint256 params, uint256 i, int64 min) private pure {
        int64 v = _paramAt(params, i);
        if (v < min || v > int64(uint64(type(uint32).max))) revert SpecParamRange(i, v);
    }

    // ------------------------------------------------------------------ parts

    /// @notice The op code.
    function opCode(Spec s) internal pure returns (uint8) {
        return uint8(Spec.unwrap(s));
    }

    /// @notice The output type.
    function outType(Spec s) internal pure returns (uint256 t) {
        return uint32(Spec.unwrap(s) >> 8);
    }

    /// @notice The number of inputs.
    function inputCount(Spec s) internal pure returns (uint256) {
        return _u8(uint32(Spec.unwrap(s) >> 40));
    }

    /// @notice Input `j`: the step it reads and that step's output type.
    function input(Spec s, uint256 j) internal pure returns (uint256 step, uint256 t) {
        uint256 p = uint32(Spec.unwrap(s) >> 40) + 1;
        for (uint256 i = 0; i < j; i++) {
            p = typeEnd(p + 4);
        }
        assembly ("memory-safe") {
            step := shr(224, calldataload(p))
        }
        t = p + 4;
    }

    /// @notice The number of parameters.
    function paramCount(Spec s) internal pure returns (uint256) {
        return _u8(uint32(Spec.unwrap(s) >> 72));
    }

    /// @notice Parameter `i` (an i64), unchecked against the count: callers read
    ///         only the parameters their op has (`read` checked the count).
    function param(Spec s, uint256 i) internal pure returns (int256) {
        return _paramAt(uint32(Spec.unwrap(s) >> 72), i);
    }

    /// @notice The number of weights.
    function weightCount(Spec s) internal pure returns (uint256) {
        return _u8(uint32(Spec.unwrap(s) >> 104));
    }

    /// @notice Weight `k`: its type and data root.
    function weight(Spec s, uint256 k) internal pure returns (uint256 t, bytes32 root) {
        uint256 p = uint32(Spec.unwrap(s) >> 104) + 1;
        for (uint256 i = 0; i < k; i++) {
            p = typeEnd(p) + 32;
        }
        t = p;
        uint256 r = typeEnd(p);
        assembly ("memory-safe") {
            root := calldataload(r)
        }
    }

    // ------------------------------------------------------------------ types

    /// @notice The dtype code of the type at `t`.
    function dtype(uint256 t) internal pure returns (uint8) {
        return _u8(t);
    }

    /// @notice The rank of the type at `t`.
    function rank(uint256 t) internal pure returns (uint256) {
        return _u8(t + 1);
    }

    /// @notice Dimension `i` of the type at `t` (unchecked against the rank).
    function dim(uint256 t, uint256 i) internal pure returns (uint256 d) {
        assembly ("memory-safe") {
            d := shr(224, calldataload(add(add(t, 2), shl(2, i))))
        }
    }

    /// @notice The last dimension of the type at `t` (rank at least 1).
    function lastDim(uint256 t) internal pure returns (uint256) {
        return dim(t, rank(t) - 1);
    }

    /// @notice The offset just past the type at `t`.
    function typeEnd(uint256 t) internal pure returns (uint256) {
        return t + 2 + 4 * rank(t);
    }

    /// @notice Bytes per element of the type at `t` (1 for int8, 4 for int32).
    function elemSize(uint256 t) internal pure returns (uint256) {
        return _u8(t) == Commitments.DTYPE_I8 ? 1 : 4;
    }

    /// @notice Element count of the type at `t` (1 for rank 0). At most
    ///         (2^32 - 1)^8, so it cannot overflow.
    function numel(uint256 t) internal pure returns (uint256 n) {
        uint256 r = rank(t);
        assembly ("memory-safe") {
            n := 1
            for { let i := 0 } lt(i, r) { i := add(i, 1) } {
                n := mul(n, shr(224, calldataload(add(add(t, 2), shl(2, i)))))
            }
        }
    }

    /// @notice Canonical byte length of the type at `t` (checked arithmetic).
    function byteLen(uint256 t) internal pure returns (uint256) {
        return numel(t) * elemSize(t);
    }

    /// @notice Whether the types at `a` and `b` are the same (dtype and shape).
    function sameType(uint256 a, uint256 b) internal pure returns (bool same) {
        uint256 len = 2 + 4 * rank(a);
        assembly ("memory-safe") {
            // the type is at most 34 bytes: compare two words, masked to its length
            let m0 := not(0)
            let m1 := 0
            if lt(len, 32) { m0 := not(shr(shl(3, len), not(0))) }
            if gt(len, 32) { m1 := not(shr(shl(3, sub(len, 32)), not(0))) }
            same := and(
                eq(and(calldataload(a), m0), and(calldataload(b), m0)),
                eq(and(calldataload(add(a, 32)), m1), and(calldataload(add(b, 32)), m1))
            )
        }
    }

    /// @notice Whether the type at `t` is exactly (`dtype_`, `shape`).
    function sameType(uint256 t, uint8 dtype_, uint32[] calldata shape) internal pure returns (bool) {
        uint256 r = rank(t);
        if (dtype(t) != dtype_ || r != shape.length) return false;
        for (uint256 i = 0; i < r; i++) {
            if (dim(t, i) != shape[i]) return false;
        }
        return true;
    }

    /// @notice The commitment of a tensor of the type at `t` with data root `root`:
    ///         keccak256(0x02 ‖ type bytes ‖ root) (docs/commitments.md).
    function commitment(uint256 t, bytes32 root) internal pure returns (bytes32 h) {
        uint256 len = 2 + 4 * rank(t);
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore8(m, 0x02)
            calldatacopy(add(m, 1), t, len)
            mstore(add(add(m, 1), len), root)
            h := keccak256(m, add(33, len))
        }
    }

    /// @notice The shape of the type at `t`, copied to memory (for storage).
    function shapeOf(uint256 t) internal pure returns (uint32[] memory s) {
        uint256 r = rank(t);
        s = new uint32[](r);
        for (uint256 i = 0; i < r; i++) {
            s[i] = uint32(dim(t, i));
        }
    }
}
