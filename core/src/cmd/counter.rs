//! The integer counters: INCR, DECR, INCRBY and DECRBY
//! (<https://redis.io/docs/latest/commands/incr/>). A counter is a string holding a decimal
//! 64-bit integer, as Redis parses it (`string2ll`: no sign but `-`, no spaces, no leading
//! zeros); a missing key counts from 0.

use bytes::Bytes;

use crate::cmd::{check_key, not_an_integer, CommandLimits, CommandSpec, Docs, KeySpec, Run};
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

fn check_counter(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)
}

fn check_counter_by(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)?;
    parse_integer(&args[2]).map(drop).ok_or_else(not_an_integer)
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
    use proptest::prelude::*;

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
