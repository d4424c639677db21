//! Key expiry: SETEX, PSETEX, GETEX, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME and PERSIST, and the TTL options SET shares with them
//! (<https://redis.io/docs/latest/commands/expire/>).
//!
//! Every time here is the *cluster time* of the entry being applied or the index being read
//! (see [`crate::kv`]): a relative TTL counts from the timestamp the leader put in the entry,
//! so every replica computes the same deadline and no replica reads a clock. Deadlines are
//! Unix milliseconds, signed as in Redis; one not in the future deletes the key.

use bytes::Bytes;

use crate::cmd::counter::parse_integer;
use crate::cmd::{
    check_key, check_value, not_an_integer, syntax_error, CommandLimits, CommandSpec, Docs,
    KeySpec, Run,
};
use crate::kv::{Reader, Writer};
use crate::reply::Reply;

/// The unit a TTL argument counts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    Seconds,
    Milliseconds,
}

/// A TTL option of SET, SETEX or GETEX, checked as far as it can be without the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiration {
    /// `EX` / `PX`: this many milliseconds after the entry's time.
    After(i64),
    /// `EXAT` / `PXAT`: at this Unix time, milliseconds.
    At(i64),
}

impl Expiration {
    /// Redis's `getExpireMillisecondsOrReply` up to the addition of the time: an integer,
    /// positive, that fits in milliseconds. `command` names the command in the error.
    pub(crate) fn parse(
        arg: &[u8],
        unit: Unit,
        absolute: bool,
        command: &str,
    ) -> Result<Expiration, Reply> {
        let number = parse_integer(arg).ok_or_else(not_an_integer)?;
        if number <= 0 {
            return Err(invalid_expire_time(command));
        }
        let ms = match unit {
            Unit::Seconds => number
                .checked_mul(1000)
                .ok_or_else(|| invalid_expire_time(command))?,
            Unit::Milliseconds => number,
        };
        Ok(if absolute {
            Expiration::At(ms)
        } else {
            Expiration::After(ms)
        })
    }

    /// The deadline at cluster time `now_ms`: Redis refuses a relative TTL that overflows.
    pub(crate) fn deadline(self, now_ms: u64, command: &str) -> Result<i64, Reply> {
        match self {
            Expiration::At(ms) => Ok(ms),
            Expiration::After(ms) => ms
                .checked_add(clamp(now_ms))
                .ok_or_else(|| invalid_expire_time(command)),
        }
    }
}

/// `ERR invalid expire time in '<command>' command`.
pub(crate) fn invalid_expire_time(command: &str) -> Reply {
    Reply::error(format!("ERR invalid expire time in '{command}' command"))
}

/// A cluster time as Redis's signed milliseconds.
fn clamp(now_ms: u64) -> i64 {
    i64::try_from(now_ms).unwrap_or(i64::MAX)
}

/// Sets `key` to `value` expiring at `deadline` (deleting it if that is not in the future).
pub(crate) fn set_expiring(db: &mut Writer<'_, '_>, key: &[u8], value: &[u8], deadline: i64) {
    match u64::try_from(deadline) {
        Ok(deadline) if deadline > db.now_ms() => db.set(key, value, Some(deadline)),
        _ => {
            db.delete(key);
        }
    }
}

/// `SETEX key seconds value`.
pub(crate) static SETEX: CommandSpec = setex_spec(
    "setex",
    "Set the value and expiration of a key",
    "2.0.0",
    |args, db| apply_setex(args, db, Unit::Seconds, "setex"),
);

/// `PSETEX key milliseconds value`.
pub(crate) static PSETEX: CommandSpec = setex_spec(
    "psetex",
    "Set the value and expiration in milliseconds of a key",
    "2.6.0",
    |args, db| apply_setex(args, db, Unit::Milliseconds, "psetex"),
);

const fn setex_spec(
    name: &'static str,
    summary: &'static str,
    since: &'static str,
    apply: fn(&[Bytes], &mut Writer<'_, '_>) -> Reply,
) -> CommandSpec {
    CommandSpec {
        name,
        arity: 4,
        flags: &["write", "denyoom"],
        keys: KeySpec::FIRST,
        acl_categories: &["@write", "@string", "@slow"],
        docs: Docs {
            group: "string",
            summary,
            since,
            complexity: "O(1)",
        },
        subcommands: &[],
        run: Run::Write {
            check: check_setex,
            apply,
        },
    }
}

