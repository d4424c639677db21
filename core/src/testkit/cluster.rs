//! The harness itself: nodes, virtual time, the event loop.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::time::Duration;

use protobuf::Message as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ids::{ClientId, GroupId, NodeId, RequestId};
use crate::node::{Node, NodeConfig};
use crate::output::{Output, PersistBatch};
use crate::reply::Reply;
use crate::request::Request;
use crate::storage::{inspect, MemStore, Store};
use crate::testkit::network::{Envelope, Faults, Network};
use crate::time::{Instant, Now};
use crate::StateRole;

/// Wall-clock time at the start of every run: 2023-11-14T22:13:20Z. Fixed, so runs replay.
const UNIX_MS_AT_START: u64 = 1_700_000_000_000;

/// How to build a cluster.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Number of nodes, ids 1..=nodes.
    pub nodes: u64,
    /// Seeds the network, the fsync latencies and every node's RNG.
    pub seed: u64,
    /// The nodes' request timeout.
    pub request_timeout: Duration,
    /// Time from `Persist` to durable, drawn per batch.
    pub fsync_latency: Range<Duration>,
    /// Network faults at the start.
    pub faults: Faults,
    /// Whether each node's configuration names the others' client addresses. When false,
    /// nodes learn them only through the system group's directory.
    pub config_names_client_addrs: bool,
    /// Entries between log compactions (the spec's 10,000 unless a test wants them sooner).
    pub snapshot_interval_entries: u64,
    /// Whether a snapshot transfer may break off halfway (one in three), as a stream does
    /// when the connection drops.
    pub snapshot_interruptions: bool,
    /// What followers do with data commands (`cluster.follower_requests`).
    pub follower_requests: crate::config::FollowerRequests,
}

impl ClusterOptions {
    /// Three nodes, a clean network, a 5 s request timeout.
    pub fn new(seed: u64) -> ClusterOptions {
        ClusterOptions {
            nodes: 3,
            seed,
            request_timeout: Duration::from_secs(5),
            fsync_latency: Duration::from_micros(100)..Duration::from_millis(2),
            faults: Faults::default(),
            config_names_client_addrs: true,
            snapshot_interval_entries: 10_000,
            snapshot_interruptions: false,
            follower_requests: crate::config::FollowerRequests::Moved,
        }
    }
}

/// How long a snapshot transfer takes in the harness.
const SNAPSHOT_TRANSFER_TIME: Duration = Duration::from_millis(20);
/// Chunk size in the harness: small, so that every transfer has several.
const SNAPSHOT_CHUNK_BYTES: usize = 256;

/// Delay of one message on a forwarding stream; a stream keeps its order.
const FORWARD_DELAY: Duration = Duration::from_millis(2);
/// How long a forwarding stream whose link was cut, or whose peer crashed, takes to fail, as
/// HTTP/2 keepalive notices a dead connection.
const FORWARD_BREAK_TIME: Duration = Duration::from_millis(500);

/// Something on a forwarding stream (`cluster.follower_requests = "forward"`).
#[derive(Debug)]
enum Forwarding {
    /// A follower's forward, on its way to the leader.
    Request {
        to: NodeId,
        request: crate::ForwardedRequest,
    },
    /// The leader's answer, on its way back.
    Reply {
        from: NodeId,
        to: NodeId,
        client: ClientId,
        id: RequestId,
        generation: u64,
        reply: Reply,
    },
    /// The stream of `generation` from `follower` to `leader` broke.
    Broken {
        follower: NodeId,
        leader: NodeId,
        generation: u64,
    },
}

/// A snapshot on its way from one node to another.
struct Transfer {
    arrives_at: Instant,
    from: NodeId,
    to: NodeId,
    group: GroupId,
    message: crate::eraftpb::Message,
    source: crate::snapshot::SnapshotSource,
}

/// What a node output in answer to one message handed to it with [`Cluster::inject`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Injected {
    /// Messages and snapshots it sent.
    pub sent: usize,
    /// `Persist` batches it handed out: state it changed durably.
    pub persisted: usize,
    /// Client replies it emitted.
    pub replied: usize,
}

