//! `refute devnet` and `refute deploy` as a user runs them: a real anvil, the real
//! contracts, the fixture models registered; Ctrl-C stops the node.

use refute_chain::{Chain, ChainConfig, Deployment};
use refute_core::Model;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The value after `label` on the line that starts with it.
fn field(lines: &[String], label: &str) -> String {
    let l = lines.iter().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no `{label}` line in {lines:#?}"));
    l.trim_start()[label.len()..].trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_deploys_registers_prints_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_refute"))
        .args(["devnet", "--port", "0", "--dir", dir.path().to_str().unwrap()])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut l = String::new();
        assert!(out.read_line(&mut l).unwrap() > 0, "devnet exited early; printed {lines:#?}");
        let done = l.contains("running until Ctrl-C");
        lines.push(l.trim_end().to_string());
        if done {
            break;
        }
    }
    let rpc_url = field(&lines, "rpc url");
    let deployment = Deployment::load(&dir.path().join("deployment.json")).unwrap();
    assert_eq!(field(&lines, "oracle"), deployment.oracle.to_string());
    // the first funded key printed, used as a client: every fixture model is registered
    let key_line = lines.iter().find(|l| l.contains("owner")).unwrap();
    let key = key_line.split_whitespace().last().unwrap().to_string();
    let chain = Chain::connect(&ChainConfig { rpc_url: rpc_url.clone(), private_key: key, deployment, fees: refute_chain::FeePolicy::default() })
        .await
        .unwrap();
    for name in ["hand-every-op", "digits-mlp", "digits-cnn", "digits-resnet"] {
        let m = Model::load(&repo().join(format!("fixtures/models/{name}.json"))).unwrap();
        assert!(chain.is_registered(&m.id()).await.unwrap(), "{name} registered");
        assert!(lines.iter().any(|l| l.contains(name)), "{name} printed");
    }
    // Ctrl-C: a clean exit, and the node is gone with it
    let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "devnet exit status {status}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(rest.contains("stopped"), "{rest}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(chain.head().await.is_err(), "anvil still answers after the devnet stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_writes_a_deployment_the_services_can_use_and_names_bad_input() {
    let node = refute_chain::devnet::Devnet::start(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deployment.json");
    let model = repo().join("fixtures/models/digits-mlp.json");
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_refute")).args(args).output().unwrap();

    // a wrong key is named, and nothing is written
    let bad = run(&["deploy", "--rpc-url", &node.endpoint(), "--private-key", "0x1234", "--out", out.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("key"), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(!out.exists());

    // parameters out of the contracts' bounds are named by flag, before anything is sent
    use refute_chain::alloy::providers::{Provider, ProviderBuilder};
    refute_chain::init_tls();
    let provider = ProviderBuilder::new().connect_http(node.endpoint().parse().unwrap());
    let sent = || async { provider.get_transaction_count(node.address(0)).await.unwrap() };
    let before = sent().await;
    let bad = run(&[
        "deploy",
        "--rpc-url",
        &node.endpoint(),
        "--private-key",
        &node.key(0),
        "--out",
        out.to_str().unwrap(),
        "--arity-log2",
        "9",
        "--clock",
        "0",
        "--challenge-window",
        "0",
        "--reward-bps",
        "10000",
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    for flag in
        ["--arity-log2: arityLog2 = 9", "--clock: clockSeconds = 0", "--challenge-window: challengeWindow = 0", "--reward-bps: rewardBps = 10000"]
    {
        assert!(err.contains(flag), "{flag} not in {err}");
    }
    assert!(!out.exists());
    assert_eq!(sent().await, before, "nothing was sent");

    let good = run(&[
        "deploy",
        "--rpc-url",
        &node.endpoint(),
        "--private-key",
        &node.key(0),
        "--out",
        out.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--challenge-window",
        "600",
    ]);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let d = Deployment::load(&out).unwrap();
    let chain =
        Chain::connect(&ChainConfig { rpc_url: node.endpoint(), private_key: node.key(1), deployment: d, fees: refute_chain::FeePolicy::default() })
            .await
            .unwrap();
    assert!(chain.is_registered(&Model::load(&model).unwrap().id()).await.unwrap());
    assert_eq!(chain.oracle_config().await.unwrap().challengeWindow, 600);

    // an existing deployment file is never overwritten
    let again = run(&["deploy", "--rpc-url", &node.endpoint(), "--private-key", &node.key(0), "--out", out.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
}

#[test]
fn devnet_on_a_busy_port_names_the_port_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_refute"))
        .args(["devnet", "--port", &port.to_string(), "--dir", dir.path().to_str().unwrap()])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // the port is named (not a wait for a node that never answers, then a guess
    // that Foundry is missing)
    assert!(err.contains(&format!("port {port}")) && err.contains("not free") && !err.contains("installed"), "{err}");
}
