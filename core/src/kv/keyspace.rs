//! The keyspace of a data group: the state machine that SET and DEL change.
//!
//! Data lives in the `data_kv` family, one record per key, and is read from the store, never
//! loaded whole into memory: a restart costs the log tail, not the dataset. Applying is
//! deterministic: its result depends only on the stored data and the entries, never on a clock.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use bytes::Bytes;

use crate::ids::GroupId;
use crate::kv::Proposal;
use crate::reply::Reply;
use crate::request::{SetCondition, SetRequest};
use crate::storage::{
    data_key, group_end, group_prefix, user_key, ColumnFamily, StateKey, Store, WriteBatch,
};

/// Format byte in front of every stored value, so a later version can add fields (expiry
/// deadlines) without rewriting old records.
const VALUE_FORMAT_PLAIN: u8 = 0;

/// The writes of one apply pass, with an overlay so that an entry sees the changes of the
/// entries applied before it in the same pass.
pub(crate) struct ApplyContext<'a> {
    store: &'a dyn Store,
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    batch: WriteBatch,
}

impl<'a> ApplyContext<'a> {
    /// Starts a pass over `store`.
    pub(crate) fn new(store: &'a dyn Store) -> ApplyContext<'a> {
        ApplyContext {
            store,
            overlay: BTreeMap::new(),
            batch: WriteBatch::new(),
        }
    }

    /// The stored record of `key` in `cf`, as changed by this pass so far.
    pub(crate) fn get(&self, cf: ColumnFamily, key: &[u8]) -> Option<Vec<u8>> {
        match self.overlay.get(key) {
            Some(value) => value.clone(),
            None => self
                .store
                .get(cf, key)
                .unwrap_or_else(|e| panic!("reading {cf} while applying: {e}")),
        }
    }

    /// Records a put.
    pub(crate) fn put(&mut self, cf: ColumnFamily, key: Vec<u8>, value: Vec<u8>) {
        self.overlay.insert(key.clone(), Some(value.clone()));
        self.batch.put(cf, key, value);
    }

    /// Records a delete.
    pub(crate) fn delete(&mut self, cf: ColumnFamily, key: Vec<u8>) {
        self.overlay.insert(key.clone(), None);
        self.batch.delete(cf, key);
    }

    /// The batch holding every write of the pass.
    pub(crate) fn batch_mut(&mut self) -> &mut WriteBatch {
        &mut self.batch
    }

    /// Ends the pass, returning its writes.
    pub(crate) fn into_batch(self) -> WriteBatch {
        self.batch
    }
}

/// The state machine of one data group.
#[derive(Debug)]
pub(crate) struct Keyspace {
    group: GroupId,
    /// Live keys, kept in step with the data by every apply pass and stored beside the applied
    /// index, so DBSIZE never scans.
    key_count: u64,
}

impl Keyspace {
    /// Opens the keyspace of `group` as the store holds it.
    pub(crate) fn load(group: GroupId, store: &dyn Store) -> crate::Result<Keyspace> {
        let key = StateKey::KeyCount.encode(group);
        let key_count = match store.get(ColumnFamily::raft_state(group), &key)? {
            Some(bytes) => decode_u64(&bytes)
                .ok_or_else(|| crate::Error::Corrupt(format!("group {group} key count")))?,
            None => 0,
        };
        Ok(Keyspace { group, key_count })
    }

    /// Applies one committed proposal and returns the reply for the client that proposed it.
    ///
    /// # Panics
    /// If the proposal is not one a data group accepts: the node never proposes one.
    pub(crate) fn apply(&mut self, cx: &mut ApplyContext<'_>, proposal: &Proposal) -> Reply {
        match proposal {
            Proposal::Set(set) => self.apply_set(cx, set),
            Proposal::Del(keys) => {
                let mut removed = 0;
                for key in keys {
                    let stored_key = data_key(self.group, key);
                    if cx.get(ColumnFamily::DataKv, &stored_key).is_some() {
                        cx.delete(ColumnFamily::DataKv, stored_key);
                        self.key_count -= 1;
                        removed += 1;
                    }
                }
                Reply::Integer(removed)
            }
            Proposal::RegisterNode(_) => {
                panic!(
                    "group {} is a data group: RegisterNode belongs to group 0",
                    self.group
                )
            }
        }
    }

