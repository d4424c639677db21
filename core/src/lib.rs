//! Seshat's deterministic core: everything a node decides, and nothing it does.
//!
//! This crate holds the RESP codec ([`resp`]), the commands ([`cmd`]) and per-connection
//! sessions ([`session`]), the KV state machine, the Raft wrapper over raft-rs's `RawNode`, the
//! storage seam ([`storage`]) and the configuration ([`config`]). It has no tokio, threads,
//! sockets, files, clocks or OS randomness: time comes in as [`Now`], randomness from
//! [`NodeConfig::rng_seed`], network traffic and disk writes leave as [`Output`] values, and
//! durable state is read through the [`Store`](storage::Store) trait. Given the same
//! configuration, store contents and sequence of inputs, a [`Node`] produces the same outputs,
//! byte for byte; that is what lets the simulator replay any run from its seed.
//!
//! # The loop a runtime runs
//!
//! ```text
//! let mut node = Node::new(config, store, now)?;
//! loop {
//!     match wait_for_event(node.poll_timeout()) {
//!         PeerMessage(group, msg)    => node.handle_message(now, group, msg),
//!         ClientRequest(c, id, req)  => node.handle_request(now, c, id, req),
//!         Durable(group, ready)      => node.handle_persisted(now, group, ready),
//!         PeerUnreachable(peer)      => node.handle_unreachable(now, peer),
//!         SnapshotStream(..)         => node.handle_snapshot_{begin,chunk,end}(now, ..),
//!         Timer                      => node.handle_timeout(now),
//!     }
//!     while let Some(output) = node.poll_output() {
//!         match output {
//!             Output::Send { to, group, message } => send to the peer (best effort),
//!             Output::Persist(batch) => write atomically, make durable, then report
//!                                       handle_persisted (in order, per group),
//!             Output::Reply { client, id, reply } => answer the client,
//!             Output::SendSnapshot { .. } => stream it, then report handle_snapshot_sent,
//!         }
//!     }
//! }
//! ```
//!
//! # Commands
//!
//! One table, [`cmd::COMMANDS`], lists every command with its spec: name, arity, flags, key
//! positions, ACL categories, docs, and how it runs (in the connection, from the node's own
//! state, as a linearizable read, or as a replicated write). Parsing, routing by first key,
//! `COMMAND` and `COMMAND GETKEYS` all read it. A [`Session`](session::Session) per connection
//! parses each command into a [`Call`], answers the connection commands (PING, HELLO, CLIENT,
//! COMMAND, CONFIG HELP) itself and forwards the rest as a [`Request`]. A write's log entry is
//! its arguments; every replica applies them through the same spec.
//!
//! # Where the core touches the disk
//!
//! The model is that the disk is read once, at startup, and written only through
//! [`Output::Persist`]. There is one deliberate exception: the keyspace can be larger than
//! memory, so the core reads and writes it through `&mut dyn Store` inside the `handle_*`
//! calls (applying committed entries, serving confirmed reads, staging and installing
//! snapshots, compacting the log). It stays deterministic: on the in-memory and simulated
//! stores these calls are plain function calls. On RocksDB they run on the driver's task, so
//! each one must stay bounded: a slow read there delays every group's Raft traffic on the
//! node, and an apply pass writes one batch (not synced: the log it replays from is).
//!
//! # Raft groups
//!
//! Every node runs group 0, the system group (the member directory that `MOVED` replies are
//! built from; later the shard map), and the data groups 1..N (Phase 1: one). Every message,
//! log key and storage call names its group.
#![warn(missing_docs, unreachable_pub)]

mod cluster_error;
pub mod cmd;
pub mod config;
mod consensus;
mod error;
mod ids;
mod kv;
pub mod membership;
mod node;
mod output;
mod reply;
mod request;
pub mod resp;
pub mod session;
pub mod snapshot;
pub mod stats;
pub mod storage;
mod system;
#[cfg(feature = "testkit")]
pub mod testkit;
mod time;

pub use cluster_error::{ClusterError, NoQuorum, TryAgain};
pub use cmd::Call;
pub use consensus::{GroupStatus, SnapshotStats};
pub use error::{Error, Result};
pub use ids::{ClientId, GroupId, NodeId, RequestId};
pub use kv::OfflineRead;
pub use node::{ForwardedRequest, Link, Node, NodeConfig, REDIS_VERSION};
pub use output::{Output, PersistBatch};
pub use raft::{eraftpb, StateRole};
pub use reply::{Protocol, Reply};
pub use request::Request;
pub use time::{Instant, Now};

/// A known bug a test can plant (`NodeConfig::planted_bug`) to show that the simulator's checks
/// catch it. Only with the `planted-bugs` feature: never in the server.
#[cfg(feature = "planted-bugs")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// The leader answers `SET` with `+OK` once the entry is in its own log, before a majority
    /// has it. An isolated leader then acknowledges writes that are later lost.
    AckBeforeCommit,
    /// The leader answers `GET` from its own state without a ReadIndex round. A deposed leader
    /// that has not noticed yet serves stale values.
    ReadWithoutReadIndex,
    /// Connection order is ignored, as before it was kept: a read is served at its ReadIndex
    /// round's index whatever its connection wrote before it, and a write is proposed without
    /// waiting for its connection's earlier reads. A pipelined `SET` then `GET` may read the
    /// value from before the `SET`, and a `GET` then `SET` the value the `SET` wrote.
    IgnoreConnectionOrder,
    /// A transaction's reads are served from the keyspace as the apply pass found it, not at
    /// the transaction's own point: a transaction that writes a key and then reads it sees the
    /// value from before, as if its commands had been applied apart (the reads first).
    SplitTransaction,
}
