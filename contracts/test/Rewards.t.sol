// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./Disputes.t.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {DisputeGame} from "../src/DisputeGame.sol";

/// @notice The reward of a rejection is shared among every game open at that
///         moment (docs/protocol.md, "Rewards and sybils"): a sybil of the executor
///         that challenges its own fraud and wins at once no longer takes the
///         honest watchtower's reward, diluting the honest share costs the sybils
///         nearly the whole reward, and a fraud always burns at least the burned
///         share of its stake. The fixture's fraud (`wrong-output-arity1`) is won by
///         `challenger`, the sybil, in one go; the other games are the honest
///         watchtower's and more sybils'.
contract RewardsTest is ProtocolFixture {
    Scenario fraud;
    address tower = makeAddr("watchtower");

    /// @dev The defaults of docs/protocol.md: a stake of 1 ether, bonds of 0.1.
    uint256 constant STAKE1 = 1 ether;
    uint256 constant BOND1 = 0.1 ether;

    function setUp() public {
        _loadVectors();
        Scenario[] memory all = _scenarios();
        for (uint256 i = 0; i < all.length; i++) {
            if (keccak256(bytes(all[i].name)) == keccak256("wrong-output-arity1")) fraud = all[i];
        }
        require(fraud.moves.length > 0, "the fraud scenario");
        _deployWith(1, _defaults(5000, 2000, 0.1 ether));
        vm.deal(tower, 100 ether);
    }

    function _defaults(uint16 rewardBps, uint16 bondBurnBps, uint256 minBond) internal pure returns (InferenceOracle.Config memory c) {
        c = _config();
        (c.rewardBps, c.bondBurnBps, c.minBond) = (rewardBps, bondBurnBps, minBond);
    }

    function _sybil(uint256 i) internal returns (address a) {
        a = makeAddr(string.concat("sybil", vm.toString(i)));
        vm.deal(a, 10 ether);
    }

    /// @dev A fraud posted with `stake`; the watchtower's game first, then
    ///      `sybils` more sybil games, then the winning sybil's game (played at
    ///      once: the result is rejected with `sybils + 2` games open). Returns the
    ///      result and the games other than the winner's (the watchtower's first).
    function _fraudAmong(uint256 stake, uint256 bond, uint256 sybils) internal returns (uint256 res, uint256[] memory moot) {
        vm.prank(requester);
        uint256 id = oracle.request{value: FEE}(modelId, model.input, address(0), 0);
        vm.prank(executor);
        res = oracle.post{value: stake}(id, fraud.output, fraud.traceRoot, uint32(model.stepCount), fraud.inputProof, fraud.outputProof);
        moot = new uint256[](sybils + 1);
        vm.prank(tower);
        moot[0] = game.challenge{value: bond}(res);
        for (uint256 i = 0; i < sybils; i++) {
            vm.prank(_sybil(i));
            moot[i + 1] = game.challenge{value: bond}(res);
        }
        vm.prank(challenger);
        uint256 winner = game.challenge{value: bond}(res);
        for (uint256 j = 0; j < fraud.moves.length; j++) {
            _play(winner, fraud.moves[j]);
        }
        assertEq(uint8(game.getGame(winner).status), uint8(DisputeGame.Status.ChallengerWon));
        assertEq(uint8(oracle.resultStatus(res)), uint8(InferenceOracle.ResultStatus.Rejected));
        assertEq(oracle.getResult(res).gamesAtRejection, sybils + 2, "every game open at rejection counts");
    }

    function _settleAll(uint256[] memory moot) internal {
        for (uint256 i = 0; i < moot.length; i++) {
            game.settleMoot(moot[i]);
            assertEq(uint8(game.getGame(moot[i]).status), uint8(DisputeGame.Status.Moot));
        }
    }

    /// A sybil that challenges its executor's fraud and wins at once takes only
    /// its share: the honest game open beside it nets 0.23 ether (0.25 share less
    /// the 0.02 claim fee), as docs/protocol.md says. Under the old rule (the whole
    /// reward to the first winner) it got its bond back and nothing else.
    function test_aSybilThatWinsFirstLeavesTheHonestGameItsShare() public {
        assertEq(oracle.claimFee(), 0.02 ether);
        (uint256 res, uint256[] memory moot) = _fraudAmong(STAKE1, BOND1, 0);
        InferenceOracle.InferenceResult memory r = oracle.getResult(res);
        assertEq(r.share, 0.25 ether);
        assertEq(oracle.balanceOf(challenger), BOND1 + 0.25 ether, "the sybil: its bond and one share");
        assertEq(oracle.burnPending(), 0.5 ether, "the stake less two shares, at rejection");
        _settleAll(moot);
        assertEq(oracle.balanceOf(tower) - BOND1, 0.23 ether, "the honest game nets 0.23 ether");
        assertEq(oracle.burnPending(), 0.52 ether, "and its claim fee");
        // the executor and its sybil got back 0.25 of the 1 ether staked
        _assertConserved();
    }

    /// Cutting the honest game's share to nothing takes 25 games open (share =
    /// 0.02 = claimFee), whose 24 moot games burn 0.48 ether (at least reward − 2 ·
    /// share): the fraud then costs its executor 0.98 of its 1 ether. With 24
    /// games the honest game still nets something.
    function test_denyingTheHonestGameTakes25GamesBurning048Ether() public {
        (uint256 res, uint256[] memory moot) = _fraudAmong(STAKE1, BOND1, 23);
        uint256 share = oracle.getResult(res).share;
        assertEq(share, 0.02 ether);
        assertEq(share, oracle.claimFee());
        uint256 atRejection = oracle.burnPending();
        assertEq(atRejection, 0.5 ether);
        _settleAll(moot);
        assertEq(oracle.balanceOf(tower), BOND1, "nothing beyond its bond, never less");
        uint256 mootBurn = oracle.burnPending() - atRejection;
        assertEq(mootBurn, 0.48 ether, "24 moot games burn 0.48 ether");
        assertGe(mootBurn, 0.5 ether - 2 * share, "at least reward - 2 * share");
        assertEq(oracle.burnPending(), 0.98 ether);
        _assertBurns(0, 0.98 ether);

        (res, moot) = _fraudAmong(STAKE1, BOND1, 22);
        assertGt(oracle.getResult(res).share, oracle.claimFee(), "24 games: a share above the claim fee");
        _settleAll(moot);
        assertGt(oracle.balanceOf(tower), 2 * BOND1, "the honest game nets something");
    }

    /// Whatever the parameters and however many sybil games are open at
    /// rejection: the fraud burns at least the burned share of its stake, the
    /// challengers together get at most the reward beyond their bonds, the honest
    /// game gets its bond and `max(share − claimFee, 0)` (never less than its
    /// bond), and every wei is accounted for.
    /// forge-config: default.fuzz.runs = 48
    function testFuzz_aFraudBurnsAtLeastTheBurnedShareWhateverTheSybils(uint16 rewardBps, uint16 bondBurnBps, uint256 stake, uint256 sybils) public {
        rewardBps = uint16(bound(rewardBps, 1000, 9000));
        bondBurnBps = uint16(bound(bondBurnBps, 1000, 9000));
        uint256 minBond = oracle.leastBond(bondBurnBps);
        _deployWith(1, _defaults(rewardBps, bondBurnBps, minBond));
        stake = bound(stake, 1 ether, 50 ether);
        sybils = bound(sybils, 0, 40);
        (uint256 res, uint256[] memory moot) = _fraudAmong(stake, minBond, sybils);
        _settleAll(moot);
        uint256 n = sybils + 2;
        uint256 reward = stake * rewardBps / 10_000;
        uint256 share = reward / n;
        assertEq(oracle.getResult(res).share, share);
        uint256 burned = oracle.burnPending();
        assertGe(burned, stake - reward, "at least the burned share of the stake");
        uint256 fee = minBond * bondBurnBps / 10_000;
        uint256 paid = oracle.balanceOf(tower) + oracle.balanceOf(challenger) - 2 * minBond;
        for (uint256 i = 0; i < sybils; i++) {
            paid += oracle.balanceOf(_sybil(i)) - minBond;
        }
        assertEq(paid + burned, stake, "the stake is paid out or burned, to the wei");
        assertLe(paid, reward);
        assertEq(oracle.balanceOf(tower), minBond + share - (share < fee ? share : fee), "the honest share");
        assertGe(oracle.balanceOf(tower), minBond);
        _assertConserved();
    }
}
