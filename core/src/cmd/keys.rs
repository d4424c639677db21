//! The generic key commands: DEL, UNLINK, EXISTS, TOUCH, TYPE, RENAME, RENAMENX and COPY
//! (<https://redis.io/docs/latest/commands/?group=generic>).

use bytes::Bytes;

use crate::cmd::{check_key, CommandLimits, CommandSpec, Docs, KeySpec, Run};
use crate::kv::{Reader, Writer};
use crate::reply::Reply;

/// `DEL key [key ...]`: replies with the number of keys removed (a key named twice is
/// removed once).
pub(crate) static DEL: CommandSpec = CommandSpec {
    name: "del",
    arity: -2,
    flags: &["write"],
    keys: KeySpec::ALL,
    acl_categories: &["@keyspace", "@write", "@slow"],
    docs: Docs {
        group: "generic",
        summary: "Deletes one or more keys.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of keys that will be removed.",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_keys,
        apply: del,
    },
};

/// `EXISTS key [key ...]`: how many of the keys exist, a key named twice counted twice, as
/// Redis does.
pub(crate) static EXISTS: CommandSpec = CommandSpec {
    name: "exists",
    arity: -2,
    flags: &["readonly", "fast"],
    keys: KeySpec::ALL,
    acl_categories: &["@keyspace", "@read", "@fast"],
    docs: Docs {
        group: "generic",
        summary: "Determines whether one or more keys exist.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of keys to check.",
    },
    subcommands: &[],
    run: Run::Read {
        check: check_keys,
        read: exists,
    },
};

/// `UNLINK key [key ...]`: DEL. Redis frees the values in the background; a delete here is a
/// tombstone either way.
pub(crate) static UNLINK: CommandSpec = CommandSpec {
    name: "unlink",
    arity: -2,
    flags: &["write", "fast"],
    keys: KeySpec::ALL,
    acl_categories: &["@keyspace", "@write", "@fast"],
    docs: Docs {
        group: "generic",
        summary: "Asynchronously deletes one or more keys.",
        since: "4.0.0",
        complexity: "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_keys,
        apply: del,
    },
};

/// `TOUCH key [key ...]`: how many of the keys exist. Seshat keeps no access times, so it only
/// counts (a key named twice counts twice, as Redis does).
pub(crate) static TOUCH: CommandSpec = CommandSpec {
    name: "touch",
    arity: -2,
    flags: &["readonly", "fast"],
    keys: KeySpec::ALL,
    acl_categories: &["@keyspace", "@read", "@fast"],
    docs: Docs {
        group: "generic",
        summary: "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        since: "3.2.1",
        complexity: "O(N) where N is the number of keys that will be touched.",
    },
    subcommands: &[],
    run: Run::Read {
        check: check_keys,
        read: exists,
    },
};

/// `TYPE key`: `string` for every key (the only type so far), `none` for a missing one.
pub(crate) static TYPE: CommandSpec = CommandSpec {
    name: "type",
    arity: 2,
    flags: &["readonly", "fast"],
    keys: KeySpec::FIRST,
    acl_categories: &["@keyspace", "@read", "@fast"],
    docs: Docs {
        group: "generic",
        summary: "Determines the type of value stored at a key.",
        since: "1.0.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Read {
        check: check_keys,
        read: |args, db| {
            let kind = if db.get(&args[1]).is_some() {
                "string"
            } else {
                "none"
            };
            Reply::Simple(kind.to_owned())
        },
    },
};

/// The source and the destination: `RENAME key newkey`, `COPY source destination`.
pub(crate) const TWO_KEYS: KeySpec = KeySpec {
    first: 1,
    last: 2,
    step: 1,
};

/// `RENAME key newkey`: moves the value, replacing whatever `newkey` held.
pub(crate) static RENAME: CommandSpec = CommandSpec {
    name: "rename",
    arity: 3,
    flags: &["write"],
    keys: TWO_KEYS,
    acl_categories: &["@keyspace", "@write", "@slow"],
    docs: Docs {
        group: "generic",
        summary: "Renames a key and overwrites the destination.",
        since: "1.0.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_keys,
        apply: |args, db| match rename(args, db, true) {
            Ok(_) => Reply::ok(),
            Err(reply) => reply,
        },
    },
};

