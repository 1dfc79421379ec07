// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {StepSpec, Spec} from "../src/lib/StepSpec.sol";

/// @notice Exposes the calldata spec reader.
contract SpecHarness {
    using StepSpec for Spec;
    using StepSpec for uint256;

    /// @notice Everything `read` gives of a spec, copied out.
    function describe(bytes calldata spec)
        external
        pure
        returns (uint8 op, uint32[] memory outShape, uint256[] memory inputSteps, int256[] memory params, bytes32[] memory roots)
    {
        Spec s = StepSpec.read(spec);
        op = s.opCode();
        outShape = s.outType().shapeOf();
        inputSteps = new uint256[](s.inputCount());
        for (uint256 j = 0; j < inputSteps.length; j++) {
            (inputSteps[j],) = s.input(j);
        }
        params = new int256[](s.paramCount());
        for (uint256 i = 0; i < params.length; i++) {
            params[i] = s.param(i);
        }
        roots = new bytes32[](s.weightCount());
        for (uint256 k = 0; k < roots.length; k++) {
            (, roots[k]) = s.weight(k);
        }
    }

    /// @notice The commitment of input `j` with `root`, and the byte length of its type.
    function inputCommitment(bytes calldata spec, uint256 j, bytes32 root) external pure returns (bytes32, uint256) {
        (, uint256 t) = StepSpec.read(spec).input(j);
        return (t.commitment(root), t.byteLen());
    }
}

