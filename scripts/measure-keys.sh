#!/usr/bin/env bash
# Measures how long KEYS * and FLUSHALL stall a node's driver on a large keyspace.
#
# Starts a three-node cluster (release build; client ports BASE..BASE+2, internal ports
# BASE+1000..BASE+1002, data in a temp dir), loads N keys into the leader with
# `redis-cli --pipe`, then runs `KEYS *` and `FLUSHALL` while a poller sends INFO (answered by
# the driver itself, no consensus) to every node every 5 ms. The largest gap between two INFO
# replies of a node bounds that node's longest driver stall from below; the Raft term before
# and after shows whether the stall cost an election. Compare with the election timeout
# (500-1000 ms here): the goal is a stall under 1/10 of it.
#
# Usage: scripts/measure-keys.sh [N=1000000] [BASE=16500]
# SESHAT_PROFILE=debug uses the debug binary instead (slower, so it overstates the stalls).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh >/dev/null
n="${1:-1000000}"
base="${2:-16500}"
target_dir="${CARGO_TARGET_DIR:-target}"
profile="${SESHAT_PROFILE:-release}"
if [ "$profile" = release ]; then
    cargo build --release -p seshat-runtime-tokio --bin seshat
else
    cargo build -p seshat-runtime-tokio --bin seshat
fi
exe="$target_dir/$profile/seshat"
dir="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
for i in 1 2 3; do
    sed -e "s/127.0.0.1:6379/127.0.0.1:$base/g; s/127.0.0.1:6380/127.0.0.1:$((base + 1))/g; s/127.0.0.1:6381/127.0.0.1:$((base + 2))/g" config/node$i.toml \
        | sed -e "s/127.0.0.1:7379/127.0.0.1:$((base + 1000))/g; s/127.0.0.1:7380/127.0.0.1:$((base + 1001))/g; s/127.0.0.1:7381/127.0.0.1:$((base + 1002))/g" \
        | sed -e "s#\./data/node$i#$dir/node$i#" >"$dir/node$i.toml"
    "$exe" --config "$dir/node$i.toml" >"$dir/node$i.log" 2>&1 &
    pids+=($!)
done
leader=""
for _ in $(seq 1 100); do
    for port in $base $((base + 1)) $((base + 2)); do
        if [ "$(redis-cli -p "$port" SET probe 1 2>/dev/null)" = "OK" ]; then leader=$port; fi
    done
    [ -n "$leader" ] && break
    sleep 0.2
done
[ -n "$leader" ] || { echo "no leader"; exit 1; }
echo "leader: $leader; loading $n keys"
start=$(date +%s.%N)
python3 -c "
import sys
out = sys.stdout.buffer
for i in range($n):
    k = b'key:%d' % i
    out.write(b'*3\r\n\$3\r\nSET\r\n\$%d\r\n%s\r\n\$5\r\nvalue\r\n' % (len(k), k))
" | redis-cli -p "$leader" --pipe | tail -1
echo "loaded in $(echo "$(date +%s.%N) - $start" | bc) s; DBSIZE $(redis-cli -p "$leader" DBSIZE)"
python3 - "$base" "$leader" <<'EOF'
import socket, sys, threading, time
base, leader = int(sys.argv[1]), int(sys.argv[2])
ports = [base, base + 1, base + 2]

def command(sock, *words):
    sock.sendall(b"".join([b"*%d\r\n" % len(words)] + [b"$%d\r\n%s\r\n" % (len(w), w) for w in words]))

def read_reply(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b"-", b":"):
        return rest
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        return [read_reply(f) for _ in range(int(rest))]
    raise ValueError(line)

def terms():
    out = {}
    for port in ports:
        s = socket.create_connection(("127.0.0.1", port))
        command(s, b"INFO", b"raft")
        info = read_reply(s.makefile("rb")).decode()
        out[port] = [part for line in info.split("\r\n") for part in line.split(",") if part.startswith("term=")]
        s.close()
    return out

stop = threading.Event()
gaps = {port: 0.0 for port in ports}

def poll(port):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    last = time.monotonic()
    while not stop.is_set():
        command(s, b"INFO", b"server")
        read_reply(f)
        now = time.monotonic()
        gaps[port] = max(gaps[port], now - last)
        last = now
        time.sleep(0.005)

def measure(label, *words):
    for port in ports:
        gaps[port] = 0.0
    stop.clear()
    threads = [threading.Thread(target=poll, args=(port,)) for port in ports]
    for t in threads:
        t.start()
    time.sleep(0.5)
    before = terms()
    s = socket.create_connection(("127.0.0.1", leader))
    f = s.makefile("rb")
    start = time.monotonic()
    command(s, *words)
    reply = read_reply(f)
    took = time.monotonic() - start
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join()
    after = terms()
    size = len(reply) if isinstance(reply, list) else reply
    print(f"{label}: reply {size!r} in {took * 1000:.0f} ms; largest INFO gap per node (ms): "
          + ", ".join(f"{port}: {gaps[port] * 1000:.0f}" for port in ports)
          + f"; terms before {before} after {after}")

measure("KEYS *", b"KEYS", b"*")
measure("SCAN 0 COUNT 1000", b"SCAN", b"0", b"COUNT", b"1000")
measure("FLUSHALL", b"FLUSHALL")
measure("KEYS * (empty)", b"KEYS", b"*")
EOF
