//! The typed client: connect, deploy, and every call the services and the CLI make,
//! in refute's own types.

use crate::bindings::{DigitConsumer, DisputeGame, InferenceOracle, ModelRegistry, OneStepVerifier};
use crate::retry::{with_retry, RetryPolicy};
use crate::tx::{FeePolicy, Mined, SentTx};
use crate::ChainError;
use alloy::network::EthereumWallet;
use alloy::primitives::{Address, Bytes, FixedBytes, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, Log};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use refute_core::commit::ChunkRange;
use refute_core::hash::Hash;
use refute_core::Model;
use refute_game::{Move, Operands, Phase, Position, Revealed, Side, Status, TraceData};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Where the protocol is deployed: written by `refute deploy`, read by the services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Chain id.
    pub chain_id: u64,
    /// Block of the deployment (scanners start here).
    pub block: u64,
    /// ModelRegistry address.
    pub registry: Address,
    /// InferenceOracle address.
    pub oracle: Address,
    /// DisputeGame address.
    pub game: Address,
    /// OneStepVerifier address.
    pub verifier: Address,
}

impl Deployment {
    /// Reads a deployment file.
    pub fn load(path: &Path) -> Result<Deployment, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: not a deployment file: {e}", path.display()))
    }

    /// Writes a deployment file.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self).expect("serialisable") + "\n")
    }
}

/// How to reach the chain.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// JSON-RPC URL.
    pub rpc_url: String,
    /// Hex private key of the sender.
    pub private_key: String,
    /// The contracts.
    pub deployment: Deployment,
    /// How transactions are priced.
    pub fees: FeePolicy,
}

/// Protocol parameters of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployParams {
    /// Seconds after a post during which games may be opened.
    pub challenge_window: u64,
    /// Least stake, wei.
    pub min_stake: U256,
    /// Least bond, wei.
    pub min_bond: U256,
    /// Challenger's share of a slashed stake, basis points.
    pub reward_bps: u16,
    /// Burned share of a losing challenger's bond, basis points.
    pub bond_burn_bps: u16,
    /// Seconds a request waits to be served.
    pub request_timeout: u64,
    /// Most callback gas a requester may ask for.
    pub max_callback_gas: u64,
    /// Levels one reveal opens.
    pub arity_log2: u32,
    /// Each side's clock, seconds.
    pub clock_seconds: u64,
}

impl Default for DeployParams {
    fn default() -> Self {
        DeployParams {
            challenge_window: 3600,
            min_stake: U256::from(10u64).pow(U256::from(18u64)),
            min_bond: U256::from(10u64).pow(U256::from(17u64)),
            reward_bps: 5000,
            bond_burn_bps: 2000,
            request_timeout: 3600,
            max_callback_gas: 500_000,
            arity_log2: 1,
            clock_seconds: 1800,
        }
    }
}

/// Status of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestStatus {
    /// No such request.
    None,
    /// Waiting for a result.
    Open,
    /// A result is pending.
    Posted,
    /// Final.
    Finalized,
    /// Fee returned.
    Refunded,
}

/// Status of a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResultStatus {
    /// No such result.
    None,
    /// In its window or in games.
    Pending,
    /// Final.
    Finalized,
    /// Rejected by a game.
    Rejected,
}

/// A request as the oracle holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// Requester.
    pub requester: Address,
    /// Model id.
    pub model_id: Hash,
    /// Fee, wei.
    pub fee: U256,
    /// Commitment of the input.
    pub input_commitment: Hash,
    /// Serve deadline (timestamp).
    pub deadline: u64,
    /// Status.
    pub status: RequestStatus,
    /// The pending or final result, if any.
    pub result_id: u64,
}

/// A posted result as the oracle holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultInfo {
    /// Its request.
    pub request_id: u64,
    /// Who posted it.
    pub executor: Address,
    /// Stake, wei.
    pub stake: U256,
    /// Posted trace root.
    pub trace_root: Hash,
    /// Timestamp of the post.
    pub posted_at: u64,
    /// End of the challenge window.
    pub window_end: u64,
    /// Games still open.
    pub open_games: u32,
    /// Status.
    pub status: ResultStatus,
    /// Output bytes.
    pub output: Vec<u8>,
}

/// A game: its parties and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameInfo {
    /// Game id.
    pub id: u64,
    /// The disputed result.
    pub result_id: u64,
    /// The challenger.
    pub challenger: Address,
    /// The executor.
    pub executor: Address,
    /// The bond, wei.
    pub bond: U256,
    /// The position.
    pub position: Position,
    /// Trace root in dispute.
    pub trace_root: Hash,
    /// Model step count.
    pub step_count: u32,
}

