//! Durable storage for a node: the RocksDB store and the group-commit writer that makes
//! `Persist` batches durable.

#[cfg(feature = "rocksdb")]
mod rocks;
mod writer;

#[cfg(feature = "rocksdb")]
pub use rocks::RocksStore;
pub use writer::{PersistWriter, SyncWrite, WriterStats};