fn check_setex(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)?;
    check_value(&args[3], limits)
}

fn apply_setex(args: &[Bytes], db: &mut Writer<'_, '_>, unit: Unit, name: &str) -> Reply {
    let deadline = match Expiration::parse(&args[2], unit, false, name)
        .and_then(|expiration| expiration.deadline(db.now_ms(), name))
    {
        Ok(deadline) => deadline,
        Err(reply) => return reply,
    };
    set_expiring(db, &args[1], &args[3], deadline);
    Reply::ok()
}

/// `GETEX key [EX seconds | PX ms | EXAT unix-s | PXAT unix-ms | PERSIST]`: GET that may set
/// or remove the TTL. A write, so that the change is in the log.
pub(crate) static GETEX: CommandSpec = CommandSpec {
    name: "getex",
    arity: -2,
    flags: &["write", "fast"],
    keys: KeySpec::FIRST,
    acl_categories: &["@write", "@string", "@fast"],
    docs: Docs {
        group: "string",
        summary: "Get the value of a key and optionally set its expiration",
        since: "6.2.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Write {
        check: |args, limits| {
            check_key(&args[1], limits)?;
            GetEx::parse(args).map(drop)
        },
        apply: apply_getex,
    },
};

/// What GETEX does to the TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GetEx<'a> {
    Keep,
    Persist,
    /// The option's argument, checked only once the key is known to exist, as Redis does.
    Expire {
        arg: &'a [u8],
        unit: Unit,
        absolute: bool,
    },
}

