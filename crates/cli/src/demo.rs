//! `refute demo`: the whole story in one command.
//!
//! 1. **Exactness**: every fixture model runs on the engine with 1 and 2 threads;
//!    the trace roots must be identical.
//! 2. **The protocol**: a fresh devnet (anvil, one block a second), the contracts
//!    deployed with short windows and clocks, the fixture models registered, and
//!    real executor and challenger services (each with its own account and RocksDB
//!    state) running in this process. Four scenarios play at once, each with its own
//!    accounts so that gas is accounted per party:
//!    - `honest`: an executor serves an integrator contract's request; the result
//!      finalizes unchallenged and the contract receives its callback;
//!    - `cheat-output`: an executor posts a wrong class; the watchtower disputes it
//!      down to the last step and the executor is slashed;
//!    - `cheat-middle`: an executor changes one element of a middle step (and
//!      recomputes everything after it, so the trace is consistent); the watchtower
//!      bisects to exactly that step and the executor is slashed;
//!    - `griefer`: a challenger disputes a correct result and loses its bond.
//!
//! A timeline is printed as the chain moves, then a summary table per scenario
//! (outcome, moves, gas per party, wall time). The command fails if any scenario
//! ends otherwise than expected.

use clap::Args;
use eyre::{bail, eyre, Result, WrapErr};
use refute_chain::alloy::primitives::{Address, U256};
use refute_chain::{Chain, DeployParams, Event, ExampleConsumer, MinedTx, RequestStatus, ResultStatus};
use refute_challenger::{Challenger, Selection};
use refute_core::hash::to_hex;
use refute_core::reference::run as reference_run;
use refute_core::sample::{random_input, Rng};
use refute_core::{Model, Tensor};
use refute_engine::Engine;
use refute_executor::cheat::Cheat;
use refute_executor::Executor;
use refute_game::{Move, Phase, Status};
use refute_runtime::shutdown::Shutdown;
use refute_service::localnet::LocalNet;
use refute_service::{ModelSet, Settings};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// `refute demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory of fixture models and data.
    #[arg(long, default_value = "fixtures")]
    fixtures: PathBuf,
    /// Where the devnet's deployment file, the services' state and their logs go
    /// (default: a temporary directory, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seconds a scenario may take before the demo gives up on it.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Seconds between blocks on the demo's devnet; 0: a block per transaction
    /// (instant mining, where nothing else mines: the services judge windows and
    /// clocks by the pending block).
    #[arg(long, default_value_t = 1)]
    block_time: u64,
}

/// The demo's accounts (anvil's funded keys): one per party per scenario.
mod party {
    pub const OWNER: usize = 0;
    pub const HONEST_EXECUTOR: usize = 1;
    pub const WATCHTOWER_A: usize = 2;
    pub const OUTPUT_CHEATER: usize = 3;
    pub const GRIEFER: usize = 4;
    pub const MIDDLE_CHEATER: usize = 5;
    pub const WATCHTOWER_B: usize = 6;
    pub const SECOND_EXECUTOR: usize = 7;
    pub const REQUESTERS: [usize; 4] = [8, 9, 10, 11];
}

pub fn run(args: DemoArgs) -> Result<()> {
    exactness(&args.fixtures.join("models"))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(protocol(args))
}

/// Part 1: every fixture model gives the same bits with 1 and 2 threads.
fn exactness(models_dir: &Path) -> Result<()> {
    println!("== exactness: every fixture model, 1 and 2 threads, same bits");
    let paths = crate::chain_cmd::model_manifests(models_dir)?;
    if paths.is_empty() {
        bail!("no models in {}", models_dir.display());
    }
    for path in paths {
        let model = Arc::new(Model::load(&path)?);
        let mut rng = Rng::new(2026);
        let inputs: Vec<_> = (0..4).map(|_| random_input(&mut rng, model.input_type())).collect();
        let engine = Engine::cpu(model.clone())?;
        refute_engine::tch::set_num_threads(1);
        let one = engine.run(&inputs)?;
        refute_engine::tch::set_num_threads(2);
        let two = engine.run(&inputs)?;
        let same = (0..one.len()).all(|i| one.trace(i) == two.trace(i));
        println!(
            "  {:<14} id {}…  {:>2} steps  {:>6} parameters  4 inputs: trace roots {}",
            model.name(),
            &to_hex(&model.id())[..12],
            model.step_count(),
            model.parameter_count(),
            if same { "identical" } else { "DIFFERENT" }
        );
        if !same {
            bail!("the engine gave different bits with 1 and 2 threads on {}", model.name());
        }
    }
    Ok(())
}

