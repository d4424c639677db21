//! Durable storage for a node: the RocksDB store and the group-commit writer that makes
//! `Persist` batches durable.

#[cfg(feature = "rocksdb")]
mod rocks;
mod writer;

#[cfg(feature = "rocksdb")]
pub use rocks::RocksStore;
pub use writer::{PersistWriter, SyncWrite, WriterStats};

use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to the disk has failed: the process is stopping.
static FAILED: AtomicBool = AtomicBool::new(false);

/// Stops the process at once because a write to the disk failed (a full disk, an fsync
/// error): fail-stop. Nothing written later could be trusted (after a failed fsync the
/// kernel may have dropped the dirty pages, as PostgreSQL's "fsyncgate" showed, and RocksDB
/// aborts when a log writer that failed is used again), nothing unwritten may be
/// acknowledged, and a restart recovers from what the disk holds. `_exit`, not `exit`: no
/// atexit handler or static destructor runs while other threads still use the store.
pub fn fail_stop(what: &str, error: &dyn std::fmt::Display) -> ! {
    FAILED.store(true, Ordering::SeqCst);
    tracing::error!(%error, "{what} failed; stopping the node");
    // SAFETY: _exit(2) ends the process at once; it touches no state of this one.
    unsafe { libc::_exit(1) }
}

/// Parks a thread that is about to write after another one's write failed, so that it
/// cannot touch the store while [`fail_stop`] ends the process.
#[cfg(feature = "rocksdb")]
fn park_if_failed() {
    while FAILED.load(Ordering::SeqCst) {
        std::thread::park();
    }
}
