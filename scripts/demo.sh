#!/usr/bin/env bash
# Runs the refute demo after installing what it needs (scripts/setup.sh).
# Usage: scripts/demo.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
. scripts/env.sh
(cd contracts && forge build --quiet)
# The same build as scripts/test.sh (the whole workspace with its tests): building
# one package alone unifies features differently and would rebuild RocksDB.
cargo test --quiet --workspace --locked --no-run
exec target/debug/refute demo "$@"
