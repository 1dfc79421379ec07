#!/usr/bin/env bash
# Runs every test of refute: the contracts (forge), the importer (pytest) and the
# Rust workspace (cargo), after installing what they need (scripts/setup.sh).
# Usage: scripts/test.sh        (CI runs exactly this through .ci/run)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

step "set-up"
scripts/setup.sh
. scripts/env.sh

step "contracts: forge build"
(cd contracts && forge build --quiet)

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

step "benches: quick run (proves they still run; figures are not meaningful)"
# criterion benchmarks run once each under `cargo test`; the report in its quick mode
cargo test --workspace --locked --benches
cargo run --quiet --locked -p refute-benches --bin report -- --quick >/dev/null

step "all tests passed"
