//! The storage seam: what a runtime implements so that the core's state survives a crash.
//!
//! Everything durable lives in one key-value store with six column families (the spec's
//! RocksDB layout). The system group (group 0) uses the `system_*` families; data groups use the
//! `data_*` families. Every key starts with its group id (8 bytes, big-endian), so many data
//! groups share one family and a group's keys are one contiguous range.
//!
//! Two kinds of write reach the store:
//! - Raft's log, hard state and snapshot metadata leave the core as
//!   [`Output::Persist`](crate::Output::Persist). The runtime writes each batch atomically,
//!   makes it durable (fsync when [`PersistBatch::must_sync`](crate::PersistBatch) is set,
//!   several batches may share one fsync), and only then calls
//!   [`Node::handle_persisted`](crate::Node::handle_persisted).
//! - Applying committed entries writes the KV data and the applied index together through
//!   [`Store::write`], at once and without waiting for an fsync. That is safe: only entries
//!   already durable in the local log are applied, so after a crash the log replays whatever
//!   the data lost.
//!
//! The core reads the store at startup (to rebuild the in-memory log) and for reads of the
//! KV data.

pub mod inspect;
mod keys;
mod mem;

pub use keys::{group_end, group_prefix, DataRange, LogKey, StateKey};
pub use mem::MemStore;

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use crate::ids::GroupId;

/// One of the six column families of the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ColumnFamily {
    /// Log entries of the system group.
    SystemRaftLog,
    /// Hard state, conf state, applied index and snapshot metadata of the system group.
    SystemRaftState,
    /// The system group's state machine: membership and the shard map.
    SystemData,
    /// Log entries of the data groups.
    DataRaftLog,
    /// Hard state, conf state, applied index and snapshot metadata of the data groups.
    DataRaftState,
    /// The keyspace of the data groups.
    DataKv,
}

impl ColumnFamily {
    /// All six, in a fixed order (the order a runtime creates them in).
    pub const ALL: [ColumnFamily; 6] = [
        ColumnFamily::SystemRaftLog,
        ColumnFamily::SystemRaftState,
        ColumnFamily::SystemData,
        ColumnFamily::DataRaftLog,
        ColumnFamily::DataRaftState,
        ColumnFamily::DataKv,
    ];

    /// The name RocksDB knows the family by.
    pub fn name(self) -> &'static str {
        match self {
            ColumnFamily::SystemRaftLog => "system_raft_log",
            ColumnFamily::SystemRaftState => "system_raft_state",
            ColumnFamily::SystemData => "system_data",
            ColumnFamily::DataRaftLog => "data_raft_log",
            ColumnFamily::DataRaftState => "data_raft_state",
            ColumnFamily::DataKv => "data_kv",
        }
    }

    /// Where `group` keeps its log entries.
    pub fn raft_log(group: GroupId) -> ColumnFamily {
        if group.is_system() {
            ColumnFamily::SystemRaftLog
        } else {
            ColumnFamily::DataRaftLog
        }
    }

    /// Where `group` keeps its hard state, conf state and applied index.
    pub fn raft_state(group: GroupId) -> ColumnFamily {
        if group.is_system() {
            ColumnFamily::SystemRaftState
        } else {
            ColumnFamily::DataRaftState
        }
    }

    /// Where `group` keeps its state machine's data.
    pub fn data(group: GroupId) -> ColumnFamily {
        if group.is_system() {
            ColumnFamily::SystemData
        } else {
            ColumnFamily::DataKv
        }
    }
}

impl fmt::Display for ColumnFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One change in a [`WriteBatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Set `key` to `value`.
    Put {
        /// The family written to.
        cf: ColumnFamily,
        /// The full key, group prefix included.
        key: Vec<u8>,
        /// The new value.
        value: Vec<u8>,
    },
    /// Remove `key` if present.
    Delete {
        /// The family written to.
        cf: ColumnFamily,
        /// The full key, group prefix included.
        key: Vec<u8>,
    },
    /// Remove every key in `start..end`.
    DeleteRange {
        /// The family written to.
        cf: ColumnFamily,
        /// First key removed.
        start: Vec<u8>,
        /// First key kept (exclusive bound).
        end: Vec<u8>,
    },
}

/// Changes applied atomically: after a crash, all of them or none are visible.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Adds a put.
    pub fn put(&mut self, cf: ColumnFamily, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(WriteOp::Put { cf, key, value });
    }

    /// Adds a delete.
    pub fn delete(&mut self, cf: ColumnFamily, key: Vec<u8>) {
        self.ops.push(WriteOp::Delete { cf, key });
    }

    /// Adds a range delete of `start..end`.
    pub fn delete_range(&mut self, cf: ColumnFamily, start: Vec<u8>, end: Vec<u8>) {
        self.ops.push(WriteOp::DeleteRange { cf, start, end });
    }

    /// Moves every change of `other` to the end of this batch.
    pub fn append(&mut self, other: &mut WriteBatch) {
        self.ops.append(&mut other.ops);
    }

    /// The changes, in the order they apply.
    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    /// Whether the batch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes of keys and values in the batch, a measure for batching limits.
    pub fn size_bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                WriteOp::Put { key, value, .. } => key.len() + value.len(),
                WriteOp::Delete { key, .. } => key.len(),
                WriteOp::DeleteRange { start, end, .. } => start.len() + end.len(),
            })
            .sum()
    }
}

/// The callback of [`Store::scan`]: sees each key and value, and says whether to go on.
pub type ScanVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> ControlFlow<()> + 'a;

/// A failure of the underlying store (I/O error, corruption). The core treats it as fatal:
/// a node that cannot trust its disk must stop rather than answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "storage error: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// Durable key-value storage with the six column families.
///
/// Reads see every write made through [`Store::write`] and every batch the runtime wrote for a
/// `Persist` output, at once. Implementations: [`MemStore`] (tests), the runtime's RocksDB
/// store, the simulator's crash-aware store.
pub trait Store: Send {
    /// The value of `key`, if any.
    fn get(&self, cf: ColumnFamily, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Visits the pairs with `start <= key < end` in key order until `visit` breaks.
    fn scan(
        &self,
        cf: ColumnFamily,
        start: &[u8],
        end: &[u8],
        visit: &mut ScanVisitor<'_>,
    ) -> Result<(), StoreError>;

    /// Applies `batch` atomically. It is visible to reads at once; it becomes durable no later
    /// than the next synced write.
    fn write(&mut self, batch: WriteBatch) -> Result<(), StoreError>;

    /// A consistent view of the store as it is now: writes made afterwards do not show in it.
    /// A leader streams a snapshot from one while it goes on applying entries. Cheap for
    /// RocksDB (a sequence number); the in-memory stores copy.
    fn view(&self) -> Arc<dyn StoreView>;
}

/// A read-only, point-in-time view of a [`Store`], made by [`Store::view`]. It may be read from
/// any thread, long after it was made.
pub trait StoreView: Send + Sync {
    /// The value of `key` as it was when the view was made.
    fn get(&self, cf: ColumnFamily, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Visits the pairs with `start <= key < end`, as they were when the view was made, in key
    /// order until `visit` breaks.
    fn scan(
        &self,
        cf: ColumnFamily,
        start: &[u8],
        end: &[u8],
        visit: &mut ScanVisitor<'_>,
    ) -> Result<(), StoreError>;
}
