//! What the core asks its runtime to do.

use raft::eraftpb;

use crate::ids::{ClientId, GroupId, NodeId, RequestId};
use crate::kv::OfflineRead;
use crate::node::ForwardedRequest;
use crate::reply::Reply;
use crate::snapshot::SnapshotSource;
use crate::storage::WriteBatch;

/// One thing for the runtime to carry out. Drain them with
/// [`Node::poll_output`](crate::Node::poll_output) after every input.
#[must_use]
#[derive(Clone, Debug)]
pub enum Output {
    /// Send a Raft message of `group` to node `to`. Delivery is best effort: the runtime may
    /// drop it (full queue, dead peer) because Raft retries. When a peer cannot be reached the
    /// runtime says so with [`Node::handle_unreachable`](crate::Node::handle_unreachable).
    Send {
        /// The destination node.
        to: NodeId,
        /// The Raft group the message belongs to.
        group: GroupId,
        /// The raft-rs message.
        message: eraftpb::Message,
    },
    /// Stream a snapshot to node `to`: first `message` (a `MsgSnapshot`, metadata only), then
    /// the chunks of `source`, read one at a time ([`SnapshotSource::chunks`]). Report the
    /// outcome with [`Node::handle_snapshot_sent`](crate::Node::handle_snapshot_sent).
    SendSnapshot {
        /// The destination node.
        to: NodeId,
        /// The group the snapshot belongs to.
        group: GroupId,
        /// The raft-rs message announcing it.
        message: eraftpb::Message,
        /// The data, a point-in-time view at the snapshot's index.
        source: SnapshotSource,
    },
    /// Write a batch durably, then report it with
    /// [`Node::handle_persisted`](crate::Node::handle_persisted).
    Persist(PersistBatch),
    /// Answer request `id` of connection `client`.
    Reply {
        /// The connection.
        client: ClientId,
        /// The request on that connection.
        id: RequestId,
        /// The answer.
        reply: Reply,
    },
    /// Pass a client's command to node `to`, the leader of `request.group` (a follower with
    /// `cluster.follower_requests = "forward"`). Forwards to one peer must arrive there in the
    /// order they are output, on one ordered stream per `request.link` (see
    /// `core/src/node/forward.rs`); hand each the leader's answer with
    /// [`Node::handle_forward_reply`](crate::Node::handle_forward_reply), and report a stream
    /// that broke, or a forward that could not be queued, with
    /// [`Node::handle_forward_failed`](crate::Node::handle_forward_failed).
    Forward {
        /// The leader.
        to: NodeId,
        /// The command, with everything the leader checks it by.
        request: ForwardedRequest,
    },
    /// Answer request `id` of connection `client` with what `read` computes
    /// ([`OfflineRead::serve`]), on a thread where blocking is fine: a read that may visit
    /// every key (KEYS), which would stall the node's event loop. The node is done with the
    /// request; the reply is the runtime's to send.
    ServeRead {
        /// The connection.
        client: ClientId,
        /// The request on that connection.
        id: RequestId,
        /// The read, over a view of the store made when it was due.
        read: OfflineRead,
    },
}

/// Raft state of one group that must be durable before the group may go on: log entries,
/// hard state, snapshot metadata. Batches of one group are numbered 1, 2, 3, ... and must be
/// made durable in that order; one fsync may cover several batches (group commit).
#[derive(Clone, Debug)]
pub struct PersistBatch {
    /// The group whose state this is.
    pub group: GroupId,
    /// raft-rs's Ready number; hand it back to `handle_persisted` once durable.
    pub ready_number: u64,
    /// The writes, applied atomically.
    pub batch: WriteBatch,
    /// Whether the batch must be fsynced before it counts as persisted (it changes the term, the
    /// vote or the log). When false the write may stay in the OS cache.
    pub must_sync: bool,
}
