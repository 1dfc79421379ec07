//! Measures refute side by side and prints the tables of `docs/performance.md`.
//!
//! `target/debug/report [--quick] [--only inference|hashing|protocol|volume|memory] [--out FILE]`

use refute_benches::protocol::{burst, dispute, memory, watchtower, watchtower_backlog, DisputeRun, Mining};
use refute_benches::{fixture_models, float_batch, int8_batch, repo_root, side_by_side, wide_mlp, Fp32Net};
use refute_core::commit::{data_root, leaf_preimage, CHUNK_SIZE};
use refute_core::hash::keccak;
use refute_core::Model;
use refute_engine::tch::Device;
use refute_engine::{Engine, Gemm};
use refute_executor::cheat::Cheat;
use refute_game::Move;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// Writes the performance report: the exact engine against plain fp32 inference,
/// commitment hashing throughput, and disputes played on anvil (moves, time, gas).
#[derive(Debug, clap::Parser)]
#[command(name = "report")]
struct Opts {
    /// Small sizes and few rounds, to check that the report runs (figures are not
    /// meaningful).
    #[arg(long)]
    quick: bool,
    /// Also write the report to this file.
    #[arg(long)]
    out: Option<String>,
    /// One part of the report only.
    #[arg(long, value_parser = ["inference", "hashing", "protocol", "volume", "memory"])]
    only: Option<String>,
}

