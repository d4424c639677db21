#!/usr/bin/env bash
# Seshat's deterministic simulation (madsim). It needs `--cfg madsim`, so it builds in its own
# target dir (target/sim) and never invalidates the normal build.
#
#   scripts/sim.sh test [cargo test args]      the simulation tests (scripts/test.sh runs them)
#   scripts/sim.sh run --scenario NAME --seed N [--plant BUG] [--depth N]   replay one run exactly
#   scripts/sim.sh sweep [--scenario NAME] [--seeds 1000] [--first 0] [--plant BUG] [--depth N]
#   scripts/sim.sh list                        the scenarios
#
# `run`, `sweep` and `list` use a release build (about 100x faster than debug); a seed replays
# the same in both.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg madsim"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/sim"

command="${1:-}"
shift || true
case "$command" in
  test) exec cargo test -p seshat-runtime-sim "$@" ;;
  clippy) exec cargo clippy -p seshat-runtime-sim --all-targets -- -D warnings ;;
  run | sweep | list) exec cargo run --release -q -p seshat-runtime-sim --bin seshat-sim -- "$command" "$@" ;;
  *)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac
