//! A data group leader's side of key expiry: the cluster time its entries carry, the active
//! expiry cycle, and the time floor of reads.
//!
//! Expiry is decided by the cluster time of the applied log (see [`crate::kv`]), which moves
//! only with entries. Two things keep it close to the wall clock:
//!
//! - **Active expiry** (Redis's `activeExpireCycle` is the model): every
//!   [`Expiry::CYCLE`], the leader lists up to [`Expiry::BATCH`] keys whose deadline has
//!   passed, soonest first, and proposes one [`Proposal::Expire`] entry that deletes them at its
//!   timestamp. One such entry is in flight at a time; a full batch runs the next cycle at
//!   once, so the reclaim rate follows the expiry rate and memory stays bounded.
//! - **The time floor of reads.** A read is served at the cluster time of the index it is
//!   served at. When that time lags the leader's clock by more than [`Expiry::LAG_MAX`] (no
//!   write for a while), the read waits for an entry stamped now: the last one this leader
//!   proposed if it is recent enough, else an expiry entry proposed for the purpose. So a TTL
//!   is read at most `LAG_MAX` stale, and reading stays one ReadIndex round the rest of the
//!   time. Only answers about keys with a deadline depend on the cluster time, so a leader
//!   with no such key, and no entry it has not applied, serves at any cluster time: a
//!   read-only load without TTLs writes nothing.

use std::time::Duration;

use bytes::Bytes;

use super::Group;
use crate::consensus::machine::Machine;
use crate::kv::Proposal;
use crate::storage::Store;
use crate::time::{Instant, Now};

/// A leader's bookkeeping for expiry.
#[derive(Debug, Default)]
pub(super) struct Expiry {
    /// The last entry this node proposed with a timestamp: index, term, timestamp.
    stamped: Option<(u64, u64, u64)>,
    /// The expiry entry in flight: index and term.
    in_flight: Option<(u64, u64)>,
    /// When the next cycle may run.
    next_cycle_at: Instant,
}

impl Expiry {
    /// How often the active expiry cycle runs (Redis: 10 times a second).
    pub(super) const CYCLE: Duration = Duration::from_millis(100);
    /// Most keys one expiry entry deletes.
    pub(super) const BATCH: usize = 256;
    /// How far the cluster time a read is served at may lag the leader's clock, ms.
    pub(super) const LAG_MAX: u64 = 20;
}

impl Group {
    /// Notes an entry this node just proposed, as leader, with timestamp `unix_ms`.
    pub(super) fn note_stamped(&mut self, unix_ms: u64) {
        let index = self.raw.raft.raft_log.last_index();
        self.expiry.stamped = Some((index, self.raw.raft.term, unix_ms));
    }

    /// Runs the active expiry cycle if it is due: proposes the deletion of the keys whose
    /// deadline has passed by `now`.
    pub(crate) fn run_expiry_cycle(&mut self, now: Now, store: &dyn Store) {
        if now.instant < self.expiry.next_cycle_at || self.expiry_entry_in_flight() {
            return;
        }
        let Some(clock) = self.leading_clock() else {
            return;
        };
        let Machine::Data(keyspace) = &self.machine else {
            return;
        };
        let due = keyspace.due_keys(store, now.unix_ms.max(clock), Expiry::BATCH);
        let full = due.len() == Expiry::BATCH;
        self.expiry.next_cycle_at = if full {
            now.instant
        } else {
            now.instant + Expiry::CYCLE
        };
        if !due.is_empty() {
            self.propose_expiry(now.unix_ms, due);
        }
    }

    /// The index a read arriving at `unix_ms` must be served at or after so that the cluster
    /// time it reads at lags `unix_ms` by at most [`Expiry::LAG_MAX`]; 0 if any will do.
    pub(super) fn time_floor(&mut self, unix_ms: u64, store: &dyn Store) -> u64 {
        let Some(clock) = self.leading_clock() else {
            return 0;
        };
        if unix_ms <= clock + Expiry::LAG_MAX {
            return 0;
        }
        let Machine::Data(keyspace) = &self.machine else {
            return 0;
        };
        // No key has a deadline, and any entry that could give one applies after this read
        // arrived, stamped by this leader from then on: no answer depends on the lag.
        if keyspace.state().expiring == 0
            && self.applied_index == self.raw.raft.raft_log.last_index()
        {
            return 0;
        }
        let term = self.raw.raft.term;
        if let Some((index, stamp_term, stamp)) = self.expiry.stamped {
            if stamp_term == term
                && index > self.applied_index
                && stamp + Expiry::LAG_MAX >= unix_ms
            {
                return index;
            }
        }
        let due = keyspace.due_keys(store, unix_ms.max(clock), Expiry::BATCH);
        if self.propose_expiry(unix_ms, due) {
            self.raw.raft.raft_log.last_index()
        } else {
            0
        }
    }

    /// The cluster time of the applied log, if this node leads a data group.
    fn leading_clock(&self) -> Option<u64> {
        match &self.machine {
            Machine::Data(keyspace) if self.is_leader() => Some(keyspace.state().clock_ms),
            _ => None,
        }
    }

    fn expiry_entry_in_flight(&self) -> bool {
        self.expiry.in_flight.is_some_and(|(index, term)| {
            index > self.applied_index && term == self.raw.raft.term && self.is_leader()
        })
    }

    /// Proposes an expiry entry; whether raft-rs took it.
    fn propose_expiry(&mut self, unix_ms: u64, keys: Vec<Bytes>) -> bool {
        let proposal = Proposal::Expire { unix_ms, keys };
        if self.raw.propose(Vec::new(), proposal.encode()).is_err() {
            return false;
        }
        self.note_stamped(unix_ms);
        self.expiry.in_flight = Some((self.raw.raft.raft_log.last_index(), self.raw.raft.term));
        true
    }
}
