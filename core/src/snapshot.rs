//! Snapshots: how a group's state reaches a follower that is behind the leader's compacted log.
//!
//! Each group compacts its log once enough entries have applied; the state machine's data in
//! the store is then the only record of what the compacted entries did. A follower that needs
//! an entry the leader no longer has gets that data instead (Raft thesis §5.1, "InstallSnapshot"):
//!
//! 1. raft-rs on the leader asks its storage for a snapshot. The group answers "not yet" and
//!    prepares one: a [`StoreView`] of the store, made between two apply passes, so it holds
//!    the data at exactly the applied index the snapshot's metadata names. raft-rs asks again
//!    on the next heartbeat response and sends a `MsgSnapshot` carrying only the metadata and a
//!    [`SnapshotDescriptor`].
//! 2. That message leaves the core as [`Output::SendSnapshot`](crate::Output::SendSnapshot),
//!    with a [`SnapshotSource`] over the view. The runtime streams the message, then the data
//!    in chunks of at most [`CHUNK_BYTES_MAX`] read one at a time, so the snapshot is never
//!    whole in memory on either side, and reports the outcome with
//!    [`Node::handle_snapshot_sent`](crate::Node::handle_snapshot_sent).
//! 3. The follower's runtime hands the message and then each chunk to the core
//!    (`Node::handle_snapshot_begin`, `handle_snapshot_chunk`, `handle_snapshot_end`). The
//!    chunks are written into the next generation of the group's [`DataRange`], beside the
//!    live data. Only when every pair has arrived does the core step the message into
//!    raft-rs; if raft-rs accepts it, one batch switches the generation, sets the applied
//!    index and resets the log: the install is atomic, and an interrupted transfer leaves only
//!    a staging range that the next transfer (or a restart) clears.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use raft::eraftpb::Message;

use crate::ids::{GroupId, NodeId};
use crate::kv::KeyspaceState;
use crate::storage::{DataRange, StoreError, StoreView};

/// Bytes of pairs a chunk holds at most (one pair more may make it a little larger).
pub const CHUNK_BYTES_MAX: usize = 1024 * 1024;

/// What a `MsgSnapshot` carries besides raft-rs's metadata: enough for the follower to check
/// that it received the whole snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SnapshotDescriptor {
    /// Number of pairs the snapshot holds.
    pub(crate) pairs: u64,
    /// A data group's counts and cluster time at the snapshot's index (default for the system
    /// group), installed with the pairs.
    pub(crate) keyspace: KeyspaceState,
}

impl SnapshotDescriptor {
    /// Version 1 held the pair count alone, before key expiry.
    const VERSION_1: u8 = 1;
    const VERSION: u8 = 2;
    const ENCODED_LEN: usize = 9 + KeyspaceState::LEN;

    /// The bytes placed in raft-rs's `Snapshot.data`.
    pub(crate) fn encode(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(Self::ENCODED_LEN);
        bytes.push(Self::VERSION);
        bytes.extend_from_slice(&self.pairs.to_be_bytes());
        bytes.extend_from_slice(&self.keyspace.encode());
        bytes
    }

    /// Decodes bytes made by [`SnapshotDescriptor::encode`] (or by a version 1 one); `None`
    /// for anything else.
    pub(crate) fn decode(bytes: &[u8]) -> Option<SnapshotDescriptor> {
        let pairs = u64::from_be_bytes(bytes.get(1..9)?.try_into().ok()?);
        match (bytes[0], bytes.len()) {
            (Self::VERSION_1, 9) => Some(SnapshotDescriptor {
                pairs,
                keyspace: KeyspaceState {
                    keys: pairs,
                    ..KeyspaceState::default()
                },
            }),
            (Self::VERSION, Self::ENCODED_LEN) => Some(SnapshotDescriptor {
                pairs,
                keyspace: KeyspaceState::decode(&bytes[9..])?,
            }),
            _ => None,
        }
    }
}