impl Opts {
    fn wants(&self, part: &str) -> bool {
        self.only.as_deref().is_none_or(|o| o == part)
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn inference(models: &[Model], opts: &Opts, out: &mut String) {
    let (rounds, budget) = if opts.quick { (3, 0.02) } else { (15, 0.3) };
    writeln!(out, "| model | batch | fp32 forward (ms) | exact, fp32-block GEMMs, untraced (ms) | exact, untraced (ms) | exact + trace (ms) | traced / fp32 | hashing share |").unwrap();
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|").unwrap();
    for model in models {
        let engine = Engine::cpu(Arc::new(model.clone())).expect("engine");
        let blocks = Engine::with_gemm(Arc::new(model.clone()), Device::Cpu, Gemm::Fp32Blocks).expect("engine");
        let fp32 = Fp32Net::new(model);
        for batch in [1usize, 64] {
            let ints = int8_batch(model, batch, 5);
            let floats = float_batch(model, batch, 5);
            // iterations per round so that a round takes about `budget` seconds
            let probe = std::time::Instant::now();
            engine.run(&ints).expect("run");
            let iters = ((budget / probe.elapsed().as_secs_f64().max(1e-6)) as usize).clamp(1, 1000);
            let t = side_by_side(
                &mut [
                    &mut || {
                        let _ = std::hint::black_box(fp32.forward(&floats));
                    },
                    &mut || {
                        blocks.forward(&ints).expect("forward");
                    },
                    &mut || {
                        engine.forward(&ints).expect("forward");
                    },
                    &mut || {
                        engine.run(&ints).expect("run");
                    },
                ],
                rounds,
                iters,
            );
            let ratio = t[3].as_secs_f64() / t[0].as_secs_f64();
            let hashing = (t[3].as_secs_f64() - t[2].as_secs_f64()).max(0.0) / t[3].as_secs_f64();
            writeln!(
                out,
                "| {} | {batch} | {} | {} | {} | {} | {ratio:.2}x | {:.1}% |",
                model.name(),
                ms(t[0]),
                ms(t[1]),
                ms(t[2]),
                ms(t[3]),
                100.0 * hashing
            )
            .unwrap();
        }
    }
}

fn hashing(opts: &Opts, out: &mut String) {
    let len = if opts.quick { 1 << 20 } else { 16 << 20 };
    let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    // the data tree's leaves: 257-byte messages, as many as the bytes make
    let leaves: Vec<[u8; 257]> = bytes.chunks_exact(CHUNK_SIZE).map(leaf_preimage).collect();
    let (mut digests, mut grouped_digests) = (vec![[0u8; 32]; leaves.len()], vec![[0u8; 32]; leaves.len()]);
    let rounds = if opts.quick { 3 } else { 9 };
    let t = side_by_side(
        &mut [
            &mut || {
                std::hint::black_box(keccak(&[&bytes]));
            },
            &mut || {
                for (m, d) in leaves.iter().zip(digests.iter_mut()) {
                    *d = refute_keccak::keccak256(m);
                }
                std::hint::black_box(&digests);
            },
            &mut || {
                refute_keccak::keccak256_many(&leaves, &mut grouped_digests);
                std::hint::black_box(&grouped_digests);
            },
            &mut || {
                std::hint::black_box(data_root(&bytes));
            },
        ],
        rounds,
        1,
    );
    assert_eq!(digests, grouped_digests, "grouped and one-at-a-time keccak agree");
    let mbps = |d: Duration| len as f64 / d.as_secs_f64() / 1e6;
    let grouped = if refute_keccak::is_wide() { "eight per permutation (AVX-512)" } else { "grouped (no AVX-512 here: one at a time)" };
    writeln!(out, "| what | MB/s | relative to raw keccak |").unwrap();
    writeln!(out, "|---|---:|---:|").unwrap();
    writeln!(out, "| raw keccak256 over {} MiB, one message (tiny-keccak) | {:.0} | 1.00 |", len >> 20, mbps(t[0])).unwrap();
    writeln!(out, "| keccak256 of 257-byte messages, one at a time (tiny-keccak) | {:.0} | {:.2} |", mbps(t[1]), mbps(t[1]) / mbps(t[0])).unwrap();
    writeln!(out, "| keccak256 of 257-byte messages, {grouped} | {:.0} | {:.2} |", mbps(t[2]), mbps(t[2]) / mbps(t[0])).unwrap();
    writeln!(out, "| tensor data root (256-byte chunks) | {:.0} | {:.2} |", mbps(t[3]), mbps(t[3]) / mbps(t[0])).unwrap();
}

fn main() {
    // `--help` and bad arguments answer before anything starts
    let opts = <Opts as clap::Parser>::parse();
    // before libtorch starts: may start the program over (same pid and arguments)
    refute_engine::openmp::bound_spinning_at_start();
    let threads = refute_engine::tch::get_num_threads();
    let mut out = String::new();
    writeln!(
        out,
        "Machine: {} logical CPUs, libtorch intra-op threads: {threads}, {}={}, engine GEMMs: {:?}, grouped keccak: {}{}\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        refute_engine::openmp::SPIN_VAR,
        std::env::var(refute_engine::openmp::SPIN_VAR).unwrap_or_else(|_| "unset".into()),
        Gemm::detect(Device::Cpu),
        if refute_keccak::is_wide() { "AVX-512, 8 lanes" } else { "one at a time" },
        if opts.quick { " (quick mode: figures are not meaningful)" } else { "" }
    )
    .unwrap();
    if opts.wants("inference") {
        writeln!(out, "### Inference: exact traced vs plain fp32\n").unwrap();
        let mut models = fixture_models();
        models.push(if opts.quick { wide_mlp(1100, 1) } else { wide_mlp(4096, 4) });
        inference(&models, &opts, &mut out);
    }
    if opts.wants("hashing") {
        writeln!(out, "\n### Commitment hashing throughput\n").unwrap();
        hashing(&opts, &mut out);
    }
    if opts.wants("protocol") || opts.wants("volume") || opts.wants("memory") {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        if opts.wants("protocol") {
            rt.block_on(protocol(&opts, &mut out));
        }
        if opts.wants("volume") {
            rt.block_on(volume(&opts, &mut out));
        }
        if opts.wants("memory") {
            rt.block_on(memory_part(&opts, &mut out));
        }
    }
    print!("{out}");
    if let Some(path) = &opts.out {
        std::fs::write(path, &out).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
}

/// Disputes and the watchtower on anvil, with the real services.
async fn protocol(opts: &Opts, out: &mut String) {
    let names: &[&str] = if opts.quick { &["digits-mlp"] } else { &["digits-mlp", "digits-cnn", "digits-resnet", "hand-every-op"] };
    let minings: &[Mining] = if opts.quick { &[Mining::Instant] } else { &[Mining::Instant, Mining::Every(1)] };
    let mut paths: Vec<(String, std::path::PathBuf)> =
        names.iter().map(|n| (n.to_string(), repo_root().join(format!("fixtures/models/{n}.json")))).collect();
    // a GEMM-heavy model whose every reduction is longer than one block: its
    // disputes go through the reduction descent (in quick mode a smaller one)
    let wide_dir = tempfile::tempdir().expect("temp dir");
    let wide = if opts.quick { wide_mlp(1100, 1) } else { wide_mlp(4096, 4) };
    let wide_path = wide_dir.path().join(format!("{}.json", wide.name()));
    wide.save(&wide_path).expect("saving the wide model");
    paths.push((wide.name().to_string(), wide_path));
    let mut runs: Vec<DisputeRun> = Vec::new();
    for (i, (name, path)) in paths.iter().enumerate() {
        // the wide model's lie is one element of its first wide linear step: the
        // dispute descends its reduction to one block (an output lie ends at the argmax)
        let cheats: &[Cheat] = if i + 1 == paths.len() { &[Cheat::Output, Cheat::Element { step: 1, element: 0 }] } else { &[Cheat::Output] };
        for &cheat in cheats {
            for &mining in minings {
                eprintln!("dispute: {name}, {mining}, lie {cheat}");
                runs.push(dispute(path, mining, cheat).await.unwrap_or_else(|e| panic!("dispute on {name} ({mining}, {cheat}): {e}")));
            }
        }
    }
    writeln!(out, "\n### Disputes on anvil: an executor lies, the watchtower slashes it\n").unwrap();
    writeln!(out, "| model | lie | blocks | moves | post to challenge (s) | post to slashing (s) | dispute gas (both sides) |").unwrap();
    writeln!(out, "|---|---|---|---:|---:|---:|---:|").unwrap();
    for r in &runs {
        writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {:.1} | {} |",
            r.model,
            r.cheat,
            r.mining,
            r.moves,
            r.post_to_challenge.as_secs_f64(),
            r.post_to_slash.as_secs_f64(),
            r.dispute_gas()
        )
        .unwrap();
    }
    writeln!(out, "\n### Gas on anvil, per transaction (mean over the dispute's transactions of that kind)\n").unwrap();
    // a timeout is not part of a dispute's gas table: the games here end by proofs
    let kinds: Vec<&str> = ["post", "challenge"].into_iter().chain(Move::CALLS.into_iter().filter(|c| *c != "timeout")).collect();
    writeln!(out, "| model | lie | {} |", kinds.join(" | ")).unwrap();
    writeln!(out, "|---|---|{}", "---:|".repeat(kinds.len())).unwrap();
    for r in runs.iter().filter(|r| r.mining == Mining::Instant) {
        let cells: Vec<String> = kinds
            .iter()
            .map(|k| {
                r.gas.get(k).filter(|v| !v.is_empty()).map(|v| (v.iter().sum::<u64>() / v.len() as u64).to_string()).unwrap_or_else(|| "-".into())
            })
            .collect();
        writeln!(out, "| {} | {} | {} |", r.model, r.cheat, cells.join(" | ")).unwrap();
    }
    let (model, singles, burst) = if opts.quick { ("digits-mlp", 2, 8) } else { ("digits-cnn", 5, 64) };
    eprintln!("watchtower: {model}");
    let w = watchtower(&repo_root().join(format!("fixtures/models/{model}.json")), singles, burst)
        .await
        .unwrap_or_else(|e| panic!("watchtower on {model}: {e}"));
    writeln!(out, "\n### The watchtower on honest results (instant mining, 200 ms ticks)\n").unwrap();
    writeln!(
        out,
        "| model | results | checked per second | request to post, median of {singles} (s) | request to verdict, median of {singles} (s) |"
    )
    .unwrap();
    writeln!(out, "|---|---:|---:|---:|---:|").unwrap();
    writeln!(
        out,
        "| {} | {} | {:.1} | {:.2} | {:.2} |",
        w.model,
        w.results,
        w.checked_per_second,
        w.request_to_post.as_secs_f64(),
        w.request_to_verdict.as_secs_f64()
    )
    .unwrap();
}

/// The services at volume: the watchtower through a backlog of results, and a
/// burst of requests on timed blocks with a game played in the middle of it.
async fn volume(opts: &Opts, out: &mut String) {
    let (model, backlog, requests) = if opts.quick { ("digits-mlp", 40, 40) } else { ("digits-cnn", 1000, 1000) };
    let path = repo_root().join(format!("fixtures/models/{model}.json"));
    eprintln!("watchtower backlog: {model}, {backlog} results");
    let b = watchtower_backlog(&path, backlog).await.unwrap_or_else(|e| panic!("backlog on {model}: {e}"));
    writeln!(out, "\n### The watchtower through a backlog (instant mining, 200 ms ticks)\n").unwrap();
    writeln!(out, "| model | results | checked per second | engine alone, traced, per second | watchtower / engine |").unwrap();
    writeln!(out, "|---|---:|---:|---:|---:|").unwrap();
    writeln!(
        out,
        "| {} | {} | {:.0} | {:.0} | {:.2} |",
        b.model,
        b.results,
        b.checked_per_second,
        b.inference_per_second,
        b.checked_per_second / b.inference_per_second
    )
    .unwrap();
    eprintln!("burst: {model}, {requests} requests on 1 s blocks");
    let r = burst(&path, requests, 1).await.unwrap_or_else(|e| panic!("burst on {model}: {e}"));
    writeln!(out, "\n### A burst of requests on 1-second blocks, one lie among them\n").unwrap();
    writeln!(
        out,
        "| model | requests | posted once | posted twice | finalized | rejected | to the last post (s) | to the last final (s) | game moves | worst move lateness (blocks) |"
    )
    .unwrap();
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|").unwrap();
    writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {} | {} |",
        r.model,
        r.requests,
        r.posted_once,
        r.posted_twice,
        r.finalized,
        r.rejected,
        r.request_to_last_post.as_secs_f64(),
        r.request_to_last_final.as_secs_f64(),
        r.moves,
        r.worst_move_lateness
    )
    .unwrap();
}

/// Resident memory of the two services as processes, at two counts of results.
async fn memory_part(opts: &Opts, out: &mut String) {
    let model = if opts.quick { "digits-mlp" } else { "digits-cnn" };
    let path = repo_root().join(format!("fixtures/models/{model}.json"));
    let (wave, checkpoints): (usize, &[usize]) = if opts.quick { (20, &[20, 40]) } else { (1000, &[1000, 10_000]) };
    eprintln!("memory: {model}, waves of {wave}, checkpoints {checkpoints:?}");
    let m = memory(&path, wave, checkpoints).await.unwrap_or_else(|e| panic!("memory on {model}: {e}"));
    writeln!(out, "\n### Resident memory of the services as processes (1-second blocks, waves of {wave}, every result final)\n").unwrap();
    writeln!(out, "| model | results | executor RSS (MiB) | watchtower RSS (MiB) |").unwrap();
    writeln!(out, "|---|---:|---:|---:|").unwrap();
    for (n, e, w) in &m.samples {
        writeln!(out, "| {} | {} | {:.1} | {:.1} |", m.model, n, *e as f64 / 1024.0, *w as f64 / 1024.0).unwrap();
    }
    if let (Some(first), Some(last)) = (m.samples.first(), m.samples.last()) {
        let growth = |a: u64, b: u64| (b as f64 / a.max(1) as f64 - 1.0) * 100.0;
        writeln!(
            out,
            "\nFrom {} to {} results: executor {:+.1}%, watchtower {:+.1}%.",
            first.0,
            last.0,
            growth(first.1, last.1),
            growth(first.2, last.2)
        )
        .unwrap();
    }
}
