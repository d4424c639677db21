//! The string commands: GET, SET, SETNX, GETSET, GETDEL, DELEX, STRLEN, MGET, MSET and
//! MSETNX (<https://redis.io/docs/latest/commands/?group=string>). The counters are in
//! [`counter`](super::counter).

use bytes::Bytes;

use crate::cmd::expire::{set_expiring, Expiration, Unit};
use crate::cmd::{
    check_key, check_value, syntax_error, CommandLimits, CommandSpec, Docs, KeySpec, Run,
};
use crate::kv::{Reader, Writer};
use crate::reply::Reply;

/// `GET key`: a linearizable read.
pub(crate) static GET: CommandSpec = CommandSpec {
    name: "get",
    arity: 2,
    flags: &["readonly", "fast"],
    keys: KeySpec::FIRST,
    acl_categories: &["@read", "@string", "@fast"],
    docs: Docs {
        group: "string",
        summary: "Returns the string value of a key.",
        since: "1.0.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Read {
        check: check_get,
        read: get,
    },
};

fn check_get(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)
}

fn get(args: &[Bytes], db: &Reader<'_>) -> Reply {
    db.get(&args[1]).map_or(Reply::Null, Reply::Bulk)
}

/// `SET key value [NX | XX | IFEQ old | IFNE old] [GET] [EX s | PX ms | EXAT unix-s |
/// PXAT unix-ms | KEEPTTL]`. IFEQ and IFNE are Redis 8.4's compare-and-set.
pub(crate) static SET: CommandSpec = CommandSpec {
    name: "set",
    arity: -3,
    flags: &["write", "denyoom"],
    keys: KeySpec::FIRST,
    acl_categories: &["@write", "@string", "@slow"],
    docs: Docs {
        group: "string",
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        since: "1.0.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_set,
        apply: apply_set,
    },
};

/// When a SET applies, judged against the value at apply time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum SetCondition {
    /// Always.
    #[default]
    Always,
    /// `NX`: only if the key does not exist.
    IfAbsent,
    /// `XX`: only if the key exists.
    IfPresent,
    /// `IFEQ old`: only if the key holds `old` (a missing key is not created).
    IfEqual(Bytes),
    /// `IFNE old`: only if the key does not hold `old` (a missing key is created).
    IfNotEqual(Bytes),
}

impl SetCondition {
    /// The compare-and-set (or compare-and-delete) condition `word value`, for `IFEQ` and
    /// `IFNE` (uppercase); `None` for any other word. SET and DELEX share it.
    fn comparing(word: &[u8], value: Bytes) -> Option<SetCondition> {
        match word {
            b"IFEQ" => Some(SetCondition::IfEqual(value)),
            b"IFNE" => Some(SetCondition::IfNotEqual(value)),
            _ => None,
        }
    }

    /// Whether a key holding `old` (or missing) may be set.
    fn allows(&self, old: Option<&Bytes>) -> bool {
        match self {
            SetCondition::Always => true,
            SetCondition::IfAbsent => old.is_none(),
            SetCondition::IfPresent => old.is_some(),
            SetCondition::IfEqual(value) => old == Some(value),
            SetCondition::IfNotEqual(value) => old != Some(value),
        }
    }
}

/// What a SET does to the key's TTL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum SetTtl {
    /// Removes it (plain SET).
    #[default]
    Clear,
    /// `KEEPTTL`.
    Keep,
    /// `EX`, `PX`, `EXAT` or `PXAT`.
    Expire(Expiration),
}

/// The arguments of a SET.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Set {
    pub(crate) key: Bytes,
    pub(crate) value: Bytes,
    pub(crate) condition: SetCondition,
    /// `GET`: reply with the old value (or null) instead of `OK`.
    pub(crate) get: bool,
    pub(crate) ttl: SetTtl,
}

