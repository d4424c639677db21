//! Seshat under simulation (issue #4).
//!
//! This crate will drive the same core, through the same driver as `seshat-runtime-tokio`,
//! under madsim: a simulated network (partitions, one-way cuts, latency, loss), per-node clock
//! skew and drift, crashes and restarts, simulated RESP clients that record histories, and
//! the checks run after every simulation (committed prefixes agree, caught-up replicas hold
//! the same data, the history is linearizable).
//!
//! Here so far: [`SimDisk`], the simulated disk that keeps only what was synced.
#![warn(missing_docs, unreachable_pub)]

mod disk;

pub use disk::SimDisk;
