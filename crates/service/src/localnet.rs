//! A local protocol deployment: anvil, the contracts deployed with chosen
//! parameters, and models registered. `refute devnet`, `refute demo` and the
//! services' integration tests all start one the same way.

use crate::config::Settings;
use refute_chain::devnet::{Devnet, DevnetOptions};
use refute_chain::{Chain, ChainConfig, ChainError, DeployParams, Deployment, FeePolicy};
use refute_core::Model;
use refute_runtime::logging::LogFormat;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Funded anvil accounts and the parts they play.
pub mod accounts {
    /// Deploys, registers models and asks for inferences.
    pub const OWNER: usize = 0;
    /// The honest executor.
    pub const EXECUTOR: usize = 1;
    /// The watchtower.
    pub const CHALLENGER: usize = 2;
    /// An executor that cheats.
    pub const CHEATER: usize = 3;
    /// A challenger that disputes correct results.
    pub const GRIEFER: usize = 4;
}

/// A running local deployment; anvil stops when it is dropped.
#[derive(Debug)]
pub struct LocalNet {
    /// The node.
    pub devnet: Devnet,
    /// The contracts.
    pub deployment: Deployment,
    /// Where the deployment file is.
    pub deployment_file: PathBuf,
    /// The parameters deployed.
    pub params: DeployParams,
}

impl LocalNet {
    /// Starts anvil on `port` (0: any free one) mining every `block_time` seconds
    /// (None: on each transaction), its log and state under `dir/node` (so that it
    /// can be restarted with its state), deploys with `params`, writes the
    /// deployment file into `dir`, and registers `models`.
    pub async fn start(port: u16, block_time: Option<u64>, params: DeployParams, models: &[&Model], dir: &Path) -> Result<LocalNet, String> {
        let opts = DevnetOptions { port, block_time, dir: Some(dir.join("node")), keep_state: true };
        let devnet = Devnet::start_with(opts)?;
        let deployment = Chain::deploy(&devnet.endpoint(), &devnet.key(accounts::OWNER), &params).await.map_err(|e| format!("deploying: {e}"))?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let deployment_file = dir.join("deployment.json");
        deployment.save(&deployment_file).map_err(|e| format!("{}: {e}", deployment_file.display()))?;
        let net = LocalNet { devnet, deployment, deployment_file, params };
        let owner = net.client(accounts::OWNER).await.map_err(|e| e.to_string())?;
        for m in models {
            owner.register_model(m, &format!("refute:fixture/{}", m.name())).await.map_err(|e| format!("registering {}: {e}", m.name()))?;
        }
        Ok(net)
    }

    /// The chain settings of account `i`.
    pub fn chain_config(&self, i: usize) -> ChainConfig {
        ChainConfig {
            rpc_url: self.devnet.endpoint(),
            private_key: self.devnet.key(i),
            deployment: self.deployment.clone(),
            fees: FeePolicy::default(),
        }
    }

    /// A client for account `i`.
    pub async fn client(&self, i: usize) -> Result<Chain, ChainError> {
        Chain::connect(&self.chain_config(i)).await
    }

    /// Service settings for account `i` with its state in `data_dir`: quick ticks,
    /// and one confirmation when blocks come on a timer (none with instant mining,
    /// where no block follows the last transaction).
    pub fn settings(&self, i: usize, data_dir: &Path, block_time: Option<u64>) -> Settings {
        Settings {
            chain: self.chain_config(i),
            confirmations: if block_time.is_some() { 1 } else { 0 },
            poll_interval: Duration::from_millis(200),
            concurrency: 4,
            data_dir: data_dir.to_path_buf(),
            metrics_addr: None,
            log_format: LogFormat::Human,
        }
    }
}
