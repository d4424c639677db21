//! The counters: INCR, DECR, INCRBY and DECRBY
//! (<https://redis.io/docs/latest/commands/incr/>), and INCRBYFLOAT
//! (<https://redis.io/docs/latest/commands/incrbyfloat/>). An integer counter is a string
//! holding a decimal 64-bit integer, as Redis parses it (`string2ll`: no sign but `-`, no
//! spaces, no leading zeros); a float counter is any text `strtold` reads, computed in x87
//! `long double` ([`LongDouble`]). A missing key counts from 0.

use bytes::Bytes;

use crate::cmd::{
    check_key, not_an_integer, CommandLimits, CommandSpec, Docs, KeySpec, LongDouble, Run,
};
use crate::kv::Writer;
use crate::reply::Reply;

const FLAGS: &[&str] = &["write", "denyoom", "fast"];
const ACL: &[&str] = &["@write", "@string", "@fast"];

const fn docs(summary: &'static str, since: &'static str) -> Docs {
    Docs {
        group: "string",
        summary,
        since,
        complexity: "O(1)",
    }
}

/// `INCR key`.
pub(crate) static INCR: CommandSpec = CommandSpec {
    name: "incr",
    arity: 2,
    flags: FLAGS,
    keys: KeySpec::FIRST,
    acl_categories: ACL,
    docs: docs(
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        "1.0.0",
    ),
    subcommands: &[],
    run: Run::Write {
        check: check_counter,
        apply: |args, db| add(db, &args[1], 1),
    },
};

/// `DECR key`.
pub(crate) static DECR: CommandSpec = CommandSpec {
    name: "decr",
    arity: 2,
    flags: FLAGS,
    keys: KeySpec::FIRST,
    acl_categories: ACL,
    docs: docs(
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        "1.0.0",
    ),
    subcommands: &[],
    run: Run::Write {
        check: check_counter,
        apply: |args, db| add(db, &args[1], -1),
    },
};

/// `INCRBY key increment`.
pub(crate) static INCRBY: CommandSpec = CommandSpec {
    name: "incrby",
    arity: 3,
    flags: FLAGS,
    keys: KeySpec::FIRST,
    acl_categories: ACL,
    docs: docs(
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        "1.0.0",
    ),
    subcommands: &[],
    run: Run::Write {
        check: check_counter_by,
        apply: |args, db| match parse_integer(&args[2]) {
            Some(by) => add(db, &args[1], by),
            None => not_an_integer(),
        },
    },
};

/// `DECRBY key decrement`.
pub(crate) static DECRBY: CommandSpec = CommandSpec {
    name: "decrby",
    arity: 3,
    flags: FLAGS,
    keys: KeySpec::FIRST,
    acl_categories: ACL,
    docs: docs(
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        "1.0.0",
    ),
    subcommands: &[],
    run: Run::Write {
        check: check_counter_by,
        apply: |args, db| match parse_integer(&args[2]).map(i64::checked_neg) {
            Some(Some(by)) => add(db, &args[1], by),
            // Redis refuses to negate i64::MIN with its own wording.
            Some(None) => Reply::error("ERR decrement would overflow"),
            None => not_an_integer(),
        },
    },
};

/// `INCRBYFLOAT key increment`: the new value as a bulk string. The key keeps its TTL.
pub(crate) static INCRBYFLOAT: CommandSpec = CommandSpec {
    name: "incrbyfloat",
    arity: 3,
    flags: FLAGS,
    keys: KeySpec::FIRST,
    acl_categories: ACL,
    docs: docs(
        "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        "2.6.0",
    ),
    subcommands: &[],
    run: Run::Write {
        check: check_float_by,
        apply: |args, db| add_float(db, &args[1], &args[2]),
    },
};

fn check_counter(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)
}

fn check_counter_by(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)?;
    parse_integer(&args[2]).map(drop).ok_or_else(not_an_integer)
}

/// Redis reads the stored value first, then the increment, with one wording for both: the
/// check can refuse a bad increment early without changing any reply.
fn check_float_by(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)?;
    LongDouble::parse(&args[2])
        .map(drop)
        .ok_or_else(not_a_float)
}

/// `ERR value is not a valid float`.
fn not_a_float() -> Reply {
    Reply::error("ERR value is not a valid float")
}

