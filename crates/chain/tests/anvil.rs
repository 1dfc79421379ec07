//! Against a real EVM (anvil): the Solidity commitment code and one-step verifier
//! agree with Rust on every shared vector, and a whole game is played through the
//! client with the solvers, the chain acting as referee.

use alloy::primitives::{Bytes, B256, U256};
use alloy::providers::ProviderBuilder;
use alloy::sol;
use refute_chain::devnet::Devnet;
use refute_chain::{Chain, ChainConfig, DeployParams, FeePolicy, RequestStatus, ResultStatus};
use refute_core::commit::commit_bytes;
use refute_core::hash::{from_hex, Hash};
use refute_core::testing::{every_op_model, random_input, reference_run, Rng};
use refute_core::Tensor;
use refute_game::{challenger_move, executor_move, Side, Status, TraceData};
use serde_json::Value;
use std::sync::Arc;

sol!(
    #[sol(rpc)]
    LibHarness,
    "../../contracts/out/Vectors.t.sol/LibHarness.json"
);

fn vectors(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/vectors").join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn bytes(v: &Value) -> Bytes {
    Bytes::from(alloy::hex::decode(v.as_str().unwrap()).unwrap())
}

fn b32(v: &Value) -> B256 {
    B256::from(from_hex(v.as_str().unwrap()).unwrap())
}

fn b32s(v: &Value) -> Vec<B256> {
    v.as_array().unwrap().iter().map(b32).collect()
}

fn u256s(v: &Value) -> Vec<U256> {
    v.as_array().unwrap().iter().map(|x| U256::from(x.as_u64().unwrap())).collect()
}

#[tokio::test]
async fn solidity_agrees_with_rust_on_every_shared_vector_in_the_evm() {
    let net = Devnet::start(None).unwrap();
    let signer: alloy::signers::local::PrivateKeySigner = net.key(0).parse().unwrap();
    let p = ProviderBuilder::new().wallet(signer).connect(&net.endpoint()).await.unwrap();
    let lib = LibHarness::deploy(p.clone()).await.unwrap();
    let c = vectors("commitments.json");
    for t in c["tensors"].as_array().unwrap() {
        let shape: Vec<u32> = t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as u32).collect();
        let r = lib.tensorCommitment(t["dtype"].as_u64().unwrap() as u8, shape, bytes(&t["bytes"])).call().await.unwrap();
        assert_eq!(r._0, b32(&t["dataRoot"]));
        assert_eq!(r._1, b32(&t["commitment"]));
    }
    for m in c["multiproofs"].as_array().unwrap() {
        let tag = match m["kind"].as_str().unwrap() {
            "data" => 1u8,
            "trace" => 3,
            "spec" => 5,
            _ => 8,
        };
        let root = lib
            .multiRoot(tag, U256::from(m["height"].as_u64().unwrap()), u256s(&m["indices"]), b32s(&m["leaves"]), b32s(&m["proof"]))
            .call()
            .await
            .unwrap();
        assert_eq!(root, b32(&m["root"]));
    }
    for s in c["specs"].as_array().unwrap() {
        assert_eq!(lib.specLeaf(bytes(&s["bytes"])).call().await.unwrap(), b32(&s["leaf"]));
    }
    for m in c["models"].as_array().unwrap() {
        let id = lib.modelId(m["stepCount"].as_u64().unwrap() as u32, b32(&m["specRoot"])).call().await.unwrap();
        assert_eq!(id, b32(&m["id"]));
    }

    let verifier = refute_chain::bindings::OneStepVerifier::deploy(p.clone()).await.unwrap();
    let ops = vectors("ops.json");
    let range = |o: &Value| refute_chain::bindings::OneStepVerifier::ChunkRange {
        first: U256::from(o["first"].as_u64().unwrap()),
        chunks: bytes(&o["chunks"]),
        proof: b32s(&o["proof"]),
    };
    let cases = ops["cases"].as_array().unwrap();
    for case in cases {
        let n = |k: &str| U256::from(case[k].as_u64().unwrap());
        assert_eq!(verifier.blocks(bytes(&case["spec"])).call().await.unwrap(), n("blocks"), "{}", case["name"]);
        let got = verifier
            .evaluate(
                bytes(&case["spec"]),
                n("element"),
                n("block"),
                bytes(&case["prevState"]),
                b32s(&case["inputRoots"]),
                case["inputs"].as_array().unwrap().iter().map(range).collect(),
                case["weights"].as_array().unwrap().iter().map(range).collect(),
            )
            .call()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case["name"]));
        assert_eq!(got.last, case["last"].as_bool().unwrap(), "{}", case["name"]);
        assert_eq!(got.value, alloy::primitives::I256::try_from(case["value"].as_i64().unwrap()).unwrap(), "{}", case["name"]);
        assert_eq!(got.leaf, b32(&case["leaf"]), "{}", case["name"]);
    }
    assert!(cases.len() > 300);
}

