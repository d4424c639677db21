//! One Raft group: raft-rs's `RawNode`, the state machine it feeds, and the requests waiting
//! on it.
//!
//! This is the only place that knows raft-rs's `Ready` protocol. [`Group::drive`] turns each
//! `Ready` into outputs, in the order raft-rs requires for asynchronous persistence:
//! 1. `messages()` go out at once (a leader replicates while it persists, thesis §10.2.1);
//! 2. committed entries are applied (raft-rs hands out only locally durable ones);
//! 3. new entries and the hard state update the [`LogView`] and become one `Persist`;
//! 4. `persisted_messages()` (votes, append responses) wait until that `Persist` is reported
//!    durable through [`Group::on_persisted`], which calls `on_persist_ready`.
//!
//! It also compacts the log once enough entries have applied, prepares snapshots when raft-rs
//! asks for one, and installs the snapshots a leader streams to it (see [`crate::snapshot`]
//! for the whole path). The rest is in the sub-states a group owns, one module each: its
//! reads, its proposals, the snapshot it receives, its membership and its election timeout.

use std::collections::VecDeque;
use std::time::Duration;

use raft::eraftpb::{Entry, EntryType, Message, MessageType, Snapshot};
use raft::{RawNode, SnapshotStatus, StateRole, INVALID_ID};

use crate::cluster_error::{ClusterError, TryAgain};
use crate::consensus::admission::{self, Admission, Refusal, View};
use crate::consensus::election::{ElectionTimeout, SoftState};
use crate::consensus::group_config::GroupConfig;
use crate::consensus::log_view::LogView;
use crate::consensus::logger::raft_logger;
use crate::consensus::machine::Machine;
use crate::consensus::membership::{is_removal_notice, Membership};
use crate::consensus::order::ConnectionOrder;
use crate::consensus::outbox::{Outbox, RequestKey};
use crate::consensus::proposals::Proposals;
use crate::consensus::reads::Reads;
use crate::consensus::receive::Receiver;
use crate::consensus::status::{GroupStatus, ReplicaProgress, SnapshotStats};
use crate::ids::{GroupId, NodeId};
use crate::kv::{ApplyContext, Inapplicable, Proposal};
use crate::membership::MembershipChange;
use crate::output::{Output, PersistBatch};
use crate::reply::Reply;
use crate::snapshot::{SnapshotId, SnapshotSource};
use crate::storage::{ColumnFamily, DataRange, StateKey, Store, WriteBatch};
use crate::time::Instant;

/// One Raft group on this node.
pub(crate) struct Group {
    /// Which group this is.
    id: GroupId,
    /// This node, raft-rs's id for itself.
    node: NodeId,
    /// raft-rs, over the in-memory view of this group's log.
    raw: RawNode<LogView>,
    /// What the log drives: the directory (system group) or a keyspace.
    machine: Machine,
    /// Where `machine`'s data is in the store.
    data: DataRange,
    /// Index of the last entry applied to `machine`; never ahead of the durable log.
    applied_index: u64,
    /// The data of the snapshot prepared in the log view (same index), for `SendSnapshot`.
    prepared: Option<SnapshotSource>,
    /// The snapshot transfer being received, staged after `data`.
    receiver: Receiver,
    /// The Ready number of a snapshot install not yet durable: no compaction until it is.
    install_pending: Option<u64>,
    /// Compact once this many entries applied since the last compaction (see `maybe_compact`).
    snapshot_interval_entries: u64,
    /// Compact once the entries in memory take this many bytes.
    snapshot_interval_bytes: u64,
    /// Counts of compactions and snapshot transfers, only ever incremented.
    snapshot_stats: SnapshotStats,
    /// This node's standing in the group's configuration.
    membership: Membership,
    /// The election timeout pinned from our seeded RNG in place of raft-rs's draw.
    election: ElectionTimeout,
    /// Number of the last Ready handled (handed out as `Persist`, or durable at once): raft-rs
    /// numbers them 1, 2, 3, ... from `RawNode::new`, and each is handled once.
    ready_emitted: u64,
    /// Highest Ready number reported durable. `ready_persisted <= ready_emitted`.
    ready_persisted: u64,
    /// raft-rs's commit index when the Ready loop last looked: it never goes back.
    commit_index_seen: u64,
    /// Messages raft-rs allows only once the Ready with that number is durable.
    held_messages: VecDeque<(u64, Vec<Message>)>,
    /// Writes this node proposed, waiting for their entries to apply.
    proposals: Proposals,
    /// Client reads, from queued to served.
    reads: Reads,
    /// Each connection's order: floors for its reads, its writes held behind its reads.
    order: ConnectionOrder,
    /// A data group leader's expiry bookkeeping (see [`expiry`]).
    expiry: expiry::Expiry,
    /// raft-rs's role, leader and term when the Ready loop last looked, to notice changes.
    soft: SoftState,
    /// The known bug to plant, if any (simulation builds only).
    #[cfg(feature = "planted-bugs")]
    planted_bug: Option<crate::PlantedBug>,
}

