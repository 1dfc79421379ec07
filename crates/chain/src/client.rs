//! The typed client: a connection to a node and the protocol's contracts, with a
//! sender; connecting checks the chain and the deployment, and deploying makes one.
//! The calls themselves live by contract: [`crate::registry`], [`crate::oracle`],
//! [`crate::game`], and the chain's own blocks and logs in [`crate::blocks`] and
//! [`crate::events`].

use crate::bindings::{DisputeGame, InferenceOracle, ModelRegistry, OneStepVerifier};
use crate::config::{check_rpc_url, parse_private_key};
use crate::error::{contract_err, transport_err};
use crate::retry::{with_retry, RetryPolicy};
use crate::tx::FeePolicy;
use crate::{ChainConfig, ChainError, DeployParams, Deployment};
use alloy::network::EthereumWallet;
use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

pub(crate) type Registry = ModelRegistry::ModelRegistryInstance<DynProvider>;
pub(crate) type Oracle = InferenceOracle::InferenceOracleInstance<DynProvider>;
pub(crate) type Game = DisputeGame::DisputeGameInstance<DynProvider>;

/// A connection to a node and the protocol's contracts, with a sender.
#[derive(Clone)]
pub struct Chain {
    pub(crate) provider: DynProvider,
    pub(crate) sender: Address,
    pub(crate) deployment: Deployment,
    pub(crate) registry: Registry,
    pub(crate) oracle: Oracle,
    pub(crate) game: Game,
    pub(crate) retry: RetryPolicy,
    pub(crate) fees: FeePolicy,
    pub(crate) tx_timeout: Duration,
    /// Sends are serialised so that nonces come from the node one at a time.
    pub(crate) send_lock: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").field("sender", &self.sender).field("deployment", &self.deployment).finish()
    }
}

/// Installs the TLS crypto provider (ring) once, so `https://` and `wss://` RPC URLs
/// work; every connection made by this crate calls it.
pub fn init_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

async fn provider(rpc_url: &str, key: &str) -> Result<(DynProvider, Address), ChainError> {
    check_rpc_url(rpc_url)?;
    init_tls();
    let signer = parse_private_key(key)?;
    let sender = signer.address();
    let p = ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect(rpc_url).await.map_err(|e| transport_err("connect", e))?;
    Ok((p.erased(), sender))
}

impl Chain {
    /// Connects to `cfg.rpc_url` and checks that the node is on the deployment's
    /// chain and that the contracts exist.
    pub async fn connect(cfg: &ChainConfig) -> Result<Chain, ChainError> {
        let retry = RetryPolicy::default();
        let (provider, sender) = with_retry(retry, "connect", || async { provider(&cfg.rpc_url, &cfg.private_key).await }).await?;
        let mut chain = Chain::from_parts(provider, sender, cfg.deployment.clone(), retry);
        chain.fees = cfg.fees;
        let id = chain.read("eth_chainId", || async { chain.provider.get_chain_id().await }).await?;
        if id != cfg.deployment.chain_id {
            return Err(ChainError::WrongChain { expected: cfg.deployment.chain_id, actual: id });
        }
        for (what, a) in [("oracle", cfg.deployment.oracle), ("dispute game", cfg.deployment.game), ("registry", cfg.deployment.registry)] {
            let code = chain.read("eth_getCode", || async { chain.provider.get_code_at(a).await }).await?;
            if code.is_empty() {
                return Err(ChainError::NotDeployed { what, address: a.to_string() });
            }
        }
        chain.check_links().await?;
        Ok(chain)
    }

