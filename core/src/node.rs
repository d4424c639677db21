//! [`Node`]: one Seshat node's deterministic state, driven by a runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use raft::eraftpb::Message;

use crate::cluster_error::{ClusterError, NoQuorum, TryAgain};
use crate::cmd::{key_hash_slot, Call, Run};
use crate::consensus::{
    Admission, Admitted, Group, GroupConfig, LogView, Machine, Outbox, RequestKey,
};
use crate::ids::{ClientId, GroupId, NodeId, RequestId};
use crate::kv::{Keyspace, Member, Proposal, ReadKind};
use crate::membership::MembershipChange;
use crate::output::Output;
use crate::reply::Reply;
use crate::request::Request;
use crate::snapshot::SnapshotId;
use crate::stats::RuntimeStats;
use crate::storage::{ColumnFamily, DataRange, StateKey, Store, WriteBatch};
use crate::system::Directory;
use crate::time::{Instant, Now};

mod config;
mod forward;
mod view;

pub use config::NodeConfig;
pub use forward::{ForwardedRequest, Link};

/// The version clients see in `HELLO` and `INFO` (`redis_version`): the Redis release whose
/// commands and replies Seshat follows.
pub const REDIS_VERSION: &str = "7.2.0";

/// The answer of a node that does not lead the group an operator's request is for: the leader
/// it knows (0 if none), so the caller can go there.
fn not_leader(leader: Option<NodeId>) -> Reply {
    ClusterError::NotLeader(leader).into()
}

/// Where `group`'s state-machine data lives, as the store records it.
fn load_data_range(group: GroupId, store: &dyn Store) -> crate::Result<DataRange> {
    let key = StateKey::DataGeneration.encode(group);
    let generation = match store.get(ColumnFamily::raft_state(group), &key)? {
        Some(bytes) => u32::from_be_bytes(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| crate::Error::Corrupt(format!("group {group} data generation")))?,
        ),
        None => 0,
    };
    Ok(DataRange {
        generation,
        ..DataRange::first(group)
    })
}

impl From<Admitted> for Stage {
    fn from(admitted: Admitted) -> Stage {
        match admitted {
            // A held request waits for an earlier read's confirmation.
            Admitted::Reading | Admitted::Held => Stage::Reading,
            Admitted::Proposed => Stage::Proposed,
        }
    }
}

/// Where an outstanding request is, for its timeout message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for a leader to be known.
    Parked,
    /// Proposed; waiting for the entry to commit and apply.
    Proposed,
    /// Waiting for a ReadIndex confirmation.
    Reading,
    /// Forwarded to the leader (`cluster.follower_requests = "forward"`), not answered yet.
    Forwarded,
}

#[derive(Clone, Copy, Debug)]
struct Outstanding {
    deadline: Instant,
    stage: Stage,
}

