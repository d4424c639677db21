//! State machines and what the log carries for them.

mod keyspace;
mod proposal;
mod read;

pub(crate) use keyspace::{ApplyContext, Keyspace, Reader, Writer};
pub(crate) use proposal::{Inapplicable, Member, Proposal};
pub(crate) use read::ReadKind;
