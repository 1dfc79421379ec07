// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Script, console2} from "forge-std/Script.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {OneStepVerifier} from "../src/OneStepVerifier.sol";
import {DisputeGame} from "../src/DisputeGame.sol";

/// @title Deploy
/// @notice Deploys the registry, the oracle, the one-step verifier and the dispute
///         game, and names the game in the oracle. Every parameter comes from an
///         environment variable, with devnet defaults:
///
///         | variable           | default   | meaning (docs/protocol.md, "Parameters")  |
///         |--------------------|-----------|-------------------------------------------|
///         | `CHALLENGE_WINDOW` | 600       | seconds after a post for opening games    |
///         | `MIN_STAKE`        | 1 ether   | least stake with a post (wei)             |
///         | `MIN_BOND`         | 0.1 ether | least bond with a challenge (wei)         |
///         | `REWARD_BPS`       | 5000      | share of a slashed stake to the games open|
///         | `BOND_BURN_BPS`    | 1000      | share of a losing bond that is burned     |
///         | `REQUEST_TIMEOUT`  | 3600      | seconds before an unserved fee refunds    |
///         | `MAX_CALLBACK_GAS` | 1000000   | most gas a request may ask for a callback |
///         | `ARITY_LOG2`       | 1         | levels one reveal opens (1 to 4)          |
///         | `CLOCK_SECONDS`    | 300       | each side's total time in one game        |
///
///         The constructors refuse a parameter out of its bounds
///         (`ParameterOutOfRange`); `forge script` simulates the whole deployment
///         before it broadcasts, so nothing is sent then.
///
///         The deployer signs with `--private-key` / `--account` as usual, or with
///         `PRIVATE_KEY` if set. The deployer is the only account that may name the
///         game in the oracle, which this script does at once.
///
///         `forge script script/Deploy.s.sol --rpc-url $RPC --broadcast --private-key $KEY`
contract Deploy is Script {
    /// @notice The four deployed contracts.
    struct Deployment {
        ModelRegistry registry;
        InferenceOracle oracle;
        OneStepVerifier verifier;
        DisputeGame game;
    }

    /// @notice The oracle's parameters from the environment (devnet defaults).
    function oracleConfig() public view returns (InferenceOracle.Config memory cfg) {
        cfg = InferenceOracle.Config({
            challengeWindow: uint64(vm.envOr("CHALLENGE_WINDOW", uint256(600))),
            minStake: vm.envOr("MIN_STAKE", uint256(1 ether)),
            minBond: vm.envOr("MIN_BOND", uint256(0.1 ether)),
            rewardBps: uint16(vm.envOr("REWARD_BPS", uint256(5000))),
            bondBurnBps: uint16(vm.envOr("BOND_BURN_BPS", uint256(1000))),
            requestTimeout: uint64(vm.envOr("REQUEST_TIMEOUT", uint256(3600))),
            maxCallbackGas: uint64(vm.envOr("MAX_CALLBACK_GAS", uint256(1_000_000)))
        });
    }

    /// @notice The game's arity (levels per reveal) and clock from the environment.
    function gameParams() public view returns (uint32 arityLog2, uint64 clockSeconds) {
        arityLog2 = uint32(vm.envOr("ARITY_LOG2", uint256(1)));
        clockSeconds = uint64(vm.envOr("CLOCK_SECONDS", uint256(300)));
    }

    /// @notice Deploys and links everything; logs the addresses.
    function run() external returns (Deployment memory d) {
        uint256 key = vm.envOr("PRIVATE_KEY", uint256(0));
        if (key != 0) vm.startBroadcast(key);
        else vm.startBroadcast();
        d = deploy();
        vm.stopBroadcast();
        console2.log("ModelRegistry  ", address(d.registry));
        console2.log("InferenceOracle", address(d.oracle));
        console2.log("OneStepVerifier", address(d.verifier));
        console2.log("DisputeGame    ", address(d.game));
    }

    /// @notice Deploys the four contracts with the environment's parameters and
    ///         names the game in the oracle (the caller is the deployer).
    function deploy() public returns (Deployment memory d) {
        (uint32 arityLog2, uint64 clockSeconds) = gameParams();
        d.registry = new ModelRegistry();
        d.oracle = new InferenceOracle(d.registry, oracleConfig());
        d.verifier = new OneStepVerifier();
        d.game = new DisputeGame(d.oracle, d.verifier, arityLog2, clockSeconds);
        d.oracle.setDisputeGame(address(d.game));
    }
}
