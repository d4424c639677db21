//! INCRBYFLOAT's numbers against a real Redis: seeded cases (a stored text, or none, and an
//! increment) go to `redis-server` as `SET`/`DEL` then `INCRBYFLOAT`, pipelined, and each
//! reply must equal, byte for byte, the one Seshat's [`LongDouble`] gives (parse as
//! `string2ld`, add in x87 extended precision, print as `ld2string`'s `%.17Lf` mode).
//!
//! The cases lean on the edges: many digits, long texts around `MAX_LONG_DOUBLE_CHARS`,
//! exponents near overflow and underflow, subnormals, hexadecimal floats, `inf`/`nan`
//! spellings, spaces and NULs, and values whose 18th decimal is an exact tie.
//!
//! `SESHAT_FLOAT_CASES=N` sets the number of cases (default 5000), `SESHAT_FLOAT_SEED=S`
//! the seed (default 1).

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seshat_core::cmd::LongDouble;
use seshat_tests::{Peer, RedisServer};

/// Cases per pipelined batch.
const BATCH_CASES: usize = 500;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The reply INCRBYFLOAT gives on a key holding `stored` (or none) for `increment`, and the
/// text the key holds afterwards: Redis's `incrbyfloatCommand`, built on [`LongDouble`].
fn expected(stored: Option<&[u8]>, increment: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let error = |text: &str| (format!("-ERR {text}\r\n").into_bytes(), None);
    let current = match stored {
        None => LongDouble::ZERO,
        Some(text) => match LongDouble::parse(text) {
            Some(value) => value,
            None => return error("value is not a valid float"),
        },
    };
    let Some(increment) = LongDouble::parse(increment) else {
        return error("value is not a valid float");
    };
    let Some(sum) = current.checked_add(increment) else {
        return error("increment would produce NaN or Infinity");
    };
    let text = sum.to_human();
    let reply = format!("${}\r\n{text}\r\n", text.len()).into_bytes();
    (reply, Some(text.into_bytes()))
}

fn digits(rng: &mut ChaCha8Rng, count: usize, alphabet: &[u8]) -> String {
    (0..count)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

/// A digit count: mostly short, sometimes long, now and then thousands.
fn digit_count(rng: &mut ChaCha8Rng) -> usize {
    match rng.gen_range(0..20) {
        0..=11 => rng.gen_range(1..8),
        12..=16 => rng.gen_range(8..40),
        17 | 18 => rng.gen_range(40..400),
        _ => rng.gen_range(4900..5200),
    }
}

/// A decimal exponent: small, or near the format's limits (10^±4932, subnormals to 10^-4951).
fn decimal_exponent(rng: &mut ChaCha8Rng) -> i64 {
    match rng.gen_range(0..10) {
        0..=5 => rng.gen_range(-30..30),
        6 => rng.gen_range(4925..4940),
        7 => rng.gen_range(-4960..-4925),
        8 => rng.gen_range(-6000..6000),
        _ => [i64::from(i32::MAX), 99_999_999_999, -99_999_999_999][rng.gen_range(0..3)],
    }
}

fn sign(rng: &mut ChaCha8Rng) -> &'static str {
    ["", "", "-", "+"][rng.gen_range(0..4)]
}

/// A decimal: digits, perhaps a point, perhaps an exponent.
fn decimal(rng: &mut ChaCha8Rng) -> String {
    let count = digit_count(rng);
    let mut text = digits(rng, count, b"0123456789");
    if rng.gen_bool(0.2) {
        text = format!("{}{text}", "0".repeat(rng.gen_range(1..30)));
    }
    if rng.gen_bool(0.6) {
        let dot = rng.gen_range(0..=text.len());
        text.insert(dot, '.');
    }
    if rng.gen_bool(0.4) {
        let mark = ["e", "E"][rng.gen_range(0..2)];
        let exponent = decimal_exponent(rng);
        let plus = if exponent >= 0 && rng.gen_bool(0.3) {
            "+"
        } else {
            ""
        };
        text = format!("{text}{mark}{plus}{exponent}");
    }
    format!("{}{text}", sign(rng))
}

/// A hexadecimal float, with or without a binary exponent.
fn hexadecimal(rng: &mut ChaCha8Rng) -> String {
    let count = rng.gen_range(1..24);
    let mut text = digits(rng, count, b"0123456789abcdefABCDEF");
    if rng.gen_bool(0.5) {
        let dot = rng.gen_range(0..=text.len());
        text.insert(dot, '.');
    }
    let prefix = ["0x", "0X"][rng.gen_range(0..2)];
    let mut text = format!("{}{prefix}{text}", sign(rng));
    if rng.gen_bool(0.8) {
        let exponent = match rng.gen_range(0..4) {
            0 | 1 => rng.gen_range(-70..70),
            2 => rng.gen_range(16370..16400),
            _ => rng.gen_range(-16550..-16350),
        };
        let mark = ["p", "P"][rng.gen_range(0..2)];
        text = format!("{text}{mark}{exponent}");
    }
    text
}

/// A value with an exact tie at the 18th decimal: an integer plus m / 2^18 (m odd), within 64
/// significant bits, written in decimal or in hexadecimal.
fn tie(rng: &mut ChaCha8Rng) -> String {
    let bits = rng.gen_range(1..46);
    let whole: u64 = rng.gen_range(0..1u64 << bits);
    let m: u64 = rng.gen_range(0..1u64 << 17) * 2 + 1;
    if rng.gen_bool(0.3) {
        return format!("{}0x{:x}p-18", sign(rng), (whole << 18) + m);
    }
    // m / 2^18 = m * 5^18 / 10^18, exactly.
    let fraction = u128::from(m) * 5u128.pow(18);
    format!("{}{whole}.{fraction:018}", sign(rng))
}

