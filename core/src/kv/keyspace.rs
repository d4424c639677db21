//! The keyspace of a data group: the state machine that SET and DEL change.
//!
//! Data lives in the `data_kv` family, one record per key, and is read from the store, never
//! loaded whole into memory: a restart costs the log tail, not the dataset. Applying is
//! deterministic: its result depends only on the stored data and the entries, never on a clock.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use bytes::Bytes;

use crate::cmd::{Call, Run};
use crate::ids::GroupId;
use crate::kv::{Inapplicable, Proposal};
use crate::reply::Reply;
use crate::storage::{ColumnFamily, DataRange, ScanVisitor, StateKey, Store, WriteBatch};

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

    /// The stored record of `key` in `cf`, as changed by this pass so far. A record read from
    /// the store is remembered for the rest of the pass, so a command that reads a key and
    /// then writes it reads the store once.
    pub(crate) fn get(&mut self, cf: ColumnFamily, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(value) = self.overlay.get(key) {
            return value.clone();
        }
        let value = self
            .store
            .get(cf, key)
            .unwrap_or_else(|e| panic!("reading {cf} while applying: {e}"));
        self.overlay.insert(key.to_vec(), value.clone());
        value
    }

    /// The record of `key` in `cf` as this pass has left it so far, without remembering it:
    /// what a read served between two entries of the pass sees.
    pub(crate) fn peek(&self, cf: ColumnFamily, key: &[u8]) -> Option<Vec<u8>> {
        match self.overlay.get(key) {
            Some(value) => value.clone(),
            None => self
                .store
                .get(cf, key)
                .unwrap_or_else(|e| panic!("reading {cf} while applying: {e}")),
        }
    }

    /// The records this pass has written or read in `start..end`, in key order (`None`: deleted
    /// by the pass).
    pub(crate) fn overlay_range<'s>(
        &'s self,
        start: &[u8],
        end: &[u8],
    ) -> impl Iterator<Item = (&'s [u8], Option<&'s [u8]>)> + 's {
        self.overlay
            .range::<[u8], _>((
                std::ops::Bound::Included(start),
                std::ops::Bound::Excluded(end),
            ))
            .map(|(key, value)| (key.as_slice(), value.as_deref()))
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

/// What a write command sees while it applies: the keyspace as changed by the entries before
/// it in this pass. Every change goes into the pass's one batch.
pub(crate) struct Writer<'a, 'store> {
    keyspace: &'a mut Keyspace,
    cx: &'a mut ApplyContext<'store>,
}

impl Writer<'_, '_> {
    /// The value of `key`.
    pub(crate) fn get(&mut self, key: &[u8]) -> Option<Bytes> {
        let stored_key = self.keyspace.range.key(key);
        self.cx
            .get(ColumnFamily::DataKv, &stored_key)
            .map(|record| decode_value(&record))
    }

    /// Sets `key` to `value`, creating it if it does not exist.
    pub(crate) fn put(&mut self, key: &[u8], value: &[u8]) {
        let stored_key = self.keyspace.range.key(key);
        if self.cx.get(ColumnFamily::DataKv, &stored_key).is_none() {
            self.keyspace.key_count += 1;
        }
        self.cx
            .put(ColumnFamily::DataKv, stored_key, encode_value(value));
    }

    /// The longest value a write may leave (`limits.max_value_size_bytes`, the same on every
    /// node): commands that grow a value (SETRANGE, APPEND) check it when they apply.
    pub(crate) fn value_bytes_max(&self) -> usize {
        self.keyspace.value_bytes_max
    }

    /// A reader of the keyspace as this pass has left it so far (a read inside a
    /// transaction).
    pub(crate) fn reader(&self) -> Reader<'_> {
        Reader::mid_pass(self.keyspace, self.cx)
    }

    /// Removes `key`; whether it existed.
    pub(crate) fn delete(&mut self, key: &[u8]) -> bool {
        let stored_key = self.keyspace.range.key(key);
        let existed = self.cx.get(ColumnFamily::DataKv, &stored_key).is_some();
        if existed {
            self.cx.delete(ColumnFamily::DataKv, stored_key);
            self.keyspace.key_count -= 1;
        }
        existed
    }
}

/// What a read command sees: the keyspace at the applied index, after a ReadIndex round
/// confirmed that index. Between two entries of an apply pass (a read a connection sent
/// between two of its writes) it reads through the pass's changes.
pub(crate) struct Reader<'a> {
    keyspace: &'a Keyspace,
    source: Source<'a>,
}

/// Where a [`Reader`] finds records.
enum Source<'a> {
    /// The store, as the last apply pass left it.
    Store(&'a dyn Store),
    /// An apply pass in progress.
    Pass(&'a ApplyContext<'a>),
}

