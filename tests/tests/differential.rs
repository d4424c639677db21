//! Differential test: the same seeded command sequences go to a real Redis (Debian's
//! `redis-server`, no persistence, a free loopback port) and to the leader of a three-node
//! Seshat cluster, pipelined in batches of random size, and every reply is compared byte for
//! byte.
//!
//! `SESHAT_DIFF_SEEDS=N` runs N seeds (default 6: the fixed set CI runs), starting at
//! `SESHAT_DIFF_FIRST` (default 1); `SESHAT_DIFF_SEED=S` replays one seed. A failure prints the
//! seed, the command that differed and both replies. `SESHAT_DIFF_PIPELINE=1` sends one
//! command at a time.
//!
//! TTLs are long (or in the past), so timing cannot change which keys exist; the time left and
//! the deadlines of relative TTLs are compared within 2 s (see `agree`).
//!
//! The order of KEYS and SCAN differs by design (Redis's is its hash table's, Seshat's the key
//! positions'): their keys are compared as sets, and after some batches a full SCAN iteration
//! (random COUNT, MATCH and TYPE) runs on both and must return the same set. RANDOMKEY must be
//! nil on both or a key on both. FLUSHDB and FLUSHALL are compared byte for byte. TIME must be
//! `[seconds, microseconds]` on both, the seconds within 2 of each other.
//!
//! WATCH is checked with a second connection: now and then the first WATCHes some keys, the
//! second sends a few commands (which may change them), and the first runs a transaction,
//! which Redis and Seshat must both run or both abort.
//!
//! Differences by design are not generated: keys, values and commands over Seshat's size
//! limits, anything that needs a leader (the test talks to the leader), and connection
//! commands inside MULTI (Seshat refuses them).

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seshat_core::resp::decode_reply;
use seshat_core::Reply;
use seshat_tests::{Cluster, Peer, RedisServer};

/// Commands per seed.
const COMMANDS_PER_SEED: usize = 400;
/// Largest pipeline by default (`SESHAT_DIFF_PIPELINE` sets it): a batch is written in one
/// go, then its replies are read.
const BATCH_MAX: usize = 16;
/// Keys the commands touch: few, so that commands meet each other's keys.
const KEYS: &[&str] = &["k0", "k1", "k2", "k3", "k4", "{k}5"];

