//! The Raft wrapper: a [`Group`] per Raft group, which runs raft-rs's `RawNode` through its
//! `Ready` cycle and owns one sub-state per job:
//! - `admission`: what a peer's message must be before raft-rs sees it;
//! - `proposals`: the writes this node proposed, until their entries apply;
//! - `reads`: the ReadIndex queue;
//! - `order`: each connection's order, so its commands take effect in the order sent;
//! - `receive`: staging and installing a snapshot streamed from the leader;
//! - `membership`: configuration changes, and learning that this node was removed;
//! - `election`: election timeouts drawn from the group's seeded RNG;
//! - `status`: what a group reports about itself.
//!
//! raft-rs reads the log through the in-memory `log_view`, and logs through `logger`.

mod admission;
mod election;
mod group;
mod group_config;
mod log_view;
mod logger;
mod machine;
mod membership;
mod order;
mod outbox;
mod proposals;
mod reads;
mod receive;
mod status;

pub(crate) use admission::Admission;
pub(crate) use group::Group;
pub(crate) use group_config::GroupConfig;
pub(crate) use log_view::LogView;
pub(crate) use machine::Machine;
pub(crate) use order::Admitted;
pub(crate) use outbox::{Outbox, RequestKey};
pub(crate) use status::ReplicaProgress;
pub use status::{GroupStatus, SnapshotStats};