    fn apply_set(&mut self, cx: &mut ApplyContext<'_>, set: &SetRequest) -> Reply {
        let stored_key = data_key(self.group, &set.key);
        let old = cx
            .get(ColumnFamily::DataKv, &stored_key)
            .map(|record| decode_value(&record));
        let allowed = match set.condition {
            SetCondition::Always => true,
            SetCondition::IfAbsent => old.is_none(),
            SetCondition::IfPresent => old.is_some(),
        };
        if allowed {
            if old.is_none() {
                self.key_count += 1;
            }
            cx.put(ColumnFamily::DataKv, stored_key, encode_value(&set.value));
        }
        // Redis: SET ... GET answers the old value (or null) whether or not it set; without GET
        // a SET whose NX/XX condition failed answers null.
        match (set.get, allowed) {
            (true, _) => old.map_or(Reply::Null, Reply::Bulk),
            (false, true) => Reply::ok(),
            (false, false) => Reply::Null,
        }
    }

    /// Adds the keyspace's own bookkeeping to the pass's writes. Call once at the end of each
    /// pass, in the same batch as the applied index.
    pub(crate) fn finish_pass(&self, batch: &mut WriteBatch) {
        let key = StateKey::KeyCount.encode(self.group);
        batch.put(
            ColumnFamily::raft_state(self.group),
            key,
            self.key_count.to_be_bytes().to_vec(),
        );
    }

    /// The value of `key`.
    pub(crate) fn get(&self, store: &dyn Store, key: &[u8]) -> Option<Bytes> {
        store
            .get(ColumnFamily::DataKv, &data_key(self.group, key))
            .unwrap_or_else(|e| panic!("reading {}: {e}", ColumnFamily::DataKv))
            .map(|record| decode_value(&record))
    }

    /// Number of live keys.
    pub(crate) fn key_count(&self) -> u64 {
        self.key_count
    }

    // Snapshot production and restore are tested here and used by snapshot transfer
    // (issue #5), which streams these chunks to a follower behind the compacted log.
    #[allow(dead_code)]
    /// Reads the next chunk of a snapshot of the keyspace: the pairs after `after` (from the
    /// start when `None`) until the chunk holds at least `chunk_bytes_max` bytes. A snapshot
    /// is consistent when no pass is applied between its chunks; the caller (or a store-level
    /// snapshot) guarantees that.
    pub(crate) fn snapshot_chunk(
        &self,
        store: &dyn Store,
        after: Option<&[u8]>,
        chunk_bytes_max: usize,
    ) -> crate::Result<SnapshotChunk> {
        let start = match after {
            // The smallest key greater than `after`.
            Some(after) => {
                let mut start = data_key(self.group, after);
                start.push(0);
                start
            }
            None => group_prefix(self.group).to_vec(),
        };
        let mut chunk = SnapshotChunk::default();
        let mut has_more = false;
        store.scan(
            ColumnFamily::DataKv,
            &start,
            &group_end(self.group),
            &mut |key, value| {
                if chunk.data.len() >= chunk_bytes_max {
                    // A pair beyond the bound: this chunk is full and another follows.
                    has_more = true;
                    return ControlFlow::Break(());
                }
                chunk.push(user_key(key), value);
                ControlFlow::Continue(())
            },
        )?;
        chunk.is_last = !has_more;
        Ok(chunk)
    }

    #[allow(dead_code)]
    /// Replaces the whole keyspace with a snapshot's chunks, in one batch.
    pub(crate) fn restore<'c>(
        &mut self,
        chunks: impl IntoIterator<Item = &'c SnapshotChunk>,
        batch: &mut WriteBatch,
    ) -> crate::Result<()> {
        batch.delete_range(
            ColumnFamily::DataKv,
            group_prefix(self.group).to_vec(),
            group_end(self.group),
        );
        let mut key_count = 0;
        for chunk in chunks {
            for (key, value) in chunk.pairs()? {
                batch.put(
                    ColumnFamily::DataKv,
                    data_key(self.group, key),
                    value.to_vec(),
                );
                key_count += 1;
            }
        }
        self.key_count = key_count;
        self.finish_pass(batch);
        Ok(())
    }
}

