//! The errors a node answers because of where the cluster is, not because of what the client
//! sent: redirects, lost quorum, retries. One type with one `Display` produces the exact wire
//! text; clients in the simulator and the admin tool parse it back with
//! [`ClusterError::parse`] and match on variants, never on prefixes.

use std::fmt;

use crate::ids::{GroupId, NodeId};
use crate::reply::Reply;

/// A reply a client must act on by going elsewhere, waiting or retrying.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterError {
    /// `MOVED <slot> <host:port>` (Redis Cluster's redirect): another node leads the group
    /// that owns the key's slot.
    Moved {
        /// The hash slot of the command's first key.
        slot: u16,
        /// The leader's client address, `host:port`.
        addr: String,
    },
    /// `NOQUORUM ...`: the node could not reach a majority in time.
    NoQuorum(NoQuorum),
    /// `TRYAGAIN ...`: the request certainly did not take effect; retry it.
    TryAgain(TryAgain),
    /// `NOTLEADER <id>`: an operator's request went to a node that does not lead the group;
    /// the id is the leader it knows (0 on the wire when it knows none).
    NotLeader(Option<NodeId>),
    /// This node was removed from the cluster and no longer serves.
    Removed(NodeId),
}

/// Why a request got `-NOQUORUM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoQuorum {
    /// No leader was known, or reachable, for the whole request timeout.
    NoLeader,
    /// The write was proposed but did not commit in time: it may or may not take effect.
    NotCommitted,
    /// A read waited for a majority to confirm the leadership and none did in time.
    NotConfirmed,
    /// The node's proposal was skipped by a snapshot install, so the node never learns whether
    /// it committed: it may or may not take effect.
    SkippedBySnapshot,
    /// A follower forwarded the request to the leader (`cluster.follower_requests =
    /// "forward"`) and no answer came back in time, or the connection to the leader broke:
    /// it may or may not take effect.
    Unanswered,
}

/// Why a request got `-TRYAGAIN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryAgain {
    /// A new leader overwrote the proposal before it committed.
    Overwritten,
    /// The node has `requests_pending_max` requests in flight.
    Overloaded,
    /// A membership change of this group has not applied yet.
    MembershipChanging(GroupId),
    /// The group is leaving a joint configuration.
    LeavingJoint,
    /// A leadership transfer is in progress, so the leader takes no proposal.
    LeadershipMoving,
}

impl NoQuorum {
    const ALL: [NoQuorum; 5] = [
        NoQuorum::NoLeader,
        NoQuorum::NotCommitted,
        NoQuorum::NotConfirmed,
        NoQuorum::SkippedBySnapshot,
        NoQuorum::Unanswered,
    ];

    fn text(self) -> &'static str {
        match self {
            NoQuorum::NoLeader => "no leader could be reached within the request timeout",
            NoQuorum::NotCommitted => {
                "the write was not committed within the request timeout; it may or may not take \
                 effect"
            }
            NoQuorum::NotConfirmed => {
                "leadership could not be confirmed by a majority within the request timeout"
            }
            NoQuorum::SkippedBySnapshot => {
                "leadership changed before the write was confirmed; it may or may not take effect"
            }
            NoQuorum::Unanswered => {
                "the leader did not answer the forwarded request; it may or may not take effect"
            }
        }
    }
}

impl TryAgain {
    fn text(self) -> String {
        match self {
            TryAgain::Overwritten => {
                "the write was not committed because leadership changed; it is safe to retry"
                    .to_owned()
            }
            TryAgain::Overloaded => {
                "too many requests in flight on this node; retry later".to_owned()
            }
            TryAgain::MembershipChanging(group) => {
                format!("a membership change of group {group} is in progress")
            }
            TryAgain::LeavingJoint => "the group is still leaving a joint configuration".to_owned(),
            TryAgain::LeadershipMoving => "leadership is moving; retry".to_owned(),
        }
    }

    fn parse(text: &str) -> Option<TryAgain> {
        let fixed = [
            TryAgain::Overwritten,
            TryAgain::Overloaded,
            TryAgain::LeavingJoint,
            TryAgain::LeadershipMoving,
        ];
        if let Some(found) = fixed.into_iter().find(|t| t.text() == text) {
            return Some(found);
        }
        let group = text
            .strip_prefix("a membership change of group ")?
            .strip_suffix(" is in progress")?;
        Some(TryAgain::MembershipChanging(GroupId(group.parse().ok()?)))
    }
}

