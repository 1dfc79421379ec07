#!/usr/bin/env bash
# Runs every test of refute: the contracts (forge), the importer (pytest) and the
# Rust workspace (cargo), after installing what they need (scripts/setup.sh).
# Usage: scripts/test.sh        (CI runs exactly this through .ci/run)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

# CI always builds from clean, where incremental compilation's bookkeeping (its
# caches written beside every crate) only costs time.
if [ "${CI:-}" = "true" ]; then
    export CARGO_INCREMENTAL=0
fi

step "set-up"
scripts/setup.sh
. scripts/env.sh

# The lints come first: they fail in seconds where a test run takes many minutes.
step "lints: cargo fmt, forge fmt"
cargo fmt --all -- --check
(cd contracts && forge fmt --check)

# forge build (solc-js: one core, for minutes) runs beside clippy, whose first
# build compiles the dependencies meanwhile; refute-chain's build script waits for
# the artifacts while the flag file exists (crates/chain/build.rs).
step "contracts: forge build, beside clippy's build of the dependencies"
mkdir -p target
export REFUTE_CONTRACTS_BUILDING="$ROOT/target/.contracts-building"
touch "$REFUTE_CONTRACTS_BUILDING"
( cd contracts && forge build --quiet; rc=$?; rm -f "$REFUTE_CONTRACTS_BUILDING"; exit $rc ) &
forge_pid=$!
trap 'kill "$forge_pid" 2>/dev/null || true; rm -f "$REFUTE_CONTRACTS_BUILDING"' EXIT

step "lints: clippy, rustdoc links"
clippy_rc=0
cargo clippy --workspace --all-targets --locked -- -D warnings || clippy_rc=$?
if ! wait "$forge_pid"; then
    echo "forge build failed (its errors are above)" >&2
    exit 1
fi
trap - EXIT
unset REFUTE_CONTRACTS_BUILDING
[ "$clippy_rc" -eq 0 ] || exit "$clippy_rc"
RUSTDOCFLAGS="-D rustdoc::broken_intra_doc_links -D rustdoc::private_intra_doc_links" cargo doc --workspace --no-deps --locked --quiet

step "contracts: forge test"
(cd contracts && forge test)

step "rust: cargo test"
cargo test --workspace --locked

# After cargo, so that the importer's engine-agreement tests run against the built
# `refute` binary (fixture accuracy measured by the Rust engine, every op bit for bit).
step "importer: pytest"
REFUTE_BIN="$ROOT/target/debug/refute" PYTHONPATH=tools/importer .venv/bin/python -m pytest -q tools/importer/tests

step "demo: refute demo (every scenario must end as expected)"
target/debug/refute demo

step "demo: refute demo --block-time 0 (instant mining: a block per transaction)"
target/debug/refute demo --block-time 0

# The report's quick mode runs inside `cargo test` (benches/tests/report.rs).
# Criterion benchmarks run once each under `cargo test --benches`. Always
# `--workspace`: selecting one package changes feature unification and rebuilds
# RocksDB.
step "benches: criterion, each benchmark once (proves they still run)"
cargo test --workspace --locked --benches

step "all tests passed"