fn words(parts: &[&str]) -> Vec<Bytes> {
    parts
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

/// A value worth storing: numbers at the edges of i64, strings that almost parse as numbers,
/// and plain text.
fn value(rng: &mut ChaCha8Rng) -> String {
    const INTERESTING: &[&str] = &[
        "0",
        "1",
        "-1",
        "41",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775806",
        "-9223372036854775807",
        "01",
        "-0",
        "+1",
        " 1",
        "1.5",
        "",
        "abc",
        "x y z",
    ];
    if rng.gen_bool(0.6) {
        INTERESTING[rng.gen_range(0..INTERESTING.len())].to_owned()
    } else {
        let len = rng.gen_range(0..12);
        (0..len)
            .map(|_| char::from(rng.gen_range(b'a'..=b'z')))
            .collect()
    }
}

/// One random command: every string and key command Seshat has, right and wrong.
fn command(rng: &mut ChaCha8Rng) -> Vec<Bytes> {
    let key = |rng: &mut ChaCha8Rng| KEYS[rng.gen_range(0..KEYS.len())].to_owned();
    let keys = |rng: &mut ChaCha8Rng| -> Vec<String> {
        (0..rng.gen_range(1..5)).map(|_| key(rng)).collect()
    };
    let k = key(rng);
    let v = value(rng);
    let offset = |rng: &mut ChaCha8Rng| -> String {
        const OFFSETS: &[&str] = &["0", "1", "3", "-1", "-3", "-100", "100", "x", "01"];
        OFFSETS[rng.gen_range(0..OFFSETS.len())].to_owned()
    };
    let owned: Vec<String> = match rng.gen_range(0..46) {
        40 | 41 => vec!["INCRBYFLOAT".into(), k, float(rng)],
        42 => vec!["SET".into(), k, float(rng)],
        43 => {
            // Strings over a small alphabet, so that LCS finds runs to list.
            let len = rng.gen_range(0..16);
            let text = (0..len)
                .map(|_| char::from(b"abc"[rng.gen_range(0..3)]))
                .collect();
            vec!["SET".into(), k, text]
        }
        44 => {
            let other = key(rng);
            lcs(rng, k, other)
        }
        45 => vec!["TIME".into()],
        29..=37 => expiry_command(rng, k, v),
        24 | 25 => {
            let name = if rng.gen_bool(0.7) {
                "GETRANGE"
            } else {
                "SUBSTR"
            };
            vec![name.into(), k, offset(rng), offset(rng)]
        }
        26 => {
            if rng.gen_bool(0.5) {
                vec!["SETRANGE".into(), k, offset(rng), value(rng)]
            } else {
                vec!["APPEND".into(), k, value(rng)]
            }
        }
        27 => {
            let name = if rng.gen_bool(0.5) {
                "RENAME"
            } else {
                "RENAMENX"
            };
            vec![name.into(), k, key(rng)]
        }
        28 => {
            let mut copy = vec!["COPY".into(), k, key(rng)];
            if rng.gen_bool(0.4) {
                copy.push("REPLACE".into());
            }
            if rng.gen_bool(0.1) {
                copy.extend(["DB".into(), "0".into()]);
            }
            copy
        }
        0..=2 => vec!["GET".into(), k],
        3..=5 => {
            let mut set = vec!["SET".into(), k, v];
            for option in ["NX", "XX", "GET", "KEEPTTL", "nx", "get", "BOGUS"] {
                if rng.gen_bool(0.12) {
                    set.push(option.into());
                }
            }
            set
        }
        6 => vec!["SETNX".into(), k, v],
        7 => vec!["GETSET".into(), k, v],
        8 => vec!["GETDEL".into(), k],
        9 => vec!["STRLEN".into(), k],
        10 => ["MGET".to_owned()].into_iter().chain(keys(rng)).collect(),
        11 | 12 => {
            let name = if rng.gen_bool(0.5) { "MSET" } else { "MSETNX" };
            let mut args = vec![name.to_owned()];
            for key in keys(rng) {
                args.push(key);
                args.push(value(rng));
            }
            if rng.gen_bool(0.1) {
                args.pop(); // an odd count: the arity error
            }
            args
        }
        13 => vec!["INCR".into(), k],
        14 => vec!["DECR".into(), k],
        15 => vec!["INCRBY".into(), k, value(rng)],
        16 => vec!["DECRBY".into(), k, value(rng)],
        17 => ["DEL".to_owned()].into_iter().chain(keys(rng)).collect(),
        18 => ["UNLINK".to_owned()].into_iter().chain(keys(rng)).collect(),
        19 => ["EXISTS".to_owned()].into_iter().chain(keys(rng)).collect(),
        20 => ["TOUCH".to_owned()].into_iter().chain(keys(rng)).collect(),
        21 => vec!["TYPE".into(), k],
        22 => vec!["DBSIZE".into()],
        23 => match rng.gen_range(0..12) {
            0..=3 => vec!["KEYS".into(), pattern(rng)],
            4..=6 => {
                let mut scan = vec!["SCAN".into(), "0".into(), "COUNT".into(), "1000".into()];
                scan.extend(scan_options(rng));
                scan
            }
            7 | 8 => vec!["RANDOMKEY".into()],
            9 => vec!["FLUSHDB".into()],
            10 => vec!["FLUSHALL".into()],
            _ => {
                let mode = ["ASYNC", "SYNC", "async", "bogus"][rng.gen_range(0..4)];
                let name = if rng.gen_bool(0.5) {
                    "FLUSHDB"
                } else {
                    "FLUSHALL"
                };
                vec![name.into(), mode.into()]
            }
        },
        _ => {
            // Wrong arities and unknown options, answered before anything runs.
            let bad: &[&[&str]] = &[
                &["GET"],
                &["GET", "a", "b"],
                &["SET", "k0"],
                &["INCRBY", "k0"],
                &["MGET"],
                &["STRLEN", "a", "b"],
                &["TYPE"],
                &["DBSIZE", "x"],
                &["GETRANGE", "k0", "0"],
                &["COPY", "k0", "k1", "BOGUS"],
                &["COPY", "k0", "k0"],
                &["RENAME", "k0"],
                &["EXPIRE", "k0"],
                &["TTL"],
                &["PERSIST", "k0", "k1"],
                &["SETEX", "k0", "100"],
                &["GETEX"],
                &["KEYS"],
                &["KEYS", "*", "x"],
                &["SCAN"],
                &["SCAN", "x"],
                &["SCAN", "1.5"],
                &["SCAN", "0", "COUNT", "0"],
                &["SCAN", "0", "COUNT", "x"],
                &["SCAN", "0", "COUNT"],
                &["SCAN", "0", "MATCH"],
                &["SCAN", "0", "BOGUS", "1"],
                &["RANDOMKEY", "x"],
                &["FLUSHDB", "ASYNC", "SYNC"],
                &["FLUSHALL", "x"],
                &["INCRBYFLOAT", "k0"],
                &["INCRBYFLOAT", "k0", "1", "2"],
                &["LCS", "k0"],
                &["TIME", "x"],
            ];
            bad[rng.gen_range(0..bad.len())]
                .iter()
                .map(|w| (*w).to_owned())
                .collect()
        }
    };
    owned.into_iter().map(Bytes::from).collect()
}

/// A float for INCRBYFLOAT (or to store): plain decimals, exponents, hexadecimal, the edges
/// of `long double`, and texts strtold refuses. The incrbyfloat test covers the numbers in
/// depth; here they meet the other commands.
fn float(rng: &mut ChaCha8Rng) -> String {
    const FLOATS: &[&str] = &[
        "0.1",
        "-0.1",
        "1.5",
        "-2.5e3",
        "3.0e3",
        "1e-20",
        "123456789.123456789",
        "0x1p3",
        "0x1.8p-18",
        "+.5",
        "5.",
        "-0",
        "1e4932",
        "-1e4932",
        "1e-4951",
        "1e-5000",
        "1e5000",
        "inf",
        "-inf",
        "nan",
        " 1",
        "1 ",
        "",
        "1e",
        "0x",
        "abc",
        "9223372036854775807",
    ];
    if rng.gen_bool(0.5) {
        return FLOATS[rng.gen_range(0..FLOATS.len())].to_owned();
    }
    let whole = rng.gen_range(-1000i64..1000);
    let fraction = rng.gen_range(0..1_000_000u32);
    let exponent = ["", "e-3", "e2", "E+1"][rng.gen_range(0..4)];
    format!("{whole}.{fraction}{exponent}")
}

/// An LCS of `a` and `b` with random options, right and wrong.
fn lcs(rng: &mut ChaCha8Rng, a: String, b: String) -> Vec<String> {
    let mut words = vec!["LCS".to_owned(), a, b];
    for _ in 0..rng.gen_range(0..4) {
        match rng.gen_range(0..12) {
            0..=3 => words.push("IDX".into()),
            4 | 5 => words.push(["LEN", "len"][rng.gen_range(0..2)].into()),
            6 | 7 => words.push("WITHMATCHLEN".into()),
            8..=10 => {
                words.push("MINMATCHLEN".into());
                words.push(["0", "1", "2", "3", "-1", "x", "+1"][rng.gen_range(0..7)].into());
            }
            _ => words.push(["BOGUS", "MINMATCHLEN"][rng.gen_range(0..2)].into()),
        }
    }
    words
}

/// A glob pattern for KEYS and SCAN MATCH.
fn pattern(rng: &mut ChaCha8Rng) -> String {
    const PATTERNS: &[&str] = &[
        "*", "k*", "k?", "{k}*", "*[0-2]", "k[^1]", "\\{*", "x*", "k\\3",
    ];
    PATTERNS[rng.gen_range(0..PATTERNS.len())].to_owned()
}

/// SCAN's options after the cursor (COUNT aside).
fn scan_options(rng: &mut ChaCha8Rng) -> Vec<String> {
    let mut options = Vec::new();
    if rng.gen_bool(0.5) {
        options.extend(["MATCH".into(), pattern(rng)]);
    }
    if rng.gen_bool(0.2) {
        let kind = ["string", "STRING", "hash", "nosuchtype"][rng.gen_range(0..4)];
        options.extend(["TYPE".into(), kind.into()]);
    }
    options
}

/// A TTL: mostly long enough that timing cannot matter (the test takes seconds), sometimes
/// invalid, and absolute ones in the past, which delete the key at once on both. Not for SET:
/// Redis keeps a key SET with a deadline in the past until its expiry cycle (DBSIZE counts
/// it for up to 100 ms), where Seshat deletes it at once.
fn ttl(rng: &mut ChaCha8Rng, unit_ms: bool, absolute: bool) -> String {
    ttl_from(rng, unit_ms, absolute, true)
}

fn ttl_from(rng: &mut ChaCha8Rng, unit_ms: bool, absolute: bool, past: bool) -> String {
    const ODD: &[&str] = &[
        "0",
        "-1",
        "abc",
        "9223372036854775807",
        "9223372036854775",
        "01",
        "",
    ];
    if rng.gen_bool(0.15) {
        return ODD[rng.gen_range(0..ODD.len())].to_owned();
    }
    let scale: i64 = if unit_ms { 1000 } else { 1 };
    if absolute {
        if past && rng.gen_bool(0.2) {
            return rng.gen_range(1..1000).to_string(); // long past
        }
        // 2036 and later: far in the future.
        return (rng.gen_range(2_100_000_000i64..2_200_000_000) * scale).to_string();
    }
    (rng.gen_range(1000i64..1_000_000) * scale).to_string()
}

/// The expiry commands and SET's TTL options.
fn expiry_command(rng: &mut ChaCha8Rng, k: String, v: String) -> Vec<String> {
    let forms = [
        ("EX", false, false),
        ("PX", true, false),
        ("EXAT", false, true),
        ("PXAT", true, true),
    ];
    match rng.gen_range(0..9) {
        0 | 1 => {
            let mut set = vec!["SET".into(), k, v];
            if rng.gen_bool(0.2) {
                set.push(["NX", "XX", "GET"][rng.gen_range(0..3)].into());
            }
            let (word, ms, absolute) = forms[rng.gen_range(0..4)];
            set.extend([word.to_owned(), ttl_from(rng, ms, absolute, false)]);
            if rng.gen_bool(0.08) {
                let (word, ms, absolute) = forms[rng.gen_range(0..4)];
                set.extend([word.to_owned(), ttl_from(rng, ms, absolute, false)]);
            }
            if rng.gen_bool(0.05) {
                set.push("KEEPTTL".into());
            }
            set
        }
        2 => {
            let ms = rng.gen_bool(0.5);
            let name = if ms { "PSETEX" } else { "SETEX" };
            vec![name.into(), k, ttl(rng, ms, false), v]
        }
        3 => {
            let mut getex = vec!["GETEX".into(), k];
            match rng.gen_range(0..6) {
                0 => {}
                1 => getex.push("PERSIST".into()),
                _ => {
                    let (word, ms, absolute) = forms[rng.gen_range(0..4)];
                    getex.extend([word.to_owned(), ttl(rng, ms, absolute)]);
                }
            }
            if rng.gen_bool(0.05) {
                getex.push("PERSIST".into());
            }
            getex
        }
        4 | 5 => {
            let (name, ms, absolute) = [
                ("EXPIRE", false, false),
                ("PEXPIRE", true, false),
                ("EXPIREAT", false, true),
                ("PEXPIREAT", true, true),
            ][rng.gen_range(0..4)];
            let mut expire = vec![name.into(), k, ttl(rng, ms, absolute)];
            for flag in ["NX", "XX", "GT", "LT", "gt", "BOGUS"] {
                if rng.gen_bool(0.1) {
                    expire.push(flag.into());
                }
            }
            expire
        }
        6 => vec!["PERSIST".into(), k],
        _ => {
            let name = ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"][rng.gen_range(0..4)];
            vec![name.into(), k]
        }
    }
}

/// Whether the order of `command`'s reply, or which key it names, is the server's choice.
fn is_unordered(command: &[Bytes]) -> bool {
    ["KEYS", "SCAN", "RANDOMKEY"]
        .iter()
        .any(|name| command[0].eq_ignore_ascii_case(name.as_bytes()))
}

fn decode(raw: &[u8]) -> Reply {
    decode_reply(&mut BytesMut::from(raw))
        .expect("a well-formed reply")
        .expect("a whole reply")
}

/// The keys of a KEYS reply as a set; `None` if it is not an array of bulk strings.
fn key_set(reply: &Reply) -> Option<BTreeSet<Bytes>> {
    let (Reply::Array(keys) | Reply::Set(keys)) = reply else {
        return None;
    };
    keys.iter()
        .map(|key| match key {
            Reply::Bulk(key) => Some(key.clone()),
            _ => None,
        })
        .collect()
}

/// A SCAN reply's cursor and keys.
fn scan_reply(reply: &Reply) -> Option<(Bytes, BTreeSet<Bytes>)> {
    let Reply::Array(parts) = reply else {
        return None;
    };
    match parts.as_slice() {
        [Reply::Bulk(cursor), keys] => Some((cursor.clone(), key_set(keys)?)),
        _ => None,
    }
}

/// Every key a full SCAN iteration with `options` returns, or the raw reply of the first
/// call that failed.
fn full_scan(peer: &mut Peer, options: &[String]) -> Result<BTreeSet<Bytes>, Vec<u8>> {
    let mut cursor = Bytes::from_static(b"0");
    let mut keys = BTreeSet::new();
    for _ in 0..1000 {
        let mut command = vec![Bytes::from_static(b"SCAN"), cursor.clone()];
        command.extend(options.iter().cloned().map(Bytes::from));
        let raw = peer.pipeline(&[command]).remove(0);
        let Some((next, batch)) = scan_reply(&decode(&raw)) else {
            return Err(raw);
        };
        keys.extend(batch);
        if next.as_ref() == b"0" {
            return Ok(keys);
        }
        cursor = next;
    }
    panic!("a SCAN iteration over a few keys did not end");
}

/// Whether `command` is TIME, whose reply is compared by shape and within 2 s.
fn is_time(command: &[Bytes]) -> bool {
    command[0].eq_ignore_ascii_case(b"TIME")
}

/// A TIME reply's seconds, if it is `[seconds, microseconds]` as bulk strings with the
/// microseconds under a million.
fn time_seconds(reply: &[u8]) -> Option<u64> {
    let Reply::Array(parts) = decode(reply) else {
        return None;
    };
    let number = |part: &Reply| match part {
        Reply::Bulk(text) => std::str::from_utf8(text).ok()?.parse::<u64>().ok(),
        _ => None,
    };
    match parts.as_slice() {
        [seconds, micros] if number(micros)? < 1_000_000 => number(seconds),
        _ => None,
    }
}

/// Whether `command` reads a time left or a deadline.
fn is_timed(command: &[Bytes]) -> bool {
    ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]
        .iter()
        .any(|name| command[0].eq_ignore_ascii_case(name.as_bytes()))
}

