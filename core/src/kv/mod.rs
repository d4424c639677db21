//! State machines and what the log carries for them.

mod keyspace;
mod layout;
mod proposal;
mod read;
mod record;
#[cfg(test)]
pub(crate) mod testing;
mod watch;

pub(crate) use keyspace::{ApplyContext, Keyspace, KeyspaceState, Reader, Writer};
pub(crate) use layout::{position as key_position, record_key};
pub(crate) use proposal::{Inapplicable, Member, Proposal};
pub use read::OfflineRead;
pub(crate) use read::ReadKind;
pub(crate) use record::Record;
#[cfg(test)]
pub(crate) use watch::HOLD_MS as WATCH_HOLD_MS;
