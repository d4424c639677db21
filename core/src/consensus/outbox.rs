//! Where a group's effects go, for the node to hand out.

use std::collections::VecDeque;

use crate::cmd::Call;
use crate::ids::{ClientId, RequestId};
use crate::kv::OfflineRead;
use crate::output::Output;
use crate::reply::Reply;

/// A client request as the node tracks it: which connection, which request.
pub(crate) type RequestKey = (ClientId, RequestId);

/// Where a group's effects go; the node turns completions into replies.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Outputs for the runtime, in the order they must be handed out.
    pub(crate) outputs: VecDeque<Output>,
    /// Requests the group finished, with their answers.
    pub(crate) completions: Vec<(RequestKey, Reply)>,
    /// Reads the group confirmed whose answer the runtime computes away from the node.
    pub(crate) offline_reads: Vec<(RequestKey, OfflineRead)>,
    /// Requests the node routes again: reads and held requests of a group that stopped
    /// leading, and requests released once the reads ahead of them were confirmed. Each
    /// connection's requests are in the order it sent them.
    pub(crate) redispatch: Vec<(RequestKey, Call)>,
    /// Set when some group's role, term or leader changed.
    pub(crate) role_changed: bool,
}
