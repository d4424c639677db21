//! The crate's error type.

use seshat_core::storage::StoreError;

/// What can fail while starting a node or streaming a snapshot to a peer. What a running
/// node answers its clients (not leader, no quorum, wrong type) is a `Reply`, not an error.
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
    /// A task that carried out part of the work panicked or was cancelled.
    #[error("{what} failed")]
    Task {
        /// The task, such as `the snapshot call`.
        what: &'static str,
        /// Why it ended.
        #[source]
        source: tokio::task::JoinError,
    },
    /// Something a step waited for did not happen in time, such as a follower reading a
    /// snapshot.
    #[error("timed out waiting for {what}")]
    TimedOut {
        /// What did not happen, such as `the follower at 10.0.0.2:7379 to confirm the snapshot`.
        what: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