fn flip(t: &Tensor, element: usize) -> Tensor {
    let mut b = t.canonical_bytes();
    b[element] ^= 1;
    Tensor::from_canonical_bytes(t.ty().clone(), &b).unwrap()
}

/// Plays game `id` to the end with the solvers, moving as whichever side is to move.
async fn play(executor: &Chain, challenger: &Chain, id: u64, posted: &TraceData, honest: &TraceData, arity: u32) -> Status {
    for _ in 0..100 {
        let g = challenger.game(id).await.unwrap();
        if g.position.status != Status::Open {
            return g.position.status;
        }
        let (who, mv) = match g.position.turn {
            Side::Executor => (executor, executor_move(arity, &g.position, posted).unwrap().unwrap()),
            Side::Challenger => {
                let revealed = challenger.revealed(id, arity, 0).await.unwrap();
                (challenger, challenger_move(arity, &g.position, honest, &revealed).unwrap().unwrap())
            }
        };
        let tx = who.send_move(id, &mv, None).await.unwrap();
        who.wait_mined(&tx).await.unwrap();
    }
    panic!("the game did not end in 100 moves");
}

#[tokio::test]
async fn a_game_through_the_client_rejects_fraud_and_pays_the_challenger() {
    let net = Devnet::start(None).unwrap();
    let params = DeployParams { arity_log2: 2, ..DeployParams::default() };
    let deployment = Chain::deploy(&net.endpoint(), &net.key(0), &params).await.unwrap();
    let connect =
        |i: usize| ChainConfig { rpc_url: net.endpoint(), private_key: net.key(i), deployment: deployment.clone(), fees: FeePolicy::default() };
    let (requester, executor, challenger) =
        (Chain::connect(&connect(1)).await.unwrap(), Chain::connect(&connect(2)).await.unwrap(), Chain::connect(&connect(3)).await.unwrap());

    let model = Arc::new(every_op_model());
    let id: Hash = requester.register_model(&model, "ipfs://hand").await.unwrap();
    assert_eq!(id, model.id());
    // registering again is a no-op
    assert_eq!(requester.register_model(&model, "ipfs://hand").await.unwrap(), id);

    let input = random_input(&mut Rng::new(5), model.input_type());
    let fee = U256::from(1000u64);
    let request = requester.request(&id, &input.canonical_bytes(), fee, alloy::primitives::Address::ZERO, 0).await.unwrap();
    let info = requester.get_request(request).await.unwrap();
    assert_eq!(info.status, RequestStatus::Open);
    assert_eq!(info.input_commitment, commit_bytes(model.input_type(), &input.canonical_bytes()), "the EVM commits as Rust does");

    let tensors = reference_run(&model, &input);
    let honest = TraceData::from_tensors(model.clone(), &tensors);
    let mut bad = tensors.clone();
    bad[5] = flip(&bad[5], 7);
    let cheat = TraceData::from_tensors(model.clone(), &bad);
    let stake = params.min_stake;
    let result = executor.post(request, &cheat, stake).await.unwrap();
    assert_eq!(executor.get_result(result).await.unwrap().trace_root, cheat.root());

    let game = challenger.challenge(result, params.min_bond).await.unwrap();
    assert_eq!(challenger.games_of(result).await.unwrap(), vec![game]);
    let status = play(&executor, &challenger, game, &cheat, &honest, params.arity_log2).await;
    assert_eq!(status, Status::ChallengerWon);
    assert_eq!(challenger.get_result(result).await.unwrap().status, ResultStatus::Rejected);
    assert_eq!(challenger.get_request(request).await.unwrap().status, RequestStatus::Open);
    // the only game open at rejection: its share is the whole reward
    let reward = stake * U256::from(params.reward_bps) / U256::from(10_000u64);
    let rejected = challenger.get_result(result).await.unwrap();
    assert_eq!((rejected.games_at_rejection, rejected.share), (1, reward));
    assert!(rejected.rejected_at >= rejected.posted_at);
    // the reopened request may be served until a fresh deadline
    assert_eq!(challenger.get_request(request).await.unwrap().deadline, rejected.rejected_at + params.request_timeout);
    assert_eq!(challenger.credited(challenger.sender()).await.unwrap(), params.min_bond + reward);
    let before = challenger.eth_balance(challenger.sender()).await.unwrap();
    assert_eq!(challenger.withdraw().await.unwrap(), params.min_bond + reward);
    assert!(challenger.eth_balance(challenger.sender()).await.unwrap() > before);

    // an honest post of the reopened request survives a griefing-free window and finalizes
    let result2 = executor.post(request, &honest, stake).await.unwrap();
    let err = executor.finalize(result2).await.unwrap_err().to_string();
    assert!(err.contains("WindowOpen"), "a decoded custom error: {err}");
}