impl Group {
    /// Starts a group from its log and state machine (whose data is `data`), with
    /// `applied_index` as stored.
    pub(crate) fn new(
        config: &GroupConfig,
        mut log: LogView,
        machine: Machine,
        data: DataRange,
        applied_index: u64,
    ) -> crate::Result<Group> {
        log.raise_commit(applied_index);
        let raft_config = config.raft_config(applied_index);
        raft_config.validate()?;
        let logger = raft_logger(config.node.0, config.group.0);
        let raw = RawNode::new(&raft_config, log, &logger)?;
        let soft = SoftState::of(&raw.raft);
        let commit_index = raw.raft.raft_log.committed;
        let election = ElectionTimeout::new(
            config.rng_seed,
            config.election_ticks_min,
            config.election_ticks_max,
            &raw.raft,
        );
        let mut group = Group {
            id: config.group,
            node: config.node,
            raw,
            machine,
            data,
            applied_index,
            prepared: None,
            receiver: Receiver::new(config.node, config.group),
            install_pending: None,
            snapshot_interval_entries: config.snapshot_interval_entries,
            snapshot_interval_bytes: config.snapshot_interval_bytes,
            snapshot_stats: SnapshotStats::default(),
            membership: Membership::new(config.node, config.group),
            election,
            ready_emitted: 0,
            ready_persisted: 0,
            commit_index_seen: commit_index,
            held_messages: VecDeque::new(),
            proposals: Proposals::default(),
            reads: Reads::new(config),
            order: ConnectionOrder::default(),
            expiry: expiry::Expiry::default(),
            soft,
            #[cfg(feature = "planted-bugs")]
            planted_bug: config.planted_bug,
        };
        group.pin_election_timeout();
        Ok(group)
    }

    /// Whether this node leads the group.
    pub(crate) fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    /// The leader this node knows of, if any.
    pub(crate) fn leader(&self) -> Option<NodeId> {
        let leader = self.raw.raft.leader_id;
        (leader != INVALID_ID).then_some(NodeId(leader))
    }

    /// The term this node is in: its own as leader, its leader's as follower.
    pub(crate) fn term(&self) -> u64 {
        self.raw.raft.term
    }

    /// Whether `node` is a voter or learner of the group's configuration (either half of a
    /// joint one).
    pub(crate) fn is_member(&self, node: NodeId) -> bool {
        crate::membership::is_member(self.raw.store().conf_state(), node)
    }

    /// The state machine.
    pub(crate) fn machine(&self) -> &Machine {
        &self.machine
    }

    /// Changes when the log is compacted (`CONFIG SET raft-snapshot-interval-*`); the next
    /// apply pass goes by the new values.
    pub(crate) fn set_snapshot_intervals(&mut self, entries: u64, bytes: u64) {
        assert!(entries > 0, "a snapshot interval of 0 entries");
        assert!(bytes > 0, "a snapshot interval of 0 bytes");
        self.snapshot_interval_entries = entries;
        self.snapshot_interval_bytes = bytes;
    }

