//! The state machine a group's log drives.

use crate::kv::{ApplyContext, Inapplicable, Keyspace, KeyspaceState, Proposal};
use crate::reply::Reply;
use crate::storage::WriteBatch;
use crate::system::Directory;

/// The state machine a group's log drives.
#[derive(Debug)]
pub(crate) enum Machine {
    /// Group 0: the member directory.
    System(Directory),
    /// Groups 1..N: a keyspace.
    Data(Keyspace),
}

impl Machine {
    /// Applies a committed proposal within the apply pass `cx`; the reply goes to whoever
    /// proposed it. A proposal this machine cannot apply changes nothing.
    pub(super) fn apply(
        &mut self,
        cx: &mut ApplyContext<'_>,
        proposal: &Proposal,
    ) -> Result<Reply, Inapplicable> {
        match self {
            Machine::System(directory) => directory.apply(cx, proposal),
            Machine::Data(keyspace) => keyspace.apply(cx, proposal),
        }
    }

    /// Ends an apply pass: a keyspace records its key count in `batch`.
    pub(super) fn finish_pass(&self, batch: &mut WriteBatch) {
        if let Machine::Data(keyspace) = self {
            keyspace.finish_pass(batch);
        }
    }

    /// The pairs a snapshot of it holds: directory records, or key records and deadline
    /// entries.
    pub(super) fn pairs(&self) -> u64 {
        match self {
            Machine::System(directory) => directory.record_count(),
            Machine::Data(keyspace) => keyspace.pairs(),
        }
    }

    /// A keyspace's counts and cluster time, for a snapshot (default for the directory).
    pub(super) fn keyspace_state(&self) -> KeyspaceState {
        match self {
            Machine::System(_) => KeyspaceState::default(),
            Machine::Data(keyspace) => keyspace.state(),
        }
    }
}
