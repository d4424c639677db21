//! State machines and what the log carries for them.

mod keyspace;
mod layout;
mod proposal;
mod read;
mod record;

pub(crate) use keyspace::{ApplyContext, Keyspace, KeyspaceState, Reader, Writer};
pub(crate) use layout::{position as key_position, record_key};
pub(crate) use proposal::{Inapplicable, Member, Proposal};
pub(crate) use read::ReadKind;
pub(crate) use record::Record;
