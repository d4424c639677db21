//! The Redis Cluster commands, so that cluster-mode clients find their way: CLUSTER SLOTS,
//! SHARDS, NODES, INFO, MYID, KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT, and READONLY, READWRITE
//! and ASKING (<https://redis.io/docs/latest/commands/?group=cluster>).
//!
//! Phase 1 has one data group, which owns all 16384 slots: its Raft leader is the master of
//! slots 0-16383 and every other member is its replica. Node ids are the node ids as 40 hex
//! digits, so they stay the same across restarts.

use std::fmt::Write as _;
use std::ops::ControlFlow;

use bytes::Bytes;

use crate::cmd::counter::parse_integer;
use crate::cmd::{
    key_hash_slot, not_an_integer, CommandLimits, CommandSpec, Docs, KeySpec, Run, SLOT_COUNT,
};
use crate::ids::NodeId;
use crate::kv::Reader;
use crate::node::Node;
use crate::reply::Reply;
use crate::session::Action;

/// `CLUSTER <subcommand>`.
pub(crate) static CLUSTER: CommandSpec = CommandSpec {
    name: "cluster",
    arity: -2,
    flags: &[],
    keys: KeySpec::NONE,
    acl_categories: &["@slow"],
    docs: Docs {
        group: "cluster",
        summary: "A container for Redis Cluster commands.",
        since: "3.0.0",
        complexity: "Depends on subcommand.",
    },
    subcommands: &[
        local(
            "cluster|slots",
            2,
            "Get array of Cluster slot to node mappings",
            slots,
        ),
        local(
            "cluster|shards",
            2,
            "Get array of cluster slots to node mappings",
            shards,
        ),
        local("cluster|nodes", 2, "Get Cluster config for the node", nodes),
        local(
            "cluster|info",
            2,
            "Provides info about Redis Cluster node state",
            info,
        ),
        local("cluster|myid", 2, "Return the node id", |node, _, _| {
            Reply::bulk(node_id(node.config().id))
        }),
        CommandSpec::session(
            "cluster|keyslot",
            3,
            &["stale"],
            &["@slow"],
            docs("Returns the hash slot of the specified key"),
            |_, args| Action::Reply(Reply::Integer(key_hash_slot(&args[2]).into())),
        ),
        CommandSpec {
            name: "cluster|countkeysinslot",
            arity: 3,
            flags: &["stale"],
            keys: KeySpec::NONE,
            acl_categories: &["@slow"],
            docs: docs("Return the number of local keys in the specified hash slot"),
            subcommands: &[],
            run: Run::Read {
                check: check_countkeysinslot,
                read: countkeysinslot,
            },
        },
        CommandSpec {
            name: "cluster|getkeysinslot",
            arity: 4,
            flags: &["stale"],
            keys: KeySpec::NONE,
            acl_categories: &["@slow"],
            docs: docs("Return local key names in the specified hash slot"),
            subcommands: &[],
            run: Run::Read {
                check: check_getkeysinslot,
                read: getkeysinslot,
            },
        },
    ],
    run: Run::Container,
};

const fn docs(summary: &'static str) -> Docs {
    Docs {
        group: "cluster",
        summary,
        since: "3.0.0",
        complexity: "O(N) where N is the total number of Cluster nodes",
    }
}

/// A CLUSTER subcommand the node answers from its own view of the cluster.
const fn local(
    name: &'static str,
    arity: i64,
    summary: &'static str,
    answer: fn(&mut Node, &[Bytes], u64) -> Reply,
) -> CommandSpec {
    CommandSpec::local(name, arity, &["stale"], &["@slow"], docs(summary), answer)
}

/// `READONLY`: accepted, as cluster clients send it on every connection. A follower still never
/// serves a keyed read: reads are linearizable on every connection, so it answers `MOVED`.
pub(crate) static READONLY: CommandSpec = CommandSpec::session(
    "readonly",
    1,
    &["loading", "stale", "fast"],
    &["@fast", "@connection"],
    Docs {
        group: "cluster",
        summary: "Enables read queries for a connection to a cluster replica node",
        since: "3.0.0",
        complexity: "O(1)",
    },
    |_, _| Action::Reply(Reply::ok()),
);