/// @notice The calldata spec reader validates exactly what the Rust decoder does
///         (crates/core/src/spec.rs): op-set version 2, known ops with their
///         parameter counts and ranges, dtypes 1 and 2, ranks up to 8, every byte
///         used.
contract SpecsTest is Test {
    SpecHarness h;

    function setUp() public {
        h = new SpecHarness();
    }

    /// @dev The sample of the Rust tests: conv2d [2,8,8] -> [4,8,4], stride (1,2),
    ///      padding (1,0), relu, reading step 3, two weights.
    function _sample() internal pure returns (bytes memory) {
        return abi.encodePacked(
            uint8(2),
            uint8(2),
            abi.encodePacked(uint8(1), uint8(3), uint32(4), uint32(8), uint32(4)),
            uint8(1),
            abi.encodePacked(uint32(3), uint8(1), uint8(3), uint32(2), uint32(8), uint32(8)),
            abi.encodePacked(uint8(5), int64(1), int64(2), int64(1), int64(0), int64(1)),
            uint8(2),
            abi.encodePacked(uint8(1), uint8(4), uint32(4), uint32(2), uint32(3), uint32(3), bytes32(uint256(7))),
            abi.encodePacked(uint8(2), uint8(2), uint32(4), uint32(3), bytes32(uint256(9)))
        );
    }

    function test_aWellFormedSpecIsReadByOffset() public view {
        bytes memory spec = _sample();
        // version, op, out type (2 + 12), 1 input (4 + 2 + 12), 5 params, 2 weights
        assertEq(spec.length, 2 + 14 + 1 + 18 + 1 + 40 + 1 + (2 + 16 + 32) + (2 + 8 + 32));
        (uint8 op, uint32[] memory out, uint256[] memory steps, int256[] memory params, bytes32[] memory roots) = h.describe(spec);
        assertEq(op, 2);
        assertEq(out.length, 3);
        assertEq(out[1], 8);
        assertEq(steps.length, 1);
        assertEq(steps[0], 3);
        assertEq(params.length, 5);
        assertEq(params[1], 2);
        assertEq(params[4], 1);
        assertEq(roots[0], bytes32(uint256(7)));
        assertEq(roots[1], bytes32(uint256(9)));
        (bytes32 c, uint256 len) = h.inputCommitment(spec, 0, bytes32(uint256(5)));
        assertEq(c, keccak256(abi.encodePacked(uint8(2), uint8(1), uint8(3), uint32(2), uint32(8), uint32(8), bytes32(uint256(5)))));
        assertEq(len, 128);
    }

    function _expect(bytes memory spec, bytes memory err) internal {
        vm.expectRevert(err);
        h.describe(spec);
    }

    function test_malformedSpecsAreRefused() public {
        bytes memory spec = _sample();
        bytes memory cut = new bytes(spec.length - 1);
        for (uint256 i = 0; i < cut.length; i++) {
            cut[i] = spec[i];
        }
        _expect(cut, abi.encodeWithSelector(StepSpec.SpecTruncated.selector));
        _expect(hex"02", abi.encodeWithSelector(StepSpec.SpecTruncated.selector));
        _expect(bytes.concat(spec, hex"00"), abi.encodeWithSelector(StepSpec.SpecTrailingBytes.selector));
        bytes memory v = bytes.concat(spec);
        v[0] = 0x01;
        _expect(v, abi.encodeWithSelector(StepSpec.SpecVersion.selector, 1));
        v = bytes.concat(spec);
        v[1] = 0x10;
        _expect(v, abi.encodeWithSelector(StepSpec.SpecUnknownOp.selector, 16));
        v = bytes.concat(spec);
        v[1] = 0x0f; // residual takes three
        _expect(v, abi.encodeWithSelector(StepSpec.SpecParamCount.selector, 15, 5));
        v = bytes.concat(spec);
        v[1] = 0x0e; // layernorm takes three
        _expect(v, abi.encodeWithSelector(StepSpec.SpecParamCount.selector, 14, 5));
        v = bytes.concat(spec);
        v[1] = 0x0d; // softmax takes two
        _expect(v, abi.encodeWithSelector(StepSpec.SpecParamCount.selector, 13, 5));
        v = bytes.concat(spec);
        v[1] = 0x0a; // embedding takes no parameters
        _expect(v, abi.encodeWithSelector(StepSpec.SpecParamCount.selector, 10, 5));
        v = bytes.concat(spec);
        v[1] = 0x0c; // matmul takes three
        _expect(v, abi.encodeWithSelector(StepSpec.SpecParamCount.selector, 12, 5));
        v = bytes.concat(spec);
        v[1] = 0x01; // linear takes one parameter, not five
        _expect(v, abi.encodeWithSelector(StepSpec.SpecParamCount.selector, 1, 5));
        v = bytes.concat(spec);
        v[2] = 0x03;
        _expect(v, abi.encodeWithSelector(StepSpec.SpecDType.selector, 3));
        // a rank of 9: the bytes after it do not matter
        bytes memory r9 = abi.encodePacked(uint8(2), uint8(3), uint8(1), uint8(9), new bytes(36), uint8(0), uint8(0), uint8(0));
        _expect(r9, abi.encodeWithSelector(StepSpec.SpecRank.selector, 9));
    }

    /// @dev The sample with parameter `i` set to `value`.
    function _withParam(uint256 i, int64 value) internal pure returns (bytes memory v) {
        v = _sample();
        uint256 at = 2 + 14 + 1 + 18 + 1 + 8 * i;
        bytes8 b = bytes8(uint64(value));
        for (uint256 k = 0; k < 8; k++) {
            v[at + k] = b[k];
        }
    }

    function test_parametersOutOfRangeAreRefused() public {
        _expect(_withParam(0, 0), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 0, int64(0)));
        _expect(_withParam(2, -1), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 2, int64(-1)));
        _expect(_withParam(3, 2 ** 32), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 3, int64(2 ** 32)));
        _expect(_withParam(4, 2), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 4, int64(2)));
        (,,, int256[] memory p,) = h.describe(_withParam(3, 2 ** 32 - 1));
        assertEq(p[3], 2 ** 32 - 1);
    }

    /// @dev A softmax spec (op 13) of int8 [2, 3] with parameters (`masked`, `pad`) and
    ///      no inputs or weights (the reader checks parameters, not arity).
    function _softmax(int64 masked, int64 pad) internal pure returns (bytes memory) {
        return
            abi.encodePacked(
                uint8(2), uint8(13), abi.encodePacked(uint8(1), uint8(2), uint32(2), uint32(3)), uint8(0), uint8(2), masked, pad, uint8(0)
            );
    }

    /// A softmax's pad id is an int32 value, and 0 without a mask, as `Op::from_code`
    /// requires.
    function test_aSoftmaxPadIsAnInt32Id() public {
        (,,, int256[] memory p,) = h.describe(_softmax(1, type(int32).min));
        assertEq(p[1], type(int32).min);
        h.describe(_softmax(1, type(int32).max));
        h.describe(_softmax(0, 0));
        _expect(_softmax(1, int64(type(int32).max) + 1), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 1, int64(type(int32).max) + 1));
        _expect(_softmax(0, 5), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 1, int64(5)));
        _expect(_softmax(2, 0), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 0, int64(2)));
    }

    /// @dev A layer norm spec (op 14) of int8 [2, 3] with parameters (`pre`, `eps`,
    ///      `sh`) and no inputs or weights (the reader checks parameters, not arity).
    function _layernorm(int64 pre, int64 eps, int64 sh) internal pure returns (bytes memory) {
        return
            abi.encodePacked(
                uint8(2), uint8(14), abi.encodePacked(uint8(1), uint8(2), uint32(2), uint32(3)), uint8(0), uint8(3), pre, eps, sh, uint8(0)
            );
    }

    /// A layer norm's input shift is in [0, 31], eps in [0, 2^56] and its output
    /// shift in [0, 32], as `Op::from_code` requires.
    function test_aLayerNormsParamsAreInRange() public {
        (,,, int256[] memory p,) = h.describe(_layernorm(31, 2 ** 56, 32));
        assertEq(p[1], 2 ** 56);
        h.describe(_layernorm(0, 0, 0));
        _expect(_layernorm(32, 0, 0), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 0, int64(32)));
        _expect(_layernorm(0, 2 ** 56 + 1, 0), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 1, int64(2 ** 56 + 1)));
        _expect(_layernorm(0, -1, 0), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 1, int64(-1)));
        _expect(_layernorm(0, 0, 33), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 2, int64(33)));
    }

    /// @dev A residual spec (op 15) of int32 [2, 3] with parameters (`ma`, `mb`, `sh`)
    ///      and no inputs (the reader checks parameters, not arity).
    function _residual(int64 ma, int64 mb, int64 sh) internal pure returns (bytes memory) {
        return
            abi.encodePacked(
                uint8(2), uint8(15), abi.encodePacked(uint8(2), uint8(2), uint32(2), uint32(3)), uint8(0), uint8(3), ma, mb, sh, uint8(0)
            );
    }

    /// A residual's multipliers are in [0, 2^30] and its shift in [0, 62], as
    /// `Op::from_code` requires.
    function test_aResidualsParamsAreInRange() public {
        (,,, int256[] memory p,) = h.describe(_residual(2 ** 30, 0, 62));
        assertEq(p[0], 2 ** 30);
        h.describe(_residual(0, 2 ** 30, 0));
        _expect(_residual(2 ** 30 + 1, 0, 0), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 0, int64(2 ** 30 + 1)));
        _expect(_residual(0, -1, 0), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 1, int64(-1)));
        _expect(_residual(0, 0, 63), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 2, int64(63)));
    }

    /// @dev The sample as a permute (op 11) of its five parameters.
    function _permute(int64[5] memory perm) internal pure returns (bytes memory v) {
        v = _sample();
        v[1] = 0x0b;
        for (uint256 i = 0; i < 5; i++) {
            bytes8 b = bytes8(uint64(perm[i]));
            for (uint256 k = 0; k < 8; k++) {
                v[2 + 14 + 1 + 18 + 1 + 8 * i + k] = b[k];
            }
        }
    }

    /// A permutation names each of its axes once, as `Op::from_code` requires.
    function test_aPermutationNamesEveryAxisOnce() public {
        (,,, int256[] memory p,) = h.describe(_permute([int64(4), 0, 3, 1, 2]));
        assertEq(p[0], 4);
        assertEq(p[4], 2);
        _expect(_permute([int64(1), 2, 1, 0, 4]), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 2, int64(1)));
        _expect(_permute([int64(0), 1, 2, 3, 5]), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 4, int64(5)));
        _expect(_permute([int64(0), -1, 2, 3, 4]), abi.encodeWithSelector(StepSpec.SpecParamRange.selector, 1, int64(-1)));
        // no parameters: not a permutation of any rank
        bytes memory none = abi.encodePacked(uint8(2), uint8(11), uint8(1), uint8(0), uint8(0), uint8(0), uint8(0));
        _expect(none, abi.encodeWithSelector(StepSpec.SpecParamCount.selector, 11, 0));
    }
}