/// Whether two replies to `command` agree. Byte for byte, except the time left or the deadline
/// of a key set with a relative TTL, which depend on when each server ran the command: those
/// integers may differ by the test's own timing (2 s), and must otherwise be equal.
fn agree(command: &[Bytes], want: &[u8], got: &[u8]) -> bool {
    if want == got {
        return true;
    }
    if is_unordered(command) {
        let (want, got) = (decode(want), decode(got));
        if command[0].eq_ignore_ascii_case(b"RANDOMKEY") {
            return matches!(
                (&want, &got),
                (Reply::Null, Reply::Null) | (Reply::Bulk(_), Reply::Bulk(_))
            );
        }
        if command[0].eq_ignore_ascii_case(b"SCAN") {
            return scan_reply(&want).is_some() && scan_reply(&want) == scan_reply(&got);
        }
        return key_set(&want).is_some() && key_set(&want) == key_set(&got);
    }
    if is_time(command) && want.starts_with(b"*") {
        return match (time_seconds(want), time_seconds(got)) {
            (Some(a), Some(b)) => a.abs_diff(b) <= 2,
            _ => false,
        };
    }
    let timed = is_timed(command);
    let integer = |reply: &[u8]| -> Option<i64> {
        std::str::from_utf8(reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?)
            .ok()?
            .parse()
            .ok()
    };
    match (timed, integer(want), integer(got)) {
        (true, Some(a), Some(b)) if a >= 0 && b >= 0 => {
            let ms = command[0].to_ascii_uppercase().starts_with(b"P");
            (a - b).abs() <= if ms { 2000 } else { 2 }
        }
        _ => false,
    }
}

