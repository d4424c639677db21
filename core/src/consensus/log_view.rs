//! The in-memory view of one group's Raft log that raft-rs reads through [`raft::Storage`].
//!
//! raft-rs's `MemStorage` is the model. The core updates the view *before* it emits the
//! matching [`Persist`](crate::Output::Persist), because raft-rs may read back entries it has
//! handed out as soon as `advance_append_async` returns. Disk is read once, at startup, by
//! [`LogView::load`]: etcd's restart recipe.

use std::cell::Cell;
use std::ops::ControlFlow;

use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, StorageError};

use crate::error::{Error, Result};
use crate::ids::{GroupId, NodeId};
use crate::storage::{group_end, ColumnFamily, LogKey, StateKey, Store, WriteBatch};

/// The log of one group: the entries after the last snapshot, the hard state and the
/// configuration.
#[derive(Debug)]
pub(crate) struct LogView {
    group: GroupId,
    hard_state: HardState,
    conf_state: ConfState,
    /// The snapshot the log starts after; index 0 when the log was never compacted.
    snapshot_metadata: SnapshotMetadata,
    /// `entries[i]` has log index `snapshot_metadata.index + 1 + i`.
    entries: Vec<Entry>,
    /// Sum of [`entry_bytes`] over `entries`.
    entries_bytes: u64,
    /// The snapshot raft-rs gets when it asks for one: prepared by the group from a view of
    /// the store at its applied index.
    prepared: Option<Snapshot>,
    /// Set when raft-rs asked for a snapshot that `prepared` could not satisfy; the group
    /// prepares one and clears it.
    snapshot_wanted: Cell<bool>,
}

/// What an entry costs in memory, roughly: its payload and a fixed overhead for the rest.
pub(crate) fn entry_bytes(entry: &Entry) -> u64 {
    (entry.data.len() + entry.context.len() + 32) as u64
}

impl LogView {
    /// An empty log whose configuration is `voters`: how a bootstrapping group starts. Every
    /// founding member starts from the same state (term 0, index 0), so no entry is needed to
    /// agree on the first configuration.
    pub(crate) fn bootstrap(group: GroupId, voters: Vec<u64>) -> LogView {
        let conf_state = ConfState {
            voters,
            ..ConfState::default()
        };
        LogView {
            group,
            hard_state: HardState::default(),
            conf_state,
            snapshot_metadata: SnapshotMetadata::default(),
            entries: Vec::new(),
            entries_bytes: 0,
            prepared: None,
            snapshot_wanted: Cell::new(false),
        }
    }

    /// Reads the group's durable log from `store`. `None` when the store has nothing for the
    /// group (a new node).
    pub(crate) fn load(group: GroupId, store: &dyn Store) -> Result<Option<LogView>> {
        let state_cf = ColumnFamily::raft_state(group);
        let Some(hard_state_bytes) = store.get(state_cf, &StateKey::HardState.encode(group))?
        else {
            return Ok(None);
        };
        let hard_state = decode::<HardState>(&hard_state_bytes, "hard state")?;
        let conf_state = match store.get(state_cf, &StateKey::ConfState.encode(group))? {
            Some(bytes) => decode::<ConfState>(&bytes, "conf state")?,
            None => ConfState::default(),
        };
        let snapshot_metadata =
            match store.get(state_cf, &StateKey::SnapshotMetadata.encode(group))? {
                Some(bytes) => decode::<SnapshotMetadata>(&bytes, "snapshot metadata")?,
                None => SnapshotMetadata::default(),
            };

        let mut entries = Vec::new();
        let mut failure = None;
        let start = LogKey {
            group,
            index: snapshot_metadata.index + 1,
        }
        .encode();
        store.scan(
            ColumnFamily::raft_log(group),
            &start,
            &group_end(group),
            &mut |_, value| match Entry::parse_from_bytes(value) {
                Ok(entry) => {
                    entries.push(entry);
                    ControlFlow::Continue(())
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    ControlFlow::Break(())
                }
            },
        )?;
        if let Some(e) = failure {
            return Err(Error::Corrupt(format!("group {group} log entry: {e}")));
        }
        let first = snapshot_metadata.index + 1;
        for (i, entry) in entries.iter().enumerate() {
            if entry.index != first + i as u64 {
                return Err(Error::Corrupt(format!(
                    "group {group} log has a gap: expected index {}, found {}",
                    first + i as u64,
                    entry.index
                )));
            }
        }
        let entries_bytes = entries.iter().map(entry_bytes).sum();
        Ok(Some(LogView {
            group,
            hard_state,
            conf_state,
            snapshot_metadata,
            entries,
            entries_bytes,
            prepared: None,
            snapshot_wanted: Cell::new(false),
        }))
    }

