//! The server commands DBSIZE, TIME and COMMAND
//! (<https://redis.io/docs/latest/commands/?group=server>); INFO and CONFIG have modules of
//! their own ([`info`](super::info), [`config`](super::config)).

use bytes::Bytes;

use crate::cmd::{no_check, CommandSpec, Docs, KeySpec, Run, COMMANDS};
use crate::kv::Reader;
use crate::reply::Reply;
use crate::session::{Action, Session};

/// `DBSIZE`: the number of keys, read linearizably. Keyless, so a follower serves it too,
/// through a ReadIndex raft-rs forwards to the leader.
pub(crate) static DBSIZE: CommandSpec = CommandSpec {
    name: "dbsize",
    arity: 1,
    flags: &["readonly", "fast"],
    keys: KeySpec::NONE,
    acl_categories: &["@keyspace", "@read", "@fast"],
    docs: Docs {
        group: "server",
        summary: "Returns the number of keys in the database.",
        since: "1.0.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Read {
        check: no_check,
        read: |_, db: &Reader<'_>| Reply::Integer(db.key_count() as i64),
    },
};

/// `TIME`: this node's wall clock, as handed to it with its latest input, as
/// `[unix seconds, microseconds]` (bulk strings, as Redis answers). The runtime reads the
/// clock in milliseconds, so the microseconds are a multiple of 1000. Answered by the node
/// without consensus: it is the server's own clock that TIME reports.
pub(crate) static TIME: CommandSpec = CommandSpec {
    name: "time",
    arity: 1,
    flags: &["loading", "stale", "fast"],
    keys: KeySpec::NONE,
    acl_categories: &["@fast"],
    docs: Docs {
        group: "server",
        summary: "Returns the server time.",
        since: "2.6.0",
        complexity: "O(1)",
    },
    subcommands: &[],
    run: Run::Local {
        check: no_check,
        answer: |node, _, _| time(node.unix_ms()),
    },
};

fn time(unix_ms: u64) -> Reply {
    let seconds = unix_ms / 1000;
    let microseconds = unix_ms % 1000 * 1000;
    Reply::Array(vec![
        Reply::bulk(seconds.to_string()),
        Reply::bulk(microseconds.to_string()),
    ])
}

/// `COMMAND [COUNT | INFO [name ...] | DOCS [name ...] | GETKEYS command [arg ...]]`: the
/// command table itself.
pub(crate) static COMMAND: CommandSpec = CommandSpec {
    name: "command",
    arity: -1,
    flags: &["loading", "stale", "sentinel"],
    keys: KeySpec::NONE,
    acl_categories: &["@slow", "@connection"],
    docs: Docs {
        group: "server",
        summary: "Returns detailed information about all commands.",
        since: "2.8.13",
        complexity: "O(N) where N is the total number of Redis commands",
    },
    subcommands: &[
        command_sub(
            "command|count",
            2,
            "Returns a count of commands.",
            "2.8.13",
            |_, _| Action::Reply(Reply::Integer(COMMANDS.len() as i64)),
        ),
        command_sub(
            "command|info",
            -2,
            "Returns information about one, multiple or all commands.",
            "2.8.13",
            command_info,
        ),
        command_sub(
            "command|docs",
            -2,
            "Returns documentary information about one, multiple or all commands.",
            "7.0.0",
            command_docs,
        ),
        command_sub(
            "command|getkeys",
            -4,
            "Extracts the key names from an arbitrary command.",
            "2.8.13",
            command_getkeys,
        ),
    ],
    run: Run::Session(|_, _| {
        Action::Reply(Reply::Array(
            COMMANDS.iter().map(|s| info_entry(s)).collect(),
        ))
    }),
};

const fn command_sub(
    name: &'static str,
    arity: i64,
    summary: &'static str,
    since: &'static str,
    run: fn(&mut Session, &[Bytes]) -> Action,
) -> CommandSpec {
    let docs = Docs {
        group: "server",
        summary,
        since,
        complexity: "O(N) where N is the number of commands to look up",
    };
    CommandSpec::session(
        name,
        arity,
        &["loading", "stale"],
        &["@slow", "@connection"],
        docs,
        run,
    )
}

/// The spec `name` names: a command, or `container|sub` for a subcommand.
fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    match name.iter().position(|&b| b == b'|') {
        None => CommandSpec::find(name),
        Some(bar) => {
            let container = CommandSpec::find(&name[..bar])?;
            container.subcommand(&name[bar + 1..])
        }
    }
}

/// `COMMAND INFO [name ...]`: every command when no name is given (Redis 7), else one entry
/// per name, null for an unknown one.
fn command_info(_: &mut Session, args: &[Bytes]) -> Action {
    let names = &args[2..];
    Action::Reply(Reply::Array(if names.is_empty() {
        COMMANDS.iter().map(|spec| info_entry(spec)).collect()
    } else {
        names
            .iter()
            .map(|name| find(name).map_or(Reply::Null, info_entry))
            .collect()
    }))
}

