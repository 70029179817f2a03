//! In-process semantics: try, deadline and cancel waits, the on-wait callback, exclusion
//! between acquisitions of one process, guards handed between threads and the held-locks
//! registry.

mod common;

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;
use werf_sync::lock::held_locks;
use werf_sync::{CancelToken, Error, LockMode, LockOptions};

const NAME: &str = "project.0123abcd";
use LockMode::{Exclusive, Shared};

#[test]
fn try_lock_reports_contention_as_none() {
    let home = TempHome::new();
    let l = &home.locker;
    let first = l.try_lock(NAME, Exclusive).unwrap().expect("free lock");
    assert!(l.try_lock(NAME, Exclusive).unwrap().is_none());
    assert!(l.try_lock(NAME, Shared).unwrap().is_none());
    drop(first);
    let s1 = l.try_lock(NAME, Shared).unwrap().expect("free lock");
    let s2 = l.try_lock(NAME, Shared).unwrap().expect("shared + shared");
    assert!(l.try_lock(NAME, Exclusive).unwrap().is_none());
    drop(s1);
    assert!(
        l.try_lock(NAME, Exclusive).unwrap().is_none(),
        "s2 still holds"
    );
    s2.release().unwrap();
    assert!(l.try_lock(NAME, Exclusive).unwrap().is_some());
    // Other names are independent, including the empty one (werf: file `0`).
    let _a = l.try_lock("a", Exclusive).unwrap().unwrap();
    let _empty = l.try_lock("", Exclusive).unwrap().unwrap();
    assert!(home.path().join("service/locks/0").is_file());
}

#[test]
fn zero_timeout_is_one_try_without_waiting() {
    let home = TempHome::new();
    let l = &home.locker;
    let calls = AtomicUsize::new(0);
    let zero = || {
        LockOptions::exclusive()
            .timeout(Duration::ZERO)
            .on_wait(|_| {
                calls.fetch_add(1, Ordering::SeqCst);
            })
    };
    let held = l.lock_with(NAME, zero()).expect("a free lock is taken");
    let started = Instant::now();
    let err = l.lock_with(NAME, zero()).unwrap_err();
    assert!(
        matches!(&err, Error::Timeout { name, .. } if name == NAME),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_millis(200));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no wait, no callback");
    drop(held);
}

#[test]
fn deadline_expires_and_names_the_lock() {
    let home = TempHome::new();
    let l = &home.locker;
    let _held = l.lock(NAME, Exclusive).unwrap();
    let started = Instant::now();
    let timeout = Duration::from_millis(150);
    let err = l
        .lock_with(NAME, LockOptions::shared().timeout(timeout))
        .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.to_string().contains(NAME), "{err}");
    assert!(waited >= timeout, "gave up early: {waited:?}");
    assert!(
        waited < timeout + Duration::from_secs(1),
        "gave up late: {waited:?}"
    );
}

#[test]
fn deadline_wait_gets_the_lock_when_released() {
    let home = TempHome::new();
    let l = home.locker.clone();
    let held = l.lock(NAME, Exclusive).unwrap();
    let path = home.werf_path(NAME);
    let waiter = std::thread::spawn(move || {
        l.lock_with(
            NAME,
            LockOptions::exclusive().timeout(Duration::from_secs(30)),
        )
        .map(|g| (Instant::now(), g))
    });
    assert!(eventually(Duration::from_secs(10), || has_flock_waiter(
        &path
    )));
    let released = Instant::now();
    drop(held);
    let (acquired, _guard) = waiter.join().unwrap().unwrap();
    assert!(acquired.duration_since(released) < Duration::from_secs(1));
}

#[test]
fn cancel_from_another_thread_ends_the_wait() {
    let home = TempHome::new();
    let _held = home.locker.lock(NAME, Exclusive).unwrap();
    let token = CancelToken::new();
    let l = home.locker.clone();
    let t = token.clone();
    let waiter = std::thread::spawn(move || {
        let r = l.lock_with(NAME, LockOptions::exclusive().cancel(&t));
        (Instant::now(), r)
    });
    let path = home.werf_path(NAME);
    assert!(eventually(Duration::from_secs(10), || has_flock_waiter(
        &path
    )));
    let cancelled = Instant::now();
    token.cancel();
    let (returned, result) = waiter.join().unwrap();
    let err = result.unwrap_err();
    assert!(
        matches!(&err, Error::Cancelled { name } if name == NAME),
        "{err}"
    );
    assert!(returned.duration_since(cancelled) < Duration::from_secs(1));
    assert!(token.is_cancelled());
}

