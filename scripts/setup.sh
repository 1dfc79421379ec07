#!/usr/bin/env bash
# Installs everything refute needs, idempotently:
#   - libclang-dev (apt)           bindgen, for RocksDB's Rust bindings
#   - .venv/ with torch 2.13.0 ... the libtorch that `tch` links, plus the importer's
#                                  Python dependencies (requirements.txt)
#   - node_modules/ (npm ci)       Foundry 1.7.1 (forge, anvil, cast), solc-js 0.8.37,
#                                  forge-std, pinned by package-lock.json
#   - rustfmt and clippy (rustup)  the lints the test command runs
# A second run that finds everything in place takes a few seconds: each part is
# skipped when a stamp file records that its pinned inputs were already installed.
# Source it (`. scripts/setup.sh`) or run it; scripts/env.sh puts the tools on PATH.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '[setup] %s\n' "$*" >&2; }

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- libclang (bindgen for librocksdb-sys) ----------------------------------
if ! ldconfig -p 2>/dev/null | grep -q 'libclang\(-[0-9.]*\)\?\.so' \
   && ! ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1; then
    log "installing libclang-dev (apt)"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev >/dev/null
fi

# --- Python virtualenv with torch --------------------------------------------
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
req_hash="$(sha256sum requirements.txt | cut -d' ' -f1)"
if ! stamp_ok .venv/.refute-stamp "$req_hash"; then
    log "installing Python packages into .venv (torch is ~5 GB the first time)"
    # torch with its CUDA wheels unpacks to about 5 GB: say so before pip fails
    # half-way with ENOSPC
    free_kb="$(df -Pk . | awk 'NR==2 {print $4}')"
    if [ "${free_kb:-0}" -lt $((6 * 1024 * 1024)) ]; then
        log "warning: $((free_kb / 1024)) MiB free here; installing torch needs about 6 GB"
    fi
    [ -x .venv/bin/python ] || python3 -m venv .venv
    # no wheel cache: it would keep a second copy of those gigabytes
    .venv/bin/pip install --quiet --disable-pip-version-check --no-cache-dir -r requirements.txt
    echo "$req_hash" > .venv/.refute-stamp
fi

# --- Foundry and solc from npm -----------------------------------------------
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if ! stamp_ok node_modules/.refute-stamp "$lock_hash"; then
    log "installing Foundry and solc (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    echo "$lock_hash" > node_modules/.refute-stamp
fi

# --- rustfmt and clippy -----------------------------------------------------------
if command -v rustup >/dev/null 2>&1; then
    installed="$(rustup component list --installed 2>/dev/null || true)"
    for c in rustfmt clippy; do
        if ! grep -q "^$c" <<<"$installed"; then
            log "installing $c (rustup)"
            rustup component add "$c" >/dev/null
        fi
    done
fi

log "ready: $(node_modules/.bin/forge --version | head -1), torch $(.venv/bin/python -c 'import torch; print(torch.__version__)')"
