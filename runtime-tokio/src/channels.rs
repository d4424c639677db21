//! What travels between the driver and the tasks around it: client calls in, events in, Raft
//! messages and `Persist` batches out, and the status the driver publishes.
//!
//! These types live apart from both ends so that the driver, the gRPC transport, the
//! client listener and the writers (RocksDB's here, the simulator's in runtime-sim) each
//! depend on them and not on one another.

use seshat_core::snapshot::{SnapshotId, SnapshotSource};
use seshat_core::{
    eraftpb, ClientId, ForwardedRequest, GroupId, GroupStatus, NodeId, Reply, Request, RequestId,
};
use tokio::sync::oneshot;

/// A client request on its way to the driver, with the channel its reply goes back on.
#[derive(Debug)]
pub struct Call {
    /// The connection that sent it (or an operator's call, with the top bit set).
    pub client: ClientId,
    /// Its number on that connection; with `client`, it routes the reply back.
    pub id: RequestId,
    /// What the client asked for.
    pub request: Request,
    /// The connection (or operator call) waiting for the reply.
    pub reply: oneshot::Sender<Reply>,
}

/// Something that happened outside the driver.
#[derive(Debug)]
pub enum Event {
    /// A peer sent a Raft message.
    Message {
        /// The Raft group it belongs to.
        group: GroupId,
        /// The raft-rs message, decoded.
        message: eraftpb::Message,
    },
    /// Messages to this peer could not be delivered.
    Unreachable(NodeId),
    /// A `Persist` batch and every earlier one of its group are durable.
    Persisted {
        /// The Raft group whose batch it was.
        group: GroupId,
        /// The Ready number of the batch.
        ready_number: u64,
    },
    /// A leader started streaming a snapshot of `group` to this node.
    SnapshotBegin {
        /// The Raft group the snapshot is of.
        group: GroupId,
        /// The `MsgSnapshot` that announces it.
        message: eraftpb::Message,
    },
    /// One chunk of a snapshot transfer. `taken` fires once the node has stored it, so the
    /// stream reads its next chunk only then: one chunk in memory per transfer.
    SnapshotChunk {
        /// The transfer the chunk belongs to.
        id: SnapshotId,
        /// The chunk's pairs, as `SnapshotChunk.data` encodes them.
        data: Vec<u8>,
        /// Signalled once the chunk is stored.
        taken: oneshot::Sender<()>,
    },
    /// The transfer sent its last chunk.
    SnapshotEnd(SnapshotId),
    /// A peer announced the internal address it can be reached at.
    PeerAddress {
        /// The peer that announced itself.
        node: NodeId,
        /// Its advertised internal address.
        addr: String,
    },
    /// A follower forwarded a client's command to this node; `reply` takes the answer.
    Forwarded {
        /// The request, as the follower sent it.
        request: ForwardedRequest,
        /// The forwarding stream waiting for the answer.
        reply: oneshot::Sender<Reply>,
    },
    /// The leader answered a command this node forwarded.
    ForwardReply {
        /// The connection on this node that sent it.
        client: ClientId,
        /// Its number on that connection.
        id: RequestId,
        /// The leader's answer.
        reply: Reply,
    },
    /// The forwarding stream of `generation` to `peer` broke, or could not take a forward.
    ForwardFailed {
        /// The leader the stream went to.
        peer: NodeId,
        /// The stream's link generation.
        generation: u64,
    },
    /// A snapshot this node streamed to `to` arrived whole (`delivered`) or did not.
    SnapshotSent {
        /// The Raft group the snapshot was of.
        group: GroupId,
        /// The follower it was streamed to.
        to: NodeId,
        /// Whether every chunk arrived.
        delivered: bool,
    },
}

/// Where the driver sends Raft messages. Sending never blocks: a full queue drops the
/// message, and Raft retries.
pub trait PeerSender: Send {
    /// Queues `message` of `group` for `to`.
    fn send(&mut self, to: NodeId, group: GroupId, message: eraftpb::Message);

    /// Makes sure messages to `id` go to `addr` (a member that joined, or one that announced
    /// itself); a peer already known keeps its link and its address.
    fn ensure_peer(&mut self, id: NodeId, addr: &str);

    /// Brings the links in line with the members the system group's directory lists now (the
    /// only source that may change a known peer's address): a new member gets links, a member
    /// whose address changed is reached at the new one, and a peer the directory listed before
    /// and no longer does (it left the cluster) loses its links.
    fn sync_directory(&mut self, members: &[(NodeId, String)]);

    /// Queues a forwarded command for `to`, behind every earlier one (one ordered stream per
    /// link generation). Answers come back as [`Event::ForwardReply`], a broken stream (or a
    /// full queue) as [`Event::ForwardFailed`].
    fn forward(&mut self, to: NodeId, request: ForwardedRequest);

    /// Streams a snapshot to `to`: `message`, then `source`'s chunks. The outcome comes back
    /// as [`Event::SnapshotSent`].
    fn send_snapshot(
        &mut self,
        to: NodeId,
        group: GroupId,
        message: eraftpb::Message,
        source: SnapshotSource,
    );
}

/// Where the driver sends `Persist` batches; completions come back as
/// [`Event::Persisted`].
pub trait Disk: Send {
    /// Queues a batch for writing. Batches of one group are written in submission order.
    fn submit(&mut self, batch: seshat_core::PersistBatch);
}

/// What `Internal.Status` reports; the driver keeps it current.
#[derive(Clone, Debug, Default)]
pub struct NodeStatus {
    /// This node's id.
    pub node: u64,
    /// Its advertised client address.
    pub client_addr: String,
    /// Role, term, indexes and configuration of each of its groups.
    pub groups: Vec<GroupStatus>,
    /// The members the system group's directory knows, with their internal addresses.
    pub members: Vec<(NodeId, String)>,
    /// Whether the node was removed from the cluster.
    pub removed: bool,
}
