// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {InferenceOracle, IInferenceCallback} from "../InferenceOracle.sol";

/// @title DigitConsumer
/// @notice An example integrator: asks the oracle to classify inputs and keeps each
///         final answer when the oracle calls back. Only final results arrive here.
contract DigitConsumer is IInferenceCallback {
    InferenceOracle public immutable oracle;
    bytes32 public immutable modelId;

    /// @notice Final outputs by request id.
    mapping(uint256 => bytes) public answers;
    /// @notice Whether a request's final output has arrived.
    mapping(uint256 => bool) public answered;
    /// @notice How many callbacks arrived.
    uint256 public callbacks;

    event Asked(uint256 indexed requestId);
    event Answered(uint256 indexed requestId, bytes output);

    error OnlyOracle();

    /// @param oracle_ The inference oracle.
    /// @param modelId_ The model this consumer asks.
    constructor(InferenceOracle oracle_, bytes32 modelId_) {
        oracle = oracle_;
        modelId = modelId_;
    }

    /// @notice Requests inference on `input`, paying `msg.value` as the fee.
    function ask(bytes calldata input) external payable returns (uint256 requestId) {
        requestId = oracle.request{value: msg.value}(modelId, input, address(this), 200_000);
        emit Asked(requestId);
    }

    /// @inheritdoc IInferenceCallback
    function onInferenceFinal(uint256 requestId, bytes32, bytes calldata output) external {
        if (msg.sender != address(oracle)) revert OnlyOracle();
        answers[requestId] = output;
        answered[requestId] = true;
        callbacks++;
        emit Answered(requestId, output);
    }
}
