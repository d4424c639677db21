//! A simulated disk that keeps only what was synced: a crash loses every write made since the
//! last fsync, as LazyFS makes a real file system do in etcd's Jepsen tests.
//!
//! Reads see every write at once (a page cache); [`SimDisk::write_synced`] with `sync` makes
//! everything written so far durable; [`SimDisk::crash`] throws the rest away. Clones share one
//! disk, so a node can read through one handle while its simulated writer writes through
//! another.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use protobuf::Message as _;
use seshat_core::eraftpb::Entry;
use seshat_core::storage::{
    inspect, ColumnFamily, LogKey, MemStore, ScanVisitor, Store, StoreError, StoreView, WriteBatch,
    WriteOp,
};
use seshat_core::GroupId;

#[derive(Debug, Default)]
struct State {
    /// What survives a crash.
    durable: MemStore,
    /// What reads see: `durable` plus every write since the last sync.
    visible: MemStore,
    /// Writes since the last sync, in order.
    unsynced: Vec<WriteBatch>,
    /// Log entries the node had applied when a compaction or a snapshot install deleted them,
    /// by stored key: what the checks need to compare logs after compaction. Kept across
    /// crashes; it is the test's record, not the node's.
    compacted: BTreeMap<Vec<u8>, Vec<u8>>,
    fsyncs: u64,
}

/// One node's simulated disk.
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    state: Arc<Mutex<State>>,
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    /// Writes `batch` atomically; with `sync`, everything written so far becomes durable.
    pub fn write_synced(&self, batch: WriteBatch, sync: bool) -> Result<(), StoreError> {
        let mut state = self.state.lock().expect("disk lock");
        state.keep_applied_entries(&batch)?;
        state.visible.write(batch.clone())?;
        state.unsynced.push(batch);
        if sync {
            let pending = std::mem::take(&mut state.unsynced);
            for batch in pending {
                state.durable.write(batch)?;
            }
            state.fsyncs += 1;
        }
        Ok(())
    }

    /// The machine lost power: every write since the last sync is gone.
    pub fn crash(&self) {
        let mut state = self.state.lock().expect("disk lock");
        state.unsynced.clear();
        state.visible = state.durable.fork();
    }

    /// Syncs performed so far.
    pub fn fsyncs(&self) -> u64 {
        self.state.lock().expect("disk lock").fsyncs
    }

    /// Writes not yet synced (they would be lost by a crash now).
    pub fn unsynced_batches(&self) -> usize {
        self.state.lock().expect("disk lock").unsynced.len()
    }

    /// The entries of `group` that this node applied and then deleted (compaction, snapshot
    /// install), in index order.
    pub fn compacted_entries(&self, group: GroupId) -> Vec<Entry> {
        let state = self.state.lock().expect("disk lock");
        state
            .compacted
            .iter()
            .filter(|(key, _)| LogKey::decode(key).is_some_and(|k| k.group == group))
            .map(|(_, value)| Entry::parse_from_bytes(value).expect("stored entries parse"))
            .collect()
    }

    /// Every pair of `cf` that reads see now, in key order.
    pub fn dump(&self, cf: ColumnFamily) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.state.lock().expect("disk lock").visible.dump(cf)
    }
}

impl State {
    /// Before `batch` deletes a range of a log, records the entries in it that were applied.
    fn keep_applied_entries(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        for op in batch.ops() {
            let WriteOp::DeleteRange { cf, start, end } = op else {
                continue;
            };
            if !matches!(cf, ColumnFamily::SystemRaftLog | ColumnFamily::DataRaftLog) {
                continue;
            }
            let Some(group) = LogKey::decode(start).map(|key| key.group) else {
                continue;
            };
            let applied = inspect::applied_index(&self.visible, group)?;
            let compacted = &mut self.compacted;
            self.visible.scan(
                *cf,
                start,
                end,
                &mut |key, value| match LogKey::decode(key) {
                    Some(log_key) if log_key.index <= applied => {
                        compacted.insert(key.to_vec(), value.to_vec());
                        ControlFlow::Continue(())
                    }
                    _ => ControlFlow::Break(()),
                },
            )?;
        }
        Ok(())
    }
}

