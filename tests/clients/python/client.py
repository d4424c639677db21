"""redis-py against a three-node Seshat cluster, driven by tests/tests/clients.rs.

    python client.py cluster HOST:PORT       RedisCluster, seeded with one node (any node)
    python client.py plain-resp2 HOST:PORT   Redis(protocol=2), pointed at the leader
    python client.py plain-resp3 HOST:PORT   Redis(protocol=3), pointed at the leader
    python client.py forward-resp2 HOST:PORT Redis(protocol=2), pointed only at a follower of a
                                             cluster whose followers forward
    python client.py forward-resp3 HOST:PORT the same over RESP3

The line protocol shared by every client program (tests/tests/clients.rs documents it):
the program checks SET/GET/DEL/MGET and pipelines, prints `ready`, then writes one key every
few milliseconds while the test kills the leader. The test says `killed` on stdin when it has
(a plain client's node then comes back as leader, and the test says `back`). The program waits
for the client to recover by itself: the first write that succeeds after the last signal ends
the wait (`recovered ...`). Every later write must succeed at once; finally every write the
client saw acknowledged must read back (`verified ...`). Exit status 0 means all of that held.
"""

import sys
import threading
import time

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

# How long the client gets to recover once the test has said its last signal, and how long
# it waits for the signals.
RECOVERY_SECS = 15
SIGNALS_SECS = 60
WRITES_AFTER_RECOVERY = 50


def fail(message):
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def say(line):
    print(line, flush=True)


def expect(what, got, want):
    if got != want:
        fail(f"{what}: got {got!r}, want {want!r}")


def connect(mode, addr):
    host, port = addr.rsplit(":", 1)
    port = int(port)
    # The retry options a user would set: a few retries with a short backoff. RedisCluster
    # retries a command on ConnectionError, TimeoutError and ClusterDownError, reloading the
    # slots each time; a plain Redis retries on the same address.
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=5)
    common = dict(socket_timeout=5, socket_connect_timeout=2, decode_responses=True)
    if mode == "cluster":
        return RedisCluster(startup_nodes=[ClusterNode(host, port)], retry=retry, **common)
    protocol = {"plain-resp2": 2, "plain-resp3": 3, "forward-resp2": 2, "forward-resp3": 3}[mode]
    return redis.Redis(
        host=host,
        port=port,
        protocol=protocol,
        retry=retry,
        retry_on_error=[ConnectionError, TimeoutError],
        **common,
    )


def basics(client, mode, acked):
    """SET/GET/DEL/MGET and pipelines; records every acknowledged write in `acked`."""
    expect("PING", client.ping(), True)
    expect("SET", client.set("py:a", "1"), True)
    acked["py:a"] = "1"
    expect("GET", client.get("py:a"), "1")
    expect("SET", client.set("py:gone", "x"), True)
    expect("DEL", client.delete("py:gone"), 1)
    expect("GET after DEL", client.get("py:gone"), None)
    # MGET's keys share a hash tag, as cluster clients require of multi-key commands.
    for key, value in [("{py}:m1", "v1"), ("{py}:m2", "v2")]:
        expect("SET", client.set(key, value), True)
        acked[key] = value
    expect("MGET", client.mget("{py}:m1", "{py}:m2", "{py}:none"), ["v1", "v2", None])
    if mode == "cluster":
        # Keys in different slots: RedisCluster splits the MGET by slot.
        expect("MGET across slots", client.mget_nonatomic("py:a", "{py}:m1"), ["1", "v1"])

    # A pipeline (RedisCluster's is never a transaction; a plain one is sent as is).
    pipe = client.pipeline(transaction=False)
    for i in range(20):
        pipe.set(f"py:pipe:{i}", str(i))
    pipe.get("py:pipe:0")
    pipe.incr("py:counter")
    pipe.delete("py:pipe:19")
    pipe.get("py:pipe:19")
    replies = pipe.execute()
    expect("pipeline", replies, [True] * 20 + ["0", 1, 1, None])
    for i in range(19):
        acked[f"py:pipe:{i}"] = str(i)
    acked["py:counter"] = "1"

    if mode != "cluster":
        # A pipeline that reads its own writes: interleaved SET/GET of one key, which must
        # take effect in the order sent (through a forwarding follower too).
        pipe = client.pipeline(transaction=False)
        for i in range(20):
            pipe.set("py:own", str(i))
            pipe.get("py:own")
        expect("SET/GET pipeline", pipe.execute(), [r for i in range(20) for r in (True, str(i))])
        acked["py:own"] = "19"

        # MULTI/EXEC, as a plain client's pipeline(transaction=True) sends it.
        tx = client.pipeline(transaction=True)
        tx.set("{py}:tx", "in-tx").incr("py:counter").get("{py}:tx")
        expect("MULTI/EXEC", tx.execute(), [True, 2, "in-tx"])
        acked["{py}:tx"] = "in-tx"
        acked["py:counter"] = "2"