/// What a scenario should end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Finalized, unchallenged, the integrator called back.
    Finalized,
    /// Disputed; the challenger wins at this step; the executor is slashed.
    Slashed { step: u32 },
    /// Disputed; the executor wins; the challenger loses its bond; the result finalizes.
    GrieferLoses,
}

/// One scenario's cast and its request.
struct Scenario {
    name: &'static str,
    story: &'static str,
    model: Arc<Model>,
    expect: Expect,
    requester: usize,
    executor: usize,
    challenger: Option<usize>,
    input: Tensor,
    /// The class the input's label says (digits models).
    label: Option<i64>,
}

/// How a scenario ended.
struct Outcome {
    ok: bool,
    what: String,
    request_id: u64,
    result_id: u64,
    game_id: Option<u64>,
    wall: Duration,
}

/// A running service and its stop switch.
struct Service {
    name: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), refute_store::StoreError>>,
}

async fn protocol(args: DemoArgs) -> Result<()> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir)?;
    log_to(&dir.join("services.log"))?;

    let models_dir = args.fixtures.join("models");
    let load = |name: &str| -> Result<Arc<Model>> { Ok(Arc::new(Model::load(&models_dir.join(format!("{name}.json")))?)) };
    let (mlp, cnn, resnet, every) = (load("digits-mlp")?, load("digits-cnn")?, load("digits-resnet")?, load("hand-every-op")?);
    let (images, labels) = digits(&args.fixtures.join("data"))?;

    println!("\n== the protocol on a fresh devnet");
    let params = DeployParams { challenge_window: 8, clock_seconds: 60, request_timeout: 900, ..DeployParams::default() };
    let all: Vec<&Model> = vec![&mlp, &cnn, &resnet, &every];
    let block_time = (args.block_time > 0).then_some(args.block_time);
    let net = LocalNet::start(0, block_time, params, &all, &dir).await.map_err(|e| eyre!(e))?;
    let d = &net.deployment;
    let blocks = block_time.map(|t| format!("a block every {t}s")).unwrap_or_else(|| "a block per transaction".into());
    println!("  anvil {} (chain {}, {blocks})", net.devnet.endpoint(), net.devnet.chain_id());
    println!("  registry {}  oracle {}  game {}  verifier {}", d.registry, d.oracle, d.game, d.verifier);
    println!(
        "  challenge window {}s, clocks {}s a side, stake {} ETH, bond {} ETH; models: {}",
        params.challenge_window,
        params.clock_seconds,
        eth(params.min_stake),
        eth(params.min_bond),
        all.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
    );
    println!("  services' logs: {}", dir.join("services.log").display());

    let owner = net.client(party::OWNER).await?;
    let consumer = ExampleConsumer::deploy(&owner, &mlp.id()).await?;
    println!("  integrator contract (DigitConsumer for digits-mlp) {}", consumer.address());

    let image = |i: usize, m: &Model| -> Result<Tensor> { Ok(Tensor::from_i8(m.input_type().shape.clone(), images[i].clone())?) };
    let resnet_step = 2u32;
    let scenarios = vec![
        Scenario {
            name: "honest",
            story: "an honest result finalizes and the integrator is called back",
            model: mlp.clone(),
            expect: Expect::Finalized,
            requester: party::REQUESTERS[0],
            executor: party::HONEST_EXECUTOR,
            challenger: None,
            input: image(0, &mlp)?,
            label: Some(labels[0]),
        },
        Scenario {
            name: "cheat-output",
            story: "a wrong class is disputed and the executor slashed",
            model: cnn.clone(),
            expect: Expect::Slashed { step: cnn.step_count() as u32 - 1 },
            requester: party::REQUESTERS[1],
            executor: party::OUTPUT_CHEATER,
            challenger: Some(party::WATCHTOWER_A),
            input: image(1, &cnn)?,
            label: Some(labels[1]),
        },
        Scenario {
            name: "cheat-middle",
            story: "one element of a middle step is off by one: found and slashed",
            model: resnet.clone(),
            expect: Expect::Slashed { step: resnet_step },
            requester: party::REQUESTERS[2],
            executor: party::MIDDLE_CHEATER,
            challenger: Some(party::WATCHTOWER_B),
            input: image(2, &resnet)?,
            label: Some(labels[2]),
        },
        Scenario {
            name: "griefer",
            story: "a challenger disputes a correct result and loses its bond",
            model: every.clone(),
            expect: Expect::GrieferLoses,
            requester: party::REQUESTERS[3],
            executor: party::SECOND_EXECUTOR,
            challenger: Some(party::GRIEFER),
            input: random_input(&mut Rng::new(7), every.input_type()),
            label: None,
        },
    ];

    // The services: each one a real executor or challenger with its own key and state.
    println!("\n== services");
    let mut services = Vec::new();
    let middle_numel = resnet.steps()[resnet_step as usize].spec.out.numel();
    let cast: Vec<(&str, usize, Vec<&Arc<Model>>, Role)> = vec![
        ("honest executor", party::HONEST_EXECUTOR, vec![&mlp], Role::Executor(None)),
        ("watchtower A", party::WATCHTOWER_A, vec![&mlp, &cnn], Role::Challenger { grief: false }),
        ("cheater (output)", party::OUTPUT_CHEATER, vec![&cnn], Role::Executor(Some(Cheat::Output))),
        (
            "cheater (middle step)",
            party::MIDDLE_CHEATER,
            vec![&resnet],
            Role::Executor(Some(Cheat::Element { step: resnet_step as usize, element: middle_numel / 2 })),
        ),
        ("watchtower B", party::WATCHTOWER_B, vec![&resnet], Role::Challenger { grief: false }),
        ("second executor", party::SECOND_EXECUTOR, vec![&every], Role::Executor(None)),
        ("griefer", party::GRIEFER, vec![&every], Role::Challenger { grief: true }),
    ];
    for (name, account, models, role) in cast {
        let paths: Vec<PathBuf> = models.iter().map(|m| models_dir.join(format!("{}.json", m.name()))).collect();
        let settings = net.settings(account, &dir.join(name.replace([' ', '(', ')'], "")), block_time);
        let s = start(name, settings, &paths, &role).await?;
        println!(
            "  {:<22} {}  models {}{}",
            name,
            net.devnet.address(account),
            models.iter().map(|m| m.name()).collect::<Vec<_>>().join(", "),
            match &role {
                Role::Executor(Some(c)) => format!("  (cheats: {c})"),
                Role::Challenger { grief: true } => "  (disputes every result)".to_string(),
                _ => String::new(),
            }
        );
        services.push(s);
    }

    // The requests, then a timeline until every scenario has its ending.
    println!("\n== timeline (seconds since the first request)");
    let start_block = owner.head().await?;
    let t0 = Instant::now();
    let fee = U256::from(10u64).pow(U256::from(16u64));
    let mut request_of = HashMap::new();
    for (i, s) in scenarios.iter().enumerate() {
        let c = net.client(s.requester).await?;
        let id = if s.name == "honest" {
            consumer.ask(&c, &s.input.canonical_bytes(), fee).await?
        } else {
            c.request(&s.model.id(), &s.input.canonical_bytes(), fee, Address::ZERO, 0).await?
        };
        request_of.insert(id, i);
        say(t0, s.name, &format!("request #{id} for {} ({}), fee {} ETH", s.model.name(), s.story, eth(fee)));
    }
    let names = Names::new(&net, &scenarios);
    let outcomes = follow(&owner, &scenarios, &request_of, consumer, start_block, t0, Duration::from_secs(args.timeout), &names).await?;

    // Let the services withdraw what they are owed, then stop them.
    tokio::time::sleep(Duration::from_secs(3 * args.block_time.max(1))).await;
    for s in services {
        s.stop.send(true).ok();
        match s.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("{} stopped with an error: {e}", s.name),
            Err(e) => bail!("{} panicked: {e}", s.name),
        }
    }

    let end_block = owner.head().await?;
    let txs = owner.transactions(start_block + 1, end_block).await?;
    summary(&net, &scenarios, &outcomes, &txs);
    let failed: Vec<&str> = scenarios.iter().zip(&outcomes).filter(|(_, o)| !o.ok).map(|(s, _)| s.name).collect();
    if !failed.is_empty() {
        bail!("scenarios that did not end as expected: {}", failed.join(", "));
    }
    println!("\nevery scenario ended as expected: honest results stand, fraud is slashed, griefing costs the griefer.");
    Ok(())
}

