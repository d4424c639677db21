//! Group commit: one thread writes `Persist` batches, merging everything queued at that
//! moment into one atomic write and one fsync, and reports each batch once it is durable.
//!
//! Under load the driver hands out a batch per Raft Ready, far faster than a disk syncs; the
//! writer's queue fills while it syncs, so the next sync covers all of them. With an idle queue
//! a batch is written alone, so latency stays one fsync.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};

use seshat_core::storage::{StoreError, WriteBatch};
use seshat_core::{GroupId, PersistBatch};
use tokio::sync::mpsc;

use crate::channels::{Disk, Event};

/// Bytes merged into one write at most, so one huge burst cannot delay the first batch's
/// acknowledgement indefinitely.
pub const MERGED_BYTES_MAX: usize = 16 * 1024 * 1024;

/// A store that can make a write durable before returning.
pub trait SyncWrite: Send + 'static {
    /// Writes `batch` atomically; when `sync`, returns only once it is on stable storage.
    fn write_synced(&mut self, batch: WriteBatch, sync: bool) -> Result<(), StoreError>;
}

/// Counters of the writer's work.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// `Persist` batches written.
    pub batches: AtomicU64,
    /// Writes issued (each covering one or more batches).
    pub writes: AtomicU64,
    /// Writes that were fsynced.
    pub fsyncs: AtomicU64,
}

/// The handle the driver submits batches through.
///
/// Dropping it closes the queue and waits for the thread to finish the writes already queued
/// and release the store, so a process never exits while RocksDB is mid-write.
pub struct PersistWriter {
    /// `None` once closed.
    queue: Option<std_mpsc::Sender<PersistBatch>>,
    thread: Option<std::thread::JoinHandle<()>>,
    stats: Arc<WriterStats>,
}

impl PersistWriter {
    /// Starts the writer thread over `store`; completions are sent to `done` as
    /// [`Event::Persisted`], in order per group.
    ///
    /// A failed write stops the process: a node whose disk fails must not go on answering
    /// (etcd and TiKV do the same).
    pub fn start<S: SyncWrite>(mut store: S, done: mpsc::Sender<Event>) -> PersistWriter {
        let (queue, batches) = std_mpsc::channel::<PersistBatch>();
        let stats = Arc::new(WriterStats::default());
        let counters = stats.clone();
        let thread = std::thread::Builder::new()
            .name("seshat-persist".to_owned())
            .spawn(move || {
                while let Ok(first) = batches.recv() {
                    let mut merged = first.batch;
                    let mut sync = first.must_sync;
                    let mut last: BTreeMap<GroupId, u64> = BTreeMap::new();
                    last.insert(first.group, first.ready_number);
                    let mut count = 1;
                    while merged.size_bytes() < MERGED_BYTES_MAX {
                        let Ok(mut next) = batches.try_recv() else {
                            break;
                        };
                        merged.append(&mut next.batch);
                        sync |= next.must_sync;
                        last.insert(next.group, next.ready_number);
                        count += 1;
                    }
                    if let Err(error) = store.write_synced(merged, sync) {
                        super::fail_stop("persisting Raft state", &error);
                    }
                    counters.batches.fetch_add(count, Ordering::Relaxed);
                    counters.writes.fetch_add(1, Ordering::Relaxed);
                    if sync {
                        counters.fsyncs.fetch_add(1, Ordering::Relaxed);
                    }
                    for (group, ready_number) in last {
                        if done
                            .blocking_send(Event::Persisted {
                                group,
                                ready_number,
                            })
                            .is_err()
                        {
                            return; // The driver is gone: shutting down.
                        }
                    }
                }
            })
            .expect("spawning the persist thread");
        PersistWriter {
            queue: Some(queue),
            thread: Some(thread),
            stats,
        }
    }

    /// The writer's counters.
    pub fn stats(&self) -> Arc<WriterStats> {
        self.stats.clone()
    }
}

impl Disk for PersistWriter {
    fn submit(&mut self, batch: PersistBatch) {
        let queue = self
            .queue
            .as_ref()
            .expect("the writer is open until dropped");
        // The thread only ends when this handle is dropped, so the send cannot fail.
        queue.send(batch).expect("persist thread is running");
    }
}

impl Drop for PersistWriter {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use seshat_core::storage::ColumnFamily;

    use super::*;

    /// A store that records writes and takes a while to sync, as a disk does.
    #[derive(Clone, Default)]
    struct SlowDisk {
        writes: Arc<Mutex<Vec<(usize, bool)>>>,
    }

    impl SyncWrite for SlowDisk {
        fn write_synced(&mut self, batch: WriteBatch, sync: bool) -> Result<(), StoreError> {
            std::thread::sleep(Duration::from_millis(5));
            self.writes.lock().unwrap().push((batch.ops().len(), sync));
            Ok(())
        }
    }

    fn batch(group: u64, ready_number: u64) -> PersistBatch {
        let mut writes = WriteBatch::new();
        writes.put(ColumnFamily::DataRaftLog, vec![ready_number as u8], vec![]);
        PersistBatch {
            group: GroupId(group),
            ready_number,
            batch: writes,
            must_sync: true,
        }
    }

    #[tokio::test]
    async fn a_burst_shares_fsyncs_and_is_reported_in_order() {
        // Goal: group commit. Method: submit 100 batches at once to a disk that takes 5 ms per
        // write; every batch must be reported, in order, with far fewer writes than batches.
        let disk = SlowDisk::default();
        let (done, mut completions) = mpsc::channel(1024);
        let mut writer = PersistWriter::start(disk.clone(), done);
        for n in 1..=100 {
            writer.submit(batch(1, n));
        }
        let mut reported = 0;
        while reported < 100 {
            match completions.recv().await.expect("writer running") {
                Event::Persisted {
                    group,
                    ready_number,
                } => {
                    assert_eq!(group, GroupId(1));
                    assert!(
                        ready_number > reported,
                        "reported {ready_number} after {reported}"
                    );
                    reported = ready_number;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let writes = disk.writes.lock().unwrap().clone();
        let ops: usize = writes.iter().map(|(ops, _)| ops).sum();
        assert_eq!(ops, 100, "every batch written exactly once");
        assert!(writes.len() < 50, "{} writes for 100 batches", writes.len());
        assert!(writes.iter().all(|(_, sync)| *sync));
        println!("100 batches in {} fsyncs", writes.len());
    }
}
