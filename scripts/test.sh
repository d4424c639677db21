#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, unit, property and
# cluster-harness tests, end-to-end tests against the real binary, and the simulations.
#
#   SESHAT_SEED=N          replay one seed of the core's cluster-harness tests
#   SESHAT_SEED_COUNT=N    how many seeds each harness test runs (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets -- -D warnings

step "tests"
cargo test --workspace

step "simulation build"
# The driver must keep compiling under madsim (issue #4 runs it there). A separate target dir
# keeps the --cfg madsim artifacts from invalidating the normal build.
RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/sim" \
  cargo build -p seshat-runtime-tokio --no-default-features