/// A command's words, for a failure message.
fn printable(command: &[Bytes]) -> Vec<String> {
    command
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

/// Inside a transaction a reply is one array: keep the timed reads out of it, and so KEYS,
/// SCAN and RANDOMKEY, whose replies are compared unordered. TIME is answered by the node
/// alone, which Seshat refuses inside MULTI (a difference by design).
fn keep_out_of_transactions(command: &mut [Bytes]) {
    if is_timed(command) || is_unordered(command) || is_time(command) {
        command[0] = Bytes::from_static(b"EXISTS");
    }
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\\r\\n")
}

fn seeds() -> Vec<u64> {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(seed) = var("SESHAT_DIFF_SEED") {
        return vec![seed];
    }
    let first = var("SESHAT_DIFF_FIRST").unwrap_or(1);
    (first..first + var("SESHAT_DIFF_SEEDS").unwrap_or(6)).collect()
}

#[test]
fn replies_match_a_real_redis_byte_for_byte() {
    // Goal: Seshat answers every string and key command as Redis 7 does, in RESP2 and RESP3,
    // pipelined or not. Method: the same seeded sequences to both, replies compared raw.
    let redis = RedisServer::start();
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(15));
    let seshat_port = cluster.nodes[leader].client_port;
    let batch_max = std::env::var("SESHAT_DIFF_PIPELINE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BATCH_MAX);
    let mut compared = 0;
    for seed in seeds() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut expected = Peer::connect(redis.port);
        let mut actual = Peer::connect(seshat_port);
        // The second connection, for the changes a WATCH must notice.
        let mut other_expected = Peer::connect(redis.port);
        let mut other_actual = Peer::connect(seshat_port);
        // A clean keyspace on both, then RESP3 for half the seeds.
        let mut setup = vec![["DEL".to_owned()]
            .into_iter()
            .chain(KEYS.iter().map(|k| (*k).to_owned()))
            .map(Bytes::from)
            .collect::<Vec<_>>()];
        if seed % 2 == 0 {
            setup.push(words(&["HELLO", "3"]));
        }
        expected.pipeline(&setup);
        actual.pipeline(&setup);
        let mut sent = 0;
        while sent < COMMANDS_PER_SEED {
            let size = rng.gen_range(1..=batch_max).min(COMMANDS_PER_SEED - sent);
            let mut batch: Vec<Vec<Bytes>> = (0..size).map(|_| command(&mut rng)).collect();
            let watching = rng.gen_bool(0.12);
            if watching {
                let mut watch = vec![Bytes::from_static(b"WATCH")];
                for _ in 0..rng.gen_range(1..=3) {
                    watch.push(Bytes::from_static(
                        KEYS[rng.gen_range(0..KEYS.len())].as_bytes(),
                    ));
                }
                let mut first = vec![watch];
                if rng.gen_bool(0.1) {
                    first.push(words(&["UNWATCH"]));
                }
                let others: Vec<Vec<Bytes>> = (0..rng.gen_range(0..4))
                    .map(|_| command(&mut rng))
                    .collect();
                for (batch, on_redis, on_seshat) in [
                    (&first, &mut expected, &mut actual),
                    (&others, &mut other_expected, &mut other_actual),
                ] {
                    let want = on_redis.pipeline(batch);
                    let got = on_seshat.pipeline(batch);
                    for (i, (want, got)) in want.iter().zip(&got).enumerate() {
                        assert!(
                            agree(&batch[i], want, got),
                            "seed {seed}, around a WATCH after command {sent}, {:?}:\n  \
                             redis:  {}\n  seshat: {}\n\
                             reproduce: SESHAT_DIFF_SEED={seed} cargo test -p seshat-tests \
                             --test differential",
                            printable(&batch[i]),
                            show(want),
                            show(got),
                        );
                    }
                    compared += batch.len();
                }
            }
            if watching || rng.gen_bool(0.15) {
                // A transaction around part of the batch (its errors included: EXECABORT).
                let start = rng.gen_range(0..batch.len());
                let end = rng.gen_range(start..=batch.len());
                for queued in &mut batch[start..end] {
                    keep_out_of_transactions(queued);
                }
                batch.insert(end, words(&["EXEC"]));
                batch.insert(start, words(&["MULTI"]));
            } else if rng.gen_bool(0.03) {
                batch.push(words(&["MULTI"]));
                let mut queued = command(&mut rng);
                keep_out_of_transactions(&mut queued);
                batch.push(queued);
                batch.push(words(&["DISCARD"]));
            }
            let want = expected.pipeline(&batch);
            let got = actual.pipeline(&batch);
            for (i, (want, got)) in want.iter().zip(&got).enumerate() {
                if agree(&batch[i], want, got) {
                    continue;
                }
                // The nodes' logs show a panic, if a node died.
                panic!(
                    "seed {seed}, command {} of the seed, {:?}:\n  redis:  {}\n  seshat: {}\n\
                     reproduce: SESHAT_DIFF_SEED={seed} cargo test -p seshat-tests --test \
                     differential\n{}",
                    sent + i,
                    printable(&batch[i]),
                    show(want),
                    show(got),
                    cluster.logs(),
                );
            }
            sent += size;
            compared += batch.len();
            if rng.gen_bool(0.2) {
                let mut options = scan_options(&mut rng);
                if rng.gen_bool(0.8) {
                    options.extend(["COUNT".into(), rng.gen_range(1..4).to_string()]);
                }
                let want = full_scan(&mut expected, &options);
                let got = full_scan(&mut actual, &options);
                assert_eq!(
                    want, got,
                    "seed {seed}, a full SCAN {options:?} after command {sent}\n\
                     reproduce: SESHAT_DIFF_SEED={seed} cargo test -p seshat-tests --test \
                     differential"
                );
                compared += 1;
            }
        }
    }
    println!("compared {compared} replies with redis-server");
}