/// One Seshat node: its Raft groups (group 0 = system, 1..N = data), their state machines and
/// the client requests in flight. Deterministic and free of I/O.
///
/// # Driving a node
/// The runtime calls one `handle_*` method per event, then drains [`Node::poll_output`] until
/// it returns `None`, then reads [`Node::poll_timeout`] and calls [`Node::handle_timeout`] when
/// that instant arrives (quinn-proto's `Connection` contract):
///
/// ```text
/// loop {
///     event = wait for (peer message | client request | persisted batch | timer);
///     node.handle_<event>(now, ...);
///     while let Some(output) = node.poll_output() { carry it out }
///     timer = node.poll_timeout();
/// }
/// ```
///
/// The one rule a runtime must keep: report a `Persist` with [`Node::handle_persisted`] only
/// once its batch is durable, and in order per group. Given the same config, store contents
/// and sequence of inputs, a node produces the same outputs, byte for byte.
pub struct Node {
    config: NodeConfig,
    store: Box<dyn Store>,
    groups: BTreeMap<GroupId, Group>,
    outbox: Outbox,
    /// Requests not yet answered. A request leaves this map exactly once, when its reply is
    /// emitted; a late completion for a request already answered (timed out) is ignored.
    outstanding: BTreeMap<RequestKey, Outstanding>,
    /// `outstanding` ordered by deadline.
    deadlines: BTreeSet<(Instant, RequestKey)>,
    /// Requests waiting for a leader to be known, retried on every role change and tick.
    parked: Vec<(RequestKey, Request)>,
    now_last: Now,
    next_tick_at: Instant,
    started_at: Instant,
    /// When this node last proposed its directory entry to the system group.
    registered_at: Option<Instant>,
    messages_dropped: u64,
    /// Drawn at start: the part of a WATCH token that tells this run of this node from any
    /// other (see [`crate::cmd::transaction`]).
    watch_nonce: u64,
    /// Forward mode: each connection's data commands on their way (see `node/forward.rs`).
    lanes: forward::Lanes,
    /// Requests followers forwarded here.
    relayed: forward::Relayed,
    /// Drawn at start: tells this run's forwarding links from an earlier run's.
    link_nonce: u64,
    /// Wall-clock time of the first input, Unix milliseconds (INFO's `rdb_last_save_time`).
    started_unix_ms: u64,
    /// INFO's `run_id`: 40 hex digits drawn from the seeded RNG, so a new one per process
    /// (the tokio runtime draws a fresh seed at every start) and the same one per seed.
    run_id: String,
    /// The runtime's facts as last handed in by [`Node::handle_runtime_stats`].
    runtime_stats: RuntimeStats,
    /// The counters when `CONFIG RESETSTAT` last ran; INFO reports what came after.
    stats_baseline: RuntimeStats,
    /// The keyspace's `expired_keys` when `CONFIG RESETSTAT` last ran.
    expired_keys_baseline: u64,
}

impl Node {
    /// Interval between attempts to register this node's addresses in the system group.
    const REGISTER_RETRY: Duration = Duration::from_secs(1);

