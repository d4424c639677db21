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

use raft::eraftpb::{Entry, EntryType, Message, MessageType, Snapshot, SnapshotMetadata};
use raft::{RawNode, SnapshotStatus, StateRole, INVALID_ID};

use crate::cmd::Call;
use crate::consensus::admission::{self, Admission, Refusal, View};
use crate::consensus::election::{ElectionTimeout, SoftState};
use crate::consensus::group_config::GroupConfig;
use crate::consensus::log_view::LogView;
use crate::consensus::logger::raft_logger;
use crate::consensus::machine::Machine;
use crate::consensus::membership::{is_removal_notice, Membership};
use crate::consensus::order::{Admitted, ConnectionOrder};
use crate::consensus::outbox::{Outbox, RequestKey};
use crate::consensus::proposals::{Proposals, ProposeError};
use crate::consensus::reads::{PendingRead, Reads};
use crate::consensus::receive::Receiver;
use crate::consensus::status::{GroupStatus, SnapshotStats};
use crate::ids::{GroupId, NodeId};
use crate::kv::{ApplyContext, Inapplicable, Proposal, ReadKind};
use crate::membership::MembershipChange;
use crate::output::{Output, PersistBatch};
use crate::reply::Reply;
use crate::snapshot::{SnapshotDescriptor, SnapshotId, SnapshotSource};
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

    /// The state machine.
    pub(crate) fn machine(&self) -> &Machine {
        &self.machine
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

    /// Takes a client write: proposes it, or holds it behind an earlier read of its connection
    /// that waits for confirmation (see [`crate::consensus::order`]). Its reply comes as a
    /// completion once the entry applies.
    pub(crate) fn submit_write(
        &mut self,
        key: RequestKey,
        call: Call,
        out: &mut Outbox,
    ) -> Result<Admitted, ProposeError> {
        assert!(self.is_leader(), "only a leader proposes client writes");
        let must_hold = self.order.must_hold(key.0, true);
        // Planted: a write does not wait for its connection's earlier reads.
        #[cfg(feature = "planted-bugs")]
        let must_hold =
            must_hold && self.planted_bug != Some(crate::PlantedBug::IgnoreConnectionOrder);
        if must_hold {
            self.order.hold(key, call);
            return Ok(Admitted::Held);
        }
        let proposal = Proposal::Command(call.into_args());
        self.raw
            .propose(Vec::new(), proposal.encode())
            .map_err(|_| ProposeError::Dropped)?;
        #[cfg(feature = "planted-bugs")]
        if self.planted_bug == Some(crate::PlantedBug::AckBeforeCommit)
            && matches!(&proposal, Proposal::Command(args) if args[0].eq_ignore_ascii_case(b"set"))
        {
            // Planted: "OK" as soon as the entry is in the leader's log, committed or not.
            out.completions.push((key, Reply::ok()));
            return Ok(Admitted::Proposed);
        }
        self.track_proposal(key, out);
        let index = self.raw.raft.raft_log.last_index();
        self.order.wrote(key.0, index);
        Ok(Admitted::Proposed)
    }

    /// Waits for the entry just proposed (the last in the log) to apply, replying to `key` then.
    fn track_proposal(&mut self, key: RequestKey, out: &mut Outbox) {
        let index = self.raw.raft.raft_log.last_index();
        let term = self.raw.raft.term;
        self.proposals.track(index, term, key, out);
    }

    /// Proposes an entry nobody waits on (a member registering itself). On a follower raft-rs
    /// forwards it to the leader; if it is lost the caller proposes again later.
    pub(crate) fn propose_untracked(&mut self, proposal: &Proposal) -> Result<(), ProposeError> {
        self.raw
            .propose(Vec::new(), proposal.encode())
            .map_err(|_| ProposeError::Dropped)
    }

    /// Takes a client read: it rides on its connection's write if the leader has not committed
    /// that yet, or queues for the next ReadIndex round; either way it is served at or after
    /// its connection's last write (see [`crate::consensus::order`]). Held, like everything,
    /// behind a held request of its connection.
    pub(crate) fn submit_read(&mut self, key: RequestKey, kind: ReadKind) -> Admitted {
        let client = key.0;
        let must_hold = self.order.must_hold(client, false);
        let floor = self.order.floor(client);
        // Planted: a read is held behind nothing and has no floor (so it never rides either):
        // it may be served before its connection's earlier write applies.
        #[cfg(feature = "planted-bugs")]
        let (must_hold, floor) =
            if self.planted_bug == Some(crate::PlantedBug::IgnoreConnectionOrder) {
                (false, 0)
            } else {
                (must_hold, floor)
            };
        if must_hold {
            self.order.hold(key, kind.into_call());
            return Admitted::Held;
        }
        let raft = &self.raw.raft;
        let rides = (raft.state == StateRole::Leader
            && floor > raft.raft_log.committed
            && self.proposals.is_waiting(floor, raft.term))
        .then_some(raft.term);
        let read = PendingRead {
            key,
            kind,
            floor,
            rides,
        };
        if rides.is_some() {
            self.reads.ride(read);
        } else {
            self.order.read_queued(client);
            self.reads.queue(read);
        }
        Admitted::Reading
    }

    /// The term this node leads the group in, if it leads.
    fn leading_term(&self) -> Option<u64> {
        (self.raw.raft.state == StateRole::Leader).then_some(self.raw.raft.term)
    }

    /// Serves the reads due once `self.applied_index` has applied: through the apply pass
    /// `pass` when called between two of its entries, else from the store. A riding read whose
    /// write this node no longer leads for is routed anew.
    fn serve_due_reads(
        &mut self,
        store: &dyn Store,
        pass: Option<&ApplyContext<'_>>,
        out: &mut Outbox,
    ) {
        let Machine::Data(keyspace) = &self.machine else {
            return; // The system group has no client reads.
        };
        let leading = self.leading_term();
        for read in self.reads.take_due(self.applied_index) {
            if read.rides.is_some_and(|term| leading != Some(term)) {
                out.redispatch.push((read.key, read.kind.into_call()));
                continue;
            }
            let reply = read.kind.serve(keyspace, store, pass);
            out.completions.push((read.key, reply));
        }
    }

    /// Gives up on a ReadIndex round that has waited longer than `timeout` (its messages were
    /// lost, or the leader changed in a way raft-rs does not report): its reads join the next
    /// round.
    pub(crate) fn retry_stale_read_round(&mut self, now: Instant, timeout: Duration) {
        self.reads.retry_stale_round(now, timeout);
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

    /// Compacts the log once `snapshot_interval_entries` entries have applied since the last
    /// compaction, or the entries in memory reach `snapshot_interval_bytes`. By count it keeps
    /// the newest tenth of an interval, so a follower a little behind catches up from the log
    /// rather than a snapshot; by size it keeps nothing it has applied, since memory is the
    /// point. The data in the store stands for every entry dropped.
    ///
    /// The writes go straight to the store: they touch only entries that are applied (so
    /// durable) and the compaction record, which nothing in flight writes.
    fn maybe_compact(&mut self, store: &mut dyn Store) {
        if self.install_pending.is_some() {
            return;
        }
        let log = self.raw.store();
        let since = self.applied_index.saturating_sub(log.snapshot_index());
        let keep = if log.snapshot_index() == 0 && self.applied_index > 0 {
            // The first compaction comes at once: the founding configuration is in no entry,
            // so a node that joins later must start from a snapshot, never from index 1.
            0
        } else if since >= self.snapshot_interval_entries {
            self.snapshot_interval_entries / 10
        } else if log.entries_bytes() >= self.snapshot_interval_bytes && since > 0 {
            0
        } else {
            return;
        };
        let compact_to = self.applied_index - keep.min(since - 1);
        let mut batch = WriteBatch::new();
        self.raw.mut_store().compact(compact_to, &mut batch);
        write(store, batch, self.id, "compacting the log");
        if self
            .prepared
            .as_ref()
            .is_some_and(|prepared| prepared.index() < compact_to)
        {
            self.prepared = None;
        }
        self.snapshot_stats.compactions += 1;
        tracing::debug!(
            node = self.node.0,
            group = self.id.0,
            compact_to,
            applied = self.applied_index,
            "log compacted"
        );
    }

    /// Prepares the snapshot raft-rs asked for: the state machine at the applied index, read
    /// from a view of the store made now, between apply passes, so that data and metadata
    /// agree.
    fn prepare_snapshot(&mut self, store: &dyn Store) {
        let index = self.applied_index;
        let term =
            self.raw.raft.raft_log.term(index).unwrap_or_else(|e| {
                panic!("group {}: term of applied index {index}: {e}", self.id)
            });
        let metadata = SnapshotMetadata {
            conf_state: Some(self.raw.store().conf_state().clone()).into(),
            index,
            term,
            ..SnapshotMetadata::default()
        };
        let descriptor = SnapshotDescriptor {
            pairs: self.machine.pairs(),
        };
        let snapshot = Snapshot {
            data: descriptor.encode().into(),
            metadata: Some(metadata).into(),
            ..Snapshot::default()
        };
        self.prepared = Some(SnapshotSource::new(store.view(), self.data, index));
        self.raw.mut_store().prepare_snapshot(snapshot);
        self.snapshot_stats.prepared += 1;
        tracing::info!(
            node = self.node.0,
            group = self.id.0,
            index,
            term,
            pairs = descriptor.pairs,
            "snapshot prepared"
        );
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
            let mut rerouted = Vec::new();
            for read in self.reads.take_needing_leader() {
                if read.rides.is_none() {
                    rerouted.extend(self.order.read_settled(read.key.0));
                }
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

/// Writes `batch` to the store, which must not fail: the group cannot go on with its state
/// half written.
///
/// # Panics
/// If the store refuses the write; the message names the group and `what` was written.
pub(super) fn write(store: &mut dyn Store, batch: WriteBatch, group: GroupId, what: &str) {
    store
        .write(batch)
        .unwrap_or_else(|e| panic!("group {group}: {what}: {e}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ClientId, RequestId};
    use crate::kv::{Keyspace, Member};
    use crate::storage::MemStore;
    use crate::system::Directory;
    use bytes::Bytes;
    use protobuf::Message as _;
    use raft::eraftpb::{ConfChange, ConfChangeSingle, ConfChangeType, ConfChangeV2};

    fn config(group: GroupId) -> GroupConfig {
        GroupConfig {
            node: NodeId(1),
            group,
            heartbeat_ticks: 1,
            election_ticks_min: 5,
            election_ticks_max: 10,
            rng_seed: 7,
            message_bytes_max: 1 << 20,
            inflight_messages_max: 256,
            snapshot_interval_entries: 10_000,
            snapshot_interval_bytes: 100_000_000,
            uncommitted_bytes_max: 1 << 30,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }

    /// Node 1's replica of a group of `voters`, over a fresh store; every `Persist` is durable
    /// at once.
    struct Replica {
        group: Group,
        store: MemStore,
        out: Outbox,
    }

    impl Replica {
        fn new(id: GroupId, voters: Vec<u64>) -> Replica {
            let mut store = MemStore::new();
            let log = LogView::bootstrap(id, voters);
            let mut batch = WriteBatch::new();
            log.initial_writes(&mut batch);
            store.write(batch).unwrap();
            let data = DataRange::first(id);
            let machine = if id.is_system() {
                Machine::System(Directory::load(data, &store).unwrap())
            } else {
                Machine::Data(Keyspace::load(data, &store, 65_536).unwrap())
            };
            let group = Group::new(&config(id), log, machine, data, 0).unwrap();
            Replica {
                group,
                store,
                out: Outbox::default(),
            }
        }

        /// Node 1 alone: it campaigns and leads.
        fn leader(id: GroupId) -> Replica {
            let mut replica = Replica::new(id, vec![1]);
            replica.group.raw.campaign().unwrap();
            replica.settle();
            assert!(replica.group.is_leader());
            replica
        }

        /// Drives the group, making each `Persist` durable, until nothing is left to do.
        fn settle(&mut self) {
            loop {
                self.group
                    .drive(Instant::ZERO, &mut self.store, &mut self.out);
                let persists: Vec<PersistBatch> = std::mem::take(&mut self.out.outputs)
                    .into_iter()
                    .filter_map(|output| match output {
                        Output::Persist(batch) => Some(batch),
                        _ => None,
                    })
                    .collect();
                if persists.is_empty() {
                    return;
                }
                for persist in persists {
                    self.store.write(persist.batch).unwrap();
                    self.group.on_persisted(
                        Instant::ZERO,
                        persist.ready_number,
                        &mut self.store,
                        &mut self.out,
                    );
                }
            }
        }

        /// Node 2, leading term 1, appends one entry and commits it, as a leader does.
        fn commit_from_leader(&mut self, entry_type: EntryType, data: Vec<u8>) {
            let last = self.group.raw.raft.raft_log.last_index();
            let mut append = Message::default();
            append.set_msg_type(MessageType::MsgAppend);
            append.from = 2;
            append.to = 1;
            append.term = 1;
            append.index = last;
            append.log_term = self.group.raw.raft.raft_log.term(last).unwrap();
            append.commit = last + 1;
            append.entries.push(Entry {
                entry_type,
                term: 1,
                index: last + 1,
                data: data.into(),
                ..Entry::default()
            });
            assert!(matches!(self.group.admit(&append), Admission::Step));
            self.group.step(append).unwrap();
            self.settle();
            assert_eq!(self.group.applied_index, last + 1, "the entry applied");
        }

        fn key_count(&self) -> u64 {
            match self.group.machine() {
                Machine::Data(keyspace) => keyspace.key_count(),
                Machine::System(directory) => directory.record_count(),
            }
        }
    }

    fn command(args: &[&str]) -> Vec<u8> {
        Proposal::Command(
            args.iter()
                .map(|arg| Bytes::copy_from_slice(arg.as_bytes()))
                .collect(),
        )
        .encode()
    }

    fn registration() -> Vec<u8> {
        Proposal::RegisterNode(Member {
            id: NodeId(2),
            client_addr: "node2:6379".to_owned(),
            internal_addr: "node2:7379".to_owned(),
        })
        .encode()
    }

    #[test]
    fn committed_entries_this_version_cannot_apply_apply_as_nothing() {
        // Goal: an entry that commits but cannot apply (not a proposal, the other group's
        // kind, an unknown command, a read, a conf change that does not decode) applies as
        // nothing on a replica, which goes on applying what follows; it never panics (which
        // would stop every replica at that index, again at each restart). Method: a follower
        // of each kind of group takes each such entry from its leader, then a valid one.
        let garbage_conf_change = vec![0xff, 0xff, 0xff];
        let data_entries = [
            (EntryType::EntryNormal, vec![0xff, 1, 2, 3]),
            (EntryType::EntryNormal, vec![9]),
            (EntryType::EntryNormal, registration()),
            (EntryType::EntryNormal, command(&["FLY", "k"])),
            (EntryType::EntryNormal, command(&["GET", "k"])),
            (EntryType::EntryNormal, command(&[])),
            (EntryType::EntryConfChange, garbage_conf_change.clone()),
            (EntryType::EntryConfChangeV2, garbage_conf_change.clone()),
        ];
        let mut replica = Replica::new(GroupId::FIRST_DATA, vec![1, 2]);
        for (entry_type, data) in data_entries {
            replica.commit_from_leader(entry_type, data);
            assert_eq!(replica.key_count(), 0);
        }
        replica.commit_from_leader(EntryType::EntryNormal, command(&["SET", "k", "v"]));
        assert_eq!(replica.key_count(), 1);

        let mut system = Replica::new(GroupId::SYSTEM, vec![1, 2]);
        for (entry_type, data) in [
            (EntryType::EntryNormal, vec![0xff]),
            (EntryType::EntryNormal, command(&["SET", "k", "v"])),
            (EntryType::EntryConfChangeV2, garbage_conf_change),
        ] {
            system.commit_from_leader(entry_type, data);
            assert_eq!(system.key_count(), 0);
        }
        system.commit_from_leader(EntryType::EntryNormal, registration());
        assert_eq!(system.key_count(), 1);
        assert_eq!(
            system.group.raw.store().conf_state().voters,
            vec![1, 2],
            "the undecodable conf change changed nothing"
        );
    }

    #[test]
    fn a_decodable_conf_change_still_applies() {
        // Goal: the no-op path is only for changes that do not decode. Method: a follower
        // takes a valid change adding learner 3 (both encodings).
        let mut replica = Replica::new(GroupId::FIRST_DATA, vec![1, 2]);
        let add = ConfChange {
            change_type: ConfChangeType::AddLearnerNode,
            node_id: 3,
            ..ConfChange::default()
        };
        replica.commit_from_leader(EntryType::EntryConfChange, add.write_to_bytes().unwrap());
        assert_eq!(replica.group.raw.store().conf_state().learners, vec![3]);
        let add = ConfChangeV2 {
            changes: vec![ConfChangeSingle {
                change_type: ConfChangeType::AddLearnerNode,
                node_id: 4,
                ..ConfChangeSingle::default()
            }]
            .into(),
            ..ConfChangeV2::default()
        };
        replica.commit_from_leader(EntryType::EntryConfChangeV2, add.write_to_bytes().unwrap());
        let mut learners = replica.group.raw.store().conf_state().learners.clone();
        learners.sort_unstable();
        assert_eq!(learners, vec![3, 4]);
    }

    #[test]
    fn the_proposer_of_an_entry_that_cannot_apply_gets_an_error() {
        // Goal: whoever waits on such an entry is answered, with an error, not left to time
        // out. Method: a leader proposes garbage and waits on it.
        let mut leader = Replica::leader(GroupId::FIRST_DATA);
        leader.group.raw.propose(Vec::new(), vec![0xff, 0]).unwrap();
        let key = (ClientId(1), RequestId(1));
        leader.group.track_proposal(key, &mut leader.out);
        leader.settle();
        let replies: Vec<&Reply> = leader
            .out
            .completions
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, reply)| reply)
            .collect();
        assert_eq!(replies.len(), 1);
        assert!(replies[0].is_error(), "{:?}", replies[0]);
    }
}