    /// The writes that make this view durable from scratch (used when a group bootstraps, so
    /// that a restart finds its configuration).
    pub(crate) fn initial_writes(&self, batch: &mut WriteBatch) {
        let state_cf = ColumnFamily::raft_state(self.group);
        batch.put(
            state_cf,
            StateKey::HardState.encode(self.group),
            encode(&self.hard_state),
        );
        batch.put(
            state_cf,
            StateKey::ConfState.encode(self.group),
            encode(&self.conf_state),
        );
    }

    /// Appends `entries`, first dropping any entries they overwrite, and adds the matching
    /// writes to `batch`.
    ///
    /// # Panics
    /// If `entries` would overwrite the compacted part of the log or leave a gap: raft-rs never
    /// asks for either.
    pub(crate) fn append(&mut self, entries: &[Entry], batch: &mut WriteBatch) {
        let Some(first_new) = entries.first() else {
            return;
        };
        let first = self.first_index();
        assert!(
            first_new.index >= first,
            "append at {} overwrites the compacted log (first index {first})",
            first_new.index
        );
        assert!(
            first_new.index <= self.last_index() + 1,
            "append at {} leaves a gap after {}",
            first_new.index,
            self.last_index()
        );
        let last_old = self.last_index();
        let kept = (first_new.index - first) as usize;
        self.entries_bytes -= self.entries[kept..].iter().map(entry_bytes).sum::<u64>();
        self.entries.truncate(kept);
        self.entries.extend_from_slice(entries);
        self.entries_bytes += entries.iter().map(entry_bytes).sum::<u64>();

        let log_cf = ColumnFamily::raft_log(self.group);
        for entry in entries {
            let key = LogKey {
                group: self.group,
                index: entry.index,
            };
            batch.put(log_cf, key.encode(), encode(entry));
        }
        // Entries past the new end were overwritten by a new leader: they must not come back
        // after a restart.
        let last_new = self.last_index();
        if last_old > last_new {
            let start = LogKey {
                group: self.group,
                index: last_new + 1,
            }
            .encode();
            batch.delete_range(log_cf, start, group_end(self.group));
        }
    }

    /// Records a new hard state and adds its write to `batch`.
    pub(crate) fn set_hard_state(&mut self, hard_state: HardState, batch: &mut WriteBatch) {
        let key = StateKey::HardState.encode(self.group);
        batch.put(
            ColumnFamily::raft_state(self.group),
            key,
            encode(&hard_state),
        );
        self.hard_state = hard_state;
    }

    /// Records a new configuration (applied from a conf-change entry) and adds its write to
    /// `batch`.
    pub(crate) fn set_conf_state(&mut self, conf_state: ConfState, batch: &mut WriteBatch) {
        let key = StateKey::ConfState.encode(self.group);
        batch.put(
            ColumnFamily::raft_state(self.group),
            key,
            encode(&conf_state),
        );
        self.conf_state = conf_state;
    }

