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

if [ -d tools/importer/tests ]; then
    step "importer: pytest"
    PYTHONPATH=tools/importer .venv/bin/python -m pytest -q tools/importer/tests
fi

step "rust: cargo test"
cargo test --workspace --locked

step "benches: quick run (proves they still run; figures are not meaningful)"
cargo run --quiet --locked -p refute-benches --bin report -- --quick >/dev/null

step "all tests passed"
