//! Key layout inside the column families. All integers are big-endian so that byte order is
//! numeric order and a group's keys form one contiguous range.

use crate::ids::GroupId;

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
        };
        let mut key = Vec::with_capacity(9);
        key.extend_from_slice(&group_prefix(group));
        key.push(tag);
        key
    }
}

/// A state-machine key of `group` in `system_data` or `data_kv`: the group prefix, then the
/// user's key bytes unchanged.
pub fn data_key(group: GroupId, user_key: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(GROUP_PREFIX_LEN + user_key.len());
    key.extend_from_slice(&group_prefix(group));
    key.extend_from_slice(user_key);
    key
}

/// The user's key bytes of a key made by [`data_key`].
pub fn user_key(data_key: &[u8]) -> &[u8] {
    &data_key[GROUP_PREFIX_LEN..]
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
    fn data_keys_stay_inside_their_group_range() {
        let key = data_key(GroupId(1), &[0xff; 300]);
        assert!(key.as_slice() >= group_prefix(GroupId(1)).as_slice());
        assert!(key < group_end(GroupId(1)));
        assert_eq!(user_key(&key), &[0xff; 300][..]);
    }
}
