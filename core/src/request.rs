//! Requests a [`Node`](crate::Node) answers: the commands that need the replicated state.
//! Connection-level commands (PING, HELLO, CLIENT, ...) are answered by
//! [`Session`](crate::Session) without reaching the node.

use bytes::Bytes;

use crate::ids::{GroupId, NodeId};
use crate::membership::MembershipChange;

/// A request for the node, already parsed and checked against the limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `GET key`: a linearizable read.
    Get {
        /// The key.
        key: Bytes,
    },
    /// `SET key value [NX|XX] [GET] [KEEPTTL]`.
    Set(SetRequest),
    /// `DEL key [key ...]`: replies with the number of keys removed.
    Del {
        /// The keys, duplicates allowed (each is removed once).
        keys: Vec<Bytes>,
    },
    /// `EXISTS key [key ...]`: replies with how many of the keys exist, duplicates counted each
    /// time, as Redis does.
    Exists {
        /// The keys.
        keys: Vec<Bytes>,
    },
    /// `DBSIZE`: the number of keys, read linearizably.
    DbSize,
    /// `INFO [section ...]`: local state, no consensus needed.
    Info {
        /// Requested sections, lowercase; empty means the default set.
        sections: Vec<String>,
        /// Connections open on this node, as counted by the runtime.
        connected_clients: u64,
    },
    /// `CLUSTER NODES`: the data group's members and roles in Redis Cluster's format, from
    /// this node's view (local state, no consensus needed).
    ClusterNodes,
    /// An operator's change of `group`'s membership (not a Redis command: the admin RPC sends
    /// it). Only the group's leader accepts it; others answer `NOTLEADER <leader id>`.
    ChangeMembership {
        /// The group.
        group: GroupId,
        /// The change.
        change: MembershipChange,
    },
    /// An operator's request that `to` lead `group`, answered `OK` once the leader has begun
    /// the handover (or `NOTLEADER <leader id>`).
    TransferLeader {
        /// The group.
        group: GroupId,
        /// The voter to hand leadership to.
        to: NodeId,
    },
}

/// When a SET applies, judged against the value at apply time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SetCondition {
    /// Always.
    #[default]
    Always,
    /// `NX`: only if the key does not exist.
    IfAbsent,
    /// `XX`: only if the key exists.
    IfPresent,
}

/// The arguments of a SET.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetRequest {
    /// The key.
    pub key: Bytes,
    /// The new value.
    pub value: Bytes,
    /// NX / XX.
    pub condition: SetCondition,
    /// `GET`: reply with the old value (or null) instead of `OK`.
    pub get: bool,
}

impl Request {
    /// The first key the request names, which decides its hash slot for `MOVED`.
    pub fn first_key(&self) -> Option<&Bytes> {
        match self {
            Request::Get { key } => Some(key),
            Request::Set(set) => Some(&set.key),
            Request::Del { keys } | Request::Exists { keys } => keys.first(),
            Request::DbSize
            | Request::Info { .. }
            | Request::ClusterNodes
            | Request::ChangeMembership { .. }
            | Request::TransferLeader { .. } => None,
        }
    }
}