/// What a service in the demo is.
enum Role {
    Executor(Option<Cheat>),
    Challenger { grief: bool },
}

async fn start(name: &str, settings: Settings, models: &[PathBuf], role: &Role) -> Result<Service> {
    let set = ModelSet::load(models).map_err(|e| eyre!(e))?;
    let (stop, shutdown) = Shutdown::manual();
    let task = match role {
        Role::Executor(cheat) => {
            let opts = refute_executor::Options { stake: None, batch_size: 8, cheat: *cheat, cheat_only: None, shard: (0, 1) };
            let svc = Executor::start(settings, set, opts, &shutdown)
                .await
                .map_err(|e| eyre!("{name}: {e}"))?
                .ok_or_else(|| eyre!("{name}: stopped while starting"))?;
            tokio::spawn(svc.run(shutdown))
        }
        Role::Challenger { grief } => {
            let opts = refute_challenger::Options { bond: None, batch_size: 8, selection: Selection::default(), grief: *grief };
            let svc = Challenger::start(settings, set, opts, &shutdown)
                .await
                .map_err(|e| eyre!("{name}: {e}"))?
                .ok_or_else(|| eyre!("{name}: stopped while starting"))?;
            tokio::spawn(svc.run(shutdown))
        }
    };
    Ok(Service { name: name.to_string(), stop, task })
}

