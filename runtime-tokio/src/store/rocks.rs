//! The node's RocksDB: one instance, the six column families of the spec.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{
    ColumnFamilyDescriptor, Direction, IteratorMode, Options, ReadOptions, WriteOptions, DB,
};
use seshat_core::storage::{
    ColumnFamily, ScanVisitor, Store, StoreError, StoreView, WriteBatch, WriteOp,
};

use crate::store::writer::SyncWrite;

/// A RocksDB instance holding every column family of [`ColumnFamily::ALL`]. Clones share it.
#[derive(Clone)]
pub struct RocksStore {
    db: Arc<DB>,
}

impl RocksStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<RocksStore, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // RocksDB's own LOG file takes warnings and errors only. It sits on the data disk, and
        // when that disk fills, Debian's librocksdb (built with assertions) aborts while
        // logging the failed write at info level, before the write's error reaches the node,
        // whose fail-stop names the cause (tests/tests/disk_full.rs).
        options.set_log_level(rocksdb::LogLevel::Warn);
        let families = ColumnFamily::ALL
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf.name(), family_options(*cf)));
        let db = DB::open_cf_descriptors(&options, path, families)
            .map_err(|e| StoreError(format!("opening RocksDB at {}: {e}", path.display())))?;
        Ok(RocksStore { db: Arc::new(db) })
    }

    fn handle(&self, cf: ColumnFamily) -> &rocksdb::ColumnFamily {
        handle(&self.db, cf)
    }

    /// Writes `batch`, synced or not. A failed write stops the process ([`super::fail_stop`]),
    /// so this returns only `Ok`; the `Result` is the [`Store`] trait's.
    fn write_with(&self, batch: WriteBatch, sync: bool) -> Result<(), StoreError> {
        let mut rocks = rocksdb::WriteBatch::default();
        for op in batch.ops() {
            match op {
                WriteOp::Put { cf, key, value } => rocks.put_cf(self.handle(*cf), key, value),
                WriteOp::Delete { cf, key } => rocks.delete_cf(self.handle(*cf), key),
                WriteOp::DeleteRange { cf, start, end } => {
                    rocks.delete_range_cf(self.handle(*cf), start, end)
                }
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        super::park_if_failed();
        if let Err(error) = self.db.write_opt(rocks, &options) {
            let what = if sync { "a synced write" } else { "a write" };
            super::fail_stop(&format!("{what} to RocksDB"), &error);
        }
        Ok(())
    }
}

/// A family's options: the keyspace gets Bloom filters, in the memtable and in its tables, so a
/// point lookup of an absent key (every SET of a new key reads first) skips the search.
fn family_options(cf: ColumnFamily) -> Options {
    let mut options = Options::default();
    if cf == ColumnFamily::DataKv {
        options.set_memtable_whole_key_filtering(true);
        options.set_memtable_prefix_bloom_ratio(0.05);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        table.set_whole_key_filtering(true);
        options.set_block_based_table_factory(&table);
    }
    options
}

impl Store for RocksStore {
    fn get(&self, cf: ColumnFamily, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db
            .get_cf(self.handle(cf), key)
            .map_err(|e| StoreError(e.to_string()))
    }

    fn scan(
        &self,
        cf: ColumnFamily,
        start: &[u8],
        end: &[u8],
        visit: &mut ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        let items = self.db.iterator_cf_opt(
            self.handle(cf),
            bounded(end),
            IteratorMode::From(start, Direction::Forward),
        );
        visit_until(items, end, visit)
    }

    fn write(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        self.write_with(batch, false)
    }

    fn view(&self) -> Arc<dyn StoreView> {
        Arc::new(RocksView::new(Arc::clone(&self.db)))
    }
}

fn handle(db: &DB, cf: ColumnFamily) -> &rocksdb::ColumnFamily {
    db.cf_handle(cf.name())
        .unwrap_or_else(|| panic!("column family {cf} was created at open"))
}

/// A RocksDB snapshot: reads see the database as of one sequence number, however long the
/// view is kept, at the cost of RocksDB keeping the versions it pins.
struct RocksView {
    // Declaration order is drop order: the snapshot is released before the handle that keeps
    // the database it belongs to alive.
    snapshot: rocksdb::Snapshot<'static>,
    db: Arc<DB>,
}

impl RocksView {
    fn new(db: Arc<DB>) -> RocksView {
        let snapshot = db.snapshot();
        // SAFETY: `Snapshot<'a>` only borrows the `DB` to release the snapshot on drop and to
        // read through it. The `DB` lives on the heap behind `db`, which this struct owns and
        // drops after `snapshot` (fields drop in declaration order), so the borrow outlives
        // every use. rust-rocksdb has no owned snapshot type; TiKV's engine keeps an `Arc<DB>`
        // beside a raw snapshot pointer the same way.
        let snapshot = unsafe {
            std::mem::transmute::<rocksdb::Snapshot<'_>, rocksdb::Snapshot<'static>>(snapshot)
        };
        RocksView { snapshot, db }
    }
}

impl StoreView for RocksView {
    fn get(&self, cf: ColumnFamily, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.snapshot
            .get_cf(handle(&self.db, cf), key)
            .map_err(|e| StoreError(e.to_string()))
    }

    fn scan(
        &self,
        cf: ColumnFamily,
        start: &[u8],
        end: &[u8],
        visit: &mut ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        let items = self.snapshot.iterator_cf_opt(
            handle(&self.db, cf),
            bounded(end),
            IteratorMode::From(start, Direction::Forward),
        );
        visit_until(items, end, visit)
    }
}

/// Read options that let RocksDB stop at `end` instead of reading past it (through range
/// tombstones of deleted generations, say).
fn bounded(end: &[u8]) -> ReadOptions {
    let mut options = ReadOptions::default();
    options.set_iterate_upper_bound(end.to_vec());
    options
}

/// Feeds `items` to `visit` until a key reaches `end` or `visit` breaks.
fn visit_until(
    items: impl Iterator<Item = Result<(Box<[u8]>, Box<[u8]>), rocksdb::Error>>,
    end: &[u8],
    visit: &mut ScanVisitor<'_>,
) -> Result<(), StoreError> {
    for item in items {
        let (key, value) = item.map_err(|e| StoreError(e.to_string()))?;
        if key.as_ref() >= end || visit(&key, &value).is_break() {
            break;
        }
    }
    Ok(())
}

impl SyncWrite for RocksStore {
    fn write_synced(&mut self, batch: WriteBatch, sync: bool) -> Result<(), StoreError> {
        self.write_with(batch, sync)
    }
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use super::*;

    #[test]
    fn every_family_round_trips_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = RocksStore::open(dir.path()).unwrap();
            let mut batch = WriteBatch::new();
            for (i, cf) in ColumnFamily::ALL.iter().enumerate() {
                for k in 0u8..4 {
                    batch.put(*cf, vec![k], vec![i as u8, k]);
                }
                batch.delete_range(*cf, vec![1], vec![3]);
            }
            store.write_synced(batch, true).unwrap();
        }
        let store = RocksStore::open(dir.path()).unwrap();
        for (i, cf) in ColumnFamily::ALL.iter().enumerate() {
            let mut seen = Vec::new();
            store
                .scan(*cf, &[0], &[9], &mut |k, v| {
                    seen.push((k.to_vec(), v.to_vec()));
                    ControlFlow::Continue(())
                })
                .unwrap();
            assert_eq!(
                seen,
                vec![(vec![0], vec![i as u8, 0]), (vec![3], vec![i as u8, 3])]
            );
            assert_eq!(store.get(*cf, &[3]).unwrap(), Some(vec![i as u8, 3]));
        }
    }

    #[test]
    fn a_view_keeps_reading_the_state_it_was_made_at() {
        // Goal: a snapshot being streamed is not changed by writes applied meanwhile, and
        // outlives the store handle it came from. Method: write, take a view, overwrite and
        // delete, drop the store, read the view.
        let dir = tempfile::tempdir().unwrap();
        let mut store = RocksStore::open(dir.path()).unwrap();
        let mut batch = WriteBatch::new();
        for k in 0u8..5 {
            batch.put(ColumnFamily::DataKv, vec![k], vec![k]);
        }
        store.write(batch).unwrap();
        let view = store.view();
        let mut batch = WriteBatch::new();
        batch.put(ColumnFamily::DataKv, vec![1], vec![99]);
        batch.delete_range(ColumnFamily::DataKv, vec![2], vec![4]);
        store.write(batch).unwrap();
        drop(store);

        assert_eq!(view.get(ColumnFamily::DataKv, &[1]).unwrap(), Some(vec![1]));
        let mut seen = Vec::new();
        view.scan(ColumnFamily::DataKv, &[1], &[4], &mut |k, v| {
            seen.push((k[0], v[0]));
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(seen, vec![(1, 1), (2, 2), (3, 3)]);
    }

    #[test]
    fn scan_stops_at_the_end_bound_and_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = RocksStore::open(dir.path()).unwrap();
        let mut batch = WriteBatch::new();
        for k in 0u8..10 {
            batch.put(ColumnFamily::DataKv, vec![k], vec![k]);
        }
        store.write(batch).unwrap();
        let mut seen = 0;
        store
            .scan(ColumnFamily::DataKv, &[2], &[8], &mut |_, _| {
                seen += 1;
                if seen == 3 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!(seen, 3);
    }
}