#[tokio::test]
async fn bad_urls_keys_and_deployments_get_clear_errors() {
    let d = refute_chain::Deployment {
        chain_id: 31337,
        block: 0,
        registry: Default::default(),
        oracle: Default::default(),
        game: Default::default(),
        verifier: Default::default(),
    };
    let cfg = |url: &str, key: &str| ChainConfig { rpc_url: url.into(), private_key: key.into(), deployment: d.clone(), fees: FeePolicy::default() };
    let key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
    let e = Chain::connect(&cfg("ftp://x", key)).await.unwrap_err().to_string();
    assert!(e.contains("ftp://x") && e.contains("scheme"), "{e}");
    let e = Chain::connect(&cfg("http://127.0.0.1:8545", "0x1234")).await.unwrap_err().to_string();
    assert!(e.contains("private key"), "{e}");
    let net = Devnet::start(None).unwrap();
    let e = Chain::connect(&cfg(&net.endpoint(), key)).await.unwrap_err().to_string();
    assert!(e.contains("no oracle contract"), "{e}");
    let e = Chain::connect(&ChainConfig { deployment: refute_chain::Deployment { chain_id: 1, ..d.clone() }, ..cfg(&net.endpoint(), key) })
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("chain 31337") && e.contains("chain 1"), "{e}");
}

/// A sybil of the executor that challenges too and wins first takes only its share:
/// the honest game open at rejection is due the same share, less the claim fee when
/// it is settled as moot; the rest of the stake is burned.
#[tokio::test]
async fn a_sybil_that_wins_first_takes_only_its_share_of_the_reward() {
    let net = Devnet::start(None).unwrap();
    let params = DeployParams { arity_log2: 2, ..DeployParams::default() };
    let deployment = Chain::deploy(&net.endpoint(), &net.key(0), &params).await.unwrap();
    let connect =
        |i: usize| ChainConfig { rpc_url: net.endpoint(), private_key: net.key(i), deployment: deployment.clone(), fees: FeePolicy::default() };
    let (requester, executor, honest_watchtower, sybil) = (
        Chain::connect(&connect(1)).await.unwrap(),
        Chain::connect(&connect(2)).await.unwrap(),
        Chain::connect(&connect(3)).await.unwrap(),
        Chain::connect(&connect(4)).await.unwrap(),
    );
    let model = Arc::new(every_op_model());
    let id = requester.register_model(&model, "ipfs://hand").await.unwrap();
    let input = random_input(&mut Rng::new(6), model.input_type());
    let request = requester.request(&id, &input.canonical_bytes(), U256::from(1000u64), alloy::primitives::Address::ZERO, 0).await.unwrap();
    let tensors = reference_run(&model, &input);
    let honest = TraceData::from_tensors(model.clone(), &tensors);
    let mut bad = tensors.clone();
    bad[5] = flip(&bad[5], 3);
    let cheat = TraceData::from_tensors(model.clone(), &bad);
    let stake = U256::from(10u64).pow(U256::from(18u64)); // 1 ether
    let result = executor.post(request, &cheat, stake).await.unwrap();
    let honest_game = honest_watchtower.challenge(result, params.min_bond).await.unwrap();
    let sybil_game = sybil.challenge(result, params.min_bond).await.unwrap();

    // the executor lets its sybil win (the honest solver on both sides of it would do)
    assert_eq!(play(&executor, &sybil, sybil_game, &cheat, &honest, params.arity_log2).await, Status::ChallengerWon);
    let rejected = sybil.get_result(result).await.unwrap();
    let reward = stake * U256::from(params.reward_bps) / U256::from(10_000u64);
    let share = reward / U256::from(2u64);
    assert_eq!((rejected.status, rejected.games_at_rejection, rejected.share), (ResultStatus::Rejected, 2, share));
    assert_eq!(sybil.credited(sybil.sender()).await.unwrap(), params.min_bond + share, "the sybil gets one share, not the reward");

    // the honest game is moot: settled by anyone, it pays the bond and the share less the claim fee
    let claim_fee = params.min_bond * U256::from(params.bond_burn_bps) / U256::from(10_000u64);
    requester.settle_moot(honest_game).await.unwrap();
    let paid = honest_watchtower.credited(honest_watchtower.sender()).await.unwrap();
    assert_eq!(paid, params.min_bond + share - share.min(claim_fee));
    // with the defaults and a stake of 1 ether: the 0.1 bond back and 0.25 − 0.02 =
    // 0.23 net of the share (docs/protocol.md, "Rewards and sybils")
    assert_eq!(paid, U256::from(330_000_000_000_000_000u64));
}