/// An event the services follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request for inference.
    Requested {
        /// Request id.
        request_id: u64,
        /// Model id.
        model_id: Hash,
        /// Requester.
        requester: Address,
        /// Fee.
        fee: U256,
        /// Deadline.
        deadline: u64,
        /// Input bytes.
        input: Vec<u8>,
        /// Block.
        block: u64,
    },
    /// A posted result.
    Posted {
        /// Result id.
        result_id: u64,
        /// Request id.
        request_id: u64,
        /// Executor.
        executor: Address,
        /// Trace root.
        trace_root: Hash,
        /// Output bytes.
        output: Vec<u8>,
        /// Block.
        block: u64,
    },
    /// A result became final.
    Finalized {
        /// Result id.
        result_id: u64,
    },
    /// A result was rejected.
    Rejected {
        /// Result id.
        result_id: u64,
        /// The request, open again.
        request_id: u64,
    },
    /// A game was opened.
    GameOpened {
        /// Game id.
        game_id: u64,
        /// Result id.
        result_id: u64,
        /// Challenger.
        challenger: Address,
        /// Executor.
        executor: Address,
        /// Block.
        block: u64,
    },
    /// A game ended.
    GameResolved {
        /// Game id.
        game_id: u64,
        /// How it ended.
        status: Status,
    },
}

/// A block's number, hash and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Number.
    pub number: u64,
    /// Hash.
    pub hash: Hash,
    /// Timestamp.
    pub timestamp: u64,
}

/// A mined transaction, as [`Chain::transactions`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinedTx {
    /// Block number.
    pub block: u64,
    /// Sender.
    pub from: Address,
    /// Target (None for a contract creation).
    pub to: Option<Address>,
    /// The protocol function called (`post`, `challenge`, `revealNodes`, ...), when
    /// the target is one of the deployment's contracts.
    pub call: Option<&'static str>,
    /// Gas used.
    pub gas_used: u64,
    /// Whether it succeeded.
    pub success: bool,
}