impl Store for SimDisk {
    fn get(&self, cf: ColumnFamily, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.state.lock().expect("disk lock").visible.get(cf, key)
    }

    fn scan(
        &self,
        cf: ColumnFamily,
        start: &[u8],
        end: &[u8],
        visit: &mut ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        // Copy the range out first: `visit` may take a while, and the lock is the disk's.
        let mut pairs = Vec::new();
        self.state
            .lock()
            .expect("disk lock")
            .visible
            .scan(cf, start, end, &mut |k, v| {
                pairs.push((k.to_vec(), v.to_vec()));
                ControlFlow::Continue(())
            })?;
        for (key, value) in pairs {
            if visit(&key, &value).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn write(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        self.write_synced(batch, false)
    }

    fn view(&self) -> Arc<dyn StoreView> {
        self.state.lock().expect("disk lock").visible.view()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: u8) -> WriteBatch {
        let mut batch = WriteBatch::new();
        batch.put(ColumnFamily::DataKv, vec![key], vec![key]);
        batch
    }

    #[test]
    fn a_crash_keeps_synced_writes_and_loses_the_rest() {
        let mut disk = SimDisk::new();
        disk.write(put(1)).unwrap();
        disk.write_synced(put(2), true).unwrap();
        disk.write(put(3)).unwrap();
        assert_eq!(
            disk.dump(ColumnFamily::DataKv).len(),
            3,
            "reads see unsynced writes"
        );
        assert_eq!(disk.unsynced_batches(), 1);
        disk.crash();
        let keys: Vec<u8> = disk
            .dump(ColumnFamily::DataKv)
            .iter()
            .map(|(k, _)| k[0])
            .collect();
        // The sync made write 1 durable too: an fsync covers everything written before it.
        assert_eq!(keys, vec![1, 2]);
        assert_eq!(disk.fsyncs(), 1);
    }

    #[test]
    fn deleted_log_entries_are_kept_for_the_checks_only_if_applied() {
        // Goal: compaction keeps its entries visible to the checks, while a new leader's
        // truncation of unapplied entries does not. Method: entries 1..=6, applied 4, delete
        // 1..=3 (compaction) and 5.. (truncation).
        let group = GroupId(1);
        let disk = SimDisk::new();
        let mut batch = WriteBatch::new();
        for index in 1..=6u64 {
            let entry = Entry {
                index,
                term: 1,
                ..Entry::default()
            };
            batch.put(
                ColumnFamily::DataRaftLog,
                LogKey { group, index }.encode(),
                entry.write_to_bytes().unwrap(),
            );
        }
        batch.put(
            ColumnFamily::DataRaftState,
            seshat_core::storage::StateKey::AppliedIndex.encode(group),
            4u64.to_be_bytes().to_vec(),
        );
        disk.write_synced(batch, true).unwrap();
        let mut batch = WriteBatch::new();
        batch.delete_range(
            ColumnFamily::DataRaftLog,
            LogKey { group, index: 0 }.encode(),
            LogKey { group, index: 4 }.encode(),
        );
        batch.delete_range(
            ColumnFamily::DataRaftLog,
            LogKey { group, index: 5 }.encode(),
            seshat_core::storage::group_end(group),
        );
        disk.write_synced(batch, false).unwrap();
        let kept: Vec<u64> = disk
            .compacted_entries(group)
            .iter()
            .map(|e| e.index)
            .collect();
        assert_eq!(kept, vec![1, 2, 3]);
        assert_eq!(
            disk.dump(ColumnFamily::DataRaftLog).len(),
            1,
            "only entry 4 is left"
        );
    }

    #[test]
    fn clones_share_one_disk() {
        let disk = SimDisk::new();
        let reader = disk.clone();
        disk.write_synced(put(7), false).unwrap();
        assert_eq!(
            reader.get(ColumnFamily::DataKv, &[7]).unwrap(),
            Some(vec![7])
        );
        disk.crash();
        assert_eq!(reader.get(ColumnFamily::DataKv, &[7]).unwrap(), None);
    }
}
