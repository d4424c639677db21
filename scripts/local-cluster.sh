#!/usr/bin/env bash
# Runs a local three-node Seshat cluster on 127.0.0.1 (clients: 6379-6381, internal:
# 7379-7381, data under ./data) as three processes, built in release mode. Ctrl-C stops it.
#
# Connect with: redis-cli -c -p 6379
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
cargo build --release -p seshat-runtime-tokio --bin seshat
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/seshat" local
