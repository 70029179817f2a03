//! Waiting between acquire attempts. A lockgate server cannot notify a waiter, so a waiter
//! polls: it sleeps, tries again, and takes over within one interval of a release.
//!
//! The sleep is a uniformly random time in `[interval / 2, interval]`: never longer than the
//! interval (the takeover promise), and random so that waiters started together do not
//! all hit the server in the same instant after each release.
//!
//! The sleep ends early when the caller's deadline comes or its cancel token fires, so a
//! cancel answers at once, not one interval later.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::lock::CancelToken;

/// The default longest sleep between two acquire attempts of a waiter.
///
/// werf polls every 2 s. 500 ms hands a released lock over four times sooner while a waiter
/// still costs its server at most four requests a second (2.7 on average with the jitter):
/// an acquire is one map lookup in lockgate's in-memory store, and the public server's
/// renewals alone already cost one request every 3 s per held lock. A stage build takes
/// seconds to minutes, so a faster poll would add load and no useful speed.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How a poll wait ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Slept {
    /// Time to try again.
    Retry,
    /// The deadline passed.
    TimedOut,
    /// The cancel token fired.
    Cancelled,
}

/// A random duration in `[interval / 2, interval]`.
pub(super) fn jittered(interval: Duration) -> Duration {
    let half = interval / 2;
    // uuid's v4 generator is the operating system's randomness (getrandom); one call per
    // poll costs nothing next to the HTTP request that follows.
    let fraction = (uuid::Uuid::new_v4().as_u128() as u64 as f64) / (u64::MAX as f64);
    half + half.mul_f64(fraction)
}

/// Sleeps one jittered `interval`, or less if `deadline` comes first or `cancel` fires.
pub(super) fn sleep(
    interval: Duration,
    deadline: Option<Instant>,
    cancel: Option<&CancelToken>,
) -> Slept {
    let now = Instant::now();
    let mut until = now + jittered(interval);
    if let Some(deadline) = deadline {
        if now >= deadline {
            return Slept::TimedOut;
        }
        until = until.min(deadline);
    }
    let Some(cancel) = cancel else {
        std::thread::sleep(until - now);
        return Slept::Retry;
    };
    let woken = Arc::new((Mutex::new(false), Condvar::new()));
    let _registration = cancel.on_cancel({
        let woken = Arc::clone(&woken);
        Arc::new(move || {
            *woken.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
            woken.1.notify_all();
        })
    });
    let mut flag = woken.0.lock().unwrap_or_else(PoisonError::into_inner);
    // A cancel between the caller's check and the registration above set no flag: check
    // the token itself under the lock (CancelToken::on_cancel's contract).
    while !*flag && !cancel.is_cancelled() {
        let now = Instant::now();
        if now >= until {
            return Slept::Retry;
        }
        flag = woken
            .1
            .wait_timeout(flag, until - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    Slept::Cancelled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_whole_interval() {
        let interval = Duration::from_millis(400);
        for _ in 0..1000 {
            let d = jittered(interval);
            assert!(d >= interval / 2 && d <= interval, "{d:?}");
        }
    }

    #[test]
    fn cancel_ends_the_sleep_at_once() {
        let token = CancelToken::new();
        let canceller = {
            let token = token.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                token.cancel();
            })
        };
        let started = Instant::now();
        assert_eq!(
            sleep(Duration::from_secs(10), None, Some(&token)),
            Slept::Cancelled
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        canceller.join().unwrap();
        assert_eq!(
            sleep(Duration::from_secs(10), None, Some(&token)),
            Slept::Cancelled
        );
    }

    #[test]
    fn deadline_shortens_the_sleep() {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(30);
        assert_eq!(
            sleep(Duration::from_secs(10), Some(deadline), None),
            Slept::Retry
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            sleep(Duration::from_secs(10), Some(deadline), None),
            Slept::TimedOut
        );
    }
}
