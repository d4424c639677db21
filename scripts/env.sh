# Sourced by the other scripts: installs the system packages the build needs (once; later runs
# find them installed and do nothing) and points the build at them.
#
# - libclang-dev, clang: bindgen, for the RocksDB bindings.
# - librocksdb-dev: Debian's RocksDB 7.8, linked instead of compiling RocksDB from source
#   (3 minutes for the whole workspace instead of about 30 on two cores). Without it, the
#   rocksdb crate builds its bundled copy: slower, but works on any system.
# - protobuf-compiler: protoc, for the gRPC code in proto/.
# - redis-tools: redis-cli and redis-benchmark, for the end-to-end tests and benchmarks.
# - redis-server: the real Redis the differential test compares every reply with.
# - golang-go, golang-github-gomodule-redigo-dev, golang-github-mna-redisc-dev: Go and the Go
#   Redis clients (redigo, and redisc for cluster mode) that tests/tests/clients.rs drives;
#   scripts/clients.sh says why Debian's and not go-redis v9 from the Go module proxy.
# - python3-venv: the venv that scripts/clients.sh installs redis-py into, for Debian's
#   python3. (Node.js for ioredis is not listed: scripts/clients.sh installs Debian's only on
#   a machine without node and npm, so that a Node.js from elsewhere stays.)

seshat_packages=(libclang-dev clang librocksdb-dev protobuf-compiler redis-tools redis-server
  golang-go golang-github-gomodule-redigo-dev golang-github-mna-redisc-dev python3-venv)

seshat_missing_packages() {
  local missing=()
  for package in "${seshat_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  echo "${missing[@]:-}"
}

if command -v dpkg-query >/dev/null 2>&1; then
  missing=$(seshat_missing_packages)
  if [ -n "$missing" ]; then
    echo "installing system packages: $missing"
    sudo_cmd=()
    [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
else
  echo "not a Debian-like system: install clang, protoc and (optionally) RocksDB 7.x yourself" >&2
fi

# Link the system RocksDB when there is one.
for dir in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib; do
  if [ -e "$dir/librocksdb.so" ]; then
    export ROCKSDB_LIB_DIR="$dir" ROCKSDB_INCLUDE_DIR=/usr/include
    break
  fi
done
