#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, unit, property and
# cluster-harness tests, end-to-end tests against the real binary, and the simulations.
#
#   SESHAT_SEED=N          replay one seed of the core's cluster-harness tests
#   SESHAT_SEED_COUNT=N    how many seeds each harness test runs (default 100)
#   SESHAT_SIM_SEEDS=N     fixed seeds per simulated chaos scenario (default 10)
#   SESHAT_SIM_FRESH=N     fresh random seeds added to each scenario (default 2)
#
# The fuzzing property tests (core/tests/hostile_peer.rs, core/tests/resp_fuzz.rs) run a short
# pass here, their default case count; PROPTEST_CASES makes them long (README, "Fuzzing").
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

# Each step prints how long the one before it took.
last=$SECONDS
step() {
  printf '\n== %s (previous step: %ss)\n' "$*" "$((SECONDS - last))"
  last=$SECONDS
}

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets -- -D warnings

step "client libraries"
# redis-py, ioredis and the Go clients for tests/tests/clients.rs, each from its registry
# (cached under ~/.cache/seshat: a second run only checks).
scripts/clients.sh all

step "tests"
cargo test --workspace

step "simulation lints"
# The simulation build (--cfg madsim) lives in its own target dir: see scripts/sim.sh.
scripts/sim.sh clippy

step "simulations"
# Every chaos scenario over the fixed seeds plus fresh random ones (SESHAT_SIM_SEEDS,
# SESHAT_SIM_FRESH); a failure prints the line that replays it.
scripts/sim.sh test

step "done"
