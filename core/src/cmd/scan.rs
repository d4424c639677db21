//! The keyspace-wide commands: KEYS, SCAN, RANDOMKEY, FLUSHDB and FLUSHALL
//! (<https://redis.io/docs/latest/commands/scan/>).
//!
//! SCAN's cursor is a key *position* (see [`crate::kv::key_position`]: the hash slot, then 50
//! bits of a stable hash of the key): a reply's cursor is the position of the first key it did
//! not return, and 0 once the walk is past the last key. Positions are a pure function of the
//! key, the same on every replica and across snapshot installs, so a key present for the whole
//! iteration is returned at least once however leadership moves, as Redis's reverse-binary
//! cursor guarantees across rehashing. Keys that share a position are never split across two
//! replies, so a batch may hold a few more than COUNT.

use std::ops::ControlFlow;

use bytes::Bytes;

use crate::cmd::counter::parse_integer;
use crate::cmd::{
    glob_match, no_check, not_an_integer, syntax_error, CommandLimits, CommandSpec, Docs, KeySpec,
    Run,
};
use crate::kv::{key_position, Reader, Writer};
use crate::reply::Reply;

/// The most keys one SCAN call examines, whatever its COUNT: a bound on the work of one read
/// served on the driver. SCAN may always return fewer keys than COUNT.
pub(crate) const SCAN_EXAMINED_MAX: usize = 10_000;

/// `KEYS pattern`: every live key matching the glob `pattern`, in position order.
pub(crate) static KEYS: CommandSpec = CommandSpec {
    name: "keys",
    arity: 2,
    flags: &["readonly"],
    keys: KeySpec::NONE,
    acl_categories: &["@keyspace", "@read", "@slow", "@dangerous"],
    docs: Docs {
        group: "generic",
        summary: "Returns all key names that match a pattern.",
        since: "1.0.0",
        complexity: "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.",
    },
    subcommands: &[],
    run: Run::Read {
        check: no_check,
        read: keys,
    },
};

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
pub(crate) static SCAN: CommandSpec = CommandSpec {
    name: "scan",
    arity: -2,
    flags: &["readonly"],
    keys: KeySpec::NONE,
    acl_categories: &["@keyspace", "@read", "@slow"],
    docs: Docs {
        group: "generic",
        summary: "Iterates over the key names in the database.",
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
    },
    subcommands: &[],
    run: Run::Read {
        check: check_scan,
        read: scan,
    },
};

/// `RANDOMKEY`: a live key, or nil when there is none (see [`Reader::random_key`] for how far
/// from uniform it is).
pub(crate) static RANDOMKEY: CommandSpec = CommandSpec {
    name: "randomkey",
    arity: 1,
    flags: &["readonly"],
    keys: KeySpec::NONE,
    acl_categories: &["@keyspace", "@read", "@slow"],
    docs: Docs {
        group: "generic",
        summary: "Returns a random key name from the database.",
        since: "1.0.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Read {
        check: no_check,
        read: |_, db| db.random_key().map_or(Reply::Null, Reply::Bulk),
    },
};

/// `FLUSHDB [ASYNC | SYNC]`: deletes every key, as one log entry and one range delete.
pub(crate) static FLUSHDB: CommandSpec = CommandSpec {
    name: "flushdb",
    arity: -1,
    flags: &["write"],
    keys: KeySpec::NONE,
    acl_categories: &["@keyspace", "@write", "@slow", "@dangerous"],
    docs: Docs {
        group: "server",
        summary: "Remove all keys from the current database.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of keys in the selected database",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_flush,
        apply: flush,
    },
};

/// `FLUSHALL [ASYNC | SYNC]`: FLUSHDB, there being one database.
pub(crate) static FLUSHALL: CommandSpec = CommandSpec {
    name: "flushall",
    arity: -1,
    flags: &["write"],
    keys: KeySpec::NONE,
    acl_categories: &["@keyspace", "@write", "@slow", "@dangerous"],
    docs: Docs {
        group: "server",
        summary: "Removes all keys from all databases.",
        since: "1.0.0",
        complexity: "O(N) where N is the total number of keys in all databases",
    },
    subcommands: &[],
    run: Run::Write {
        check: check_flush,
        apply: flush,
    },
};

