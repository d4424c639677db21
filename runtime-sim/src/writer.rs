//! The driver's disk under simulation: `Persist` batches are written to a [`SimDisk`] by one
//! task per node, with group commit and a simulated fsync latency, as `PersistWriter` does
//! with RocksDB on its own thread (madsim allows no OS threads).

use std::ops::Range;
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use seshat_core::PersistBatch;
use seshat_runtime_tokio::channels::{Disk, Event};
use tokio::sync::mpsc;

use crate::disk::SimDisk;

/// Queues batches for the writer task.
pub(crate) struct SimWriter {
    queue: mpsc::UnboundedSender<PersistBatch>,
}

impl SimWriter {
    /// Starts the writer task of the current simulated node. Each round takes every queued
    /// batch, waits one fsync latency (drawn from `fsync_latency`), writes them, syncs once if
    /// any batch needs it, and reports each batch persisted. A crash during the wait loses the
    /// whole round, as a crash before fsync returns does.
    pub(crate) fn start(
        disk: SimDisk,
        events: mpsc::Sender<Event>,
        fsync_latency: Range<Duration>,
    ) -> SimWriter {
        let (queue, mut batches) = mpsc::unbounded_channel::<PersistBatch>();
        tokio::spawn(async move {
            while let Some(first) = batches.recv().await {
                let mut round = vec![first];
                while let Ok(next) = batches.try_recv() {
                    round.push(next);
                }
                let must_sync = round.iter().any(|batch| batch.must_sync);
                if must_sync {
                    let latency = thread_rng().gen_range(fsync_latency.clone());
                    tokio::time::sleep(latency).await;
                }
                let last = round.len() - 1;
                let mut done = Vec::with_capacity(round.len());
                for (i, batch) in round.into_iter().enumerate() {
                    disk.write_synced(batch.batch, must_sync && i == last)
                        .expect("the simulated disk never fails");
                    done.push((batch.group, batch.ready_number));
                }
                for (group, ready_number) in done {
                    let event = Event::Persisted {
                        group,
                        ready_number,
                    };
                    if events.send(event).await.is_err() {
                        return;
                    }
                }
            }
        });
        SimWriter { queue }
    }
}

impl Disk for SimWriter {
    fn submit(&mut self, batch: PersistBatch) {
        // The task ends only when the node is killed, which drops this writer too.
        let _ = self.queue.send(batch);
    }
}
