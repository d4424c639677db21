//! The `seshat` server: drives `seshat-core` with tokio, stores its state in RocksDB (six
//! column families), talks to peers over tonic gRPC and to clients over RESP.
//!
//! - [`driver`]: the task that owns the core's `Node` and carries out its outputs.
//! - [`channels`]: what goes in and out of the driver (client calls, events, the peer and
//!   disk sinks, the published status), shared by the driver and every edge around it.
//! - [`clock`]: the clocks the core reads, exact on a server and skewed in the simulator.
//! - [`store`]: RocksDB behind the core's `Store` trait, and the group-commit writer.
//! - [`transport`]: the internal gRPC service and the per-peer streams.
//! - [`forward`]: follower forwarding's streams (`cluster.follower_requests = "forward"`).
//! - [`listener`] and [`connection`]: the Redis-facing edge.
//! - [`process`]: the counters and process facts INFO reports, handed to the core as values.
//! - [`server`]: all of it assembled for one node.
//! - [`admin`]: membership changes and leadership transfer, as an operator (or a joining
//!   node) makes them.
//!
//! Fallible functions return this crate's [`Error`].

pub mod admin;
pub mod channels;
pub mod clock;
pub mod connection;
pub mod driver;
mod error;
pub mod forward;
pub use error::{Error, Result};
pub mod listener;
pub mod process;
pub mod server;
pub mod store;
pub mod transport;
pub mod wait;