impl Set {
    /// Parses `SET key value [options]` (arity checked) as Redis 7's
    /// `parseExtendedStringArgumentsOrReply` does: an option may repeat, but not meet one it
    /// excludes (NX with XX, two different TTL options, KEEPTTL with a TTL); the TTL's number
    /// is checked here too, all but the overflow of adding the entry's time.
    pub(crate) fn parse(args: &[Bytes]) -> Result<Set, Reply> {
        let mut set = Set {
            key: args[1].clone(),
            value: args[2].clone(),
            condition: SetCondition::Always,
            get: false,
            ttl: SetTtl::Clear,
        };
        // The TTL option seen so far, and its argument.
        let mut ttl_option: Option<(Unit, bool, &Bytes)> = None;
        let mut i = 3;
        while i < args.len() {
            let option = args[i].to_ascii_uppercase();
            let next = args.get(i + 1);
            let condition = &set.condition;
            match option.as_slice() {
                b"NX" if matches!(condition, SetCondition::Always | SetCondition::IfAbsent) => {
                    set.condition = SetCondition::IfAbsent
                }
                b"XX" if matches!(condition, SetCondition::Always | SetCondition::IfPresent) => {
                    set.condition = SetCondition::IfPresent
                }
                word @ (b"IFEQ" | b"IFNE")
                    if *condition == SetCondition::Always && next.is_some() =>
                {
                    let value = next.cloned().expect("checked");
                    set.condition = SetCondition::comparing(word, value).expect("IFEQ or IFNE");
                    i += 1;
                }
                b"GET" => set.get = true,
                b"KEEPTTL" if ttl_option.is_none() => set.ttl = SetTtl::Keep,
                word @ (b"EX" | b"PX" | b"EXAT" | b"PXAT") => {
                    let unit = if word[0] == b'E' {
                        Unit::Seconds
                    } else {
                        Unit::Milliseconds
                    };
                    let absolute = word.len() == 4;
                    let compatible = set.ttl != SetTtl::Keep
                        && ttl_option.is_none_or(|(u, a, _)| u == unit && a == absolute);
                    match next {
                        Some(arg) if compatible => ttl_option = Some((unit, absolute, arg)),
                        _ => return Err(syntax_error()),
                    }
                    i += 1;
                }
                _ => return Err(syntax_error()),
            }
            i += 1;
        }
        if let Some((unit, absolute, arg)) = ttl_option {
            set.ttl = SetTtl::Expire(Expiration::parse(arg, unit, absolute, "set")?);
        }
        Ok(set)
    }

    /// The arguments that parse back to this SET.
    #[cfg(test)]
    pub(crate) fn to_args(&self) -> Vec<Bytes> {
        let word = |w: &'static str| Bytes::from_static(w.as_bytes());
        let mut args = vec![word("SET"), self.key.clone(), self.value.clone()];
        match &self.condition {
            SetCondition::Always => {}
            SetCondition::IfAbsent => args.push(word("NX")),
            SetCondition::IfPresent => args.push(word("XX")),
            SetCondition::IfEqual(value) => args.extend([word("IFEQ"), value.clone()]),
            SetCondition::IfNotEqual(value) => args.extend([word("IFNE"), value.clone()]),
        }
        if self.get {
            args.push(word("GET"));
        }
        match self.ttl {
            SetTtl::Clear => {}
            SetTtl::Keep => args.push(word("KEEPTTL")),
            SetTtl::Expire(Expiration::After(ms)) => {
                args.extend([word("PX"), Bytes::from(ms.to_string())])
            }
            SetTtl::Expire(Expiration::At(ms)) => {
                args.extend([word("PXAT"), Bytes::from(ms.to_string())])
            }
        }
        args
    }
}

fn check_set(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)?;
    check_value(&args[2], limits)?;
    Set::parse(args).map(drop)
}

