//! A local chain for the demo, the devnet command and the integration tests: anvil
//! from the project's pinned Foundry, on a free or a given port, with 20 funded
//! keys; its log in a file (a pipe nobody reads would stall it).
//!
//! Tests use it to make what real networks do: pause and resume mining (a move
//! waits in the mempool), drop a pending transaction, raise the next block's base
//! fee, and restart the node with its state kept (its mempool lost).

use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the anvil binary is: `REFUTE_ANVIL`, else the project's `node_modules`,
/// else `anvil` on `PATH`.
pub fn anvil_path() -> PathBuf {
    if let Ok(p) = std::env::var("REFUTE_ANVIL") {
        return PathBuf::from(p);
    }
    let pinned = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/anvil");
    if pinned.exists() {
        pinned
    } else {
        PathBuf::from("anvil")
    }
}

/// How to start a devnet.
#[derive(Debug, Clone, Default)]
pub struct DevnetOptions {
    /// Port to listen on (0: any free one).
    pub port: u16,
    /// A block every this many seconds; `None`: a block per transaction.
    pub block_time: Option<u64>,
    /// Directory of the node's log and (when `keep_state`) its state file; `None`:
    /// a temporary one.
    pub dir: Option<PathBuf>,
    /// Keep the chain's state in a file across [`Devnet::restart`].
    pub keep_state: bool,
}

/// A running anvil; stopped when dropped.
pub struct Devnet {
    child: Child,
    opts: DevnetOptions,
    port: u16,
    log: PathBuf,
    keys: Vec<String>,
    addresses: Vec<Address>,
    // holds the temporary directory, if one was made, for the devnet's life
    _tmp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Devnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devnet").field("endpoint", &self.endpoint()).field("log", &self.log).finish()
    }
}

/// Anvil's chain id.
const CHAIN_ID: u64 = 31337;

impl Devnet {
    /// Number of funded accounts.
    pub const ACCOUNTS: usize = 20;

    /// Starts anvil with instant mining (`block_time` None) or a block every
    /// `block_time` seconds.
    pub fn start(block_time: Option<u64>) -> Result<Devnet, String> {
        Devnet::start_with(DevnetOptions { block_time, ..DevnetOptions::default() })
    }

    /// Like [`Devnet::start`], on `port` (0: a free one).
    pub fn start_on(port: u16, block_time: Option<u64>) -> Result<Devnet, String> {
        Devnet::start_with(DevnetOptions { port, block_time, ..DevnetOptions::default() })
    }

