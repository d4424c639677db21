//! Requests a [`Node`](crate::Node) answers: the Redis commands that need the node, and the
//! operator's membership requests. Connection-level commands (PING, HELLO, CLIENT, ...) are
//! answered by [`Session`](crate::session::Session) without reaching the node.

use crate::cmd::Call;
use crate::ids::{GroupId, NodeId};
use crate::membership::MembershipChange;

/// A request for the node, already parsed and checked against the limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A Redis command whose spec runs on the node: a read, a write, or a command answered
    /// from the node's own state (INFO, CLUSTER NODES).
    Command {
        /// The command and its arguments.
        call: Call,
        /// Connections open on this node when the command arrived, as the runtime counts them
        /// (INFO reports it).
        connected_clients: u64,
    },
    /// An operator's change of `group`'s membership (not a Redis command: the admin RPC sends
    /// it). Only the group's leader accepts it; others answer `NOTLEADER <leader id>`.
    ChangeMembership {
        /// The group whose configuration changes.
        group: GroupId,
        /// What to add, promote or remove.
        change: MembershipChange,
    },
    /// An operator's request that `to` lead `group`, answered `OK` once the leader has begun
    /// the handover (or `NOTLEADER <leader id>`).
    TransferLeader {
        /// The group whose leadership moves.
        group: GroupId,
        /// The voter to hand leadership to.
        to: NodeId,
    },
}

impl Request {
    /// Whether the node needs fresh runtime facts to answer this (INFO, `CONFIG
    /// RESETSTAT`): a runtime then reads them and calls
    /// [`Node::handle_runtime_stats`](crate::Node::handle_runtime_stats) first. Reading the
    /// process's RSS and CPU time costs a few system calls, so only these requests pay it.
    pub fn reads_runtime_stats(&self) -> bool {
        match self {
            Request::Command { call, .. } => {
                matches!(call.spec().name, "info" | "config|resetstat")
            }
            Request::ChangeMembership { .. } | Request::TransferLeader { .. } => false,
        }
    }
}

impl From<Call> for Request {
    /// The command as a request from a runtime that counts no connections.
    fn from(call: Call) -> Request {
        Request::Command {
            call,
            connected_clients: 0,
        }
    }
}
