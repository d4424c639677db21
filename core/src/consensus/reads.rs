//! One group's ReadIndex queue (thesis §6.4): reads wait for a round, one round confirms every
//! read that was waiting when it started, and confirmed reads are served once the state machine
//! has applied up to the round's read index (or their connection's floor, see
//! [`super::order`], if that is later). A read may also ride on its connection's uncommitted
//! write instead of a round: that write's commit confirms it.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use raft::{RawNode, ReadState, StateRole, INVALID_ID};

use crate::consensus::group_config::GroupConfig;
use crate::consensus::log_view::LogView;
use crate::consensus::outbox::RequestKey;
use crate::ids::{ClientId, NodeId};
use crate::kv::ReadKind;
use crate::time::Instant;

/// A read waiting in a group.
#[derive(Clone, Debug)]
pub(crate) struct PendingRead {
    /// The connection and request it answers.
    pub(crate) key: RequestKey,
    /// The read command.
    pub(crate) kind: ReadKind,
    /// The connection's floor when the read arrived: the index of its last write then, 0 if
    /// none. The read is served at or after it.
    pub(crate) floor: u64,
    /// `Some(term)` for a read that rides on its connection's write at `floor`, proposed by
    /// this node as leader of `term`: confirmed only if this node still leads in `term` when
    /// that entry applies. `None` for a read confirmed by a ReadIndex round.
    pub(crate) rides: Option<u64>,
}

/// One ReadIndex round: every read that was waiting when it started, confirmed together.
#[derive(Debug)]
struct ReadRound {
    /// The context raft-rs echoes in the round's `ReadState`: this node's id, this run's
    /// nonce and the round's number, big-endian (24 bytes, unique to this round: the nonce
    /// keeps a late answer to a round of an earlier run of the node from confirming a round of
    /// this one that has the same number).
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
    /// This node: the first part of every round's context.
    node: NodeId,
    /// Drawn when the group starts: the second part.
    nonce: u64,
    /// Reads waiting for the next round, oldest first.
    waiting: VecDeque<PendingRead>,
    /// The round in flight, if any; at most one at a time.
    round: Option<ReadRound>,
    /// Confirmed reads (and riding ones) by the index they are served at, each index's in
    /// arrival order, waiting for the applied index to reach theirs.
    confirmed: BTreeMap<u64, Vec<PendingRead>>,
    /// Rounds started so far; the number of the latest round, so only ever grows.
    rounds_started: u64,
    /// Per connection with reads here: the highest floor among them, and how many there are.
    /// A connection's next read is served at or after that floor, so after them (see
    /// [`Reads::floor_of_earlier`]).
    floors: BTreeMap<ClientId, (u64, usize)>,
    #[cfg(feature = "planted-bugs")]
    planted_bug: Option<crate::PlantedBug>,
}

impl Reads {
    /// No reads yet.
    pub(super) fn new(config: &GroupConfig) -> Reads {
        Reads {
            node: config.node,
            nonce: config.rng_seed,
            waiting: VecDeque::new(),
            round: None,
            confirmed: BTreeMap::new(),
            rounds_started: 0,
            floors: BTreeMap::new(),
            #[cfg(feature = "planted-bugs")]
            planted_bug: config.planted_bug,
        }
    }

    /// The floor a new read of `client` must have at least: the highest of its reads still
    /// here. A read may have been given a high floor (the entry stamped with the leader's time
    /// that it waits for, see `super::group::expiry`) that a later read of the same
    /// connection would not get; without this the later one could be served first, at an
    /// earlier index.
    pub(super) fn floor_of_earlier(&self, client: ClientId) -> u64 {
        self.floors.get(&client).map_or(0, |(floor, _)| *floor)
    }

    fn arrived(&mut self, read: &PendingRead) {
        let (floor, count) = self.floors.entry(read.key.0).or_insert((0, 0));
        *floor = (*floor).max(read.floor);
        *count += 1;
    }

    fn left(&mut self, read: &PendingRead) {
        let client = read.key.0;
        let (_, count) = self
            .floors
            .get_mut(&client)
            .expect("a read leaves that arrived");
        *count -= 1;
        if *count == 0 {
            self.floors.remove(&client);
        }
    }

    /// Queues a read for the next round.
    pub(super) fn queue(&mut self, read: PendingRead) {
        debug_assert!(read.rides.is_none(), "a riding read needs no round");
        self.arrived(&read);
        self.waiting.push_back(read);
    }

