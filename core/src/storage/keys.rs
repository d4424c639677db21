//! Key layout inside the column families. All integers are big-endian so that byte order is
//! numeric order and a group's keys form one contiguous range.

use crate::ids::GroupId;
use crate::storage::ColumnFamily;

const GROUP_PREFIX_LEN: usize = 8;

/// The 8-byte prefix shared by every key of `group`.
pub fn group_prefix(group: GroupId) -> [u8; GROUP_PREFIX_LEN] {
    group.0.to_be_bytes()
}

/// The first key after every key of `group` (exclusive upper bound of its range).
pub fn group_end(group: GroupId) -> Vec<u8> {
    match group.0.checked_add(1) {
        Some(next) => next.to_be_bytes().to_vec(),
        // The last possible group: everything sorts below nine 0xff bytes.
        None => vec![0xff; GROUP_PREFIX_LEN + 1],
    }
}

/// A log entry's key in `{system,data}_raft_log`: group, then index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogKey {
    /// The group the entry belongs to.
    pub group: GroupId,
    /// The entry's log index.
    pub index: u64,
}

impl LogKey {
    /// Encodes the key.
    pub fn encode(self) -> Vec<u8> {
        let mut key = Vec::with_capacity(16);
        key.extend_from_slice(&group_prefix(self.group));
        key.extend_from_slice(&self.index.to_be_bytes());
        key
    }

    /// Decodes a key written by [`LogKey::encode`].
    pub fn decode(bytes: &[u8]) -> Option<LogKey> {
        let group = u64::from_be_bytes(bytes.get(0..8)?.try_into().ok()?);
        let index = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        (bytes.len() == 16).then_some(LogKey {
            group: GroupId(group),
            index,
        })
    }
}

/// The records kept in `{system,data}_raft_state`, one of each per group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKey {
    /// raft-rs `HardState` (term, vote, commit), protobuf.
    HardState,
    /// raft-rs `ConfState` (voters, learners), protobuf.
    ConfState,
    /// Index of the last entry applied to the state machine, 8 bytes. Written in the same batch
    /// as the data it describes.
    AppliedIndex,
    /// raft-rs `SnapshotMetadata` of the last snapshot the log was compacted to, protobuf.
    SnapshotMetadata,
    /// Number of live keys in the group's keyspace, 8 bytes, kept with the applied index.
    KeyCount,
    /// The generation of the group's state-machine data ([`DataRange`]), 4 bytes; absent
    /// means 0. A snapshot install switches it in the same batch as the applied index.
    DataGeneration,
}

impl StateKey {
    /// Encodes the key for `group`.
    pub fn encode(self, group: GroupId) -> Vec<u8> {
        let tag: u8 = match self {
            StateKey::HardState => 1,
            StateKey::ConfState => 2,
            StateKey::AppliedIndex => 3,
            StateKey::SnapshotMetadata => 4,
            StateKey::KeyCount => 5,
            StateKey::DataGeneration => 6,
        };
        let mut key = Vec::with_capacity(9);
        key.extend_from_slice(&group_prefix(group));
        key.push(tag);
        key
    }
}

/// Where one generation of a group's state-machine data lives in `system_data` or `data_kv`.
///
/// Its keys start with an 8-byte big-endian prefix: the group id in the low 32 bits, the
/// generation in the high 32 bits, then the user's key bytes unchanged. Generation 0 is plain
/// [`group_prefix`]. A snapshot arriving from the leader is written, chunk by chunk, into the
/// next generation while the live one keeps serving; installing it is one small batch that
/// switches [`StateKey::DataGeneration`] and range-deletes the old generation. So the install is
/// atomic however large the snapshot, and an interrupted transfer leaves only a staging range
/// that the next one clears (TiKV stages snapshots in files for the same reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataRange {
    /// The group whose state machine owns the range (its id is the key prefix's low half).
    pub group: GroupId,
    /// The generation: 0 until the group's first snapshot install, one more after each.
    pub generation: u32,
}

impl DataRange {
    /// Generation 0 of `group`.
    ///
    /// # Panics
    /// If the group id does not fit the prefix's 32 bits.
    pub fn first(group: GroupId) -> DataRange {
        assert!(
            group.0 < u64::from(u32::MAX),
            "group {group} does not fit a data prefix"
        );
        DataRange {
            group,
            generation: 0,
        }
    }

    /// The generation a snapshot install writes into.
    ///
    /// # Panics
    /// After 2^32 - 1 installs.
    pub fn next(self) -> DataRange {
        DataRange {
            generation: self
                .generation
                .checked_add(1)
                .expect("data generations are exhausted"),
            ..self
        }
    }

    /// The family holding this data.
    pub fn cf(self) -> ColumnFamily {
        ColumnFamily::data(self.group)
    }

    /// The 8-byte prefix of every key in the range.
    pub fn prefix(self) -> [u8; GROUP_PREFIX_LEN] {
        ((u64::from(self.generation) << 32) | self.group.0).to_be_bytes()
    }

    /// The first key after the range (its exclusive upper bound).
    pub fn end(self) -> Vec<u8> {
        ((u64::from(self.generation) << 32) | (self.group.0 + 1))
            .to_be_bytes()
            .to_vec()
    }

    /// The stored key of `user_key`.
    pub fn key(self, user_key: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(GROUP_PREFIX_LEN + user_key.len());
        key.extend_from_slice(&self.prefix());
        key.extend_from_slice(user_key);
        key
    }

    /// The user's key bytes of a stored key of the range.
    pub fn user_key(stored_key: &[u8]) -> &[u8] {
        &stored_key[GROUP_PREFIX_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keys_sort_by_group_then_index() {
        let a = LogKey {
            group: GroupId(1),
            index: 255,
        }
        .encode();
        let b = LogKey {
            group: GroupId(1),
            index: 256,
        }
        .encode();
        let c = LogKey {
            group: GroupId(2),
            index: 1,
        }
        .encode();
        assert!(a < b && b < c);
        assert!(c < group_end(GroupId(2)));
        assert_eq!(
            LogKey::decode(&b),
            Some(LogKey {
                group: GroupId(1),
                index: 256
            })
        );
    }

    #[test]
    fn data_keys_stay_inside_their_range_and_generations_do_not_overlap() {
        let live = DataRange::first(GroupId(1));
        let key = live.key(&[0xff; 300]);
        assert_eq!(
            &live.prefix(),
            &group_prefix(GroupId(1)),
            "generation 0 is the group prefix"
        );
        assert!(key.as_slice() >= live.prefix().as_slice());
        assert!(key < live.end());
        assert_eq!(DataRange::user_key(&key), &[0xff; 300][..]);
        let staged = live.next();
        let staged_key = staged.key(&[]);
        assert!(staged_key >= live.end() || staged_key < live.prefix().to_vec());
        assert!(staged.key(&[0xff; 300]) < staged.end());
        // Another group's generation 0 is not inside this group's generation 1, nor the reverse.
        let other = DataRange::first(GroupId(2));
        assert!(other.key(b"k") < staged.prefix().to_vec());
    }
}
