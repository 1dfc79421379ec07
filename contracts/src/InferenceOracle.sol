// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Commitments} from "./lib/Commitments.sol";
import {ModelRegistry} from "./ModelRegistry.sol";

/// @notice What an integrator implements to receive a result on finality.
interface IInferenceCallback {
    /// @notice Called once, when the result of `requestId` becomes final.
    function onInferenceFinal(uint256 requestId, bytes32 modelId, bytes calldata output) external;
}

/// @title InferenceOracle
/// @notice Requests, posted results, finality and every wei of the protocol
///         (docs/protocol.md): fees, stakes and bonds are held here and paid out
///         through balances that their owners withdraw.
contract InferenceOracle {
    /// @notice Protocol parameters, fixed at deployment.
    struct Config {
        uint64 challengeWindow;
        uint256 minStake;
        uint256 minBond;
        uint16 rewardBps;
        uint16 bondBurnBps;
        uint64 requestTimeout;
        uint64 maxCallbackGas;
    }

    /// @notice Where a request stands.
    enum RequestStatus {
        None,
        Open,
        Posted,
        Finalized,
        Refunded
    }

    /// @notice Where a posted result stands.
    enum ResultStatus {
        None,
        Pending,
        Finalized,
        Rejected
    }

    /// @notice A request for inference.
    struct Request {
        address requester;
        bytes32 modelId;
        uint256 fee;
        bytes32 inputCommitment;
        uint64 deadline;
        address callback;
        uint64 callbackGas;
        RequestStatus status;
        uint256 resultId;
    }

    /// @notice A posted result.
    struct InferenceResult {
        uint256 requestId;
        address executor;
        uint256 stake;
        bytes32 traceRoot;
        uint64 postedAt;
        uint64 windowEnd;
        uint32 openGames;
        ResultStatus status;
        bytes output;
    }

    ModelRegistry public immutable registry;
    address public immutable deployer;
    address public disputeGame;

    uint64 public immutable challengeWindow;
    uint256 public immutable minStake;
    uint256 public immutable minBond;
    uint16 public immutable rewardBps;
    uint16 public immutable bondBurnBps;
    uint64 public immutable requestTimeout;
    uint64 public immutable maxCallbackGas;

    uint256 public nextRequestId = 1;
    uint256 public nextResultId = 1;
    mapping(uint256 => Request) private requests;
    mapping(uint256 => InferenceResult) private results;
    mapping(address => uint256) public balanceOf;

    /// @notice Every wei received.
    uint256 public totalIn;
    /// @notice Every wei withdrawn.
    uint256 public totalOut;
    /// @notice Every wei burned (sent to address(0)).
    uint256 public totalBurned;

    event Requested(
        uint256 indexed requestId, bytes32 indexed modelId, address indexed requester, uint256 fee, uint64 deadline, bytes input
    );
    event Posted(
        uint256 indexed resultId, uint256 indexed requestId, address indexed executor, bytes32 traceRoot, uint256 stake, bytes output
    );
    event Finalized(uint256 indexed resultId, uint256 indexed requestId, address indexed executor);
    event Rejected(uint256 indexed resultId, uint256 indexed requestId, address indexed challenger, uint256 slashed);
    event Refunded(uint256 indexed requestId, address indexed requester, uint256 fee);
    event Withdrawn(address indexed account, uint256 amount);
    event Burned(uint256 amount);
    event CallbackResult(uint256 indexed requestId, address indexed callback, bool success);
    event DisputeGameSet(address game);

    error NotDeployer();
    error GameAlreadySet();
    error NotDisputeGame();
    error BadConfig();
    error UnknownModel(bytes32 modelId);
    error InputLength(uint256 expected, uint256 actual);
    error OutputLength(uint256 expected, uint256 actual);
    error CallbackGasTooHigh(uint64 max);
    error RequestNotOpen(uint256 requestId);
    error RequestExpired(uint256 requestId);
    error RequestNotExpired(uint256 requestId);
    error StakeTooLow(uint256 min);
    error BondTooLow(uint256 min);
    error WrongStepCount(uint32 expected);
    error InputNotInTrace();
    error OutputNotInTrace();
    error ResultNotPending(uint256 resultId);
    error ResultNotRejected(uint256 resultId);
    error WindowOpen(uint64 windowEnd);
    error WindowClosed(uint64 windowEnd);
    error GamesOpen(uint32 games);
    error NotFinal(uint256 requestId);
    error NothingToWithdraw();
    error TransferFailed();
    error InsufficientGasForCallback();

    modifier onlyGame() {
        if (msg.sender != disputeGame) revert NotDisputeGame();
        _;
    }

    /// @param registry_ The model registry.
    /// @param cfg The protocol parameters.
    constructor(ModelRegistry registry_, Config memory cfg) {
        if (cfg.rewardBps > 10_000 || cfg.bondBurnBps > 10_000 || cfg.challengeWindow == 0 || cfg.minBond == 0) {
            revert BadConfig();
        }
        registry = registry_;
        deployer = msg.sender;
        challengeWindow = cfg.challengeWindow;
        minStake = cfg.minStake;
        minBond = cfg.minBond;
        rewardBps = cfg.rewardBps;
        bondBurnBps = cfg.bondBurnBps;
        requestTimeout = cfg.requestTimeout;
        maxCallbackGas = cfg.maxCallbackGas;
    }

    /// @notice Names the dispute game contract, once, by the deployer.
    function setDisputeGame(address game) external {
        if (msg.sender != deployer) revert NotDeployer();
        if (disputeGame != address(0)) revert GameAlreadySet();
        disputeGame = game;
        emit DisputeGameSet(game);
    }

    /// @notice The protocol parameters.
    function config() external view returns (Config memory) {
        return Config(challengeWindow, minStake, minBond, rewardBps, bondBurnBps, requestTimeout, maxCallbackGas);
    }

    // ------------------------------------------------------------------ requests

    /// @notice Asks for inference of `modelId` on `input` (canonical bytes of the
    ///         model's input type); `msg.value` is the fee. On finality,
    ///         `callback` (if not zero) receives `onInferenceFinal` with `callbackGas`.
    function request(bytes32 modelId, bytes calldata input, address callback, uint64 callbackGas)
        external
        payable
        returns (uint256 requestId)
    {
        if (!registry.isRegistered(modelId)) revert UnknownModel(modelId);
        if (callbackGas > maxCallbackGas) revert CallbackGasTooHigh(maxCallbackGas);
        ModelRegistry.ModelInfo memory m = registry.getModel(modelId);
        uint256 expected = Commitments.byteLen(m.inputDType, m.inputShape);
        if (input.length != expected) revert InputLength(expected, input.length);
        bytes32 commitment = Commitments.tensorCommitment(m.inputDType, m.inputShape, Commitments.dataRoot(input));
        requestId = nextRequestId++;
        uint64 deadline = uint64(block.timestamp) + requestTimeout;
        requests[requestId] = Request({
            requester: msg.sender,
            modelId: modelId,
            fee: msg.value,
            inputCommitment: commitment,
            deadline: deadline,
            callback: callback,
            callbackGas: callback == address(0) ? 0 : callbackGas,
            status: RequestStatus.Open,
            resultId: 0
        });
        totalIn += msg.value;
        emit Requested(requestId, modelId, msg.sender, msg.value, deadline, input);
    }

    /// @notice Returns the fee of a request nobody served before its deadline.
    function refund(uint256 requestId) external {
        Request storage r = requests[requestId];
        if (r.status != RequestStatus.Open) revert RequestNotOpen(requestId);
        if (block.timestamp <= r.deadline) revert RequestNotExpired(requestId);
        r.status = RequestStatus.Refunded;
        balanceOf[r.requester] += r.fee;
        emit Refunded(requestId, r.requester, r.fee);
    }

    // ------------------------------------------------------------------- results

    /// @notice Posts the result of an open request with a stake (`msg.value`):
    ///         the output bytes, the trace root over `stepCount` steps, and proofs
    ///         that leaf 0 is the request's input commitment and leaf
    ///         `stepCount - 1` is the commitment of `output`.
    function post(
        uint256 requestId,
        bytes calldata outputBytes,
        bytes32 traceRoot,
        uint32 stepCount,
        bytes32[] calldata inputProof,
        bytes32[] calldata outputProof
    ) external payable returns (uint256 resultId) {
        Request storage r = requests[requestId];
        if (r.status != RequestStatus.Open) revert RequestNotOpen(requestId);
        if (block.timestamp > r.deadline) revert RequestExpired(requestId);
        if (msg.value < minStake) revert StakeTooLow(minStake);
        ModelRegistry.ModelInfo memory m = registry.getModel(r.modelId);
        if (stepCount != m.stepCount) revert WrongStepCount(m.stepCount);
        uint256 expected = Commitments.byteLen(m.outputDType, m.outputShape);
        if (outputBytes.length != expected) revert OutputLength(expected, outputBytes.length);
        uint256 h = Commitments.height(stepCount);
        if (Commitments.singleRoot(Commitments.TRACE_NODE, h, 0, r.inputCommitment, inputProof) != traceRoot) {
            revert InputNotInTrace();
        }
        bytes32 outCommitment = Commitments.tensorCommitment(m.outputDType, m.outputShape, Commitments.dataRoot(outputBytes));
        if (Commitments.singleRoot(Commitments.TRACE_NODE, h, stepCount - 1, outCommitment, outputProof) != traceRoot) {
            revert OutputNotInTrace();
        }
        resultId = nextResultId++;
        InferenceResult storage res = results[resultId];
        res.requestId = requestId;
        res.executor = msg.sender;
        res.stake = msg.value;
        res.traceRoot = traceRoot;
        res.postedAt = uint64(block.timestamp);
        res.windowEnd = uint64(block.timestamp) + challengeWindow;
        res.status = ResultStatus.Pending;
        res.output = outputBytes;
        r.status = RequestStatus.Posted;
        r.resultId = resultId;
        totalIn += msg.value;
        emit Posted(resultId, requestId, msg.sender, traceRoot, msg.value, outputBytes);
    }

    /// @notice Makes a result final once its window has passed with no game open:
    ///         the executor is credited its stake and the fee, and the requester's
    ///         callback runs.
    function finalize(uint256 resultId) external {
        InferenceResult storage res = results[resultId];
        if (res.status != ResultStatus.Pending) revert ResultNotPending(resultId);
        if (block.timestamp < res.windowEnd) revert WindowOpen(res.windowEnd);
        if (res.openGames != 0) revert GamesOpen(res.openGames);
        Request storage r = requests[res.requestId];
        res.status = ResultStatus.Finalized;
        r.status = RequestStatus.Finalized;
        balanceOf[res.executor] += res.stake + r.fee;
        emit Finalized(resultId, res.requestId, res.executor);
        if (r.callback != address(0)) _callback(res.requestId, r, res.output);
    }

    /// @dev Calls the requester back with exactly its gas; never reverts because of it.
    function _callback(uint256 requestId, Request storage r, bytes storage out) private {
        uint256 gasLimit = r.callbackGas;
        // EIP-150 forwards at most 63/64 of what is left: make sure the callback
        // really gets its limit, so a caller cannot starve it on purpose.
        if (gasleft() < gasLimit + gasLimit / 63 + 20_000) revert InsufficientGasForCallback();
        bytes memory data = abi.encodeCall(IInferenceCallback.onInferenceFinal, (requestId, r.modelId, out));
        address target = r.callback;
        bool success;
        assembly ("memory-safe") {
            // no return data is copied: a huge return cannot cost the caller
            success := call(gasLimit, target, 0, add(data, 32), mload(data), 0, 0)
        }
        emit CallbackResult(requestId, target, success);
    }

    // --------------------------------------------------------------------- games

    /// @notice Opens a game on a pending result inside its window (game only).
    /// @return executor The result's executor.
    /// @return traceRoot The posted trace root.
    /// @return stepCount The model's step count.
    /// @return specRoot The model's spec root.
    function openGame(uint256 resultId)
        external
        payable
        onlyGame
        returns (address executor, bytes32 traceRoot, uint32 stepCount, bytes32 specRoot)
    {
        InferenceResult storage res = results[resultId];
        if (res.status != ResultStatus.Pending) revert ResultNotPending(resultId);
        if (block.timestamp >= res.windowEnd) revert WindowClosed(res.windowEnd);
        if (msg.value < minBond) revert BondTooLow(minBond);
        res.openGames += 1;
        totalIn += msg.value;
        ModelRegistry.ModelInfo memory m = registry.getModel(requests[res.requestId].modelId);
        return (res.executor, res.traceRoot, m.stepCount, m.specRoot);
    }

    /// @notice Settles a decided game (game only). A losing executor's result is
    ///         rejected: `rewardBps` of the stake goes to the challenger with its
    ///         bond, the rest is burned, and the request reopens. A losing
    ///         challenger's bond goes to the executor, `bondBurnBps` of it burned.
    function settleGame(uint256 resultId, address challenger, uint256 bond, bool executorWon) external onlyGame {
        InferenceResult storage res = results[resultId];
        if (res.status != ResultStatus.Pending) revert ResultNotPending(resultId);
        res.openGames -= 1;
        if (executorWon) {
            uint256 burn = bond * bondBurnBps / 10_000;
            balanceOf[res.executor] += bond - burn;
            _burn(burn);
            return;
        }
        uint256 reward = res.stake * rewardBps / 10_000;
        uint256 slashed = res.stake;
        res.status = ResultStatus.Rejected;
        balanceOf[challenger] += bond + reward;
        _burn(slashed - reward);
        Request storage r = requests[res.requestId];
        r.status = RequestStatus.Open;
        r.resultId = 0;
        emit Rejected(resultId, res.requestId, challenger, slashed);
    }

    /// @notice Returns the bond of a game on a result already rejected by another
    ///         game (game only).
    function settleMoot(uint256 resultId, address challenger, uint256 bond) external onlyGame {
        InferenceResult storage res = results[resultId];
        if (res.status != ResultStatus.Rejected) revert ResultNotRejected(resultId);
        res.openGames -= 1;
        balanceOf[challenger] += bond;
    }

    function _burn(uint256 amount) private {
        if (amount == 0) return;
        totalBurned += amount;
        (bool ok,) = payable(address(0)).call{value: amount}("");
        if (!ok) revert TransferFailed();
        emit Burned(amount);
    }

    // ------------------------------------------------------------------- payouts

    /// @notice Sends the caller everything credited to it.
    function withdraw() external returns (uint256 amount) {
        amount = balanceOf[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        balanceOf[msg.sender] = 0;
        totalOut += amount;
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed();
        emit Withdrawn(msg.sender, amount);
    }

    // --------------------------------------------------------------------- views

    /// @notice A request.
    function getRequest(uint256 requestId) external view returns (Request memory) {
        return requests[requestId];
    }

    /// @notice A posted result.
    function getResult(uint256 resultId) external view returns (InferenceResult memory) {
        return results[resultId];
    }

    /// @notice Status of a request.
    function status(uint256 requestId) external view returns (RequestStatus) {
        return requests[requestId].status;
    }

    /// @notice Status of a result.
    function resultStatus(uint256 resultId) external view returns (ResultStatus) {
        return results[resultId].status;
    }

    /// @notice The final output of a request; reverts unless it is final.
    function output(uint256 requestId) external view returns (bytes memory) {
        Request storage r = requests[requestId];
        if (r.status != RequestStatus.Finalized) revert NotFinal(requestId);
        return results[r.resultId].output;
    }
}