/// A request sent through [`Cluster::send`]; its reply arrives later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestHandle {
    /// The node it was sent to.
    pub node: NodeId,
    client: ClientId,
    id: RequestId,
}

struct Member {
    config: NodeConfig,
    store: MemStore,
    /// `None` while crashed.
    node: Option<Node>,
    /// Batches handed out but not yet durable, with the time they become durable.
    persisting: VecDeque<(Instant, PersistBatch)>,
}

/// An in-process cluster on a virtual clock. Nothing in it reads a real clock or an
/// unseeded RNG.
pub struct Cluster {
    options: ClusterOptions,
    rng: ChaCha8Rng,
    now: Instant,
    members: BTreeMap<NodeId, Member>,
    network: Network,
    replies: BTreeMap<RequestHandle, (Reply, Instant)>,
    transfers: VecDeque<Transfer>,
    /// Forwarding traffic by delivery time, then a sequence number: one stream's messages
    /// never overtake each other.
    forwarding: BTreeMap<(Instant, u64), Forwarding>,
    forwarding_sent: u64,
    /// When the last message queued on each stream (sender, receiver) arrives.
    stream_last: BTreeMap<(NodeId, NodeId), Instant>,
    /// Forwards a leader is running: (leader, its client id, request) -> (follower,
    /// generation), so the answer goes back on the stream the request came on.
    relays: BTreeMap<(NodeId, ClientId, RequestId), (NodeId, u64)>,
    clients_started: u64,
    /// Requests sent on each connection from [`Cluster::connect`].
    requests_sent: BTreeMap<ClientId, u64>,
    /// FNV-1a over every output of every node, in order.
    trace: u64,
    /// Every output in readable form, when [`Cluster::record_trace`] turned it on.
    trace_log: Option<Vec<String>>,
    events: u64,
}

impl Cluster {
    /// Builds and starts the cluster; nothing has happened yet (call [`Cluster::run_for`]).
    pub fn new(options: ClusterOptions) -> Cluster {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let ids: Vec<NodeId> = (1..=options.nodes).map(NodeId).collect();
        let now = Instant::ZERO;
        let mut members = BTreeMap::new();
        for &id in &ids {
            let peer_client_addrs = if options.config_names_client_addrs {
                ids.iter().map(|&peer| (peer, client_addr(peer))).collect()
            } else {
                BTreeMap::new()
            };
            let config = NodeConfig {
                value_bytes_max: 65_536,
                key_bytes_max: 256,
                follower_requests: options.follower_requests,
                id,
                client_addr: client_addr(id),
                internal_addr: format!("node{}:7379", id.0),
                bootstrap_members: ids.clone(),
                peer_client_addrs,
                data_groups: 1,
                tick_interval: Duration::from_millis(100),
                heartbeat_ticks: 1,
                election_ticks_min: 5,
                election_ticks_max: 10,
                request_timeout: options.request_timeout,
                requests_pending_max: 10_000,
                message_bytes_max: 1024 * 1024,
                inflight_messages_max: 256,
                snapshot_interval_entries: options.snapshot_interval_entries,
                snapshot_interval_bytes: 100_000_000,
                raft_log_memory_bytes_max: 512 * 1024 * 1024,
                settings: Default::default(),
                process: Default::default(),
                rng_seed: rng.gen(),
                #[cfg(feature = "planted-bugs")]
                planted_bug: None,
            };
            let store = MemStore::new();
            let node = Node::new(config.clone(), Box::new(store.clone()), at(now))
                .expect("a fresh node starts");
            members.insert(
                id,
                Member {
                    config,
                    store,
                    node: Some(node),
                    persisting: VecDeque::new(),
                },
            );
        }
        let network = Network::new(options.faults.clone());
        Cluster {
            options,
            rng,
            now,
            members,
            network,
            replies: BTreeMap::new(),
            transfers: VecDeque::new(),
            forwarding: BTreeMap::new(),
            forwarding_sent: 0,
            stream_last: BTreeMap::new(),
            relays: BTreeMap::new(),
            clients_started: 0,
            requests_sent: BTreeMap::new(),
            trace: FNV_OFFSET,
            trace_log: None,
            events: 0,
        }
    }