    /// Starts a node over `store`: from its contents after a restart, or, when the store is
    /// empty, bootstrapping a new cluster from `config.bootstrap_members`, or (no bootstrap
    /// members) as a node that joins a running cluster: its groups have no configuration
    /// until a leader adds it and sends it a snapshot.
    pub fn new(config: NodeConfig, mut store: Box<dyn Store>, now: Now) -> crate::Result<Node> {
        let mut groups = BTreeMap::new();
        let group_ids =
            std::iter::once(GroupId::SYSTEM).chain((1..=config.data_groups).map(GroupId));
        let mut seeds =
            <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(config.rng_seed);
        for group in group_ids {
            let log = match LogView::load(group, &*store)? {
                Some(log) => log,
                None => {
                    let voters = config.bootstrap_members.iter().map(|id| id.0).collect();
                    let log = LogView::bootstrap(group, voters);
                    let mut batch = WriteBatch::new();
                    log.initial_writes(&mut batch);
                    store.write(batch)?;
                    log
                }
            };
            let applied_index = match store.get(
                ColumnFamily::raft_state(group),
                &StateKey::AppliedIndex.encode(group),
            )? {
                Some(bytes) => {
                    u64::from_be_bytes(bytes.as_slice().try_into().map_err(|_| {
                        crate::Error::Corrupt(format!("group {group} applied index"))
                    })?)
                }
                None => 0,
            };
            let data = load_data_range(group, &*store)?;
            // A transfer a crash interrupted left pairs in the staging generation.
            let mut batch = WriteBatch::new();
            let staging = data.next();
            batch.delete_range(staging.cf(), staging.prefix().to_vec(), staging.end());
            store.write(batch)?;
            let machine = if group.is_system() {
                Machine::System(Directory::load(data, &*store)?)
            } else {
                #[cfg_attr(not(feature = "planted-bugs"), allow(unused_mut))]
                let mut keyspace = Keyspace::load(data, &*store, config.value_bytes_max)?;
                #[cfg(feature = "planted-bugs")]
                keyspace.plant(config.planted_bug);
                Machine::Data(keyspace)
            };
            let group_config = GroupConfig {
                node: config.id,
                group,
                heartbeat_ticks: config.heartbeat_ticks,
                election_ticks_min: config.election_ticks_min,
                election_ticks_max: config.election_ticks_max,
                rng_seed: rand::RngCore::next_u64(&mut seeds),
                message_bytes_max: config.message_bytes_max,
                inflight_messages_max: config.inflight_messages_max,
                snapshot_interval_entries: config.snapshot_interval_entries,
                snapshot_interval_bytes: config.snapshot_interval_bytes,
                uncommitted_bytes_max: config.raft_log_memory_bytes_max,
                #[cfg(feature = "planted-bugs")]
                planted_bug: config.planted_bug,
            };
            groups.insert(
                group,
                Group::new(&group_config, log, machine, data, applied_index)?,
            );
        }
        let run_id = (0..5)
            .map(|_| format!("{:08x}", rand::RngCore::next_u32(&mut seeds)))
            .collect();
        Ok(Node {
            next_tick_at: now.instant + config.tick_interval,
            config,
            store,
            groups,
            outbox: Outbox::default(),
            outstanding: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            parked: Vec::new(),
            now_last: now,
            started_at: now.instant,
            registered_at: None,
            messages_dropped: 0,
            watch_nonce: rand::RngCore::next_u64(&mut seeds),
            lanes: forward::Lanes::default(),
            relayed: forward::Relayed::default(),
            link_nonce: rand::RngCore::next_u64(&mut seeds),
            started_unix_ms: now.unix_ms,
            run_id,
            runtime_stats: RuntimeStats::default(),
            stats_baseline: RuntimeStats::default(),
            expired_keys_baseline: 0,
        })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// Feeds a Raft message a peer sent for `group`. The message is checked first (see
    /// `consensus::admission`): one for an unknown group or another node, from a non-member,
    /// of a local-only type, a proposal other than a follower's own registration, or with
    /// fields raft-rs would trip over, is dropped and counted ([`Node::messages_dropped`]) and
    /// changes nothing. So is a `MsgSnapshot`: snapshots arrive through
    /// [`Node::handle_snapshot_begin`], with their data. A node outside the group's
    /// configuration may get an answer instead: a removal notice from the leader, or, for its
    /// leader traffic, a request to catch up from a snapshot.
    pub fn handle_message(&mut self, now: Now, group: GroupId, message: Message) {
        self.advance_clock(now);
        let Some(target) = self.groups.get_mut(&group) else {
            self.messages_dropped += 1;
            return;
        };
        match target.admit(&message) {
            Admission::Step => {
                if target.step(message).is_err() {
                    self.messages_dropped += 1;
                }
            }
            Admission::RemovalNotice => {
                target.on_removal_notice(&message);
                return;
            }
            Admission::Answer(answer) => {
                self.outbox.outputs.push_back(Output::Send {
                    to: NodeId(answer.to),
                    group,
                    message: answer,
                });
                return;
            }
            Admission::Drop(why) => {
                self.messages_dropped += 1;
                tracing::debug!(
                    node = self.config.id.0,
                    group = group.0,
                    from = message.from,
                    kind = ?message.get_msg_type(),
                    %why,
                    "peer message dropped"
                );
                return;
            }
        }
        self.drive_group(group);
        self.after_input();
    }

    /// A leader started streaming the snapshot `message` (a `MsgSnapshot`) of `group`; its
    /// chunks follow through [`Node::handle_snapshot_chunk`], each with the id
    /// [`SnapshotId::of`] gives for this message, then [`Node::handle_snapshot_end`]. A newer
    /// transfer replaces one in progress. A message that is no `MsgSnapshot`, or is addressed
    /// to another node, is dropped and counted.
    pub fn handle_snapshot_begin(&mut self, now: Now, group: GroupId, message: Message) {
        self.advance_clock(now);
        let Some(target) = self.groups.get_mut(&group) else {
            self.messages_dropped += 1;
            return;
        };
        if message.get_msg_type() != raft::eraftpb::MessageType::MsgSnapshot
            || message.to != self.config.id.0
            || !target.snapshot_begin(message, &mut *self.store)
        {
            self.messages_dropped += 1;
        }
    }

    /// One chunk (`SnapshotChunk::data`) of the transfer `id`; stored as it arrives, never
    /// held. Chunks of a transfer that is not in progress are ignored.
    pub fn handle_snapshot_chunk(&mut self, now: Now, id: SnapshotId, data: &[u8]) {
        self.advance_clock(now);
        if let Some(target) = self.groups.get_mut(&id.group) {
            target.snapshot_chunk(id, data, &mut *self.store);
        }
    }

    /// The transfer `id` sent its last chunk. If it arrived whole, raft-rs gets the snapshot
    /// and the group installs it (its `Persist` follows); otherwise it is dropped, and the
    /// leader sends again.
    pub fn handle_snapshot_end(&mut self, now: Now, id: SnapshotId) {
        self.advance_clock(now);
        let Some(target) = self.groups.get_mut(&id.group) else {
            return;
        };
        target.snapshot_end(id, &mut *self.store);
        self.drive_group(id.group);
        self.after_input();
    }

    /// Reports how the transfer of an [`Output::SendSnapshot`] to `to` ended: `delivered` once
    /// the follower received every chunk, false if the stream failed (raft-rs then sends
    /// again).
    pub fn handle_snapshot_sent(&mut self, now: Now, group: GroupId, to: NodeId, delivered: bool) {
        self.advance_clock(now);
        if let Some(target) = self.groups.get_mut(&group) {
            target.snapshot_sent(to, delivered);
        }
        self.drive_all();
        self.after_input();
    }

    /// Takes in the runtime's facts about the process and its connections, for the next INFO
    /// or `CONFIG RESETSTAT` (a runtime calls it just before handing in a request for which
    /// [`Request::reads_runtime_stats`] is true). Changes nothing else.
    pub fn handle_runtime_stats(&mut self, now: Now, stats: RuntimeStats) {
        self.advance_clock(now);
        self.runtime_stats = stats;
    }

    /// Answers a client request; the [`Output::Reply`] comes now or later, always exactly once.
    pub fn handle_request(
        &mut self,
        now: Now,
        client: ClientId,
        id: RequestId,
        mut request: Request,
    ) {
        self.advance_clock(now);
        crate::cmd::transaction::stamp(&mut request, self.watch_nonce, client);
        let key = (client, id);
        assert!(
            !self.outstanding.contains_key(&key),
            "request {id:?} of client {client:?} is already in flight"
        );
        if let Request::Command {
            call,
            connected_clients,
        } = &request
        {
            if let Run::Local { answer, .. } = call.run() {
                let reply = answer(self, call.args(), *connected_clients);
                self.reply_now(key, reply);
                return;
            }
        }
        let is_admin = matches!(
            request,
            Request::ChangeMembership { .. } | Request::TransferLeader { .. }
        );
        if self.is_removed() && !is_admin {
            self.reply_now(key, ClusterError::Removed(self.config.id).into());
            return;
        }
        if self.outstanding.len() + self.lanes.remote_in_flight()
            >= self.config.requests_pending_max
        {
            self.reply_now(key, ClusterError::TryAgain(TryAgain::Overloaded).into());
            return;
        }
        self.track(key);
        self.dispatch(key, request);
        self.drive_all();
        self.after_input();
    }

    /// Reports that the `Persist` of `group` numbered `ready_number`, and every earlier one,
    /// is durable.
    ///
    /// # Panics
    /// If the number was never handed out or is reported out of order.
    pub fn handle_persisted(&mut self, now: Now, group: GroupId, ready_number: u64) {
        self.advance_clock(now);
        let target = self
            .groups
            .get_mut(&group)
            .unwrap_or_else(|| panic!("persisted a batch of unknown group {group}"));
        target.on_persisted(
            now.instant,
            ready_number,
            &mut *self.store,
            &mut self.outbox,
        );
        self.after_input();
    }

    /// Reports that messages to `peer` cannot be delivered at the moment.
    pub fn handle_unreachable(&mut self, now: Now, peer: NodeId) {
        self.advance_clock(now);
        for group in self.groups.values_mut() {
            group.report_unreachable(peer);
        }
        self.drive_all();
        self.after_input();
    }

    /// Advances timers: Raft ticks, request deadlines, retries. Call when
    /// [`Node::poll_timeout`]'s instant has come (calling earlier is harmless).
    pub fn handle_timeout(&mut self, now: Now) {
        self.advance_clock(now);
        let mut ticks = 0;
        while self.next_tick_at <= now.instant && ticks < NodeConfig::TICKS_PER_CALL_MAX {
            for group in self.groups.values_mut() {
                group.tick();
            }
            self.next_tick_at = self.next_tick_at + self.config.tick_interval;
            ticks += 1;
        }
        if self.next_tick_at <= now.instant {
            // The runtime stalled: skip the missed ticks rather than replay them.
            self.next_tick_at = now.instant + self.config.tick_interval;
        }
        let round_timeout = self.config.tick_interval * self.config.election_ticks_max as u32;
        self.expire_requests(now.instant);
        let outstanding = &self.outstanding;
        let answered = |key| !outstanding.contains_key(&key);
        for group in self.groups.values_mut() {
            group.retry_stale_read_round(now.instant, round_timeout);
            group.drop_answered_reads(&answered, &mut self.outbox);
            group.run_expiry_cycle(now, &*self.store);
        }
        self.register_self(now.instant);
        self.drive_all();
        self.retry_parked();
        self.pump_all();
        self.drive_all();
        self.after_input();
    }

    /// The next thing for the runtime to do, if any. Drain until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outbox.outputs.pop_front()
    }