    /// Adds a read that rides on its connection's write at `read.floor`: it is served right
    /// after that entry applies, if this node still leads in the term it proposed it in.
    pub(super) fn ride(&mut self, read: PendingRead) {
        debug_assert!(read.rides.is_some(), "only a riding read skips the round");
        self.arrived(&read);
        self.confirmed.entry(read.floor).or_default().push(read);
    }

    /// Reads waiting, in a round or confirmed: every read not answered yet.
    pub(super) fn pending(&self) -> usize {
        self.waiting.len()
            + self.round.as_ref().map_or(0, |round| round.reads.len())
            + self.confirmed.values().map(Vec::len).sum::<usize>()
    }

    /// Rounds started so far (batching: fewer rounds than reads).
    pub(super) fn rounds_started(&self) -> u64 {
        self.rounds_started
    }

    /// Starts a ReadIndex round in `raw` for every waiting read, unless one is already in
    /// flight (then they wait for the next: one round confirms a whole batch). A leader waits
    /// until it has committed an entry of its term, a follower until it knows a leader.
    /// Returns the reads it confirmed at once, which only the planted bug does.
    pub(super) fn start_round(
        &mut self,
        now: Instant,
        raw: &mut RawNode<LogView>,
        // Only the planted bug answers at the applied index.
        #[cfg_attr(not(feature = "planted-bugs"), allow(unused_variables))] applied_index: u64,
    ) -> Vec<RequestKey> {
        if self.round.is_some() || self.waiting.is_empty() {
            return Vec::new();
        }
        let raft = &raw.raft;
        #[cfg(feature = "planted-bugs")]
        if self.planted_bug == Some(crate::PlantedBug::ReadWithoutReadIndex)
            && raft.state == StateRole::Leader
        {
            // Planted: a leader answers from its own state without confirming it still leads.
            let reads: Vec<PendingRead> = self.waiting.drain(..).collect();
            let keys = reads.iter().map(|read| read.key).collect();
            self.confirmed
                .entry(applied_index)
                .or_default()
                .extend(reads);
            return keys;
        }
        match raft.state {
            StateRole::Leader => {
                // raft-rs silently drops a ReadIndex until the leader has committed an entry
                // of its own term (thesis §6.4): wait for that.
                if raft.raft_log.term(raft.raft_log.committed).ok() != Some(raft.term) {
                    return Vec::new();
                }
            }
            _ => {
                if raft.leader_id == INVALID_ID {
                    return Vec::new();
                }
            }
        }
        self.rounds_started += 1;
        let ctx = self.round_ctx(self.rounds_started);
        let reads = self.waiting.drain(..).collect();
        raw.read_index(ctx.clone());
        self.round = Some(ReadRound {
            ctx,
            reads,
            started_at: now,
        });
        Vec::new()
    }

    fn round_ctx(&self, number: u64) -> Vec<u8> {
        let mut ctx = Vec::with_capacity(24);
        ctx.extend_from_slice(&self.node.0.to_be_bytes());
        ctx.extend_from_slice(&self.nonce.to_be_bytes());
        ctx.extend_from_slice(&number.to_be_bytes());
        ctx
    }

    /// Drops the waiting reads whose request is answered already (it timed out: a follower
    /// that knows no leader queues reads no round takes), so the queue stays bounded by the
    /// requests in flight. Returns them, for the connection order to settle.
    pub(super) fn drop_answered(
        &mut self,
        answered: &dyn Fn(RequestKey) -> bool,
    ) -> Vec<PendingRead> {
        let (dropped, kept): (Vec<_>, Vec<_>) =
            self.waiting.drain(..).partition(|read| answered(read.key));
        self.waiting = kept.into();
        dropped.iter().for_each(|read| self.left(read));
        dropped
    }