    /// Raises the recorded commit index to `index` if it is lower. After a restart the applied
    /// index can be ahead of the durable commit index (applying does not wait for the hard
    /// state's fsync); whatever was applied was committed, so raft-rs may start from there.
    pub(crate) fn raise_commit(&mut self, index: u64) {
        if self.hard_state.commit < index {
            assert!(
                index <= self.last_index(),
                "applied index {index} is past the last log index {}",
                self.last_index()
            );
            self.hard_state.commit = index;
        }
    }

    /// Drops every entry up to and including `index` (applied entries only: the state
    /// machine's data now stands for them) and adds the matching writes to `batch`. raft-rs
    /// still learns the term of `index` from the recorded metadata.
    ///
    /// The metadata's configuration is the current one, which may be newer than `index`: it
    /// is only read back for the term and the start of the log (a restart reads the
    /// configuration from its own record).
    ///
    /// # Panics
    /// If `index` is not in the log.
    pub(crate) fn compact(&mut self, index: u64, batch: &mut WriteBatch) {
        assert!(
            index >= self.first_index() && index <= self.last_index(),
            "compacting to {index}, outside the log {}..={}",
            self.first_index(),
            self.last_index()
        );
        let term = self.entry(index).term;
        let dropped = (index + 1 - self.first_index()) as usize;
        self.entries_bytes -= self.entries[..dropped].iter().map(entry_bytes).sum::<u64>();
        self.entries.drain(..dropped);
        self.snapshot_metadata = SnapshotMetadata {
            conf_state: Some(self.conf_state.clone()).into(),
            index,
            term,
            ..SnapshotMetadata::default()
        };
        batch.put(
            ColumnFamily::raft_state(self.group),
            StateKey::SnapshotMetadata.encode(self.group),
            encode(&self.snapshot_metadata),
        );
        batch.delete_range(
            ColumnFamily::raft_log(self.group),
            LogKey {
                group: self.group,
                index: 0,
            }
            .encode(),
            LogKey {
                group: self.group,
                index: index + 1,
            }
            .encode(),
        );
        if self
            .prepared
            .as_ref()
            .is_some_and(|prepared| prepared.get_metadata().index < index)
        {
            self.prepared = None;
        }
    }

    /// Replaces the whole log with a snapshot raft-rs accepted (raft-rs `MemStorage::
    /// apply_snapshot` is the model) and adds the matching writes to `batch`: the log is
    /// emptied, the configuration and the start of the log are the snapshot's.
    pub(crate) fn apply_snapshot(&mut self, metadata: &SnapshotMetadata, batch: &mut WriteBatch) {
        self.snapshot_metadata = metadata.clone();
        self.entries.clear();
        self.entries_bytes = 0;
        self.prepared = None;
        self.hard_state.term = self.hard_state.term.max(metadata.term);
        self.hard_state.commit = self.hard_state.commit.max(metadata.index);
        let state_cf = ColumnFamily::raft_state(self.group);
        batch.put(
            state_cf,
            StateKey::SnapshotMetadata.encode(self.group),
            encode(metadata),
        );
        batch.put(
            state_cf,
            StateKey::HardState.encode(self.group),
            encode(&self.hard_state),
        );
        batch.delete_range(
            ColumnFamily::raft_log(self.group),
            LogKey {
                group: self.group,
                index: 0,
            }
            .encode(),
            group_end(self.group),
        );
        self.set_conf_state(metadata.get_conf_state().clone(), batch);
    }

    /// Offers `snapshot` to raft-rs from now on, until the log is compacted past it.
    pub(crate) fn prepare_snapshot(&mut self, snapshot: Snapshot) {
        self.snapshot_wanted.set(false);
        self.prepared = Some(snapshot);
    }

    /// Whether raft-rs asked for a snapshot that is not prepared yet.
    pub(crate) fn is_snapshot_wanted(&self) -> bool {
        self.snapshot_wanted.get()
    }

