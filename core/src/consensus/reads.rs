//! One group's ReadIndex queue (thesis §6.4): reads wait for a round, one round confirms every
//! read that was waiting when it started, and confirmed reads are served once the state machine
//! has applied up to the round's read index.

use std::collections::VecDeque;
use std::time::Duration;

use raft::{RawNode, ReadState, StateRole, INVALID_ID};

use crate::consensus::group_config::GroupConfig;
use crate::consensus::log_view::LogView;
use crate::consensus::machine::Machine;
use crate::consensus::outbox::{Outbox, RequestKey};
use crate::ids::{GroupId, NodeId};
use crate::kv::ReadKind;
use crate::storage::Store;
use crate::time::Instant;

/// A read waiting in a group.
#[derive(Clone, Debug)]
pub(crate) struct PendingRead {
    pub(crate) key: RequestKey,
    pub(crate) kind: ReadKind,
}

/// One ReadIndex round: every read that was waiting when it started, confirmed together.
#[derive(Debug)]
struct ReadRound {
    /// The context raft-rs echoes in the round's `ReadState`: this node's id, then the round's
    /// number, both big-endian (16 bytes, unique to this round).
    ctx: Vec<u8>,
    /// The reads the round confirms, oldest first.
    reads: Vec<PendingRead>,
    /// When the round started, to give up on it after a timeout.
    started_at: Instant,
}

/// One group's reads, from queued to served. A read is in exactly one place: waiting, in the
/// round in flight, or confirmed.
#[derive(Debug)]
pub(super) struct Reads {
    /// This node: the first half of every round's context.
    node: NodeId,
    /// The group the reads are for, named in panic messages.
    group: GroupId,
    /// Reads waiting for the next round, oldest first.
    waiting: VecDeque<PendingRead>,
    /// The round in flight, if any; at most one at a time.
    round: Option<ReadRound>,
    /// Rounds confirmed at a read index, in the order raft-rs confirmed them, waiting for the
    /// applied index to reach theirs.
    confirmed: VecDeque<(u64, Vec<PendingRead>)>,
    /// Rounds started so far; the number of the latest round, so only ever grows.
    rounds_started: u64,
    #[cfg(feature = "planted-bugs")]
    planted_bug: Option<crate::PlantedBug>,
}

impl Reads {
    /// No reads yet.
    pub(super) fn new(config: &GroupConfig) -> Reads {
        Reads {
            node: config.node,
            group: config.group,
            waiting: VecDeque::new(),
            round: None,
            confirmed: VecDeque::new(),
            rounds_started: 0,
            #[cfg(feature = "planted-bugs")]
            planted_bug: config.planted_bug,
        }
    }

    /// Queues a read for the next round.
    pub(super) fn queue(&mut self, read: PendingRead) {
        self.waiting.push_back(read);
    }

    /// Reads waiting, in a round or confirmed: every read not answered yet.
    pub(super) fn pending(&self) -> usize {
        self.waiting.len()
            + self.round.as_ref().map_or(0, |round| round.reads.len())
            + self
                .confirmed
                .iter()
                .map(|(_, reads)| reads.len())
                .sum::<usize>()
    }

    /// Rounds started so far (batching: fewer rounds than reads).
    pub(super) fn rounds_started(&self) -> u64 {
        self.rounds_started
    }

    /// Starts a ReadIndex round in `raw` for every waiting read, unless one is already in
    /// flight (then they wait for the next: one round confirms a whole batch). A leader waits
    /// until it has committed an entry of its term, a follower until it knows a leader.
    pub(super) fn start_round(
        &mut self,
        now: Instant,
        raw: &mut RawNode<LogView>,
        // Only the planted bug answers at the applied index.
        #[cfg_attr(not(feature = "planted-bugs"), allow(unused_variables))] applied_index: u64,
    ) {
        if self.round.is_some() || self.waiting.is_empty() {
            return;
        }
        let raft = &raw.raft;
        #[cfg(feature = "planted-bugs")]
        if self.planted_bug == Some(crate::PlantedBug::ReadWithoutReadIndex)
            && raft.state == StateRole::Leader
        {
            // Planted: a leader answers from its own state without confirming it still leads.
            let reads = self.waiting.drain(..).collect();
            self.confirmed.push_back((applied_index, reads));
            return;
        }
        match raft.state {
            StateRole::Leader => {
                // raft-rs silently drops a ReadIndex until the leader has committed an entry
                // of its own term (thesis §6.4): wait for that.
                if raft.raft_log.term(raft.raft_log.committed).ok() != Some(raft.term) {
                    return;
                }
            }
            _ => {
                if raft.leader_id == INVALID_ID {
                    return;
                }
            }
        }
        self.rounds_started += 1;
        let mut ctx = Vec::with_capacity(16);
        ctx.extend_from_slice(&self.node.0.to_be_bytes());
        ctx.extend_from_slice(&self.rounds_started.to_be_bytes());
        let reads = self.waiting.drain(..).collect();
        raw.read_index(ctx.clone());
        self.round = Some(ReadRound {
            ctx,
            reads,
            started_at: now,
        });
    }

    /// Takes in a `ReadState` from a Ready: if it answers the round in flight, that round is
    /// confirmed at its index. Others (from a round given up on) are ignored.
    pub(super) fn on_read_state(&mut self, read_state: ReadState) {
        let matches = self
            .round
            .as_ref()
            .is_some_and(|round| round.ctx == read_state.request_ctx);
        if matches {
            let round = self.round.take().expect("checked above");
            self.confirmed.push_back((read_state.index, round.reads));
        }
    }

    /// Gives up on the round in flight, if any: its reads go back to the front of the queue, in
    /// their order, to join the next round.
    pub(super) fn requeue_round(&mut self) {
        if let Some(round) = self.round.take() {
            for read in round.reads.into_iter().rev() {
                self.waiting.push_front(read);
            }
        }
    }

    /// Gives up on the round in flight if it has waited `timeout` or longer.
    pub(super) fn retry_stale_round(&mut self, now: Instant, timeout: Duration) {
        let stale = self
            .round
            .as_ref()
            .is_some_and(|round| now.saturating_duration_since(round.started_at) >= timeout);
        if stale {
            self.requeue_round();
        }
    }

    /// Takes the waiting reads that need a leader (for a node that just lost leadership), in
    /// their order; the others keep waiting.
    pub(super) fn take_needing_leader(&mut self) -> Vec<PendingRead> {
        let (moved, kept): (Vec<_>, Vec<_>) = self
            .waiting
            .drain(..)
            .partition(|read| read.kind.needs_leader());
        self.waiting = kept.into();
        moved
    }

    /// Serves every confirmed round whose read index `applied_index` has reached, in order,
    /// from `machine` (a data group's keyspace) over `store`.
    ///
    /// # Panics
    /// If a read reaches a group that is not a data group.
    pub(super) fn serve_confirmed(
        &mut self,
        applied_index: u64,
        machine: &Machine,
        store: &dyn Store,
        out: &mut Outbox,
    ) {
        while self
            .confirmed
            .front()
            .is_some_and(|(index, _)| *index <= applied_index)
        {
            let (_, reads) = self.confirmed.pop_front().expect("checked above");
            let Machine::Data(keyspace) = machine else {
                panic!("group {}: client reads go to data groups", self.group);
            };
            for read in reads {
                let reply = read.kind.serve(keyspace, store);
                out.completions.push((read.key, reply));
            }
        }
    }
}
