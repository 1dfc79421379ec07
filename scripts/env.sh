# Sourced by the project's scripts: puts the pinned tools first on PATH.
# (cargo finds libtorch through .cargo/config.toml; nothing else is needed.)
REFUTE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$REFUTE_ROOT/node_modules/.bin:$REFUTE_ROOT/.venv/bin:$PATH"
