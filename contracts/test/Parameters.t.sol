// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {OneStepVerifier} from "../src/OneStepVerifier.sol";
import {DisputeGame} from "../src/DisputeGame.sol";

/// @notice The constructors' bounds (docs/protocol.md, "Parameters"): every
///         parameter is accepted at each edge of its bounds and refused one past
///         it, by name, with `ParameterOutOfRange(name, value, least, most)`, the
///         oracle's in the documented order; and `minBond`'s floor pays the defence.
contract ParametersTest is Test {
    ModelRegistry registry = new ModelRegistry();
    OneStepVerifier verifier = new OneStepVerifier();
    uint256 constant MAX128 = type(uint128).max;
    uint64 constant MAX_DURATION = 2_592_000;

    /// @dev The documented defaults, within every bound.
    function _good() internal pure returns (InferenceOracle.Config memory) {
        return InferenceOracle.Config({
            challengeWindow: 3600,
            minStake: 1 ether,
            minBond: 0.1 ether,
            rewardBps: 5000,
            bondBurnBps: 2000,
            requestTimeout: 3600,
            maxCallbackGas: 1_000_000
        });
    }

    function _refused(InferenceOracle.Config memory c, string memory name, uint256 value, uint256 least, uint256 most) internal {
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.ParameterOutOfRange.selector, name, value, least, most));
        new InferenceOracle(registry, c);
    }

    function _accepted(InferenceOracle.Config memory c) internal {
        InferenceOracle.Config memory got = new InferenceOracle(registry, c).config();
        assertEq(abi.encode(got), abi.encode(c));
    }

    function test_theBoundsAreTheDocumentedConstants() public {
        InferenceOracle o = new InferenceOracle(registry, _good());
        assertEq(o.MAX_DURATION(), 2_592_000);
        assertEq(o.MIN_REWARD_BPS(), 1000);
        assertEq(o.MAX_REWARD_BPS(), 9000);
        assertEq(o.MIN_BOND_BURN_BPS(), 1000);
        assertEq(o.MAX_BOND_BURN_BPS(), 9000);
        assertEq(o.MAX_CALLBACK_GAS(), 1_000_000);
        assertEq(o.DEFENCE_GAS_PRICE(), 1 gwei);
        assertEq(o.DEFENCE_GAS() % 250_000, 0, "rounded to 250,000");
        assertEq(o.claimFee(), 0.02 ether);
        DisputeGame g = new DisputeGame(o, verifier, 1, 1800);
        assertEq(g.MAX_ARITY_LOG2(), 4);
        assertEq(g.MAX_DURATION(), 2_592_000);
        assertEq(g.clockExtension(), 450);
    }

    function test_theDurationsAreBoundedToOneSecondToThirtyDays() public {
        InferenceOracle.Config memory c = _good();
        c.challengeWindow = 0;
        _refused(c, "challengeWindow", 0, 1, MAX_DURATION);
        c.challengeWindow = MAX_DURATION + 1;
        _refused(c, "challengeWindow", MAX_DURATION + 1, 1, MAX_DURATION);
        c.challengeWindow = 1;
        _accepted(c);
        c.challengeWindow = MAX_DURATION;
        _accepted(c);
        c = _good();
        c.requestTimeout = 0;
        _refused(c, "requestTimeout", 0, 1, MAX_DURATION);
        c.requestTimeout = MAX_DURATION + 1;
        _refused(c, "requestTimeout", MAX_DURATION + 1, 1, MAX_DURATION);
        c.requestTimeout = 1;
        _accepted(c);
        c.requestTimeout = MAX_DURATION;
        _accepted(c);
    }

    function test_theStakeIsAtLeastOneWeiAndFitsTheAccounting() public {
        InferenceOracle.Config memory c = _good();
        c.minStake = 0;
        _refused(c, "minStake", 0, 1, MAX128);
        c.minStake = MAX128 + 1;
        _refused(c, "minStake", MAX128 + 1, 1, MAX128);
        c.minStake = 1;
        _accepted(c);
        c.minStake = MAX128;
        _accepted(c);
    }

    function test_theBasisPointsAreBoundedToATenthToNineTenths() public {
        InferenceOracle.Config memory c = _good();
        uint16[4] memory bad = [uint16(0), 999, 9001, 10_000];
        for (uint256 i = 0; i < 4; i++) {
            c.rewardBps = bad[i];
            _refused(c, "rewardBps", bad[i], 1000, 9000);
        }
        c.rewardBps = 1000;
        _accepted(c);
        c.rewardBps = 9000;
        _accepted(c);
        c = _good();
        for (uint256 i = 0; i < 4; i++) {
            c.bondBurnBps = bad[i];
            _refused(c, "bondBurnBps", bad[i], 1000, 9000);
        }
        c.bondBurnBps = 1000;
        _accepted(c);
        c.bondBurnBps = 9000;
        _accepted(c);
    }

    /// `minBond` at its floor (for the smallest, the default and the largest
    /// burned share) is accepted, one wei below refused, and at most 2^128 − 1.
    function test_theBondPaysTheDefence() public {
        InferenceOracle o = new InferenceOracle(registry, _good());
        uint16[3] memory burns = [uint16(1000), 2000, 9000];
        for (uint256 i = 0; i < 3; i++) {
            InferenceOracle.Config memory c = _good();
            c.bondBurnBps = burns[i];
            uint256 least = o.leastBond(burns[i]);
            c.minBond = least;
            _accepted(c);
            c.minBond = least - 1;
            _refused(c, "minBond", least - 1, least, MAX128);
            c.minBond = MAX128;
            _accepted(c);
            c.minBond = MAX128 + 1;
            _refused(c, "minBond", MAX128 + 1, least, MAX128);
            c.minBond = 0;
            _refused(c, "minBond", 0, least, MAX128);
        }
    }

    /// The floor is exactly what makes the executor's part of a lost bond pay
    /// `DEFENCE_GAS` at `DEFENCE_GAS_PRICE`; no bond does at 100% burned.
    function test_leastBondIsTheSmallestThatPaysTheDefence() public {
        InferenceOracle o = new InferenceOracle(registry, _good());
        uint256 cost = o.DEFENCE_GAS() * o.DEFENCE_GAS_PRICE() * 10_000;
        for (uint16 b = 1000; b <= 9000; b += 250) {
            uint256 least = o.leastBond(b);
            assertGe(least * (10_000 - b), cost, "pays the defence");
            assertLt((least - 1) * (10_000 - b), cost, "the least that does");
        }
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.ParameterOutOfRange.selector, "bondBurnBps", 10_000, 1000, 9000));
        o.leastBond(10_000);
        // the defaults, 0.1 ether and 20% burned, pay a defence at up to 22 gwei
        uint256 price = 0.08 ether / o.DEFENCE_GAS();
        assertGe(price, 22 gwei);
        assertLt(price, 23 gwei);
    }

    function test_theCallbackGasIsBounded() public {
        InferenceOracle.Config memory c = _good();
        c.maxCallbackGas = 0;
        _accepted(c);
        c.maxCallbackGas = 1_000_000;
        _accepted(c);
        c.maxCallbackGas = 1_000_001;
        _refused(c, "maxCallbackGas", 1_000_001, 0, 1_000_000);
    }

    /// Every parameter out of bounds at once: they are refused one at a time, in
    /// the documented order.
    function test_theOracleNamesTheFirstBadParameterInOrder() public {
        InferenceOracle.Config memory c = InferenceOracle.Config({
            challengeWindow: 0, minStake: 0, minBond: 1, rewardBps: 10_000, bondBurnBps: 0, requestTimeout: 0, maxCallbackGas: 30_000_000
        });
        _refused(c, "challengeWindow", 0, 1, MAX_DURATION);
        c.challengeWindow = 3600;
        _refused(c, "minStake", 0, 1, MAX128);
        c.minStake = 1;
        _refused(c, "rewardBps", 10_000, 1000, 9000);
        c.rewardBps = 5000;
        _refused(c, "bondBurnBps", 0, 1000, 9000);
        c.bondBurnBps = 2000;
        InferenceOracle o = new InferenceOracle(registry, _good());
        _refused(c, "minBond", 1, o.leastBond(2000), MAX128);
        c.minBond = 0.1 ether;
        _refused(c, "requestTimeout", 0, 1, MAX_DURATION);
        c.requestTimeout = 3600;
        _refused(c, "maxCallbackGas", 30_000_000, 0, 1_000_000);
        c.maxCallbackGas = 0;
        _accepted(c);
    }

    function test_theGameBoundsItsArityAndClock() public {
        InferenceOracle o = new InferenceOracle(registry, _good());
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ParameterOutOfRange.selector, "arityLog2", 0, 1, 4));
        new DisputeGame(o, verifier, 0, 1800);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ParameterOutOfRange.selector, "arityLog2", 5, 1, 4));
        new DisputeGame(o, verifier, 5, 1800);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ParameterOutOfRange.selector, "clockSeconds", 0, 1, MAX_DURATION));
        new DisputeGame(o, verifier, 1, 0);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ParameterOutOfRange.selector, "clockSeconds", MAX_DURATION + 1, 1, MAX_DURATION));
        new DisputeGame(o, verifier, 1, MAX_DURATION + 1);
        // the arity first
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ParameterOutOfRange.selector, "arityLog2", 9, 1, 4));
        new DisputeGame(o, verifier, 9, 0);
        assertEq(new DisputeGame(o, verifier, 1, 1).clockExtension(), 0);
        assertEq(new DisputeGame(o, verifier, 4, MAX_DURATION).clockExtension(), MAX_DURATION / 4);
    }
}
