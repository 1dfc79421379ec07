//! Criterion timings of the engine and the commitments (`docs/performance.md`):
//! exact inference (with each GEMM backend, with and without the trace) against
//! the plain fp32 libtorch forward of the same network, for every fixture model and
//! a wide MLP where GEMMs dominate, at batch 1 and 64; and the tensor data root and
//! the grouped keccak of its leaves against raw keccak over the same bytes.
//!
//! `cargo bench -p refute-benches --bench engine` measures; `cargo test -p
//! refute-benches --benches` (what CI runs) runs every benchmark once, to prove they
//! still run.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use refute_benches::{fixture_models, float_batch, int8_batch, wide_mlp, Fp32Net};
use refute_core::commit::{data_root, leaf_preimage, CHUNK_SIZE};
use refute_core::hash::keccak;
use refute_engine::tch::Device;
use refute_engine::{Engine, Gemm};
use std::hint::black_box;
use std::sync::Arc;

fn inference(c: &mut Criterion) {
    let mut models = fixture_models();
    models.push(wide_mlp(4096, 4));
    for model in &models {
        let engine = Engine::cpu(Arc::new(model.clone())).expect("engine");
        let blocks = Engine::with_gemm(Arc::new(model.clone()), Device::Cpu, Gemm::Fp32Blocks).expect("engine");
        let fp32 = Fp32Net::new(model);
        let mut g = c.benchmark_group(format!("inference/{}", model.name()));
        for batch in [1usize, 64] {
            let ints = int8_batch(model, batch, 5);
            let floats = float_batch(model, batch, 5);
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_with_input(BenchmarkId::new("fp32 forward", batch), &batch, |b, _| b.iter(|| black_box(fp32.forward(&floats))));
            g.bench_with_input(BenchmarkId::new("exact, fp32-block GEMMs", batch), &batch, |b, _| b.iter(|| blocks.forward(&ints).expect("forward")));
            g.bench_with_input(BenchmarkId::new(format!("exact, {:?} GEMMs", engine.gemm()), batch), &batch, |b, _| {
                b.iter(|| engine.forward(&ints).expect("forward"))
            });
            g.bench_with_input(BenchmarkId::new("exact + trace", batch), &batch, |b, _| b.iter(|| engine.run(&ints).expect("run")));
        }
        g.finish();
    }
}

fn hashing(c: &mut Criterion) {
    let len = 16usize << 20;
    let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let mut g = c.benchmark_group("hashing/16MiB");
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("raw keccak256", |b| b.iter(|| black_box(keccak(&[&bytes]))));
    g.bench_function("tensor data root", |b| b.iter(|| black_box(data_root(&bytes))));
    // the data tree's leaves, 0x00 ‖ 256-byte chunk, hashed eight per permutation
    let leaves: Vec<[u8; 257]> = bytes.chunks_exact(CHUNK_SIZE).map(leaf_preimage).collect();
    let mut digests = vec![[0u8; 32]; leaves.len()];
    g.bench_function("grouped keccak256 of the leaves", |b| b.iter(|| refute_keccak::keccak256_many(&leaves, &mut digests)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = inference, hashing
}
criterion_main!(benches);