    /// When [`Node::handle_timeout`] should be called next. The value may change after any
    /// `handle_*` call, so read it after draining the outputs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let deadline = self.deadlines.first().map(|(deadline, _)| *deadline);
        Some(deadline.map_or(self.next_tick_at, |d| d.min(self.next_tick_at)))
    }

    // --- routing -------------------------------------------------------------------------

    /// Phase 1 has one data shard, which owns every slot. The shard map moves into the system
    /// group when there are more.
    fn group_for_key(&self, _key: &[u8]) -> GroupId {
        GroupId::FIRST_DATA
    }

    fn dispatch(&mut self, key: RequestKey, request: Request) {
        if !self.outstanding.contains_key(&key) {
            return; // Answered already (it timed out while parked).
        }
        let request = match request {
            Request::ChangeMembership { group, change } => {
                self.change_membership(key, group, &change);
                return;
            }
            Request::TransferLeader { group, to } => {
                let reply = match self.groups.get_mut(&group) {
                    None => Reply::error(format!("ERR no group {group}")),
                    Some(target) if target.is_leader() => target
                        .transfer_leader(to)
                        .map_or_else(|reply| reply, |()| Reply::ok()),
                    Some(target) => not_leader(target.leader()),
                };
                self.complete(key, reply);
                return;
            }
            request => request,
        };
        let Request::Command { call, .. } = request else {
            unreachable!("membership requests returned above");
        };
        if self.uses_lane(key) && matches!(call.run(), Run::Read { .. } | Run::Write { .. }) {
            self.enqueue_on_lane(key, call);
            return;
        }
        self.route(key, call);
    }

    /// Serves a command here, or answers where it must go: `MOVED`, parked until a leader is
    /// known, or, for a request a follower forwarded, `NOTLEADER` (the follower routes it
    /// anew; a forwarded request is never parked or forwarded again).
    fn route(&mut self, key: RequestKey, call: Call) {
        // A parked request of this connection (a write raft-rs dropped while leadership moves
        // on, or any command while no leader is known) keeps its later commands behind it:
        // served first, they would take effect before it (simulator, forward mode,
        // membership-churn seed 20). They are dispatched again together, in order. One that
        // timed out while parked never runs, so it holds nothing up.
        let behind_parked = self
            .parked
            .iter()
            .any(|(parked, _)| parked.0 == key.0 && self.outstanding.contains_key(parked));
        if behind_parked {
            self.set_stage(key, Stage::Parked);
            self.parked.push((key, Request::from(call)));
            return;
        }
        let group_id = match call.first_key() {
            Some(first) => self.group_for_key(first),
            None => GroupId::FIRST_DATA,
        };
        let group = &self.groups[&group_id];
        let (is_leader, leader) = (group.is_leader(), group.leader());
        let is_forwarded = key.0.forwarded_from().is_some();
        // Keyless reads (DBSIZE) may be served by any node through a ReadIndex, which raft-rs
        // forwards from a follower to the leader; keyed commands go to the leader. A forwarded
        // read is served only by the leader of its term: its connection's later requests may be
        // running at the next leader already.
        let served_here = is_leader || (!call.spec().has_keys() && !is_forwarded);
        match call.run() {
            Run::Read { .. } if served_here => self.read(group_id, key, ReadKind::new(call)),
            Run::Write { .. } if is_leader => self.propose(group_id, key, call),
            Run::Read { .. } | Run::Write { .. } if is_forwarded => {
                self.complete(key, ClusterError::NotLeader(leader).into());
            }
            Run::Read { .. } | Run::Write { .. } => {
                match leader.and_then(|leader| self.client_addr_of(leader)) {
                    Some(addr) => {
                        let slot = call.first_key().map_or(0, |k| key_hash_slot(k));
                        self.complete(key, ClusterError::Moved { slot, addr }.into());
                    }
                    None => {
                        self.set_stage(key, Stage::Parked);
                        self.parked.push((key, Request::from(call)));
                    }
                }
            }
            Run::Session(_) | Run::Container => {
                let reply = Reply::error(format!(
                    "ERR '{}' is answered by the connection, not the node",
                    call.spec().name
                ));
                self.complete(key, reply);
            }
            Run::Local { .. } => unreachable!("answered in handle_request"),
        }
    }

    fn change_membership(&mut self, key: RequestKey, group: GroupId, change: &MembershipChange) {
        let Some(target) = self.groups.get_mut(&group) else {
            self.complete(key, Reply::error(format!("ERR no group {group}")));
            return;
        };
        if !target.is_leader() {
            let reply = not_leader(target.leader());
            self.complete(key, reply);
            return;
        }
        match target.propose_membership(key, change, &mut self.outbox) {
            Ok(()) => self.set_stage(key, Stage::Proposed),
            Err(reply) => self.complete(key, reply),
        }
    }

    fn read(&mut self, group_id: GroupId, key: RequestKey, kind: ReadKind) {
        let group = self.groups.get_mut(&group_id).expect("group exists");
        let admitted = group.submit_read(key, kind, self.now_last.unix_ms, &*self.store);
        self.set_stage(key, Stage::from(admitted));
    }

    fn propose(&mut self, group_id: GroupId, key: RequestKey, call: Call) {
        let group = self.groups.get_mut(&group_id).expect("group exists");
        match group.submit_write(key, call.clone(), self.now_last.unix_ms, &mut self.outbox) {
            Ok(admitted) => self.set_stage(key, Stage::from(admitted)),
            Err(_) if key.0.forwarded_from().is_some() => {
                // The follower's request certainly did not run; its client may send it again.
                self.complete(
                    key,
                    ClusterError::TryAgain(TryAgain::LeadershipMoving).into(),
                );
            }
            Err(_) => {
                // A leadership transfer is in progress: wait for the next leader.
                self.set_stage(key, Stage::Parked);
                self.parked.push((key, Request::from(call)));
            }
        }
    }

    fn retry_parked(&mut self) {
        for (key, request) in std::mem::take(&mut self.parked) {
            self.dispatch(key, request);
        }
    }

    /// Proposes this node's directory entry to the system group until the entry is there.
    fn register_self(&mut self, now: Instant) {
        let me = Member {
            id: self.config.id,
            client_addr: self.config.client_addr.clone(),
            internal_addr: self.config.internal_addr.clone(),
        };
        let system = self
            .groups
            .get_mut(&GroupId::SYSTEM)
            .expect("group 0 exists");
        let Machine::System(directory) = system.machine() else {
            unreachable!("group 0 runs the directory");
        };
        if directory.member(me.id) == Some(&me) || system.leader().is_none() {
            return;
        }
        if self
            .registered_at
            .is_some_and(|at| now.saturating_duration_since(at) < Self::REGISTER_RETRY)
        {
            return;
        }
        self.registered_at = Some(now);
        // A lost proposal is proposed again after REGISTER_RETRY.
        let _ = system.propose_untracked(&Proposal::RegisterNode(me));
    }

    // --- bookkeeping ---------------------------------------------------------------------

    fn advance_clock(&mut self, now: Now) {
        assert!(
            now.instant >= self.now_last.instant,
            "time went backwards: {:?} after {:?}",
            now.instant,
            self.now_last.instant
        );
        self.now_last = now;
    }

    /// Makes `key` outstanding, with its deadline a request timeout from now.
    fn track(&mut self, key: RequestKey) {
        let deadline = self.now_last.instant + self.config.request_timeout;
        self.outstanding.insert(
            key,
            Outstanding {
                deadline,
                stage: Stage::Parked,
            },
        );
        self.deadlines.insert((deadline, key));
    }

    fn set_stage(&mut self, key: RequestKey, stage: Stage) {
        if let Some(outstanding) = self.outstanding.get_mut(&key) {
            outstanding.stage = stage;
        }
    }

    fn drive_group(&mut self, group: GroupId) {
        let now = self.now_last.instant;
        let target = self.groups.get_mut(&group).expect("group exists");
        target.drive(now, &mut *self.store, &mut self.outbox);
    }

    fn drive_all(&mut self) {
        let now = self.now_last.instant;
        for group in self.groups.values_mut() {
            group.drive(now, &mut *self.store, &mut self.outbox);
        }
    }

    /// Turns what the groups finished into replies and routes requests that must move.
    fn after_input(&mut self) {
        loop {
            for (key, reply) in std::mem::take(&mut self.outbox.completions) {
                self.complete(key, reply);
            }
            for (key, read) in std::mem::take(&mut self.outbox.offline_reads) {
                if let Some(outstanding) = self.outstanding.remove(&key) {
                    self.deadlines.remove(&(outstanding.deadline, key));
                    self.lanes.finished(key);
                    self.relayed.finished(key);
                    let (client, id) = key;
                    self.outbox
                        .outputs
                        .push_back(Output::ServeRead { client, id, read });
                }
            }
            let redispatch = std::mem::take(&mut self.outbox.redispatch);
            let role_changed = std::mem::take(&mut self.outbox.role_changed);
            let unblocked = self.lanes.take_unblocked();
            if redispatch.is_empty() && !role_changed && !unblocked {
                break;
            }
            for (key, call) in redispatch {
                self.dispatch(key, Request::from(call));
            }
            if role_changed {
                self.retry_parked();
            }
            if role_changed || unblocked {
                self.pump_all();
            }
            self.drive_all();
        }
    }

    fn expire_requests(&mut self, now: Instant) {
        while let Some(&(deadline, key)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            let stage = self.outstanding.get(&key).map(|o| o.stage);
            let reason = match stage {
                Some(Stage::Proposed) => NoQuorum::NotCommitted,
                Some(Stage::Reading) => NoQuorum::NotConfirmed,
                Some(Stage::Forwarded) => NoQuorum::Unanswered,
                Some(Stage::Parked) | None => NoQuorum::NoLeader,
            };
            self.complete(key, ClusterError::NoQuorum(reason).into());
        }
    }

    /// Answers an outstanding request, unless it was answered already (a completion that
    /// arrives after the request timed out is dropped).
    fn complete(&mut self, key: RequestKey, reply: Reply) {
        if let Some(outstanding) = self.outstanding.remove(&key) {
            self.deadlines.remove(&(outstanding.deadline, key));
            self.lanes.finished(key);
            self.relayed.finished(key);
            self.reply_now(key, reply);
        }
    }

    /// Answers a request that never became outstanding.
    fn reply_now(&mut self, (client, id): RequestKey, reply: Reply) {
        self.outbox
            .outputs
            .push_back(Output::Reply { client, id, reply });
    }
}