/// Checks an RPC URL without connecting.
pub fn check_rpc_url(url: &str) -> Result<(), ChainError> {
    let bad = |reason: &str| ChainError::InvalidUrl { url: url.to_string(), reason: reason.to_string() };
    let parsed = url.parse::<reqwest::Url>().map_err(|e| bad(&e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" | "ws" | "wss" => {}
        other => return Err(bad(&format!("scheme `{other}` is not http, https, ws or wss"))),
    }
    if parsed.host_str().is_none() {
        return Err(bad("no host"));
    }
    Ok(())
}

/// Parses a hex private key (with or without `0x`).
pub fn parse_private_key(key: &str) -> Result<PrivateKeySigner, ChainError> {
    key.trim().parse::<PrivateKeySigner>().map_err(|_| {
        ChainError::InvalidKey("expected 32 bytes of hex (64 hex digits, optionally with 0x)".to_string())
    })
}

/// The gas limit sent for a transaction estimated at `estimate`: a quarter more
/// plus 25,000 (enough for the storage writes that timing alone can add).
pub fn with_gas_margin(estimate: u64) -> u64 {
    estimate.saturating_add(estimate / 4).saturating_add(25_000)
}

/// Parses an amount: wei, or a decimal with `ether`/`eth`/`gwei` (e.g. `0.5ether`).
pub fn parse_amount(s: &str) -> Result<U256, String> {
    let t = s.trim().to_ascii_lowercase().replace(' ', "");
    let (num, decimals) = if let Some(n) = t.strip_suffix("ether").or_else(|| t.strip_suffix("eth")) {
        (n.to_string(), 18)
    } else if let Some(n) = t.strip_suffix("gwei") {
        (n.to_string(), 9)
    } else if let Some(n) = t.strip_suffix("wei") {
        (n.to_string(), 0)
    } else {
        (t.clone(), 0)
    };
    alloy::primitives::utils::parse_units(&num, decimals as u8)
        .map(|v| v.get_absolute())
        .map_err(|e| format!("`{s}` is not an amount (wei, or e.g. `0.5ether`, `20gwei`): {e}"))
}

fn hash(b: B256) -> Hash {
    b.0
}

fn side_of(x: u8) -> Side {
    if x == 0 { Side::Executor } else { Side::Challenger }
}

fn phase_of(x: u8) -> Phase {
    Phase::from_code(x).unwrap_or(Phase::Resolved)
}

fn status_of(x: u8) -> Status {
    match x {
        0 => Status::Open,
        1 => Status::ExecutorWon,
        2 => Status::ChallengerWon,
        _ => Status::Moot,
    }
}

fn u64_of(v: U256) -> u64 {
    v.try_into().unwrap_or(u64::MAX)
}

/// Turns an alloy contract error into a [`ChainError`], decoding custom errors of
/// any of the protocol's contracts (a revert may come from a nested call).
pub(crate) fn contract_err(call: &str, e: alloy::contract::Error) -> ChainError {
    if let Some(d) = e.as_decoded_interface_error::<DisputeGame::DisputeGameErrors>() {
        return ChainError::Reverted { call: call.into(), reason: format!("{d:?}") };
    }
    if let Some(d) = e.as_decoded_interface_error::<InferenceOracle::InferenceOracleErrors>() {
        return ChainError::Reverted { call: call.into(), reason: format!("{d:?}") };
    }
    if let Some(d) = e.as_decoded_interface_error::<ModelRegistry::ModelRegistryErrors>() {
        return ChainError::Reverted { call: call.into(), reason: format!("{d:?}") };
    }
    if let Some(d) = e.as_decoded_interface_error::<OneStepVerifier::OneStepVerifierErrors>() {
        return ChainError::Reverted { call: call.into(), reason: format!("{d:?}") };
    }
    if let Some(data) = e.as_revert_data() {
        return ChainError::Reverted { call: call.into(), reason: format!("revert data {data}") };
    }
    match e {
        alloy::contract::Error::TransportError(t) => transport_err(call, t),
        alloy::contract::Error::PendingTransactionError(p) => ChainError::NotMined(format!("{call}: {p}")),
        alloy::contract::Error::ZeroData(f, _) => {
            ChainError::Decode(format!("{call}: `{f}` returned no data (is there a contract at that address?)"))
        }
        other => ChainError::Decode(format!("{call}: {other}")),
    }
}

pub(crate) fn transport_err(what: &str, e: alloy::transports::TransportError) -> ChainError {
    use alloy::transports::RpcError;
    match &e {
        RpcError::Transport(kind) => ChainError::Unavailable(format!("{what}: {kind}")),
        RpcError::ErrorResp(payload) => {
            let msg = payload.message.to_string();
            if msg.contains("revert") {
                ChainError::Reverted { call: what.into(), reason: msg }
            } else if msg.contains("nonce too low") || msg.contains("replacement transaction underpriced") {
                // another sender used the nonce first; trying again picks a new one
                ChainError::Unavailable(format!("{what}: {msg}"))
            } else {
                ChainError::Rpc(format!("{what}: {msg}"))
            }
        }
        _ => ChainError::Unavailable(format!("{what}: {e}")),
    }
}

type Registry = ModelRegistry::ModelRegistryInstance<DynProvider>;
type Oracle = InferenceOracle::InferenceOracleInstance<DynProvider>;
type Game = DisputeGame::DisputeGameInstance<DynProvider>;

/// A connection to a node and the protocol's contracts, with a sender.
#[derive(Clone)]
pub struct Chain {
    provider: DynProvider,
    sender: Address,
    deployment: Deployment,
    registry: Registry,
    oracle: Oracle,
    game: Game,
    retry: RetryPolicy,
    fees: FeePolicy,
    tx_timeout: Duration,
    /// Sends are serialised so that nonces come from the node one at a time.
    send_lock: Arc<Mutex<()>>,
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
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect(rpc_url)
        .await
        .map_err(|e| transport_err("connect", e))?;
    Ok((p.erased(), sender))
}

impl Chain {
    /// Connects to `cfg.rpc_url` and checks that the node is on the deployment's
    /// chain and that the contracts exist.
    pub async fn connect(cfg: &ChainConfig) -> Result<Chain, ChainError> {
        let retry = RetryPolicy::default();
        let (provider, sender) =
            with_retry(retry, "connect", || async { provider(&cfg.rpc_url, &cfg.private_key).await }).await?;
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
        let reg = self.view("registry", || async { self.oracle.registry().call().await }).await.map_err(|e| not_a("oracle", d.oracle, "an InferenceOracle", "registry", e))?;
        let game = self.view("disputeGame", || async { self.oracle.disputeGame().call().await }).await.map_err(|e| not_a("oracle", d.oracle, "an InferenceOracle", "disputeGame", e))?;
        let oracle = self.view("oracle", || async { self.game.oracle().call().await }).await.map_err(|e| not_a("dispute game", d.game, "a DisputeGame", "oracle", e))?;
        let verifier = self.view("verifier", || async { self.game.verifier().call().await }).await.map_err(|e| not_a("dispute game", d.game, "a DisputeGame", "verifier", e))?;
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
    async fn view<T, F, Fut>(&self, what: &str, f: F) -> Result<T, ChainError>
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

    // ------------------------------------------------------------------ blocks

    /// The latest block number.
    pub async fn head(&self) -> Result<u64, ChainError> {
        self.read("eth_blockNumber", || async { self.provider.get_block_number().await }).await
    }

    /// A block's hash and timestamp.
    pub async fn block(&self, number: u64) -> Result<BlockInfo, ChainError> {
        let b = self
            .read("eth_getBlockByNumber", || async { self.provider.get_block_by_number(number.into()).await })
            .await?
            .ok_or_else(|| ChainError::Unavailable(format!("block {number} is not known to the node yet")))?;
        Ok(BlockInfo { number, hash: b.header.hash.0, timestamp: b.header.timestamp })
    }

    /// Every transaction mined in blocks `from..=to`: sender, target, the name of the
    /// protocol function called, and gas used. The demo and the reports use it to
    /// account gas per party and to count moves.
    pub async fn transactions(&self, from: u64, to: u64) -> Result<Vec<MinedTx>, ChainError> {
        use alloy::consensus::Transaction as _;
        use alloy::network::{ReceiptResponse as _, TransactionResponse as _};
        let mut out = Vec::new();
        for n in from..=to {
            let block = self
                .read("eth_getBlockByNumber", || async { self.provider.get_block_by_number(n.into()).full().await })
                .await?
                .ok_or_else(|| ChainError::Unavailable(format!("block {n} is not known to the node yet")))?;
            let receipts = self
                .read("eth_getBlockReceipts", || async { self.provider.get_block_receipts(n.into()).await })
                .await?
                .unwrap_or_default();
            let inputs: std::collections::HashMap<B256, Bytes> =
                block.transactions.txns().map(|t| (t.tx_hash(), t.input().clone())).collect();
            for r in receipts {
                let selector = inputs.get(&r.transaction_hash()).and_then(|i| i.get(..4)).map(|s| [s[0], s[1], s[2], s[3]]);
                let call = match (r.to(), selector) {
                    (Some(to), Some(sel)) => self.call_name(to, sel),
                    _ => None,
                };
                out.push(MinedTx { block: n, from: r.from(), to: r.to(), call, gas_used: r.gas_used(), success: r.status() });
            }
        }
        Ok(out)
    }

    /// The name of the protocol function `selector` calls on contract `to`, if `to`
    /// is one of the deployment's contracts.
    fn call_name(&self, to: Address, selector: [u8; 4]) -> Option<&'static str> {
        let d = &self.deployment;
        if to == d.game {
            DisputeGame::DisputeGameCalls::name_by_selector(selector)
        } else if to == d.oracle {
            InferenceOracle::InferenceOracleCalls::name_by_selector(selector)
        } else if to == d.registry {
            ModelRegistry::ModelRegistryCalls::name_by_selector(selector)
        } else {
            None
        }
    }

    /// The protocol's clock: the timestamp the next block would have, as the node's
    /// pending block says (the latest block's where the node has no pending block).
    /// On a chain that mines only when a transaction comes (a devnet's instant
    /// mining), the latest block can be minutes old while the next one is stamped
    /// now; windows and clocks must be judged by the block a transaction would land
    /// in.
    pub async fn now(&self) -> Result<u64, ChainError> {
        let block = |tag: alloy::eips::BlockNumberOrTag| async move {
            self.read("eth_getBlockByNumber", || async { self.provider.get_block_by_number(tag).await }).await
        };
        let latest = block(alloy::eips::BlockNumberOrTag::Latest).await?.ok_or_else(|| ChainError::Unavailable("no latest block".into()))?;
        // a node without a pending block answers null or an error: the latest then
        let pending = block(alloy::eips::BlockNumberOrTag::Pending).await.ok().flatten().map(|b| b.header.timestamp);
        Ok(latest.header.timestamp.max(pending.unwrap_or(0)))
    }

    /// The balance of `who` on the chain (not in the oracle).
    pub async fn eth_balance(&self, who: Address) -> Result<U256, ChainError> {
        self.read("eth_getBalance", || async { self.provider.get_balance(who).await }).await
    }

    // ---------------------------------------------------------------- registry

    /// Registers `model` (idempotent: an already registered model is fine).
    pub async fn register_model(&self, model: &Model, uri: &str) -> Result<Hash, ChainError> {
        let id = model.id();
        if self.is_registered(&id).await? {
            return Ok(id);
        }
        let n = model.step_count();
        let tree = model.spec_tree();
        let proof = |i: usize| tree.prove(&[i]).expect("a step").into_iter().map(B256::from).collect::<Vec<_>>();
        let first = Bytes::from(model.steps()[0].spec.encode());
        let last = Bytes::from(model.steps()[n - 1].spec.encode());
        self.send_mined("register", || {
            self.registry.register(
                n as u32,
                B256::from(model.spec_root()),
                first.clone(),
                proof(0),
                last.clone(),
                proof(n - 1),
                uri.to_string(),
            )
        })
        .await?;
        Ok(id)
    }

    /// Whether a model id is registered.
    pub async fn is_registered(&self, id: &Hash) -> Result<bool, ChainError> {
        self.view("isRegistered", || async { self.registry.isRegistered(B256::from(*id)).call().await }).await
    }

    // ------------------------------------------------------------------ oracle

    /// The oracle's parameters.
    pub async fn oracle_config(&self) -> Result<InferenceOracle::Config, ChainError> {
        self.view("config", || async { self.oracle.config().call().await }).await
    }

    /// Requests inference; returns the request id.
    pub async fn request(&self, model_id: &Hash, input: &[u8], fee: U256, callback: Address, callback_gas: u64) -> Result<u64, ChainError> {
        let input = Bytes::copy_from_slice(input);
        let mined = self
            .send_mined("request", || {
                self.oracle.request(B256::from(*model_id), input.clone(), callback, callback_gas).value(fee)
            })
            .await?;
        self.request_id_in_block(mined.block).await
    }

    async fn request_id_in_block(&self, block: u64) -> Result<u64, ChainError> {
        let logs = self.logs(self.deployment.oracle, InferenceOracle::Requested::SIGNATURE_HASH, block, block).await?;
        logs.iter()
            .rev()
            .find_map(|l| l.log_decode::<InferenceOracle::Requested>().ok())
            .map(|e| u64_of(e.inner.data.requestId))
            .ok_or_else(|| ChainError::Decode("no Requested event in the request's block".into()))
    }

    /// Posts the result of `request_id` from `trace` with `stake`; returns the result id.
    pub async fn post(&self, request_id: u64, trace: &TraceData, stake: U256) -> Result<u64, ChainError> {
        let n = trace.len();
        let tree = trace.tree();
        let proof = |i: usize| tree.prove(&[i]).expect("a leaf").into_iter().map(B256::from).collect::<Vec<_>>();
        let output = Bytes::copy_from_slice(trace.step(n - 1).bytes());
        let mined = self
            .send_mined("post", || {
                self.oracle
                    .post(U256::from(request_id), output.clone(), B256::from(trace.root()), n as u32, proof(0), proof(n - 1))
                    .value(stake)
            })
            .await?;
        let logs = self.logs(self.deployment.oracle, InferenceOracle::Posted::SIGNATURE_HASH, mined.block, mined.block).await?;
        logs.iter()
            .filter_map(|l| l.log_decode::<InferenceOracle::Posted>().ok())
            .find(|e| u64_of(e.inner.data.requestId) == request_id)
            .map(|e| u64_of(e.inner.data.resultId))
            .ok_or_else(|| ChainError::Decode("no Posted event in the post's block".into()))
    }

    /// A request.
    pub async fn get_request(&self, id: u64) -> Result<RequestInfo, ChainError> {
        let r = self.view("getRequest", || async { self.oracle.getRequest(U256::from(id)).call().await }).await?;
        Ok(RequestInfo {
            requester: r.requester,
            model_id: hash(r.modelId),
            fee: r.fee,
            input_commitment: hash(r.inputCommitment),
            deadline: r.deadline,
            status: match r.status {
                1 => RequestStatus::Open,
                2 => RequestStatus::Posted,
                3 => RequestStatus::Finalized,
                4 => RequestStatus::Refunded,
                _ => RequestStatus::None,
            },
            result_id: u64_of(r.resultId),
        })
    }

    /// A result.
    pub async fn get_result(&self, id: u64) -> Result<ResultInfo, ChainError> {
        let r = self.view("getResult", || async { self.oracle.getResult(U256::from(id)).call().await }).await?;
        Ok(ResultInfo {
            request_id: u64_of(r.requestId),
            executor: r.executor,
            stake: r.stake,
            trace_root: hash(r.traceRoot),
            posted_at: r.postedAt,
            window_end: r.windowEnd,
            open_games: r.openGames,
            status: match r.status {
                1 => ResultStatus::Pending,
                2 => ResultStatus::Finalized,
                3 => ResultStatus::Rejected,
                _ => ResultStatus::None,
            },
            output: r.output.to_vec(),
        })
    }

    /// Finalizes a result.
    pub async fn finalize(&self, result_id: u64) -> Result<Mined, ChainError> {
        self.send_mined("finalize", || self.oracle.finalize(U256::from(result_id))).await
    }

    /// Refunds an unserved request.
    pub async fn refund(&self, request_id: u64) -> Result<Mined, ChainError> {
        self.send_mined("refund", || self.oracle.refund(U256::from(request_id))).await
    }

    /// What the oracle has credited to `who`.
    pub async fn credited(&self, who: Address) -> Result<U256, ChainError> {
        self.view("balanceOf", || async { self.oracle.balanceOf(who).call().await }).await
    }

    /// Withdraws everything credited to the sender; returns the amount (0 if none).
    pub async fn withdraw(&self) -> Result<U256, ChainError> {
        let amount = self.credited(self.sender).await?;
        if amount.is_zero() {
            return Ok(amount);
        }
        self.send_mined("withdraw", || self.oracle.withdraw()).await?;
        Ok(amount)
    }

    // -------------------------------------------------------------------- game

    /// The game contract's arity (levels per reveal) and clock.
    pub async fn game_params(&self) -> Result<(u32, u64), ChainError> {
        let a = self.view("arityLog2", || async { self.game.arityLog2().call().await }).await?;
        let c = self.view("clockSeconds", || async { self.game.clockSeconds().call().await }).await?;
        Ok((a, c))
    }

    /// Opens a game on a result with `bond`; returns the game id.
    pub async fn challenge(&self, result_id: u64, bond: U256) -> Result<u64, ChainError> {
        let mined = self.send_mined("challenge", || self.game.challenge(U256::from(result_id)).value(bond)).await?;
        let logs = self.logs(self.deployment.game, DisputeGame::GameOpened::SIGNATURE_HASH, mined.block, mined.block).await?;
        logs.iter()
            .filter_map(|l| l.log_decode::<DisputeGame::GameOpened>().ok())
            .find(|e| u64_of(e.inner.data.resultId) == result_id && e.inner.data.challenger == self.sender)
            .map(|e| u64_of(e.inner.data.gameId))
            .ok_or_else(|| ChainError::Decode("no GameOpened event in the challenge's block".into()))
    }

    /// The games opened on a result.
    pub async fn games_of(&self, result_id: u64) -> Result<Vec<u64>, ChainError> {
        let v = self.view("gamesOf", || async { self.game.gamesOf(U256::from(result_id)).call().await }).await?;
        Ok(v.into_iter().map(u64_of).collect())
    }

    /// A game and its position.
    pub async fn game(&self, id: u64) -> Result<GameInfo, ChainError> {
        let g = self.view("getGame", || async { self.game.getGame(U256::from(id)).call().await }).await?;
        if g.executor == Address::ZERO {
            return Err(ChainError::Decode(format!("no game {id}")));
        }
        Ok(GameInfo {
            id,
            result_id: u64_of(g.resultId),
            challenger: g.challenger,
            executor: g.executor,
            bond: g.bond,
            trace_root: hash(g.traceRoot),
            step_count: g.stepCount,
            position: Position {
                phase: phase_of(g.phase),
                turn: side_of(g.turn),
                status: status_of(g.status),
                node: hash(g.node),
                height: g.height,
                index: g.index,
                step_index: g.stepIndex,
                spec_hash: hash(g.specHash),
                byte_len: g.byteLen,
                element: g.element,
                claimed: g.claimed,
                blocks: g.blocks,
                checkpoint_root: hash(g.checkpointRoot),
                executor_clock: g.executorClock,
                challenger_clock: g.challengerClock,
                last_move_at: g.lastMoveAt,
            },
        })
    }

    /// Sends a move (returns once the node accepted it; follow it with
    /// [`Chain::tx_status`]). `replacing` is a stuck move of this game to re-price:
    /// the new one takes its nonce with bumped fees.
    pub async fn send_move(&self, game_id: u64, mv: &Move, replacing: Option<&SentTx>) -> Result<SentTx, ChainError> {
        let g = U256::from(game_id);
        let b32 = |v: &[Hash]| v.iter().map(|h| B256::from(*h)).collect::<Vec<_>>();
        match mv {
            Move::RevealNodes(nodes) => self.send("revealNodes", replacing, || self.game.revealNodes(g, b32(nodes))).await,
            Move::Pick { nodes, choice } => self.send("pick", replacing, || self.game.pick(g, b32(nodes), U256::from(*choice))).await,
            Move::OpenHeader { header, spec, spec_proof } => {
                self.send("openHeader", replacing, || {
                    self.game.openHeader(
                        g,
                        header.ty.dtype.code(),
                        header.ty.shape.clone(),
                        B256::from(header.data_root),
                        Bytes::copy_from_slice(spec),
                        b32(spec_proof),
                    )
                })
                .await
            }
            Move::RevealChunk(chunk) => self.send("revealChunk", replacing, || self.game.revealChunk(g, Bytes::copy_from_slice(&chunk[..]))).await,
            Move::ProveStep(p) => {
                let ops = operands(&p.operands);
                self.send("proveStep", replacing, || {
                    self.game.proveStep(g, U256::from(p.element_in_chunk), Bytes::copy_from_slice(&p.chunk), ops.clone())
                })
                .await
            }
            Move::NameElement { element_in_chunk, chunk, spec } => {
                self.send("nameElement", replacing, || {
                    self.game.nameElement(g, U256::from(*element_in_chunk), Bytes::copy_from_slice(&chunk[..]), Bytes::copy_from_slice(spec))
                })
                .await
            }
            Move::OpenCheckpoints { root, last_proof } => {
                self.send("openCheckpoints", replacing, || self.game.openCheckpoints(g, B256::from(*root), b32(last_proof))).await
            }
            Move::ProveBlock(p) => {
                let ops = operands(&p.operands);
                self.send("proveBlock", replacing, || {
                    self.game.proveBlock(g, Bytes::copy_from_slice(&p.prev_state), b32(&p.prev_proof), ops.clone())
                })
                .await
            }
            Move::Timeout => self.send("timeout", replacing, || self.game.timeout(g)).await,
        }
    }

    /// Ends a game on a result that another game rejected.
    pub async fn settle_moot(&self, game_id: u64) -> Result<Mined, ChainError> {
        self.send_mined("settleMoot", || self.game.settleMoot(U256::from(game_id))).await
    }

    /// What the executor has revealed in a game, from its events since `from_block`.
    pub async fn revealed(&self, game_id: u64, arity_log2: u32, from_block: u64) -> Result<Revealed, ChainError> {
        let head = self.head().await?;
        let topic = B256::from(U256::from(game_id));
        let filter = Filter::new()
            .address(self.deployment.game)
            .event_signature(vec![DisputeGame::NodesRevealed::SIGNATURE_HASH, DisputeGame::ChunkRevealed::SIGNATURE_HASH])
            .topic1(topic)
            .from_block(from_block)
            .to_block(head);
        let logs = self.read("eth_getLogs", || async { self.provider.get_logs(&filter).await }).await?;
        let mut r = Revealed::default();
        for l in &logs {
            if let Ok(e) = l.log_decode::<DisputeGame::NodesRevealed>() {
                let d = e.inner.data;
                let nodes: Vec<Hash> = d.nodes.iter().map(|h| h.0).collect();
                r.record(phase_of(d.phase), arity_log2, d.height, d.index, &nodes);
            } else if let Ok(e) = l.log_decode::<DisputeGame::ChunkRevealed>() {
                let c = &e.inner.data.chunk;
                if c.len() == refute_core::CHUNK_SIZE {
                    let mut chunk = [0u8; refute_core::CHUNK_SIZE];
                    chunk.copy_from_slice(c);
                    r.chunk = Some(chunk);
                }
            }
        }
        Ok(r)
    }

    // ---------------------------------------------------------------- events

    async fn logs(&self, address: Address, sig: B256, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        let filter = Filter::new().address(address).event_signature(sig).from_block(from).to_block(to);
        self.read("eth_getLogs", || async { self.provider.get_logs(&filter).await }).await
    }

    /// The events the services follow, in blocks `from..=to`, in chain order.
    pub async fn events(&self, from: u64, to: u64) -> Result<Vec<Event>, ChainError> {
        let filter = Filter::new()
            .address(vec![self.deployment.oracle, self.deployment.game])
            .event_signature(vec![
                InferenceOracle::Requested::SIGNATURE_HASH,
                InferenceOracle::Posted::SIGNATURE_HASH,
                InferenceOracle::Finalized::SIGNATURE_HASH,
                InferenceOracle::Rejected::SIGNATURE_HASH,
                DisputeGame::GameOpened::SIGNATURE_HASH,
                DisputeGame::GameResolved::SIGNATURE_HASH,
            ])
            .from_block(from)
            .to_block(to);
        let logs = self.read("eth_getLogs", || async { self.provider.get_logs(&filter).await }).await?;
        let mut out = Vec::with_capacity(logs.len());
        for l in &logs {
            let block = l.block_number.unwrap_or_default();
            let topic0 = l.topic0().copied().unwrap_or_default();
            let bad = |e: alloy::sol_types::Error| ChainError::Decode(format!("event in block {block}: {e}"));
            let ev = if topic0 == InferenceOracle::Requested::SIGNATURE_HASH {
                let d = l.log_decode::<InferenceOracle::Requested>().map_err(bad)?.inner.data;
                Event::Requested {
                    request_id: u64_of(d.requestId),
                    model_id: d.modelId.0,
                    requester: d.requester,
                    fee: d.fee,
                    deadline: d.deadline,
                    input: d.input.to_vec(),
                    block,
                }
            } else if topic0 == InferenceOracle::Posted::SIGNATURE_HASH {
                let d = l.log_decode::<InferenceOracle::Posted>().map_err(bad)?.inner.data;
                Event::Posted {
                    result_id: u64_of(d.resultId),
                    request_id: u64_of(d.requestId),
                    executor: d.executor,
                    trace_root: d.traceRoot.0,
                    output: d.output.to_vec(),
                    block,
                }
            } else if topic0 == InferenceOracle::Finalized::SIGNATURE_HASH {
                let d = l.log_decode::<InferenceOracle::Finalized>().map_err(bad)?.inner.data;
                Event::Finalized { result_id: u64_of(d.resultId) }
            } else if topic0 == InferenceOracle::Rejected::SIGNATURE_HASH {
                let d = l.log_decode::<InferenceOracle::Rejected>().map_err(bad)?.inner.data;
                Event::Rejected { result_id: u64_of(d.resultId), request_id: u64_of(d.requestId) }
            } else if topic0 == DisputeGame::GameOpened::SIGNATURE_HASH {
                let d = l.log_decode::<DisputeGame::GameOpened>().map_err(bad)?.inner.data;
                Event::GameOpened {
                    game_id: u64_of(d.gameId),
                    result_id: u64_of(d.resultId),
                    challenger: d.challenger,
                    executor: d.executor,
                    block,
                }
            } else if topic0 == DisputeGame::GameResolved::SIGNATURE_HASH {
                let d = l.log_decode::<DisputeGame::GameResolved>().map_err(bad)?.inner.data;
                Event::GameResolved { game_id: u64_of(d.gameId), status: status_of(d.status) }
            } else {
                continue;
            };
            out.push(ev);
        }
        Ok(out)
    }

    // --------------------------------------------------------------- example

    /// Deploys the example integrator contract for `model_id`.
    pub async fn deploy_consumer(&self, model_id: &Hash) -> Result<Address, ChainError> {
        let c = DigitConsumer::deploy(self.provider.clone(), self.deployment.oracle, B256::from(*model_id))
            .await
            .map_err(|e| contract_err("deploy DigitConsumer", e))?;
        Ok(*c.address())
    }

    /// Asks the integrator contract at `consumer` to classify `input`, paying `fee`;
    /// returns the request id.
    pub async fn consumer_ask(&self, consumer: Address, input: &[u8], fee: U256) -> Result<u64, ChainError> {
        let c = DigitConsumer::new(consumer, self.provider.clone());
        let input = Bytes::copy_from_slice(input);
        let mined = self.send_mined("ask", || c.ask(input.clone()).value(fee)).await?;
        self.request_id_in_block(mined.block).await
    }

    /// The answer the integrator contract received for a request, if any.
    pub async fn consumer_answer(&self, consumer: Address, request_id: u64) -> Result<Option<Vec<u8>>, ChainError> {
        let c = DigitConsumer::new(consumer, self.provider.clone());
        let answered = self.view("answered", || async { c.answered(U256::from(request_id)).call().await }).await?;
        if !answered {
            return Ok(None);
        }
        let a = self.view("answers", || async { c.answers(U256::from(request_id)).call().await }).await?;
        Ok(Some(a.to_vec()))
    }
}

/// The operands of a one-step proof as the contract takes them.
fn operands(o: &Operands) -> DisputeGame::StepOperands {
    let b32 = |v: &[Hash]| v.iter().map(|h| B256::from(*h)).collect::<Vec<_>>();
    let range = |r: &ChunkRange| DisputeGame::ChunkRange { first: U256::from(r.first), chunks: Bytes::from(r.chunk_bytes()), proof: b32(&r.proof) };
    DisputeGame::StepOperands {
        spec: Bytes::copy_from_slice(&o.spec),
        inputRoots: b32(&o.input_roots),
        inputTraceProofs: o.input_trace_proofs.iter().map(|x| b32(x)).collect(),
        inputs: o.inputs.iter().map(range).collect(),
        weights: o.weights.iter().map(range).collect(),
    }
}

/// A fixed-size hash as alloy's type (for callers that build filters themselves).
pub fn b256(h: &Hash) -> FixedBytes<32> {
    B256::from(*h)
}