/// Names one transfer: the leader that sent it and the snapshot's index and term. Chunks of
/// two transfers that overlap in time (an old leader's and a new one's) never mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotId {
    /// The group whose state the snapshot holds.
    pub group: GroupId,
    /// The node that sent it.
    pub from: NodeId,
    /// The last log index the snapshot covers.
    pub index: u64,
    /// The term of that entry.
    pub term: u64,
}

impl SnapshotId {
    /// The transfer a `MsgSnapshot` of `group` starts.
    pub fn of(group: GroupId, message: &Message) -> SnapshotId {
        let metadata = message.get_snapshot().get_metadata();
        SnapshotId {
            group,
            from: NodeId(message.from),
            index: metadata.index,
            term: metadata.term,
        }
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "group {} snapshot {}/{} from node {}",
            self.group, self.index, self.term, self.from
        )
    }
}

/// The data of one snapshot, read from a point-in-time view of the leader's store. Cloning is
/// cheap; the view lives as long as some clone does.
#[derive(Clone)]
pub struct SnapshotSource {
    view: Arc<dyn StoreView>,
    range: DataRange,
    index: u64,
}

impl fmt::Debug for SnapshotSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotSource")
            .field("range", &self.range)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl SnapshotSource {
    /// The data of `range` in `view`, which holds the state at applied index `index`.
    pub fn new(view: Arc<dyn StoreView>, range: DataRange, index: u64) -> SnapshotSource {
        SnapshotSource { view, range, index }
    }

    /// The applied index the data is at.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Reads the chunk that follows the pair with user key `after` (the first chunk when
    /// `None`), holding pairs until it reaches `bytes_max` bytes.
    pub fn chunk(
        &self,
        after: Option<&[u8]>,
        bytes_max: usize,
    ) -> Result<SnapshotChunk, StoreError> {
        let start = match after {
            // The smallest key after `after`.
            Some(after) => {
                let mut start = self.range.key(after);
                start.push(0);
                start
            }
            None => self.range.prefix().to_vec(),
        };
        let mut chunk = SnapshotChunk::default();
        let mut has_more = false;
        self.view.scan(
            self.range.cf(),
            &start,
            &self.range.end(),
            &mut |key, value| {
                if chunk.data.len() >= bytes_max {
                    has_more = true;
                    return ControlFlow::Break(());
                }
                chunk.push(DataRange::user_key(key), value);
                ControlFlow::Continue(())
            },
        )?;
        chunk.is_last = !has_more;
        Ok(chunk)
    }

    /// Every chunk in order, read one at a time as the iterator advances.
    pub fn chunks(&self, bytes_max: usize) -> Chunks<'_> {
        Chunks {
            source: self,
            after: None,
            bytes_max,
            done: false,
        }
    }
}

/// The iterator of [`SnapshotSource::chunks`].
pub struct Chunks<'a> {
    source: &'a SnapshotSource,
    after: Option<Vec<u8>>,
    bytes_max: usize,
    done: bool,
}

impl Iterator for Chunks<'_> {
    type Item = Result<SnapshotChunk, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let chunk = self.source.chunk(self.after.as_deref(), self.bytes_max);
        match &chunk {
            Ok(chunk) => {
                self.after.clone_from(&chunk.last_key);
                self.done = chunk.is_last;
            }
            Err(_) => self.done = true,
        }
        Some(chunk)
    }
}

/// A run of pairs of a snapshot: user keys and stored records, each behind a 4-byte big-endian
/// length. `data` is what travels; the rest tells the sender where to go on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotChunk {
    /// `(u32 key length, key, u32 record length, record)*`.
    pub data: Vec<u8>,
    /// Pairs in `data`.
    pub pairs: u64,
    /// The user key of the last pair; the next chunk starts after it.
    pub last_key: Option<Vec<u8>>,
    /// Whether no pairs follow.
    pub is_last: bool,
}