/// `refute deploy` checks its parameters with the same bounds as the contracts:
/// the Rust mirror of each bound equals the contract's constant.
#[tokio::test]
async fn the_parameter_bounds_in_rust_are_the_contracts_own() {
    use refute_chain::bindings::{DisputeGame, InferenceOracle};
    use refute_chain::bounds::*;
    let net = Devnet::start(None).unwrap();
    let params = DeployParams::default();
    let deployment = Chain::deploy(&net.endpoint(), &net.key(0), &params).await.unwrap();
    let chain =
        Chain::connect(&ChainConfig { rpc_url: net.endpoint(), private_key: net.key(1), deployment: deployment.clone(), fees: FeePolicy::default() })
            .await
            .unwrap();
    let oracle = InferenceOracle::new(deployment.oracle, chain.provider().clone());
    let game = DisputeGame::new(deployment.game, chain.provider().clone());
    assert_eq!(oracle.MAX_DURATION().call().await.unwrap(), MAX_DURATION);
    assert_eq!(game.MAX_DURATION().call().await.unwrap(), MAX_DURATION);
    assert_eq!(oracle.MIN_REWARD_BPS().call().await.unwrap(), MIN_REWARD_BPS);
    assert_eq!(oracle.MAX_REWARD_BPS().call().await.unwrap(), MAX_REWARD_BPS);
    assert_eq!(oracle.MIN_BOND_BURN_BPS().call().await.unwrap(), MIN_BOND_BURN_BPS);
    assert_eq!(oracle.MAX_BOND_BURN_BPS().call().await.unwrap(), MAX_BOND_BURN_BPS);
    assert_eq!(oracle.MAX_CALLBACK_GAS().call().await.unwrap(), MAX_CALLBACK_GAS);
    assert_eq!(oracle.DEFENCE_GAS().call().await.unwrap(), U256::from(DEFENCE_GAS));
    assert_eq!(oracle.DEFENCE_GAS_PRICE().call().await.unwrap(), U256::from(DEFENCE_GAS_PRICE));
    assert_eq!(game.MAX_ARITY_LOG2().call().await.unwrap(), MAX_ARITY_LOG2);
    for burn in [MIN_BOND_BURN_BPS, 2000, MAX_BOND_BURN_BPS] {
        assert_eq!(oracle.leastBond(burn).call().await.unwrap(), DeployParams::least_bond(burn), "bondBurnBps {burn}");
    }
    let claim_fee = oracle.claimFee().call().await.unwrap();
    assert_eq!(claim_fee, params.min_bond * U256::from(params.bond_burn_bps) / U256::from(10_000u64));
    assert_eq!(game.clockExtension().call().await.unwrap(), params.clock_seconds / 4);
}