impl<'a> GetEx<'a> {
    /// Redis's `parseExtendedStringArgumentsOrReply` for GETEX: one TTL option, repeated at
    /// most with itself (the last one counts).
    fn parse(args: &'a [Bytes]) -> Result<GetEx<'a>, Reply> {
        let mut parsed = GetEx::Keep;
        let mut i = 2;
        while i < args.len() {
            let option = args[i].to_ascii_uppercase();
            let (unit, absolute) = match option.as_slice() {
                b"PERSIST" if matches!(parsed, GetEx::Keep | GetEx::Persist) => {
                    parsed = GetEx::Persist;
                    i += 1;
                    continue;
                }
                b"EX" => (Unit::Seconds, false),
                b"PX" => (Unit::Milliseconds, false),
                b"EXAT" => (Unit::Seconds, true),
                b"PXAT" => (Unit::Milliseconds, true),
                _ => return Err(syntax_error()),
            };
            let same = match parsed {
                GetEx::Keep => true,
                GetEx::Expire {
                    unit: u,
                    absolute: a,
                    ..
                } => u == unit && a == absolute,
                GetEx::Persist => false,
            };
            let Some(arg) = args.get(i + 1).filter(|_| same) else {
                return Err(syntax_error());
            };
            parsed = GetEx::Expire {
                arg,
                unit,
                absolute,
            };
            i += 2;
        }
        Ok(parsed)
    }
}

fn apply_getex(args: &[Bytes], db: &mut Writer<'_, '_>) -> Reply {
    let Ok(option) = GetEx::parse(args) else {
        return syntax_error(); // checked before proposing
    };
    let key = &args[1];
    let Some(record) = db.entry(key) else {
        return Reply::Null;
    };
    match option {
        GetEx::Keep => {}
        // Only a key that had a TTL changes (Redis signals no change, so a WATCH holds).
        GetEx::Persist if record.deadline_ms.is_some() => {
            db.set_deadline(key, None);
        }
        GetEx::Persist => {}
        GetEx::Expire {
            arg,
            unit,
            absolute,
        } => {
            let deadline = match Expiration::parse(arg, unit, absolute, "getex")
                .and_then(|expiration| expiration.deadline(db.now_ms(), "getex"))
            {
                Ok(deadline) => deadline,
                Err(reply) => return reply,
            };
            set_expiring(db, key, &record.value, deadline);
        }
    }
    Reply::Bulk(record.value)
}

/// The condition of EXPIRE's `NX | XX | GT | LT`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireFlags {
    /// Redis's `parseExtendedExpireArgumentsOrReply`.
    fn parse(options: &[Bytes]) -> Result<ExpireFlags, Reply> {
        let mut flags = ExpireFlags::default();
        for option in options {
            match option.to_ascii_uppercase().as_slice() {
                b"NX" => flags.nx = true,
                b"XX" => flags.xx = true,
                b"GT" => flags.gt = true,
                b"LT" => flags.lt = true,
                _ => {
                    return Err(Reply::error(format!(
                        "ERR Unsupported option {}",
                        String::from_utf8_lossy(option)
                    )))
                }
            }
        }
        if flags.nx && (flags.xx || flags.gt || flags.lt) {
            return Err(Reply::error(
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if flags.gt && flags.lt {
            return Err(Reply::error(
                "ERR GT and LT options at the same time are not compatible",
            ));
        }
        Ok(flags)
    }

    /// Whether a key whose deadline is `current` (`None`: no TTL, an infinite one for GT and
    /// LT) takes the deadline `new`.
    fn allow(self, current: Option<i64>, new: i64) -> bool {
        !(self.nx && current.is_some()
            || self.xx && current.is_none()
            || self.gt && current.is_none_or(|current| new <= current)
            || self.lt && current.is_some_and(|current| new >= current))
    }
}

/// `EXPIRE key seconds [NX | XX | GT | LT]`.
pub(crate) static EXPIRE: CommandSpec = expire_spec(
    "expire",
    "Set a key's time to live in seconds",
    "1.0.0",
    |args, db| apply_expire(args, db, Unit::Seconds, false, "expire"),
);

/// `PEXPIRE key milliseconds [NX | XX | GT | LT]`.
pub(crate) static PEXPIRE: CommandSpec = expire_spec(
    "pexpire",
    "Set a key's time to live in milliseconds",
    "2.6.0",
    |args, db| apply_expire(args, db, Unit::Milliseconds, false, "pexpire"),
);

/// `EXPIREAT key unix-time-seconds [NX | XX | GT | LT]`.
pub(crate) static EXPIREAT: CommandSpec = expire_spec(
    "expireat",
    "Set the expiration for a key as a UNIX timestamp",
    "1.2.0",
    |args, db| apply_expire(args, db, Unit::Seconds, true, "expireat"),
);

/// `PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]`.
pub(crate) static PEXPIREAT: CommandSpec = expire_spec(
    "pexpireat",
    "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
    "2.6.0",
    |args, db| apply_expire(args, db, Unit::Milliseconds, true, "pexpireat"),
);

const fn expire_spec(
    name: &'static str,
    summary: &'static str,
    since: &'static str,
    apply: fn(&[Bytes], &mut Writer<'_, '_>) -> Reply,
) -> CommandSpec {
    CommandSpec {
        name,
        arity: -3,
        flags: &["write", "fast"],
        keys: KeySpec::FIRST,
        acl_categories: &["@keyspace", "@write", "@fast"],
        docs: Docs {
            group: "generic",
            summary,
            since,
            complexity: "O(1)",
        },
        subcommands: &[],
        run: Run::Write {
            check: |args, limits| check_key(&args[1], limits),
            apply,
        },
    }
}

/// Redis's `expireGenericCommand`: options, then the number, then overflow, then the key.
fn apply_expire(
    args: &[Bytes],
    db: &mut Writer<'_, '_>,
    unit: Unit,
    absolute: bool,
    name: &str,
) -> Reply {
    let flags = match ExpireFlags::parse(&args[3..]) {
        Ok(flags) => flags,
        Err(reply) => return reply,
    };
    let Some(number) = parse_integer(&args[2]) else {
        return not_an_integer();
    };
    let now = clamp(db.now_ms());
    let base = if absolute { 0 } else { now };
    let deadline = match unit {
        // EXPIRE allows negative numbers; only an overflow is refused.
        Unit::Seconds => number.checked_mul(1000),
        Unit::Milliseconds => Some(number),
    }
    .and_then(|ms| ms.checked_add(base));
    let Some(deadline) = deadline else {
        return invalid_expire_time(name);
    };
    let key = &args[1];
    let Some(record) = db.entry(key) else {
        return Reply::Integer(0);
    };
    let current = record.deadline_ms.map(clamp);
    if !flags.allow(current, deadline) {
        return Reply::Integer(0);
    }
    set_expiring(db, key, &record.value, deadline);
    Reply::Integer(1)
}

/// `PERSIST key`: 1 if it removed a TTL.
pub(crate) static PERSIST: CommandSpec = CommandSpec {
    name: "persist",
    arity: 2,
    flags: &["write", "fast"],
    keys: KeySpec::FIRST,
    acl_categories: &["@keyspace", "@write", "@fast"],
    docs: Docs {
        group: "generic",
        summary: "Remove the expiration from a key",
        since: "2.2.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Write {
        check: |args, limits| check_key(&args[1], limits),
        apply: |args, db| match db.entry(&args[1]) {
            Some(record) if record.deadline_ms.is_some() => {
                db.set_deadline(&args[1], None);
                Reply::Integer(1)
            }
            _ => Reply::Integer(0),
        },
    },
};

/// What a TTL read answers.
#[derive(Clone, Copy)]
enum TtlOutput {
    /// Time left (TTL, PTTL).
    Left,
    /// The deadline itself (EXPIRETIME, PEXPIRETIME).
    Absolute,
}

/// `TTL key`: seconds left, rounded; -1 without a TTL, -2 without the key.
pub(crate) static TTL: CommandSpec = ttl_spec(
    "ttl",
    "Get the time to live for a key in seconds",
    "1.0.0",
    |args, db| ttl(args, db, TtlOutput::Left, Unit::Seconds),
);

/// `PTTL key`: milliseconds left.
pub(crate) static PTTL: CommandSpec = ttl_spec(
    "pttl",
    "Get the time to live for a key in milliseconds",
    "2.6.0",
    |args, db| ttl(args, db, TtlOutput::Left, Unit::Milliseconds),
);

/// `EXPIRETIME key`: the deadline in Unix seconds.
pub(crate) static EXPIRETIME: CommandSpec = ttl_spec(
    "expiretime",
    "Get the expiration Unix timestamp for a key",
    "7.0.0",
    |args, db| ttl(args, db, TtlOutput::Absolute, Unit::Seconds),
);

/// `PEXPIRETIME key`: the deadline in Unix milliseconds.
pub(crate) static PEXPIRETIME: CommandSpec = ttl_spec(
    "pexpiretime",
    "Get the expiration Unix timestamp for a key in milliseconds",
    "7.0.0",
    |args, db| ttl(args, db, TtlOutput::Absolute, Unit::Milliseconds),
);

const fn ttl_spec(
    name: &'static str,
    summary: &'static str,
    since: &'static str,
    read: fn(&[Bytes], &Reader<'_>) -> Reply,
) -> CommandSpec {
    CommandSpec {
        name,
        arity: 2,
        flags: &["readonly", "fast"],
        keys: KeySpec::FIRST,
        acl_categories: &["@keyspace", "@read", "@fast"],
        docs: Docs {
            group: "generic",
            summary,
            since,
            complexity: "O(1)",
        },
        subcommands: &[],
        run: Run::Read {
            check: |args, limits| check_key(&args[1], limits),
            read,
        },
    }
}

/// Redis's `ttlGenericCommand`.
fn ttl(args: &[Bytes], db: &Reader<'_>, output: TtlOutput, unit: Unit) -> Reply {
    let Some(record) = db.entry(&args[1]) else {
        return Reply::Integer(-2);
    };
    let Some(deadline) = record.deadline_ms.map(clamp) else {
        return Reply::Integer(-1);
    };
    let ms = match output {
        TtlOutput::Left => (deadline - clamp(db.now_ms())).max(0),
        TtlOutput::Absolute => deadline,
    };
    Reply::Integer(match unit {
        Unit::Milliseconds => ms,
        // Rounded to the nearest second without overflowing near i64::MAX: Redis's
        // `(ttl+500)/1000` gives the exact quotient there (9223372036854776 for
        // EXPIRETIME after PEXPIREAT i64::MAX).
        Unit::Seconds => ((i128::from(ms) + 500) / 1000) as i64,
    })
}

#[cfg(test)]
mod tests;
