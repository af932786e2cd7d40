#!/usr/bin/env bash
# The one test command (README, and CI through .ci/run): installs what the tests need,
# then runs the formatting, lint, test and bench-build gates.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# A target directory outside the clone, so repeated runs on one machine stay warm.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lookout-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== test dependencies"
bash scripts/python-env.sh >/dev/null
bash scripts/prometheus.sh >/dev/null

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== cargo bench --no-run"
cargo bench --workspace --locked --no-run
