//! The Redis Cluster commands: CLUSTER NODES
//! (<https://redis.io/docs/latest/commands/?group=cluster>).

use std::fmt::Write as _;

use bytes::Bytes;

use crate::cmd::{no_check, CommandSpec, Docs, KeySpec, Run};
use crate::ids::NodeId;
use crate::node::Node;
use crate::reply::Reply;

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
    subcommands: &[CommandSpec {
        name: "cluster|nodes",
        arity: 2,
        flags: &["stale"],
        keys: KeySpec::NONE,
        acl_categories: &["@slow"],
        docs: Docs {
            group: "cluster",
            summary: "Returns the cluster configuration for a node.",
            since: "3.0.0",
            complexity: "O(N) where N is the total number of Cluster nodes",
        },
        subcommands: &[],
        run: Run::Local {
            check: no_check,
            answer: nodes,
        },
    }],
    run: Run::Container,
};

/// `CLUSTER NODES` in Redis Cluster's format, one line per member of the data group:
/// `<id> <host:port@cport> <flags> <master> 0 0 <epoch> connected [0-16383]`. The leader is
/// the master and owns every slot (Phase 1 has one shard); voters and learners are its
/// replicas. Ids are the node ids as 40 hex digits, as `INFO`'s `run_id`.
fn nodes(node: &Node, _: &[Bytes], _: u64) -> Reply {
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
