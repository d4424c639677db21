//! `CONFIG GET | SET | RESETSTAT | HELP`
//! (<https://redis.io/docs/latest/commands/config-get/>): the node's settings under Redis-style
//! names, with Redis 7's replies and error strings.
//!
//! One table, [`PARAMETERS`], lists every parameter: the Redis ones clients and tools read
//! (`maxmemory`, `save`, `appendonly`, `port`, ...), with the values that describe Seshat, and
//! every field of the configuration file as `<section>-<field>` with `_` written `-`
//! (`raft.snapshot_interval_entries` is `raft-snapshot-interval-entries`). A parameter is
//! settable only if the node reads it live; a `sensitive` one (a future `requirepass`) is
//! never printed, whatever the pattern.

use std::time::Duration;

use bytes::Bytes;

use crate::cmd::{glob_match, CommandSpec, Docs, KeySpec, Run};
use crate::config::{bounds, Config};
use crate::node::Node;
use crate::reply::Reply;
use crate::session::{Action, Session};

/// `CONFIG GET | SET | RESETSTAT | HELP`.
pub(crate) static CONFIG: CommandSpec = CommandSpec {
    name: "config",
    arity: -2,
    flags: &[],
    keys: KeySpec::NONE,
    acl_categories: &["@slow"],
    docs: Docs {
        group: "server",
        summary: "A container for server configuration commands.",
        since: "2.0.0",
        complexity: "Depends on subcommand.",
    },
    subcommands: &[
        local(
            "config|get",
            -3,
            &["admin", "noscript", "loading", "stale"],
            "Returns the effective values of configuration parameters.",
            "O(N) when N is the number of configuration parameters provided",
            config_get,
        ),
        local(
            "config|set",
            -4,
            &["admin", "noscript", "loading", "stale"],
            "Sets configuration parameters in-flight.",
            "O(N) when N is the number of configuration parameters provided",
            config_set,
        ),
        local(
            "config|resetstat",
            2,
            &["admin", "noscript", "loading", "stale"],
            "Resets the server's statistics.",
            "O(1)",
            config_resetstat,
        ),
        CommandSpec::session(
            "config|help",
            2,
            &["loading", "stale"],
            &["@slow"],
            Docs {
                group: "server",
                summary: "Returns helpful text about the different subcommands.",
                since: "5.0.0",
                complexity: "O(1)",
            },
            config_help,
        ),
    ],
    run: Run::Container,
};

const fn local(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    summary: &'static str,
    complexity: &'static str,
    answer: fn(&mut Node, &[Bytes], u64) -> Reply,
) -> CommandSpec {
    let docs = Docs {
        group: "server",
        summary,
        since: "2.0.0",
        complexity,
    };
    let acl_categories = &["@admin", "@slow", "@dangerous"];
    CommandSpec::local(name, arity, flags, acl_categories, docs, answer)
}

/// A parameter CONFIG SET may change: its bounds, and what setting it does to the node.
struct Setter {
    /// Smallest and largest value accepted.
    range: (u64, u64),
    /// Applies a value within `range`.
    apply: fn(&mut Node, u64),
}

/// One configuration parameter.
struct Parameter {
    /// Lowercase, Redis-style.
    name: &'static str,
    /// Its effective value.
    value: fn(&Node) -> String,
    /// `None`: immutable while the node runs.
    setter: Option<Setter>,
    /// Never printed by CONFIG GET (a password).
    sensitive: bool,
}

const fn fixed(name: &'static str, value: fn(&Node) -> String) -> Parameter {
    Parameter {
        name,
        value,
        setter: None,
        sensitive: false,
    }
}

fn settings(node: &Node) -> &Config {
    &node.config().settings
}

fn yes_no(flag: bool) -> String {
    if flag { "yes" } else { "no" }.to_owned()
}

fn client_host(node: &Node) -> String {
    let addr = &settings(node).node.client_addr;
    addr.rsplit_once(':')
        .map_or(addr.as_str(), |(host, _)| host)
        .to_owned()
}

fn client_port(node: &Node) -> String {
    let process_port = node.config().process.tcp_port;
    if process_port != 0 {
        return process_port.to_string();
    }
    let addr = &settings(node).node.client_addr;
    addr.rsplit_once(':')
        .map_or("", |(_, port)| port)
        .to_owned()
}