    /// Takes in a `ReadState` from a Ready: if it answers the round in flight, that round is
    /// confirmed at its index (each read at its floor, if later). Others (from a round given up
    /// on) are ignored. Returns the requests it confirmed.
    pub(super) fn on_read_state(&mut self, read_state: ReadState) -> Vec<RequestKey> {
        let matches = self
            .round
            .as_ref()
            .is_some_and(|round| round.ctx == read_state.request_ctx);
        if !matches {
            return Vec::new();
        }
        let round = self.round.take().expect("checked above");
        let keys = round.reads.iter().map(|read| read.key).collect();
        for read in round.reads {
            let at = read_state.index.max(read.floor);
            self.confirmed.entry(at).or_default().push(read);
        }
        keys
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

    /// Takes the reads a node that just lost leadership can no longer serve, in their order:
    /// waiting reads that need a leader, and reads riding on a write (the write's commit, if it
    /// comes, is no longer this node's doing). The others stay.
    pub(super) fn take_needing_leader(&mut self) -> Vec<PendingRead> {
        let (mut moved, kept): (Vec<_>, Vec<_>) = self
            .waiting
            .drain(..)
            .partition(|read| read.kind.needs_leader());
        self.waiting = kept.into();
        for reads in self.confirmed.values_mut() {
            let (riding, confirmed): (Vec<_>, Vec<_>) =
                reads.drain(..).partition(|read| read.rides.is_some());
            *reads = confirmed;
            moved.extend(riding);
        }
        self.confirmed.retain(|_, reads| !reads.is_empty());
        moved.iter().for_each(|read| self.left(read));
        moved
    }

    /// Takes the confirmed (and riding) reads whose index `applied_index` has reached, in
    /// order, to be served now.
    pub(super) fn take_due(&mut self, applied_index: u64) -> Vec<PendingRead> {
        let mut due = Vec::new();
        while self
            .confirmed
            .first_key_value()
            .is_some_and(|(index, _)| *index <= applied_index)
        {
            let (_, reads) = self.confirmed.pop_first().expect("checked above");
            due.extend(reads);
        }
        due.iter().for_each(|read| self.left(read));
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Call, CommandLimits};
    use crate::ids::RequestId;
    use bytes::Bytes;

    fn config(rng_seed: u64) -> GroupConfig {
        GroupConfig {
            rng_seed,
            ..GroupConfig::for_tests(NodeId(1), crate::ids::GroupId(1))
        }
    }

    fn read(id: u64) -> PendingRead {
        let call = Call::parse(
            vec![Bytes::from("GET"), Bytes::from("k")],
            &CommandLimits::default(),
        )
        .expect("a read");
        PendingRead {
            key: (ClientId(1), RequestId(id)),
            kind: ReadKind::new(call),
            floor: 0,
            rides: None,
        }
    }

    #[test]
    fn an_answer_to_a_round_of_an_earlier_run_confirms_nothing() {
        let earlier = Reads::new(&config(1));
        let mut now = Reads::new(&config(2));
        now.round = Some(ReadRound {
            ctx: now.round_ctx(1),
            reads: vec![read(1)],
            started_at: Instant::ZERO,
        });
        let late = ReadState {
            index: 5,
            request_ctx: earlier.round_ctx(1),
        };
        assert!(now.on_read_state(late).is_empty());
        let answer = ReadState {
            index: 5,
            request_ctx: now.round_ctx(1),
        };
        assert_eq!(now.on_read_state(answer), vec![(ClientId(1), RequestId(1))]);
    }

    #[test]
    fn a_connections_next_read_is_floored_by_its_earlier_reads_until_they_are_served() {
        let mut reads = Reads::new(&config(1));
        let client = ClientId(1);
        assert_eq!(reads.floor_of_earlier(client), 0);
        let mut first = read(1);
        first.floor = 10; // e.g. waiting for the entry stamped with the leader's time
        reads.queue(first);
        let mut second = read(2); // floored as submit_read floors it
        second.floor = reads.floor_of_earlier(client);
        reads.queue(second);
        assert_eq!(reads.floor_of_earlier(client), 10);
        assert_eq!(reads.floor_of_earlier(ClientId(2)), 0);
        reads.round = Some(ReadRound {
            ctx: reads.round_ctx(1),
            reads: reads.waiting.drain(..).collect(),
            started_at: Instant::ZERO,
        });
        reads.on_read_state(ReadState {
            index: 4,
            request_ctx: reads.round_ctx(1),
        });
        assert_eq!(reads.take_due(4).len(), 0, "both wait for index 10");
        assert_eq!(reads.floor_of_earlier(client), 10);
        let served: Vec<u64> = reads.take_due(10).iter().map(|r| r.key.1 .0).collect();
        assert_eq!(served, [1, 2], "in the order sent");
        assert_eq!(reads.floor_of_earlier(client), 0);
        assert!(reads.floors.is_empty());
    }

    #[test]
    fn answered_reads_leave_the_queue() {
        let mut reads = Reads::new(&config(1));
        for id in 1..=4 {
            reads.queue(read(id));
        }
        let dropped = reads.drop_answered(&|(_, id)| id.0 % 2 == 1);
        assert_eq!(
            dropped.iter().map(|r| r.key.1 .0).collect::<Vec<_>>(),
            [1, 3]
        );
        assert_eq!(reads.pending(), 2);
    }
}
