//! Raft traffic between nodes over gRPC: the `Internal` service that receives it, and one
//! long-lived client stream per peer that sends it.
//!
//! Sending never blocks the driver: each peer has a bounded queue, and a message that finds it
//! full is dropped (Raft retries; raft-rs's `five_mem_node` example notes the same). A peer
//! that cannot be reached is reported to the driver as [`Event::Unreachable`] and retried with
//! growing pauses; every reconnect resolves its address again, so DNS names that move (Docker
//! Compose, Kubernetes headless services) are followed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use protobuf::Message as _;
use seshat_core::{eraftpb, GroupId, GroupStatus, NodeId};
use seshat_proto::v1::internal_client::InternalClient;
use seshat_proto::v1::internal_server::Internal;
pub use seshat_proto::v1::internal_server::InternalServer;
use seshat_proto::v1::{self, RaftAck, RaftBatch, RaftEnvelope, StatusReply, StatusRequest};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::transport::Endpoint;
use tonic::{Request, Response, Status, Streaming};

use crate::driver::{Event, PeerSender};

/// Messages queued for one peer at most; more are dropped.
pub const PEER_QUEUE_MAX: usize = 4096;
/// Messages sent in one batch at most.
const BATCH_MESSAGES_MAX: usize = 256;
/// Largest gRPC message accepted, bytes (a batch of appends).
pub const GRPC_MESSAGE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// First and largest pause between reconnection attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

/// The server side: decodes batches and hands each message to the driver.
pub struct InternalService {
    events: mpsc::Sender<Event>,
    status: watch::Receiver<NodeStatus>,
}

/// What `Internal.Status` reports; the driver keeps it current.
#[derive(Clone, Debug, Default)]
pub struct NodeStatus {
    /// This node.
    pub node: u64,
    /// Its advertised client address.
    pub client_addr: String,
    /// Its groups.
    pub groups: Vec<GroupStatus>,
}

impl InternalService {
    /// A service feeding `events`; wrap it in [`InternalServer`] (with
    /// [`GRPC_MESSAGE_BYTES_MAX`]) to serve it. The wrapper's type differs between a normal and
    /// a simulated build, so it is never named here.
    pub fn new(
        events: mpsc::Sender<Event>,
        status: watch::Receiver<NodeStatus>,
    ) -> InternalService {
        InternalService { events, status }
    }
}

#[tonic::async_trait]
impl Internal for InternalService {
    async fn raft(
        &self,
        request: Request<Streaming<RaftBatch>>,
    ) -> Result<Response<RaftAck>, Status> {
        let mut stream = request.into_inner();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
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
                })
                .collect(),
        }))
    }
}

/// The client side: a queue and a sending task per peer.
pub struct Peers {
    queues: BTreeMap<NodeId, mpsc::Sender<(GroupId, eraftpb::Message)>>,
    dropped: Arc<AtomicU64>,
}

impl Peers {
    /// Starts a sender task for each peer `(id, internal address)`.
    pub fn start(
        me: NodeId,
        peers: Vec<(NodeId, String)>,
        rpc_timeout: Duration,
        events: mpsc::Sender<Event>,
    ) -> Peers {
        let mut queues = BTreeMap::new();
        for (id, addr) in peers {
            if id == me {
                continue;
            }
            let (queue, messages) = mpsc::channel(PEER_QUEUE_MAX);
            queues.insert(id, queue);
            let sender = PeerLink {
                me,
                peer: id,
                addr,
                rpc_timeout,
                events: events.clone(),
            };
            tokio::spawn(sender.run(messages));
        }
        Peers {
            queues,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Messages dropped because a peer's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl PeerSender for Peers {
    fn send(&mut self, to: NodeId, group: GroupId, message: eraftpb::Message) {
        let Some(queue) = self.queues.get(&to) else {
            tracing::warn!(%to, "no address for peer; dropping message");
            return;
        };
        if queue.try_send((group, message)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One peer's connection.
struct PeerLink {
    me: NodeId,
    peer: NodeId,
    addr: String,
    rpc_timeout: Duration,
    events: mpsc::Sender<Event>,
}

impl PeerLink {
    async fn run(self, mut messages: mpsc::Receiver<(GroupId, eraftpb::Message)>) {
        let mut backoff = BACKOFF.0;
        loop {
            match self.connect().await {
                Ok(client) => {
                    tracing::debug!(peer = %self.peer, addr = %self.addr, "connected");
                    backoff = BACKOFF.0;
                    if self.stream(client, &mut messages).await.is_none() {
                        return; // The driver is gone.
                    }
                }
                Err(error) => {
                    tracing::debug!(peer = %self.peer, addr = %self.addr, %error, "connect failed");
                }
            }
            // Raft retries what is lost: drop what queued up while the peer was away.
            while messages.try_recv().is_ok() {}
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

    async fn connect(
        &self,
    ) -> Result<InternalClient<tonic::transport::Channel>, tonic::transport::Error> {
        let channel = Endpoint::from_shared(format!("http://{}", self.addr))?
            .connect_timeout(self.rpc_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(1))
            .keep_alive_timeout(self.rpc_timeout)
            .keep_alive_while_idle(true)
            .connect()
            .await?;
        Ok(InternalClient::new(channel).max_encoding_message_size(GRPC_MESSAGE_BYTES_MAX))
    }

    /// Streams batches until the connection fails (`Some`) or the driver stops (`None`).
    async fn stream(
        &self,
        mut client: InternalClient<tonic::transport::Channel>,
        messages: &mut mpsc::Receiver<(GroupId, eraftpb::Message)>,
    ) -> Option<()> {
        let (batches, outgoing) = mpsc::channel::<RaftBatch>(16);
        let call = tokio::spawn(async move { client.raft(ReceiverStream::new(outgoing)).await });
        loop {
            let first = messages.recv().await?;
            let mut batch = RaftBatch {
                from: self.me.0,
                to: self.peer.0,
                messages: Vec::new(),
            };
            batch.messages.push(envelope(first));
            while batch.messages.len() < BATCH_MESSAGES_MAX {
                match messages.try_recv() {
                    Ok(next) => batch.messages.push(envelope(next)),
                    Err(_) => break,
                }
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
