//! An in-process, single-threaded cluster harness for tests (feature `testkit`).
//!
//! Nodes are real [`Node`](crate::Node)s over [`MemStore`](crate::storage::MemStore)s; time
//! is virtual; the network is seeded and can drop, delay, duplicate and partition. One seed
//! decides every choice, so a run replays exactly: [`Cluster::trace_hash`] fingerprints every
//! output of every node, and two runs of one seed must give the same hash.

mod cluster;
mod forge;
mod network;

pub use cluster::{Cluster, ClusterOptions, Injected, RequestHandle};
pub use forge::{command_data, register_node_data};
pub use network::Faults;
