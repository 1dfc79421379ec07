// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Commitments} from "./lib/Commitments.sol";
import {ModelRegistry} from "./ModelRegistry.sol";

/// @notice What an integrator implements to receive a result on finality.
interface IInferenceCallback {
    /// @notice Called once, when the result of `requestId` becomes final, with the
    ///         gas the request asked for.
    function onInferenceFinal(uint256 requestId, bytes32 modelId, bytes calldata output) external;
}

/// @title InferenceOracle
/// @notice Requests, posted results, finality and every wei of the protocol
///         (docs/protocol.md): fees, stakes and bonds are held here and paid out
///         through balances that their owners withdraw. The dispute game opens and
///         settles games through the `onlyGame` hooks.
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

    /// @notice A request for inference, as `getRequest` returns it.
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

    /// @notice A posted result, as `getResult` returns it.
    struct InferenceResult {
        uint256 requestId;
        address executor;
        uint256 stake;
        bytes32 traceRoot;
        uint64 postedAt;
        uint64 windowEnd;
        uint32 openGames;
        ResultStatus status;
        uint64 rejectedAt;
        uint32 gamesAtRejection;
        uint256 share;
        bytes output;
    }

    /// @dev Storage layout of a request (slot 0 is what post, finalize and refund
    ///      write). A request whose result was rejected keeps `Posted` and that
    ///      result's id here; it is open again (`_state`), with a fresh deadline.
    struct RequestData {
        address requester;
        uint40 deadline;
        RequestStatus status;
        uint48 resultId;
        bytes32 modelId;
        bytes32 inputCommitment;
        uint256 fee;
        address callback;
        uint64 callbackGas;
    }

    /// @dev Storage layout of a result: slot 0 is what every game touches; slot 1,
    ///      the stake and request, is where a rejection writes when it happened and
    ///      how many games were open (so that each moot game is paid its share
    ///      later, and the request gets a fresh deadline) at no new slot's cost.
    struct ResultData {
        // slot 0
        address executor;
        uint40 postedAt;
        uint32 openGames;
        ResultStatus status;
        // slot 1
        uint128 stake;
        uint48 requestId;
        uint40 rejectedAt;
        uint32 gamesAtRejection;
        // slot 2
        bytes32 traceRoot;
        bytes output;
    }

    /// @notice Gas kept back beyond a callback's limit: the call's own cost and
    ///         what finalize does after it.
    uint256 public constant CALLBACK_RESERVE = 10_000;
    /// @notice Longest challenge window and request timeout: 30 days.
    uint64 public constant MAX_DURATION = 2_592_000;
    /// @notice Least `rewardBps`: a reward is always worth claiming.
    uint16 public constant MIN_REWARD_BPS = 1000;
    /// @notice Most `rewardBps`: at least a tenth of a fraudulent stake is burned,
    ///         whatever sybils its executor uses (docs/protocol.md, "Rewards and
    ///         sybils").
    uint16 public constant MAX_REWARD_BPS = 9000;
    /// @notice Least `bondBurnBps`: griefing and claiming a moot game's share
    ///         always burn something.
    uint16 public constant MIN_BOND_BURN_BPS = 1000;
    /// @notice Most `bondBurnBps`: a griefed executor is always paid.
    uint16 public constant MAX_BOND_BURN_BPS = 9000;
    /// @notice Most `maxCallbackGas`: `finalize` stays affordable whatever a
    ///         requester asks.
    uint64 public constant MAX_CALLBACK_GAS = 1_000_000;
    /// @notice Tx gas of every executor move in the longest game (a trace of height
    ///         32, an output tree of height 24, a checkpoint tree of height 23, arity
    ///         2, and the timeout that ends it), measured by Budget.t.sol and rounded
    ///         up to 250,000 (docs/gas.md): what defending one game can cost.
    uint256 public constant DEFENCE_GAS = 3_500_000;
    /// @notice The gas price at which the executor's part of `minBond` must pay for
    ///         `DEFENCE_GAS` (docs/protocol.md, "Sizing minBond").
    uint256 public constant DEFENCE_GAS_PRICE = 1 gwei;

    /// @notice The model registry.
    ModelRegistry public immutable registry;
    /// @notice Who deployed the oracle (and may name the dispute game, once).
    address public immutable deployer;
    /// @notice The dispute game: the only caller of the game hooks.
    address public disputeGame;
    /// @notice Wei that settlements have set aside to be burned and `burn` has not
    ///         yet sent to address(0) (held in the oracle's balance until then).
    /// @dev Packed with `disputeGame`, which every settlement reads (`onlyGame`):
    ///      adding to it is then a warm write of a non-zero slot (2,900 gas),
    ///      whatever was pending before, so a move that ends a game stays within the
    ///      move budget. 2^96 wei is more ether than exists, so it never overflows.
    uint96 public burnPending;

    /// @notice Seconds after a post during which games may be opened.
    uint64 public immutable challengeWindow;
    /// @notice Least stake with a post.
    uint256 public immutable minStake;
    /// @notice Least bond with a challenge.
    uint256 public immutable minBond;
    /// @notice Share of a slashed stake credited to the winning challenger.
    uint16 public immutable rewardBps;
    /// @notice Share of a losing challenger's bond burned (the rest to the executor).
    uint16 public immutable bondBurnBps;
    /// @notice Seconds a request waits to be served before its fee can be refunded.
    uint64 public immutable requestTimeout;
    /// @notice Most gas a requester may ask for its callback.
    uint64 public immutable maxCallbackGas;
    /// @dev `claimFee()`, fixed by `minBond` and `bondBurnBps`.
    uint256 private immutable _claimFee;

    /// @notice Id of the next request.
    uint256 public nextRequestId = 1;
    /// @notice Id of the next posted result.
    uint256 public nextResultId = 1;
    mapping(uint256 => RequestData) private requests;
    mapping(uint256 => ResultData) private results;
    /// @dev Wei credited to an account plus one, once the account has posted or
    ///      challenged (zero: never). An executor's slot is made non-zero when it
    ///      posts and a challenger's when it challenges, in transactions of their
    ///      own, so that crediting a game's winner is never the first write of a
    ///      slot (20,000 gas more): a move that ends a game stays within the move
    ///      budget (docs/gas.md). `withdraw` leaves the one.
    mapping(address => uint256) private credits;

    /// @notice Every wei received.
    uint256 public totalIn;
    /// @notice Every wei withdrawn.
    uint256 public totalOut;
    /// @notice Every wei burned: sent to address(0) by `burn` (`burnPending` is
    ///         not in it until then).
    uint256 public totalBurned;

    /// @notice A request: `input` is the canonical bytes of the model's input.
    event Requested(uint256 indexed requestId, bytes32 indexed modelId, address indexed requester, uint256 fee, uint64 deadline, bytes input);
    /// @notice A result was posted with `stake`; its challenge window is open.
    event Posted(uint256 indexed resultId, uint256 indexed requestId, address indexed executor, bytes32 traceRoot, uint256 stake, bytes output);
    /// @notice A result became final; its executor was credited stake and fee.
    event Finalized(uint256 indexed resultId, uint256 indexed requestId, address indexed executor);
    /// @notice A result was rejected by a game `challenger` won; its stake was slashed
    ///         and the request reopened.
    event Rejected(uint256 indexed resultId, uint256 indexed requestId, address indexed challenger, uint256 slashed);
    /// @notice An unserved request's fee was credited back to its requester.
    event Refunded(uint256 indexed requestId, address indexed requester, uint256 fee);
    /// @notice `account` withdrew `amount`.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice `amount` wei were sent to address(0).
    event Burned(uint256 amount);
    /// @notice The requester's callback ran (`success` false: it reverted or ran out of gas).
    event CallbackResult(uint256 indexed requestId, address indexed callback, bool success);
    /// @notice The dispute game was named.
    event DisputeGameSet(address game);
    /// @notice A game was opened on a result with `bond`.
    event Challenged(uint256 indexed resultId, address indexed challenger, uint256 bond, uint32 openGames);
    /// @notice A game on a pending result was settled.
    event GameSettled(uint256 indexed resultId, address indexed challenger, bool executorWon, uint256 bond);
    /// @notice A game that was open when its result was rejected ended (moot): its
    ///         challenger was credited `bond`, its bond and its share of the reward
    ///         less the claim fee.
    event BondReturned(uint256 indexed resultId, address indexed challenger, uint256 bond);

    /// @notice Only the deployer may name the dispute game.
    error NotDeployer();
    /// @notice The dispute game is already named.
    error GameAlreadySet();
    /// @notice Only the dispute game may call this.
    error NotDisputeGame();
    /// @notice Constructor parameter `name` is `value`, outside `[least, most]`.
    error ParameterOutOfRange(string name, uint256 value, uint256 least, uint256 most);
    /// @notice No dispute game is named yet: a result posted now could not be
    ///         challenged.
    error DisputeGameNotSet();
    /// @notice No model with this id is registered.
    error UnknownModel(bytes32 modelId);
    /// @notice The input is not the model's input byte length.
    error InputLength(uint256 expected, uint256 actual);
    /// @notice The output is not the model's output byte length.
    error OutputLength(uint256 expected, uint256 actual);
    /// @notice The callback gas is above `maxCallbackGas`.
    error CallbackGasTooHigh(uint64 max);
    /// @notice The request is not open (served, final or refunded).
    error RequestNotOpen(uint256 requestId);
    /// @notice The request's deadline has passed.
    error RequestExpired(uint256 requestId);
    /// @notice The request's deadline has not passed.
    error RequestNotExpired(uint256 requestId);
    /// @notice The stake is below `minStake`.
    error StakeTooLow(uint256 min);
    /// @notice The bond is below `minBond`.
    error BondTooLow(uint256 min);
    /// @notice A value does not fit the oracle's accounting (above 2^128 wei, or
    ///         2^96 wei waiting to be burned).
    error ValueTooLarge();
    /// @notice The step count is not the model's.
    error WrongStepCount(uint32 expected);
    /// @notice Leaf 0 of the trace root is not the request's input commitment.
    error InputNotInTrace();
    /// @notice Leaf `stepCount - 1` of the trace root is not the output's commitment.
    error OutputNotInTrace();
    /// @notice The result is not pending.
    error ResultNotPending(uint256 resultId);
    /// @notice The result is not rejected.
    error ResultNotRejected(uint256 resultId);
    /// @notice The challenge window ends at `windowEnd`.
    error WindowOpen(uint64 windowEnd);
    /// @notice The challenge window ended at `windowEnd`.
    error WindowClosed(uint64 windowEnd);
    /// @notice Games on the result are still open.
    error GamesOpen(uint32 games);
    /// @notice The request has no final result.
    error NotFinal(uint256 requestId);
    /// @notice Nothing is credited to the caller.
    error NothingToWithdraw();
    /// @notice No wei is waiting to be burned.
    error NothingToBurn();
    /// @notice Sending ether failed.
    error TransferFailed();
    /// @notice Too little gas was given for the callback to receive its limit.
    error InsufficientGasForCallback();

    modifier onlyGame() {
        if (msg.sender != disputeGame) revert NotDisputeGame();
        _;
    }

    /// @param registry_ The model registry.
    /// @param cfg The protocol parameters.
    ///        Each is refused outside its bounds (docs/protocol.md, "Parameters"),
    ///        in this order, with `ParameterOutOfRange`.
    constructor(ModelRegistry registry_, Config memory cfg) {
        _within("challengeWindow", cfg.challengeWindow, 1, MAX_DURATION);
        _within("minStake", cfg.minStake, 1, type(uint128).max);
        _within("rewardBps", cfg.rewardBps, MIN_REWARD_BPS, MAX_REWARD_BPS);
        _within("bondBurnBps", cfg.bondBurnBps, MIN_BOND_BURN_BPS, MAX_BOND_BURN_BPS);
        _within("minBond", cfg.minBond, leastBond(cfg.bondBurnBps), type(uint128).max);
        _within("requestTimeout", cfg.requestTimeout, 1, MAX_DURATION);
        _within("maxCallbackGas", cfg.maxCallbackGas, 0, MAX_CALLBACK_GAS);
        registry = registry_;
        deployer = msg.sender;
        challengeWindow = cfg.challengeWindow;
        minStake = cfg.minStake;
        minBond = cfg.minBond;
        rewardBps = cfg.rewardBps;
        bondBurnBps = cfg.bondBurnBps;
        requestTimeout = cfg.requestTimeout;
        maxCallbackGas = cfg.maxCallbackGas;
        _claimFee = cfg.minBond * cfg.bondBurnBps / 10_000;
    }

    function _within(string memory name, uint256 value, uint256 least, uint256 most) private pure {
        if (value < least || value > most) revert ParameterOutOfRange(name, value, least, most);
    }

    /// @notice The least `minBond` the constructor accepts with `bondBurnBps`: the
    ///         executor's part of a lost bond, `minBond · (10000 − bondBurnBps) /
    ///         10000`, pays `DEFENCE_GAS` at `DEFENCE_GAS_PRICE` (rounded up).
    ///         Reverts for `bondBurnBps >= 10000`, where no bond would do.
    function leastBond(uint16 bondBurnBps) public pure returns (uint256) {
        if (bondBurnBps >= 10_000) revert ParameterOutOfRange("bondBurnBps", bondBurnBps, MIN_BOND_BURN_BPS, MAX_BOND_BURN_BPS);
        uint256 keep = 10_000 - uint256(bondBurnBps);
        return (DEFENCE_GAS * DEFENCE_GAS_PRICE * 10_000 + keep - 1) / keep;
    }

    /// @notice What settling a moot game burns of its share of the reward (at most
    ///         the share): `minBond · bondBurnBps / 10000`, the least a griefer
    ///         burns by losing a game. It makes diluting an honest game's share with
    ///         sybil games cost nearly the whole reward (docs/protocol.md, "Rewards
    ///         and sybils").
    function claimFee() public view returns (uint256) {
        return _claimFee;
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
    ///         `callback` (if not zero) receives `onInferenceFinal` with exactly
    ///         `callbackGas`. The request can be served until `now + requestTimeout`.
    /// @return requestId The new request's id.
    function request(bytes32 modelId, bytes calldata input, address callback, uint64 callbackGas) external payable returns (uint256 requestId) {
        (uint32 steps, uint8 dtype, uint32[] memory shape,,) = registry.ioTypes(modelId);
        if (steps == 0) revert UnknownModel(modelId);
        if (callbackGas > maxCallbackGas) revert CallbackGasTooHigh(maxCallbackGas);
        uint256 expected = Commitments.byteLen(dtype, shape);
        if (input.length != expected) revert InputLength(expected, input.length);
        bytes32 commitment = Commitments.tensorCommitment(dtype, shape, Commitments.dataRoot(input));
        requestId = nextRequestId++;
        uint40 deadline = uint40(block.timestamp + requestTimeout);
        RequestData storage r = requests[requestId];
        r.requester = msg.sender;
        r.deadline = deadline;
        r.status = RequestStatus.Open;
        r.modelId = modelId;
        r.inputCommitment = commitment;
        if (msg.value != 0) r.fee = msg.value;
        if (callback != address(0)) {
            r.callback = callback;
            r.callbackGas = callbackGas;
        }
        totalIn += msg.value;
        emit Requested(requestId, modelId, msg.sender, msg.value, deadline, input);
    }

    /// @notice Credits the fee of a request nobody served before its deadline back
    ///         to its requester; a request a rejection reopened, only after its fresh
    ///         deadline (`rejectedAt + requestTimeout`).
    function refund(uint256 requestId) external {
        RequestData storage r = requests[requestId];
        (RequestStatus st, uint256 deadline) = _state(r);
        if (st != RequestStatus.Open) revert RequestNotOpen(requestId);
        if (block.timestamp <= deadline) revert RequestNotExpired(requestId);
        r.status = RequestStatus.Refunded;
        uint256 fee = r.fee;
        _credit(r.requester, fee);
        emit Refunded(requestId, r.requester, fee);
    }

    // ------------------------------------------------------------------- results

    /// @notice Posts the result of an open request with a stake (`msg.value`):
    ///         the output bytes, the trace root over `stepCount` steps, and proofs
    ///         that leaf 0 is the request's input commitment and leaf
    ///         `stepCount - 1` is the commitment of `outputBytes` under the model's
    ///         output type. Opens the challenge window. Reverts until the dispute
    ///         game is named; a request a rejection reopened may be served until
    ///         its fresh deadline (`rejectedAt + requestTimeout`).
    /// @return resultId The new result's id.
    function post(
        uint256 requestId,
        bytes calldata outputBytes,
        bytes32 traceRoot,
        uint32 stepCount,
        bytes32[] calldata inputProof,
        bytes32[] calldata outputProof
    ) external payable returns (uint256 resultId) {
        if (disputeGame == address(0)) revert DisputeGameNotSet();
        RequestData storage r = requests[requestId];
        (RequestStatus st, uint256 deadline) = _state(r);
        if (st != RequestStatus.Open) revert RequestNotOpen(requestId);
        if (block.timestamp > deadline) revert RequestExpired(requestId);
        if (msg.value < minStake) revert StakeTooLow(minStake);
        (uint32 steps,,, uint8 dtype, uint32[] memory shape) = registry.ioTypes(r.modelId);
        if (stepCount != steps) revert WrongStepCount(steps);
        uint256 expected = Commitments.byteLen(dtype, shape);
        if (outputBytes.length != expected) revert OutputLength(expected, outputBytes.length);
        uint256 h = Commitments.height(stepCount);
        if (Commitments.singleRoot(Commitments.TRACE_NODE, h, 0, r.inputCommitment, inputProof) != traceRoot) {
            revert InputNotInTrace();
        }
        bytes32 outCommitment = Commitments.tensorCommitment(dtype, shape, Commitments.dataRoot(outputBytes));
        if (Commitments.singleRoot(Commitments.TRACE_NODE, h, stepCount - 1, outCommitment, outputProof) != traceRoot) {
            revert OutputNotInTrace();
        }
        resultId = nextResultId++;
        ResultData storage res = results[resultId];
        res.executor = msg.sender;
        res.postedAt = uint40(block.timestamp);
        res.status = ResultStatus.Pending;
        res.stake = _u128(msg.value);
        res.requestId = uint48(requestId);
        res.traceRoot = traceRoot;
        res.output = outputBytes;
        r.status = RequestStatus.Posted;
        r.resultId = uint48(resultId);
        _open(msg.sender);
        totalIn += msg.value;
        emit Posted(resultId, requestId, msg.sender, traceRoot, msg.value, outputBytes);
    }

    /// @notice Makes a result final once its window has passed with no game open:
    ///         the executor is credited its stake and the fee, and the requester's
    ///         callback runs with exactly its gas (its failure is ignored). Reverts
    ///         if too little gas is left for the callback to receive its limit.
    function finalize(uint256 resultId) external {
        ResultData storage res = results[resultId];
        if (res.status != ResultStatus.Pending) revert ResultNotPending(resultId);
        uint64 end = uint64(res.postedAt) + challengeWindow;
        if (block.timestamp < end) revert WindowOpen(end);
        if (res.openGames != 0) revert GamesOpen(res.openGames);
        uint256 requestId = res.requestId;
        RequestData storage r = requests[requestId];
        address executor = res.executor;
        res.status = ResultStatus.Finalized;
        r.status = RequestStatus.Finalized;
        _credit(executor, uint256(res.stake) + r.fee);
        emit Finalized(resultId, requestId, executor);
        address target = r.callback;
        if (target != address(0)) _callback(requestId, target, r.callbackGas, r.modelId, res.output);
    }

    /// @dev Calls the requester back with exactly `gasLimit`; its success, failure
    ///      and return data are ignored (none is copied).
    function _callback(uint256 requestId, address target, uint256 gasLimit, bytes32 modelId, bytes storage out) private {
        bytes memory data = abi.encodeCall(IInferenceCallback.onInferenceFinal, (requestId, modelId, out));
        // EIP-150: a call receives at most 63/64 of the gas left after its own cost.
        // Unless that covers `gasLimit`, revert rather than let a caller starve the
        // callback on purpose. Nothing costly happens between this check and the call.
        if (gasleft() < gasLimit + gasLimit / 63 + CALLBACK_RESERVE) revert InsufficientGasForCallback();
        bool success;
        assembly ("memory-safe") {
            success := call(gasLimit, target, 0, add(data, 32), mload(data), 0, 0)
        }
        emit CallbackResult(requestId, target, success);
    }

    // --------------------------------------------------------------------- games

    /// @notice Opens a game on a pending result inside its window, holding the bond
    ///         (`msg.value`). Game only.
    /// @return executor The result's executor.
    /// @return traceRoot The posted trace root.
    /// @return stepCount The model's step count.
    /// @return specRoot The model's spec root.
    function openGame(uint256 resultId, address challenger)
        external
        payable
        onlyGame
        returns (address executor, bytes32 traceRoot, uint32 stepCount, bytes32 specRoot)
    {
        ResultData storage res = results[resultId];
        if (res.status != ResultStatus.Pending) revert ResultNotPending(resultId);
        uint64 end = uint64(res.postedAt) + challengeWindow;
        if (block.timestamp >= end) revert WindowClosed(end);
        if (msg.value < minBond) revert BondTooLow(minBond);
        uint32 open = res.openGames + 1;
        res.openGames = open;
        _open(challenger);
        totalIn += msg.value;
        emit Challenged(resultId, challenger, msg.value, open);
        (stepCount, specRoot) = registry.modelRoot(requests[res.requestId].modelId);
        return (res.executor, res.traceRoot, stepCount, specRoot);
    }

    /// @notice Settles a decided game (game only). A losing executor's result is
    ///         rejected: the reward, `rewardBps` of the stake, is shared among the
    ///         `N` games open on it (this one included), `share = reward / N` each;
    ///         this game's challenger is credited its bond and its share, the stake
    ///         less `N` shares is burned, and the request reopens with a fresh
    ///         deadline. A losing challenger's bond goes to the executor,
    ///         `bondBurnBps` of it burned. A game on a result that another game
    ///         already rejected is moot (`settleMoot`). What is burned is only added
    ///         to `burnPending` here; `burn` sends it.
    /// @return moot Whether the game was moot.
    function settleGame(uint256 resultId, address challenger, uint256 bond, bool executorWon) external onlyGame returns (bool moot) {
        ResultData storage res = results[resultId];
        ResultStatus st = res.status;
        if (st == ResultStatus.Rejected) {
            _settleMoot(res, resultId, challenger, bond);
            return true;
        }
        if (st != ResultStatus.Pending) revert ResultNotPending(resultId);
        uint32 open = res.openGames;
        res.openGames = open - 1;
        emit GameSettled(resultId, challenger, executorWon, bond);
        if (executorWon) {
            uint256 burned = bond * bondBurnBps / 10_000;
            _credit(res.executor, bond - burned);
            _burn(burned);
            return false;
        }
        // Every game open now is due the same share, whichever won: a sybil of the
        // executor that wins first cannot take the reward from a game already open
        // (docs/protocol.md, "Rewards and sybils").
        uint256 slashed = res.stake;
        uint256 share = slashed * rewardBps / 10_000 / open;
        uint256 requestId = res.requestId;
        // the request is open again by this status alone (`_state`): not writing
        // it keeps a game-ending move within the move budget; the stake's slot
        // keeps when (its fresh deadline) and among how many games (the moot
        // games' share)
        res.status = ResultStatus.Rejected;
        res.rejectedAt = uint40(block.timestamp);
        res.gamesAtRejection = open;
        _credit(challenger, bond + share);
        emit Rejected(resultId, requestId, challenger, slashed);
        _burn(slashed - open * share);
    }

    /// @notice Settles a game on a result another game already rejected (game
    ///         only): it was open at the rejection, so its challenger is credited
    ///         its bond and its share of the reward less the claim fee, which is
    ///         burned (`min(share, claimFee)`).
    function settleMoot(uint256 resultId, address challenger, uint256 bond) external onlyGame {
        ResultData storage res = results[resultId];
        if (res.status != ResultStatus.Rejected) revert ResultNotRejected(resultId);
        _settleMoot(res, resultId, challenger, bond);
    }

    function _settleMoot(ResultData storage res, uint256 resultId, address challenger, uint256 bond) private {
        res.openGames -= 1;
        uint256 share = _shareOf(res);
        uint256 fee = share < _claimFee ? share : _claimFee;
        uint256 credited = bond + share - fee;
        _credit(challenger, credited);
        emit BondReturned(resultId, challenger, credited);
        _burn(fee);
    }

    /// @dev Each game's share of a rejected result's reward (0 unless rejected).
    function _shareOf(ResultData storage res) private view returns (uint256) {
        uint256 n = res.gamesAtRejection;
        return n == 0 ? 0 : uint256(res.stake) * rewardBps / 10_000 / n;
    }

    /// @dev Sets `amount` aside to be burned. A settlement does not send it: a call
    ///      with value to address(0) and the write of `totalBurned` would cost a
    ///      game-ending move some 17k – 34k more (docs/protocol.md). No event: the
    ///      amount follows from `GameSettled` or `Rejected` and the parameters;
    ///      `Burned` marks what `burn` sends.
    function _burn(uint256 amount) private {
        if (amount == 0) return;
        uint256 pending = burnPending + amount;
        if (pending > type(uint96).max) revert ValueTooLarge();
        burnPending = uint96(pending);
    }

    /// @dev Makes `account`'s credit slot non-zero (see `credits`).
    function _open(address account) private {
        if (credits[account] == 0) credits[account] = 1;
    }

    /// @dev Credits `amount` to `account`.
    function _credit(address account, uint256 amount) private {
        uint256 c = credits[account];
        credits[account] = (c == 0 ? 1 : c) + amount;
    }

    /// @dev A request's status: `Posted` with a rejected result is `Open` again.
    function _status(RequestData storage r) private view returns (RequestStatus st) {
        st = r.status;
        if (st == RequestStatus.Posted && results[r.resultId].status == ResultStatus.Rejected) st = RequestStatus.Open;
    }

    /// @dev A request's status and serve deadline: `Posted` with a rejected result
    ///      is `Open` again, until `rejectedAt + requestTimeout` (its old deadline
    ///      has usually passed: one cheap fraud would otherwise leave the
    ///      requester nothing but a refund).
    function _state(RequestData storage r) private view returns (RequestStatus st, uint256 deadline) {
        st = r.status;
        deadline = r.deadline;
        if (st == RequestStatus.Posted) {
            ResultData storage res = results[r.resultId];
            if (res.status == ResultStatus.Rejected) {
                st = RequestStatus.Open;
                deadline = uint256(res.rejectedAt) + requestTimeout;
            }
        }
    }

    function _u128(uint256 v) private pure returns (uint128) {
        if (v > type(uint128).max) revert ValueTooLarge();
        return uint128(v);
    }

    // ------------------------------------------------------------------- payouts

    /// @notice Anyone: sends every wei set aside to be burned (`burnPending`) to
    ///         address(0) and counts it in `totalBurned`.
    /// @return amount What was sent.
    function burn() external returns (uint256 amount) {
        amount = burnPending;
        if (amount == 0) revert NothingToBurn();
        burnPending = 0;
        totalBurned += amount;
        emit Burned(amount);
        (bool ok,) = payable(address(0)).call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    /// @notice Sends the caller everything credited to it.
    /// @return amount What was sent.
    function withdraw() external returns (uint256 amount) {
        uint256 c = credits[msg.sender];
        if (c <= 1) revert NothingToWithdraw();
        amount = c - 1;
        credits[msg.sender] = 1;
        totalOut += amount;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    // --------------------------------------------------------------------- views

    /// @notice Wei credited to `account`, taken with `withdraw`.
    function balanceOf(address account) external view returns (uint256) {
        uint256 c = credits[account];
        return c == 0 ? 0 : c - 1;
    }

    /// @notice A request (all zero for an unknown id); `resultId` is its pending or
    ///         final result (0 while it is open); `deadline` is when it stops being
    ///         servable (for a request a rejection reopened, `rejectedAt +
    ///         requestTimeout`).
    function getRequest(uint256 requestId) external view returns (Request memory) {
        RequestData storage r = requests[requestId];
        (RequestStatus st, uint256 deadline) = _state(r);
        return Request({
            requester: r.requester,
            modelId: r.modelId,
            fee: r.fee,
            inputCommitment: r.inputCommitment,
            deadline: uint64(deadline),
            callback: r.callback,
            callbackGas: r.callbackGas,
            status: st,
            resultId: st == RequestStatus.Open ? 0 : r.resultId
        });
    }

    /// @notice A posted result (all zero for an unknown id); once rejected, when,
    ///         among how many games the reward was shared and each one's share.
    function getResult(uint256 resultId) external view returns (InferenceResult memory) {
        ResultData storage res = results[resultId];
        uint64 postedAt = res.postedAt;
        return InferenceResult({
            requestId: res.requestId,
            executor: res.executor,
            stake: res.stake,
            traceRoot: res.traceRoot,
            postedAt: postedAt,
            windowEnd: postedAt == 0 ? 0 : postedAt + challengeWindow,
            openGames: res.openGames,
            status: res.status,
            rejectedAt: res.rejectedAt,
            gamesAtRejection: res.gamesAtRejection,
            share: _shareOf(res),
            output: res.output
        });
    }

    /// @notice Status of a request.
    function status(uint256 requestId) external view returns (RequestStatus) {
        return _status(requests[requestId]);
    }

    /// @notice Status of a result.
    function resultStatus(uint256 resultId) external view returns (ResultStatus) {
        return results[resultId].status;
    }

    /// @notice The final output of a request; reverts unless it is final.
    function output(uint256 requestId) external view returns (bytes memory) {
        RequestData storage r = requests[requestId];
        if (r.status != RequestStatus.Finalized) revert NotFinal(requestId);
        return results[r.resultId].output;
    }
}