/// Texts that are almost numbers, or numbers dressed oddly.
fn odd(rng: &mut ChaCha8Rng) -> Vec<u8> {
    const ODD: &[&str] = &[
        "",
        " 1",
        "1 ",
        "\t1",
        "1\n",
        "+",
        "-",
        ".",
        "+.5",
        "-.5",
        "5.",
        "5.e3",
        ".e3",
        "e3",
        "1e",
        "1e+",
        "1e-",
        "1.2.3",
        "0x",
        "0x.",
        "0xp3",
        "0x1p",
        "0x1p+",
        "0x1.8",
        "0x.8p1",
        "0xg",
        "00",
        "-0",
        "+0",
        "-0.0",
        "0e0",
        "inf",
        "-inf",
        "+inf",
        "INF",
        "Infinity",
        "-infinity",
        "infinit",
        "infinityy",
        "nan",
        "-nan",
        "NaN",
        "nan(1)",
        "nan(",
        "1e4932",
        "1.18973149535723176502e4932",
        "1.18973149535723176503e4932",
        "-1.2e4932",
        "1e-4951",
        "3.6451995318824746025e-4951",
        "1.8225997659412373012e-4951",
        "1.8225997659412373013e-4951",
        "1e-5000",
        "1e4933",
        "0x1p-16445",
        "0x1p-16446",
        "0x1.0000000000000002p-16446",
        "0x1p16383",
        "0x1p16384",
        "0x1.fffffffffffffffep16383",
        "0x1.ffffffffffffffffp16383",
        "1_0",
        "1,5",
        "١",
        "\u{00a0}1",
        "0.1",
        "0.2",
        "0.3",
        "10.5",
        "3.0e3",
        "5.0e3",
        "-5.0e3",
        "9223372036854775807",
        "18446744073709551616",
        "\0",
        "\0\0",
        "1\0",
        "2.5\0junk",
        "\u{0}1",
        " \0",
        "1 \0",
        "-\0",
        "abc",
    ];
    ODD[rng.gen_range(0..ODD.len())].as_bytes().to_vec()
}

/// One text to store or to add.
fn number(rng: &mut ChaCha8Rng) -> Vec<u8> {
    match rng.gen_range(0..20) {
        0..=8 => decimal(rng).into_bytes(),
        9..=11 => hexadecimal(rng).into_bytes(),
        12..=14 => tie(rng).into_bytes(),
        15 => {
            // A long text just around string2ld's 5120-byte limit.
            let ones = rng.gen_range(5100..5130);
            format!("0.{}", "1".repeat(ones)).into_bytes()
        }
        _ => odd(rng),
    }
}

#[test]
fn incrbyfloat_matches_a_real_redis_byte_for_byte() {
    // Goal: LongDouble parses, adds and prints as Redis 7 on x86-64 does. Method: seeded
    // cases, each also chaining on the previous result now and then, compared raw.
    let cases = env_u64("SESHAT_FLOAT_CASES").unwrap_or(5_000) as usize;
    let seed = env_u64("SESHAT_FLOAT_SEED").unwrap_or(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let redis = RedisServer::start();
    let mut peer = Peer::connect(redis.port);
    let key = Bytes::from_static(b"f");
    // What the key holds on Redis (as far as the expected replies say).
    let mut stored: Option<Vec<u8>> = None;
    let (mut compared, mut accepted) = (0, 0);
    while compared < cases {
        let size = BATCH_CASES.min(cases - compared);
        let mut batch = Vec::with_capacity(2 * size);
        let mut wanted = Vec::with_capacity(size);
        for _ in 0..size {
            // Mostly a fresh stored value; sometimes keep the last result (or none).
            match rng.gen_range(0..10) {
                0..=6 => {
                    let text = number(&mut rng);
                    batch.push(vec![
                        Bytes::from_static(b"SET"),
                        key.clone(),
                        text.clone().into(),
                    ]);
                    stored = Some(text);
                }
                7 => {
                    batch.push(vec![Bytes::from_static(b"DEL"), key.clone()]);
                    stored = None;
                }
                _ => batch.push(vec![Bytes::from_static(b"EXISTS"), key.clone()]),
            }
            let increment = number(&mut rng);
            let (reply, after) = expected(stored.as_deref(), &increment);
            if let Some(after) = after {
                stored = Some(after);
                accepted += 1;
            }
            batch.push(vec![
                Bytes::from_static(b"INCRBYFLOAT"),
                key.clone(),
                Bytes::from(increment.clone()),
            ]);
            wanted.push((increment, reply));
        }
        let replies = peer.pipeline(&batch);
        for (i, (increment, want)) in wanted.iter().enumerate() {
            let got = &replies[2 * i + 1];
            assert!(
                got == want,
                "seed {seed}, case {}: {:?} then INCRBYFLOAT {:?}\n  redis:  {:?}\n  seshat: {:?}\n\
                 reproduce: SESHAT_FLOAT_SEED={seed} SESHAT_FLOAT_CASES={cases} cargo test -p \
                 seshat-tests --test incrbyfloat",
                compared + i,
                batch[2 * i].iter().map(|w| String::from_utf8_lossy(w).into_owned()).collect::<Vec<_>>(),
                String::from_utf8_lossy(increment),
                String::from_utf8_lossy(got),
                String::from_utf8_lossy(want),
            );
        }
        compared += size;
    }
    println!("compared {compared} INCRBYFLOAT replies with redis-server ({accepted} sums)");
}
