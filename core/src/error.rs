//! The crate's error type.

use crate::storage::StoreError;

/// Errors from building or restarting a node. Expected conditions at run time (not leader, no
/// quorum, bad client input) are [`Reply`](crate::Reply) values, not errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; the message names the field.
    #[error("invalid config: {0}")]
    Config(String),
    /// The store failed while the node read its state.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored state could not be decoded.
    #[error("corrupt stored state: {0}")]
    Corrupt(String),
    /// raft-rs refused to start the group.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
