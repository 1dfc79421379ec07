// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {Deploy} from "../script/Deploy.s.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";

/// @notice The deployment script: parameters from the environment, defaults for a
///         devnet, and the game named in the oracle.
contract DeployTest is Test {
    /// @dev One test for defaults and overrides: the environment is shared by the
    ///      whole test process, so the overrides are put back to the defaults.
    function test_defaultsAndEnvironmentOverrides() public {
        Deploy script = new Deploy();
        Deploy.Deployment memory d = script.deploy();
        assertEq(d.oracle.disputeGame(), address(d.game));
        assertEq(address(d.oracle.registry()), address(d.registry));
        assertEq(address(d.game.oracle()), address(d.oracle));
        assertEq(address(d.game.verifier()), address(d.verifier));
        assertEq(d.game.arityLog2(), 1);
        assertEq(d.game.clockSeconds(), 300);
        InferenceOracle.Config memory c = d.oracle.config();
        assertEq(c.challengeWindow, 600);
        assertEq(c.minStake, 1 ether);
        assertEq(c.minBond, 0.1 ether);
        assertEq(c.rewardBps, 5000);
        assertEq(c.bondBurnBps, 1000);
        assertEq(c.requestTimeout, 3600);
        assertEq(c.maxCallbackGas, 1_000_000);

        vm.setEnv("CHALLENGE_WINDOW", "86400");
        vm.setEnv("MIN_BOND", "5000000000000000");
        vm.setEnv("ARITY_LOG2", "3");
        vm.setEnv("CLOCK_SECONDS", "7200");
        d = script.deploy();
        assertEq(d.oracle.challengeWindow(), 86400);
        assertEq(d.oracle.minBond(), 0.005 ether);
        assertEq(d.game.arityLog2(), 3);
        assertEq(d.game.clockSeconds(), 7200);
        // a bond below the defence floor is refused by name, before the game is deployed
        vm.setEnv("MIN_BOND", "5");
        uint256 least = d.oracle.leastBond(1000);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.ParameterOutOfRange.selector, "minBond", 5, least, type(uint128).max));
        script.deploy();
        vm.setEnv("CHALLENGE_WINDOW", "600");
        vm.setEnv("MIN_BOND", "100000000000000000");
        vm.setEnv("ARITY_LOG2", "1");
        vm.setEnv("CLOCK_SECONDS", "300");
    }

    function test_runBroadcastsFromTheDeployer() public {
        Deploy script = new Deploy();
        Deploy.Deployment memory d = script.run();
        assertEq(d.oracle.disputeGame(), address(d.game));
        assertEq(d.oracle.deployer(), msg.sender, "the broadcaster deploys and links");
    }
}
