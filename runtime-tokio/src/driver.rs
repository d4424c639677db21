//! The driver: one task per node that feeds events to the sans-IO [`Node`] and carries out
//! what it asks for (quinn's `ConnectionDriver`).
//!
//! Each turn of the loop waits for one event (a peer message, a client request, a finished
//! write, the timer, shutdown), hands it to the node, then drains every output:
//! `Send` goes to the peer's bounded queue, `Persist` to the group-commit writer, `Reply` to
//! the connection waiting for it. The driver holds I/O handles only; every decision is the
//! core's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use seshat_core::{ClientId, Node, Output, Reply, RequestId};
use tokio::sync::{mpsc, oneshot, watch};

use crate::channels::{Call, Disk, Event, NodeStatus, PeerSender};
use crate::clock::Clock;
use crate::process::{Counters, Probe};

/// One node's driver: the node, the channels it is fed from, and the handles its outputs go
/// to. Build it with [`Driver::new`] and spawn [`Driver::run`] on a task of its own.
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
    /// What INFO reports of the connections and the process, read only when a request
    /// needs it ([`seshat_core::Request::reads_runtime_stats`]).
    counters: Arc<Counters>,
    probe: Probe,
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
            counters: Arc::default(),
            probe: Probe::None,
        }
    }

    /// Reports `counters` (which the connections add to) and what `probe` samples in INFO.
    /// Without it, INFO counts nothing.
    pub fn report_stats(mut self, counters: Arc<Counters>, probe: Probe) -> Self {
        self.counters = counters;
        self.probe = probe;
        self
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
                    self.peers.sync_directory(&members);
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
            Event::Forwarded { request, reply } => {
                // The core drops a forward it cannot key, or one already in flight under the
                // same key: those are answered here, so no stream waits forever.
                match request.client_on_leader() {
                    Some(client) if !self.waiting.contains_key(&(client, request.id)) => {
                        self.waiting.insert((client, request.id), reply);
                        self.node.handle_forwarded(now, request);
                    }
                    _ => {
                        let _ = reply.send(Reply::error("ERR forwarded request refused"));
                    }
                }
            }
            Event::ForwardReply { client, id, reply } => {
                self.node.handle_forward_reply(now, client, id, reply);
            }
            Event::ForwardFailed { peer, generation } => {
                self.node.handle_forward_failed(now, peer, generation);
            }
        }
    }

    fn handle_call(&mut self, call: Call) {
        let key = (call.client, call.id);
        self.waiting.insert(key, call.reply);
        if call.request.reads_runtime_stats() {
            let stats = self.counters.snapshot(self.probe.sample());
            self.node.handle_runtime_stats(self.clock.now(), stats);
        }
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
                Output::Forward { to, request } => self.peers.forward(to, request),
                Output::Reply { client, id, reply } => {
                    if let Some(waiting) = self.waiting.remove(&(client, id)) {
                        // The connection may have closed meanwhile: nothing to do then.
                        let _ = waiting.send(reply);
                    }
                }
                Output::ServeRead { client, id, read } => {
                    // KEYS may visit a million keys: on a blocking thread, so the event loop
                    // goes on ticking and heartbeating meanwhile.
                    if let Some(waiting) = self.waiting.remove(&(client, id)) {
                        #[cfg(not(madsim))]
                        tokio::task::spawn_blocking(move || {
                            let _ = waiting.send(read.serve());
                        });
                        // The simulator has no blocking threads (madsim forbids them): the
                        // read is served in place, on its fixed view, which keeps runs
                        // deterministic.
                        #[cfg(madsim)]
                        let _ = waiting.send(read.serve());
                    }
                }
            }
        }
    }
}