fn apply_set(args: &[Bytes], db: &mut Writer<'_, '_>) -> Reply {
    let set = match Set::parse(args) {
        Ok(set) => set,
        Err(reply) => return reply,
    };
    // Redis computes the deadline first: an overflow fails the whole command.
    let deadline = match set.ttl {
        SetTtl::Expire(expiration) => match expiration.deadline(db.now_ms(), "set") {
            Ok(deadline) => Some(deadline),
            Err(reply) => return reply,
        },
        SetTtl::Clear | SetTtl::Keep => None,
    };
    let old = db.get(&set.key);
    let allowed = set.condition.allows(old.as_ref());
    if allowed {
        match (set.ttl, deadline) {
            (SetTtl::Keep, _) => db.put(&set.key, &set.value),
            (_, Some(deadline)) => set_expiring(db, &set.key, &set.value, deadline),
            (_, None) => db.set(&set.key, &set.value, None),
        }
    }
    // Redis: SET ... GET answers the old value (or null) whether or not it set; without GET a
    // SET whose condition failed answers null.
    match (set.get, allowed) {
        (true, _) => old.map_or(Reply::Null, Reply::Bulk),
        (false, true) => Reply::ok(),
        (false, false) => Reply::Null,
    }
}

/// `SETNX key value`: 1 if it set the key, 0 if the key existed.
pub(crate) static SETNX: CommandSpec = CommandSpec {
    name: "setnx",
    arity: 3,
    flags: &["write", "denyoom", "fast"],
    keys: KeySpec::FIRST,
    acl_categories: &["@write", "@string", "@fast"],
    docs: Docs {
        group: "string",
        summary: "Set the string value of a key only when the key doesn't exist.",
        since: "1.0.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_key_value,
        apply: |args, db| {
            if db.get(&args[1]).is_some() {
                return Reply::Integer(0);
            }
            db.set(&args[1], &args[2], None);
            Reply::Integer(1)
        },
    },
};

/// `GETSET key value`: the old value (or null), then the key holds the new one.
pub(crate) static GETSET: CommandSpec = CommandSpec {
    name: "getset",
    arity: 3,
    flags: &["write", "denyoom", "fast"],
    keys: KeySpec::FIRST,
    acl_categories: &["@write", "@string", "@fast"],
    docs: Docs {
        group: "string",
        summary: "Returns the previous string value of a key after setting it to a new value.",
        since: "1.0.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_key_value,
        apply: |args, db| {
            // GETSET is SET ... GET: the TTL goes.
            let old = db.get(&args[1]);
            db.set(&args[1], &args[2], None);
            old.map_or(Reply::Null, Reply::Bulk)
        },
    },
};

/// `GETDEL key`: the value (or null), and the key is gone.
pub(crate) static GETDEL: CommandSpec = CommandSpec {
    name: "getdel",
    arity: 2,
    flags: &["write", "fast"],
    keys: KeySpec::FIRST,
    acl_categories: &["@write", "@string", "@fast"],
    docs: Docs {
        group: "string",
        summary: "Returns the string value of a key after deleting the key.",
        since: "6.2.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_get,
        apply: |args, db| {
            let old = db.get(&args[1]);
            if old.is_some() {
                db.delete(&args[1]);
            }
            old.map_or(Reply::Null, Reply::Bulk)
        },
    },
};

/// `DELEX key [IFEQ value | IFNE value]`: Redis 8.4's compare-and-delete; 1 if it deleted
/// the key, 0 if not. Without a condition it is `DEL key`. A missing key answers 0 whatever
/// the condition says, as in Redis, which reads the condition only for a key it found.
/// Redis's digest conditions (IFDEQ, IFDNE) need DIGEST, which Seshat does not have.
pub(crate) static DELEX: CommandSpec = CommandSpec {
    name: "delex",
    arity: -2,
    flags: &["write", "fast"],
    keys: KeySpec::FIRST,
    acl_categories: &["@write", "@string", "@fast"],
    docs: Docs {
        group: "string",
        summary: "Conditionally removes the specified key based on value or digest comparison.",
        since: "8.4.0",
        complexity:
            "O(1) for IFEQ/IFNE, O(N) for IFDEQ/IFDNE where N is the length of the string value.",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_delex,
        apply: apply_delex,
    },
};

/// Redis 8.4 takes a key alone or a key with one condition: any other count is its arity
/// error, for a missing key too.
fn delex_arity(args: &[Bytes]) -> Result<(), Reply> {
    match args.len() {
        2 | 4 => Ok(()),
        _ => Err(super::wrong_arity("delex")),
    }
}

