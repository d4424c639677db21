//! The keyspace of a data group: the state machine the write commands change.
//!
//! Data lives in the `data_kv` family, one record per key plus one deadline entry per key with
//! a TTL (see [`layout`](super::layout)), and is read from the store, never loaded whole into
//! memory: a restart costs the log tail, not the dataset.
//!
//! Applying is deterministic: its result depends only on the stored data and the entries,
//! never on a clock. Expiry is judged on the *cluster time*: the largest leader timestamp of
//! any entry applied so far (each client write, and each expiry entry, carries its leader's
//! Unix time). It never runs backwards, whatever the leaders' clocks do, and every replica
//! reaches the same value at the same index, so they all agree which keys exist.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

use bytes::Bytes;

use crate::cmd::{Call, Run};
use crate::ids::GroupId;
use crate::kv::layout;
use crate::kv::record::Record;
use crate::kv::watch::Watches;
use crate::kv::{Inapplicable, Proposal};
use crate::reply::Reply;
use crate::storage::{
    ColumnFamily, DataRange, ScanVisitor, StateKey, Store, StoreView, WriteBatch,
};

const CF: ColumnFamily = ColumnFamily::DataKv;

/// The writes of one apply pass, with an overlay so that an entry sees the changes of the
/// entries applied before it in the same pass.
pub(crate) struct ApplyContext<'a> {
    store: &'a dyn Store,
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The range an entry of this pass deleted as a whole (FLUSHDB), `start..end`: the
    /// store's pairs in it are gone for the rest of the pass, and only the overlay's entries
    /// (all written after the clear, which dropped the older ones) exist there.
    cleared: Option<(Vec<u8>, Vec<u8>)>,
    batch: WriteBatch,
}