    /// What the leader knows of each other member's copy of the log, in node order; empty on
    /// a follower (INFO replication's `slaveN` lines).
    pub(crate) fn replicas(&self) -> Vec<ReplicaProgress> {
        let raft = &self.raw.raft;
        if raft.state != StateRole::Leader {
            return Vec::new();
        }
        let mut replicas: Vec<ReplicaProgress> = raft
            .prs()
            .iter()
            .filter(|(&id, _)| id != self.node.0)
            .map(|(&id, progress)| ReplicaProgress {
                node: NodeId(id),
                matched: progress.matched,
                state: progress.state,
                is_learner: self.raw.store().conf_state().learners.contains(&id),
            })
            .collect();
        replicas.sort_by_key(|replica| replica.node);
        replicas
    }

    /// A summary for INFO and tests.
    pub(crate) fn status(&self) -> GroupStatus {
        let raft = &self.raw.raft;
        GroupStatus {
            group: self.id,
            role: raft.state,
            term: raft.term,
            leader: self.leader(),
            commit_index: raft.raft_log.committed,
            applied_index: self.applied_index,
            last_index: raft.raft_log.last_index(),
            snapshot_index: self.raw.store().snapshot_index(),
            log_entries_in_memory: self.raw.store().len(),
            log_bytes_in_memory: self.raw.store().entries_bytes(),
            snapshots: self.snapshot_stats,
            voters: self.raw.store().conf_state().voters.clone(),
            learners: self.raw.store().conf_state().learners.clone(),
            voters_outgoing: self.raw.store().conf_state().voters_outgoing.clone(),
            proposals_pending: self.proposals.len(),
            reads_pending: self.reads.pending(),
            read_rounds_started: self.reads.rounds_started(),
        }
    }

    /// Advances raft-rs's logical clock by one tick. A removed node's group no longer ticks,
    /// so it never campaigns.
    pub(crate) fn tick(&mut self) {
        if self.membership.is_removed() {
            return;
        }
        self.raw.tick();
        self.membership.hand_off_if_removed(&mut self.raw);
        self.pin_election_timeout();
    }

    /// What to do with a message from a peer (see [`admission`]): step it, take it in as a
    /// removal notice, answer it without stepping it, or drop it. A message from a node
    /// outside the configuration is answered with a removal notice if this node is the leader
    /// to tell it (see [`Membership::removal_notice_for`]), with a request to catch up if it
    /// is leader traffic (see [`admission::catch_up_answer`]), and otherwise dropped.
    pub(crate) fn admit(&self, message: &Message) -> Admission {
        let raft = &self.raw.raft;
        let view = View {
            node: self.node,
            group: self.id,
            conf: self.raw.store().conf_state(),
            term: raft.term,
            is_leader: self.is_leader(),
            leader: raft.leader_id,
            last_index: raft.raft_log.last_index(),
            commit_index: raft.raft_log.committed,
        };
        match admission::check(&view, message) {
            Ok(()) if is_removal_notice(message) => Admission::RemovalNotice,
            Ok(()) => Admission::Step,
            Err(Refusal::NotAMember) => {
                if let Some(notice) = self.removal_notice_for(NodeId(message.from)) {
                    Admission::Answer(notice)
                } else if let Some(answer) = admission::catch_up_answer(&view, message) {
                    Admission::Answer(answer)
                } else {
                    Admission::Drop(Refusal::NotAMember)
                }
            }
            Err(why) => Admission::Drop(why),
        }
    }

    /// Feeds raft-rs a message: from a peer only once [`Group::admit`] let it through, since
    /// raft-rs trusts what it steps. An error (raft-rs dropped a proposal) leaves the group
    /// as it was.
    pub(crate) fn step(&mut self, message: Message) -> Result<(), raft::Error> {
        let result = self.raw.step(message);
        self.pin_election_timeout();
        result
    }

    /// Tells raft-rs a peer could not be reached, so it stops pipelining to it.
    pub(crate) fn report_unreachable(&mut self, peer: NodeId) {
        self.raw.report_unreachable(peer.0);
    }

    /// Gives up on a ReadIndex round that has waited longer than `timeout` (its messages were
    /// lost, or the leader changed in a way raft-rs does not report): its reads join the next
    /// round.
    pub(crate) fn retry_stale_read_round(&mut self, now: Instant, timeout: Duration) {
        self.reads.retry_stale_round(now, timeout);
    }

