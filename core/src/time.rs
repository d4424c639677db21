//! Time as the core sees it: only what the runtime hands in.
//!
//! The core never reads a clock. Every `handle_*` call takes a [`Now`]: a monotonic
//! [`Instant`] that drives Raft ticks and request deadlines, and the wall-clock Unix time in
//! milliseconds, used only by the leader to turn a relative TTL into an absolute deadline.

use std::ops::{Add, Sub};
use std::time::Duration;

/// A point on the runtime's monotonic clock, counted in nanoseconds from an epoch the runtime
/// chose (its start, or the simulation's start). Only differences between instants mean
/// anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant { nanos: 0 };

    /// The instant `elapsed` after the epoch.
    pub fn from_elapsed(elapsed: Duration) -> Instant {
        Instant {
            nanos: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// Time since the epoch.
    pub fn elapsed_since_epoch(self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, rhs: Duration) -> Instant {
        let rhs = u64::try_from(rhs.as_nanos()).unwrap_or(u64::MAX);
        Instant {
            nanos: self.nanos.saturating_add(rhs),
        }
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

/// The time at one input, read once by the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time: Raft ticks, timeouts, deadlines.
    pub instant: Instant,
    /// Wall-clock milliseconds since the Unix epoch. May jump and may differ between nodes;
    /// used only where Redis semantics need calendar time (absolute expiry deadlines).
    pub unix_ms: u64,
}
