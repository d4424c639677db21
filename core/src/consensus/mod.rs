//! The Raft wrapper: raft-rs's `RawNode` per group, its in-memory log view and its logger.

mod election;
mod group;
mod log_view;
mod logger;
mod membership;
mod reads;
mod receive;

pub(crate) use group::{Group, GroupConfig, Machine, Outbox, RequestKey};
pub use group::{GroupStatus, SnapshotStats};
pub(crate) use log_view::LogView;
pub(crate) use membership::is_removal_notice;
pub(crate) use reads::PendingRead;
