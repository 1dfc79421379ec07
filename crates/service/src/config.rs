//! Settings both services take: one flag per setting, each with an environment
//! variable twin, and the same names in a TOML config file. Flags and environment
//! override the file; the file overrides the defaults. [`CommonArgs::settings`]
//! names every setting that is wrong before anything starts.

use clap::Args;
use refute_chain::alloy::primitives::U256;
use refute_chain::{ChainConfig, Deployment, FeePolicy, ScanPolicy};
use refute_runtime::config::{read_settings, ConfigError};
use refute_runtime::logging::LogFormat;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings shared by the executor and the challenger.
#[derive(Debug, Clone, Default, Args, Deserialize)]
pub struct CommonArgs {
    /// JSON-RPC URL of an Ethereum node (http, https or ws).
    #[arg(long, env = "REFUTE_RPC_URL")]
    pub rpc_url: Option<String>,
    /// Hex private key of the account that sends transactions.
    #[arg(long, env = "REFUTE_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: Option<String>,
    /// Deployment file (JSON with the contract addresses), as `refute deploy` writes it.
    #[arg(long, env = "REFUTE_DEPLOYMENT")]
    pub deployment: Option<PathBuf>,
    /// Blocks an event must be under before it is acted on.
    #[arg(long, env = "REFUTE_CONFIRMATIONS")]
    pub confirmations: Option<u64>,
    /// Milliseconds between ticks.
    #[arg(long, env = "REFUTE_POLL_INTERVAL_MS")]
    pub poll_interval_ms: Option<u64>,
    /// Games played at once.
    #[arg(long, env = "REFUTE_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Directory of the service's RocksDB state.
    #[arg(long, env = "REFUTE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to serve Prometheus metrics on (e.g. 127.0.0.1:9100).
    #[arg(long, env = "REFUTE_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Log format: human or json.
    #[arg(long, env = "REFUTE_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Priority fee per gas of a transaction's first send (wei, or e.g. `2gwei`);
    /// a stuck transaction is sent again with it raised.
    #[arg(long, env = "REFUTE_PRIORITY_FEE_PER_GAS")]
    pub priority_fee_per_gas: Option<String>,
    /// The most fee per gas any transaction may offer (wei, or e.g. `300gwei`): the
    /// cap on what re-pricing a stuck move may pay.
    #[arg(long, env = "REFUTE_MAX_FEE_PER_GAS")]
    pub max_fee_per_gas: Option<String>,
}

/// Names of the common settings (the keys a config file may use for them).
pub const COMMON_KEYS: &[&str] = &[
    "rpc_url",
    "private_key",
    "deployment",
    "confirmations",
    "poll_interval_ms",
    "concurrency",
    "data_dir",
    "metrics_addr",
    "log_format",
    "priority_fee_per_gas",
    "max_fee_per_gas",
];

impl CommonArgs {
    /// Fills settings not given on the command line from the file's.
    pub fn or(self, file: CommonArgs) -> CommonArgs {
        CommonArgs {
            rpc_url: self.rpc_url.or(file.rpc_url),
            private_key: self.private_key.or(file.private_key),
            deployment: self.deployment.or(file.deployment),
            confirmations: self.confirmations.or(file.confirmations),
            poll_interval_ms: self.poll_interval_ms.or(file.poll_interval_ms),
            concurrency: self.concurrency.or(file.concurrency),
            data_dir: self.data_dir.or(file.data_dir),
            metrics_addr: self.metrics_addr.or(file.metrics_addr),
            log_format: self.log_format.or(file.log_format),
            priority_fee_per_gas: self.priority_fee_per_gas.or(file.priority_fee_per_gas),
            max_fee_per_gas: self.max_fee_per_gas.or(file.max_fee_per_gas),
        }
    }

