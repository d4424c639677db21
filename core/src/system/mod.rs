//! The system group's state machine.

mod directory;

pub(crate) use directory::Directory;