impl<'a> Reader<'a> {
    /// Reads `keyspace` through `store`.
    pub(crate) fn new(keyspace: &'a Keyspace, store: &'a dyn Store) -> Reader<'a> {
        Reader {
            keyspace,
            source: Source::Store(store),
        }
    }

    /// Reads `keyspace` as the apply pass `cx` has left it so far.
    pub(crate) fn mid_pass(keyspace: &'a Keyspace, cx: &'a ApplyContext<'a>) -> Reader<'a> {
        Reader {
            keyspace,
            source: Source::Pass(cx),
        }
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Bytes> {
        match self.source {
            Source::Store(store) => self.keyspace.get(store, key),
            Source::Pass(cx) => cx
                .peek(ColumnFamily::DataKv, &self.keyspace.range.key(key))
                .map(|record| decode_value(&record)),
        }
    }

    /// Number of live keys.
    pub(crate) fn key_count(&self) -> u64 {
        self.keyspace.key_count
    }

    /// Visits every key in key order until `visit` breaks. O(keys): a full scan of the group's
    /// range.
    pub(crate) fn for_each_key(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) {
        let range = self.keyspace.range;
        let (start, end) = (range.prefix().to_vec(), range.end());
        let user_key = |stored: &[u8]| stored[range.prefix().len()..].to_vec();
        let scan = |store: &dyn Store, visit: &mut ScanVisitor<'_>| {
            store
                .scan(ColumnFamily::DataKv, &start, &end, &mut |key, value| {
                    visit(key, value)
                })
                .unwrap_or_else(|e| panic!("scanning {}: {e}", ColumnFamily::DataKv));
        };
        match self.source {
            Source::Store(store) => scan(store, &mut |key, _| visit(&user_key(key))),
            Source::Pass(cx) => {
                // Merge the pass's changes into the store's keys, both in key order.
                let mut overlay = cx.overlay_range(&start, &end).peekable();
                let mut stopped = false;
                scan(cx.store, &mut |key, _| {
                    while let Some((pending, value)) = overlay.next_if(|(k, _)| *k < key) {
                        if value.is_some() && visit(&user_key(pending)).is_break() {
                            stopped = true;
                            return ControlFlow::Break(());
                        }
                    }
                    let live = match overlay.next_if(|(k, _)| *k == key) {
                        Some((_, value)) => value.is_some(),
                        None => true,
                    };
                    if live && visit(&user_key(key)).is_break() {
                        stopped = true;
                        return ControlFlow::Break(());
                    }
                    ControlFlow::Continue(())
                });
                if !stopped {
                    for (pending, value) in overlay {
                        if value.is_some() && visit(&user_key(pending)).is_break() {
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// The state machine of one data group.
#[derive(Debug)]
pub(crate) struct Keyspace {
    group: GroupId,
    /// Where the live data is: the generation changes when a snapshot is installed.
    range: DataRange,
    /// Live keys, kept in step with the data by every apply pass and stored beside the applied
    /// index, so DBSIZE never scans.
    key_count: u64,
    /// The longest value a write may leave, bytes (see [`Writer::value_bytes_max`]).
    value_bytes_max: usize,
}

impl Keyspace {
    /// Opens the keyspace whose live data is `range`, as the store holds it; writes may leave
    /// values of up to `value_bytes_max` bytes.
    pub(crate) fn load(
        range: DataRange,
        store: &dyn Store,
        value_bytes_max: usize,
    ) -> crate::Result<Keyspace> {
        let group = range.group;
        let key = StateKey::KeyCount.encode(group);
        let key_count = match store.get(ColumnFamily::raft_state(group), &key)? {
            Some(bytes) => decode_u64(&bytes)
                .ok_or_else(|| crate::Error::Corrupt(format!("group {group} key count")))?,
            None => 0,
        };
        Ok(Keyspace {
            group,
            range,
            key_count,
            value_bytes_max,
        })
    }

    /// The keyspace a snapshot install leaves in place of this one: `key_count` keys in
    /// `range`. The caller writes the key count with [`Keyspace::finish_pass`] in the install
    /// batch.
    pub(crate) fn installed(&self, range: DataRange, key_count: u64) -> Keyspace {
        Keyspace {
            group: range.group,
            range,
            key_count,
            value_bytes_max: self.value_bytes_max,
        }
    }

    /// Applies one committed proposal and returns the reply for the client that proposed it:
    /// the command its arguments name, through that command's spec. A proposal that is not a
    /// write command this version knows changes nothing: the node never proposes one to a
    /// data group, so it was written by a newer version or a broken peer (the group logs it).
    pub(crate) fn apply(
        &mut self,
        cx: &mut ApplyContext<'_>,
        proposal: &Proposal,
    ) -> Result<Reply, Inapplicable> {
        let Proposal::Command(args) = proposal else {
            return Err(Inapplicable::WrongGroup);
        };
        let call = Call::from_log(args.clone()).ok_or(Inapplicable::UnknownCommand)?;
        let Run::Write { apply, .. } = call.run() else {
            return Err(Inapplicable::NotAWrite);
        };
        Ok(apply(call.args(), &mut Writer { keyspace: self, cx }))
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

    /// The value of `key`, as of the last apply pass written to `store`.
    pub(crate) fn get(&self, store: &dyn Store, key: &[u8]) -> Option<Bytes> {
        store
            .get(ColumnFamily::DataKv, &self.range.key(key))
            .unwrap_or_else(|e| panic!("reading {}: {e}", ColumnFamily::DataKv))
            .map(|record| decode_value(&record))
    }

    /// Number of live keys.
    pub(crate) fn key_count(&self) -> u64 {
        self.key_count
    }
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

    /// SET's NX / XX.
    #[derive(Clone, Copy, Debug)]
    enum SetCondition {
        Always,
        IfAbsent,
        IfPresent,
    }

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

    /// The step as the command a client sends, in the form the log carries it.
    fn proposal(step: &Step) -> Option<Proposal> {
        let word = |w: &'static str| Bytes::from_static(w.as_bytes());
        match step {
            Step::Set(k, v, condition, get) => {
                let mut args = vec![word("SET"), key(*k), Bytes::from(vec![*v])];
                match condition {
                    SetCondition::Always => {}
                    SetCondition::IfAbsent => args.push(word("NX")),
                    SetCondition::IfPresent => args.push(word("XX")),
                }
                if *get {
                    args.push(word("GET"));
                }
                Some(Proposal::Command(args))
            }
            Step::Del(keys) => Some(Proposal::Command(
                std::iter::once(word("DEL"))
                    .chain(keys.iter().map(|k| key(*k)))
                    .collect(),
            )),
            Step::Flush => None,
        }
    }

    proptest! {
        #[test]
        fn a_scan_mid_pass_sees_the_pass_changes(
            stored in proptest::collection::btree_set(0u8..16, 0..10),
            steps in proptest::collection::vec((0u8..16, any::<bool>()), 0..12),
        ) {
            // Goal: a key scan between two entries of an apply pass lists exactly the live
            // keys. Method: store some keys, then put and delete others in an open pass, and
            // compare the mid-pass scan with a BTreeSet model.
            let group = GroupId(1);
            let mut store = MemStore::new();
            let mut keyspace = Keyspace::load(DataRange::first(group), &store, 65_536).unwrap();
            let mut setup = ApplyContext::new(&store);
            let mut model = std::collections::BTreeSet::new();
            for k in &stored {
                keyspace.apply(&mut setup, &Proposal::Command(vec![Bytes::from("SET"), key(*k), Bytes::from("v")])).unwrap();
                model.insert(key(*k));
            }
            let batch = setup.into_batch();
            store.write(batch).unwrap();
            let mut cx = ApplyContext::new(&store);
            for (k, put) in &steps {
                let name = if *put { "SET" } else { "DEL" };
                let mut args = vec![Bytes::from(name), key(*k)];
                if *put {
                    args.push(Bytes::from("w"));
                    model.insert(key(*k));
                } else {
                    model.remove(&key(*k));
                }
                keyspace.apply(&mut cx, &Proposal::Command(args)).unwrap();
            }
            let mut seen = Vec::new();
            Reader::mid_pass(&keyspace, &cx).for_each_key(&mut |k| {
                seen.push(Bytes::copy_from_slice(k));
                ControlFlow::Continue(())
            });
            prop_assert_eq!(seen, model.into_iter().collect::<Vec<_>>());
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
            let mut keyspace = Keyspace::load(DataRange::first(group), &store, 65_536).unwrap();
            let mut model = BTreeMap::new();
            let mut pending: Option<WriteBatch> = None;
            let mut steps = steps;
            steps.push(Step::Flush);
            let mut cx = ApplyContext::new(&store);
            for step in &steps {
                let expected = model_apply(&mut model, step);
                match proposal(step) {
                    Some(p) => {
                        let reply = keyspace.apply(&mut cx, &p).expect("a write this version knows");
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
            let reloaded = Keyspace::load(DataRange::first(group), &store, 65_536).unwrap();
            prop_assert_eq!(reloaded.key_count(), model.len() as u64);
        }
    }
}
