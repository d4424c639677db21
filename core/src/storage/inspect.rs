//! Reading a node's durable state from outside the node: what tests and the simulator use to
//! check the safety invariants after a run (logs agree, caught-up replicas hold the same data).

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use protobuf::Message as _;
use raft::eraftpb::{Entry, SnapshotMetadata};

use super::{group_end, ColumnFamily, DataRange, LogKey, StateKey, Store, StoreError};
use crate::ids::{GroupId, NodeId};

/// The index of the last entry `group` applied, as stored (0 before the first).
pub fn applied_index(store: &dyn Store, group: GroupId) -> Result<u64, StoreError> {
    let stored = store.get(
        ColumnFamily::raft_state(group),
        &StateKey::AppliedIndex.encode(group),
    )?;
    Ok(stored.map_or(0, |bytes| {
        u64::from_be_bytes(bytes.try_into().expect("an applied index is 8 bytes"))
    }))
}

/// Every entry of `group`'s log, in index order.
pub fn log_entries(store: &dyn Store, group: GroupId) -> Result<Vec<Entry>, StoreError> {
    let mut entries = Vec::new();
    let start = LogKey { group, index: 0 }.encode();
    store.scan(
        ColumnFamily::raft_log(group),
        &start,
        &group_end(group),
        &mut |_, value| {
            entries.push(Entry::parse_from_bytes(value).expect("stored entries parse"));
            ControlFlow::Continue(())
        },
    )?;
    Ok(entries)
}

/// Stored `(key, value)` pairs.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Where `group`'s live state-machine data is (its generation changes with snapshot installs).
pub fn data_range(store: &dyn Store, group: GroupId) -> Result<DataRange, StoreError> {
    let stored = store.get(
        ColumnFamily::raft_state(group),
        &StateKey::DataGeneration.encode(group),
    )?;
    Ok(DataRange {
        generation: stored.map_or(0, |bytes| {
            u32::from_be_bytes(bytes.try_into().expect("a data generation is 4 bytes"))
        }),
        ..DataRange::first(group)
    })
}

/// Every stored pair of `group`'s live data, the range prefix cut off, in key order: key
/// records and deadline entries (see `kv::layout`) for a data group.
pub fn data_pairs(store: &dyn Store, group: GroupId) -> Result<Pairs, StoreError> {
    let range = data_range(store, group)?;
    let mut pairs = Vec::new();
    store.scan(
        range.cf(),
        &range.prefix(),
        &range.end(),
        &mut |key, value| {
            pairs.push((DataRange::user_key(key).to_vec(), value.to_vec()));
            ControlFlow::Continue(())
        },
    )?;
    Ok(pairs)
}

/// The value a client would read for `key` of data group `group`, straight from the store.
pub fn value(store: &dyn Store, group: GroupId, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let range = data_range(store, group)?;
    Ok(store
        .get(range.cf(), &crate::kv::record_key(range, key))?
        .map(|record| crate::kv::Record::decode(&record).value.to_vec()))
}

/// The index `group`'s log was last compacted to, or its last installed snapshot (0: never).
pub fn snapshot_index(store: &dyn Store, group: GroupId) -> Result<u64, StoreError> {
    let stored = store.get(
        ColumnFamily::raft_state(group),
        &StateKey::SnapshotMetadata.encode(group),
    )?;
    Ok(stored.map_or(0, |bytes| {
        SnapshotMetadata::parse_from_bytes(&bytes)
            .expect("stored snapshot metadata parses")
            .index
    }))
}

/// Checks the safety invariants over the durable state of several nodes of one cluster, live
/// or crashed, for each of `groups`:
/// - every two nodes applied the same entry (term and data) at every index both still hold
///   (compacted entries are gone; see [`check_replicas_with`]);
/// - for data groups, the nodes that applied the most hold the same KV data.
///
/// Returns the first violation, naming the nodes, the group and the index.
pub fn check_replicas(nodes: &[(NodeId, &dyn Store)], groups: &[GroupId]) -> Result<(), String> {
    check_replicas_with(nodes, groups, &|_, _| Vec::new())
}

/// [`check_replicas`], with the entries each node applied and then compacted away, as a
/// caller that kept them (the simulator's disk does) gives them: `compacted(node, group)`.
pub fn check_replicas_with(
    nodes: &[(NodeId, &dyn Store)],
    groups: &[GroupId],
    compacted: &dyn Fn(NodeId, GroupId) -> Vec<Entry>,
) -> Result<(), String> {
    let read = |e: StoreError| format!("reading a store: {e}");
    for &group in groups {
        let mut logs = Vec::new();
        for &(id, store) in nodes {
            let applied = applied_index(store, group).map_err(read)?;
            let mut entries: BTreeMap<u64, Entry> = compacted(id, group)
                .into_iter()
                .map(|entry| (entry.index, entry))
                .collect();
            for entry in log_entries(store, group).map_err(read)? {
                entries.insert(entry.index, entry);
            }
            logs.push((id, applied, entries));
        }
        for (i, (a, applied_a, log_a)) in logs.iter().enumerate() {
            for (b, applied_b, log_b) in &logs[i + 1..] {
                let common = (*applied_a).min(*applied_b);
                for (index, entry_a) in log_a.range(..=common) {
                    let Some(entry_b) = log_b.get(index) else {
                        continue;
                    };
                    if (entry_a.term, &entry_a.data) != (entry_b.term, &entry_b.data) {
                        return Err(format!(
                            "group {group}: nodes {a} and {b} applied different entries at index {index}"
                        ));
                    }
                }
            }
        }
        if group.is_system() {
            continue;
        }
        let applied_max = logs
            .iter()
            .map(|(_, applied, _)| *applied)
            .max()
            .unwrap_or(0);
        let mut caught_up = Vec::new();
        for (&(id, store), (_, applied, _)) in nodes.iter().zip(&logs) {
            if *applied == applied_max {
                caught_up.push((id, data_pairs(store, group).map_err(read)?));
            }
        }
        for pair in caught_up.windows(2) {
            if pair[0].1 != pair[1].1 {
                return Err(format!(
                    "group {group}: nodes {} and {} both applied up to {applied_max} but hold different data",
                    pair[0].0, pair[1].0
                ));
            }
        }
    }
    Ok(())
}

/// The values `entry` sets, as `(key, value)` pairs: empty for every entry but a client `SET`.
/// For checks that look for a write in a log.
pub fn values_set(entry: &Entry) -> Vec<(bytes::Bytes, bytes::Bytes)> {
    if entry.get_entry_type() != raft::eraftpb::EntryType::EntryNormal || entry.data.is_empty() {
        return Vec::new();
    }
    match crate::kv::Proposal::decode(&entry.data) {
        Some(crate::kv::Proposal::Command { args, .. })
            if args.len() >= 3 && args[0].eq_ignore_ascii_case(b"set") =>
        {
            vec![(args[1].clone(), args[2].clone())]
        }
        _ => Vec::new(),
    }
}