/// Every parameter, in the order `CONFIG GET *` lists them: Redis's first, then Seshat's
/// configuration file, section by section.
static PARAMETERS: &[Parameter] = &[
    // Every write is in the Raft log, fsynced before it is acknowledged: an append-only file
    // with `appendfsync always`. There are no RDB saves.
    fixed("appendonly", |_| yes_no(true)),
    fixed("appendfsync", |_| "always".to_owned()),
    fixed("save", |_| String::new()),
    fixed("bind", client_host),
    fixed("port", client_port),
    fixed("cluster-enabled", |_| yes_no(true)),
    fixed("databases", |_| "1".to_owned()),
    fixed("dir", |node| settings(node).node.data_dir.clone()),
    fixed("maxclients", |node| {
        settings(node)
            .limits
            .max_concurrent_client_connections
            .to_string()
    }),
    // Seshat never evicts: over a limit, a write is refused.
    fixed("maxmemory", |_| "0".to_owned()),
    fixed("maxmemory-policy", |_| "noeviction".to_owned()),
    fixed("proto-max-bulk-len", |node| {
        (node.config().value_bytes_max + crate::resp::BULK_SLACK_BYTES).to_string()
    }),
    // Idle clients are never disconnected.
    fixed("timeout", |_| "0".to_owned()),
    fixed("node-id", |node| settings(node).node.id.to_string()),
    fixed("node-client-addr", |node| {
        settings(node).node.client_addr.clone()
    }),
    fixed("node-internal-addr", |node| {
        settings(node).node.internal_addr.clone()
    }),
    fixed("node-data-dir", |node| settings(node).node.data_dir.clone()),
    fixed("node-advertise-addr", |node| {
        node.config().internal_addr.clone()
    }),
    fixed("node-advertise-client-addr", |node| {
        node.config().client_addr.clone()
    }),
    fixed("cluster-bootstrap", |node| {
        yes_no(settings(node).cluster.bootstrap)
    }),
    fixed("cluster-initial-members", |node| {
        settings(node)
            .cluster
            .initial_members
            .iter()
            .map(|member| match &member.client_addr {
                Some(client) => format!("{}@{}/{client}", member.id, member.addr),
                None => format!("{}@{}", member.id, member.addr),
            })
            .collect::<Vec<_>>()
            .join(",")
    }),
    fixed("cluster-join-addr", |node| {
        settings(node).cluster.join_addr.clone().unwrap_or_default()
    }),
    fixed("cluster-replication-factor", |node| {
        settings(node).cluster.replication_factor.to_string()
    }),
    fixed("raft-heartbeat-interval-ms", |node| {
        settings(node).raft.heartbeat_interval_ms.to_string()
    }),
    fixed("raft-election-timeout-min-ms", |node| {
        settings(node).raft.election_timeout_min_ms.to_string()
    }),
    fixed("raft-election-timeout-max-ms", |node| {
        settings(node).raft.election_timeout_max_ms.to_string()
    }),
    Parameter {
        name: "raft-snapshot-interval-entries",
        value: |node| node.config().snapshot_interval_entries.to_string(),
        setter: Some(Setter {
            range: (1, u64::MAX),
            apply: |node, entries| {
                let bytes = node.config().snapshot_interval_bytes;
                node.set_snapshot_intervals(entries, bytes);
            },
        }),
        sensitive: false,
    },
    Parameter {
        name: "raft-snapshot-interval-bytes",
        value: |node| node.config().snapshot_interval_bytes.to_string(),
        setter: Some(Setter {
            range: (1, u64::MAX),
            apply: |node, bytes| {
                let entries = node.config().snapshot_interval_entries;
                node.set_snapshot_intervals(entries, bytes);
            },
        }),
        sensitive: false,
    },
    fixed("raft-max-log-size-bytes", |node| {
        settings(node).raft.max_log_size_bytes.to_string()
    }),
    fixed("limits-max-key-size-bytes", |node| {
        settings(node).limits.max_key_size_bytes.to_string()
    }),
    // Applying checks it, so every replica must agree on it: not settable on one node.
    fixed("limits-max-value-size-bytes", |node| {
        node.config().value_bytes_max.to_string()
    }),
    fixed("limits-max-concurrent-client-connections", |node| {
        settings(node)
            .limits
            .max_concurrent_client_connections
            .to_string()
    }),
    fixed("limits-max-memory-per-raft-log-mb", |node| {
        settings(node).limits.max_memory_per_raft_log_mb.to_string()
    }),
    Parameter {
        name: "limits-request-timeout-secs",
        value: |node| node.config().request_timeout.as_secs().to_string(),
        setter: Some(Setter {
            range: bounds::REQUEST_TIMEOUT_SECS,
            apply: |node, secs| node.set_request_timeout(Duration::from_secs(secs)),
        }),
        sensitive: false,
    },
    fixed("limits-raft-rpc-timeout-secs", |node| {
        settings(node).limits.raft_rpc_timeout_secs.to_string()
    }),
];