    /// The seed this run was built from.
    pub fn seed(&self) -> u64 {
        self.options.seed
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now.elapsed_since_epoch()
    }

    /// Node ids, ascending.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.members.keys().copied().collect()
    }

    /// A fingerprint of everything every node has output so far, in order.
    pub fn trace_hash(&self) -> u64 {
        self.trace
    }

    /// Starts keeping every output in readable form, to compare two runs line by line.
    pub fn record_trace(&mut self) {
        self.trace_log.get_or_insert_with(Vec::new);
    }

    /// The outputs recorded since [`Cluster::record_trace`].
    pub fn trace_log(&self) -> &[String] {
        self.trace_log.as_deref().unwrap_or(&[])
    }

    /// Inputs handed to nodes so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The node, if it is running.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.members[&id].node.as_ref()
    }

    /// Replaces the network's faults.
    pub fn set_faults(&mut self, faults: Faults) {
        self.network.faults = faults;
    }

    /// Cuts every link between the two sides, both ways.
    pub fn partition(&mut self, side_a: &[NodeId], side_b: &[NodeId]) {
        for &a in side_a {
            for &b in side_b {
                self.network.block(a, b);
                self.network.block(b, a);
            }
        }
        self.break_forwarding_streams();
    }

    /// Cuts `node` off from every other node, both ways.
    pub fn isolate(&mut self, node: NodeId) {
        let others: Vec<NodeId> = self.node_ids().into_iter().filter(|&n| n != node).collect();
        self.partition(&[node], &others);
    }

    /// Cuts one direction only: `from` can no longer reach `to`.
    pub fn cut_one_way(&mut self, from: NodeId, to: NodeId) {
        self.network.block(from, to);
        self.break_forwarding_streams();
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.network.heal();
    }

    /// Starts a new, empty node `id` that joins the running cluster: it has no configuration
    /// until a leader adds it (`Request::ChangeMembership`) and sends it a snapshot.
    ///
    /// # Panics
    /// If `id` is taken.
    pub fn add_node(&mut self, id: NodeId) {
        assert!(!self.members.contains_key(&id), "node {id} exists");
        let mut config = self
            .members
            .values()
            .next()
            .expect("a cluster has nodes")
            .config
            .clone();
        config.id = id;
        config.client_addr = client_addr(id);
        config.internal_addr = format!("node{}:7379", id.0);
        config.bootstrap_members = Vec::new();
        config.rng_seed = self.rng.gen();
        let store = MemStore::new();
        let node = Node::new(config.clone(), Box::new(store.clone()), at(self.now))
            .expect("a joining node starts");
        self.members.insert(
            id,
            Member {
                config,
                store,
                node: Some(node),
                persisting: VecDeque::new(),
            },
        );
    }

    /// Stops `node` at once. Batches it had not made durable are lost.
    pub fn crash(&mut self, node: NodeId) {
        let member = self.members.get_mut(&node).expect("known node");
        member.node = None;
        member.persisting.clear();
        self.break_forwarding_streams();
    }

    /// Starts a crashed node again from its store.
    pub fn restart(&mut self, node: NodeId) {
        let now = self.now;
        let member = self.members.get_mut(&node).expect("known node");
        assert!(member.node.is_none(), "node {node} is running");
        let restarted = Node::new(
            member.config.clone(),
            Box::new(member.store.clone()),
            at(now),
        )
        .unwrap_or_else(|e| panic!("node {node} failed to restart: {e}"));
        member.node = Some(restarted);
    }

    /// Hands `message` to `node` (which must be running) as if a peer had sent it for
    /// `group`, unchecked: the way a broken or hostile peer's bytes reach the node. What the
    /// node outputs is carried out as usual, and counted in the answer.
    pub fn inject(
        &mut self,
        node: NodeId,
        group: GroupId,
        message: crate::eraftpb::Message,
    ) -> Injected {
        let now = self.now;
        let target = self.members.get_mut(&node).expect("known node");
        let live = target.node.as_mut().expect("messages go to running nodes");
        live.handle_message(at(now), group, message);
        self.events += 1;
        self.drain(node)
    }

    /// Hands `request` to `node` (which must be running) as if a follower had forwarded it,
    /// unchecked: the way a broken or hostile peer's forward reaches a leader. The answer is
    /// kept under the returned handle, not sent to any follower.
    pub fn inject_forwarded(
        &mut self,
        node: NodeId,
        request: crate::ForwardedRequest,
    ) -> RequestHandle {
        let handle = RequestHandle {
            node,
            client: request.client_on_leader().expect("ids that fit"),
            id: request.id,
        };
        let now = self.now;
        let target = self.members.get_mut(&node).expect("known node");
        let live = target.node.as_mut().expect("forwards go to running nodes");
        live.handle_forwarded(at(now), request);
        self.events += 1;
        self.drain(node);
        handle
    }

    /// Sends a client request to `node` (which must be running).
    pub fn send(&mut self, node: NodeId, request: Request) -> RequestHandle {
        self.clients_started += 1;
        let handle = RequestHandle {
            node,
            client: ClientId(self.clients_started),
            id: RequestId(1),
        };
        let now = self.now;
        let target = self.members.get_mut(&node).expect("known node");
        let live = target.node.as_mut().expect("requests go to running nodes");
        live.handle_request(at(now), handle.client, handle.id, request);
        self.events += 1;
        self.drain(node);
        handle
    }

    /// A new connection: the client id of a series of [`Cluster::call_on`]s, which the node
    /// sees as one client (as WATCH and EXEC must be).
    pub fn connect(&mut self) -> ClientId {
        self.clients_started += 1;
        self.requests_sent.insert(ClientId(self.clients_started), 0);
        ClientId(self.clients_started)
    }

    /// Sends a request on `client`'s connection (from [`Cluster::connect`]) and runs the
    /// cluster until its reply comes, or `within` passes.
    pub fn call_on(
        &mut self,
        node: NodeId,
        client: ClientId,
        request: Request,
        within: Duration,
    ) -> Option<Reply> {
        let handle = self.send_on(node, client, request);
        self.run_until(within, |cluster| cluster.reply(handle).is_some());
        self.reply(handle).cloned()
    }

    /// Sends a request on `client`'s connection (from [`Cluster::connect`]) without waiting
    /// for its reply: several in a row pipeline them.
    pub fn send_on(&mut self, node: NodeId, client: ClientId, request: Request) -> RequestHandle {
        let sent = self
            .requests_sent
            .get_mut(&client)
            .expect("a client from connect()");
        *sent += 1;
        let handle = RequestHandle {
            node,
            client,
            id: RequestId(*sent),
        };
        let now = self.now;
        let target = self.members.get_mut(&node).expect("known node");
        let live = target.node.as_mut().expect("requests go to running nodes");
        live.handle_request(at(now), client, handle.id, request);
        self.events += 1;
        self.drain(node);
        handle
    }

    /// Sends `requests` to `node` on one connection, back to back, as a pipelining client
    /// does: one new client, request ids 1, 2, ... in order, all handed to the node before any
    /// reply is awaited.
    pub fn send_pipeline(&mut self, node: NodeId, requests: Vec<Request>) -> Vec<RequestHandle> {
        self.clients_started += 1;
        let client = ClientId(self.clients_started);
        let now = self.now;
        let mut handles = Vec::with_capacity(requests.len());
        for (i, request) in requests.into_iter().enumerate() {
            let handle = RequestHandle {
                node,
                client,
                id: RequestId(i as u64 + 1),
            };
            let target = self.members.get_mut(&node).expect("known node");
            let live = target.node.as_mut().expect("requests go to running nodes");
            live.handle_request(at(now), client, handle.id, request);
            self.events += 1;
            handles.push(handle);
        }
        self.drain(node);
        handles
    }

    /// The reply to `handle`, once it has come.
    pub fn reply(&self, handle: RequestHandle) -> Option<&Reply> {
        self.replies.get(&handle).map(|(reply, _)| reply)
    }

    /// When the reply to `handle` came.
    pub fn replied_at(&self, handle: RequestHandle) -> Option<Duration> {
        self.replies
            .get(&handle)
            .map(|(_, at)| at.elapsed_since_epoch())
    }

    /// Sends a request and runs the cluster until its reply comes, or `within` passes.
    pub fn call(&mut self, node: NodeId, request: Request, within: Duration) -> Option<Reply> {
        let handle = self.send(node, request);
        self.run_until(within, |cluster| cluster.reply(handle).is_some());
        self.reply(handle).cloned()
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.step_before(end) {}
        self.now = self.now.max(end);
    }

    /// Runs until `done` holds (checked after every event) or `within` passes. Returns whether
    /// `done` held.
    pub fn run_until(&mut self, within: Duration, mut done: impl FnMut(&Cluster) -> bool) -> bool {
        let end = self.now + within;
        loop {
            if done(self) {
                return true;
            }
            if !self.step_before(end) {
                self.now = self.now.max(end);
                return done(self);
            }
        }
    }

    /// The leader of `group` with the highest term among running nodes.
    pub fn leader(&self, group: GroupId) -> Option<NodeId> {
        self.leader_excluding(group, &[])
    }

    fn leader_excluding(&self, group: GroupId, ignoring: &[NodeId]) -> Option<NodeId> {
        self.members
            .iter()
            .filter(|(id, _)| !ignoring.contains(id))
            .filter_map(|(&id, member)| {
                let status = member
                    .node
                    .as_ref()?
                    .status()
                    .into_iter()
                    .find(|s| s.group == group)?;
                (status.role == StateRole::Leader).then_some((status.term, id))
            })
            .max()
            .map(|(_, id)| id)
    }

    /// Runs until `group` has a leader that every running node, except those in `ignoring`,
    /// follows, or `within` passes.
    pub fn wait_for_stable_leader(
        &mut self,
        group: GroupId,
        within: Duration,
        ignoring: &[NodeId],
    ) -> Option<NodeId> {
        let stable = |cluster: &Cluster| -> Option<NodeId> {
            let leader = cluster.leader_excluding(group, ignoring)?;
            let agreed = cluster.members.iter().all(|(id, member)| {
                ignoring.contains(id)
                    || member.node.as_ref().is_none_or(|node| {
                        node.status()
                            .iter()
                            .any(|s| s.group == group && s.leader == Some(leader))
                    })
            });
            agreed.then_some(leader)
        };
        self.run_until(within, |cluster| stable(cluster).is_some());
        stable(self)
    }

    /// Checks the safety invariants over every node's durable state, crashed ones included:
    /// logs agree on every index both have applied, and nodes that applied the same index of a
    /// data group hold the same keyspace ([`inspect::check_replicas`]).
    ///
    /// # Panics
    /// On the first violation, naming the nodes, group and index.
    pub fn assert_consistent(&self) {
        let stores: Vec<(NodeId, &dyn Store)> = self
            .members
            .iter()
            .map(|(&id, member)| (id, &member.store as &dyn Store))
            .collect();
        if let Err(violation) =
            inspect::check_replicas(&stores, &[GroupId::SYSTEM, GroupId::FIRST_DATA])
        {
            panic!("{violation}");
        }
    }

    /// Handles every event due before `end`, one instant at a time. Returns false when nothing
    /// is due before `end`.
    fn step_before(&mut self, end: Instant) -> bool {
        let Some(next) = self.next_event() else {
            return false;
        };
        if next > end {
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;

        while let Some(envelope) = self.network.deliver(now) {
            let Some(node) = self
                .members
                .get_mut(&envelope.to)
                .and_then(|m| m.node.as_mut())
            else {
                continue;
            };
            node.handle_message(at(now), envelope.group, envelope.message);
            self.events += 1;
            self.drain(envelope.to);
        }

        while let Some(entry) = self.forwarding.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let message = entry.remove();
            self.deliver_forwarding(message);
        }

        while self.transfers.front().is_some_and(|t| t.arrives_at <= now) {
            let transfer = self.transfers.pop_front().expect("checked above");
            self.deliver_snapshot(transfer);
        }

        for id in self.node_ids() {
            loop {
                let member = self.members.get_mut(&id).expect("known node");
                let due = member.persisting.front().is_some_and(|(t, _)| *t <= now);
                if !due || member.node.is_none() {
                    break;
                }
                let (_, batch) = member.persisting.pop_front().expect("checked above");
                member
                    .store
                    .write(batch.batch)
                    .expect("the in-memory store never fails");
                let node = member.node.as_mut().expect("checked above");
                node.handle_persisted(at(now), batch.group, batch.ready_number);
                self.events += 1;
                self.drain(id);
            }
        }

        for id in self.node_ids() {
            let member = self.members.get_mut(&id).expect("known node");
            let Some(node) = member.node.as_mut() else {
                continue;
            };
            if node.poll_timeout().is_some_and(|t| t <= now) {
                node.handle_timeout(at(now));
                self.events += 1;
                self.drain(id);
            }
        }
        true
    }

    /// Streams a snapshot whose transfer time is up, unless the link is cut or either end is
    /// down, and tells the sender how it went.
    fn deliver_snapshot(&mut self, transfer: Transfer) {
        let now = at(self.now);
        let blocked = self.network.is_blocked(transfer.from, transfer.to);
        let interrupted = self.options.snapshot_interruptions && self.rng.gen_ratio(1, 3);
        let mut delivered = false;
        if let Some(node) = self
            .members
            .get_mut(&transfer.to)
            .and_then(|m| m.node.as_mut())
            .filter(|_| !blocked)
        {
            let id = crate::snapshot::SnapshotId::of(transfer.group, &transfer.message);
            node.handle_snapshot_begin(now, transfer.group, transfer.message);
            let chunks: Vec<_> = transfer
                .source
                .chunks(SNAPSHOT_CHUNK_BYTES)
                .map(|chunk| chunk.expect("the in-memory store never fails"))
                .collect();
            let sent = if interrupted {
                chunks.len() / 2
            } else {
                chunks.len()
            };
            for chunk in &chunks[..sent] {
                node.handle_snapshot_chunk(now, id, &chunk.data);
            }
            if !interrupted {
                node.handle_snapshot_end(now, id);
                delivered = true;
            }
            self.events += 1;
            self.drain(transfer.to);
        }
        if let Some(node) = self
            .members
            .get_mut(&transfer.from)
            .and_then(|m| m.node.as_mut())
        {
            node.handle_snapshot_sent(now, transfer.group, transfer.to, delivered);
            self.events += 1;
            self.drain(transfer.from);
        }
    }

    /// Queues forwarding traffic `after` from now; requests and answers between two nodes
    /// stay behind what was queued before them (one ordered stream per pair of nodes).
    fn queue_forwarding(&mut self, after: Duration, message: Forwarding) {
        let mut at = self.now + after;
        let stream = match &message {
            Forwarding::Request { to, request } => Some((request.from, *to)),
            Forwarding::Reply { from, to, .. } => Some((*from, *to)),
            Forwarding::Broken { .. } => None,
        };
        if let Some(stream) = stream {
            let last = self.stream_last.entry(stream).or_insert(at);
            at = at.max(*last);
            *last = at;
        }
        self.forwarding_sent += 1;
        self.forwarding.insert((at, self.forwarding_sent), message);
    }

    /// Fails, after [`FORWARD_BREAK_TIME`], every forward a leader is running whose stream
    /// crosses a cut link or ends at a crashed node.
    fn break_forwarding_streams(&mut self) {
        let mut broken = std::collections::BTreeSet::new();
        for (&(leader, _, _), &(follower, generation)) in &self.relays {
            let down = |id: &NodeId| self.members[id].node.is_none();
            if self.network.is_blocked(follower, leader)
                || self.network.is_blocked(leader, follower)
                || down(&leader)
                || down(&follower)
            {
                broken.insert((follower, leader, generation));
            }
        }
        self.relays
            .retain(|&(leader, _, _), (follower, generation)| {
                !broken.contains(&(*follower, leader, *generation))
            });
        for (follower, leader, generation) in broken {
            self.queue_forwarding(
                FORWARD_BREAK_TIME,
                Forwarding::Broken {
                    follower,
                    leader,
                    generation,
                },
            );
        }
    }

    /// Hands forwarding traffic to its node, or breaks the stream it was on: a cut link or a
    /// crashed end loses the message and, for the follower, the stream.
    fn deliver_forwarding(&mut self, message: Forwarding) {
        let now = at(self.now);
        let (follower, leader, generation) = match &message {
            Forwarding::Request { to, request } => (request.from, *to, request.link.generation),
            Forwarding::Reply {
                from,
                to,
                generation,
                ..
            } => (*to, *from, *generation),
            Forwarding::Broken {
                follower,
                leader,
                generation,
            } => (*follower, *leader, *generation),
        };
        let (sender, receiver) = match &message {
            Forwarding::Reply { .. } => (leader, follower),
            _ => (follower, leader),
        };
        let lost = self.network.is_blocked(sender, receiver)
            || self.members[&receiver].node.is_none()
            || matches!(message, Forwarding::Broken { .. });
        if lost {
            if let Some(node) = self
                .members
                .get_mut(&follower)
                .and_then(|m| m.node.as_mut())
            {
                node.handle_forward_failed(now, leader, generation);
                self.events += 1;
                self.drain(follower);
            }
            return;
        }
        match message {
            Forwarding::Request { to, request } => {
                let client = request.client_on_leader().expect("harness ids fit");
                self.relays
                    .insert((to, client, request.id), (request.from, generation));
                let node = self.members.get_mut(&to).and_then(|m| m.node.as_mut());
                node.expect("checked above").handle_forwarded(now, request);
                self.events += 1;
                self.drain(to);
            }
            Forwarding::Reply {
                to,
                client,
                id,
                reply,
                ..
            } => {
                let node = self.members.get_mut(&to).and_then(|m| m.node.as_mut());
                node.expect("checked above")
                    .handle_forward_reply(now, client, id, reply);
                self.events += 1;
                self.drain(to);
            }
            Forwarding::Broken { .. } => unreachable!("lost above"),
        }
    }

    fn next_event(&self) -> Option<Instant> {
        let mut next = self.network.next_delivery();
        if let Some(((at, _), _)) = self.forwarding.first_key_value() {
            next = Some(next.map_or(*at, |n| n.min(*at)));
        }
        if let Some(transfer) = self.transfers.front() {
            next = Some(next.map_or(transfer.arrives_at, |n| n.min(transfer.arrives_at)));
        }
        for member in self.members.values() {
            let Some(node) = &member.node else { continue };
            for candidate in [
                member.persisting.front().map(|(t, _)| *t),
                node.poll_timeout(),
            ] {
                next = match (next, candidate) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        next
    }

    /// Carries out everything `id` output, and counts it.
    fn drain(&mut self, id: NodeId) -> Injected {
        let now = self.now;
        let mut counts = Injected::default();
        loop {
            let member = self.members.get_mut(&id).expect("known node");
            let Some(output) = member.node.as_mut().and_then(Node::poll_output) else {
                break;
            };
            // An offline read is served at once here: its view fixed the answer already.
            let output = match output {
                Output::ServeRead { client, id, read } => Output::Reply {
                    client,
                    id,
                    reply: read.serve(),
                },
                output => output,
            };
            match &output {
                Output::Send { .. } | Output::SendSnapshot { .. } | Output::Forward { .. } => {
                    counts.sent += 1
                }
                Output::Persist(_) => counts.persisted += 1,
                Output::Reply { .. } => counts.replied += 1,
                Output::ServeRead { .. } => unreachable!("served above"),
            }
            if let Some(log) = &mut self.trace_log {
                log.push(format!(
                    "{:?} node={id} {output:?}",
                    now.elapsed_since_epoch()
                ));
            }
            self.trace = fnv(self.trace, &id.0.to_be_bytes());
            self.trace = fnv(
                self.trace,
                &now.elapsed_since_epoch().as_nanos().to_be_bytes(),
            );
            match output {
                Output::Send { to, group, message } => {
                    let bytes = message.write_to_bytes().expect("messages serialise");
                    self.trace = fnv(self.trace, &bytes);
                    let envelope = Envelope {
                        from: id,
                        to,
                        group,
                        message,
                    };
                    self.network.send(now, envelope, &mut self.rng);
                }
                Output::SendSnapshot {
                    to,
                    group,
                    message,
                    source,
                } => {
                    let bytes = message.write_to_bytes().expect("messages serialise");
                    self.trace = fnv(self.trace, &bytes);
                    self.transfers.push_back(Transfer {
                        arrives_at: now + SNAPSHOT_TRANSFER_TIME,
                        from: id,
                        to,
                        group,
                        message,
                        source,
                    });
                }
                Output::Persist(batch) => {
                    self.trace = fnv(self.trace, format!("{batch:?}").as_bytes());
                    let latency = self.rng.gen_range(self.options.fsync_latency.clone());
                    let member = self.members.get_mut(&id).expect("known node");
                    // One disk per node: batches become durable in the order they were written.
                    let after = member.persisting.back().map_or(now, |(t, _)| *t);
                    member
                        .persisting
                        .push_back(((now + latency).max(after), batch));
                }
                Output::Forward { to, request } => {
                    self.trace = fnv(self.trace, format!("{to:?}{request:?}").as_bytes());
                    self.queue_forwarding(FORWARD_DELAY, Forwarding::Request { to, request });
                }
                Output::Reply {
                    client,
                    id: request,
                    reply,
                } if client.forwarded_from().is_some() => {
                    self.trace = fnv(
                        self.trace,
                        format!("{client:?}{request:?}{reply:?}").as_bytes(),
                    );
                    let (follower_client, generation, follower) =
                        match self.relays.remove(&(id, client, request)) {
                            Some((follower, generation)) => {
                                let origin = client.forwarded_from().expect("checked above");
                                (origin.1, generation, follower)
                            }
                            // The stream broke already, and the answer is lost with it, or the
                            // request was injected: it is kept for the test.
                            None => {
                                let handle = RequestHandle {
                                    node: id,
                                    client,
                                    id: request,
                                };
                                self.replies.insert(handle, (reply, now));
                                continue;
                            }
                        };
                    self.queue_forwarding(
                        FORWARD_DELAY,
                        Forwarding::Reply {
                            from: id,
                            to: follower,
                            client: follower_client,
                            id: request,
                            generation,
                            reply,
                        },
                    );
                }
                Output::Reply {
                    client,
                    id: request,
                    reply,
                } => {
                    self.trace = fnv(
                        self.trace,
                        format!("{client:?}{request:?}{reply:?}").as_bytes(),
                    );
                    let handle = RequestHandle {
                        node: id,
                        client,
                        id: request,
                    };
                    let previous = self.replies.insert(handle, (reply, now));
                    assert!(previous.is_none(), "request {handle:?} answered twice");
                }
                Output::ServeRead { .. } => unreachable!("served above"),
            }
        }
        counts
    }
}

/// The client address node `id` advertises in the harness.
pub(crate) fn client_addr(id: NodeId) -> String {
    format!("node{}:6379", id.0)
}

fn at(instant: Instant) -> Now {
    Now {
        instant,
        unix_ms: UNIX_MS_AT_START + instant.elapsed_since_epoch().as_millis() as u64,
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}