/// `READWRITE`: accepted.
pub(crate) static READWRITE: CommandSpec = CommandSpec::session(
    "readwrite",
    1,
    &["loading", "stale", "fast"],
    &["@fast", "@connection"],
    Docs {
        group: "cluster",
        summary: "Disables read queries for a connection to a cluster replica node",
        since: "3.0.0",
        complexity: "O(1)",
    },
    |_, _| Action::Reply(Reply::ok()),
);

/// `ASKING`: accepted; Seshat never sends `-ASK` (slots do not migrate).
pub(crate) static ASKING: CommandSpec = CommandSpec::session(
    "asking",
    1,
    &["fast"],
    &["@fast", "@connection"],
    Docs {
        group: "cluster",
        summary: "Sent by cluster clients after an -ASK redirect",
        since: "3.0.0",
        complexity: "O(1)",
    },
    |_, _| Action::Reply(Reply::ok()),
);

/// A node id as Redis Cluster writes one: 40 hex digits.
fn node_id(id: NodeId) -> String {
    format!("{:040x}", id.0)
}

/// `host` and `port` of a `host:port` address (`[v6]:port` included).
fn host_port(addr: &str) -> (String, i64) {
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "0"));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host.to_owned(), port.parse().unwrap_or(0))
}

/// The data group's members as this node sees them: the leader first (if one is known), then
/// the others by id.
fn members_leader_first(node: &Node) -> (Option<NodeId>, Vec<NodeId>) {
    let data = node.data_status();
    let mut members: Vec<NodeId> = data
        .voters
        .iter()
        .chain(&data.learners)
        .map(|&id| NodeId(id))
        .collect();
    members.sort_unstable();
    members.dedup();
    if let Some(leader) = data.leader {
        members.retain(|&id| id != leader);
        members.insert(0, leader);
    }
    (data.leader, members)
}

/// `CLUSTER SLOTS`: one range, 0-16383, served by the data group's leader, with every other
/// member as a replica: `[[0, 16383, [host, port, id, {}], [host, port, id, {}], ...]]`.
/// While no leader is known this node stands first: a request sent to it waits for a leader
/// (then it is served or answered `MOVED`) or answers `-NOQUORUM`, as Redis Cluster keeps
/// listing a failed master; an empty reply would fail a cluster client's start instead.
fn slots(node: &mut Node, _: &[Bytes], _: u64) -> Reply {
    let (leader, mut members) = members_leader_first(node);
    let me = node.config().id;
    if leader.is_none() {
        if !members.contains(&me) {
            return Reply::Array(Vec::new()); // Not a member yet: nothing to route to.
        }
        members.retain(|&id| id != me);
        members.insert(0, me);
    }
    let mut range = vec![Reply::Integer(0), Reply::Integer(i64::from(SLOT_COUNT) - 1)];
    for member in members {
        let (host, port) = host_port(&node.client_addr_of(member).unwrap_or_default());
        range.push(Reply::Array(vec![
            Reply::bulk(host),
            Reply::Integer(port),
            Reply::bulk(node_id(member)),
            Reply::Map(Vec::new()),
        ]));
    }
    Reply::Array(vec![Reply::Array(range)])
}

