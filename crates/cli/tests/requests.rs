//! `refute request` and `refute status` as a requester runs them, against a real
//! node with the protocol deployed: a request is made from an input file, its
//! status follows it from open to posted to final, with its output.

use refute_chain::alloy::primitives::U256;
use refute_chain::alloy::providers::Provider;
use refute_core::testing::{random_input, reference_run, Rng};
use refute_game::TraceData;
use refute_service::localnet::{accounts, LocalNet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn refute(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_refute")).args(args).current_dir(repo()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_made_and_followed_to_its_final_output() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = repo().join("fixtures/models/hand-every-op.json");
    let model = Arc::new(refute_core::Model::load(&manifest).unwrap());
    let params = refute_chain::DeployParams { challenge_window: 5, clock_seconds: 60, request_timeout: 600, ..Default::default() };
    let net = LocalNet::start(0, None, params, &[&model], dir.path()).await.unwrap();
    let input = random_input(&mut Rng::new(5), model.input_type());
    let input_file = dir.path().join("input.bin");
    std::fs::write(&input_file, input.canonical_bytes()).unwrap();
    let (url, dep) = (net.devnet.endpoint(), net.deployment_file.to_str().unwrap().to_string());
    let key = net.devnet.key(accounts::OWNER);
    let (ok, out, err) = refute(&[
        "request",
        "--rpc-url",
        &url,
        "--deployment",
        &dep,
        "--private-key",
        &key,
        "--fee",
        "0.02ether",
        "--json",
        manifest.to_str().unwrap(),
        input_file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = v["requests"][0].as_u64().unwrap();
    let status = |json: bool| {
        let mut a = vec!["status", "--rpc-url", &url, "--deployment", &dep, "--model", manifest.to_str().unwrap()];
        let ids = id.to_string();
        a.push(&ids);
        if json {
            a.push("--json");
        }
        let (ok, out, err) = refute(&a);
        assert!(ok, "{err}");
        out
    };
    let s = status(false);
    assert!(s.contains(&format!("request #{id}")) && s.contains("Open") && s.contains("no result posted yet") && s.contains("0.02 ETH"), "{s}");

    // an executor posts the honest result
    let executor = net.client(accounts::EXECUTOR).await.unwrap();
    let tensors = reference_run(&model, &input);
    let trace = TraceData::from_tensors(model.clone(), &tensors);
    let result = executor.post(id, &trace, U256::from(10u64).pow(U256::from(18u64))).await.unwrap();
    let s = status(false);
    assert!(s.contains("Posted") && s.contains(&format!("result #{result}")) && s.contains(&refute_core::hash::to_hex(&trace.root())), "{s}");
    assert!(!s.contains("output (final)"), "no output before finality: {s}");

    // past the window it is finalized, and its output shown
    let owner = net.client(accounts::OWNER).await.unwrap();
    let provider = owner.provider();
    let _: serde_json::Value = provider.raw_request("evm_increaseTime".into(), (10u64,)).await.unwrap();
    owner.finalize(result).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&status(true)).unwrap();
    assert_eq!(v["state"], "Finalized");
    let class = tensors.last().unwrap().get(0);
    assert_eq!(v["results"][0]["output"], class, "{v}");
    assert!(status(false).contains(&format!("output (final): {class}")));

    // a request that does not exist, and a model that is not registered, are named
    let (ok, _, err) = refute(&["status", "--rpc-url", &url, "--deployment", &dep, "999"]);
    assert!(!ok && err.contains("no request #999"), "{err}");
    let other = dir.path().join("unregistered.json");
    refute_core::testing::wide_mlp(8, 1).save(&other).unwrap();
    let raw = dir.path().join("raw8.bin");
    std::fs::write(&raw, [1u8; 8]).unwrap();
    let (ok, _, err) =
        refute(&["request", "--rpc-url", &url, "--deployment", &dep, "--private-key", &key, other.to_str().unwrap(), raw.to_str().unwrap()]);
    assert!(!ok && err.contains("not registered"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unserved_request_is_refunded_to_its_requester_after_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = repo().join("fixtures/models/hand-every-op.json");
    let model = Arc::new(refute_core::Model::load(&manifest).unwrap());
    let params = refute_chain::DeployParams { request_timeout: 100, ..Default::default() };
    let net = LocalNet::start(0, None, params, &[&model], dir.path()).await.unwrap();
    let input_file = dir.path().join("input.bin");
    std::fs::write(&input_file, random_input(&mut Rng::new(6), model.input_type()).canonical_bytes()).unwrap();
    let (url, dep) = (net.devnet.endpoint(), net.deployment_file.to_str().unwrap().to_string());
    let key = net.devnet.key(accounts::OWNER);
    let (ok, out, err) = refute(&[
        "request",
        "--rpc-url",
        &url,
        "--deployment",
        &dep,
        "--private-key",
        &key,
        "--json",
        manifest.to_str().unwrap(),
        input_file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["requests"][0].as_u64().unwrap().to_string();
    let refund = |key: &str| refute(&["refund", "--rpc-url", &url, "--deployment", &dep, "--private-key", key, "--json", &id]);

    // not while it may still be served, and never to another key
    let (ok, _, err) = refund(&key);
    assert!(!ok && err.contains("may still be served"), "{err}");
    let owner = net.client(accounts::OWNER).await.unwrap();
    let _: serde_json::Value = owner.provider().raw_request("evm_increaseTime".into(), (101u64,)).await.unwrap();
    let _: serde_json::Value = owner.provider().raw_request("evm_mine".into(), serde_json::json!([])).await.unwrap();
    let (ok, _, err) = refund(&net.devnet.key(accounts::EXECUTOR));
    assert!(!ok && err.contains("not by this key"), "{err}");

    let before = owner.eth_balance(owner.sender()).await.unwrap();
    let (ok, out, err) = refund(&key);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let fee = U256::from(10u64).pow(U256::from(16u64)); // the default 0.01 ether
    assert_eq!((v["refunded"].as_str().unwrap(), v["withdrawn"].as_str().unwrap()), (fee.to_string().as_str(), fee.to_string().as_str()));
    assert!(owner.eth_balance(owner.sender()).await.unwrap() > before, "the fee is back, less the gas");
    let (ok, _, err) = refund(&key);
    assert!(!ok && err.contains("refunded already"), "{err}");
    let (ok, out, _) = refute(&["status", "--rpc-url", &url, "--deployment", &dep, "--json", &id]);
    assert!(ok && out.contains("\"Refunded\""), "{out}");
}
