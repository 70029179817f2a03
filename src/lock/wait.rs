//! Waiting for a contended lock with a deadline or a cancel token without polling.
//!
//! A blocking `flock(2)` cannot be given a timeout, and interrupting it with a signal is not
//! an option for a library loaded into Go (the Go runtime owns signal handling). So the
//! blocking `flock` runs on a short-lived helper thread that owns the descriptor, while the
//! caller waits on a condition variable for the helper's result, its deadline or a cancel.
//! Before that, the caller tries a few more times without blocking, yielding the CPU in
//! between ([`BRIEF_RETRIES`], microseconds): under contention the holder often releases
//! that soon, and a try is far cheaper than a thread spawn (benches/contended.rs).
//! The kernel wakes the helper the moment the lock is released, so the handoff costs one
//! thread wake-up more than a plain blocking wait — microseconds, not a polling interval.
//!
//! If the caller gives up first it marks the handoff abandoned; when the helper later gets
//! the lock it closes the descriptor at once, releasing it. The helper thread and descriptor
//! therefore live exactly until the lock is next free. A consequence to know: for a few
//! microseconds after that next release the abandoned helper holds the lock, so a
//! non-blocking try in that window finds it held (a blocking waiter just waits a bit longer).

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::cancel::CancelToken;
use crate::sys::{self, FlockOp};

/// How a wait ended.
pub(crate) enum WaitOutcome {
    Acquired(File),
    TimedOut,
    Cancelled,
    /// `flock` failed.
    Failed(io::Error),
    /// The helper thread could not be started (no lock was tried).
    NoHelper(io::Error),
}

enum State {
    Waiting,
    Done(io::Result<File>),
    Abandoned,
}

struct Handoff {
    state: Mutex<State>,
    ready: Condvar,
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How many times a wait tries again without blocking, yielding the CPU in between, before
/// it pays for a helper thread. Spawning one costs tens of microseconds, and under contention
/// most holds are short: the holder often releases within a few yields. Eight tries are a few
/// microseconds when nothing else wants the CPU.
const BRIEF_RETRIES: u32 = 8;

/// Blocks on `flock(file, op)` until acquired, `deadline` passes or `cancel` is cancelled.
pub(crate) fn wait_for_lock(
    file: File,
    op: FlockOp,
    deadline: Option<Instant>,
    cancel: Option<&CancelToken>,
) -> WaitOutcome {
    match retry_briefly(&file, op, deadline, cancel) {
        Some(Ok(())) => return WaitOutcome::Acquired(file),
        Some(Err(gave_up)) => return gave_up,
        None => {}
    }
    let handoff = Arc::new(Handoff {
        state: Mutex::new(State::Waiting),
        ready: Condvar::new(),
    });
    if let Err(e) = spawn_helper(file, op, Arc::clone(&handoff)) {
        return WaitOutcome::NoHelper(e);
    }
    let _registration = cancel.map(|token| {
        let handoff = Arc::clone(&handoff);
        token.on_cancel(Arc::new(move || {
            // Taking the mutex orders this wake-up after the waiter's cancel check.
            let _state = handoff.lock();
            handoff.ready.notify_all();
        }))
    });
    wait_for_helper(&handoff, deadline, cancel)
}

/// `Some(Ok)` when a non-blocking try got the lock, `Some(Err)` when the wait ended
/// otherwise (deadline, cancel, error), `None` when the lock is still held after
/// [`BRIEF_RETRIES`].
fn retry_briefly(
    file: &File,
    op: FlockOp,
    deadline: Option<Instant>,
    cancel: Option<&CancelToken>,
) -> Option<Result<(), WaitOutcome>> {
    for _ in 0..BRIEF_RETRIES {
        std::thread::yield_now();
        if cancel.is_some_and(CancelToken::is_cancelled) {
            return Some(Err(WaitOutcome::Cancelled));
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Some(Err(WaitOutcome::TimedOut));
        }
        match sys::flock(file.as_fd(), op, true) {
            Ok(()) => return Some(Ok(())),
            Err(e) if sys::is_contended(&e) => {}
            Err(e) => return Some(Err(WaitOutcome::Failed(e))),
        }
    }
    None
}

fn spawn_helper(file: File, op: FlockOp, handoff: Arc<Handoff>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("werf-sync-wait".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let result = sys::flock(file.as_fd(), op, false).map(|()| file);
            let mut state = handoff.lock();
            if matches!(*state, State::Abandoned) {
                // The caller gave up: dropping `result` closes the descriptor and with it
                // releases the lock we were too late to hand over.
                drop(state);
                drop(result);
            } else {
                *state = State::Done(result);
                // Wake the caller only after unlocking, so that it does not wake up just to
                // block again on the mutex this thread still holds (a second sleep and
                // wake-up on the handoff path, milliseconds on a busy machine).
                drop(state);
                handoff.ready.notify_one();
            }
        })
        .map(drop)
}

fn wait_for_helper(
    handoff: &Handoff,
    deadline: Option<Instant>,
    cancel: Option<&CancelToken>,
) -> WaitOutcome {
    let mut state = handoff.lock();
    loop {
        if let State::Done(_) = &*state {
            return match std::mem::replace(&mut *state, State::Abandoned) {
                State::Done(Ok(file)) => WaitOutcome::Acquired(file),
                State::Done(Err(e)) => WaitOutcome::Failed(e),
                _ => unreachable!("matched State::Done above"),
            };
        }
        if cancel.is_some_and(CancelToken::is_cancelled) {
            *state = State::Abandoned;
            return WaitOutcome::Cancelled;
        }
        state = match deadline {
            None => handoff
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    *state = State::Abandoned;
                    return WaitOutcome::TimedOut;
                }
                handoff
                    .ready
                    .wait_timeout(state, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &std::path::Path) -> File {
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .unwrap()
    }

    /// A lock file held through another descriptor, and a second descriptor to wait with.
    fn held() -> (tempfile::TempDir, File, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let (holder, waiter) = (open(&path), open(&path));
        sys::flock(holder.as_fd(), FlockOp::Exclusive, true).unwrap();
        (dir, holder, waiter)
    }

    #[test]
    fn brief_retries_take_a_lock_that_is_free() {
        let (_dir, holder, waiter) = held();
        drop(holder);
        let outcome = retry_briefly(&waiter, FlockOp::Exclusive, None, None);
        assert!(matches!(outcome, Some(Ok(()))));
    }

    #[test]
    fn brief_retries_give_up_on_a_lock_still_held() {
        let (_dir, _holder, waiter) = held();
        assert!(retry_briefly(&waiter, FlockOp::Exclusive, None, None).is_none());
    }

    #[test]
    fn brief_retries_end_at_the_deadline_or_cancel() {
        let (_dir, _holder, waiter) = held();
        let past = Some(Instant::now());
        let timed_out = retry_briefly(&waiter, FlockOp::Exclusive, past, None);
        assert!(matches!(timed_out, Some(Err(WaitOutcome::TimedOut))));
        let token = CancelToken::new();
        token.cancel();
        let cancelled = retry_briefly(&waiter, FlockOp::Exclusive, None, Some(&token));
        assert!(matches!(cancelled, Some(Err(WaitOutcome::Cancelled))));
    }
}
