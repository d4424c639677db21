//! A simulated disk that keeps only what was synced: a crash loses every write made since the
//! last fsync, as LazyFS makes a real file system do in etcd's Jepsen tests.
//!
//! Reads see every write at once (a page cache); [`SimDisk::write_synced`] with `sync` makes
//! everything written so far durable; [`SimDisk::crash`] throws the rest away. Clones share one
//! disk, so a node can read through one handle while its simulated writer writes through
//! another.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use seshat_core::storage::{ColumnFamily, MemStore, ScanVisitor, Store, StoreError, WriteBatch};

#[derive(Debug, Default)]
struct State {
    /// What survives a crash.
    durable: MemStore,
    /// What reads see: `durable` plus every write since the last sync.
    visible: MemStore,
    /// Writes since the last sync, in order.
    unsynced: Vec<WriteBatch>,
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

    /// Every pair of `cf` that reads see now, in key order.
    pub fn dump(&self, cf: ColumnFamily) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.state.lock().expect("disk lock").visible.dump(cf)
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
