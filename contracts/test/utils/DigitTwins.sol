// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Kit, StepDef, ModelDef} from "./Kit.sol";
import {Ref} from "./Ref.sol";

/// @title DigitTwins
/// @notice Solidity-built twins of fixtures/models/digits-{mlp,cnn,resnet}.json:
///         the same steps, shapes and op parameters (the add and avgpool constants
///         are the fixture's), random weights. Gas depends on shapes and on how
///         many calldata bytes are non-zero, not on the weights' values, so the
///         gas table and the budget test measure on these. Step `i`'s weights are
///         drawn from seed `seed + i`.
library DigitTwins {
    /// @notice digits-mlp: 64 -> 64 (ReLU) -> 10 -> argmax.
    function mlp(uint256 seed) internal pure returns (ModelDef memory) {
        StepDef[] memory s = new StepDef[](4);
        s[0] = Ref.input(Kit.s1(64));
        s[1] = Ref.linear(0, s[0].out, 64, true, seed + 1);
        s[2] = Ref.linear(1, s[1].out, 10, false, seed + 2);
        s[3] = Ref.argmax(2, s[2].out);
        return Ref.build(s);
    }

    /// @notice digits-cnn: [1,8,8] conv3x3 pad 1 (8, ReLU) -> maxpool 2 -> conv3x3
    ///         (16, ReLU) -> reshape [64] -> linear 10 -> argmax.
    function cnn(uint256 seed) internal pure returns (ModelDef memory) {
        StepDef[] memory s = new StepDef[](7);
        s[0] = Ref.input(Kit.s3(1, 8, 8));
        s[1] = Ref.conv(0, s[0].out, 8, 3, 1, 1, true, seed + 1);
        s[2] = Ref.maxpool(1, s[1].out, 2, 2, 0);
        s[3] = Ref.conv(2, s[2].out, 16, 3, 1, 0, true, seed + 3);
        s[4] = Ref.unary(Ref.RESHAPE, 3, Kit.i8(Kit.s1(64)), Ref.noParams());
        s[5] = Ref.linear(4, s[4].out, 10, false, seed + 5);
        s[6] = Ref.argmax(5, s[5].out);
        return Ref.build(s);
    }

    /// @notice digits-resnet: [1,8,8] stem conv (16, ReLU) -> conv (ReLU) -> conv ->
    ///         add with the stem (ReLU) -> global avgpool 8x8 -> reshape [16] ->
    ///         linear 10 -> argmax.
    function resnet(uint256 seed) internal pure returns (ModelDef memory) {
        StepDef[] memory s = new StepDef[](9);
        s[0] = Ref.input(Kit.s3(1, 8, 8));
        s[1] = Ref.conv(0, s[0].out, 16, 3, 1, 1, true, seed + 1);
        s[2] = Ref.conv(1, s[1].out, 16, 3, 1, 1, true, seed + 2);
        s[3] = Ref.conv(2, s[2].out, 16, 3, 1, 1, false, seed + 3);
        s[4] = Ref.add(3, 1, s[3].out, 1660384161, 38227055, 30, true);
        s[5] = Ref.avgpool(4, s[4].out, 8, 8, 8, 1265034798, 34);
        s[6] = Ref.unary(Ref.RESHAPE, 5, Kit.i8(Kit.s1(16)), Ref.noParams());
        s[7] = Ref.linear(6, s[6].out, 10, false, seed + 7);
        s[8] = Ref.argmax(7, s[7].out);
        return Ref.build(s);
    }
}