    /// Forgets the queued reads whose request `answered` says was answered already (it timed
    /// out), settling them in their connection's order.
    pub(crate) fn drop_answered_reads(
        &mut self,
        answered: &dyn Fn(RequestKey) -> bool,
        out: &mut Outbox,
    ) {
        for read in self.reads.drop_answered(answered) {
            out.redispatch.extend(self.order.read_settled(read.key.0));
        }
    }

    /// Reports that the `Persist` with this Ready number (and all before it) is durable.
    ///
    /// # Panics
    /// If `number` was not handed out, or is reported out of order.
    pub(crate) fn on_persisted(
        &mut self,
        now: Instant,
        number: u64,
        store: &mut dyn Store,
        out: &mut Outbox,
    ) {
        assert!(
            number > self.ready_persisted,
            "group {}: ready {number} reported persisted again (already up to {})",
            self.id,
            self.ready_persisted
        );
        assert!(
            number <= self.ready_emitted,
            "group {}: ready {number} reported persisted before it was handed out (up to {})",
            self.id,
            self.ready_emitted
        );
        self.ready_persisted = number;
        self.raw.on_persist_ready(number);
        if self.install_pending.is_some_and(|ready| ready <= number) {
            self.install_pending = None;
        }
        self.report_applied();
        while self
            .held_messages
            .front()
            .is_some_and(|(n, _)| *n <= number)
        {
            let (_, messages) = self.held_messages.pop_front().expect("checked above");
            self.send_all(messages, out);
        }
        self.drive(now, store, out);
    }

    /// Handles everything raft-rs has ready, until it has nothing more.
    pub(crate) fn drive(&mut self, now: Instant, store: &mut dyn Store, out: &mut Outbox) {
        loop {
            let committed = self.raw.raft.raft_log.committed;
            assert!(
                committed >= self.commit_index_seen,
                "group {}: commit index went back from {} to {committed}",
                self.id,
                self.commit_index_seen
            );
            self.commit_index_seen = committed;
            self.note_soft_state(out);
            let confirmed = self
                .reads
                .start_round(now, &mut self.raw, self.applied_index);
            for (client, _) in confirmed {
                out.redispatch.extend(self.order.read_settled(client));
            }
            if !self.raw.has_ready() {
                break;
            }
            self.handle_ready(store, out);
        }
        if self.raw.store().is_snapshot_wanted() {
            self.prepare_snapshot(&*store);
        }
        self.pin_election_timeout();
    }

    fn handle_ready(&mut self, store: &mut dyn Store, out: &mut Outbox) {
        let mut ready = self.raw.ready();
        // raft-rs numbers each `ready()` one past the last, and only this loop calls it.
        assert_eq!(
            ready.number(),
            self.ready_emitted + 1,
            "group {}: Ready numbers must go up by one",
            self.id
        );

        let messages = ready.take_messages();
        self.send_all(messages, out);

        let mut batch = WriteBatch::new();
        let installs = !ready.snapshot().is_empty();
        if installs {
            // raft-rs restored a snapshot this node received in full: it goes before the
            // entries that follow it, in the same durable batch.
            let snapshot = ready.snapshot().clone();
            self.install_snapshot(&snapshot, &*store, &mut batch, out);
        }

        for read_state in ready.take_read_states() {
            for (client, _) in self.reads.on_read_state(read_state) {
                out.redispatch.extend(self.order.read_settled(client));
            }
        }

        let committed = ready.take_committed_entries();
        if !committed.is_empty() {
            self.apply(committed, store, out);
        }

        let entries = ready.take_entries();
        self.raw.mut_store().append(&entries, &mut batch);
        if let Some(hard_state) = ready.hs() {
            self.raw
                .mut_store()
                .set_hard_state(hard_state.clone(), &mut batch);
        }
        let persisted_messages = ready.take_persisted_messages();
        let number = ready.number();
        let must_sync = ready.must_sync();
        self.raw.advance_append_async(ready);
        if installs {
            self.install_pending = Some(number);
        }
        self.report_applied();

        if batch.is_empty() && self.ready_emitted == self.ready_persisted {
            // Nothing to make durable and nothing ahead of it in the queue: durable already.
            assert!(!must_sync, "a Ready that must sync wrote nothing");
            self.ready_emitted = number;
            self.ready_persisted = number;
            self.raw.on_persist_ready(number);
            self.send_all(persisted_messages, out);
        } else {
            self.ready_emitted = number;
            if !persisted_messages.is_empty() {
                self.held_messages.push_back((number, persisted_messages));
            }
            out.outputs.push_back(Output::Persist(PersistBatch {
                group: self.id,
                ready_number: number,
                batch,
                must_sync,
            }));
        }
        self.serve_due_reads(&*store, None, out);
    }