impl<'a> ApplyContext<'a> {
    /// Starts a pass over `store`.
    pub(crate) fn new(store: &'a dyn Store) -> ApplyContext<'a> {
        ApplyContext {
            store,
            overlay: BTreeMap::new(),
            cleared: None,
            batch: WriteBatch::new(),
        }
    }

    /// Whether `key` lies in the range this pass cleared.
    fn is_cleared(&self, key: &[u8]) -> bool {
        self.cleared
            .as_ref()
            .is_some_and(|(start, end)| start.as_slice() <= key && key < end.as_slice())
    }

    /// Whether this pass cleared every key in `start..end`.
    fn clears_all_of(&self, start: &[u8], end: &[u8]) -> bool {
        self.cleared
            .as_ref()
            .is_some_and(|(from, to)| from.as_slice() <= start && end <= to.as_slice())
    }

    /// Whether this pass cleared any key in `start..end`.
    fn clears_some_of(&self, start: &[u8], end: &[u8]) -> bool {
        self.cleared
            .as_ref()
            .is_some_and(|(from, to)| from.as_slice() < end && start < to.as_slice())
    }

    /// The stored value of `key` as this pass has left it, not counting the overlay.
    fn stored(&self, cf: ColumnFamily, key: &[u8]) -> Option<Vec<u8>> {
        if self.is_cleared(key) {
            return None;
        }
        self.store
            .get(cf, key)
            .unwrap_or_else(|e| panic!("reading {cf} while applying: {e}"))
    }

    /// The stored record of `key` in `cf`, as changed by this pass so far. A record read from
    /// the store is remembered for the rest of the pass, so a command that reads a key and
    /// then writes it reads the store once.
    pub(crate) fn get(&mut self, cf: ColumnFamily, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(value) = self.overlay.get(key) {
            return value.clone();
        }
        let value = self.stored(cf, key);
        self.overlay.insert(key.to_vec(), value.clone());
        value
    }

    /// The record of `key` in `cf` as this pass has left it so far, without remembering it:
    /// what a read served between two entries of the pass sees.
    pub(crate) fn peek(&self, cf: ColumnFamily, key: &[u8]) -> Option<Vec<u8>> {
        match self.overlay.get(key) {
            Some(value) => value.clone(),
            None => self.stored(cf, key),
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

    /// Records the deletion of every pair in `start..end` (FLUSHDB): one range delete in the
    /// batch, O(1) here whatever the range holds. The rest of the pass sees the range empty
    /// but for what later entries write. A pass clears one range at most (its group's data).
    ///
    /// # Panics
    /// If the pass already cleared a different range.
    pub(crate) fn delete_range(&mut self, cf: ColumnFamily, start: Vec<u8>, end: Vec<u8>) {
        if let Some((from, to)) = &self.cleared {
            assert!(
                *from == start && *to == end,
                "one apply pass cleared two different ranges"
            );
        }
        self.overlay.retain(|key, _| {
            !(start.as_slice() <= key.as_slice() && key.as_slice() < end.as_slice())
        });
        self.batch.delete_range(cf, start.clone(), end.clone());
        self.cleared = Some((start, end));
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
/// it in this pass, at the cluster time of its entry. Every change goes into the pass's one
/// batch. A key whose deadline has passed does not exist: the first write to look at it
/// deletes it (Redis's lazy expiry, here deterministic).
pub(crate) struct Writer<'a, 'store> {
    keyspace: &'a mut Keyspace,
    cx: &'a mut ApplyContext<'store>,
}

impl Writer<'_, '_> {
    /// The cluster time of the entry being applied, Unix milliseconds: what relative TTLs
    /// count from.
    pub(crate) fn now_ms(&self) -> u64 {
        self.keyspace.state.clock_ms
    }

    /// The record of `key`, if the key exists.
    pub(crate) fn entry(&mut self, key: &[u8]) -> Option<Record> {
        let stored = layout::record_key(self.keyspace.range, key);
        let record = Record::decode(&self.cx.get(CF, &stored)?);
        if record.expired_at(self.now_ms()) {
            self.remove(key, stored, &record);
            self.keyspace.expired_keys += 1;
            return None;
        }
        Some(record)
    }

    /// The value of `key`.
    pub(crate) fn get(&mut self, key: &[u8]) -> Option<Bytes> {
        self.entry(key).map(|record| record.value)
    }

    /// Sets `key`'s value, keeping its TTL if it has one (APPEND, INCR, SETRANGE).
    pub(crate) fn put(&mut self, key: &[u8], value: &[u8]) {
        let old = self.entry(key);
        let deadline_ms = old.as_ref().and_then(|record| record.deadline_ms);
        self.write(key, old, Bytes::copy_from_slice(value), deadline_ms);
    }

    /// Sets `key` to `value` expiring at `deadline_ms` (`None`: never), replacing any TTL
    /// (SET, MSET). A deadline already past leaves the key deleted.
    pub(crate) fn set(&mut self, key: &[u8], value: &[u8], deadline_ms: Option<u64>) {
        let old = self.entry(key);
        self.write(key, old, Bytes::copy_from_slice(value), deadline_ms);
    }

    /// Changes the deadline of an existing `key`; whether it exists. A deadline already past
    /// deletes the key.
    pub(crate) fn set_deadline(&mut self, key: &[u8], deadline_ms: Option<u64>) -> bool {
        match self.entry(key) {
            Some(record) => {
                let value = record.value.clone();
                self.write(key, Some(record), value, deadline_ms);
                true
            }
            None => false,
        }
    }

    /// The longest value a write may leave (`limits.max_value_size_bytes`, the same on every
    /// node): commands that grow a value (SETRANGE, APPEND) check it when they apply.
    pub(crate) fn value_bytes_max(&self) -> usize {
        self.keyspace.value_bytes_max
    }

    /// A reader of the keyspace as this pass has left it so far (a read inside a
    /// transaction).
    pub(crate) fn reader(&self) -> Reader<'_> {
        // Planted: the read sees the store as the pass found it.
        #[cfg(feature = "planted-bugs")]
        if self.keyspace.planted_bug == Some(crate::PlantedBug::SplitTransaction) {
            return Reader::new(self.keyspace, self.cx.store);
        }
        Reader::mid_pass(self.keyspace, self.cx)
    }

    /// Removes `key`; whether it existed.
    pub(crate) fn delete(&mut self, key: &[u8]) -> bool {
        match self.entry(key) {
            Some(record) => {
                let stored = layout::record_key(self.keyspace.range, key);
                self.remove(key, stored, &record);
                true
            }
            None => false,
        }
    }

    /// Deletes every key and deadline entry of the keyspace (FLUSHDB, FLUSHALL) with one range
    /// delete, and zeroes the counts. The cluster time stays: it never goes back.
    pub(crate) fn clear(&mut self) {
        let range = self.keyspace.range;
        // Watched keys that exist change (Redis touches them); the watch records themselves
        // outlive the range delete, written again after it.
        for key in self.keyspace.watches.keys() {
            if self.entry(&key).is_some() {
                self.keyspace.watches.touch(self.cx, range, &key);
            }
        }
        self.cx
            .delete_range(CF, range.prefix().to_vec(), range.end());
        self.keyspace.watches.rewrite(self.cx, range);
        let state = &mut self.keyspace.state;
        state.keys = 0;
        state.expiring = 0;
        state.deadline_sum = 0;
    }

    /// Starts `token`'s watch of `key` (WATCH). An expired key is deleted first, so a later
    /// expiry cannot count as a change.
    pub(crate) fn watch(&mut self, key: &[u8], token: &[u8]) {
        self.entry(key);
        let (range, now_ms) = (self.keyspace.range, self.now_ms());
        self.keyspace
            .watches
            .add(self.cx, range, key, token, now_ms);
    }

    /// Whether `key` is as `token` found it at its WATCH: watched and unchanged since. A key
    /// that has expired since is deleted now, which changes it.
    pub(crate) fn watch_intact(&mut self, key: &[u8], token: &[u8]) -> bool {
        self.entry(key);
        self.keyspace.watches.intact(key, token)
    }

    /// Ends `token`'s watch of `key` (EXEC, DISCARD, UNWATCH).
    pub(crate) fn unwatch(&mut self, key: &[u8], token: &[u8]) {
        let range = self.keyspace.range;
        self.keyspace.watches.remove(self.cx, range, key, token);
    }

    /// Marks the watches of `key` touched: it is about to change.
    fn touch(&mut self, key: &[u8]) {
        if !self.keyspace.watches.is_empty() {
            let range = self.keyspace.range;
            self.keyspace.watches.touch(self.cx, range, key);
        }
    }

    /// Writes `key`'s record over `old`, the one [`Writer::entry`] found (so an expired one
    /// is gone), keeping the counts and the deadline entries in step. An overwrite is one put
    /// of the record; the deadline entries change only if the deadline does.
    fn write(&mut self, key: &[u8], old: Option<Record>, value: Bytes, deadline_ms: Option<u64>) {
        let range = self.keyspace.range;
        self.touch(key);
        let record = Record { value, deadline_ms };
        let live = !record.expired_at(self.now_ms());
        let state = &mut self.keyspace.state;
        if let Some(old) = &old {
            state.forget(old);
        }
        if live {
            state.count(&record);
        }
        let old_deadline = old.as_ref().and_then(|old| old.deadline_ms);
        let new_deadline = deadline_ms.filter(|_| live);
        if old_deadline != new_deadline {
            if let Some(deadline) = old_deadline {
                self.cx
                    .delete(CF, layout::deadline_key(range, deadline, key));
            }
            if let Some(deadline) = new_deadline {
                self.cx
                    .put(CF, layout::deadline_key(range, deadline, key), Vec::new());
            }
        }
        let stored = layout::record_key(range, key);
        if live {
            self.cx.put(CF, stored, record.encode());
        } else if old.is_some() {
            self.cx.delete(CF, stored);
        }
    }

    /// Deletes `key`'s stored `record` and its deadline entry.
    fn remove(&mut self, key: &[u8], stored: Vec<u8>, record: &Record) {
        self.touch(key);
        self.keyspace.state.forget(record);
        if let Some(deadline) = record.deadline_ms {
            self.cx
                .delete(CF, layout::deadline_key(self.keyspace.range, deadline, key));
        }
        self.cx.delete(CF, stored);
    }
}

/// What a read command sees: the keyspace at the applied index, after a ReadIndex round
/// confirmed that index, at the cluster time of that index. Between two entries of an apply
/// pass (a read a connection sent between two of its writes) it reads through the pass's
/// changes.
pub(crate) struct Reader<'a> {
    range: DataRange,
    state: KeyspaceState,
    random_draws: &'a Cell<u64>,
    source: Source<'a>,
}

/// Where a [`Reader`] finds records.
enum Source<'a> {
    /// The store, as the last apply pass left it.
    Store(&'a dyn Store),
    /// An apply pass in progress.
    Pass(&'a ApplyContext<'a>),
    /// A point-in-time view of the store (a read served away from the node, see
    /// [`OfflineRead`](super::OfflineRead)).
    View(&'a dyn StoreView),
}

impl<'a> Reader<'a> {
    /// Reads `keyspace` through `store`.
    pub(crate) fn new(keyspace: &'a Keyspace, store: &'a dyn Store) -> Reader<'a> {
        keyspace.reader(Source::Store(store))
    }

    /// Reads `keyspace` as the apply pass `cx` has left it so far.
    pub(crate) fn mid_pass(keyspace: &'a Keyspace, cx: &'a ApplyContext<'a>) -> Reader<'a> {
        keyspace.reader(Source::Pass(cx))
    }

    /// Reads the keyspace whose data is `range` and bookkeeping `state` through `view`, a
    /// view of the store made when the keyspace was so.
    pub(crate) fn over_view(
        range: DataRange,
        state: KeyspaceState,
        view: &'a dyn StoreView,
        random_draws: &'a Cell<u64>,
    ) -> Reader<'a> {
        Reader {
            range,
            state,
            random_draws,
            source: Source::View(view),
        }
    }

    /// The cluster time the read is served at, Unix milliseconds.
    pub(crate) fn now_ms(&self) -> u64 {
        self.state.clock_ms
    }

    /// The record of `key`, if the key exists.
    pub(crate) fn entry(&self, key: &[u8]) -> Option<Record> {
        let stored = layout::record_key(self.range, key);
        let raw = match self.source {
            Source::Store(store) => store
                .get(CF, &stored)
                .unwrap_or_else(|e| panic!("reading {CF}: {e}")),
            Source::View(view) => view
                .get(CF, &stored)
                .unwrap_or_else(|e| panic!("reading {CF}: {e}")),
            Source::Pass(cx) => cx.peek(CF, &stored),
        }?;
        Some(Record::decode(&raw)).filter(|record| !record.expired_at(self.now_ms()))
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.entry(key).map(|record| record.value)
    }

    /// Number of keys, counting those expired but not yet reclaimed (as Redis's DBSIZE does).
    pub(crate) fn key_count(&self) -> u64 {
        self.state.keys
    }

    /// Visits every existing key in position order (see [`layout`]) until `visit` breaks.
    /// O(keys): a full scan of the group's records.
    pub(crate) fn for_each_key(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) {
        self.for_each_record(0, &mut |key, _| visit(key));
    }

    /// A key chosen without looking at them all (RANDOMKEY): the first live key at or after a
    /// position drawn from a per-node counter mixed with the cluster time, wrapping to the
    /// first key. The core has no OS randomness, so the draw is deterministic: the same
    /// inputs give the same keys. It is not uniform: a key is picked in proportion to the gap
    /// of positions before it (positions are a hash, so the gaps are random too). The cost is
    /// one or two seeks, plus the expired records not yet reclaimed that the seek passes.
    pub(crate) fn random_key(&self) -> Option<Bytes> {
        if self.key_count() == 0 {
            return None;
        }
        let draw = self.random_draws.get();
        self.random_draws.set(draw.wrapping_add(1));
        let position = mix64(draw ^ self.now_ms().rotate_left(32));
        let mut found = None;
        for start in [position, 0] {
            self.for_each_record(start, &mut |key, _| {
                found = Some(Bytes::copy_from_slice(key));
                ControlFlow::Break(())
            });
            if found.is_some() {
                break;
            }
        }
        found
    }

    /// Visits the existing keys of hash slot `slot` until `visit` breaks: O(keys in the slot).
    pub(crate) fn for_each_key_in_slot(
        &self,
        slot: u16,
        visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
    ) {
        let end = layout::slot_start(slot + 1);
        self.for_each_record(layout::slot_start(slot), &mut |key, _| {
            if layout::position(key) >= end {
                return ControlFlow::Break(());
            }
            visit(key)
        });
    }

    /// Visits the existing keys at `position` or later, in position order, with their
    /// records, until `visit` breaks.
    pub(crate) fn for_each_record(
        &self,
        position: u64,
        visit: &mut dyn FnMut(&[u8], &Record) -> ControlFlow<()>,
    ) {
        let range = self.range;
        let (start, end) = (
            layout::records_from(range, position),
            layout::records_end(range),
        );
        let now = self.now_ms();
        let mut live = |stored: &[u8], raw: &[u8]| {
            let record = Record::decode(raw);
            if record.expired_at(now) {
                ControlFlow::Continue(())
            } else {
                visit(layout::record_user_key(stored), &record)
            }
        };
        let scan = |store: &dyn Store, visit: &mut ScanVisitor<'_>| {
            store
                .scan(CF, &start, &end, &mut |key, value| visit(key, value))
                .unwrap_or_else(|e| panic!("scanning {CF}: {e}"));
        };
        match self.source {
            Source::Store(store) => scan(store, &mut live),
            Source::View(view) => view
                .scan(CF, &start, &end, &mut live)
                .unwrap_or_else(|e| panic!("scanning {CF}: {e}")),
            Source::Pass(cx) if cx.clears_all_of(&start, &end) => {
                // Cleared by this pass: only what later entries wrote exists.
                for (pending, record) in cx.overlay_range(&start, &end) {
                    if let Some(record) = record {
                        if live(pending, record).is_break() {
                            break;
                        }
                    }
                }
            }
            Source::Pass(cx) => {
                // Merge the pass's changes into the store's records, both in key order.
                let partly_cleared = cx.clears_some_of(&start, &end);
                let mut overlay = cx.overlay_range(&start, &end).peekable();
                let mut stopped = false;
                scan(cx.store, &mut |key, value| {
                    if partly_cleared && cx.is_cleared(key) {
                        return ControlFlow::Continue(());
                    }
                    while let Some((pending, record)) = overlay.next_if(|(k, _)| *k < key) {
                        if let Some(record) = record {
                            if live(pending, record).is_break() {
                                stopped = true;
                                return ControlFlow::Break(());
                            }
                        }
                    }
                    let current = match overlay.next_if(|(k, _)| *k == key) {
                        Some((_, record)) => record,
                        None => Some(value),
                    };
                    if let Some(record) = current {
                        if live(key, record).is_break() {
                            stopped = true;
                            return ControlFlow::Break(());
                        }
                    }
                    ControlFlow::Continue(())
                });
                if !stopped {
                    for (pending, record) in overlay {
                        if let Some(record) = record {
                            if live(pending, record).is_break() {
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// SplitMix64's finalizer: a bijection of u64 that spreads consecutive inputs over the range.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A keyspace's bookkeeping, stored beside the applied index and carried by snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyspaceState {
    /// Key records, expired ones not yet reclaimed included.
    pub(crate) keys: u64,
    /// Keys with a TTL (deadline entries).
    pub(crate) expiring: u64,
    /// Sum of the deadlines of those keys, for `avg_ttl`.
    pub(crate) deadline_sum: u128,
    /// The cluster time: the largest timestamp of the entries applied, Unix ms.
    pub(crate) clock_ms: u64,
}

impl KeyspaceState {
    /// Encoded length.
    pub(crate) const LEN: usize = 40;

    /// Counts `record`, just stored.
    fn count(&mut self, record: &Record) {
        self.keys += 1;
        if let Some(deadline) = record.deadline_ms {
            self.expiring += 1;
            self.deadline_sum += u128::from(deadline);
        }
    }

    /// Stops counting `record`, replaced or deleted.
    fn forget(&mut self, record: &Record) {
        self.keys -= 1;
        if let Some(deadline) = record.deadline_ms {
            self.expiring -= 1;
            self.deadline_sum -= u128::from(deadline);
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN);
        out.extend_from_slice(&self.keys.to_be_bytes());
        out.extend_from_slice(&self.expiring.to_be_bytes());
        out.extend_from_slice(&self.deadline_sum.to_be_bytes());
        out.extend_from_slice(&self.clock_ms.to_be_bytes());
        out
    }

    /// Decodes [`KeyspaceState::encode`]'s bytes, or a key count alone (what versions before
    /// expiry stored).
    pub(crate) fn decode(bytes: &[u8]) -> Option<KeyspaceState> {
        let u64_at = |at: usize| Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
        match bytes.len() {
            8 => Some(KeyspaceState {
                keys: u64_at(0)?,
                ..KeyspaceState::default()
            }),
            Self::LEN => Some(KeyspaceState {
                keys: u64_at(0)?,
                expiring: u64_at(8)?,
                deadline_sum: u128::from_be_bytes(bytes[16..32].try_into().ok()?),
                clock_ms: u64_at(32)?,
            }),
            _ => None,
        }
    }

    /// Stored pairs: key records and deadline entries (what a snapshot transfers).
    pub(crate) fn pairs(&self) -> u64 {
        self.keys + self.expiring
    }
}

/// The state machine of one data group.
#[derive(Debug)]
pub(crate) struct Keyspace {
    group: GroupId,
    /// Where the live data is: the generation changes when a snapshot is installed.
    range: DataRange,
    /// Counts and the cluster time, kept in step with the data by every apply pass.
    state: KeyspaceState,
    /// The longest value a write may leave, bytes (see [`Writer::value_bytes_max`]).
    value_bytes_max: usize,
    /// Keys this node deleted because they expired, since it started (`INFO expired_keys`).
    expired_keys: u64,
    /// RANDOMKEY draws this node served, since it started: the seed of the next draw.
    random_draws: Cell<u64>,
    /// The keys connections WATCH (stored in the data range too).
    watches: Watches,
    /// The known bug to plant, if any (simulation builds only).
    #[cfg(feature = "planted-bugs")]
    planted_bug: Option<crate::PlantedBug>,
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
        let state = match store.get(ColumnFamily::raft_state(group), &key)? {
            Some(bytes) => KeyspaceState::decode(&bytes)
                .ok_or_else(|| crate::Error::Corrupt(format!("group {group} keyspace state")))?,
            None => KeyspaceState::default(),
        };
        Ok(Keyspace {
            group,
            range,
            state,
            value_bytes_max,
            expired_keys: 0,
            random_draws: Cell::new(0),
            watches: Watches::load(range, store)?,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        })
    }

    /// The keyspace a snapshot install leaves in place of this one: `state` describes the data
    /// in `range`, which `store` holds. The caller writes it with [`Keyspace::finish_pass`] in
    /// the install batch.
    pub(crate) fn installed(
        &self,
        range: DataRange,
        state: KeyspaceState,
        store: &dyn Store,
    ) -> crate::Result<Keyspace> {
        Ok(Keyspace {
            group: range.group,
            range,
            state,
            value_bytes_max: self.value_bytes_max,
            expired_keys: self.expired_keys,
            random_draws: self.random_draws.clone(),
            watches: Watches::load(range, store)?,
            #[cfg(feature = "planted-bugs")]
            planted_bug: self.planted_bug,
        })
    }

    fn reader<'a>(&'a self, source: Source<'a>) -> Reader<'a> {
        Reader {
            range: self.range,
            state: self.state,
            random_draws: &self.random_draws,
            source,
        }
    }

    /// Where the live data is.
    pub(crate) fn range(&self) -> DataRange {
        self.range
    }

    /// Plants `bug` in this keyspace's apply (simulation builds only).
    #[cfg(feature = "planted-bugs")]
    pub(crate) fn plant(&mut self, bug: Option<crate::PlantedBug>) {
        self.planted_bug = bug;
    }

    /// Pairs the data range holds: what a snapshot of it transfers.
    pub(crate) fn pairs(&self) -> u64 {
        self.state.pairs() + self.watches.len()
    }

    /// Applies one committed proposal and returns the reply for the client that proposed it:
    /// the command its arguments name, through that command's spec, at the cluster time the
    /// entry's timestamp moves to. A proposal that is not a write command this version knows
    /// changes nothing: the node never proposes one to a data group, so it was written by a
    /// newer version or a broken peer (the group logs it).
    pub(crate) fn apply(
        &mut self,
        cx: &mut ApplyContext<'_>,
        proposal: &Proposal,
    ) -> Result<Reply, Inapplicable> {
        match proposal {
            Proposal::Command { unix_ms, args } => {
                let call = Call::from_log(args.clone()).ok_or(Inapplicable::UnknownCommand)?;
                let Run::Write { apply, .. } = call.run() else {
                    return Err(Inapplicable::NotAWrite);
                };
                self.advance_clock(cx, *unix_ms);
                Ok(apply(call.args(), &mut Writer { keyspace: self, cx }))
            }
            Proposal::Expire { unix_ms, keys } => {
                self.advance_clock(cx, *unix_ms);
                let mut writer = Writer { keyspace: self, cx };
                for key in keys {
                    // Looking at a key deletes it if it has expired; one that was given a new
                    // TTL or none since the leader listed it stays.
                    writer.entry(key);
                }
                Ok(Reply::ok())
            }
            Proposal::RegisterNode(_) => Err(Inapplicable::WrongGroup),
        }
    }

    /// Moves the cluster time to `unix_ms` if that is later, and reclaims the watch records
    /// it leaves behind.
    fn advance_clock(&mut self, cx: &mut ApplyContext<'_>, unix_ms: u64) {
        self.state.clock_ms = self.state.clock_ms.max(unix_ms);
        self.watches.reclaim(cx, self.range, self.state.clock_ms);
    }

    /// Adds the keyspace's own bookkeeping to the pass's writes. Call once at the end of each
    /// pass, in the same batch as the applied index.
    pub(crate) fn finish_pass(&self, batch: &mut WriteBatch) {
        let key = StateKey::KeyCount.encode(self.group);
        batch.put(
            ColumnFamily::raft_state(self.group),
            key,
            self.state.encode(),
        );
    }

    /// The value of `key`, as of the last apply pass written to `store`.
    #[cfg(test)]
    pub(crate) fn get(&self, store: &dyn Store, key: &[u8]) -> Option<Bytes> {
        Reader::new(self, store).get(key)
    }

    /// Number of keys, expired ones not yet reclaimed included.
    #[cfg(test)]
    pub(crate) fn key_count(&self) -> u64 {
        self.state.keys
    }

    /// Counts and cluster time.
    pub(crate) fn state(&self) -> KeyspaceState {
        self.state
    }

    /// Keys this node deleted on expiry since it started.
    pub(crate) fn expired_keys(&self) -> u64 {
        self.expired_keys
    }

    /// Redis's `avg_ttl`: the mean time to live of the keys with a TTL, ms (0 without any).
    pub(crate) fn avg_ttl_ms(&self) -> u64 {
        match self.state.expiring {
            0 => 0,
            n => {
                let mean = self.state.deadline_sum / u128::from(n);
                u64::try_from(mean.saturating_sub(u128::from(self.state.clock_ms)))
                    .unwrap_or(u64::MAX)
            }
        }
    }

    /// Up to `max` keys whose deadline is `now_ms` or earlier, soonest first, as of the last
    /// apply pass written to `store`: what the leader's active expiry proposes to delete.
    pub(crate) fn due_keys(&self, store: &dyn Store, now_ms: u64, max: usize) -> Vec<Bytes> {
        let mut keys = Vec::new();
        if max == 0 || self.state.expiring == 0 {
            return keys;
        }
        let start = layout::deadlines_start(self.range);
        let end = layout::deadlines_through(self.range, now_ms);
        store
            .scan(CF, &start, &end, &mut |stored, _| {
                keys.push(Bytes::copy_from_slice(layout::parse_deadline_key(stored).1));
                if keys.len() >= max {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap_or_else(|e| panic!("scanning {CF}: {e}"));
        keys
    }
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
        /// FLUSHALL.
        FlushAll,
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
            1 => Just(Step::FlushAll),
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
            Step::FlushAll => {
                model.clear();
                Some(Reply::ok())
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
                Some(Proposal::Command { unix_ms: 0, args })
            }
            Step::Del(keys) => Some(Proposal::Command {
                unix_ms: 0,
                args: std::iter::once(word("DEL"))
                    .chain(keys.iter().map(|k| key(*k)))
                    .collect(),
            }),
            Step::FlushAll => Some(Proposal::Command {
                unix_ms: 0,
                args: vec![word("FLUSHALL")],
            }),
            Step::Flush => None,
        }
    }

    #[test]
    fn an_overwrite_is_one_put_and_a_ttl_change_moves_one_deadline_entry() {
        // Goal: a write over an existing key costs one store write for its record (no
        // tombstone first), plus deadline-entry changes only when the deadline changes.
        // Method: apply writes over a stored key and count the data family's batch ops.
        use crate::storage::WriteOp;
        let mut replica = super::super::testing::Replica::new();
        let data_ops = |replica: &mut super::super::testing::Replica, words: &[&str]| {
            let args = words
                .iter()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect();
            let mut cx = ApplyContext::new(&replica.store);
            replica
                .keyspace
                .apply(
                    &mut cx,
                    &Proposal::Command {
                        unix_ms: 1_000,
                        args,
                    },
                )
                .unwrap();
            let batch = cx.into_batch();
            let ops: Vec<&str> = batch
                .ops()
                .iter()
                .map(|op| match op {
                    WriteOp::Put { .. } => "put",
                    WriteOp::Delete { .. } => "delete",
                    WriteOp::DeleteRange { .. } => "delete-range",
                })
                .collect();
            let ops = ops.join(" ");
            let mut batch = batch;
            replica.keyspace.finish_pass(&mut batch);
            replica.store.write(batch).unwrap();
            ops
        };
        assert_eq!(data_ops(&mut replica, &["SET", "k", "v1"]), "put");
        assert_eq!(data_ops(&mut replica, &["SET", "k", "v2"]), "put");
        assert_eq!(
            data_ops(&mut replica, &["SET", "k", "v3", "PX", "5000"]),
            "put put"
        );
        assert_eq!(data_ops(&mut replica, &["APPEND", "k", "4"]), "put");
        assert_eq!(
            data_ops(&mut replica, &["PEXPIRE", "k", "9000"]),
            "delete put put"
        );
        assert_eq!(data_ops(&mut replica, &["SET", "k", "v5"]), "delete put");
        assert_eq!(replica.keyspace.state().keys, 1);
        assert_eq!(replica.keyspace.state().expiring, 0);
        assert_eq!(
            replica.run(1_000, &["GET", "k"]),
            Reply::Bulk(Bytes::from_static(b"v5"))
        );
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
                keyspace.apply(&mut setup, &Proposal::Command { unix_ms: 0, args: vec![Bytes::from("SET"), key(*k), Bytes::from("v")] }).unwrap();
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
                keyspace.apply(&mut cx, &Proposal::Command { unix_ms: 0, args }).unwrap();
            }
            let mut seen = Vec::new();
            Reader::mid_pass(&keyspace, &cx).for_each_key(&mut |k| {
                seen.push(Bytes::copy_from_slice(k));
                ControlFlow::Continue(())
            });
            // In position order (slot, then hash), each key once.
            let mut sorted = seen.clone();
            sorted.sort_by_key(|k| (layout::position(k), k.clone()));
            prop_assert_eq!(&seen, &sorted);
            seen.sort();
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
