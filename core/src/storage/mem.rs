//! An in-memory [`Store`] for tests and the core's cluster harness.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use super::{ColumnFamily, ScanVisitor, Store, StoreError, StoreView, WriteBatch, WriteOp};

type Family = BTreeMap<Vec<u8>, Vec<u8>>;

/// A store held in memory. Clones share the same data, so a harness can keep one handle to
/// write `Persist` batches while the node reads through another, as a runtime does with
/// RocksDB.
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    families: Arc<Mutex<BTreeMap<ColumnFamily, Family>>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// A deep copy that no longer shares data with `self`.
    pub fn fork(&self) -> MemStore {
        let families = self.families.lock().expect("store lock poisoned").clone();
        MemStore {
            families: Arc::new(Mutex::new(families)),
        }
    }

    /// Every pair of `cf`, in key order.
    pub fn dump(&self, cf: ColumnFamily) -> Vec<(Vec<u8>, Vec<u8>)> {
        let families = self.families.lock().expect("store lock poisoned");
        families
            .get(&cf)
            .map(|family| family.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

impl Store for MemStore {
    fn get(&self, cf: ColumnFamily, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let families = self.families.lock().expect("store lock poisoned");
        Ok(families
            .get(&cf)
            .and_then(|family| family.get(key).cloned()))
    }

    fn scan(
        &self,
        cf: ColumnFamily,
        start: &[u8],
        end: &[u8],
        visit: &mut ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        if start >= end {
            return Ok(());
        }
        let families = self.families.lock().expect("store lock poisoned");
        let Some(family) = families.get(&cf) else {
            return Ok(());
        };
        let range = (Bound::Included(start), Bound::Excluded(end));
        for (key, value) in family.range::<[u8], _>(range) {
            if visit(key, value).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn write(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut families = self.families.lock().expect("store lock poisoned");
        for op in batch.ops {
            match op {
                WriteOp::Put { cf, key, value } => {
                    families.entry(cf).or_default().insert(key, value);
                }
                WriteOp::Delete { cf, key } => {
                    if let Some(family) = families.get_mut(&cf) {
                        family.remove(&key);
                    }
                }
                WriteOp::DeleteRange { cf, start, end } => {
                    if let Some(family) = families.get_mut(&cf) {
                        if start < end {
                            let doomed: Vec<Vec<u8>> = family
                                .range::<[u8], _>((
                                    Bound::Included(start.as_slice()),
                                    Bound::Excluded(end.as_slice()),
                                ))
                                .map(|(k, _)| k.clone())
                                .collect();
                            for key in doomed {
                                family.remove(&key);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn view(&self) -> Arc<dyn StoreView> {
        Arc::new(MemView(self.fork()))
    }
}

/// A [`MemStore`] copy that nothing writes to any more.
struct MemView(MemStore);

impl StoreView for MemView {
    fn get(&self, cf: ColumnFamily, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Store::get(&self.0, cf, key)
    }

    fn scan(
        &self,
        cf: ColumnFamily,
        start: &[u8],
        end: &[u8],
        visit: &mut ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        Store::scan(&self.0, cf, start, end, visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_delete_removes_only_the_range() {
        let mut store = MemStore::new();
        let mut batch = WriteBatch::new();
        for k in 0u8..5 {
            batch.put(ColumnFamily::DataKv, vec![k], vec![k]);
        }
        batch.delete_range(ColumnFamily::DataKv, vec![1], vec![3]);
        store.write(batch).unwrap();
        let keys: Vec<u8> = store
            .dump(ColumnFamily::DataKv)
            .iter()
            .map(|(k, _)| k[0])
            .collect();
        assert_eq!(keys, vec![0, 3, 4]);
    }
}