fn check_delex(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)?;
    delex_arity(args)
}

fn apply_delex(args: &[Bytes], db: &mut Writer<'_, '_>) -> Reply {
    if let Err(reply) = delex_arity(args) {
        return reply;
    }
    let key = &args[1];
    if args.len() == 2 {
        return Reply::Integer(db.delete(key).into());
    }
    let Some(old) = db.get(key) else {
        return Reply::Integer(0);
    };
    let word = args[2].to_ascii_uppercase();
    let Some(condition) = SetCondition::comparing(&word, args[3].clone()) else {
        return Reply::error(match word.as_slice() {
            b"IFDEQ" | b"IFDNE" => {
                "ERR IFDEQ and IFDNE are not supported (this server has no DIGEST)"
            }
            _ => "ERR Invalid condition. Use IFEQ, IFNE, IFDEQ, or IFDNE",
        });
    };
    let deleted = condition.allows(Some(&old)) && db.delete(key);
    Reply::Integer(deleted.into())
}

/// `STRLEN key`: the value's length in bytes, 0 for a missing key.
pub(crate) static STRLEN: CommandSpec = CommandSpec {
    name: "strlen",
    arity: 2,
    flags: &["readonly", "fast"],
    keys: KeySpec::FIRST,
    acl_categories: &["@read", "@string", "@fast"],
    docs: Docs {
        group: "string",
        summary: "Returns the length of a string value.",
        since: "2.2.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Read {
        check: check_get,
        read: |args, db| Reply::Integer(db.get(&args[1]).map_or(0, |v| v.len() as i64)),
    },
};

/// `MGET key [key ...]`: one value (or null) per key, in order.
pub(crate) static MGET: CommandSpec = CommandSpec {
    name: "mget",
    arity: -2,
    flags: &["readonly", "fast"],
    keys: KeySpec::ALL,
    acl_categories: &["@read", "@string", "@fast"],
    docs: Docs {
        group: "string",
        summary: "Atomically returns the string values of one or more keys.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of keys to retrieve.",
    },
    subcommands: &[],
    run: Run::Read {
        check: super::keys::check_keys,
        read: |args, db| {
            Reply::Array(
                args[1..]
                    .iter()
                    .map(|key| db.get(key).map_or(Reply::Null, Reply::Bulk))
                    .collect(),
            )
        },
    },
};

/// Every other argument from the first is a key: `MSET key value [key value ...]`.
const PAIRS: KeySpec = KeySpec {
    first: 1,
    last: -1,
    step: 2,
};

/// `MSET key value [key value ...]`: sets every pair, atomically.
pub(crate) static MSET: CommandSpec = CommandSpec {
    name: "mset",
    arity: -3,
    flags: &["write", "denyoom"],
    keys: PAIRS,
    acl_categories: &["@write", "@string", "@slow"],
    docs: Docs {
        group: "string",
        summary: "Atomically creates or modifies the string values of one or more keys.",
        since: "1.0.1",
        complexity: "O(N) where N is the number of keys to set.",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_mset,
        apply: |args, db| {
            if args.len().is_multiple_of(2) {
                return super::wrong_arity("mset");
            }
            for pair in args[1..].chunks_exact(2) {
                db.set(&pair[0], &pair[1], None);
            }
            Reply::ok()
        },
    },
};

/// `MSETNX key value [key value ...]`: sets every pair only if none of the keys exists; 1 if
/// it did, 0 if not.
pub(crate) static MSETNX: CommandSpec = CommandSpec {
    name: "msetnx",
    arity: -3,
    flags: &["write", "denyoom"],
    keys: PAIRS,
    acl_categories: &["@write", "@string", "@slow"],
    docs: Docs {
        group: "string",
        summary: "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        since: "1.0.1",
        complexity: "O(N) where N is the number of keys to set.",
    },
    subcommands: &[],
    run: Run::Write {
            check: check_msetnx,
            apply: |args, db| {
                if args.len().is_multiple_of(2) {
                    return super::wrong_arity("msetnx");
                }
                let pairs = args[1..].chunks_exact(2);
                if pairs.clone().any(|pair| db.get(&pair[0]).is_some()) {
                    return Reply::Integer(0);
                }
                for pair in pairs {
                    db.set(&pair[0], &pair[1], None);
                }
                Reply::Integer(1)
            },
        },
};