    /// The index the log was last compacted to (0 if never).
    pub(crate) fn snapshot_index(&self) -> u64 {
        self.snapshot_metadata.index
    }

    /// Bytes the entries in memory take, roughly.
    pub(crate) fn entries_bytes(&self) -> u64 {
        self.entries_bytes
    }

    /// The current voters and learners.
    pub(crate) fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    /// The index of the first entry still held.
    pub(crate) fn first_index(&self) -> u64 {
        self.snapshot_metadata.index + 1
    }

    /// The index of the last entry held (the snapshot index when the log is empty).
    pub(crate) fn last_index(&self) -> u64 {
        self.snapshot_metadata.index + self.entries.len() as u64
    }

    /// Number of entries held in memory.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn entry(&self, index: u64) -> &Entry {
        &self.entries[(index - self.first_index()) as usize]
    }
}

impl raft::Storage for LogView {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState {
            hard_state: self.hard_state.clone(),
            conf_state: self.conf_state.clone(),
        })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.first_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        assert!(
            high <= self.last_index() + 1,
            "entries up to {high} asked for, last index is {}",
            self.last_index()
        );
        let offset = self.first_index();
        let mut entries = self.entries[(low - offset) as usize..(high - offset) as usize].to_vec();
        raft::util::limit_size(&mut entries, max_size.into());
        Ok(entries)
    }

    fn term(&self, index: u64) -> raft::Result<u64> {
        if index == self.snapshot_metadata.index {
            return Ok(self.snapshot_metadata.term);
        }
        if index < self.first_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if index > self.last_index() {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(self.entry(index).term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(LogView::first_index(self))
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(LogView::last_index(self))
    }

    /// The prepared snapshot if it is recent enough: at or past `request_index` and past the
    /// compacted log, so that the follower can go on from the log after installing it, and
    /// with `to` in its configuration.
    /// Otherwise "temporarily unavailable", and the group prepares a new one; raft-rs asks
    /// again on the follower's next heartbeat response (TiKV generates snapshots the same way).
    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        let needed = request_index.max(self.snapshot_metadata.index);
        // A follower refuses a snapshot whose configuration does not name it, so one prepared
        // before the follower was added would be sent again and again.
        let fits = |prepared: &Snapshot| {
            prepared.get_metadata().index >= needed
                && crate::membership::is_member(
                    prepared.get_metadata().get_conf_state(),
                    NodeId(to),
                )
        };
        match &self.prepared {
            Some(prepared) if fits(prepared) => Ok(prepared.clone()),
            _ => {
                self.snapshot_wanted.set(true);
                Err(raft::Error::Store(
                    StorageError::SnapshotTemporarilyUnavailable,
                ))
            }
        }
    }
}

/// Serialises a raft-rs protobuf message.
pub(crate) fn encode(message: &dyn protobuf::Message) -> Vec<u8> {
    message
        .write_to_bytes()
        .expect("raft-rs messages always serialise")
}