    /// Resolves defaults and checks every setting; `default_data_dir` is the
    /// service's own (e.g. `.refute-data/executor`). Every problem is listed.
    pub fn settings(self, default_data_dir: &str) -> Result<Settings, Vec<String>> {
        let mut problems = vec![];
        let rpc_url = self.rpc_url.unwrap_or_else(|| "http://127.0.0.1:8545".into());
        if let Err(e) = refute_chain::check_rpc_url(&rpc_url) {
            problems.push(format!("rpc_url: {e}"));
        }
        let private_key = match self.private_key {
            Some(k) => match refute_chain::parse_private_key(&k) {
                Ok(_) => Some(k),
                Err(e) => {
                    problems.push(format!("private_key: {e}"));
                    None
                }
            },
            None => {
                problems.push("private_key: missing (flag --private-key or REFUTE_PRIVATE_KEY)".into());
                None
            }
        };
        let deployment = match self.deployment {
            Some(path) => match Deployment::load(&path) {
                Ok(d) => Some(d),
                Err(e) => {
                    problems.push(format!("deployment: {e}"));
                    None
                }
            },
            None => {
                problems.push("deployment: missing (flag --deployment or REFUTE_DEPLOYMENT: the file `refute deploy` writes)".into());
                None
            }
        };
        let poll = self.poll_interval_ms.unwrap_or(1000);
        if poll == 0 {
            problems.push("poll_interval_ms: must be at least 1".into());
        }
        let concurrency = self.concurrency.unwrap_or(4);
        if concurrency == 0 {
            problems.push("concurrency: must be at least 1".into());
        }
        let mut fees = FeePolicy::default();
        let mut fee = |what: &str, v: Option<String>, into: &mut u128| {
            if let Some(v) = v {
                match refute_chain::parse_amount(&v) {
                    Ok(x) if x <= U256::from(u128::MAX) => *into = x.to::<u128>(),
                    Ok(_) => problems.push(format!("{what}: {v} is too large")),
                    Err(e) => problems.push(format!("{what}: {e}")),
                }
            }
        };
        fee("priority_fee_per_gas", self.priority_fee_per_gas, &mut fees.tip);
        fee("max_fee_per_gas", self.max_fee_per_gas, &mut fees.cap);
        if fees.cap == 0 || fees.tip > fees.cap {
            problems.push(format!(
                "max_fee_per_gas: {} gwei must be above zero and at least the priority fee ({} gwei)",
                refute_chain::gwei(fees.cap),
                refute_chain::gwei(fees.tip)
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let deployment = deployment.expect("checked");
        Ok(Settings {
            chain: ChainConfig { rpc_url, private_key: private_key.expect("checked"), deployment, fees },
            confirmations: self.confirmations.unwrap_or(2),
            poll_interval: Duration::from_millis(poll),
            concurrency,
            data_dir: self.data_dir.unwrap_or_else(|| PathBuf::from(default_data_dir)),
            metrics_addr: self.metrics_addr,
            log_format: self.log_format.unwrap_or_default(),
        })
    }
}

/// Checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Node, key and contracts.
    pub chain: ChainConfig,
    /// Confirmation depth.
    pub confirmations: u64,
    /// Time between ticks.
    pub poll_interval: Duration,
    /// Games played at once.
    pub concurrency: usize,
    /// State directory.
    pub data_dir: PathBuf,
    /// Metrics address.
    pub metrics_addr: Option<SocketAddr>,
    /// Log format.
    pub log_format: LogFormat,
}

impl Settings {
    /// How the event scanner follows the chain.
    pub fn scan_policy(&self) -> ScanPolicy {
        ScanPolicy { start_block: self.chain.deployment.block, confirmations: self.confirmations, max_range: 2000 }
    }
}

/// Reads a service's config file: a TOML table whose keys are the common settings
/// and `extra` (the service's own). An unknown key is an error that names it.
pub fn read_file<T: for<'de> Deserialize<'de>>(path: &Path, extra: &[&str]) -> Result<(CommonArgs, T), ConfigError> {
    read_settings(path, COMMON_KEYS, extra)
}

/// Parses a shard `I/N` (0-based): an instance of `N` that takes the ids equal to
/// `I` mod `N` (watchtowers split results this way, executors requests).
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected I/N with 0 <= I < N (e.g. 0/2), got `{s}`");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}
