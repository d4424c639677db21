//! The driver: one task per node that feeds events to the sans-IO [`Node`] and carries out
//! what it asks for (quinn's `ConnectionDriver`).
//!
//! Each turn of the loop waits for one event (a peer message, a client request, a finished
//! write, the timer, shutdown), hands it to the node, then drains every output:
//! `Send` goes to the peer's bounded queue, `Persist` to the group-commit writer, `Reply` to
//! the connection waiting for it. The driver holds I/O handles only; every decision is the
//! core's.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use seshat_core::snapshot::{SnapshotId, SnapshotSource};
use seshat_core::{
    eraftpb, ClientId, GroupId, Node, NodeId, Now, Output, Reply, Request, RequestId,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::transport::NodeStatus;

/// A client request on its way to the driver, with the channel its reply goes back on.
#[derive(Debug)]
pub struct Call {
    /// The connection.
    pub client: ClientId,
    /// The request on that connection.
    pub id: RequestId,
    /// The request.
    pub request: Request,
    /// Where the reply goes.
    pub reply: oneshot::Sender<Reply>,
}

/// Something that happened outside the driver.
#[derive(Debug)]
pub enum Event {
    /// A peer sent a Raft message.
    Message {
        /// The group it belongs to.
        group: GroupId,
        /// The message.
        message: eraftpb::Message,
    },
    /// Messages to this peer could not be delivered.
    Unreachable(NodeId),
    /// A `Persist` batch and every earlier one of its group are durable.
    Persisted {
        /// The group.
        group: GroupId,
        /// The Ready number of the batch.
        ready_number: u64,
    },
    /// A leader started streaming a snapshot of `group` to this node.
    SnapshotBegin {
        /// The group.
        group: GroupId,
        /// The `MsgSnapshot` that announces it.
        message: eraftpb::Message,
    },
    /// One chunk of a snapshot transfer. `taken` fires once the node has stored it, so the
    /// stream reads its next chunk only then: one chunk in memory per transfer.
    SnapshotChunk {
        /// The transfer.
        id: SnapshotId,
        /// The chunk's pairs.
        data: Vec<u8>,
        /// Signalled once the chunk is stored.
        taken: oneshot::Sender<()>,
    },
    /// The transfer sent its last chunk.
    SnapshotEnd(SnapshotId),
    /// A peer announced the internal address it can be reached at.
    PeerAddress {
        /// The peer.
        node: NodeId,
        /// Its advertised internal address.
        addr: String,
    },
    /// A snapshot this node streamed to `to` arrived whole (`delivered`) or did not.
    SnapshotSent {
        /// The group.
        group: GroupId,
        /// The follower.
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
    /// itself); a peer already known keeps its link.
    fn ensure_peer(&mut self, id: NodeId, addr: &str);

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

/// The clocks the core sees: a monotonic instant, read from tokio (so `tokio::time::pause` and
/// madsim's virtual time apply), and the wall clock for TTLs.
///
/// A server's clock is exact. The simulator gives each node a [`Skew`], because madsim has one
/// global clock and real machines do not agree on the time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: tokio::time::Instant,
    skew: Skew,
}

/// How far one node's clocks are from true time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skew {
    /// Where the node's monotonic clock starts (it counts from boot, not from our epoch).
    pub monotonic_origin: Duration,
    /// How far the node's wall clock is ahead (negative: behind), milliseconds.
    pub wall_offset_ms: i64,
    /// How much faster the node's clocks run, parts per million (negative: slower).
    pub drift_ppm: i32,
}

const PPM: i128 = 1_000_000;

impl Clock {
    /// An exact clock whose epoch is now.
    pub fn start() -> Clock {
        Clock::skewed(Skew::default())
    }

    /// A clock with `skew`, whose epoch is now.
    ///
    /// # Panics
    /// If the drift is -100% or slower: time would not advance.
    pub fn skewed(skew: Skew) -> Clock {
        assert!(
            i128::from(skew.drift_ppm) > -PPM,
            "a clock must advance (drift {} ppm)",
            skew.drift_ppm
        );
        Clock {
            epoch: tokio::time::Instant::now(),
            skew,
        }
    }

    /// The current time, for one input.
    pub fn now(&self) -> Now {
        let true_elapsed = self.epoch.elapsed();
        let local_elapsed = self.drifted(true_elapsed);
        let true_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i128);
        let drift_ms = (local_elapsed.as_millis() as i128) - (true_elapsed.as_millis() as i128);
        let unix_ms = true_unix_ms + i128::from(self.skew.wall_offset_ms) + drift_ms;
        Now {
            instant: seshat_core::Instant::from_elapsed(self.skew.monotonic_origin + local_elapsed),
            unix_ms: unix_ms.max(0) as u64,
        }
    }

    /// The tokio instant at which this node's clock reads `instant` (never before it: a timer
    /// that fired early would find nothing due).
    pub fn to_tokio(&self, instant: seshat_core::Instant) -> tokio::time::Instant {
        let local = instant
            .elapsed_since_epoch()
            .saturating_sub(self.skew.monotonic_origin);
        let rate = PPM + i128::from(self.skew.drift_ppm);
        let true_nanos = (local.as_nanos() as i128 * PPM + rate - 1) / rate;
        self.epoch + Duration::from_nanos(true_nanos.min(u64::MAX as i128) as u64)
    }

    fn drifted(&self, true_elapsed: Duration) -> Duration {
        let rate = PPM + i128::from(self.skew.drift_ppm);
        let nanos = true_elapsed.as_nanos() as i128 * rate / PPM;
        Duration::from_nanos(nanos.clamp(0, u64::MAX as i128) as u64)
    }
}