    /// Applies committed entries in log order, writing the state machine's changes and the
    /// new applied index in one batch.
    fn apply(&mut self, entries: Vec<Entry>, store: &mut dyn Store, out: &mut Outbox) {
        let mut cx = ApplyContext::new(&*store);
        for entry in &entries {
            assert_eq!(
                entry.index,
                self.applied_index + 1,
                "group {}: entries must apply in order",
                self.id
            );
            let reply = match entry.get_entry_type() {
                EntryType::EntryNormal if entry.data.is_empty() => {
                    // A new leader's empty entry, which commits its term.
                    None
                }
                EntryType::EntryNormal => {
                    let applied = Proposal::decode(&entry.data)
                        .ok_or(Inapplicable::Undecodable)
                        .and_then(|proposal| self.machine.apply(&mut cx, &proposal));
                    Some(applied.unwrap_or_else(|why| self.skip(entry, &why)))
                }
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    self.membership
                        .apply(&mut self.raw, entry, &mut self.machine, &mut cx)
                }
            };
            self.applied_index = entry.index;
            if let Some((client, _)) =
                self.proposals
                    .on_applied(entry.index, entry.term, reply, out)
            {
                self.order.write_done(client, entry.index);
            }
            // A read its connection sent before its next write is served here, between the
            // two entries (see `order`).
            self.serve_due_reads(&*store, Some(&cx), out);
        }
        let mut batch = cx.into_batch();
        self.machine.finish_pass(&mut batch);
        batch.put(
            ColumnFamily::raft_state(self.id),
            StateKey::AppliedIndex.encode(self.id),
            self.applied_index.to_be_bytes().to_vec(),
        );
        write(store, batch, self.id, "writing applied entries");
        let committed = self.raw.raft.raft_log.committed;
        assert!(
            self.applied_index <= committed,
            "group {}: applied index {} is past the commit index {committed}",
            self.id,
            self.applied_index
        );
        self.maybe_compact(store);
    }

    /// The reply for a committed entry this version cannot apply, which applies as nothing.
    /// Every replica finds the same reason at the same index, on every replay too, so they
    /// all move on alike; a panic instead would stop every replica at this entry, and again at
    /// each restart. Such an entry was written by a newer version, or a peer broke the
    /// protocol: logged as an error. Its proposer, if it waits, gets the error.
    fn skip(&self, entry: &Entry, why: &Inapplicable) -> Reply {
        tracing::error!(
            node = self.node.0,
            group = self.id.0,
            index = entry.index,
            term = entry.term,
            %why,
            "committed entry applied as a no-op: this version cannot apply it"
        );
        Reply::error(format!(
            "ERR the entry committed at index {} of group {} cannot be applied: {why}",
            entry.index, self.id
        ))
    }

    /// Tells raft-rs how far the state machine has applied. raft-rs accepts no index past what
    /// is durable, so after a snapshot install this waits until the install is persisted.
    fn report_applied(&mut self) {
        let log = &self.raw.raft.raft_log;
        let to = self.applied_index.min(log.persisted).min(log.committed);
        if to > log.applied() {
            self.raw.advance_apply_to(to);
        }
    }

    /// Starts receiving the snapshot `message` (a `MsgSnapshot`) announces: clears the staging
    /// generation of whatever an earlier, interrupted transfer left there. A newer transfer
    /// replaces one in progress. Returns false (and stages nothing) if the message does not
    /// carry a snapshot this version understands.
    pub(crate) fn snapshot_begin(&mut self, message: Message, store: &mut dyn Store) -> bool {
        self.receiver.begin(message, self.data, store)
    }

    /// Stages one chunk of the transfer `id`. Chunks of any other transfer are ignored; a
    /// malformed chunk or one with more pairs than announced abandons the transfer.
    pub(crate) fn snapshot_chunk(&mut self, id: SnapshotId, data: &[u8], store: &mut dyn Store) {
        self.receiver.chunk(id, data, self.data, store);
    }

    /// Ends the transfer `id`: if every announced pair is staged, steps the snapshot into
    /// raft-rs, which installs it (see [`Group::install_snapshot`]) unless it is stale by now.
    pub(crate) fn snapshot_end(&mut self, id: SnapshotId, store: &mut dyn Store) {
        let Some(message) = self.receiver.complete(id) else {
            return;
        };
        // raft-rs answers the leader either way; a refused snapshot leaves nothing to install.
        let _ = self.step(message);
        let restoring = self
            .raw
            .raft
            .raft_log
            .unstable
            .snapshot
            .as_ref()
            .is_some_and(|s| {
                s.get_metadata().index == id.index && s.get_metadata().term == id.term
            });
        if !restoring {
            tracing::info!(node = self.node.0, %id, "snapshot not needed any more");
            self.receiver.abandon(self.data, store);
        }
    }

    /// Tells raft-rs whether the snapshot streamed to `to` arrived.
    pub(crate) fn snapshot_sent(&mut self, to: NodeId, delivered: bool) {
        let status = if delivered {
            self.snapshot_stats.sent += 1;
            SnapshotStatus::Finish
        } else {
            self.snapshot_stats.send_failures += 1;
            SnapshotStatus::Failure
        };
        self.raw.report_snapshot(to.0, status);
    }

    /// Installs the snapshot raft-rs restored: the staged generation becomes the live one
    /// (see [`Receiver::install`]), the log restarts after it, and the proposals it skipped
    /// over are answered. All of it goes into `batch`, the Ready's one durable batch.
    fn install_snapshot(
        &mut self,
        snapshot: &Snapshot,
        store: &dyn Store,
        batch: &mut WriteBatch,
        out: &mut Outbox,
    ) {
        let metadata = snapshot.get_metadata();
        (self.machine, self.data) =
            self.receiver
                .install(metadata, self.data, &self.machine, store, batch);
        self.raw.mut_store().apply_snapshot(metadata, batch);
        self.prepared = None;
        self.applied_index = metadata.index;
        for (client, _) in self.proposals.skip_through(metadata.index, out) {
            self.order.write_done(client, metadata.index);
        }
        self.snapshot_stats.installed += 1;
    }

    /// Proposes a membership change of this group; its reply comes once the entry applies (for
    /// a promotion or removal: once the joint configuration is entered; raft-rs then leaves it
    /// by itself). A change that cannot apply, or that would overlap one in flight, is
    /// answered at once.
    pub(crate) fn propose_membership(
        &mut self,
        key: RequestKey,
        change: &MembershipChange,
        out: &mut Outbox,
    ) -> Result<(), Reply> {
        assert!(
            self.is_leader(),
            "only a leader proposes membership changes"
        );
        self.membership.propose(&mut self.raw, change)?;
        self.track_proposal(key, out);
        Ok(())
    }

    /// Asks raft-rs to hand leadership to `to` (thesis §3.10): the leader brings it up to date,
    /// then tells it to campaign at once.
    pub(crate) fn transfer_leader(&mut self, to: NodeId) -> Result<(), Reply> {
        if !self.raw.store().conf_state().voters.contains(&to.0) {
            return Err(Reply::error(format!(
                "ERR node {to} is not a voter of group {}",
                self.id
            )));
        }
        self.raw.transfer_leader(to.0);
        Ok(())
    }

    /// Whether this node stays in the group's configuration (see
    /// [`crate::membership::stays_member`]) and was not told it left.
    pub(crate) fn stays_member(&self) -> bool {
        self.membership.stays_member(self.raw.store().conf_state())
    }

    /// The notice for `from`, which sent this group a message but is not in its
    /// configuration, if this node is the one to tell it (see
    /// [`Membership::removal_notice_for`]).
    pub(crate) fn removal_notice_for(&self, from: NodeId) -> Option<Message> {
        self.membership
            .removal_notice_for(&self.raw, self.applied_index, from)
    }

    /// Takes in a removal notice: believed only if its sender has applied more of the log
    /// than this node (see [`Membership::on_removal_notice`]).
    pub(crate) fn on_removal_notice(&mut self, notice: &Message) {
        self.membership
            .on_removal_notice(notice, self.applied_index);
    }

    /// Whether the group has a configuration at all (a node that is joining has none until
    /// its first snapshot arrives).
    pub(crate) fn has_configuration(&self) -> bool {
        let conf = self.raw.store().conf_state();
        !conf.voters.is_empty() || !conf.learners.is_empty()
    }

    /// Hands `messages` to the runtime; a `MsgSnapshot` goes out with the data prepared for
    /// it, as `SendSnapshot`.
    fn send_all(&mut self, messages: Vec<Message>, out: &mut Outbox) {
        for message in messages {
            let to = NodeId(message.to);
            if message.get_msg_type() != MessageType::MsgSnapshot {
                out.outputs.push_back(Output::Send {
                    to,
                    group: self.id,
                    message,
                });
                continue;
            }
            let index = message.get_snapshot().get_metadata().index;
            match self.prepared.clone().filter(|p| p.index() == index) {
                Some(source) => out.outputs.push_back(Output::SendSnapshot {
                    to,
                    group: self.id,
                    message,
                    source,
                }),
                // Not one this group prepared (a snapshot it received itself and has not
                // persisted yet): let raft-rs try again later.
                None => self.raw.report_snapshot(to.0, SnapshotStatus::Failure),
            }
        }
    }

    /// Notices role, leader and term changes: reads that need a leader leave a node that lost
    /// leadership, and a round in flight under an old leader or term is started again.
    fn note_soft_state(&mut self, out: &mut Outbox) {
        let soft = SoftState::of(&self.raw.raft);
        if soft == self.soft {
            return;
        }
        tracing::info!(
            node = self.node.0,
            group = self.id.0,
            role = ?soft.role,
            term = soft.term,
            leader = soft.leader,
            "raft state changed"
        );
        let lost_leadership = self.soft.role == StateRole::Leader && soft.role != StateRole::Leader;
        self.soft = soft;
        out.role_changed = true;

        self.reads.requeue_round();
        if lost_leadership {
            // Reads that need a leader, and every request held behind a read, go back to the
            // node to be routed anew, each connection's in the order it sent them.
            // A read riding on its connection's write is answered instead: the connection may
            // have writes proposed after it, and routed anew it could be served after them.
            let mut rerouted = Vec::new();
            for read in self.reads.take_needing_leader() {
                if read.rides.is_some() {
                    out.completions.push((read.key, riding_read_lost()));
                    continue;
                }
                rerouted.extend(self.order.read_settled(read.key.0));
                rerouted.push((read.key, read.kind.into_call()));
            }
            rerouted.extend(self.order.take_held());
            rerouted.sort_by_key(|(key, _)| *key);
            out.redispatch.extend(rerouted);
        }
    }

    /// Pins raft-rs's election timeout from our RNG (see [`ElectionTimeout::pin`]).
    fn pin_election_timeout(&mut self) {
        self.election.pin(&mut self.raw.raft);
    }
}

/// The answer to a read that rode on its connection's write when this node stopped leading:
/// it certainly had no effect, and retrying it is safe.
pub(super) fn riding_read_lost() -> Reply {
    ClusterError::TryAgain(TryAgain::LeadershipMoving).into()
}

/// Writes `batch` to the store, which must not fail: the group cannot go on with its state
/// half written.
///
/// # Panics
/// If the store refuses the write; the message names the group and `what` was written. The
/// runtime then stops the node (fail-stop): nothing it could not write was acknowledged.
pub(super) fn write(store: &mut dyn Store, batch: WriteBatch, group: GroupId, what: &str) {
    store
        .write(batch)
        .unwrap_or_else(|e| panic!("group {group}: {what}: {e}"));
}

mod compaction;
mod expiry;
mod requests;
#[cfg(test)]
mod tests;