#[test]
fn cancelled_token_fails_before_trying() {
    let home = TempHome::new();
    let token = CancelToken::new();
    token.cancel();
    let calls = AtomicUsize::new(0);
    let err = home
        .locker
        .lock_with(
            NAME,
            LockOptions::exclusive()
                .cancel(&token)
                .timeout(Duration::from_secs(5))
                .on_wait(|_| {
                    calls.fetch_add(1, Ordering::SeqCst);
                }),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // It did not take the lock.
    assert!(home.locker.try_lock(NAME, Exclusive).unwrap().is_some());
}

#[test]
fn cancel_token_that_is_never_cancelled_does_not_disturb_a_wait() {
    let home = TempHome::new();
    let token = CancelToken::new();
    let held = home.locker.lock(NAME, Shared).unwrap();
    let l = home.locker.clone();
    let t = token.clone();
    let waiter = std::thread::spawn(move || l.lock_with(NAME, LockOptions::exclusive().cancel(&t)));
    let path = home.werf_path(NAME);
    assert!(eventually(Duration::from_secs(10), || has_flock_waiter(
        &path
    )));
    drop(held);
    let guard = waiter.join().unwrap().unwrap();
    assert_eq!(guard.mode(), Exclusive);
    // Cancelling after the acquire changes nothing for the holder.
    token.cancel();
    assert!(home.locker.try_lock(NAME, Shared).unwrap().is_none());
}

/// The callback fires once, with the name, only when the first try finds the lock held —
/// for each kind of wait.
#[test]
fn on_wait_fires_exactly_once_and_only_when_waiting() {
    let home = TempHome::new();
    let path = home.werf_path(NAME);
    let token = CancelToken::new();
    let kinds: [fn(&CancelToken) -> LockOptions<'static>; 3] = [
        |_| LockOptions::exclusive(),
        |_| LockOptions::exclusive().timeout(Duration::from_secs(30)),
        |t| LockOptions::exclusive().cancel(t),
    ];
    for options in kinds {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(std::sync::Mutex::new(String::new()));
        let with_callback = |calls: &Arc<AtomicUsize>, seen: &Arc<std::sync::Mutex<String>>| {
            let (calls, seen) = (Arc::clone(calls), Arc::clone(seen));
            options(&token).on_wait(move |name| {
                calls.fetch_add(1, Ordering::SeqCst);
                *seen.lock().unwrap() = name.to_owned();
            })
        };
        // Free: no callback.
        drop(
            home.locker
                .lock_with(NAME, with_callback(&calls, &seen))
                .unwrap(),
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        // Held: exactly one callback, however long the wait.
        let held = home.locker.lock(NAME, Exclusive).unwrap();
        let l = home.locker.clone();
        let opts = with_callback(&calls, &seen);
        let waiter = std::thread::spawn(move || l.lock_with(NAME, opts).map(drop));
        assert!(eventually(Duration::from_secs(10), || has_flock_waiter(
            &path
        )));
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
        waiter.join().unwrap().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(*seen.lock().unwrap(), NAME);
    }
}

#[test]
fn huge_timeout_means_wait_without_panicking() {
    let home = TempHome::new();
    let l = home.locker.clone();
    drop(
        l.lock_with(NAME, LockOptions::exclusive().timeout(Duration::MAX))
            .unwrap(),
    );
    let held = l.lock(NAME, Exclusive).unwrap();
    let waiter = std::thread::spawn(move || {
        l.lock_with(NAME, LockOptions::shared().timeout(Duration::MAX))
            .map(drop)
    });
    let path = home.werf_path(NAME);
    assert!(eventually(Duration::from_secs(10), || has_flock_waiter(
        &path
    )));
    drop(held);
    waiter.join().unwrap().unwrap();
}

/// Two acquisitions of one name in one process exclude each other as two processes do.
#[test]
fn acquisitions_in_one_process_exclude_each_other() {
    let home = TempHome::new();
    let inside = Arc::new(AtomicI64::new(0));
    let total = Arc::new(AtomicI64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let (l, inside, total) = (home.locker.clone(), inside.clone(), total.clone());
            std::thread::spawn(move || {
                for n in 0..200 {
                    let guard = match (i + n) % 3 {
                        0 => l.lock(NAME, Exclusive),
                        1 => l.lock_with(
                            NAME,
                            LockOptions::exclusive().timeout(Duration::from_secs(60)),
                        ),
                        _ => {
                            l.lock_with(NAME, LockOptions::exclusive().cancel(&CancelToken::new()))
                        }
                    }
                    .unwrap();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    // A non-atomic read-modify-write that loses updates without the lock.
                    let v = total.load(Ordering::SeqCst);
                    std::thread::yield_now();
                    total.store(v + 1, Ordering::SeqCst);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(guard);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(total.load(Ordering::SeqCst), 800);
}

/// The log lines of this test binary, for the warning of a wait that may never end.
static LOG: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        LOG.lock().unwrap().push(record.args().to_string());
    }
    fn flush(&self) {}
}

fn logged_about(name: &str) -> Vec<String> {
    let _ = log::set_logger(&Capture).map(|()| log::set_max_level(log::LevelFilter::Warn));
    let lines = LOG.lock().unwrap();
    lines.iter().filter(|l| l.contains(name)).cloned().collect()
}

#[test]
fn a_guard_handed_to_another_thread_is_waited_for_not_refused() {
    let home = TempHome::new();
    let l = &home.locker;
    let name = "handed.over";
    assert!(logged_about(name).is_empty()); // installs the logger
    for (held, requested) in [
        (Exclusive, Exclusive),
        (Exclusive, Shared),
        (Shared, Exclusive),
    ] {
        // This thread acquires, then hands the guard to another thread, which releases it
        // once this thread waits: a wait without deadline is right, not a deadlock.
        let guard = l.lock(name, held).unwrap();
        let path = home.werf_path(name);
        let releaser = std::thread::spawn(move || {
            assert!(eventually(Duration::from_secs(10), || has_flock_waiter(
                &path
            )));
            drop(guard);
        });
        let got = l.lock(name, requested).expect("waits for the other thread");
        releaser.join().unwrap();
        assert_eq!(got.mode(), requested);
        drop(got);
        // The acquiring thread still held it as far as anyone could see: the wait started
        // with a warning that names the lock.
        let warnings = logged_about(name);
        assert_eq!(warnings.len(), 1, "{held}/{requested}: {warnings:?}");
        assert!(warnings[0].contains("acquired itself"), "{}", warnings[0]);
        LOG.lock().unwrap().clear();
    }
    // With a deadline the wait ends: a plain timeout, and no warning.
    let guard = l.lock(name, Exclusive).unwrap();
    let err = l
        .lock_with(
            name,
            LockOptions::exclusive().timeout(Duration::from_millis(20)),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(logged_about(name).is_empty());
    drop(guard);
    // Shared + shared never waits: the second shared hold is granted.
    let s1 = l.lock(name, Shared).unwrap();
    let s2 = l.lock(name, Shared).unwrap();
    drop((s1, s2));
    // A hold another thread acquired is waited for without a warning.
    let other = {
        let l = l.clone();
        std::thread::spawn(move || l.lock(name, Exclusive).unwrap())
            .join()
            .unwrap()
    };
    let path = home.werf_path(name);
    let releaser = std::thread::spawn(move || {
        assert!(eventually(Duration::from_secs(10), || has_flock_waiter(
            &path
        )));
        drop(other);
    });
    drop(l.lock(name, Exclusive).expect("waits for the other thread"));
    releaser.join().unwrap();
    assert!(logged_about(name).is_empty());
}

#[test]
fn held_locks_lists_this_process_holds() {
    let home = TempHome::new();
    let mine = |name: &str| {
        held_locks()
            .into_iter()
            .filter(|h| h.path.starts_with(home.path()) && h.name == name)
            .collect::<Vec<_>>()
    };
    let before = std::time::SystemTime::now();
    let a = home.locker.lock("a", Exclusive).unwrap();
    let b1 = home.locker.lock("b", Shared).unwrap();
    // A named thread acquires "b" too, and stays alive until told to return its guard.
    let (acquired, wait_acquired) = std::sync::mpsc::channel();
    let (finish, wait_finish) = std::sync::mpsc::channel::<()>();
    let second = std::thread::Builder::new()
        .name("second".into())
        .spawn({
            let l = home.locker.clone();
            move || {
                let guard = l.lock("b", Shared).unwrap();
                acquired.send(()).unwrap();
                wait_finish.recv().unwrap();
                guard
            }
        })
        .unwrap();
    wait_acquired.recv().unwrap();
    let listed = mine("a");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].mode, Exclusive);
    assert_eq!(listed[0].path, home.werf_path("a"));
    assert_eq!(listed[0].thread, std::thread::current().id());
    // `since` is read from the coarse clock, which lags by at most a clock tick (10 ms at
    // the lowest usual HZ); the margin is generous for a loaded machine.
    let tick_and_margin = std::time::Duration::from_millis(100);
    assert!(listed[0].since + tick_and_margin >= before);
    assert!(listed[0].since <= std::time::SystemTime::now());
    let in_order: Vec<String> = held_locks()
        .into_iter()
        .filter(|h| h.path.starts_with(home.path()))
        .map(|h| h.name)
        .collect();
    assert_eq!(in_order, ["a", "b", "b"], "oldest first, by acquisition");
    let b = mine("b");
    assert_eq!(b.len(), 2);
    assert!(b.iter().all(|h| h.mode == Shared));
    assert!(b.iter().any(|h| h.thread_name.as_deref() == Some("second")));
    finish.send(()).unwrap();
    let b2 = second.join().unwrap();
    // Its thread has exited: the hold is still listed, without the thread's name.
    let b = mine("b");
    assert_eq!(b.iter().filter(|h| h.thread_name.is_none()).count(), 1);
    drop(a);
    assert!(mine("a").is_empty());
    b1.release().unwrap();
    // A guard is Send: released on another thread, it leaves the registry too.
    std::thread::spawn(move || b2.release().unwrap())
        .join()
        .unwrap();
    assert!(mine("b").is_empty());
}

#[test]
fn many_deadline_waiters_get_an_exclusive_lock_one_at_a_time() {
    let home = TempHome::new();
    let held = home.locker.lock(NAME, Exclusive).unwrap();
    let inside = Arc::new(AtomicI64::new(0));
    let start = Arc::new(Barrier::new(6));
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let (l, inside, start) = (home.locker.clone(), inside.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let g = l
                    .lock_with(
                        NAME,
                        LockOptions::exclusive().timeout(Duration::from_secs(30)),
                    )
                    .unwrap();
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                std::thread::sleep(Duration::from_millis(2));
                inside.fetch_sub(1, Ordering::SeqCst);
                drop(g);
            })
        })
        .collect();
    start.wait();
    std::thread::sleep(Duration::from_millis(20));
    drop(held);
    for w in waiters {
        w.join().unwrap();
    }
}

#[test]
fn a_guard_tells_its_name_path_and_mode_on_any_thread() {
    let home = TempHome::new();
    let guard = home.locker.lock("described", Shared).unwrap();
    let (name, path, mode, debug) = std::thread::spawn(move || {
        let described = (
            guard.name().to_owned(),
            guard.path().to_owned(),
            guard.mode(),
            format!("{guard:?}"),
        );
        guard.release().unwrap();
        described
    })
    .join()
    .unwrap();
    assert_eq!(name, "described");
    assert_eq!(path, home.werf_path("described"));
    assert_eq!(mode, Shared);
    assert!(
        debug.contains("described") && debug.contains("Shared"),
        "{debug}"
    );
}