/// `CLUSTER SHARDS`: one shard owning slots 0-16383, its nodes described as Redis 7 does.
fn shards(node: &mut Node, _: &[Bytes], _: u64) -> Reply {
    let (leader, members) = members_leader_first(node);
    let applied = node.data_status().applied_index;
    let nodes = members
        .into_iter()
        .map(|member| {
            let (host, port) = host_port(&node.client_addr_of(member).unwrap_or_default());
            let role = if Some(member) == leader {
                "master"
            } else {
                "replica"
            };
            // This node knows its own applied index; for the others it reports 0.
            let offset = if member == node.config().id {
                applied
            } else {
                0
            };
            Reply::Map(vec![
                (Reply::bulk("id"), Reply::bulk(node_id(member))),
                (Reply::bulk("port"), Reply::Integer(port)),
                (Reply::bulk("ip"), Reply::bulk(host.clone())),
                (Reply::bulk("endpoint"), Reply::bulk(host)),
                (Reply::bulk("role"), Reply::bulk(role)),
                (
                    Reply::bulk("replication-offset"),
                    Reply::Integer(offset as i64),
                ),
                (Reply::bulk("health"), Reply::bulk("online")),
            ])
        })
        .collect();
    Reply::Array(vec![Reply::Map(vec![
        (
            Reply::bulk("slots"),
            Reply::Array(vec![
                Reply::Integer(0),
                Reply::Integer(i64::from(SLOT_COUNT) - 1),
            ]),
        ),
        (Reply::bulk("nodes"), Reply::Array(nodes)),
    ])])
}

/// `CLUSTER INFO`: `cluster_state:ok` while the data group has a leader, `fail` otherwise; the
/// epochs are the data group's Raft term.
fn info(node: &mut Node, _: &[Bytes], _: u64) -> Reply {
    let data = node.data_status();
    let (_, members) = members_leader_first(node);
    let ok = data.leader.is_some();
    let (slots_ok, slots_fail) = if ok { (SLOT_COUNT, 0) } else { (0, SLOT_COUNT) };
    Reply::Verbatim(format!(
        "cluster_state:{}\r\ncluster_slots_assigned:{SLOT_COUNT}\r\ncluster_slots_ok:{slots_ok}\r\n\
         cluster_slots_pfail:0\r\ncluster_slots_fail:{slots_fail}\r\ncluster_known_nodes:{}\r\n\
         cluster_size:1\r\ncluster_current_epoch:{term}\r\ncluster_my_epoch:{term}\r\n\
         cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\n",
        if ok { "ok" } else { "fail" },
        members.len(),
        term = data.term,
    ))
}

/// A slot argument: an integer in 0..16384.
fn slot(arg: &[u8], invalid: &'static str) -> Result<u16, Reply> {
    let slot = parse_integer(arg).ok_or_else(not_an_integer)?;
    u16::try_from(slot)
        .ok()
        .filter(|&slot| slot < SLOT_COUNT)
        .ok_or_else(|| Reply::error(invalid))
}

fn check_countkeysinslot(args: &[Bytes], _: &CommandLimits) -> Result<(), Reply> {
    slot(&args[2], "ERR Invalid slot").map(drop)
}

/// `CLUSTER COUNTKEYSINSLOT slot`: O(keys in the slot): key records are stored by slot.
fn countkeysinslot(args: &[Bytes], db: &Reader<'_>) -> Reply {
    let Ok(wanted) = slot(&args[2], "ERR Invalid slot") else {
        return Reply::error("ERR Invalid slot");
    };
    let mut count = 0;
    db.for_each_key_in_slot(wanted, &mut |_| {
        count += 1;
        ControlFlow::Continue(())
    });
    Reply::Integer(count)
}

fn getkeysinslot_args(args: &[Bytes]) -> Result<(u16, usize), Reply> {
    const INVALID: &str = "ERR Invalid slot or number of keys";
    let slot = slot(&args[2], INVALID)?;
    let count = parse_integer(&args[3]).ok_or_else(not_an_integer)?;
    let count = usize::try_from(count).map_err(|_| Reply::error(INVALID))?;
    Ok((slot, count))
}

fn check_getkeysinslot(args: &[Bytes], _: &CommandLimits) -> Result<(), Reply> {
    getkeysinslot_args(args).map(drop)
}