/// Adds `increment` to the float counter at `key` (Redis's `incrbyfloatCommand`) and answers
/// the stored text. `put` keeps the key's deadline, as Redis's `dbReplaceValue` does.
fn add_float(db: &mut Writer<'_, '_>, key: &[u8], increment: &[u8]) -> Reply {
    let current = match db.get(key) {
        None => LongDouble::ZERO,
        Some(value) => match LongDouble::parse(&value) {
            Some(current) => current,
            None => return not_a_float(),
        },
    };
    let Some(increment) = LongDouble::parse(increment) else {
        return not_a_float();
    };
    let Some(next) = current.checked_add(increment) else {
        return Reply::error("ERR increment would produce NaN or Infinity");
    };
    let text = next.to_human();
    db.put(key, text.as_bytes());
    Reply::bulk(text)
}

/// Adds `by` to the counter at `key` and answers the new value.
fn add(db: &mut Writer<'_, '_>, key: &[u8], by: i64) -> Reply {
    let current = match db.get(key) {
        None => 0,
        Some(value) => match parse_integer(&value) {
            Some(current) => current,
            None => return not_an_integer(),
        },
    };
    let Some(next) = current.checked_add(by) else {
        return Reply::error("ERR increment or decrement would overflow");
    };
    db.put(key, next.to_string().as_bytes());
    Reply::Integer(next)
}

/// A decimal i64 exactly as Redis's `string2ll` accepts it: an optional `-`, then digits with
/// no leading zero (except `0` itself), at most 20 bytes, nothing else.
pub(crate) fn parse_integer(bytes: &[u8]) -> Option<i64> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let well_formed = bytes.len() <= 20
        && !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && (digits[0] != b'0' || bytes == b"0");
    if !well_formed {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::tests::error;
    use crate::kv::testing::Replica;
    use proptest::prelude::*;

    const T: u64 = 1_700_000_000_000;

    #[test]
    fn incrbyfloat_adds_and_keeps_the_ttl() {
        // Goal: INCRBYFLOAT stores the printed sum and leaves the deadline alone. Method: a
        // key with a TTL, two increments, then its value and time left.
        let mut replica = Replica::new();
        for (words, reply) in [
            (&["INCRBYFLOAT", "n", "10.5"][..], Reply::bulk("10.5")),
            (&["SET", "k", "1", "PX", "60000"], Reply::ok()),
            (&["INCRBYFLOAT", "k", "0.1"], Reply::bulk("1.1")),
            (&["INCRBYFLOAT", "k", "-2e0"], Reply::bulk("-0.9")),
            (&["GET", "k"], Reply::bulk("-0.9")),
            (&["PTTL", "k"], Reply::Integer(60_000)),
        ] {
            assert_eq!(replica.run(T, words), reply, "{words:?}");
        }
    }

    #[test]
    fn incrbyfloat_refuses_bad_floats_and_infinite_sums() {
        let mut replica = Replica::new();
        replica.run(T, &["SET", "text", "abc"]);
        replica.run(T, &["SET", "big", "1e4932"]);
        let not_a_float = Reply::error("ERR value is not a valid float");
        assert_eq!(replica.run(T, &["INCRBYFLOAT", "text", "1"]), not_a_float);
        assert_eq!(replica.run(T, &["INCRBYFLOAT", "big", "x"]), not_a_float);
        assert_eq!(
            replica.run(T, &["INCRBYFLOAT", "big", "1e4932"]),
            Reply::error("ERR increment would produce NaN or Infinity")
        );
        assert_eq!(
            replica.run(T, &["INCRBYFLOAT", "new", "inf"]),
            Reply::error("ERR increment would produce NaN or Infinity")
        );
        assert_eq!(replica.run(T, &["GET", "big"]), Reply::bulk("1e4932"));
        assert_eq!(replica.run(T, &["EXISTS", "new"]), Reply::Integer(0));
        // A bad increment is refused before it reaches the log.
        assert_eq!(
            error(&["INCRBYFLOAT", "k", " 1"]),
            "ERR value is not a valid float"
        );
        assert_eq!(
            error(&["INCRBYFLOAT", "k", "nan"]),
            "ERR value is not a valid float"
        );
    }

    #[test]
    fn integers_parse_as_redis_parses_them() {
        for (text, value) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-0", None),
            ("01", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("", None),
            ("-", None),
            ("1.0", None),
        ] {
            assert_eq!(parse_integer(text.as_bytes()), value, "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn every_i64_round_trips(n in any::<i64>()) {
            prop_assert_eq!(parse_integer(n.to_string().as_bytes()), Some(n));
        }
    }
}