fn decode<M: protobuf::Message>(bytes: &[u8], what: &str) -> Result<M> {
    M::parse_from_bytes(bytes).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStore;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            data: vec![index as u8].into(),
            ..Entry::default()
        }
    }

    #[test]
    fn overwritten_suffix_is_deleted_from_the_store() {
        // Goal: a restart must never resurrect entries a new leader overwrote. Method: append
        // 1..=5, overwrite from 3 with a shorter tail, write both batches, reload.
        let group = GroupId(1);
        let mut store = MemStore::new();
        let mut view = LogView::bootstrap(group, vec![1, 2, 3]);
        let mut batch = WriteBatch::new();
        view.initial_writes(&mut batch);
        view.append(
            &(1..=5).map(|i| entry(i, 1)).collect::<Vec<_>>(),
            &mut batch,
        );
        store.write(batch).unwrap();

        let mut batch = WriteBatch::new();
        view.append(&[entry(3, 2)], &mut batch);
        store.write(batch).unwrap();
        assert_eq!(view.last_index(), 3);

        let loaded = LogView::load(group, &store).unwrap().unwrap();
        assert_eq!(loaded.last_index(), 3);
        assert_eq!(raft::Storage::term(&loaded, 3).unwrap(), 2);
        assert_eq!(loaded.conf_state().voters, vec![1, 2, 3]);
    }

    #[test]
    fn compaction_and_snapshot_install_survive_a_reload() {
        // Goal: what `compact` and `apply_snapshot` write is what a restart reads back: the
        // log starts after the snapshot, whose term raft-rs can still ask for. Method: append
        // 1..=10, compact to 6, reload; then install a snapshot at 20, reload.
        let group = GroupId(1);
        let mut store = MemStore::new();
        let mut view = LogView::bootstrap(group, vec![1, 2, 3]);
        let mut batch = WriteBatch::new();
        view.initial_writes(&mut batch);
        view.append(
            &(1..=10).map(|i| entry(i, 1 + i / 5)).collect::<Vec<_>>(),
            &mut batch,
        );
        store.write(batch).unwrap();
        let bytes_before = view.entries_bytes();

        let mut batch = WriteBatch::new();
        view.compact(6, &mut batch);
        store.write(batch).unwrap();
        assert_eq!((view.first_index(), view.last_index()), (7, 10));
        assert!(view.entries_bytes() < bytes_before);
        let loaded = LogView::load(group, &store).unwrap().unwrap();
        assert_eq!((loaded.first_index(), loaded.last_index()), (7, 10));
        assert_eq!(raft::Storage::term(&loaded, 6).unwrap(), 2);
        assert!(
            raft::Storage::entries(&loaded, 5, 8, None, GetEntriesContext::empty(false)).is_err()
        );

        let metadata = SnapshotMetadata {
            conf_state: Some(ConfState {
                voters: vec![1, 2, 3, 4],
                ..ConfState::default()
            })
            .into(),
            index: 20,
            term: 5,
            ..SnapshotMetadata::default()
        };
        let mut batch = WriteBatch::new();
        view.apply_snapshot(&metadata, &mut batch);
        store.write(batch).unwrap();
        let loaded = LogView::load(group, &store).unwrap().unwrap();
        assert_eq!((loaded.first_index(), loaded.last_index()), (21, 20));
        assert_eq!(raft::Storage::term(&loaded, 20).unwrap(), 5);
        assert_eq!(loaded.conf_state().voters, vec![1, 2, 3, 4]);
        let state = raft::Storage::initial_state(&loaded).unwrap();
        assert_eq!((state.hard_state.term, state.hard_state.commit), (5, 20));
    }

    #[test]
    fn a_snapshot_is_offered_only_when_recent_enough() {
        // Goal: raft-rs gets the prepared snapshot only if it covers what it asked for and the
        // compacted log; otherwise it is told to wait and the group is asked to prepare one.
        let mut view = LogView::bootstrap(GroupId(1), vec![1]);
        let ask = |view: &LogView, index| raft::Storage::snapshot(view, index, 2);
        assert!(ask(&view, 0).is_err());
        assert!(view.is_snapshot_wanted());
        let mut snapshot = Snapshot::default();
        snapshot.mut_metadata().index = 8;
        snapshot.mut_metadata().mut_conf_state().voters = vec![1, 2];
        view.prepare_snapshot(snapshot);
        assert!(!view.is_snapshot_wanted());
        assert_eq!(ask(&view, 8).unwrap().get_metadata().index, 8);
        assert!(ask(&view, 9).is_err(), "older than requested");
        assert!(
            raft::Storage::snapshot(&view, 8, 3).is_err(),
            "node 3 is not in its configuration"
        );
    }

    #[test]
    fn a_new_store_has_no_log() {
        assert!(LogView::load(GroupId(0), &MemStore::new())
            .unwrap()
            .is_none());
    }
}
