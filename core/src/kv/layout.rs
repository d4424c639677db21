//! Where a keyspace's records live inside its group's data range.
//!
//! Two kinds of stored key follow the range's 8-byte prefix:
//!
//! - a *key record*, `1 · position · key`, holding the key's value (see [`super::record`]);
//! - a *deadline entry*, `2 · deadline · key`, with an empty value, one per key that has a
//!   TTL: the index the leader's active expiry walks, soonest deadline first;
//! - a *watch record*, `3 · key length · key · token`, one per key a connection WATCHes (see
//!   [`super::watch`]).
//!
//! The position is the key's hash slot in the top 14 bits and 50 bits of a stable hash
//! (FNV-1a) below, so key records sort by slot (`CLUSTER COUNTKEYSINSLOT` is one range) and a
//! SCAN cursor can be a plain 64-bit number: the position to resume from. Keys that share a
//! position sort by their bytes. Integers are big-endian, so byte order is numeric order.

use std::hash::Hasher;

use crate::cmd::key_hash_slot;
use crate::storage::DataRange;

const KEY_RECORD: u8 = 1;
const DEADLINE_ENTRY: u8 = 2;
const WATCH_RECORD: u8 = 3;
const PREFIX_LEN: usize = 8;
/// Prefix, tag, then an 8-byte position or deadline.
const HEADER_LEN: usize = PREFIX_LEN + 1 + 8;
const HASH_BITS: u32 = 50;

/// The position of `key` among the key records: its slot, then 50 bits of its hash.
pub(crate) fn position(key: &[u8]) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(key);
    (u64::from(key_hash_slot(key)) << HASH_BITS) | (hasher.finish() & ((1 << HASH_BITS) - 1))
}

/// The first position of `slot` (`slot` may be one past the last, for an end).
pub(crate) fn slot_start(slot: u16) -> u64 {
    u64::from(slot) << HASH_BITS
}

fn header(range: DataRange, tag: u8, number: u64, key_len: usize) -> Vec<u8> {
    let mut stored = Vec::with_capacity(HEADER_LEN + key_len);
    stored.extend_from_slice(&range.prefix());
    stored.push(tag);
    stored.extend_from_slice(&number.to_be_bytes());
    stored
}

/// The stored key of `key`'s record.
pub(crate) fn record_key(range: DataRange, key: &[u8]) -> Vec<u8> {
    let mut stored = header(range, KEY_RECORD, position(key), key.len());
    stored.extend_from_slice(key);
    stored
}

/// The first stored key of the records at `position` or later.
pub(crate) fn records_from(range: DataRange, position: u64) -> Vec<u8> {
    header(range, KEY_RECORD, position, 0)
}

/// The first stored key after every key record.
pub(crate) fn records_end(range: DataRange) -> Vec<u8> {
    let mut end = range.prefix().to_vec();
    end.push(KEY_RECORD + 1);
    end
}

/// The user's key of a stored key record.
pub(crate) fn record_user_key(stored: &[u8]) -> &[u8] {
    &stored[HEADER_LEN..]
}

/// The stored key of `key`'s deadline entry.
pub(crate) fn deadline_key(range: DataRange, deadline_ms: u64, key: &[u8]) -> Vec<u8> {
    let mut stored = header(range, DEADLINE_ENTRY, deadline_ms, key.len());
    stored.extend_from_slice(key);
    stored
}

/// The first stored deadline entry.
pub(crate) fn deadlines_start(range: DataRange) -> Vec<u8> {
    header(range, DEADLINE_ENTRY, 0, 0)
}

/// The first stored key after the deadline entries of deadlines up to `deadline_ms`.
pub(crate) fn deadlines_through(range: DataRange, deadline_ms: u64) -> Vec<u8> {
    match deadline_ms.checked_add(1) {
        Some(next) => header(range, DEADLINE_ENTRY, next, 0),
        None => {
            let mut end = range.prefix().to_vec();
            end.push(DEADLINE_ENTRY + 1);
            end
        }
    }
}