impl ClusterError {
    /// Reads back the text of an error reply (without the leading `-`) that a node sent.
    /// `None` for any other error, such as `ERR syntax error`.
    pub fn parse(text: &str) -> Option<ClusterError> {
        let (code, rest) = text.split_once(' ').unwrap_or((text, ""));
        match code {
            "MOVED" => {
                let (slot, addr) = rest.split_once(' ')?;
                (!addr.is_empty() && !addr.contains(' ')).then_some(())?;
                Some(ClusterError::Moved {
                    slot: slot.parse().ok()?,
                    addr: addr.to_owned(),
                })
            }
            "NOQUORUM" => NoQuorum::ALL
                .into_iter()
                .find(|reason| reason.text() == rest)
                .map(ClusterError::NoQuorum),
            "TRYAGAIN" => TryAgain::parse(rest).map(ClusterError::TryAgain),
            "NOTLEADER" => match rest.parse().ok()? {
                0 => Some(ClusterError::NotLeader(None)),
                id => Some(ClusterError::NotLeader(Some(NodeId(id)))),
            },
            "ERR" => {
                let id = rest
                    .strip_prefix("node ")?
                    .strip_suffix(Self::REMOVED_SUFFIX)?;
                Some(ClusterError::Removed(NodeId(id.parse().ok()?)))
            }
            _ => None,
        }
    }

    const REMOVED_SUFFIX: &'static str =
        " was removed from the cluster and no longer serves; use another node";

    /// Whether a client may send the same request again and expect it to be answered
    /// elsewhere or later: everything but a removal, which is final for this node.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, ClusterError::Removed(_))
    }
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Moved { slot, addr } => write!(f, "MOVED {slot} {addr}"),
            ClusterError::NoQuorum(reason) => write!(f, "NOQUORUM {}", reason.text()),
            ClusterError::TryAgain(reason) => write!(f, "TRYAGAIN {}", reason.text()),
            ClusterError::NotLeader(leader) => {
                write!(f, "NOTLEADER {}", leader.map_or(0, |id| id.0))
            }
            ClusterError::Removed(node) => write!(f, "ERR node {node}{}", Self::REMOVED_SUFFIX),
        }
    }
}

impl From<ClusterError> for Reply {
    fn from(error: ClusterError) -> Reply {
        Reply::Error(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<ClusterError> {
        let mut all = vec![
            ClusterError::Moved {
                slot: 12182,
                addr: "127.0.0.1:6380".to_owned(),
            },
            ClusterError::NotLeader(None),
            ClusterError::NotLeader(Some(NodeId(3))),
            ClusterError::Removed(NodeId(2)),
        ];
        all.extend(NoQuorum::ALL.map(ClusterError::NoQuorum));
        all.extend(
            [
                TryAgain::Overwritten,
                TryAgain::Overloaded,
                TryAgain::MembershipChanging(GroupId(1)),
                TryAgain::LeavingJoint,
                TryAgain::LeadershipMoving,
            ]
            .map(ClusterError::TryAgain),
        );
        all
    }

    #[test]
    fn every_variant_parses_back_from_its_wire_text() {
        for error in every_variant() {
            assert_eq!(ClusterError::parse(&error.to_string()), Some(error));
        }
    }

    #[test]
    fn wire_texts_are_the_ones_clients_know() {
        let moved = ClusterError::Moved {
            slot: 866,
            addr: "10.0.0.2:6379".to_owned(),
        };
        assert_eq!(moved.to_string(), "MOVED 866 10.0.0.2:6379");
        assert_eq!(
            ClusterError::NoQuorum(NoQuorum::NoLeader).to_string(),
            "NOQUORUM no leader could be reached within the request timeout"
        );
        assert_eq!(ClusterError::NotLeader(None).to_string(), "NOTLEADER 0");
        assert_eq!(
            ClusterError::Removed(NodeId(4)).to_string(),
            "ERR node 4 was removed from the cluster and no longer serves; use another node"
        );
    }

    #[test]
    fn other_errors_are_not_cluster_errors() {
        for text in [
            "ERR syntax error",
            "MOVED",
            "MOVED x 1.2.3.4:5",
            "NOQUORUM something else",
            "TRYAGAIN",
            "NOTLEADER x",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ] {
            assert_eq!(ClusterError::parse(text), None, "{text}");
        }
    }
}