/// The handles a driver works with.
pub struct Driver<P, D> {
    node: Node,
    clock: Clock,
    calls: mpsc::Receiver<Call>,
    events: mpsc::Receiver<Event>,
    peers: P,
    disk: D,
    shutdown: watch::Receiver<bool>,
    /// Reply channels of requests the node has not answered yet.
    waiting: HashMap<(ClientId, RequestId), oneshot::Sender<Reply>>,
    /// Where the node's state is published for `Internal.Status`, refreshed on timer events.
    status: Option<watch::Sender<NodeStatus>>,
}

/// How long a stopping node keeps serving the requests already in flight.
pub const DRAIN_TIME_MAX: Duration = Duration::from_secs(2);

/// Events and calls handled in one turn at most before outputs are drained: a bound on how
/// long a turn can take under load.
const EVENTS_PER_TURN_MAX: usize = 256;

impl<P: PeerSender, D: Disk> Driver<P, D> {
    /// A driver for `node`.
    pub fn new(
        node: Node,
        clock: Clock,
        calls: mpsc::Receiver<Call>,
        events: mpsc::Receiver<Event>,
        peers: P,
        disk: D,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Driver {
            node,
            clock,
            calls,
            events,
            peers,
            disk,
            shutdown,
            waiting: HashMap::new(),
            status: None,
        }
    }

    /// Publishes the node's state to `status` (for `Internal.Status`) on every timer event.
    pub fn publish_status(mut self, status: watch::Sender<NodeStatus>) -> Self {
        self.status = Some(status);
        self
    }

    /// Runs until shutdown is signalled or every sender is gone, then returns the node (so a
    /// caller can inspect it) after answering what was still in flight.
    pub async fn run(mut self) -> Node {
        self.drain_outputs();
        // After shutdown is signalled the driver keeps going until every request in flight
        // is answered or DRAIN_TIME_MAX passes; connections stop sending new ones.
        let mut draining_until: Option<tokio::time::Instant> = None;
        loop {
            if let Some(until) = draining_until {
                if self.waiting.is_empty() || tokio::time::Instant::now() >= until {
                    break;
                }
            }
            let mut timer = self
                .node
                .poll_timeout()
                .map(|at| self.clock.to_tokio(at))
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            if let Some(until) = draining_until {
                timer = timer.min(until);
            }
            tokio::select! {
                biased;
                changed = self.shutdown.changed(), if draining_until.is_none() => {
                    if changed.is_err() || *self.shutdown.borrow() {
                        draining_until = Some(tokio::time::Instant::now() + DRAIN_TIME_MAX);
                    }
                }
                event = self.events.recv() => {
                    let Some(event) = event else { break };
                    self.handle_event(event);
                    for _ in 1..EVENTS_PER_TURN_MAX {
                        match self.events.try_recv() {
                            Ok(event) => self.handle_event(event),
                            Err(_) => break,
                        }
                    }
                }
                call = self.calls.recv() => {
                    let Some(call) = call else { break };
                    self.handle_call(call);
                    for _ in 1..EVENTS_PER_TURN_MAX {
                        match self.calls.try_recv() {
                            Ok(call) => self.handle_call(call),
                            Err(_) => break,
                        }
                    }
                }
                () = tokio::time::sleep_until(timer) => {
                    self.node.handle_timeout(self.clock.now());
                    let members = self.node.peer_addrs();
                    for (id, addr) in &members {
                        self.peers.ensure_peer(*id, addr);
                    }
                    if let Some(status) = &self.status {
                        let groups = self.node.status();
                        let removed = self.node.is_removed();
                        status.send_modify(|s| {
                            s.groups = groups;
                            s.members = members;
                            s.removed = removed;
                        });
                    }
                }
            }
            self.drain_outputs();
        }
        for (_, reply) in self.waiting.drain() {
            let _ = reply.send(Reply::error("ERR server is shutting down"));
        }
        self.node
    }