/// Two requests mined in one block each get their own id: the one the event of
/// their own transaction names, not the last one in the block.
#[tokio::test]
async fn requests_mined_in_one_block_each_get_their_own_id() {
    let net = Devnet::start(None).unwrap();
    let deployment = Chain::deploy(&net.endpoint(), &net.key(0), &DeployParams::default()).await.unwrap();
    let connect =
        |i: usize| ChainConfig { rpc_url: net.endpoint(), private_key: net.key(i), deployment: deployment.clone(), fees: FeePolicy::default() };
    let (a, b) = (Chain::connect(&connect(1)).await.unwrap(), Chain::connect(&connect(2)).await.unwrap());
    let model = Arc::new(every_op_model());
    let id = a.register_model(&model, "ipfs://hand").await.unwrap();
    let (input_a, input_b) = (random_input(&mut Rng::new(8), model.input_type()), random_input(&mut Rng::new(9), model.input_type()));
    net.pause_mining().await.unwrap();
    let fee = U256::from(1000u64);
    let (bytes_a, bytes_b) = (input_a.canonical_bytes(), input_b.canonical_bytes());
    let zero = alloy::primitives::Address::ZERO;
    let one_block = async {
        // both requests in the mempool, then one block holds them
        while net.mempool_of(a.sender()).await.unwrap().is_empty() || net.mempool_of(b.sender()).await.unwrap().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        net.mine().await.unwrap();
    };
    let (ra, rb, ()) = tokio::join!(a.request(&id, &bytes_a, fee, zero, 0), b.request(&id, &bytes_b, fee, zero, 0), one_block);
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    net.resume_mining().await.unwrap();
    let head = a.head().await.unwrap();
    let blocks: Vec<u64> = a
        .events(0, head)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            refute_chain::Event::Requested { block, .. } => Some(block),
            _ => None,
        })
        .collect();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0], blocks[1], "both requests in one block");
    assert_ne!(ra, rb);
    assert_eq!(a.get_request(ra).await.unwrap().input_commitment, commit_bytes(model.input_type(), &bytes_a));
    assert_eq!(a.get_request(rb).await.unwrap().input_commitment, commit_bytes(model.input_type(), &bytes_b));
    assert_eq!((a.get_request(ra).await.unwrap().requester, a.get_request(rb).await.unwrap().requester), (a.sender(), b.sender()));
}

/// The example integrator gets back the fee of a request nobody served: the oracle
/// refunds it to the consumer, which sends it on to its owner.
#[tokio::test]
async fn the_example_consumer_reclaims_an_unserved_fee_for_its_owner() {
    let net = Devnet::start(None).unwrap();
    let params = DeployParams { request_timeout: 60, ..DeployParams::default() };
    let deployment = Chain::deploy(&net.endpoint(), &net.key(0), &params).await.unwrap();
    let connect =
        |i: usize| ChainConfig { rpc_url: net.endpoint(), private_key: net.key(i), deployment: deployment.clone(), fees: FeePolicy::default() };
    let (owner, stranger) = (Chain::connect(&connect(1)).await.unwrap(), Chain::connect(&connect(2)).await.unwrap());
    let model = Arc::new(every_op_model());
    let id = owner.register_model(&model, "ipfs://hand").await.unwrap();
    let consumer = refute_chain::ExampleConsumer::deploy(&owner, &id).await.unwrap();
    assert_eq!(consumer.owner(&owner).await.unwrap(), owner.sender());
    let input = random_input(&mut Rng::new(7), model.input_type());
    let fee = U256::from(10_000_000_000_000_000u64); // 0.01 ether: more than the reclaim's gas
    let request = consumer.ask(&owner, &input.canonical_bytes(), fee).await.unwrap();
    assert_eq!(owner.get_request(request).await.unwrap().requester, consumer.address());

    // not before the deadline, and never by anyone but the owner
    let e = consumer.reclaim(&owner, request).await.unwrap_err().to_string();
    assert!(e.contains("RequestNotExpired"), "{e}");
    net.advance_time(61).await.unwrap();
    let e = consumer.reclaim(&stranger, request).await.unwrap_err().to_string();
    assert!(e.contains("NotOwner"), "{e}");

    let before = owner.eth_balance(owner.sender()).await.unwrap();
    assert_eq!(consumer.reclaim(&owner, request).await.unwrap(), fee);
    assert_eq!(owner.get_request(request).await.unwrap().status, RequestStatus::Refunded);
    let after = owner.eth_balance(owner.sender()).await.unwrap();
    // the owner got the fee, less what it paid for the reclaim's gas
    assert!(after > before && after - before < fee, "{before} -> {after}");
    assert_eq!(owner.eth_balance(consumer.address()).await.unwrap(), U256::ZERO, "nothing left in the consumer");
    assert_eq!(consumer.answer(&owner, request).await.unwrap(), None);
}