impl SnapshotChunk {
    fn push(&mut self, key: &[u8], record: &[u8]) {
        self.data
            .extend_from_slice(&(key.len() as u32).to_be_bytes());
        self.data.extend_from_slice(key);
        self.data
            .extend_from_slice(&(record.len() as u32).to_be_bytes());
        self.data.extend_from_slice(record);
        self.pairs += 1;
        self.last_key = Some(key.to_vec());
    }
}

/// The pairs of a chunk's `data`, or `None` if it is malformed (a peer is never trusted to send
/// well-formed bytes).
pub fn decode_pairs(mut data: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut pairs = Vec::new();
    while !data.is_empty() {
        let key = take_prefixed(&mut data)?;
        let record = take_prefixed(&mut data)?;
        pairs.push((key, record));
    }
    Some(pairs)
}

/// Splits a `u32`-length-prefixed byte string off the front of `rest`.
fn take_prefixed<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let bytes = rest.get(4..4usize.checked_add(len)?)?;
    *rest = &rest[4 + len..];
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::storage::{MemStore, Store, WriteBatch};

    #[test]
    fn descriptors_round_trip_and_reject_other_bytes() {
        let descriptor = SnapshotDescriptor {
            pairs: 1 << 40,
            keyspace: KeyspaceState {
                keys: 3,
                expiring: 2,
                deadline_sum: 1 << 80,
                clock_ms: 1_700_000_000_000,
            },
        };
        assert_eq!(
            SnapshotDescriptor::decode(&descriptor.encode()),
            Some(descriptor)
        );
        assert_eq!(SnapshotDescriptor::decode(b""), None);
        assert_eq!(SnapshotDescriptor::decode(&[2; 9]), None);
    }

    #[test]
    fn malformed_chunks_are_refused() {
        assert_eq!(decode_pairs(&[0, 0, 0, 5, b'a']), None);
        assert_eq!(decode_pairs(&[0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(
            decode_pairs(&[0, 0, 0, 1, b'k']),
            None,
            "a key without a record"
        );
        assert_eq!(decode_pairs(&[]), Some(Vec::new()));
    }

    proptest! {
        #[test]
        fn chunks_carry_every_pair_of_the_view_once_and_nothing_written_later(
            pairs in proptest::collection::btree_map(
                proptest::collection::vec(any::<u8>(), 0..12),
                proptest::collection::vec(any::<u8>(), 0..20),
                0..40,
            ),
            bytes_max in 1usize..64,
        ) {
            // Goal: reading a view in bounded chunks yields exactly its range's pairs, in
            // order, each once, and ignores writes made after the view and other ranges.
            // Method: random pairs and chunk bound; a neighbour range and a later write.
            let range = DataRange::first(GroupId(1));
            let mut store = MemStore::new();
            let mut batch = WriteBatch::new();
            for (k, v) in &pairs {
                batch.put(range.cf(), range.key(k), v.clone());
            }
            batch.put(range.cf(), range.next().key(b"staged"), b"x".to_vec());
            batch.put(range.cf(), DataRange::first(GroupId(2)).key(b""), b"x".to_vec());
            store.write(batch).unwrap();
            let source = SnapshotSource::new(store.view(), range, 7);
            let mut later = WriteBatch::new();
            later.put(range.cf(), range.key(b"later"), b"x".to_vec());
            store.write(later).unwrap();

            let mut seen = Vec::new();
            let mut chunks = 0;
            for chunk in source.chunks(bytes_max) {
                let chunk = chunk.unwrap();
                let decoded = decode_pairs(&chunk.data).unwrap();
                prop_assert_eq!(decoded.len() as u64, chunk.pairs);
                seen.extend(decoded.into_iter().map(|(k, v)| (k.to_vec(), v.to_vec())));
                chunks += 1;
                prop_assert!(chunks <= pairs.len() + 1, "the chunks do not end");
            }
            let expected: Vec<(Vec<u8>, Vec<u8>)> = pairs.into_iter().collect();
            prop_assert_eq!(seen, expected);
        }
    }
}