/// The deadline and user's key of a stored deadline entry.
pub(crate) fn parse_deadline_key(stored: &[u8]) -> (u64, &[u8]) {
    let deadline = u64::from_be_bytes(
        stored[PREFIX_LEN + 1..HEADER_LEN]
            .try_into()
            .expect("8 bytes"),
    );
    (deadline, &stored[HEADER_LEN..])
}

/// The stored key of the watch record of `key` for `token`. The key's length comes first, so
/// one key's records are one range ([`watch_records_of`]) and never mix with a longer key's.
pub(crate) fn watch_key(range: DataRange, key: &[u8], token: &[u8]) -> Vec<u8> {
    let mut stored = watch_records_of(range, key);
    stored.extend_from_slice(token);
    stored
}

/// The common start of every watch record of `key`.
pub(crate) fn watch_records_of(range: DataRange, key: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(PREFIX_LEN + 1 + 4 + key.len() + 24);
    stored.extend_from_slice(&range.prefix());
    stored.push(WATCH_RECORD);
    stored.extend_from_slice(&(key.len() as u32).to_be_bytes());
    stored.extend_from_slice(key);
    stored
}

/// The first and the first-after-last stored keys of the watch records.
pub(crate) fn watch_records(range: DataRange) -> (Vec<u8>, Vec<u8>) {
    let mut start = range.prefix().to_vec();
    start.push(WATCH_RECORD);
    let mut end = range.prefix().to_vec();
    end.push(WATCH_RECORD + 1);
    (start, end)
}

/// The user's key and the token of a stored watch record; `None` if `stored` is not one.
pub(crate) fn parse_watch_key(stored: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = stored.get(PREFIX_LEN + 1..)?;
    let (len, rest) = rest.split_at_checked(4)?;
    let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
    let (key, token) = rest.split_at_checked(len)?;
    Some((key, token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::GroupId;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn records_sort_by_position_and_stay_inside_their_bounds(
            a in proptest::collection::vec(any::<u8>(), 0..12),
            b in proptest::collection::vec(any::<u8>(), 0..12),
        ) {
            let range = DataRange::first(GroupId(1));
            let (ka, kb) = (record_key(range, &a), record_key(range, &b));
            prop_assert_eq!((position(&a), &a[..]).cmp(&(position(&b), &b[..])), ka.cmp(&kb));
            for stored in [&ka, &kb] {
                prop_assert!(records_from(range, 0) <= *stored && *stored < records_end(range));
                prop_assert!(*stored < deadlines_start(range));
            }
            prop_assert_eq!(record_user_key(&ka), &a[..]);
            prop_assert_eq!(position(&a) >> HASH_BITS, u64::from(key_hash_slot(&a)));
        }

        #[test]
        fn deadline_entries_sort_by_deadline(d in any::<u64>(), e in any::<u64>(), key in proptest::collection::vec(any::<u8>(), 0..12)) {
            let range = DataRange::first(GroupId(1));
            let stored = deadline_key(range, d, &key);
            prop_assert_eq!(parse_deadline_key(&stored), (d, &key[..]));
            prop_assert!(deadlines_start(range) <= stored);
            prop_assert_eq!(stored < deadlines_through(range, e), d <= e);
            prop_assert!(stored < range.end());
        }

        #[test]
        fn watch_records_of_a_key_share_a_range_no_other_key_enters(
            a in proptest::collection::vec(any::<u8>(), 0..8),
            b in proptest::collection::vec(any::<u8>(), 0..8),
            token in proptest::collection::vec(any::<u8>(), 0..24),
        ) {
            let range = DataRange::first(GroupId(1));
            let stored = watch_key(range, &a, &token);
            prop_assert_eq!(parse_watch_key(&stored), Some((&a[..], &token[..])));
            prop_assert!(stored.starts_with(&watch_records_of(range, &a)));
            prop_assert_eq!(stored.starts_with(&watch_records_of(range, &b)), a == b);
            let (start, end) = watch_records(range);
            prop_assert!(start <= stored && stored < end && end <= range.end());
            prop_assert!(deadlines_through(range, u64::MAX) <= start);
        }
    }
}
