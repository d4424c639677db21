//! Seshat's deterministic core.
//!
//! placeholder while the crate is assembled
#![warn(missing_docs, unreachable_pub)]

pub mod cmd;
pub mod config;
mod error;
mod ids;
mod output;
mod reply;
mod request;
pub mod resp;
pub mod session;
pub mod storage;
mod time;

pub use error::{Error, Result};
pub use ids::{ClientId, GroupId, NodeId, RequestId};
pub use output::{Output, PersistBatch};
pub use reply::{Protocol, Reply};
pub use request::{Request, SetCondition, SetRequest};
pub use time::{Instant, Now};
