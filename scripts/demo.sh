#!/usr/bin/env bash
# Runs the refute demo after installing what it needs (scripts/setup.sh).
# Usage: scripts/demo.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
. scripts/env.sh
(cd contracts && forge build --quiet)
cargo build --quiet --locked -p refute-cli
exec target/debug/refute demo "$@"