#[allow(dead_code)]
/// Part of a keyspace snapshot: length-prefixed user keys and stored records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SnapshotChunk {
    /// `(u32 key length, key, u32 record length, record)*`, big-endian lengths.
    pub(crate) data: Vec<u8>,
    /// The user key of the last pair, where the next chunk starts after.
    pub(crate) last_key: Option<Vec<u8>>,
    /// Whether no pairs follow this chunk.
    pub(crate) is_last: bool,
}

#[allow(dead_code)]
impl SnapshotChunk {
    fn push(&mut self, key: &[u8], record: &[u8]) {
        self.data
            .extend_from_slice(&(key.len() as u32).to_be_bytes());
        self.data.extend_from_slice(key);
        self.data
            .extend_from_slice(&(record.len() as u32).to_be_bytes());
        self.data.extend_from_slice(record);
        self.last_key = Some(key.to_vec());
    }

    /// The pairs of the chunk.
    pub(crate) fn pairs(&self) -> crate::Result<Vec<(&[u8], &[u8])>> {
        let mut pairs = Vec::new();
        let mut rest = self.data.as_slice();
        while !rest.is_empty() {
            let corrupt = || crate::Error::Corrupt("snapshot chunk".to_owned());
            let key = take_prefixed(&mut rest).ok_or_else(corrupt)?;
            let record = take_prefixed(&mut rest).ok_or_else(corrupt)?;
            pairs.push((key, record));
        }
        Ok(pairs)
    }
}

#[allow(dead_code)]
/// Splits a `u32`-length-prefixed byte string off the front of `rest`.
fn take_prefixed<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let bytes = rest.get(4..4usize.checked_add(len)?)?;
    *rest = &rest[4 + len..];
    Some(bytes)
}

fn encode_value(value: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(1 + value.len());
    record.push(VALUE_FORMAT_PLAIN);
    record.extend_from_slice(value);
    record
}

fn decode_value(record: &[u8]) -> Bytes {
    match record.split_first() {
        Some((&VALUE_FORMAT_PLAIN, value)) => Bytes::copy_from_slice(value),
        _ => panic!("stored value has an unknown format: {record:?}"),
    }
}

fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStore;
    use proptest::prelude::*;

    /// One step of a random workload, applied both to the keyspace and to a BTreeMap model.
    #[derive(Clone, Debug)]
    enum Step {
        Set(u8, u8, SetCondition, bool),
        Del(Vec<u8>),
        /// End the apply pass here: write the batch to the store.
        Flush,
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        let condition = prop_oneof![
            Just(SetCondition::Always),
            Just(SetCondition::IfAbsent),
            Just(SetCondition::IfPresent),
        ];
        prop_oneof![
            4 => (0u8..8, any::<u8>(), condition, any::<bool>())
                .prop_map(|(k, v, c, g)| Step::Set(k, v, c, g)),
            2 => proptest::collection::vec(0u8..8, 1..4).prop_map(Step::Del),
            1 => Just(Step::Flush),
        ]
    }

    fn key(k: u8) -> Bytes {
        Bytes::from(vec![b'k', k])
    }

    /// The reference: Redis's semantics over a BTreeMap.
    fn model_apply(model: &mut BTreeMap<Bytes, Bytes>, step: &Step) -> Option<Reply> {
        match step {
            Step::Set(k, v, condition, get) => {
                let old = model.get(&key(*k)).cloned();
                let allowed = match condition {
                    SetCondition::Always => true,
                    SetCondition::IfAbsent => old.is_none(),
                    SetCondition::IfPresent => old.is_some(),
                };
                if allowed {
                    model.insert(key(*k), Bytes::from(vec![*v]));
                }
                Some(match (get, allowed) {
                    (true, _) => old.map_or(Reply::Null, Reply::Bulk),
                    (false, true) => Reply::ok(),
                    (false, false) => Reply::Null,
                })
            }
            Step::Del(keys) => {
                let removed = keys
                    .iter()
                    .filter(|k| model.remove(&key(**k)).is_some())
                    .count();
                Some(Reply::Integer(removed as i64))
            }
            Step::Flush => None,
        }
    }

    fn proposal(step: &Step) -> Option<Proposal> {
        match step {
            Step::Set(k, v, condition, get) => Some(Proposal::Set(SetRequest {
                key: key(*k),
                value: Bytes::from(vec![*v]),
                condition: *condition,
                get: *get,
            })),
            Step::Del(keys) => Some(Proposal::Del(keys.iter().map(|k| key(*k)).collect())),
            Step::Flush => None,
        }
    }

    proptest! {
        #[test]
        fn keyspace_agrees_with_a_btreemap_model(steps in proptest::collection::vec(arb_step(), 0..60)) {
            // Goal: replies, contents and key count match Redis semantics, including entries
            // that see earlier entries of the same pass. Method: apply random steps to both,
            // flushing passes at random points.
            let group = GroupId(1);
            let mut store = MemStore::new();
            let mut keyspace = Keyspace::load(group, &store).unwrap();
            let mut model = BTreeMap::new();
            let mut pending: Option<WriteBatch> = None;
            let mut steps = steps;
            steps.push(Step::Flush);
            let mut cx = ApplyContext::new(&store);
            for step in &steps {
                let expected = model_apply(&mut model, step);
                match proposal(step) {
                    Some(p) => {
                        let reply = keyspace.apply(&mut cx, &p);
                        prop_assert_eq!(Some(reply), expected);
                    }
                    None => {
                        let mut batch = std::mem::replace(&mut cx, ApplyContext::new(&store)).into_batch();
                        keyspace.finish_pass(&mut batch);
                        pending = Some(batch);
                    }
                }
                if let Some(batch) = pending.take() {
                    drop(cx);
                    store.write(batch).unwrap();
                    cx = ApplyContext::new(&store);
                }
            }
            drop(cx);
            prop_assert_eq!(keyspace.key_count(), model.len() as u64);
            for (k, v) in &model {
                prop_assert_eq!(keyspace.get(&store, k), Some(v.clone()));
            }
            let reloaded = Keyspace::load(group, &store).unwrap();
            prop_assert_eq!(reloaded.key_count(), model.len() as u64);
        }

        #[test]
        fn snapshot_then_restore_reproduces_the_keyspace(
            pairs in proptest::collection::btree_map(proptest::collection::vec(any::<u8>(), 0..12), proptest::collection::vec(any::<u8>(), 0..20), 0..40),
            chunk_bytes_max in 1usize..64,
        ) {
            // Goal: a snapshot read in bounded chunks restores exactly the same keys, values
            // and key count on another store. Method: random data, random chunk bound.
            let group = GroupId(1);
            let mut source = MemStore::new();
            let mut keyspace = Keyspace::load(group, &source).unwrap();
            let mut cx = ApplyContext::new(&source);
            for (k, v) in &pairs {
                let set = SetRequest { key: Bytes::from(k.clone()), value: Bytes::from(v.clone()), condition: SetCondition::Always, get: false };
                keyspace.apply(&mut cx, &Proposal::Set(set));
            }
            let mut batch = cx.into_batch();
            keyspace.finish_pass(&mut batch);
            source.write(batch).unwrap();

            let mut chunks = Vec::new();
            let mut after: Option<Vec<u8>> = None;
            loop {
                let chunk = keyspace.snapshot_chunk(&source, after.as_deref(), chunk_bytes_max).unwrap();
                prop_assert!(chunks.len() <= pairs.len() + 1, "snapshot does not terminate");
                after = chunk.last_key.clone();
                let is_last = chunk.is_last;
                chunks.push(chunk);
                if is_last {
                    break;
                }
            }

            let mut target = MemStore::new();
            // Stale data in the target must disappear.
            let mut stale = Keyspace::load(group, &target).unwrap();
            let mut cx = ApplyContext::new(&target);
            stale.apply(&mut cx, &Proposal::Set(SetRequest { key: Bytes::from_static(b"stale\xff"), value: Bytes::new(), condition: SetCondition::Always, get: false }));
            let batch = cx.into_batch();
            target.write(batch).unwrap();

            let mut restored = Keyspace::load(group, &target).unwrap();
            let mut batch = WriteBatch::new();
            restored.restore(&chunks, &mut batch).unwrap();
            target.write(batch).unwrap();
            prop_assert_eq!(restored.key_count(), pairs.len() as u64);
            prop_assert_eq!(target.dump(ColumnFamily::DataKv), source.dump(ColumnFamily::DataKv));
        }
    }
}