/// The parameter named `name`, any case.
fn lookup<'a>(table: &'a [Parameter], name: &[u8]) -> Option<&'a Parameter> {
    table
        .iter()
        .find(|parameter| parameter.name.as_bytes().eq_ignore_ascii_case(name))
}

fn config_get(node: &mut Node, args: &[Bytes], _: u64) -> Reply {
    get(PARAMETERS, node, &args[2..])
}

/// `CONFIG GET pattern [pattern ...]`: a map of every parameter a pattern matches, each once,
/// in table order. A pattern without glob characters names one parameter exactly and is
/// echoed as given (Redis 7.0 answers `CONFIG GET PORT` with `PORT`); glob patterns match
/// case-insensitively.
fn get(table: &[Parameter], node: &Node, patterns: &[Bytes]) -> Reply {
    let mut matched: Vec<(Reply, &Parameter)> = Vec::new();
    let is_new = |matched: &[(Reply, &Parameter)], parameter: &Parameter| {
        !matched
            .iter()
            .any(|(_, seen)| std::ptr::eq(*seen, parameter))
    };
    for pattern in patterns {
        if !pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            if let Some(parameter) = lookup(table, pattern).filter(|p| !p.sensitive) {
                if is_new(&matched, parameter) {
                    matched.push((Reply::Bulk(pattern.clone()), parameter));
                }
            }
            continue;
        }
        let pattern = pattern.to_ascii_lowercase();
        for parameter in table {
            if !parameter.sensitive
                && glob_match(&pattern, parameter.name.as_bytes())
                && is_new(&matched, parameter)
            {
                matched.push((Reply::bulk(parameter.name), parameter));
            }
        }
    }
    Reply::Map(
        matched
            .into_iter()
            .map(|(key, parameter)| (key, Reply::bulk((parameter.value)(node))))
            .collect(),
    )
}

fn config_set(node: &mut Node, args: &[Bytes], _: u64) -> Reply {
    set(PARAMETERS, node, &args[2..])
}

/// `CONFIG SET parameter value [parameter value ...]`: every pair is checked before any is
/// applied, so a refused call changes nothing (Redis restores the old values instead).
fn set(table: &[Parameter], node: &mut Node, pairs: &[Bytes]) -> Reply {
    if !pairs.len().is_multiple_of(2) {
        return Reply::error("ERR syntax error");
    }
    let mut changes: Vec<(&Parameter, u64)> = Vec::new();
    for pair in pairs.chunks(2) {
        let (name, value) = (&pair[0], &pair[1]);
        let Some(parameter) = lookup(table, name).filter(|p| !p.sensitive) else {
            return Reply::error(crate::cmd::sanitize(&format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                String::from_utf8_lossy(name)
            )));
        };
        let failed = |problem: &str| {
            Reply::error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - {problem}",
                parameter.name
            ))
        };
        if changes
            .iter()
            .any(|(seen, _)| std::ptr::eq(*seen, parameter))
        {
            return failed("duplicate parameter");
        }
        let Some(setter) = &parameter.setter else {
            return failed("can't set immutable config");
        };
        let Some(number) = std::str::from_utf8(value)
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
        else {
            return failed("argument couldn't be parsed into an integer");
        };
        let (min, max) = setter.range;
        if !(min..=max).contains(&number) {
            return failed(&format!(
                "argument must be between {min} and {max} inclusive"
            ));
        }
        changes.push((parameter, number));
    }
    for (parameter, number) in changes {
        if let Some(setter) = &parameter.setter {
            (setter.apply)(node, number);
        }
    }
    Reply::ok()
}

