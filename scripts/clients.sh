#!/usr/bin/env bash
# Installs the client libraries that tests/tests/clients.rs drives, each from its own registry,
# and prints what runs the client program:
#
#   scripts/clients.sh python   redis-py (PyPI, tests/clients/python/requirements.txt, pinned
#                               with hashes) in a venv; prints the venv's python
#   scripts/clients.sh node     ioredis (npm, tests/clients/node/package-lock.json) with npm ci
#                               into tests/clients/node/node_modules; prints node
#   scripts/clients.sh go       builds tests/clients/go against Debian's redigo and redisc;
#                               prints the binary
#   scripts/clients.sh all      all three (scripts/test.sh runs this before the tests)
#
# Idempotent and cached: each install lives under ~/.cache/seshat/clients (SESHAT_CACHE moves
# it), keyed by a hash of what it was built from, so a second run finds it and does nothing.
# A lock keeps concurrent runs (the client tests run in parallel) from installing twice.
#
# Go: the tests use Go's modules from Debian's packages, not go-redis v9 from the Go module
# proxy, because this project's machines and CI reach no Go module proxy (only crates.io,
# PyPI, npm and Debian). Debian 12 packages no go-redis v9 (nor does bookworm-backports); its
# go-redis v5 (golang-gopkg-redis.v5-dev) cannot read a Redis 7 server's COMMAND or CLUSTER
# SLOTS replies, so its ClusterClient never loads the slots. redigo with its cluster client
# redisc (golang-github-gomodule-redigo-dev, golang-github-mna-redisc-dev, listed in
# scripts/env.sh) is the Go client Debian has that works. Debian's Go libraries are source
# under /usr/share/gocode, built in GOPATH mode (as Debian builds them), so the program has no
# go.mod: the pins are the Debian package versions checked below.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cache="${SESHAT_CACHE:-$HOME/.cache/seshat}"
mkdir -p "$cache/clients"

log() { echo "clients.sh: $*" >&2; }

# A short hash of the files' contents and of the caller's `extra` strings (tool versions).
fingerprint() {
  { cat "$@" 2>/dev/null; printf '%s\n' "${extra[@]}"; } | sha256sum | cut -c1-16
}

install_python() {
  local requirements="$root/tests/clients/python/requirements.txt"
  local extra=("$(python3 -c 'import sys; print(sys.executable, sys.version)')")
  local venv="$cache/clients/python-$(fingerprint "$requirements")"
  if [ ! -e "$venv/.installed" ]; then
    log "installing redis-py into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes \
      -r "$requirements" >&2
    touch "$venv/.installed"
  fi
  echo "$venv/bin/python"
}

install_node() {
  local dir="$root/tests/clients/node"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    # Debian's Node.js (18 on Debian 12; ioredis 5 wants 12 or later). Not in scripts/env.sh's
    # list: a machine whose Node.js comes from elsewhere (nodesource's package bundles npm and
    # conflicts with Debian's) must keep it.
    log "installing Debian's nodejs and npm"
    local sudo_cmd=()
    [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  local extra=("$(node --version)")
  local stamp
  stamp=$(fingerprint "$dir/package.json" "$dir/package-lock.json")
  if [ "$(cat "$dir/node_modules/.seshat-installed" 2>/dev/null)" != "$stamp" ]; then
    log "installing ioredis into $dir/node_modules"
    (cd "$dir" && npm_config_cache="$cache/npm" npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$stamp" >"$dir/node_modules/.seshat-installed"
  fi
  command -v node
}

# The Debian packages the Go program is built from, at the versions it was tested with.
go_packages=(golang-github-gomodule-redigo-dev=1:1.8.3-1 golang-github-mna-redisc-dev=1.1.7-4)

install_go() {
  local extra=("$(go version)")
  local pinned
  for pinned in "${go_packages[@]}"; do
    local package=${pinned%%=*} version=${pinned#*=} installed
    installed=$(dpkg-query -W -f='${Version}' "$package" 2>/dev/null || true)
    if [ "$installed" != "$version" ]; then
      log "warning: $package is ${installed:-not installed}; the Go client test was pinned to $version"
    fi
    extra+=("$package=$installed")
  done
  local out="$cache/clients/go-$(fingerprint "$root"/tests/clients/go/*.go)/clients"
  if [ ! -x "$out" ]; then
    log "building the Go client program into $out"
    mkdir -p "$(dirname "$out")"
    (cd "$root/tests/clients/go" &&
      GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$cache/go-build" GOFLAGS= \
        go build -o "$out.partial" .)
    mv "$out.partial" "$out"
  fi
  echo "$out"
}

exec 9>"$cache/clients/.lock"
flock 9
case "${1:-}" in
  python) install_python ;;
  node) install_node ;;
  go) install_go ;;
  all)
    install_python >/dev/null
    install_node >/dev/null
    install_go >/dev/null
    ;;
  *)
    echo "usage: scripts/clients.sh python|node|go|all" >&2
    exit 2
    ;;
esac
