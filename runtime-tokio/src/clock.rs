//! The node's clocks: the monotonic instant and the wall clock the core is given with every
//! input, with an optional skew so that simulated nodes disagree about the time as real
//! machines do.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use seshat_core::Now;

/// The clocks the core sees: a monotonic instant, read from tokio (so `tokio::time::pause` and
/// madsim's virtual time apply), and the wall clock for TTLs.
///
/// A server's clock is exact. The simulator gives each node a [`Skew`], because madsim has one
/// global clock and real machines do not agree on the time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: tokio::time::Instant,
    skew: Skew,
}

/// How far one node's clocks are from true time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skew {
    /// Where the node's monotonic clock starts (it counts from boot, not from our epoch).
    pub monotonic_origin: Duration,
    /// How far the node's wall clock is ahead (negative: behind), milliseconds.
    pub wall_offset_ms: i64,
    /// How much faster the node's clocks run, parts per million (negative: slower).
    pub drift_ppm: i32,
}

const PPM: i128 = 1_000_000;

impl Clock {
    /// An exact clock whose epoch is now.
    pub fn start() -> Clock {
        Clock::skewed(Skew::default())
    }

    /// A clock with `skew`, whose epoch is now.
    ///
    /// # Panics
    /// If the drift is -100% or slower: time would not advance.
    pub fn skewed(skew: Skew) -> Clock {
        assert!(
            i128::from(skew.drift_ppm) > -PPM,
            "a clock must advance (drift {} ppm)",
            skew.drift_ppm
        );
        Clock {
            epoch: tokio::time::Instant::now(),
            skew,
        }
    }

    /// The current time, for one input.
    pub fn now(&self) -> Now {
        let true_elapsed = self.epoch.elapsed();
        let local_elapsed = self.drifted(true_elapsed);
        let true_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i128);
        let drift_ms = (local_elapsed.as_millis() as i128) - (true_elapsed.as_millis() as i128);
        let unix_ms = true_unix_ms + i128::from(self.skew.wall_offset_ms) + drift_ms;
        Now {
            instant: seshat_core::Instant::from_elapsed(self.skew.monotonic_origin + local_elapsed),
            unix_ms: unix_ms.max(0) as u64,
        }
    }

    /// The tokio instant at which this node's clock reads `instant` (never before it: a timer
    /// that fired early would find nothing due).
    pub fn to_tokio(&self, instant: seshat_core::Instant) -> tokio::time::Instant {
        let local = instant
            .elapsed_since_epoch()
            .saturating_sub(self.skew.monotonic_origin);
        let rate = PPM + i128::from(self.skew.drift_ppm);
        let true_nanos = (local.as_nanos() as i128 * PPM + rate - 1) / rate;
        self.epoch + Duration::from_nanos(true_nanos.min(u64::MAX as i128) as u64)
    }

    fn drifted(&self, true_elapsed: Duration) -> Duration {
        let rate = PPM + i128::from(self.skew.drift_ppm);
        let nanos = true_elapsed.as_nanos() as i128 * rate / PPM;
        Duration::from_nanos(nanos.clamp(0, u64::MAX as i128) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skewed_clock_runs_at_its_rate_and_inverts_exactly() {
        let skew = Skew {
            monotonic_origin: Duration::from_secs(100),
            wall_offset_ms: -30_000,
            drift_ppm: 20_000,
        };
        let clock = Clock::skewed(skew);
        // 1 s of true time is 1.02 s on this clock.
        assert_eq!(
            clock.drifted(Duration::from_secs(1)),
            Duration::from_millis(1020)
        );
        // The clock reads origin + 1.02 s exactly 1 s after the epoch: never earlier.
        let local = seshat_core::Instant::from_elapsed(Duration::from_millis(101_020));
        assert_eq!(clock.to_tokio(local), clock.epoch + Duration::from_secs(1));
        let now = clock.now();
        assert!(now.instant.elapsed_since_epoch() >= skew.monotonic_origin);
        let true_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as i64;
        let off = now.unix_ms as i64 - true_ms;
        assert!((-31_000..=-29_000).contains(&off), "wall offset {off} ms");
    }

    #[test]
    fn an_exact_clock_is_the_identity() {
        let clock = Clock::start();
        let at = seshat_core::Instant::from_elapsed(Duration::from_millis(1234));
        assert_eq!(
            clock.to_tokio(at),
            clock.epoch + Duration::from_millis(1234)
        );
    }
}