    /// Checks that the deployment's contracts are what the file says they are, by
    /// the links they hold to each other (the oracle's registry and game, the game's
    /// oracle and verifier): swapped or stale addresses are named.
    async fn check_links(&self) -> Result<(), ChainError> {
        let d = &self.deployment;
        let not_a = |role: &str, addr: Address, kind: &str, call: &str, e: ChainError| {
            ChainError::WrongDeployment(format!("the address given as the {role} ({addr}) does not hold {kind}: calling {call}() on it failed ({e})"))
        };
        let linked = |holder: &str, at: Address, link: &str, holds: Address, file: Address| {
            (holds != file).then(|| {
                ChainError::WrongDeployment(format!(
                    "the {holder} at {at} is linked to the {link} {holds}, but the deployment file names {file} (swapped or stale addresses?)"
                ))
            })
        };
        let reg = self
            .view("registry", || async { self.oracle.registry().call().await })
            .await
            .map_err(|e| not_a("oracle", d.oracle, "an InferenceOracle", "registry", e))?;
        let game = self
            .view("disputeGame", || async { self.oracle.disputeGame().call().await })
            .await
            .map_err(|e| not_a("oracle", d.oracle, "an InferenceOracle", "disputeGame", e))?;
        let oracle = self
            .view("oracle", || async { self.game.oracle().call().await })
            .await
            .map_err(|e| not_a("dispute game", d.game, "a DisputeGame", "oracle", e))?;
        let verifier = self
            .view("verifier", || async { self.game.verifier().call().await })
            .await
            .map_err(|e| not_a("dispute game", d.game, "a DisputeGame", "verifier", e))?;
        let problems = [
            linked("oracle", d.oracle, "registry", reg, d.registry),
            linked("oracle", d.oracle, "dispute game", game, d.game),
            linked("dispute game", d.game, "oracle", oracle, d.oracle),
            linked("dispute game", d.game, "verifier", verifier, d.verifier),
        ];
        match problems.into_iter().flatten().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn from_parts(provider: DynProvider, sender: Address, deployment: Deployment, retry: RetryPolicy) -> Chain {
        Chain {
            registry: ModelRegistry::new(deployment.registry, provider.clone()),
            oracle: InferenceOracle::new(deployment.oracle, provider.clone()),
            game: DisputeGame::new(deployment.game, provider.clone()),
            provider,
            sender,
            deployment,
            retry,
            fees: FeePolicy::default(),
            tx_timeout: Duration::from_secs(120),
            send_lock: Arc::new(Mutex::new(())),
        }
    }

    /// How this client prices transactions.
    pub fn fee_policy(&self) -> FeePolicy {
        self.fees
    }

    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    pub(crate) fn send_lock(&self) -> &Mutex<()> {
        &self.send_lock
    }

    pub(crate) fn tx_timeout(&self) -> Duration {
        self.tx_timeout
    }

    /// Deploys the registry, oracle, verifier and game with `params`, links them,
    /// and returns the deployment.
    pub async fn deploy(rpc_url: &str, key: &str, params: &DeployParams) -> Result<Deployment, ChainError> {
        // before anything is sent: a constructor that refuses a parameter would leave
        // the contracts deployed before it on chain, unlinked
        params.check().map_err(ChainError::BadParams)?;
        let (p, _) = provider(rpc_url, key).await?;
        fn err(c: &'static str) -> impl Fn(alloy::contract::Error) -> ChainError {
            move |e| contract_err(c, e)
        }
        let chain_id = p.get_chain_id().await.map_err(|e| transport_err("eth_chainId", e))?;
        let block = p.get_block_number().await.map_err(|e| transport_err("eth_blockNumber", e))?;
        let registry = ModelRegistry::deploy(p.clone()).await.map_err(err("deploy ModelRegistry"))?;
        let cfg = InferenceOracle::Config {
            challengeWindow: params.challenge_window,
            minStake: params.min_stake,
            minBond: params.min_bond,
            rewardBps: params.reward_bps,
            bondBurnBps: params.bond_burn_bps,
            requestTimeout: params.request_timeout,
            maxCallbackGas: params.max_callback_gas,
        };
        let oracle = InferenceOracle::deploy(p.clone(), *registry.address(), cfg).await.map_err(err("deploy InferenceOracle"))?;
        let verifier = OneStepVerifier::deploy(p.clone()).await.map_err(err("deploy OneStepVerifier"))?;
        let game = DisputeGame::deploy(p.clone(), *oracle.address(), *verifier.address(), params.arity_log2, params.clock_seconds)
            .await
            .map_err(err("deploy DisputeGame"))?;
        oracle
            .setDisputeGame(*game.address())
            .send()
            .await
            .map_err(err("setDisputeGame"))?
            .get_receipt()
            .await
            .map_err(|e| ChainError::NotMined(format!("setDisputeGame: {e}")))?;
        Ok(Deployment {
            chain_id,
            block,
            registry: *registry.address(),
            oracle: *oracle.address(),
            game: *game.address(),
            verifier: *verifier.address(),
        })
    }

    /// The sender's address.
    pub fn sender(&self) -> Address {
        self.sender
    }

    /// The deployment.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The provider, for what this client does not wrap.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Runs a read with retries.
    pub(crate) async fn read<T, F, Fut>(&self, what: &str, f: F) -> Result<T, ChainError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, alloy::transports::TransportError>>,
    {
        with_retry(self.retry, what, || async { f().await.map_err(|e| transport_err(what, e)) }).await
    }

    /// Runs a contract view with retries.
    pub(crate) async fn view<T, F, Fut>(&self, what: &str, f: F) -> Result<T, ChainError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, alloy::contract::Error>>,
    {
        with_retry(self.retry, what, || async { f().await.map_err(|e| contract_err(what, e)) }).await
    }

    /// How many of the sender's transactions the node holds unmined (pending nonce
    /// minus latest nonce). A service waits for zero at start, so that what it
    /// sent before a crash has landed (or been dropped) before it reads the chain
    /// to decide what to send again.
    pub async fn in_flight(&self) -> Result<u64, ChainError> {
        let pending = self.read("eth_getTransactionCount", || async { self.provider.get_transaction_count(self.sender).pending().await }).await?;
        let latest = self.read("eth_getTransactionCount", || async { self.provider.get_transaction_count(self.sender).latest().await }).await?;
        Ok(pending.saturating_sub(latest))
    }
}
