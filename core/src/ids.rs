//! Identifiers. Each is a newtype so that two kinds of id can never be swapped in a signature.

use std::fmt;

/// A node of the cluster, as named in `[node] id` and `initial_members`. Never 0 (raft-rs
/// reserves 0 for "no node").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u64);

/// A Raft group. Group 0 is the system group (membership, shard map); data shards are 1..N.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(pub u64);

impl GroupId {
    /// The system group: cluster membership and the shard map.
    pub const SYSTEM: GroupId = GroupId(0);
    /// The single data shard of Phase 1.
    pub const FIRST_DATA: GroupId = GroupId(1);

    /// Whether this is the system group.
    pub fn is_system(self) -> bool {
        self == Self::SYSTEM
    }
}

/// A client connection, chosen by the runtime. Unique among the connections of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

/// A request on one client connection, chosen by the runtime. Together with the [`ClientId`]
/// it routes a [`Reply`](crate::Reply) back to the request that asked for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
