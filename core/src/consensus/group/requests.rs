//! A group's side of client requests: writes proposed or held, reads queued, riding or held,
//! and reads served at their index, all in connection order (see [`crate::consensus::order`]).

use raft::StateRole;

use super::Group;
use crate::cmd::Call;
use crate::consensus::machine::Machine;
use crate::consensus::order::Admitted;
use crate::consensus::outbox::{Outbox, RequestKey};
use crate::consensus::proposals::ProposeError;
use crate::consensus::reads::PendingRead;
use crate::kv::{ApplyContext, OfflineRead, Proposal, ReadKind};
#[cfg(feature = "planted-bugs")]
use crate::reply::Reply;
use crate::storage::Store;

impl Group {
    /// Takes a client write: proposes it, or holds it behind an earlier read of its connection
    /// that waits for confirmation (see [`crate::consensus::order`]). Its reply comes as a
    /// completion once the entry applies.
    pub(crate) fn submit_write(
        &mut self,
        key: RequestKey,
        call: Call,
        unix_ms: u64,
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
        let proposal = Proposal::Command {
            unix_ms,
            args: call.into_args(),
        };
        self.raw
            .propose(Vec::new(), proposal.encode())
            .map_err(|_| ProposeError::Dropped)?;
        #[cfg(feature = "planted-bugs")]
        if self.planted_bug == Some(crate::PlantedBug::AckBeforeCommit)
            && matches!(&proposal, Proposal::Command { args, .. } if args[0].eq_ignore_ascii_case(b"set"))
        {
            // Planted: "OK" as soon as the entry is in the leader's log, committed or not.
            out.completions.push((key, Reply::ok()));
            return Ok(Admitted::Proposed);
        }
        self.track_proposal(key, out);
        self.note_stamped(unix_ms);
        let index = self.raw.raft.raft_log.last_index();
        self.order.wrote(key.0, index);
        Ok(Admitted::Proposed)
    }

    /// Waits for the entry just proposed (the last in the log) to apply, replying to `key` then.
    pub(super) fn track_proposal(&mut self, key: RequestKey, out: &mut Outbox) {
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
    /// behind a held request of its connection. On a leader it is also served at a cluster
    /// time close to `unix_ms` (see [`super::expiry`]).
    pub(crate) fn submit_read(
        &mut self,
        key: RequestKey,
        kind: ReadKind,
        unix_ms: u64,
        store: &dyn Store,
    ) -> Admitted {
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
        let floor = floor
            .max(self.time_floor(unix_ms, store))
            .max(self.reads.floor_of_earlier(client));
        let raft = &self.raw.raft;
        let rides = (raft.state == StateRole::Leader
            && floor > raft.raft_log.committed
            && !self.order.has_unconfirmed_read(client)
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
    pub(super) fn leading_term(&self) -> Option<u64> {
        (self.raw.raft.state == StateRole::Leader).then_some(self.raw.raft.term)
    }

    /// Serves the reads due once `self.applied_index` has applied: through the apply pass
    /// `pass` when called between two of its entries, else from the store. A riding read whose
    /// write this node no longer leads for is answered `TRYAGAIN` (see `riding_read_lost`).
    pub(super) fn serve_due_reads(
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
                out.completions.push((read.key, super::riding_read_lost()));
                continue;
            }
            if pass.is_none() && read.kind.is_unbounded() {
                let offline = OfflineRead::new(read.kind, keyspace, store.view());
                out.offline_reads.push((read.key, offline));
                continue;
            }
            let reply = read.kind.serve(keyspace, store, pass);
            out.completions.push((read.key, reply));
        }
    }
}