/// One `COMMAND` entry in Redis 7's shape: name, arity, flags, first key, last key, step, ACL
/// categories, tips, key specifications, subcommands.
fn info_entry(spec: &CommandSpec) -> Reply {
    let statuses = |items: &[&str]| {
        Reply::Set(
            items
                .iter()
                .map(|s| Reply::Simple((*s).to_owned()))
                .collect(),
        )
    };
    Reply::Array(vec![
        Reply::bulk(spec.name),
        Reply::Integer(spec.arity),
        statuses(spec.flags),
        Reply::Integer(spec.keys.first),
        Reply::Integer(spec.keys.last),
        Reply::Integer(spec.keys.step),
        statuses(spec.acl_categories),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(spec.subcommands.iter().map(info_entry).collect()),
    ])
}

/// `COMMAND DOCS [name ...]`: every command when no name is given; unknown names are left
/// out.
fn command_docs(_: &mut Session, args: &[Bytes]) -> Action {
    let names = &args[2..];
    let specs: Vec<&CommandSpec> = if names.is_empty() {
        COMMANDS.to_vec()
    } else {
        names.iter().filter_map(|name| find(name)).collect()
    };
    Action::Reply(Reply::Map(
        specs
            .into_iter()
            .map(|spec| (Reply::bulk(spec.name), docs_entry(spec)))
            .collect(),
    ))
}

fn docs_entry(spec: &CommandSpec) -> Reply {
    let mut fields = vec![
        (Reply::bulk("summary"), Reply::bulk(spec.docs.summary)),
        (Reply::bulk("since"), Reply::bulk(spec.docs.since)),
        (Reply::bulk("group"), Reply::bulk(spec.docs.group)),
        (Reply::bulk("complexity"), Reply::bulk(spec.docs.complexity)),
    ];
    if !spec.subcommands.is_empty() {
        let subcommands = spec
            .subcommands
            .iter()
            .map(|sub| (Reply::bulk(sub.name), docs_entry(sub)))
            .collect();
        fields.push((Reply::bulk("subcommands"), Reply::Map(subcommands)));
    }
    Reply::Map(fields)
}