/// `CONFIG RESETSTAT`: INFO's counters (commandstats, errorstats, the stats section's
/// totals) start again from zero.
fn config_resetstat(node: &mut Node, _: &[Bytes], _: u64) -> Reply {
    node.reset_stats();
    Reply::ok()
}

/// `CONFIG HELP`, Redis's text for the subcommands Seshat has.
fn config_help(_: &mut Session, _: &[Bytes]) -> Action {
    let lines = [
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "HELP",
        "    Prints this help.",
    ];
    Action::Reply(Reply::Array(
        lines
            .iter()
            .map(|line| Reply::Simple((*line).to_owned()))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::tests::{args, reply, session, LoneNode};
    use crate::reply::Protocol;

    fn pairs(items: &[(&str, &str)]) -> Reply {
        Reply::Map(
            items
                .iter()
                .map(|(name, value)| {
                    (
                        Reply::bulk(name.to_string()),
                        Reply::bulk(value.to_string()),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn get_reports_what_describes_seshat() {
        let mut lone = LoneNode::new();
        let mut get = |words: &[&str]| {
            let mut all = vec!["CONFIG", "GET"];
            all.extend(words);
            lone.local(&all, 1)
        };
        assert_eq!(
            get(&[
                "save",
                "appendonly",
                "appendfsync",
                "maxmemory",
                "databases"
            ]),
            pairs(&[
                ("save", ""),
                ("appendonly", "yes"),
                ("appendfsync", "always"),
                ("maxmemory", "0"),
                ("databases", "1"),
            ])
        );
        // An exact name is echoed as given; a glob matches any case, each parameter once.
        assert_eq!(get(&["PORT", "port"]), pairs(&[("PORT", "6379")]));
        assert_eq!(
            get(&["MAXMEMORY*", "maxmemory"]),
            pairs(&[("maxmemory", "0"), ("maxmemory-policy", "noeviction")])
        );
        assert_eq!(
            get(&["bind", "dir", "node-id", "cluster-initial-members"]),
            pairs(&[
                ("bind", "127.0.0.1"),
                ("dir", "/data/seshat"),
                ("node-id", "1"),
                ("cluster-initial-members", "1@127.0.0.1:7379"),
            ])
        );
        assert_eq!(
            get(&[
                "limits-request-timeout-secs",
                "raft-snapshot-interval-entries"
            ]),
            pairs(&[
                ("limits-request-timeout-secs", "30"),
                ("raft-snapshot-interval-entries", "10000"),
            ])
        );
        assert_eq!(get(&["no-such-thing"]), Reply::Map(vec![]));
        let Reply::Map(all) = get(&["*"]) else {
            panic!("not a map")
        };
        assert_eq!(all.len(), PARAMETERS.len());
    }

    #[test]
    fn get_is_a_flat_array_in_resp2_and_a_map_in_resp3() {
        let mut lone = LoneNode::new();
        let answer = lone.local(&["CONFIG", "GET", "databases"], 1);
        let mut resp2 = bytes::BytesMut::new();
        crate::resp::encode_reply(&answer, Protocol::Resp2, &mut resp2);
        assert_eq!(&resp2[..], b"*2\r\n$9\r\ndatabases\r\n$1\r\n1\r\n");
        let mut resp3 = bytes::BytesMut::new();
        crate::resp::encode_reply(&answer, Protocol::Resp3, &mut resp3);
        assert_eq!(&resp3[..], b"%1\r\n$9\r\ndatabases\r\n$1\r\n1\r\n");
    }

    #[test]
    fn set_changes_what_the_node_reads_live() {
        let mut lone = LoneNode::new();
        assert_eq!(
            lone.local(&["CONFIG", "SET", "LIMITS-REQUEST-TIMEOUT-SECS", "7"], 1),
            Reply::ok()
        );
        assert_eq!(lone.node.config().request_timeout, Duration::from_secs(7));
        assert_eq!(
            lone.local(&["CONFIG", "GET", "limits-request-timeout-secs"], 1),
            pairs(&[("limits-request-timeout-secs", "7")])
        );
    }

    #[test]
    fn a_smaller_snapshot_interval_compacts_the_log_sooner() {
        // Goal: CONFIG SET raft-snapshot-interval-entries reaches the groups, not only CONFIG
        // GET. Method: with the default (10,000) a few writes never compact; after setting 2
        // they do.
        let mut lone = LoneNode::new();
        let compactions = |lone: &LoneNode| lone.node.status()[1].snapshots.compactions;
        let at_start = compactions(&lone);
        for i in 0..5 {
            assert_eq!(lone.call(&["SET", &format!("k{i}"), "v"]), Reply::ok());
        }
        assert_eq!(compactions(&lone), at_start);
        assert_eq!(
            lone.local(&["CONFIG", "SET", "raft-snapshot-interval-entries", "2"], 1),
            Reply::ok()
        );
        for i in 0..5 {
            assert_eq!(lone.call(&["SET", &format!("k{i}"), "w"]), Reply::ok());
        }
        assert!(compactions(&lone) > at_start);
    }

    #[test]
    fn set_refuses_with_redis_errors_and_changes_nothing_then() {
        let mut lone = LoneNode::new();
        let mut set = |words: &[&str]| {
            let mut all = vec!["CONFIG", "SET"];
            all.extend(words);
            lone.local(&all, 1)
        };
        assert_eq!(
            set(&["foo", "1"]),
            Reply::error("ERR Unknown option or number of arguments for CONFIG SET - 'foo'")
        );
        assert_eq!(
            set(&["maxmemory", "1"]),
            Reply::error(
                "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - \
                 can't set immutable config"
            )
        );
        assert_eq!(
            set(&["maxmemory", "1", "x"]),
            Reply::error("ERR syntax error")
        );
        assert_eq!(
            set(&["limits-request-timeout-secs", "soon"]),
            Reply::error(
                "ERR CONFIG SET failed (possibly related to argument \
                 'limits-request-timeout-secs') - argument couldn't be parsed into an integer"
            )
        );
        assert_eq!(
            set(&["limits-request-timeout-secs", "0"]),
            Reply::error(
                "ERR CONFIG SET failed (possibly related to argument \
                 'limits-request-timeout-secs') - argument must be between 1 and 3600 inclusive"
            )
        );
        assert_eq!(
            set(&[
                "limits-request-timeout-secs",
                "5",
                "limits-request-timeout-secs",
                "6"
            ]),
            Reply::error(
                "ERR CONFIG SET failed (possibly related to argument \
                 'limits-request-timeout-secs') - duplicate parameter"
            )
        );
        // The first pair is valid, the second is not: neither applies.
        assert!(set(&["limits-request-timeout-secs", "5", "port", "1"]).is_error());
        assert_eq!(lone.node.config().request_timeout, Duration::from_secs(30));
        assert_eq!(
            crate::cmd::tests::error(&["CONFIG"]),
            "ERR wrong number of arguments for 'config' command"
        );
    }

    #[test]
    fn sensitive_parameters_are_never_shown_or_set() {
        // Goal: a password-like parameter cannot leak through any pattern. Method: a table
        // with one, read through every kind of pattern.
        static TABLE: &[Parameter] = &[
            fixed("databases", |_| "1".to_owned()),
            Parameter {
                name: "requirepass",
                value: |_| "hunter2".to_owned(),
                setter: Some(Setter {
                    range: (0, 1),
                    apply: |_, _| {},
                }),
                sensitive: true,
            },
        ];
        let mut lone = LoneNode::new();
        for pattern in ["*", "requirepass", "REQUIREPASS", "require*", "*pass"] {
            let shown = get(TABLE, &lone.node, &args(&[pattern]));
            let Reply::Map(shown) = shown else { panic!() };
            assert!(
                shown
                    .iter()
                    .all(|(name, _)| name != &Reply::bulk("requirepass")),
                "{pattern}"
            );
        }
        assert_eq!(
            set(TABLE, &mut lone.node, &args(&["requirepass", "1"])),
            Reply::error(
                "ERR Unknown option or number of arguments for CONFIG SET - 'requirepass'"
            )
        );
    }

    #[test]
    fn help_lists_the_subcommands() {
        let Reply::Array(lines) = reply(&mut session(), &["CONFIG", "HELP"]) else {
            panic!()
        };
        assert_eq!(
            lines[0],
            Reply::Simple(
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".to_owned()
            )
        );
        assert_eq!(lines.len(), 9);
    }
}
