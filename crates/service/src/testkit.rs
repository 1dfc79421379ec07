//! Helpers for the services' integration tests (feature `testkit`): fixture
//! models, inputs, waiting for a condition on the chain, service processes that
//! can be killed with SIGKILL, and an RPC proxy that can be taken down.

use refute_core::testing::Rng;
use refute_core::{Model, Tensor};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fixture model's manifest path, e.g. `hand-every-op`.
pub fn fixture(name: &str) -> PathBuf {
    repo().join("fixtures/models").join(format!("{name}.json"))
}

/// A fixture model, loaded.
pub fn load_fixture(name: &str) -> Model {
    Model::load(&fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A random input of the model's input type.
pub fn random_input(model: &Model, seed: u64) -> Tensor {
    refute_core::testing::random_input(&mut Rng::new(seed), model.input_type())
}

/// Polls `f` every 200 ms until it gives `Some`, or panics after `timeout` with
/// `what` and `context()` (e.g. a service's log).
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, context: impl Fn() -> String, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > end {
            panic!("timed out after {timeout:?} waiting for: {what}\n{}", context());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A service running as its own process, logging to a file.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `bin` with `args`, logging (appending) to `log`.
    pub fn spawn(bin: &Path, args: &[String], log: &Path) -> Proc {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        let child = Command::new(bin)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        Proc { child, log: log.to_path_buf() }
    }

    /// Kills it with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The last 60 lines of a log file.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!("--- {} (last lines) ---\n{}", path.display(), lines[lines.len().saturating_sub(60)..].join("\n"))
}

/// A TCP proxy in front of a node that can be taken down (refusing and cutting
/// connections) and brought back: a node that goes away for a while.
#[derive(Debug, Clone)]
pub struct FlakyProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FlakyProxy {
    /// Starts a proxy to `upstream` (an `http://host:port` URL).
    pub async fn start(upstream: &str) -> FlakyProxy {
        let target: SocketAddr =
            upstream.trim_start_matches("http://").replace("localhost", "127.0.0.1").trim_end_matches('/').parse().expect("host:port");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let proxy = FlakyProxy {
            addr: listener.local_addr().expect("addr"),
            up: Arc::new(AtomicBool::new(true)),
            refused: Arc::default(),
            conns: Arc::default(),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !p.up.load(Ordering::SeqCst) {
                    p.refused.fetch_add(1, Ordering::SeqCst);
                    drop(inbound);
                    continue;
                }
                let h = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                p.conns.lock().expect("conns").push(h);
            }
        });
        proxy
    }

    /// The proxy's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Refuses new connections and cuts the open ones.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for h in self.conns.lock().expect("conns").drain(..) {
            h.abort();
        }
    }

    /// Connections refused while down.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// Accepts connections again.
    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
