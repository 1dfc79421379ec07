// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {InferenceOracle, IInferenceCallback} from "../InferenceOracle.sol";

/// @title DigitConsumer
/// @notice An example integrator, the pattern to copy: asks the oracle to classify
///         inputs and keeps each final answer when the oracle calls back. Only
///         final results arrive here, only from the oracle, and only for requests
///         this contract made. A request nobody served in time is refunded to this
///         contract by the oracle; `reclaim` takes the fee back to the owner.
contract DigitConsumer is IInferenceCallback {
    /// @notice The inference oracle.
    InferenceOracle public immutable oracle;
    /// @notice The model this consumer asks.
    bytes32 public immutable modelId;
    /// @notice Who deployed it: the only account that may reclaim refunded fees.
    address public immutable owner;

    /// @notice Final outputs by request id.
    mapping(uint256 => bytes) public answers;
    /// @notice Whether a request's final output has arrived.
    mapping(uint256 => bool) public answered;
    /// @notice Whether this contract made the request.
    mapping(uint256 => bool) public asked;
    /// @notice How many callbacks arrived.
    uint256 public callbacks;

    /// @notice A request was made.
    event Asked(uint256 indexed requestId);
    /// @notice A request's final output arrived.
    event Answered(uint256 indexed requestId, bytes output);
    /// @notice `amount` wei (the refunded fee of `requestId`, and anything else the
    ///         oracle held for this contract) were sent to the owner.
    event Reclaimed(uint256 indexed requestId, uint256 amount);

    /// @notice Only the oracle may call back or send ether here.
    error OnlyOracle();
    /// @notice This contract never made request `requestId`.
    error UnknownRequest(uint256 requestId);
    /// @notice Only the owner may reclaim fees.
    error NotOwner();
    /// @notice Sending ether to the owner failed.
    error TransferFailed();

    /// @param oracle_ The inference oracle.
    /// @param modelId_ The model this consumer asks.
    constructor(InferenceOracle oracle_, bytes32 modelId_) {
        oracle = oracle_;
        modelId = modelId_;
        owner = msg.sender;
    }

    /// @notice Only refunds and withdrawals from the oracle: ether sent by anyone
    ///         else could never be taken out (only `reclaim` sends ether).
    receive() external payable {
        if (msg.sender != address(oracle)) revert OnlyOracle();
    }

    /// @notice Requests inference on `input`, paying `msg.value` as the fee.
    function ask(bytes calldata input) external payable returns (uint256 requestId) {
        requestId = oracle.request{value: msg.value}(modelId, input, address(this), 200_000);
        asked[requestId] = true;
        emit Asked(requestId);
    }

    /// @inheritdoc IInferenceCallback
    /// @dev Refuses callers other than the oracle and requests this contract never
    ///      made (another requester may name it as its callback). The oracle calls
    ///      back once a request; an answer is never overwritten all the same.
    function onInferenceFinal(uint256 requestId, bytes32, bytes calldata output) external {
        if (msg.sender != address(oracle)) revert OnlyOracle();
        if (!asked[requestId]) revert UnknownRequest(requestId);
        if (answered[requestId]) return;
        answers[requestId] = output;
        answered[requestId] = true;
        callbacks++;
        emit Answered(requestId, output);
    }

    /// @notice Owner: refunds request `requestId` at the oracle if it is still open
    ///         (the oracle reverts unless its deadline has passed; anyone may have
    ///         refunded it already), withdraws what the oracle holds for this
    ///         contract and sends it to the owner.
    function reclaim(uint256 requestId) external {
        if (msg.sender != owner) revert NotOwner();
        if (!asked[requestId]) revert UnknownRequest(requestId);
        if (oracle.status(requestId) == InferenceOracle.RequestStatus.Open) oracle.refund(requestId);
        if (oracle.balanceOf(address(this)) != 0) oracle.withdraw();
        uint256 amount = address(this).balance;
        emit Reclaimed(requestId, amount);
        if (amount != 0) {
            (bool ok,) = payable(owner).call{value: amount}("");
            if (!ok) revert TransferFailed();
        }
    }
}
