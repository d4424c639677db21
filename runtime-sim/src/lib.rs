//! Seshat under deterministic simulation.
//!
//! Built with `RUSTFLAGS="--cfg madsim"` (see `scripts/sim.sh`), this crate runs the real server
//! code (runtime-tokio's driver, gRPC transport and RESP listener, on madsim's tokio and tonic
//! drop-ins) for three nodes inside one madsim runtime:
//! - [`SimDisk`]: each node's disk keeps only what was synced, so a crash loses the rest;
//! - `cluster`: nodes as madsim nodes, each with its own clock offset and drift, crashed and
//!   restarted from their disks, with links cut one way or both;
//! - `client`: Redis clients speaking RESP through the core's codec, following `MOVED` and
//!   recording a history;
//! - `run`: one seeded run of a scenario from `seshat_chaos::scenario`: the play loop, which
//!   plays the fault schedule through `faults` and hands what the run left to `checker`.
//!
//! Without the flag only [`SimDisk`] is built.
#![warn(missing_docs, unreachable_pub)]

mod disk;
pub use disk::SimDisk;

#[cfg(madsim)]
mod checker;
#[cfg(madsim)]
pub mod client;
#[cfg(madsim)]
pub mod cluster;
#[cfg(madsim)]
mod faults;
#[cfg(madsim)]
pub mod run;
#[cfg(madsim)]
mod writer;
