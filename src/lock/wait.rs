//! Waiting for a contended lock with a deadline or a cancel token without polling.
//!
//! A blocking `flock(2)` cannot be given a timeout, and interrupting it with a signal is not
//! an option for a library loaded into Go (the Go runtime owns signal handling). So the
//! blocking `flock` runs on a short-lived helper thread that owns the descriptor, while the
//! caller waits on a condition variable for the helper's result, its deadline or a cancel.
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
    Failed(io::Error),
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

/// Blocks on `flock(file, op)` until acquired, `deadline` passes or `cancel` is cancelled.
pub(crate) fn wait_for_lock(
    file: File,
    op: FlockOp,
    deadline: Option<Instant>,
    cancel: Option<&CancelToken>,
) -> WaitOutcome {
    let handoff = Arc::new(Handoff {
        state: Mutex::new(State::Waiting),
        ready: Condvar::new(),
    });
    if let Err(e) = spawn_helper(file, op, Arc::clone(&handoff)) {
        return WaitOutcome::Failed(e);
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