fn check_mset(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_pairs(args, limits, "mset")
}

fn check_msetnx(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_pairs(args, limits, "msetnx")
}

/// The check of a `key value [key value ...]` command: pairs only, each within the limits.
/// Redis answers an odd count with the arity error.
fn check_pairs(args: &[Bytes], limits: &CommandLimits, name: &str) -> Result<(), Reply> {
    if args.len().is_multiple_of(2) {
        return Err(super::wrong_arity(name));
    }
    for pair in args[1..].chunks_exact(2) {
        check_key(&pair[0], limits)?;
        check_value(&pair[1], limits)?;
    }
    Ok(())
}

fn check_key_value(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)?;
    check_value(&args[2], limits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::tests::{args, error, parse};
    use crate::kv::testing::Replica;
    use proptest::prelude::*;

    #[test]
    fn delex_deletes_only_when_the_condition_holds() {
        // Goal: DELEX is DEL without a condition and compare-and-delete with one, as Redis
        // 8.4 answers. Method: each condition on a present and a missing key.
        let mut replica = Replica::new();
        let mut run = |words: &[&str]| replica.run(0, words);
        assert_eq!(run(&["DELEX", "k"]), Reply::Integer(0));
        run(&["SET", "k", "hello"]);
        assert_eq!(run(&["DELEX", "k"]), Reply::Integer(1));
        run(&["SET", "k", "hello"]);
        assert_eq!(run(&["DELEX", "k", "IFEQ", "other"]), Reply::Integer(0));
        assert_eq!(run(&["DELEX", "k", "IFNE", "hello"]), Reply::Integer(0));
        assert_eq!(run(&["GET", "k"]), Reply::bulk("hello"));
        assert_eq!(run(&["DELEX", "k", "ifeq", "hello"]), Reply::Integer(1));
        assert_eq!(run(&["EXISTS", "k"]), Reply::Integer(0));
        run(&["SET", "k", "0123"]);
        assert_eq!(run(&["DELEX", "k", "IFEQ", "123"]), Reply::Integer(0));
        assert_eq!(run(&["DELEX", "k", "IfNe", "123"]), Reply::Integer(1));
        // A missing key answers 0 before its condition is read.
        for condition in ["IFEQ", "IFNE", "IFDEQ", "BOGUS"] {
            assert_eq!(run(&["DELEX", "gone", condition, "x"]), Reply::Integer(0));
        }
    }

    #[test]
    fn delex_errors_are_redis_8_4s() {
        let mut replica = Replica::new();
        replica.run(0, &["SET", "k", "hello"]);
        assert_eq!(
            replica.run(0, &["DELEX", "k", "FOO", "hello"]),
            Reply::error("ERR Invalid condition. Use IFEQ, IFNE, IFDEQ, or IFDNE")
        );
        assert_eq!(
            replica.run(0, &["DELEX", "k", "IFDEQ", "9555e8555c62dcfd"]),
            Reply::error("ERR IFDEQ and IFDNE are not supported (this server has no DIGEST)")
        );
        assert_eq!(replica.run(0, &["GET", "k"]), Reply::bulk("hello"));
        for words in [
            &["DELEX", "k", "IFEQ"][..],
            &["DELEX", "k", "IFEQ", "hello", "extra"],
            &["DELEX", "missing", "IFEQ"],
            &["DELEX"],
        ] {
            assert_eq!(
                error(words),
                "ERR wrong number of arguments for 'delex' command",
                "{words:?}"
            );
        }
        // Inside MULTI the arity is checked when the transaction runs.
        assert_eq!(
            replica.run(0, &["DELEX", "k", "IFEQ"]),
            Reply::error("ERR wrong number of arguments for 'delex' command")
        );
    }

    fn set(words: &[&str]) -> Set {
        let call = parse(words).expect("parses");
        Set::parse(call.args()).expect("parses")
    }

    #[test]
    fn set_options_are_parsed_or_refused() {
        assert_eq!(
            set(&["SET", "k", "v", "nx"]).condition,
            SetCondition::IfAbsent
        );
        assert_eq!(
            set(&["SET", "k", "v", "XX", "GET"]).condition,
            SetCondition::IfPresent
        );
        assert!(set(&["SET", "k", "v", "GET"]).get);
        assert_eq!(set(&["SET", "k", "v", "KEEPTTL"]).ttl, SetTtl::Keep);
        assert_eq!(
            set(&["SET", "k", "v", "EX", "10"]).ttl,
            SetTtl::Expire(Expiration::After(10_000))
        );
        assert_eq!(
            set(&["SET", "k", "v", "px", "10", "PX", "20"]).ttl,
            SetTtl::Expire(Expiration::After(20))
        );
        assert_eq!(
            set(&["SET", "k", "v", "EXAT", "10"]).ttl,
            SetTtl::Expire(Expiration::At(10_000))
        );
        assert_eq!(
            set(&["SET", "k", "v", "IFEQ", "old"]).condition,
            SetCondition::IfEqual(Bytes::from("old"))
        );
        for words in [
            &["SET", "k", "v", "NX", "XX"][..],
            &["SET", "k", "v", "EX", "10", "PX", "10"],
            &["SET", "k", "v", "EX", "10", "KEEPTTL"],
            &["SET", "k", "v", "KEEPTTL", "EX", "10"],
            &["SET", "k", "v", "EX"],
            &["SET", "k", "v", "IFEQ"],
            &["SET", "k", "v", "NX", "IFEQ", "x"],
            &["SET", "k", "v", "IFNE", "x", "XX"],
            &["SET", "k", "v", "PERSIST"],
            &["SET", "k", "v", "bogus"],
        ] {
            assert_eq!(error(words), "ERR syntax error", "{words:?}");
        }
    }

    #[test]
    fn get_and_set_route_by_their_key() {
        assert_eq!(
            parse(&["GET", "k"]).unwrap().first_key(),
            Some(&Bytes::from("k"))
        );
        assert_eq!(
            parse(&["SET", "k2", "v", "NX"]).unwrap().first_key(),
            Some(&Bytes::from("k2"))
        );
    }

    fn arb_set() -> impl Strategy<Value = Set> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..16).prop_map(Bytes::from);
        let condition = prop_oneof![
            Just(SetCondition::Always),
            Just(SetCondition::IfAbsent),
            Just(SetCondition::IfPresent),
            bytes().prop_map(SetCondition::IfEqual),
            bytes().prop_map(SetCondition::IfNotEqual),
        ];
        let ttl = prop_oneof![
            Just(SetTtl::Clear),
            Just(SetTtl::Keep),
            (1i64..i64::MAX).prop_map(|ms| SetTtl::Expire(Expiration::After(ms))),
            (1i64..i64::MAX).prop_map(|ms| SetTtl::Expire(Expiration::At(ms))),
        ];
        (bytes(), bytes(), condition, any::<bool>(), ttl).prop_map(
            |(key, value, condition, get, ttl)| Set {
                key,
                value,
                condition,
                get,
                ttl,
            },
        )
    }

    proptest! {
        #[test]
        fn set_parse_inverts_to_args(set in arb_set()) {
            let call = crate::cmd::Call::parse(set.to_args(), &CommandLimits::default()).unwrap();
            prop_assert_eq!(Set::parse(call.args()), Ok(set));
        }

        #[test]
        fn get_parses_any_key_within_the_limit(key in proptest::collection::vec(any::<u8>(), 0..=256)) {
            let mut words = args(&["GET"]);
            words.push(Bytes::from(key.clone()));
            let call = crate::cmd::Call::parse(words, &CommandLimits::default()).unwrap();
            prop_assert_eq!(call.first_key(), Some(&Bytes::from(key)));
        }
    }
}
