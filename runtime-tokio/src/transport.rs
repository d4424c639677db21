//! Raft traffic between nodes over gRPC: the `Internal` service that receives it, and one
//! long-lived client stream per peer that sends it.
//!
//! Sending never blocks the driver: each peer has a bounded queue, and a message that finds it
//! full is dropped (Raft retries; raft-rs's `five_mem_node` example notes the same). A peer
//! that cannot be reached is reported to the driver as [`Event::Unreachable`] and retried with
//! growing pauses; every reconnect resolves its address again, so DNS names that move (Docker
//! Compose, Kubernetes headless services) are followed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use protobuf::Message as _;
use seshat_core::membership::MembershipChange;
use seshat_core::snapshot::{SnapshotId, SnapshotSource, CHUNK_BYTES_MAX};
use seshat_core::{eraftpb, ClientId, ForwardedRequest, GroupId, NodeId, Reply, RequestId};
use seshat_proto::v1::internal_client::InternalClient;
use seshat_proto::v1::internal_server::Internal;
pub use seshat_proto::v1::internal_server::InternalServer;
use seshat_proto::v1::{
    self, admin_reply, membership_request, AdminReply, ForwardRequest, MembershipRequest, RaftAck,
    RaftBatch, RaftEnvelope, SnapshotAck, SnapshotFrame, StatusReply, StatusRequest,
    TransferLeaderRequest,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::transport::Endpoint;
use tonic::{Request, Response, Status, Streaming};

use crate::channels::{Call, Event, NodeStatus, PeerSender};
use crate::error::{Error, Result};
use crate::forward::{ForwardLink, FORWARD_QUEUE_MAX};

/// Messages queued for one peer at most; more are dropped.
pub const PEER_QUEUE_MAX: usize = 4096;
/// Messages sent in one batch at most.
const BATCH_MESSAGES_MAX: usize = 256;
/// Largest gRPC message accepted, bytes (a batch of appends).
pub const GRPC_MESSAGE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// A batch takes more messages only while it holds fewer bytes than this. The sizes derive
/// from one another: a command carries at most `CommandLimits::arguments_bytes_max` (4 MiB
/// by default), so an entry is about as large; raft-rs fills an append up to 1 MiB
/// (`max_size_per_msg`) and always sends at least one entry; so one message is at most about
/// 5 MiB, and a batch at most this plus one message: far below [`GRPC_MESSAGE_BYTES_MAX`]
/// (256 messages of 1 MiB, a follower catching up, would make a batch four times that).
const BATCH_BYTES_MAX: usize = 16 * 1024 * 1024;
/// First and largest pause between reconnection attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));
/// Chunks of a snapshot transfer between two progress lines in the log (64 MiB).
const SNAPSHOT_PROGRESS_EVERY: u64 = 64;

/// The server side: decodes batches and hands each message to the driver, and answers the
/// operators' calls.
pub struct InternalService {
    events: mpsc::Sender<Event>,
    status: watch::Receiver<NodeStatus>,
    calls: mpsc::Sender<Call>,
    /// Numbers the operators' requests; their client ids live apart from connections'.
    admin_requests: AtomicU64,
}

/// Client ids of operators' requests: the top bit set, so they never meet a connection's.
const ADMIN_CLIENT_ID_BASE: u64 = 1 << 63;

impl InternalService {
    /// A service feeding `events`; wrap it in [`InternalServer`] (with
    /// [`GRPC_MESSAGE_BYTES_MAX`]) to serve it. The wrapper's type differs between a normal and
    /// a simulated build, so it is never named here.
    pub fn new(
        events: mpsc::Sender<Event>,
        status: watch::Receiver<NodeStatus>,
        calls: mpsc::Sender<Call>,
    ) -> InternalService {
        InternalService {
            events,
            status,
            calls,
            admin_requests: AtomicU64::new(0),
        }
    }

    /// Hands an operator's request to the node and waits for its answer: accepted, or the
    /// error line the node replied.
    async fn admin(&self, request: seshat_core::Request) -> Result<Response<AdminReply>, Status> {
        let (reply, answer) = oneshot::channel();
        let number = self.admin_requests.fetch_add(1, Ordering::Relaxed);
        let call = Call {
            client: ClientId(ADMIN_CLIENT_ID_BASE | number),
            id: RequestId(0),
            request,
            reply,
        };
        let gone = || Status::unavailable("node is shutting down");
        self.calls.send(call).await.map_err(|_| gone())?;
        let outcome = match answer.await.map_err(|_| gone())? {
            Reply::Simple(_) => admin_reply::Outcome::Accepted(admin_reply::Accepted {}),
            Reply::Error(text) => admin_reply::Outcome::Error(text),
            other => admin_reply::Outcome::Error(format!("ERR unexpected reply {other:?}")),
        };
        Ok(Response::new(AdminReply {
            outcome: Some(outcome),
        }))
    }
}

#[tonic::async_trait]
impl Internal for InternalService {
    type ForwardStream = ReceiverStream<crate::forward::ReplyItem>;

    /// A follower's forwarded commands: each goes to the driver in the order it arrived (the
    /// node checks it), each answer back as it comes.
    async fn forward(
        &self,
        request: Request<Streaming<ForwardRequest>>,
    ) -> Result<Response<Self::ForwardStream>, Status> {
        let (replies, stream) = crate::forward::reply_stream();
        tokio::spawn(crate::forward::serve_forwards(
            request.into_inner(),
            self.events.clone(),
            replies,
        ));
        Ok(Response::new(stream))
    }

    async fn raft(
        &self,
        request: Request<Streaming<RaftBatch>>,
    ) -> Result<Response<RaftAck>, Status> {
        let mut stream = request.into_inner();
        let mut announced = false;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if !announced && !batch.from_addr.is_empty() {
                announced = true;
                let event = Event::PeerAddress {
                    node: NodeId(batch.from),
                    addr: batch.from_addr.clone(),
                };
                if self.events.send(event).await.is_err() {
                    return Err(Status::unavailable("node is shutting down"));
                }
            }
            for envelope in batch.messages {
                let Ok(message) = eraftpb::Message::parse_from_bytes(&envelope.message) else {
                    tracing::warn!(from = batch.from, "dropping an undecodable Raft message");
                    continue;
                };
                let event = Event::Message {
                    group: GroupId(envelope.group),
                    message,
                };
                if self.events.send(event).await.is_err() {
                    return Err(Status::unavailable("node is shutting down"));
                }
            }
        }
        Ok(Response::new(RaftAck {}))
    }

    /// Hands a snapshot stream to the driver frame by frame, reading the next frame only once
    /// the node has stored the last chunk. A stream that breaks off leaves the transfer
    /// unfinished; the leader starts a new one and the node clears what this one staged.
    async fn snapshot(
        &self,
        request: Request<Streaming<SnapshotFrame>>,
    ) -> Result<Response<SnapshotAck>, Status> {
        let gone = || Status::unavailable("node is shutting down");
        let mut stream = request.into_inner();
        let Some(first) = stream.next().await else {
            return Err(Status::invalid_argument("empty snapshot stream"));
        };
        let first = first?;
        let message = eraftpb::Message::parse_from_bytes(&first.message)
            .map_err(|_| Status::invalid_argument("undecodable snapshot message"))?;
        let group = GroupId(first.group);
        let id = SnapshotId::of(group, &message);
        self.events
            .send(Event::SnapshotBegin { group, message })
            .await
            .map_err(|_| gone())?;
        let mut frame = Some(first);
        loop {
            let current = match frame.take() {
                Some(current) => current,
                None => match stream.next().await {
                    Some(next) => next?,
                    None => {
                        return Err(Status::aborted(
                            "snapshot stream ended before its last frame",
                        ))
                    }
                },
            };
            if !current.chunk.is_empty() {
                let (taken, stored) = oneshot::channel();
                let event = Event::SnapshotChunk {
                    id,
                    data: current.chunk,
                    taken,
                };
                self.events.send(event).await.map_err(|_| gone())?;
                stored.await.map_err(|_| gone())?;
            }
            if current.last {
                self.events
                    .send(Event::SnapshotEnd(id))
                    .await
                    .map_err(|_| gone())?;
                return Ok(Response::new(SnapshotAck {}));
            }
        }
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusReply>, Status> {
        let status = self.status.borrow().clone();
        Ok(Response::new(StatusReply {
            node: status.node,
            client_addr: status.client_addr,
            groups: status
                .groups
                .iter()
                .map(|g| v1::GroupStatus {
                    group: g.group.0,
                    role: format!("{:?}", g.role),
                    term: g.term,
                    leader: g.leader.map_or(0, |l| l.0),
                    commit_index: g.commit_index,
                    applied_index: g.applied_index,
                    last_index: g.last_index,
                    voters: g.voters.clone(),
                    learners: g.learners.clone(),
                    voters_outgoing: g.voters_outgoing.clone(),
                    snapshot_index: g.snapshot_index,
                })
                .collect(),
            members: status
                .members
                .iter()
                .map(|(node, addr)| v1::MemberAddrs {
                    node: node.0,
                    internal_addr: addr.clone(),
                })
                .collect(),
            removed: status.removed,
        }))
    }

    async fn change_membership(
        &self,
        request: Request<MembershipRequest>,
    ) -> Result<Response<AdminReply>, Status> {
        let request = request.into_inner();
        let node = NodeId(request.node);
        let change = match request.kind() {
            membership_request::Kind::AddLearner => MembershipChange::AddLearner {
                node,
                client_addr: request.client_addr,
                internal_addr: request.internal_addr,
            },
            membership_request::Kind::Promote => MembershipChange::Promote(node),
            membership_request::Kind::Remove => MembershipChange::Remove(node),
        };
        self.admin(seshat_core::Request::ChangeMembership {
            group: GroupId(request.group),
            change,
        })
        .await
    }

    async fn transfer_leader(
        &self,
        request: Request<TransferLeaderRequest>,
    ) -> Result<Response<AdminReply>, Status> {
        let request = request.into_inner();
        self.admin(seshat_core::Request::TransferLeader {
            group: GroupId(request.group),
            to: NodeId(request.node),
        })
        .await
    }
}

/// The client side: a queue and a sending task per peer.
pub struct Peers {
    me: NodeId,
    /// This node's advertised internal address, sent with every stream.
    my_addr: String,
    queues: BTreeMap<NodeId, mpsc::Sender<(GroupId, eraftpb::Message)>>,
    /// Forwarded commands for each peer, started with its Raft link.
    forwards: BTreeMap<NodeId, mpsc::Sender<ForwardedRequest>>,
    /// Each peer's address; its links read it at every (re)connect.
    addrs: BTreeMap<NodeId, watch::Sender<String>>,
    /// Peers the system group's directory has listed: one that leaves the list loses its
    /// links. Peers only known from the configuration or an announcement are never closed.
    listed: BTreeSet<NodeId>,
    rpc_timeout: Duration,
    events: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
}

impl Peers {
    /// Starts a sender task for each peer `(id, internal address)`; this node advertises
    /// `my_addr`.
    pub fn start(
        me: NodeId,
        my_addr: String,
        peers: Vec<(NodeId, String)>,
        rpc_timeout: Duration,
        events: mpsc::Sender<Event>,
    ) -> Peers {
        let mut started = Peers {
            me,
            my_addr,
            queues: BTreeMap::new(),
            forwards: BTreeMap::new(),
            addrs: BTreeMap::new(),
            listed: BTreeSet::new(),
            rpc_timeout,
            events,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        for (id, addr) in peers {
            started.ensure_peer(id, &addr);
        }
        started
    }

    /// Messages dropped because a peer's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl PeerSender for Peers {
    fn ensure_peer(&mut self, id: NodeId, addr: &str) {
        if id == self.me || self.queues.contains_key(&id) {
            return;
        }
        tracing::info!(peer = %id, addr, "new peer");
        let (queue, messages) = mpsc::channel(PEER_QUEUE_MAX);
        self.queues.insert(id, queue);
        let (addr_tx, addr_rx) = watch::channel(addr.to_owned());
        self.addrs.insert(id, addr_tx);
        let link = PeerLink {
            me: self.me,
            my_addr: self.my_addr.clone(),
            peer: id,
            addr: addr_rx.clone(),
            rpc_timeout: self.rpc_timeout,
            events: self.events.clone(),
        };
        tokio::spawn(link.run(messages));
        let (forwards, queued) = mpsc::channel(FORWARD_QUEUE_MAX);
        self.forwards.insert(id, forwards);
        let link = ForwardLink {
            me: self.me,
            peer: id,
            addr: addr_rx,
            rpc_timeout: self.rpc_timeout,
            events: self.events.clone(),
        };
        tokio::spawn(link.run(queued));
    }

    fn sync_directory(&mut self, members: &[(NodeId, String)]) {
        for (id, addr) in members {
            if *id == self.me {
                continue;
            }
            self.listed.insert(*id);
            match self.addrs.get(id) {
                None => self.ensure_peer(*id, addr),
                Some(known) if *known.borrow() != *addr => {
                    tracing::info!(peer = %id, old = %*known.borrow(), new = %addr, "peer address changed");
                    known.send_replace(addr.clone());
                }
                Some(_) => {}
            }
        }
        let gone: Vec<NodeId> = self
            .listed
            .iter()
            .filter(|id| !members.iter().any(|(member, _)| member == *id))
            .copied()
            .collect();
        for id in gone {
            tracing::info!(peer = %id, "peer left the cluster; closing its links");
            self.listed.remove(&id);
            // Dropping the senders ends the peer's tasks.
            self.queues.remove(&id);
            self.forwards.remove(&id);
            self.addrs.remove(&id);
        }
    }

    fn forward(&mut self, to: NodeId, request: ForwardedRequest) {
        let generation = request.link.generation;
        let queued = match self.forwards.get(&to) {
            Some(queue) => queue.try_send(request).is_ok(),
            None => false,
        };
        if !queued {
            // Dropping one forward and sending the next would reorder its connection: the
            // whole link counts as broken, and the node answers what was on it.
            tracing::warn!(%to, generation, "forwarding queue full or no address; link broken");
            let events = self.events.clone();
            tokio::spawn(async move {
                let _ = events
                    .send(Event::ForwardFailed {
                        peer: to,
                        generation,
                    })
                    .await;
            });
        }
    }

    fn send(&mut self, to: NodeId, group: GroupId, message: eraftpb::Message) {
        let Some(queue) = self.queues.get(&to) else {
            tracing::warn!(%to, "no address for peer; dropping message");
            return;
        };
        if queue.try_send((group, message)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn send_snapshot(
        &mut self,
        to: NodeId,
        group: GroupId,
        message: eraftpb::Message,
        source: SnapshotSource,
    ) {
        let events = self.events.clone();
        let Some(addr) = self.addrs.get(&to).map(|addr| addr.borrow().clone()) else {
            tracing::warn!(%to, "no address for peer; dropping snapshot");
            tokio::spawn(async move {
                let failed = Event::SnapshotSent {
                    group,
                    to,
                    delivered: false,
                };
                let _ = events.send(failed).await;
            });
            return;
        };
        let rpc_timeout = self.rpc_timeout;
        tokio::spawn(async move {
            let id = SnapshotId::of(group, &message);
            let started = tokio::time::Instant::now();
            let result = stream_snapshot(&addr, group, message, &source, rpc_timeout).await;
            let delivered = match result {
                Ok(sent) => {
                    let seconds = started.elapsed().as_secs_f64().max(1e-6);
                    tracing::info!(
                        %id, %to,
                        pairs = sent.pairs,
                        bytes = sent.bytes,
                        seconds,
                        mib_per_second = sent.bytes as f64 / seconds / (1024.0 * 1024.0),
                        "snapshot sent"
                    );
                    true
                }
                Err(error) => {
                    tracing::warn!(%id, %to, %error, "snapshot transfer failed; raft retries");
                    false
                }
            };
            let _ = events
                .send(Event::SnapshotSent {
                    group,
                    to,
                    delivered,
                })
                .await;
        });
    }
}

/// What a finished snapshot transfer carried.
struct SnapshotSent {
    pairs: u64,
    bytes: u64,
}

/// Streams one snapshot to the node at `addr`: `message` in the first frame, then the chunks of
/// `source`, read one at a time while at most two wait to be sent. Every frame, and the
/// follower's answer, must make progress within `rpc_timeout`.
async fn stream_snapshot(
    addr: &str,
    group: GroupId,
    message: eraftpb::Message,
    source: &SnapshotSource,
    rpc_timeout: Duration,
) -> Result<SnapshotSent> {
    let mut client = connect(addr, rpc_timeout)
        .await
        .map_err(|source| Error::Connect {
            addr: addr.to_owned(),
            source,
        })?;
    let (frames, outgoing) = mpsc::channel::<SnapshotFrame>(2);
    let call = tokio::spawn(async move { client.snapshot(ReceiverStream::new(outgoing)).await });
    let id = SnapshotId::of(group, &message);
    let mut first = Some(
        message
            .write_to_bytes()
            .expect("raft-rs messages serialise"),
    );
    let mut sent = SnapshotSent { pairs: 0, bytes: 0 };
    for (number, chunk) in (1u64..).zip(source.chunks(CHUNK_BYTES_MAX)) {
        let chunk = chunk?;
        sent.pairs += chunk.pairs;
        sent.bytes += chunk.data.len() as u64;
        let frame = SnapshotFrame {
            group: group.0,
            message: first.take().unwrap_or_default(),
            chunk: chunk.data,
            last: chunk.is_last,
        };
        tokio::time::timeout(rpc_timeout, frames.send(frame))
            .await
            .map_err(|_| Error::TimedOut {
                what: format!("the follower at {addr} to read the next snapshot frame"),
            })?
            .map_err(|_| Error::Disconnected {
                addr: addr.to_owned(),
            })?;
        if number % SNAPSHOT_PROGRESS_EVERY == 0 {
            tracing::info!(%id, pairs = sent.pairs, bytes = sent.bytes, "snapshot transfer progress");
        }
    }
    drop(frames);
    tokio::time::timeout(rpc_timeout, call)
        .await
        .map_err(|_| Error::TimedOut {
            what: format!("the follower at {addr} to confirm the snapshot"),
        })?
        .map_err(|source| Error::Task {
            what: "the snapshot call",
            source,
        })?
        .map_err(|status| Error::Rpc {
            method: "Internal.Snapshot",
            addr: addr.to_owned(),
            source: Box::new(status),
        })?;
    Ok(sent)
}

/// Opens a channel to a peer's internal address.
pub(crate) async fn connect(
    addr: &str,
    rpc_timeout: Duration,
) -> Result<InternalClient<tonic::transport::Channel>, tonic::transport::Error> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(rpc_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(1))
        .keep_alive_timeout(rpc_timeout)
        .keep_alive_while_idle(true)
        .connect()
        .await?;
    Ok(InternalClient::new(channel).max_encoding_message_size(GRPC_MESSAGE_BYTES_MAX))
}

/// One peer's connection.
struct PeerLink {
    me: NodeId,
    my_addr: String,
    peer: NodeId,
    /// The peer's address, as the directory has it now.
    addr: watch::Receiver<String>,
    rpc_timeout: Duration,
    events: mpsc::Sender<Event>,
}

impl PeerLink {
    async fn run(mut self, mut messages: mpsc::Receiver<(GroupId, eraftpb::Message)>) {
        let mut backoff = BACKOFF.0;
        loop {
            if messages.is_closed() {
                return; // The peer left the cluster (or the driver stopped) meanwhile.
            }
            let addr = self.addr.borrow_and_update().clone();
            match connect(&addr, self.rpc_timeout).await {
                Ok(client) => {
                    tracing::debug!(peer = %self.peer, %addr, "connected");
                    backoff = BACKOFF.0;
                    if self.stream(client, &mut messages).await.is_none() {
                        return; // The driver is gone, or the peer left the cluster.
                    }
                }
                Err(error) => {
                    tracing::debug!(peer = %self.peer, %addr, %error, "connect failed");
                }
            }
            // Raft retries what is lost: drop what queued up while the peer was away.
            loop {
                match messages.try_recv() {
                    Ok(_) => {}
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            }
            if self
                .events
                .send(Event::Unreachable(self.peer))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF.1);
        }
    }

    /// Streams batches until the connection fails or the peer's address changes (`Some`), or
    /// the queue closes (`None`: the driver stopped, or the peer left the cluster).
    async fn stream(
        &mut self,
        mut client: InternalClient<tonic::transport::Channel>,
        messages: &mut mpsc::Receiver<(GroupId, eraftpb::Message)>,
    ) -> Option<()> {
        let (batches, outgoing) = mpsc::channel::<RaftBatch>(16);
        let call = tokio::spawn(async move { client.raft(ReceiverStream::new(outgoing)).await });
        // A message taken from the queue that did not fit the last batch: the next one's first.
        let mut carried: Option<RaftEnvelope> = None;
        loop {
            let first = match carried.take() {
                Some(first) => first,
                None => tokio::select! {
                    first = messages.recv() => envelope(first?),
                    changed = self.addr.changed() => {
                        call.abort();
                        return changed.ok(); // A new address: reconnect there.
                    }
                },
            };
            let mut bytes = first.message.len();
            let mut batch = RaftBatch {
                from: self.me.0,
                to: self.peer.0,
                messages: vec![first],
                from_addr: self.my_addr.clone(),
            };
            while batch.messages.len() < BATCH_MESSAGES_MAX && bytes < BATCH_BYTES_MAX {
                let Ok(next) = messages.try_recv() else {
                    break;
                };
                let next = envelope(next);
                if bytes + next.message.len() > BATCH_BYTES_MAX {
                    carried = Some(next);
                    break;
                }
                bytes += next.message.len();
                batch.messages.push(next);
            }
            match tokio::time::timeout(self.rpc_timeout, batches.send(batch)).await {
                Ok(Ok(())) => {}
                // The call ended (peer gone) or the peer stopped reading: reconnect.
                Ok(Err(_)) | Err(_) => {
                    call.abort();
                    return Some(());
                }
            }
        }
    }
}

fn envelope((group, message): (GroupId, eraftpb::Message)) -> RaftEnvelope {
    RaftEnvelope {
        group: group.0,
        message: message
            .write_to_bytes()
            .expect("raft-rs messages serialise"),
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn addr_of(listener: &TcpListener) -> String {
        listener.local_addr().expect("bound").to_string()
    }

    /// Whether a connection comes to `listener` within `within` (it need not speak gRPC: the
    /// attempt is what counts).
    async fn connection_within(listener: &TcpListener, within: Duration) -> bool {
        matches!(
            tokio::time::timeout(within, listener.accept()).await,
            Ok(Ok(_))
        )
    }

    #[tokio::test]
    async fn links_follow_the_directory_and_end_when_a_peer_leaves() {
        // Goal: the directory, not an announcement, moves a peer to a new address, and a peer
        // that left the cluster is no longer dialled. Method: listeners stand in for node 2 at
        // two addresses; watch where its link connects.
        let first = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let second = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (events, mut events_rx) = mpsc::channel(1024);
        tokio::spawn(async move { while events_rx.recv().await.is_some() {} });
        let peer = NodeId(2);
        let mut peers = Peers::start(
            NodeId(1),
            "127.0.0.1:1".to_owned(),
            vec![(peer, addr_of(&first))],
            Duration::from_millis(300),
            events,
        );
        let message = || eraftpb::Message {
            to: 2,
            from: 1,
            ..eraftpb::Message::default()
        };
        peers.send(peer, GroupId::FIRST_DATA, message());
        assert!(connection_within(&first, Duration::from_secs(5)).await);

        // An announcement of another address changes nothing; the directory does.
        peers.ensure_peer(peer, &addr_of(&second));
        peers.send(peer, GroupId::FIRST_DATA, message());
        assert!(!connection_within(&second, Duration::from_secs(1)).await);
        peers.sync_directory(&[(peer, addr_of(&second))]);
        peers.send(peer, GroupId::FIRST_DATA, message());
        assert!(connection_within(&second, Duration::from_secs(5)).await);

        // Gone from the directory: its links end (a link waiting out its back-off, at most a
        // second, sees that when it wakes), and nothing dials it again.
        peers.sync_directory(&[]);
        peers.send(peer, GroupId::FIRST_DATA, message());
        let settled = tokio::time::Instant::now() + Duration::from_millis(1500);
        for listener in [&first, &second] {
            // Connections already made (the kernel queues them until accepted).
            while connection_within(listener, Duration::from_millis(50)).await {}
        }
        tokio::time::sleep_until(settled).await;
        for listener in [&first, &second] {
            while connection_within(listener, Duration::from_millis(50)).await {}
        }
        assert!(!connection_within(&second, Duration::from_secs(3)).await);
        assert!(!connection_within(&first, Duration::from_millis(100)).await);
    }
}
