//! Waiting for a condition that can only be looked at, not subscribed to (a node's published
//! state, a child process, a port that starts accepting), by polling it until a deadline.
//!
//! Every wait polls in one order: the condition, then the deadline, then a sleep. The
//! condition is always checked at least once, and once more at or after the deadline before
//! the wait gives up. Under `--cfg madsim` `tokio` is madsim's, so [`wait_until`] sleeps in
//! simulated time, and its checks and sleeps are part of a simulated run: a seed replays only
//! while this order stays as it is. [`wait_until_blocking`] is the same wait for callers without
//! a runtime (the end-to-end tests), in real time.

use std::time::Duration;

use tokio::time::Instant;

/// What one poll found.
enum Poll<T> {
    /// The condition holds, with this value.
    Done(T),
    /// The condition does not hold and the deadline has passed.
    TimedOut,
    /// The condition does not hold yet and there is time left.
    Again,
}

/// One poll: the condition first, then the deadline (read after the condition, which may take
/// a while). Both waits go through here, so they poll alike.
fn poll<T, I: PartialOrd>(
    condition: &mut impl FnMut() -> Option<T>,
    deadline: I,
    now: impl FnOnce() -> I,
) -> Poll<T> {
    match condition() {
        Some(value) => Poll::Done(value),
        None if now() >= deadline => Poll::TimedOut,
        None => Poll::Again,
    }
}

/// Calls `condition` every `every` until it returns `Some` or `deadline` passes. Returns what
/// it returned, or `None` if it never returned `Some` up to and including a last call at or
/// after `deadline`.
pub async fn wait_until<T>(
    deadline: Instant,
    every: Duration,
    condition: impl FnMut() -> Option<T>,
) -> Option<T> {
    wait_until_with(deadline, every, condition, || {}).await
}

/// [`wait_until`], calling `before_sleep` after every poll that leaves time, right before the
/// sleep: the simulator records the cluster's state there.
pub async fn wait_until_with<T>(
    deadline: Instant,
    every: Duration,
    mut condition: impl FnMut() -> Option<T>,
    mut before_sleep: impl FnMut(),
) -> Option<T> {
    loop {
        match poll(&mut condition, deadline, Instant::now) {
            Poll::Done(value) => return Some(value),
            Poll::TimedOut => return None,
            Poll::Again => {
                before_sleep();
                tokio::time::sleep(every).await;
            }
        }
    }
}

/// [`wait_until`] for a caller that has no runtime (the end-to-end tests): blocks the thread
/// between polls, in real time. Never call it inside a simulation, where a blocked thread
/// stops simulated time.
pub fn wait_until_blocking<T>(
    deadline: std::time::Instant,
    every: Duration,
    mut condition: impl FnMut() -> Option<T>,
) -> Option<T> {
    loop {
        match poll(&mut condition, deadline, std::time::Instant::now) {
            Poll::Done(value) => return Some(value),
            Poll::TimedOut => return None,
            Poll::Again => std::thread::sleep(every),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_wait_returns_the_first_value_the_condition_gives() {
        // Goal: the wait stops polling as soon as the condition holds. Method: a condition
        // that holds on its third call, with a deadline far away.
        let mut calls = 0;
        let found = wait_until_blocking(
            std::time::Instant::now() + Duration::from_secs(60),
            Duration::from_millis(1),
            || {
                calls += 1;
                (calls == 3).then_some(calls)
            },
        );
        assert_eq!(found, Some(3));
        assert_eq!(calls, 3);
    }

    #[test]
    fn blocking_wait_checks_once_more_at_the_deadline() {
        // Goal: a deadline already past still gets one check, and then the wait gives up.
        let mut calls = 0;
        let found = wait_until_blocking(
            std::time::Instant::now(),
            Duration::from_millis(1),
            || -> Option<()> {
                calls += 1;
                None
            },
        );
        assert_eq!(found, None);
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn async_wait_runs_before_sleep_only_before_a_sleep() {
        // Goal: the async wait stops as soon as the condition holds, having slept (and run
        // `before_sleep`) once after each call that failed.
        let mut calls = 0;
        let mut sleeps = 0;
        let found = wait_until_with(
            Instant::now() + Duration::from_secs(60),
            Duration::from_millis(1),
            || {
                calls += 1;
                (calls == 3).then_some(calls)
            },
            || sleeps += 1,
        )
        .await;
        assert_eq!(found, Some(3));
        assert_eq!(sleeps, 2);
    }
}