/// `CLUSTER GETKEYSINSLOT slot count`: up to `count` keys of the slot, in stored order.
fn getkeysinslot(args: &[Bytes], db: &Reader<'_>) -> Reply {
    let (wanted, count) = match getkeysinslot_args(args) {
        Ok(parsed) => parsed,
        Err(reply) => return reply,
    };
    let mut keys = Vec::new();
    if count > 0 {
        db.for_each_key_in_slot(wanted, &mut |key| {
            keys.push(Reply::Bulk(Bytes::copy_from_slice(key)));
            if keys.len() == count {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
    }
    Reply::Array(keys)
}

/// `CLUSTER NODES` in Redis Cluster's format, one line per member of the data group:
/// `<id> <host:port@cport> <flags> <master> 0 0 <epoch> connected [0-16383]`. The leader is
/// the master and owns every slot (Phase 1 has one shard); voters and learners are its
/// replicas. Ids are the node ids as 40 hex digits, as `INFO`'s `run_id`.
fn nodes(node: &mut Node, _: &[Bytes], _: u64) -> Reply {
    let me = node.config();
    let data = node.data_status();
    let directory = node.directory();
    let hex = |id: u64| format!("{id:040x}");
    let mut members: Vec<u64> = data.voters.iter().chain(&data.learners).copied().collect();
    members.sort_unstable();
    members.dedup();
    let mut out = String::new();
    for id in members {
        let member = NodeId(id);
        let client = node
            .client_addr_of(member)
            .unwrap_or_else(|| ":0".to_owned());
        // (Redis prints `host:port@cport`; Seshat's cluster port is its internal gRPC port.)
        let internal_port = if member == me.id {
            Some(me.internal_addr.clone())
        } else {
            directory.member(member).map(|m| m.internal_addr.clone())
        }
        .and_then(|addr| addr.rsplit(':').next().map(str::to_owned))
        .unwrap_or_else(|| "0".to_owned());
        let is_leader = data.leader == Some(member);
        let mut flags = String::new();
        if member == me.id {
            flags.push_str("myself,");
        }
        flags.push_str(if is_leader { "master" } else { "slave" });
        let master = match data.leader {
            Some(leader) if !is_leader => hex(leader.0),
            _ => "-".to_owned(),
        };
        let slots = if is_leader { " 0-16383" } else { "" };
        let _ = writeln!(
            out,
            "{} {client}@{internal_port} {flags} {master} 0 0 {} connected{slots}",
            hex(id),
            data.term
        );
    }
    Reply::Verbatim(out)
}

#[cfg(test)]
mod tests {
    use crate::cmd::tests::{error, reply, session};
    use crate::reply::Reply;

    #[test]
    fn keyslot_and_slot_arguments_answer_as_redis_does() {
        let mut s = session();
        assert_eq!(
            reply(&mut s, &["CLUSTER", "KEYSLOT", "foo"]),
            Reply::Integer(12182)
        );
        assert_eq!(
            reply(&mut s, &["cluster", "keyslot", "{user1}:a"]),
            reply(&mut s, &["CLUSTER", "KEYSLOT", "user1"])
        );
        for (words, text) in [
            (
                &["CLUSTER", "COUNTKEYSINSLOT", "16384"][..],
                "ERR Invalid slot",
            ),
            (&["CLUSTER", "COUNTKEYSINSLOT", "-1"], "ERR Invalid slot"),
            (
                &["CLUSTER", "COUNTKEYSINSLOT", "x"],
                "ERR value is not an integer or out of range",
            ),
            (
                &["CLUSTER", "GETKEYSINSLOT", "1", "-1"],
                "ERR Invalid slot or number of keys",
            ),
            (
                &["CLUSTER", "GETKEYSINSLOT", "16384", "1"],
                "ERR Invalid slot or number of keys",
            ),
            (
                &["CLUSTER", "KEYSLOT"],
                "ERR wrong number of arguments for 'cluster|keyslot' command",
            ),
            (
                &["READONLY", "x"],
                "ERR wrong number of arguments for 'readonly' command",
            ),
        ] {
            assert_eq!(error(words), text, "{words:?}");
        }
        for word in ["READONLY", "READWRITE", "ASKING"] {
            assert_eq!(reply(&mut s, &[word]), Reply::ok());
        }
    }
}