    fn handle_event(&mut self, event: Event) {
        let now = self.clock.now();
        match event {
            Event::Message { group, message } => self.node.handle_message(now, group, message),
            Event::Unreachable(peer) => self.node.handle_unreachable(now, peer),
            Event::Persisted {
                group,
                ready_number,
            } => {
                self.node.handle_persisted(now, group, ready_number);
            }
            Event::SnapshotBegin { group, message } => {
                self.node.handle_snapshot_begin(now, group, message);
            }
            Event::SnapshotChunk { id, data, taken } => {
                self.node.handle_snapshot_chunk(now, id, &data);
                let _ = taken.send(());
            }
            Event::SnapshotEnd(id) => self.node.handle_snapshot_end(now, id),
            Event::PeerAddress { node, addr } => self.peers.ensure_peer(node, &addr),
            Event::SnapshotSent {
                group,
                to,
                delivered,
            } => self.node.handle_snapshot_sent(now, group, to, delivered),
        }
    }

    fn handle_call(&mut self, call: Call) {
        let key = (call.client, call.id);
        self.waiting.insert(key, call.reply);
        self.node
            .handle_request(self.clock.now(), call.client, call.id, call.request);
    }

    fn drain_outputs(&mut self) {
        while let Some(output) = self.node.poll_output() {
            match output {
                Output::Send { to, group, message } => self.peers.send(to, group, message),
                Output::SendSnapshot {
                    to,
                    group,
                    message,
                    source,
                } => self.peers.send_snapshot(to, group, message, source),
                Output::Persist(batch) => self.disk.submit(batch),
                Output::Reply { client, id, reply } => {
                    if let Some(waiting) = self.waiting.remove(&(client, id)) {
                        // The connection may have closed meanwhile: nothing to do then.
                        let _ = waiting.send(reply);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skewed_clock_runs_at_its_rate_and_inverts_exactly() {
        let skew = Skew {
            monotonic_origin: Duration::from_secs(100),
            wall_offset_ms: -30_000,
            drift_ppm: 20_000,
        };
        let clock = Clock::skewed(skew);
        // 1 s of true time is 1.02 s on this clock.
        assert_eq!(
            clock.drifted(Duration::from_secs(1)),
            Duration::from_millis(1020)
        );
        // The clock reads origin + 1.02 s exactly 1 s after the epoch: never earlier.
        let local = seshat_core::Instant::from_elapsed(Duration::from_millis(101_020));
        assert_eq!(clock.to_tokio(local), clock.epoch + Duration::from_secs(1));
        let now = clock.now();
        assert!(now.instant.elapsed_since_epoch() >= skew.monotonic_origin);
        let true_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as i64;
        let off = now.unix_ms as i64 - true_ms;
        assert!((-31_000..=-29_000).contains(&off), "wall offset {off} ms");
    }

    #[test]
    fn an_exact_clock_is_the_identity() {
        let clock = Clock::start();
        let at = seshat_core::Instant::from_elapsed(Duration::from_millis(1234));
        assert_eq!(
            clock.to_tokio(at),
            clock.epoch + Duration::from_millis(1234)
        );
    }
}