    /// Starts anvil as `opts` say. A port already in use is named at once.
    pub fn start_with(opts: DevnetOptions) -> Result<Devnet, String> {
        if opts.port != 0 {
            std::net::TcpListener::bind(("127.0.0.1", opts.port)).map_err(|e| {
                format!("port {} on 127.0.0.1 is not free ({e}): another node or devnet may be using it; choose another port", opts.port)
            })?;
        }
        let (tmp, dir) = match &opts.dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
                (None, d.clone())
            }
            None => {
                let t = tempfile::tempdir().map_err(|e| format!("a temporary directory for the devnet: {e}"))?;
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        let log = dir.join("anvil.log");
        let (child, port, keys) = spawn(&opts, opts.port, &dir, &log)?;
        let addresses = keys
            .iter()
            .map(|k| {
                k.parse::<alloy::signers::local::PrivateKeySigner>()
                    .map(|s| s.address())
                    .map_err(|e| format!("anvil printed a key that does not parse: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Devnet { child, opts: DevnetOptions { dir: Some(dir), ..opts }, port, log, keys, addresses, _tmp: tmp })
    }

    /// HTTP endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Chain id.
    pub fn chain_id(&self) -> u64 {
        CHAIN_ID
    }

    /// The node's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The `i`th funded key (`i < 20`), as hex.
    pub fn key(&self, i: usize) -> String {
        self.keys.get(i).cloned().expect("the devnet funds 20 keys")
    }

    /// The `i`th funded address.
    pub fn address(&self, i: usize) -> Address {
        self.addresses[i]
    }

    /// The node's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the node (gracefully: it writes its state), waits `down`, and starts it
    /// again on the same port with the same state; its mempool is lost, as in a real
    /// restart. Needs [`DevnetOptions::keep_state`].
    pub fn restart(&mut self, down: Duration) -> Result<(), String> {
        if !self.opts.keep_state {
            return Err("restart needs a devnet started with keep_state".into());
        }
        terminate(&mut self.child)?;
        std::thread::sleep(down);
        let dir = self.opts.dir.clone().expect("set at start");
        let (child, port, _) = spawn(&self.opts, self.port, &dir, &self.log)?;
        self.child = child;
        self.port = port;
        Ok(())
    }

    fn rpc(&self) -> Result<DynProvider, String> {
        let url = self.endpoint().parse().map_err(|e| format!("endpoint: {e}"))?;
        Ok(ProviderBuilder::new().connect_http(url).erased())
    }

    async fn call(&self, method: &'static str, params: serde_json::Value) -> Result<serde_json::Value, String> {
        self.rpc()?.raw_request::<_, serde_json::Value>(method.into(), params).await.map_err(|e| format!("{method}: {e}"))
    }

    /// Stops mining: transactions wait in the mempool until [`Devnet::resume_mining`].
    pub async fn pause_mining(&self) -> Result<(), String> {
        self.call("evm_setAutomine", serde_json::json!([false])).await?;
        self.call("evm_setIntervalMining", serde_json::json!([0])).await?;
        Ok(())
    }

    /// Mines again as the devnet was started to.
    pub async fn resume_mining(&self) -> Result<(), String> {
        match self.opts.block_time {
            Some(t) => self.call("evm_setIntervalMining", serde_json::json!([t])).await?,
            None => self.call("evm_setAutomine", serde_json::json!([true])).await?,
        };
        Ok(())
    }

    /// The hashes of the transactions in the mempool sent by `from` (pending and
    /// queued).
    pub async fn mempool_of(&self, from: Address) -> Result<Vec<String>, String> {
        let content = self.call("txpool_content", serde_json::json!([])).await?;
        let mut out = vec![];
        for section in ["pending", "queued"] {
            let Some(by_sender) = content.get(section).and_then(|v| v.as_object()) else { continue };
            for (addr, txs) in by_sender {
                if addr.parse::<Address>().ok() != Some(from) {
                    continue;
                }
                for tx in txs.as_object().into_iter().flat_map(|m| m.values()) {
                    if let Some(h) = tx.get("hash").and_then(|h| h.as_str()) {
                        out.push(h.to_string());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Drops a transaction from the mempool, as a node evicting it would; true when
    /// the node held it and dropped it, false when it was not there.
    pub async fn drop_transaction(&self, hash: &str) -> Result<bool, String> {
        // anvil answers the dropped transaction's hash, or null when it had none
        self.call("anvil_dropTransaction", serde_json::json!([hash])).await.map(|v| !v.is_null())
    }

    /// Mines one block now, of what the mempool holds.
    pub async fn mine(&self) -> Result<(), String> {
        self.call("evm_mine", serde_json::json!([])).await.map(|_| ())
    }

    /// Moves the chain's clock `seconds` ahead and mines a block at the new time.
    pub async fn advance_time(&self, seconds: u64) -> Result<(), String> {
        self.call("evm_increaseTime", serde_json::json!([seconds])).await?;
        self.call("evm_mine", serde_json::json!([])).await.map(|_| ())
    }

    /// Sets the base fee of the next block (wei per gas): a fee spike.
    pub async fn set_next_base_fee(&self, wei: u128) -> Result<(), String> {
        self.call("anvil_setNextBlockBaseFeePerGas", serde_json::json!([format!("0x{wei:x}")])).await.map(|_| ())
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts anvil and waits until it listens; returns it, its port and its keys.
fn spawn(opts: &DevnetOptions, port: u16, dir: &Path, log: &Path) -> Result<(Child, u16, Vec<String>), String> {
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let start = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let mut cmd = Command::new(anvil_path());
    // 20 funded accounts: the demo gives every party of every scenario its own,
    // so that gas is accounted per party.
    cmd.args(["--port", &port.to_string(), "--accounts", "20", "--chain-id", &CHAIN_ID.to_string()]);
    if let Some(t) = opts.block_time {
        cmd.args(["--block-time", &t.to_string()]);
    }
    if opts.keep_state {
        cmd.arg("--state").arg(dir.join("anvil-state.json"));
    }
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut child = cmd
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting anvil ({}): {e}; run scripts/setup.sh to install Foundry", anvil_path().display()))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let text = text.get(start as usize..).unwrap_or("");
        if let Some(line) = text.lines().find(|l| l.starts_with("Listening on ")) {
            let port = line.rsplit(':').next().and_then(|p| p.trim().parse().ok()).ok_or_else(|| format!("anvil said `{line}`"))?;
            return Ok((child, port, keys_in(text)));
        }
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("anvil exited ({status}) before listening; its log ({}):\n{}", log.display(), tail(text)));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!("anvil did not listen within 60 s; its log ({}):\n{}", log.display(), tail(text)));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The private keys anvil lists at start.
fn keys_in(text: &str) -> Vec<String> {
    text.split("Private Keys")
        .nth(1)
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.trim().strip_prefix('(').and_then(|r| r.split_once(')')).map(|(_, k)| k.trim().to_string()))
        .filter(|k| k.starts_with("0x") && k.len() == 66)
        .collect()
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Asks the node to stop (SIGTERM: anvil writes its state), and waits for it.
fn terminate(child: &mut Child) -> Result<(), String> {
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().map_err(|e| format!("kill: {e}"))?.success();
    if !ok {
        let _ = child.kill();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.wait();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_from_the_start_banner() {
        let banner = "Available Accounts\n==================\n\n(0) 0xf39F (10000 ETH)\n\nPrivate Keys\n==================\n\n(0) 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n(1) 0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d\n\nWallet\n";
        let keys = keys_in(banner);
        assert_eq!(keys.len(), 2);
        assert!(keys[1].starts_with("0x59c6"));
    }
}
