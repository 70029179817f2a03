//! A timed-out or cancelled acquire leaves no thread and no descriptor behind once the lock
//! is free. Alone in its own test binary so that no other test's threads or descriptors
//! disturb the counts.

mod common;

use std::time::Duration;

use common::*;
use werf_sync::{CancelToken, Error, LockMode, LockOptions};

const NAME: &str = "project.leak";

#[test]
fn abandoned_waits_leave_nothing_behind_once_the_lock_is_free() {
    let home = TempHome::new();
    let l = &home.locker;
    // Warm up: the locker keeps its locks directory open after the first acquire.
    drop(l.try_lock(NAME, LockMode::Exclusive).unwrap());
    let (fds, threads) = (fd_count(), thread_count());

    let holder = l.lock(NAME, LockMode::Exclusive).unwrap();
    let abandoned = 20;
    for i in 0..abandoned {
        let err = if i % 2 == 0 {
            let options = LockOptions::exclusive().timeout(Duration::from_millis(5));
            l.lock_with(NAME, options).unwrap_err()
        } else {
            let token = CancelToken::new();
            let canceller = {
                let token = token.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(5));
                    token.cancel();
                })
            };
            let err = l
                .lock_with(NAME, LockOptions::shared().cancel(&token))
                .unwrap_err();
            canceller.join().unwrap();
            err
        };
        assert!(
            matches!(err, Error::Timeout { .. } | Error::Cancelled { .. }),
            "{err}"
        );
    }
    // While the lock is held the helpers still wait (the design: they own the descriptor
    // until they get the lock), so at most one thread and one descriptor each. Fewer when a
    // wait ran out during its brief yielding retries, before it needed a helper (a loaded
    // machine can spend the 5 ms there).
    assert!(thread_count() <= threads + abandoned);
    assert!(fd_count() <= fds + 1 + abandoned, "holder + helpers");

    drop(holder);
    let settled = eventually(Duration::from_secs(10), || {
        thread_count() == threads && fd_count() == fds
    });
    assert!(
        settled,
        "after the release: {} threads (was {threads}), {} descriptors (was {fds})",
        thread_count(),
        fd_count()
    );
    // The helpers that got the lock after their callers left released it again.
    assert!(l.try_lock(NAME, LockMode::Exclusive).unwrap().is_some());

    // A wait that succeeds leaves exactly the holder's descriptor and no thread.
    let holder = l.lock(NAME, LockMode::Exclusive).unwrap();
    let waiter = {
        let l = l.clone();
        std::thread::spawn(move || {
            l.lock_with(
                NAME,
                LockOptions::exclusive().timeout(Duration::from_secs(30)),
            )
            .unwrap()
        })
    };
    let path = home.werf_path(NAME);
    assert!(eventually(Duration::from_secs(10), || has_flock_waiter(
        &path
    )));
    drop(holder);
    let guard = waiter.join().unwrap();
    assert!(eventually(Duration::from_secs(10), || thread_count() == threads));
    assert_eq!(fd_count(), fds + 1);
    drop(guard);
    assert_eq!(fd_count(), fds);
}