/// `COMMAND GETKEYS command [arg ...]`: the keys the command would route by, from its spec,
/// with Redis's errors in Redis's order (unknown command, no keys, arity).
fn command_getkeys(_: &mut Session, args: &[Bytes]) -> Action {
    let inner = &args[2..];
    let base = CommandSpec::find(&inner[0]);
    let spec = match base {
        Some(base) if !base.subcommands.is_empty() && inner.len() >= 2 => {
            base.subcommand(&inner[1])
        }
        other => other,
    };
    let Some(spec) = spec else {
        return Action::Reply(Reply::error("ERR Invalid command specified"));
    };
    if !spec.has_keys() {
        return Action::Reply(Reply::error("ERR The command has no key arguments"));
    }
    if !spec.arity_allows(inner.len()) {
        return Action::Reply(Reply::error(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let keys = spec
        .keys
        .positions(inner.len())
        .map(|position| Reply::Bulk(inner[position].clone()))
        .collect();
    Action::Reply(Reply::Array(keys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::tests::{reply, session};

    #[test]
    fn time_answers_unix_seconds_and_microseconds() {
        let bulk = |text: &str| Reply::bulk(text.to_owned());
        assert_eq!(
            time(1_700_000_123_456),
            Reply::Array(vec![bulk("1700000123"), bulk("456000")])
        );
        assert_eq!(time(5), Reply::Array(vec![bulk("0"), bulk("5000")]));
        assert_eq!(time(0), Reply::Array(vec![bulk("0"), bulk("0")]));
    }

    #[test]
    fn command_count_and_list_come_from_the_table() {
        let mut s = session();
        assert_eq!(
            reply(&mut s, &["COMMAND", "COUNT"]),
            Reply::Integer(COMMANDS.len() as i64)
        );
        let Reply::Array(list) = reply(&mut s, &["COMMAND"]) else {
            panic!()
        };
        assert_eq!(list.len(), COMMANDS.len());
        assert_eq!(
            reply(&mut s, &["COMMAND", "COUNT", "x"]),
            Reply::error("ERR wrong number of arguments for 'command|count' command")
        );
    }

    #[test]
    fn command_info_reports_each_spec_as_redis_does() {
        // Goal: COMMAND INFO reads the table, subcommands included. Method: compare the entry
        // for every spec with the spec's own fields.
        let mut s = session();
        for spec in COMMANDS {
            let Reply::Array(entries) = reply(&mut s, &["COMMAND", "INFO", spec.name]) else {
                panic!()
            };
            let Reply::Array(entry) = &entries[0] else {
                panic!("{} has no entry", spec.name)
            };
            assert_eq!(entry[0], Reply::bulk(spec.name));
            assert_eq!(entry[1], Reply::Integer(spec.arity));
            assert_eq!(entry[3], Reply::Integer(spec.keys.first));
            assert_eq!(entry[4], Reply::Integer(spec.keys.last));
            assert_eq!(entry[5], Reply::Integer(spec.keys.step));
            let Reply::Array(subcommands) = &entry[9] else {
                panic!()
            };
            assert_eq!(subcommands.len(), spec.subcommands.len());
        }
        let Reply::Array(entries) = reply(
            &mut s,
            &["COMMAND", "INFO", "get", "nope", "CLIENT|SETNAME"],
        ) else {
            panic!()
        };
        let Reply::Array(get) = &entries[0] else {
            panic!()
        };
        assert_eq!(
            get[..7],
            [
                Reply::bulk("get"),
                Reply::Integer(2),
                Reply::Set(vec![
                    Reply::Simple("readonly".to_owned()),
                    Reply::Simple("fast".to_owned())
                ]),
                Reply::Integer(1),
                Reply::Integer(1),
                Reply::Integer(1),
                Reply::Set(vec![
                    Reply::Simple("@read".to_owned()),
                    Reply::Simple("@string".to_owned()),
                    Reply::Simple("@fast".to_owned())
                ]),
            ]
        );
        assert_eq!(entries[1], Reply::Null);
        let Reply::Array(setname) = &entries[2] else {
            panic!()
        };
        assert_eq!(setname[0], Reply::bulk("client|setname"));
        assert_eq!(setname[1], Reply::Integer(3));
    }

    #[test]
    fn command_docs_lists_known_names_only() {
        let mut s = session();
        let Reply::Map(docs) = reply(&mut s, &["COMMAND", "DOCS", "get"]) else {
            panic!()
        };
        assert_eq!(docs[0].0, Reply::bulk("get"));
        assert_eq!(
            reply(&mut s, &["COMMAND", "DOCS", "nope"]),
            Reply::Map(vec![])
        );
        let Reply::Map(all) = reply(&mut s, &["COMMAND", "DOCS"]) else {
            panic!()
        };
        assert_eq!(all.len(), COMMANDS.len());
    }

    #[test]
    fn command_getkeys_reads_key_positions_from_the_table() {
        let mut s = session();
        let bulks = |words: &[&str]| {
            Reply::Array(words.iter().map(|w| Reply::bulk(w.to_string())).collect())
        };
        assert_eq!(
            reply(&mut s, &["COMMAND", "GETKEYS", "SET", "k", "v", "NX"]),
            bulks(&["k"])
        );
        assert_eq!(
            reply(&mut s, &["COMMAND", "GETKEYS", "del", "a", "b", "c"]),
            bulks(&["a", "b", "c"])
        );
        assert_eq!(
            reply(&mut s, &["COMMAND", "GETKEYS", "GET", "k"]),
            bulks(&["k"])
        );
        assert_eq!(
            reply(&mut s, &["COMMAND", "GETKEYS", "nope", "k"]),
            Reply::error("ERR Invalid command specified")
        );
        assert_eq!(
            reply(&mut s, &["COMMAND", "GETKEYS", "ECHO", "x"]),
            Reply::error("ERR The command has no key arguments")
        );
        assert_eq!(
            reply(&mut s, &["COMMAND", "GETKEYS", "CLIENT", "SETNAME", "x"]),
            Reply::error("ERR The command has no key arguments")
        );
        assert_eq!(
            reply(&mut s, &["COMMAND", "GETKEYS", "client", "nope"]),
            Reply::error("ERR Invalid command specified")
        );
        assert_eq!(
            reply(&mut s, &["COMMAND", "GETKEYS", "GET", "a", "b"]),
            Reply::error("ERR Invalid number of arguments specified for command")
        );
        for words in [&["COMMAND", "GETKEYS"][..], &["COMMAND", "GETKEYS", "PING"]] {
            assert_eq!(
                reply(&mut s, words),
                Reply::error("ERR wrong number of arguments for 'command|getkeys' command")
            );
        }
    }

    #[test]
    fn every_key_position_routes_the_same_as_getkeys() {
        // Goal: routing (Call::first_key) and COMMAND GETKEYS read the same spec. Method: for
        // every keyed command, parse a call and compare its keys with GETKEYS's.
        let mut s = session();
        for spec in COMMANDS.iter().filter(|spec| spec.has_keys()) {
            let mut words = vec![spec.name.to_owned()];
            let arity = spec.arity.unsigned_abs() as usize;
            words.extend((1..arity.max(3)).map(|i| format!("k{i}")));
            if spec.arity > 0 {
                words.truncate(arity);
            }
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let Ok(call) = crate::cmd::tests::parse(&words) else {
                continue;
            };
            let mut getkeys = vec!["COMMAND", "GETKEYS"];
            getkeys.extend(&words);
            let keys = Reply::Array(call.keys().cloned().map(Reply::Bulk).collect());
            assert_eq!(reply(&mut s, &getkeys), keys, "{}", spec.name);
        }
    }
}