def write_and_read(client, key, value):
    """SET then GET of a fresh key in one pipeline. Raises the SET's error if it failed (the
    write is then not acknowledged); fails the run if the GET read a wrong value."""
    pipe = client.pipeline(transaction=False)
    pipe.set(key, value)
    pipe.get(key)
    written, read = pipe.execute(raise_on_error=False)
    if isinstance(read, Exception):
        pass  # No answer is not a wrong answer.
    elif written is True and read != value:
        fail(f"GET {key} right after its acknowledged SET read {read!r}, want {value!r}")
    elif written is not True and read not in (None, value):
        fail(f"GET {key} after its failed SET read {read!r}, want None or {value!r}")
    if isinstance(written, Exception):
        raise written
    expect(f"SET {key}", written, True)


def main():
    mode, addr = sys.argv[1], sys.argv[2]
    client = connect(mode, addr)
    acked = {}
    basics(client, mode, acked)
    say(f"ready acked={len(acked)}")

    # The test's signals arrive on stdin while the main thread writes.
    signals = {}
    by_itself = mode == "cluster" or mode.startswith("forward-")
    wanted = ["killed"] if by_itself else ["killed", "back"]

    def listen():
        for line in sys.stdin:
            signals[line.strip()] = time.monotonic()

    threading.Thread(target=listen, daemon=True).start()

    ready_at = time.monotonic()
    errors = {}
    i = 0
    recovered = None
    while recovered is None:
        started = time.monotonic()
        last_signal = max((signals.get(s, 0) for s in wanted), default=0)
        all_said = all(s in signals for s in wanted)
        if not all_said and started > ready_at + SIGNALS_SECS:
            fail(f"no signal within {SIGNALS_SECS}s")
        if all_said and started > last_signal + RECOVERY_SECS:
            fail(f"no write succeeded within {RECOVERY_SECS}s of '{wanted[-1]}': {errors}")
        key, value = f"py:w:{i}", str(i)
        i += 1
        try:
            if mode.startswith("forward-"):
                write_and_read(client, key, value)
            else:
                client.set(key, value)
        except Exception as error:  # the library gave up on this write: not acknowledged
            name = type(error).__name__
            if name not in errors:
                print(f"write failed ({name}): {error}", file=sys.stderr, flush=True)
            errors[name] = errors.get(name, 0) + 1
            time.sleep(0.05)
            continue
        acked[key] = value
        if all_said and started > last_signal:
            recovered = time.monotonic() - last_signal
        time.sleep(0.01)
    failed = sum(errors.values())
    summary = ",".join(f"{name}:{count}" for name, count in sorted(errors.items())) or "none"
    say(f"recovered after_ms={recovered * 1000:.0f} failed_writes={failed} errors={summary}")

    # Recovered: from now on every call succeeds the first time.
    for j in range(WRITES_AFTER_RECOVERY):
        key = f"py:after:{j}"
        expect(f"SET {key}", client.set(key, str(j)), True)
        acked[key] = str(j)
    pipe = client.pipeline(transaction=False)
    for j in range(10):
        pipe.set(f"py:after-pipe:{j}", str(j))
    expect("pipeline after recovery", pipe.execute(), [True] * 10)
    for j in range(10):
        acked[f"py:after-pipe:{j}"] = str(j)

    # Every acknowledged write is there.
    for key, value in acked.items():
        expect(f"GET {key}", client.get(key), value)
    expect("GET after DEL", client.get("py:pipe:19"), None)
    expect("MGET", client.mget("{py}:m1", "{py}:m2"), ["v1", "v2"])
    say(f"verified acked={len(acked)} writes_tried={i}")


if __name__ == "__main__":
    main()
