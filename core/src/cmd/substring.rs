//! Commands on part of a string: GETRANGE, SUBSTR, SETRANGE and APPEND
//! (<https://redis.io/docs/latest/commands/getrange/>).

use bytes::Bytes;

use crate::cmd::counter::parse_integer;
use crate::cmd::{check_key, not_an_integer, CommandLimits, CommandSpec, Docs, KeySpec, Run};
use crate::kv::{Reader, Writer};
use crate::reply::Reply;

/// `GETRANGE key start end`: the bytes from `start` to `end`, both included; negative offsets
/// count from the end.
pub(crate) static GETRANGE: CommandSpec = CommandSpec {
    name: "getrange",
    arity: 4,
    flags: &["readonly"],
    keys: KeySpec::FIRST,
    acl_categories: &["@read", "@string", "@slow"],
    docs: Docs {
        group: "string",
        summary: "Returns a substring of the string stored at a key.",
        since: "2.4.0",
        complexity: "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.",
    },
    subcommands: &[],
    run: Run::Read {
        check: check_range,
        read: getrange,
    },
};

/// `SUBSTR key start end`: GETRANGE's old name.
pub(crate) static SUBSTR: CommandSpec = CommandSpec {
    name: "substr",
    arity: 4,
    flags: &["readonly"],
    keys: KeySpec::FIRST,
    acl_categories: &["@read", "@string", "@slow"],
    docs: Docs {
        group: "string",
        summary: "Returns a substring from a string value.",
        since: "1.0.0",
        complexity: "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.",
    },
    subcommands: &[],
    run: Run::Read {
        check: check_range,
        read: getrange,
    },
};

/// `SETRANGE key offset value`: overwrites from `offset`, padding with zero bytes; the new
/// length.
pub(crate) static SETRANGE: CommandSpec = CommandSpec {
    name: "setrange",
    arity: 4,
    flags: &["write", "denyoom"],
    keys: KeySpec::FIRST,
    acl_categories: &["@write", "@string", "@slow"],
    docs: Docs {
        group: "string",
        summary: "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
        since: "2.2.0",
        complexity: "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_setrange,
        apply: setrange,
    },
};

/// `APPEND key value`: the value grows by `value` (a missing key starts empty); the new
/// length.
pub(crate) static APPEND: CommandSpec = CommandSpec {
    name: "append",
    arity: 3,
    flags: &["write", "denyoom", "fast"],
    keys: KeySpec::FIRST,
    acl_categories: &["@write", "@string", "@fast"],
    docs: Docs {
        group: "string",
        summary: "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        since: "2.0.0",
        complexity: "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.",
    },
    subcommands: &[],
    run: Run::Write {
        check: |args, limits| {
            check_key(&args[1], limits)?;
            super::check_value(&args[2], limits)
        },
        apply: |args, db| {
            let mut value = db.get(&args[1]).map(|v| v.to_vec()).unwrap_or_default();
            if value.len() + args[2].len() > db.value_bytes_max() {
                return string_too_long();
            }
            value.extend_from_slice(&args[2]);
            db.put(&args[1], &value);
            Reply::Integer(value.len() as i64)
        },
    },
};

fn check_range(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)?;
    for bound in &args[2..4] {
        parse_integer(bound).ok_or_else(not_an_integer)?;
    }
    Ok(())
}

/// Redis's `getrangeCommand`, step for step.
fn getrange(args: &[Bytes], db: &Reader<'_>) -> Reply {
    let (Some(mut start), Some(mut end)) = (parse_integer(&args[2]), parse_integer(&args[3]))
    else {
        return not_an_integer();
    };
    let value = db.get(&args[1]).unwrap_or_default();
    if start < 0 && end < 0 && start > end {
        return Reply::Bulk(Bytes::new());
    }
    let len = value.len() as i64;
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    let start = start.max(0);
    let end = end.max(0).min(len - 1);
    if start > end || len == 0 {
        return Reply::Bulk(Bytes::new());
    }
    Reply::Bulk(value.slice(start as usize..=end as usize))
}

/// The offset, if it is an integer of at least 0.
fn offset(arg: &[u8]) -> Result<usize, Reply> {
    match parse_integer(arg) {
        None => Err(not_an_integer()),
        Some(offset) if offset < 0 => Err(Reply::error("ERR offset is out of range")),
        Some(offset) => Ok(offset as usize),
    }
}

/// The result never grows past `offset + value`, so the size limit is checked here, before the
/// write is proposed; an empty value writes nothing and is never refused (as in Redis).
fn check_setrange(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)?;
    let offset = offset(&args[2])?;
    let value = &args[3];
    if !value.is_empty() && offset.saturating_add(value.len()) > limits.value_bytes_max {
        return Err(string_too_long());
    }
    Ok(())
}

/// Redis's wording for a string that would pass its size limit (ours is
/// `limits.max_value_size_bytes`).
pub(crate) fn string_too_long() -> Reply {
    Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
}

fn setrange(args: &[Bytes], db: &mut Writer<'_, '_>) -> Reply {
    let offset = match offset(&args[2]) {
        Ok(offset) => offset,
        Err(reply) => return reply,
    };
    let (key, patch) = (&args[1], &args[3]);
    let old = db.get(key);
    if patch.is_empty() {
        return Reply::Integer(old.map_or(0, |v| v.len() as i64));
    }
    let Some(end) = offset
        .checked_add(patch.len())
        .filter(|&end| end <= db.value_bytes_max())
    else {
        return string_too_long();
    };
    let mut value = old.map(|v| v.to_vec()).unwrap_or_default();
    if value.len() < end {
        value.resize(end, 0);
    }
    value[offset..end].copy_from_slice(patch);
    db.put(key, &value);
    Reply::Integer(value.len() as i64)
}