fn keys(args: &[Bytes], db: &Reader<'_>) -> Reply {
    let pattern = &args[1];
    let every = pattern.as_ref() == b"*";
    let mut found = Vec::new();
    db.for_each_key(&mut |key| {
        if every || glob_match(pattern, key) {
            found.push(Reply::Bulk(Bytes::copy_from_slice(key)));
        }
        ControlFlow::Continue(())
    });
    Reply::Array(found)
}

/// SCAN's arguments, parsed.
#[derive(Debug, PartialEq, Eq)]
struct ScanOptions<'a> {
    cursor: u64,
    /// `None`: every key (no MATCH, or MATCH `*`).
    pattern: Option<&'a [u8]>,
    count: usize,
    /// Whether TYPE named a type no key has (every key is a string).
    wrong_type: bool,
}

/// Parses SCAN's arguments as Redis 7's `scanGenericCommand` does: the cursor first (`ERR
/// invalid cursor`), then the options in any order, a later one overriding an earlier one.
fn scan_options(args: &[Bytes]) -> Result<ScanOptions<'_>, Reply> {
    let cursor = parse_cursor(&args[1]).ok_or_else(|| Reply::error("ERR invalid cursor"))?;
    let mut options = ScanOptions {
        cursor,
        pattern: None,
        count: 10,
        wrong_type: false,
    };
    let mut rest = &args[2..];
    while let [option, value, tail @ ..] = rest {
        match option.to_ascii_uppercase().as_slice() {
            b"COUNT" => {
                let count = parse_integer(value).ok_or_else(not_an_integer)?;
                if count < 1 {
                    return Err(syntax_error());
                }
                options.count = usize::try_from(count).unwrap_or(usize::MAX);
            }
            b"MATCH" => {
                options.pattern = Some(value.as_ref()).filter(|p| *p != b"*");
            }
            b"TYPE" => options.wrong_type = !value.eq_ignore_ascii_case(b"string"),
            _ => return Err(syntax_error()),
        }
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(syntax_error());
    }
    Ok(options)
}

/// A cursor as C's `strtoull` reads it, which is what Redis uses: an optional sign (a minus
/// wraps around), decimal digits, nothing after them, no leading space; the empty string is 0.
fn parse_cursor(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return Some(0);
    }
    let (negative, digits) = match text.split_first() {
        Some((b'-', digits)) => (true, digits),
        Some((b'+', digits)) => (false, digits),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

fn check_scan(args: &[Bytes], _: &CommandLimits) -> Result<(), Reply> {
    scan_options(args).map(|_| ())
}

fn scan(args: &[Bytes], db: &Reader<'_>) -> Reply {
    let options = match scan_options(args) {
        Ok(options) => options,
        Err(reply) => return reply,
    };
    let reply = |next: u64, keys: Vec<Reply>| {
        Reply::Array(vec![
            Reply::Bulk(Bytes::from(next.to_string())),
            Reply::Array(keys),
        ])
    };
    if options.wrong_type {
        // No key has that type: the whole iteration returns nothing, so end it here.
        return reply(0, Vec::new());
    }
    let budget = options.count.min(SCAN_EXAMINED_MAX);
    let (mut examined, mut last, mut next) = (0, None, 0);
    let mut keys = Vec::new();
    db.for_each_record(options.cursor, &mut |key, _| {
        let position = key_position(key);
        if examined >= budget && last != Some(position) {
            next = position;
            return ControlFlow::Break(());
        }
        examined += 1;
        last = Some(position);
        if options
            .pattern
            .is_none_or(|pattern| glob_match(pattern, key))
        {
            keys.push(Reply::Bulk(Bytes::copy_from_slice(key)));
        }
        ControlFlow::Continue(())
    });
    reply(next, keys)
}

/// FLUSHDB's and FLUSHALL's one optional argument, ASYNC or SYNC (both are the same here: a
/// range delete is O(1) in the apply pass and the store reclaims the space in the background).
fn check_flush(args: &[Bytes], _: &CommandLimits) -> Result<(), Reply> {
    match args {
        [_] => Ok(()),
        [_, mode] if mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC") => {
            Ok(())
        }
        _ => Err(syntax_error()),
    }
}

