//! A group's log compaction, and the snapshots it prepares for followers that need a
//! compacted entry (see [`crate::snapshot`] for the whole path).

use raft::eraftpb::{Snapshot, SnapshotMetadata};

use super::{write, Group};
use crate::snapshot::{SnapshotDescriptor, SnapshotSource};
use crate::storage::{Store, WriteBatch};

impl Group {
    /// Compacts the log once `snapshot_interval_entries` entries have applied since the last
    /// compaction, or the entries in memory reach `snapshot_interval_bytes`. By count it keeps
    /// the newest tenth of an interval, so a follower a little behind catches up from the log
    /// rather than a snapshot; by size it keeps nothing it has applied, since memory is the
    /// point. The data in the store stands for every entry dropped.
    ///
    /// The writes go straight to the store: they touch only entries that are applied (so
    /// durable) and the compaction record, which nothing in flight writes.
    pub(super) fn maybe_compact(&mut self, store: &mut dyn Store) {
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
    pub(super) fn prepare_snapshot(&mut self, store: &dyn Store) {
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
            keyspace: self.machine.keyspace_state(),
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
}