/// `RENAMENX key newkey`: RENAME only if `newkey` does not exist; 1 if it renamed.
pub(crate) static RENAMENX: CommandSpec = CommandSpec {
    name: "renamenx",
    arity: 3,
    flags: &["write", "fast"],
    keys: TWO_KEYS,
    acl_categories: &["@keyspace", "@write", "@fast"],
    docs: Docs {
        group: "generic",
        summary: "Renames a key only when the target key name doesn't exist.",
        since: "1.0.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_keys,
        apply: |args, db| match rename(args, db, false) {
            Ok(renamed) => Reply::Integer(renamed.into()),
            Err(reply) => reply,
        },
    },
};

/// Redis's `renameGenericCommand`: `ERR no such key` without a source; renaming a key to itself
/// changes nothing (RENAMENX then answers 0). The TTL moves with the value.
fn rename(args: &[Bytes], db: &mut Writer<'_, '_>, replace: bool) -> Result<bool, Reply> {
    let (from, to) = (&args[1], &args[2]);
    let Some(record) = db.entry(from) else {
        return Err(Reply::error("ERR no such key"));
    };
    if from == to {
        return Ok(replace);
    }
    if !replace && db.get(to).is_some() {
        return Ok(false);
    }
    db.delete(from);
    db.set(to, &record.value, record.deadline_ms);
    Ok(true)
}

/// `COPY source destination [DB 0] [REPLACE]`: 1 if it copied. Seshat has database 0 only.
pub(crate) static COPY: CommandSpec = CommandSpec {
    name: "copy",
    arity: -3,
    flags: &["write", "denyoom"],
    keys: TWO_KEYS,
    acl_categories: &["@keyspace", "@write", "@slow"],
    docs: Docs {
        group: "generic",
        summary: "Copies the value of a key to a new key.",
        since: "6.2.0",
        complexity: "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_copy,
        apply: copy,
    },
};

/// COPY's options: whether it replaces the destination.
fn copy_options(args: &[Bytes]) -> Result<bool, Reply> {
    let mut replace = false;
    let mut options = args[3..].iter();
    while let Some(option) = options.next() {
        match option.to_ascii_uppercase().as_slice() {
            b"REPLACE" => replace = true,
            b"DB" => {
                let index = options.next().ok_or_else(super::syntax_error)?;
                match super::parse_i64(index) {
                    Some(0) => {}
                    Some(_) => return Err(Reply::error("ERR DB index is out of range")),
                    None => return Err(super::not_an_integer()),
                }
            }
            _ => return Err(super::syntax_error()),
        }
    }
    Ok(replace)
}

fn check_copy(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)?;
    check_key(&args[2], limits)?;
    copy_options(args)?;
    if args[1] == args[2] {
        return Err(Reply::error(
            "ERR source and destination objects are the same",
        ));
    }
    Ok(())
}

fn copy(args: &[Bytes], db: &mut Writer<'_, '_>) -> Reply {
    let replace = match copy_options(args) {
        Ok(replace) => replace,
        Err(reply) => return reply,
    };
    if args[1] == args[2] {
        return Reply::error("ERR source and destination objects are the same");
    }
    let Some(record) = db.entry(&args[1]) else {
        return Reply::Integer(0);
    };
    if !replace && db.get(&args[2]).is_some() {
        return Reply::Integer(0);
    }
    // The copy has the source's TTL, as in Redis.
    db.set(&args[2], &record.value, record.deadline_ms);
    Reply::Integer(1)
}

/// Every argument after the name is a key within the limit.
pub(crate) fn check_keys(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    args[1..].iter().try_for_each(|key| check_key(key, limits))
}

fn del(args: &[Bytes], db: &mut Writer<'_, '_>) -> Reply {
    let removed = args[1..].iter().filter(|key| db.delete(key)).count();
    Reply::Integer(removed as i64)
}

fn exists(args: &[Bytes], db: &Reader<'_>) -> Reply {
    let found = args[1..].iter().filter(|key| db.get(key).is_some()).count();
    Reply::Integer(found as i64)
}

#[cfg(test)]
mod tests {
    use crate::cmd::tests::{error, parse};

    #[test]
    fn every_argument_is_a_key_within_the_limit() {
        let call = parse(&["DEL", "a", "b", "c"]).unwrap();
        let keys: Vec<_> = call.keys().map(|k| k.as_ref().to_vec()).collect();
        assert_eq!(keys, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(
            error(&["EXISTS", "ok", &"k".repeat(257)]),
            "ERR key too large"
        );
    }
}
