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

impl ClientId {
    /// Marks the ids a leader gives the connections that followers forward for.
    const FORWARDED_BIT: u64 = 1 << 62;
    /// Bits of the follower's own connection id in a forwarded id.
    const FORWARDED_CLIENT_BITS: u32 = 40;
    /// Bits of the follower's node id in a forwarded id.
    const FORWARDED_NODE_BITS: u32 = 22;

    /// The id a leader knows the connection `client` of follower `from` by while it runs the
    /// requests the follower forwards for it: one stable client per forwarded connection, so
    /// the leader's connection order applies to it as to a direct client. Real connection
    /// ids count up from 1 and operators' ids have the top bit set, so none is ever one of
    /// these. `None` when the ids do not fit (a node id of 2^22 or more, a connection id of
    /// 2^40 or more): such a request is refused.
    pub fn forwarded(from: NodeId, client: ClientId) -> Option<ClientId> {
        let fits = from.0 != 0
            && from.0 >> Self::FORWARDED_NODE_BITS == 0
            && client.0 >> Self::FORWARDED_CLIENT_BITS == 0;
        fits.then_some(ClientId(
            Self::FORWARDED_BIT | from.0 << Self::FORWARDED_CLIENT_BITS | client.0,
        ))
    }

    /// For an id made by [`ClientId::forwarded`]: the follower and its connection.
    pub fn forwarded_from(self) -> Option<(NodeId, ClientId)> {
        if self.0 >> 62 != 0b01 {
            return None;
        }
        let client = self.0 & ((1 << Self::FORWARDED_CLIENT_BITS) - 1);
        let node = (self.0 >> Self::FORWARDED_CLIENT_BITS) & ((1 << Self::FORWARDED_NODE_BITS) - 1);
        Some((NodeId(node), ClientId(client)))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_ids_round_trip_and_never_meet_other_ids() {
        let id = ClientId::forwarded(NodeId(3), ClientId(17)).unwrap();
        assert_eq!(id.forwarded_from(), Some((NodeId(3), ClientId(17))));
        assert_eq!(ClientId(17).forwarded_from(), None, "a real connection");
        assert_eq!(ClientId(1 << 63 | 5).forwarded_from(), None, "an operator");
        assert_eq!(ClientId::forwarded(NodeId(1 << 22), ClientId(1)), None);
        assert_eq!(ClientId::forwarded(NodeId(1), ClientId(1 << 40)), None);
        assert_eq!(ClientId::forwarded(NodeId(0), ClientId(1)), None);
    }
}