fn flush(args: &[Bytes], db: &mut Writer<'_, '_>) -> Reply {
    // Checked again: inside MULTI the arguments reach EXEC unchecked.
    if let Err(reply) = check_flush(args, &CommandLimits::default()) {
        return reply;
    }
    db.clear();
    Reply::ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::cmd::tests::{args, error};
    use crate::cmd::Call;
    use crate::ids::GroupId;
    use crate::kv::{ApplyContext, Keyspace, Proposal};
    use crate::storage::{ColumnFamily, DataRange, MemStore, Store};

    /// A keyspace over a MemStore, each write its own apply pass.
    struct Db {
        store: MemStore,
        keyspace: Keyspace,
    }

    impl Db {
        fn new() -> Db {
            let store = MemStore::new();
            let keyspace = Keyspace::load(DataRange::first(GroupId(1)), &store, 65_536).unwrap();
            Db { store, keyspace }
        }

        fn write(&mut self, words: &[&[u8]]) -> Reply {
            let mut cx = ApplyContext::new(&self.store);
            let reply = apply(&mut self.keyspace, &mut cx, words);
            let mut batch = cx.into_batch();
            self.keyspace.finish_pass(&mut batch);
            self.store.write(batch).unwrap();
            reply
        }

        fn read(&self, words: &[&[u8]]) -> Reply {
            read(words, &Reader::new(&self.keyspace, &self.store))
        }
    }

    fn to_args(words: &[&[u8]]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w)).collect()
    }

    fn apply(keyspace: &mut Keyspace, cx: &mut ApplyContext<'_>, words: &[&[u8]]) -> Reply {
        let proposal = Proposal::Command {
            unix_ms: 1_000,
            args: to_args(words),
        };
        keyspace.apply(cx, &proposal).unwrap()
    }

    fn read(words: &[&[u8]], db: &Reader<'_>) -> Reply {
        let call = Call::parse(to_args(words), &CommandLimits::default()).unwrap();
        let Run::Read { read, .. } = call.run() else {
            panic!("{words:?} is not a read");
        };
        read(call.args(), db)
    }

    /// The keys of a KEYS reply, or of a SCAN reply with its cursor.
    fn key_set(reply: &Reply) -> BTreeSet<Bytes> {
        let Reply::Array(keys) = reply else {
            panic!("not an array: {reply:?}");
        };
        keys.iter()
            .map(|key| match key {
                Reply::Bulk(key) => key.clone(),
                other => panic!("not a key: {other:?}"),
            })
            .collect()
    }

    fn scan_reply(reply: &Reply) -> (u64, BTreeSet<Bytes>) {
        let Reply::Array(parts) = reply else {
            panic!("not an array: {reply:?}");
        };
        let Reply::Bulk(cursor) = &parts[0] else {
            panic!("no cursor: {reply:?}");
        };
        let cursor = std::str::from_utf8(cursor).unwrap().parse().unwrap();
        (cursor, key_set(&parts[1]))
    }

    fn name(k: u8) -> Vec<u8> {
        format!("key:{k}").into_bytes()
    }

    proptest! {
        #[test]
        fn a_full_scan_returns_every_key_present_throughout(
            initial in proptest::collection::btree_set(0u8..64, 0..40),
            changes in proptest::collection::vec(
                proptest::collection::vec((0u8..64, any::<bool>()), 0..4), 0..30),
            count in 1usize..6,
            pattern in proptest::option::of(Just("key:1*")),
        ) {
            // Goal: SCAN's guarantee. Method: scan to the end while adding and removing keys
            // between calls; every key present from start to end must come back, and every
            // key that comes back must have existed at some point (and match the pattern).
            let mut db = Db::new();
            for k in &initial {
                db.write(&[b"SET", &name(*k), b"v"]);
            }
            let mut present: BTreeSet<Bytes> = initial.iter().map(|k| Bytes::from(name(*k))).collect();
            let mut throughout = present.clone();
            let mut ever = present.clone();
            let (mut cursor, mut seen, mut calls) = (0u64, BTreeSet::new(), 0);
            loop {
                let count = count.to_string();
                let cursor_text = cursor.to_string();
                let mut words: Vec<&[u8]> = vec![b"SCAN", cursor_text.as_bytes(), b"COUNT", count.as_bytes()];
                if let Some(pattern) = pattern {
                    words.extend([&b"MATCH"[..], pattern.as_bytes()]);
                }
                let (next, keys) = scan_reply(&db.read(&words));
                seen.extend(keys);
                calls += 1;
                prop_assert!(calls <= 200, "the scan does not end");
                if next == 0 {
                    break;
                }
                prop_assert!(next > cursor, "the cursor goes forward");
                cursor = next;
                for (k, add) in changes.get(calls - 1).into_iter().flatten() {
                    let key = Bytes::from(name(*k));
                    if *add {
                        db.write(&[b"SET", &key, b"w"]);
                        present.insert(key.clone());
                        ever.insert(key);
                    } else {
                        db.write(&[b"DEL", &key]);
                        present.remove(&key);
                        throughout.remove(&key);
                    }
                }
            }
            let wanted = |key: &Bytes| pattern.is_none_or(|p| glob_match(p.as_bytes(), key));
            for key in throughout.iter().filter(|key| wanted(key)) {
                prop_assert!(seen.contains(key), "missed {key:?}");
            }
            for key in &seen {
                prop_assert!(ever.contains(key) && wanted(key), "invented {key:?}");
            }
            let all = key_set(&db.read(&[b"KEYS", b"*"]));
            prop_assert_eq!(&all, &present);
            let ones = key_set(&db.read(&[b"KEYS", b"key:1*"]));
            prop_assert_eq!(ones, present.iter().filter(|k| k.starts_with(b"key:1")).cloned().collect::<BTreeSet<_>>());
            match db.read(&[b"RANDOMKEY"]) {
                Reply::Bulk(key) => prop_assert!(present.contains(&key)),
                Reply::Null => prop_assert!(present.is_empty()),
                other => prop_assert!(false, "RANDOMKEY gave {:?}", other),
            }
        }
    }

    #[test]
    fn scan_never_splits_keys_of_one_position_and_stops_at_its_bound() {
        // Goal: a batch ends on a position boundary, and COUNT is capped. Method: 30 keys,
        // COUNT 1 walks them one position at a time; a huge COUNT examines at most the cap.
        let mut db = Db::new();
        for k in 0..30 {
            db.write(&[b"SET", &name(k), b"v"]);
        }
        let (next, keys) = scan_reply(&db.read(&[b"SCAN", b"0", b"COUNT", b"1"]));
        assert_eq!(keys.len(), 1);
        let first = keys.iter().next().unwrap();
        assert!(next > key_position(first));
        let (next, keys) = scan_reply(&db.read(&[b"SCAN", b"0", b"COUNT", b"1000000"]));
        assert_eq!((next, keys.len()), (0, 30));
        let (next, keys) = scan_reply(&db.read(&[b"SCAN", b"0", b"TYPE", b"hash"]));
        assert_eq!((next, keys.len()), (0, 0));
        let (_, keys) =
            scan_reply(&db.read(&[b"SCAN", b"0", b"TYPE", b"String", b"COUNT", b"100"]));
        assert_eq!(keys.len(), 30);
    }

    #[test]
    fn randomkey_does_not_always_pick_the_same_key() {
        let mut db = Db::new();
        assert_eq!(db.read(&[b"RANDOMKEY"]), Reply::Null);
        for k in 0..20 {
            db.write(&[b"SET", &name(k), b"v"]);
        }
        let picked: BTreeSet<_> = (0..50)
            .map(|_| match db.read(&[b"RANDOMKEY"]) {
                Reply::Bulk(key) => key,
                other => panic!("RANDOMKEY gave {other:?}"),
            })
            .collect();
        assert!(picked.len() >= 5, "only {picked:?}");
    }

    #[test]
    fn flushall_mid_pass_empties_the_keyspace_for_later_entries_and_reads() {
        // Goal: a FLUSHALL inside an apply pass hides the stored keys (and deadlines) from the
        // entries and reads after it, while what those entries write stays. Method: one pass
        // of SET, FLUSHALL, SET, read between the entries, then check the store after it.
        let mut db = Db::new();
        for k in 0..10 {
            db.write(&[b"SET", &name(k), b"v"]);
        }
        db.write(&[b"SET", b"ttl", b"v", b"PX", b"100000"]);
        let mut cx = ApplyContext::new(&db.store);
        apply(&mut db.keyspace, &mut cx, &[b"SET", b"fresh", b"v"]);
        assert_eq!(
            apply(&mut db.keyspace, &mut cx, &[b"FLUSHALL", b"async"]),
            Reply::ok()
        );
        let reader = Reader::mid_pass(&db.keyspace, &cx);
        assert_eq!(read(&[b"KEYS", b"*"], &reader), Reply::Array(vec![]));
        assert_eq!(read(&[b"DBSIZE"], &reader), Reply::Integer(0));
        assert_eq!(read(&[b"RANDOMKEY"], &reader), Reply::Null);
        assert_eq!(read(&[b"GET", b"key:1"], &reader), Reply::Null);
        assert_eq!(
            apply(&mut db.keyspace, &mut cx, &[b"DEL", b"key:2"]),
            Reply::Integer(0)
        );
        apply(&mut db.keyspace, &mut cx, &[b"SET", b"after", b"v"]);
        apply(&mut db.keyspace, &mut cx, &[b"SET", &name(3), b"again"]);
        let reader = Reader::mid_pass(&db.keyspace, &cx);
        let expected: BTreeSet<Bytes> = [Bytes::from("after"), Bytes::from(name(3))].into();
        assert_eq!(key_set(&read(&[b"KEYS", b"*"], &reader)), expected);
        let (next, keys) = scan_reply(&read(&[b"SCAN", b"0"], &reader));
        assert_eq!((next, keys), (0, expected.clone()));
        assert_eq!(read(&[b"DBSIZE"], &reader), Reply::Integer(2));
        let mut batch = cx.into_batch();
        db.keyspace.finish_pass(&mut batch);
        db.store.write(batch).unwrap();
        assert_eq!(key_set(&db.read(&[b"KEYS", b"*"])), expected);
        assert_eq!(
            db.store.dump(ColumnFamily::DataKv).len(),
            2,
            "no deadline entry is left"
        );
        assert_eq!(db.keyspace.state().expiring, 0);
        assert_eq!(
            db.keyspace.state().clock_ms,
            1_000,
            "the cluster time stays"
        );
        let reloaded = Keyspace::load(DataRange::first(GroupId(1)), &db.store, 65_536).unwrap();
        assert_eq!(reloaded.state().keys, 2);
    }

    #[test]
    fn cursor_reads_as_strtoull() {
        // Goal: the cursors Redis 7.0.15 accepts and refuses (checked against redis-server).
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+1"), Some(1));
        assert_eq!(parse_cursor(b"01"), Some(1));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"-0"), Some(0));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b"18446744073709551616"[..],
            b"x",
            b"1.5",
            b" 1",
            b"1 ",
            b"-",
            b"+",
            b"0x1",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn scan_and_flush_errors_match_redis() {
        assert_eq!(error(&["SCAN", "x"]), "ERR invalid cursor");
        assert_eq!(error(&["SCAN", "x", "COUNT", "0"]), "ERR invalid cursor");
        assert_eq!(error(&["SCAN", "0", "COUNT", "0"]), "ERR syntax error");
        assert_eq!(error(&["SCAN", "0", "COUNT", "-1"]), "ERR syntax error");
        assert_eq!(
            error(&["SCAN", "0", "COUNT", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error(&["SCAN", "0", "COUNT", "9223372036854775808"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(error(&["SCAN", "0", "COUNT"]), "ERR syntax error");
        assert_eq!(error(&["SCAN", "0", "MATCH"]), "ERR syntax error");
        assert_eq!(error(&["SCAN", "0", "COUNT", "1", "x"]), "ERR syntax error");
        assert_eq!(error(&["SCAN", "0", "FOO", "1"]), "ERR syntax error");
        assert_eq!(error(&["FLUSHDB", "x"]), "ERR syntax error");
        assert_eq!(error(&["FLUSHALL", "ASYNC", "SYNC"]), "ERR syntax error");
        assert_eq!(
            error(&["KEYS"]),
            "ERR wrong number of arguments for 'keys' command"
        );
        assert_eq!(
            error(&["RANDOMKEY", "x"]),
            "ERR wrong number of arguments for 'randomkey' command"
        );
        let options = args(&[
            "SCAN", "7", "match", "a*", "COUNT", "3", "type", "STRING", "MATCH", "*",
        ]);
        assert_eq!(
            scan_options(&options),
            Ok(ScanOptions {
                cursor: 7,
                pattern: None,
                count: 3,
                wrong_type: false
            })
        );
    }
}