/// Readable names of the parties' addresses, for the timeline.
struct Names(HashMap<Address, String>);

impl Names {
    fn new(net: &LocalNet, scenarios: &[Scenario]) -> Names {
        let mut m = HashMap::new();
        for s in scenarios {
            m.insert(net.devnet.address(s.executor), format!("executor {}", short(net.devnet.address(s.executor))));
            if let Some(c) = s.challenger {
                m.insert(net.devnet.address(c), format!("challenger {}", short(net.devnet.address(c))));
            }
        }
        m.insert(net.devnet.address(party::WATCHTOWER_A), format!("watchtower A {}", short(net.devnet.address(party::WATCHTOWER_A))));
        Names(m)
    }

    fn of(&self, a: Address) -> String {
        self.0.get(&a).cloned().unwrap_or_else(|| short(a))
    }
}

/// Follows the chain from block `since` (the head before the first request),
/// printing a timeline, until every scenario has ended (or timed out).
#[allow(clippy::too_many_arguments)]
async fn follow(
    chain: &Chain,
    scenarios: &[Scenario],
    request_of: &HashMap<u64, usize>,
    consumer: ExampleConsumer,
    since: u64,
    t0: Instant,
    timeout: Duration,
    names: &Names,
) -> Result<Vec<Outcome>> {
    // with instant mining every transaction is a block: by now the services may
    // have posted and disputed, so read from before the first request
    let mut cursor = since;
    let mut scenario_of_result: HashMap<u64, usize> = HashMap::new();
    let mut game_of: HashMap<usize, u64> = HashMap::new();
    let mut last_phase: HashMap<u64, (Phase, u32)> = HashMap::new();
    let mut outcomes: BTreeMap<usize, Outcome> = BTreeMap::new();
    let request_ids: HashMap<usize, u64> = request_of.iter().map(|(r, i)| (*i, *r)).collect();
    while outcomes.len() < scenarios.len() {
        let head = chain.head().await?;
        if head > cursor {
            for ev in chain.events(cursor + 1, head).await? {
                match ev {
                    Event::Posted { result_id, request_id, executor, trace_root, output, .. } => {
                        if let Some(&i) = request_of.get(&request_id) {
                            scenario_of_result.entry(result_id).or_insert(i);
                            say(
                                t0,
                                scenarios[i].name,
                                &format!(
                                    "result #{result_id} posted by {}: output {}, trace root {}…",
                                    names.of(executor),
                                    show_output(&scenarios[i].model, &output),
                                    &to_hex(&trace_root)[..12]
                                ),
                            );
                        }
                    }
                    Event::GameOpened { game_id, result_id, challenger, .. } => {
                        if let Some(&i) = scenario_of_result.get(&result_id) {
                            game_of.entry(i).or_insert(game_id);
                            say(t0, scenarios[i].name, &format!("{} disputes result #{result_id}: game #{game_id} opened", names.of(challenger)));
                        }
                    }
                    Event::GameResolved { game_id, status } => {
                        if let Some((&i, _)) = game_of.iter().find(|(_, g)| **g == game_id) {
                            let how = match status {
                                Status::ChallengerWon => "the challenger wins",
                                Status::ExecutorWon => "the executor wins",
                                _ => "ended",
                            };
                            say(t0, scenarios[i].name, &format!("game #{game_id} over: {how}"));
                        }
                    }
                    Event::Finalized { result_id } => {
                        if let Some(&i) = scenario_of_result.get(&result_id) {
                            say(t0, scenarios[i].name, &format!("result #{result_id} is final"));
                        }
                    }
                    Event::Rejected { result_id, request_id } => {
                        if let Some(&i) = scenario_of_result.get(&result_id) {
                            say(
                                t0,
                                scenarios[i].name,
                                &format!("result #{result_id} rejected: the executor's stake is slashed, request #{request_id} is open again"),
                            );
                        }
                    }
                    Event::Requested { .. } => {}
                }
            }
            cursor = head;
        }
        // game progress: one line per phase (and per level of a descent)
        for (&i, &g) in &game_of {
            if outcomes.contains_key(&i) {
                continue;
            }
            let p = chain.game(g).await?.position;
            let key = (p.phase, p.height);
            if last_phase.get(&g) != Some(&key) && p.status == Status::Open {
                last_phase.insert(g, key);
                let what = match p.phase {
                    Phase::Trace => format!("trace descent, {} above the steps", levels(p.height)),
                    Phase::Header => format!(
                        "first disputed step: {} ({}); its tensor header is opened",
                        p.step_index,
                        scenarios[i].model.steps()[p.step_index as usize].spec.op.name()
                    ),
                    Phase::Data => format!("data descent in step {}, {} above the chunks", p.step_index, levels(p.height)),
                    Phase::Chunk => format!("one chunk of step {} isolated; revealing it", p.step_index),
                    Phase::OneStep => format!("chunk {} of step {} revealed: the challenger disputes one of its elements", p.index, p.step_index),
                    Phase::Checkpoints => format!(
                        "element {} of step {} named: its reduction has {} blocks; the executor opens their checkpoints",
                        p.element, p.step_index, p.blocks
                    ),
                    Phase::Reduction => {
                        format!("reduction descent in element {} of step {}, {} above the blocks", p.element, p.step_index, levels(p.height))
                    }
                    Phase::Block => format!(
                        "one block ({} of {}) of element {} of step {} isolated: the verifier recomputes it",
                        p.index + 1,
                        p.blocks,
                        p.element,
                        p.step_index
                    ),
                    Phase::Resolved => "resolved".to_string(),
                };
                say(t0, scenarios[i].name, &format!("game #{g}: {what}"));
            }
        }
        // endings
        for (i, s) in scenarios.iter().enumerate() {
            if outcomes.contains_key(&i) {
                continue;
            }
            let request_id = request_ids[&i];
            if let Some(o) = ending(chain, s, request_id, game_of.get(&i).copied(), consumer, t0).await? {
                say(t0, s.name, &format!("{} {}", if o.ok { "as expected:" } else { "UNEXPECTED:" }, o.what));
                outcomes.insert(i, o);
            } else if t0.elapsed() > timeout {
                let o = Outcome {
                    ok: false,
                    what: format!("no ending after {}s", timeout.as_secs()),
                    request_id,
                    result_id: 0,
                    game_id: game_of.get(&i).copied(),
                    wall: t0.elapsed(),
                };
                say(t0, s.name, &format!("UNEXPECTED: {}", o.what));
                outcomes.insert(i, o);
            }
        }
        let quiet_ms = (t0.elapsed().as_millis() as u64).saturating_sub(LAST_SAID_MS.load(Ordering::Relaxed));
        if quiet_ms > 10_000 && outcomes.len() < scenarios.len() {
            let waiting: Vec<&str> = scenarios.iter().enumerate().filter(|(i, _)| !outcomes.contains_key(i)).map(|(_, s)| s.name).collect();
            say(t0, "…", &format!("block {head}; waiting for {}", waiting.join(", ")));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(outcomes.into_values().collect())
}

/// The scenario's ending, once it has one: `Some` when the chain has settled the
/// way the scenario is about (as expected or not).
async fn ending(chain: &Chain, s: &Scenario, request_id: u64, game: Option<u64>, consumer: ExampleConsumer, t0: Instant) -> Result<Option<Outcome>> {
    let req = chain.get_request(request_id).await?;
    let wall = t0.elapsed();
    let mk = |ok: bool, what: String, result_id: u64| Some(Outcome { ok, what, request_id, result_id, game_id: game, wall });
    match s.expect {
        Expect::Finalized => {
            if req.result_id == 0 {
                return Ok(None);
            }
            let r = chain.get_result(req.result_id).await?;
            match r.status {
                ResultStatus::Finalized => {
                    let want = reference_run(&s.model, &s.input).last().expect("a model has steps").canonical_bytes();
                    let answer = consumer.answer(chain, request_id).await?;
                    let games = chain.games_of(req.result_id).await?;
                    let ok = answer.as_deref() == Some(&want[..]) && r.output == want && games.is_empty();
                    Ok(mk(
                        ok,
                        format!(
                            "final with {}, unchallenged ({} games); the integrator received {}{}",
                            show_output(&s.model, &r.output),
                            games.len(),
                            answer.as_deref().map(|a| show_output(&s.model, a)).unwrap_or_else(|| "nothing".into()),
                            s.label.map(|l| format!(" (the image's label: {l})")).unwrap_or_default()
                        ),
                        req.result_id,
                    ))
                }
                ResultStatus::Rejected => Ok(mk(false, "the honest result was rejected".into(), req.result_id)),
                _ => Ok(None),
            }
        }
        Expect::Slashed { step } => {
            let Some(g) = game else { return Ok(None) };
            let info = chain.game(g).await?;
            if info.position.status == Status::Open {
                return Ok(None);
            }
            let r = chain.get_result(info.result_id).await?;
            if r.status == ResultStatus::Pending {
                return Ok(None); // the game is over; the oracle's side follows in the same transaction, or a moment later
            }
            let ok = info.position.status == Status::ChallengerWon
                && info.position.step_index == step
                && r.status == ResultStatus::Rejected
                && req.status == RequestStatus::Open;
            Ok(mk(
                ok,
                format!(
                    "game #{g} won by the challenger at step {} ({}); result rejected, stake {} ETH slashed",
                    info.position.step_index,
                    s.model.steps()[info.position.step_index as usize].spec.op.name(),
                    eth(r.stake)
                ),
                info.result_id,
            ))
        }
        Expect::GrieferLoses => {
            let Some(g) = game else { return Ok(None) };
            let info = chain.game(g).await?;
            if info.position.status == Status::Open {
                return Ok(None);
            }
            let r = chain.get_result(info.result_id).await?;
            if r.status == ResultStatus::Pending {
                return Ok(None); // wait for the window to close and the result to finalize
            }
            let ok = info.position.status == Status::ExecutorWon && r.status == ResultStatus::Finalized;
            Ok(mk(
                ok,
                format!("game #{g} won by the executor; the griefer's bond of {} ETH is lost; result {:?}", eth(info.bond), r.status),
                info.result_id,
            ))
        }
    }
}

/// The summary table.
fn summary(net: &LocalNet, scenarios: &[Scenario], outcomes: &[Outcome], txs: &[MinedTx]) {
    let gas_of = |who: usize| -> u64 { txs.iter().filter(|t| t.from == net.devnet.address(who)).map(|t| t.gas_used).sum() };
    let is_move = |t: &&MinedTx| t.success && t.call.is_some_and(|c| Move::CALLS.contains(&c));
    println!("\n== summary");
    println!("| scenario | expected | outcome | request | result | game | moves | gas: requester | gas: executor | gas: challenger | wall time |");
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (s, o) in scenarios.iter().zip(outcomes) {
        let parties: Vec<Address> = std::iter::once(s.executor).chain(s.challenger).map(|a| net.devnet.address(a)).collect();
        let moves = txs.iter().filter(is_move).filter(|t| parties.contains(&t.from)).count();
        let expected = match s.expect {
            Expect::Finalized => "final, called back".to_string(),
            Expect::Slashed { step } => format!("slashed at step {step}"),
            Expect::GrieferLoses => "griefer loses bond".to_string(),
        };
        println!(
            "| {} | {} | {} | #{} | #{} | {} | {} | {} | {} | {} | {:.1}s |",
            s.name,
            expected,
            if o.ok { "as expected" } else { "UNEXPECTED" },
            o.request_id,
            o.result_id,
            o.game_id.map(|g| format!("#{g}")).unwrap_or_else(|| "-".into()),
            moves,
            gas_of(s.requester),
            gas_of(s.executor),
            s.challenger.map(|c| gas_of(c).to_string()).unwrap_or_else(|| "-".into()),
            o.wall.as_secs_f64()
        );
    }
    println!("\ngas is every transaction the party sent (requests, posts, moves, finalizations, withdrawals); the requester's includes the integrator contract's call into the oracle.");
}

/// The test split of the digits fixtures: int8 images and labels.
fn digits(data: &Path) -> Result<(Vec<Vec<i8>>, Vec<i64>)> {
    let x_path = data.join("digits-test-x-int8.npy");
    let y_path = data.join("digits-test-y.npy");
    let x_bytes = std::fs::read(&x_path).wrap_err_with(|| format!("reading {}", x_path.display()))?;
    let x = npyz::NpyFile::new(&x_bytes[..])?;
    let shape = x.shape().to_vec();
    let flat: Vec<i8> = x.into_vec()?;
    let per = shape.get(1..).map(|s| s.iter().product::<u64>() as usize).unwrap_or(0);
    if per == 0 {
        bail!("{}: expected [N, 64] int8 images", x_path.display());
    }
    let images = flat.chunks(per).map(|c| c.to_vec()).collect();
    let y_bytes = std::fs::read(&y_path).wrap_err_with(|| format!("reading {}", y_path.display()))?;
    let y = npyz::NpyFile::new(&y_bytes[..])?;
    Ok((images, y.into_vec()?))
}

/// A model's output bytes, readable: the class of a classifier, else a few values.
fn show_output(model: &Model, bytes: &[u8]) -> String {
    let ty = model.output_type();
    match Tensor::from_canonical_bytes(ty.clone(), bytes) {
        Ok(t) if t.numel() == 1 => format!("class {}", t.get(0)),
        Ok(t) => {
            let head: Vec<String> = (0..t.numel().min(4)).map(|e| t.get(e).to_string()).collect();
            format!("[{}{}]", head.join(", "), if t.numel() > 4 { ", …" } else { "" })
        }
        Err(_) => format!("{} bytes that are not a valid output", bytes.len()),
    }
}

/// Milliseconds since the first request at the last timeline line (for the
/// "waiting" lines that show progress when nothing happens).
static LAST_SAID_MS: AtomicU64 = AtomicU64::new(0);

fn say(t0: Instant, scenario: &str, what: &str) {
    LAST_SAID_MS.store(t0.elapsed().as_millis() as u64, Ordering::Relaxed);
    println!("[{:>6.1}s] {:<13} {}", t0.elapsed().as_secs_f64(), scenario, what);
}

fn levels(n: u32) -> String {
    if n == 1 {
        "1 level".into()
    } else {
        format!("{n} levels")
    }
}

fn short(a: Address) -> String {
    let s = a.to_string();
    format!("{}…{}", &s[..6], &s[s.len() - 4..])
}

fn eth(wei: U256) -> String {
    format!("{}", refute_service::eth(wei))
}

/// Sends the services' logs to a file, so the terminal keeps the timeline.
fn log_to(path: &Path) -> Result<()> {
    let file = std::fs::File::create(path).wrap_err_with(|| format!("creating {}", path.display()))?;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .try_init();
    Ok(())
}
