//! The crate's error type.

use seshat_core::storage::StoreError;
use seshat_core::{GroupId, NodeId};

/// What can fail while starting a node, streaming a snapshot to a peer, or carrying out an
/// operator's membership change. What a running node answers its clients (not leader, no
/// quorum, wrong type) is a `Reply`, not an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or socket operation failed; `action` says which, and on what.
    #[error("{action}")]
    Io {
        /// What was being done, such as `binding client_addr 0.0.0.0:6379`.
        action: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed: opening it, or reading a snapshot out of it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node could not be built from its configuration and stored state.
    #[error("starting the node from its stored state")]
    Node(#[from] seshat_core::Error),
    /// A configured address resolved to no socket address.
    #[error("{addr} resolves to no address")]
    Unresolved {
        /// The address as configured, `host:port`.
        addr: String,
    },
    /// A gRPC channel to a node's internal address could not be opened.
    #[error("connecting to {addr}")]
    Connect {
        /// The internal address, `host:port`.
        addr: String,
        /// The transport's error.
        #[source]
        source: tonic::transport::Error,
    },
    /// A gRPC call failed: the connection broke, or the node answered with a gRPC status
    /// instead of a reply.
    #[error("calling {method} on {addr}")]
    Rpc {
        /// The method, such as `Internal.Status`.
        method: &'static str,
        /// The node's internal address, `host:port`.
        addr: String,
        /// The status the call ended with (boxed: it is large, and errors travel by value).
        #[source]
        source: Box<tonic::Status>,
    },
    /// A stream to a node closed before everything was sent.
    #[error("the stream to {addr} closed")]
    Disconnected {
        /// The node's internal address, `host:port`.
        addr: String,
    },
    /// The node's event loop returned before it was asked to stop.
    #[error("the node's event loop stopped")]
    Stopped,
    /// A task that carried out part of the work panicked or was cancelled.
    #[error("{what} failed")]
    Task {
        /// The task, such as `the snapshot call`.
        what: &'static str,
        /// Why it ended.
        #[source]
        source: tokio::task::JoinError,
    },
    /// A node's admin reply stated no outcome: the node speaks another version of the
    /// protocol (an old node's bare error string, field 1, decodes as an unknown field).
    #[error("{addr} answered {method} with no outcome")]
    NoOutcome {
        /// The method, such as `Internal.ChangeMembership`.
        method: &'static str,
        /// The node's internal address, `host:port`.
        addr: String,
    },
    /// A node refused an operator's request for a reason that asking again will not change.
    #[error("{request}: {reason}")]
    Refused {
        /// The request, such as `Remove of node 4 in group 1`.
        request: String,
        /// The node's error line, such as `ERR node 4 is the group's last voter`.
        reason: String,
    },
    /// An operator's request kept being answered with retryable errors until its step's
    /// time ran out.
    #[error("{request} kept failing: {reason}")]
    KeptFailing {
        /// The request, such as `Promote of node 4 in group 1`.
        request: String,
        /// The last error line a node answered.
        reason: String,
    },
    /// Something a step waited for did not happen in time: a leader, a learner catching up, a
    /// configuration change finishing, or a follower reading a snapshot.
    #[error("timed out waiting for {what}")]
    TimedOut {
        /// What did not happen, such as `a leader of group 1`.
        what: String,
    },
    /// The member asked for the cluster's status was removed from the cluster.
    #[error("{addr} was removed from the cluster")]
    Removed {
        /// Its internal address, `host:port`.
        addr: String,
    },
    /// No member answered a status request.
    #[error("no member answered")]
    NoMember,
    /// The member directory has no internal address for a node.
    #[error("no address for node {node} in the directory")]
    NotInDirectory {
        /// The node looked up.
        node: NodeId,
    },
    /// Removing a node would leave a group without voters.
    #[error("node {node} is the only voter of group {group}")]
    LastVoter {
        /// The node to be removed.
        node: NodeId,
        /// The group it is the only voter of.
        group: GroupId,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
