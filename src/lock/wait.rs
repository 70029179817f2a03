//! Waiting for a contended lock: [`Contention::wait`] is where every acquire that found its
//! lock held goes, with the caller's patience — none (a try), forever, or until a deadline
//! or a cancel token.
//!
//! Waiting forever is a blocking `flock(2)` in the calling thread: the kernel wakes it on
//! release. A blocking `flock` cannot be given a timeout, though, and interrupting it with a
//! signal is not an option for a library loaded into Go (the Go runtime owns signal
//! handling). So a wait with a deadline or a cancel token runs the blocking `flock` on a
//! short-lived helper thread that owns the descriptor, while the caller waits on a condition
//! variable for the helper's result, its deadline or a cancel ([`wait_for_lock`]).
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
//!
//! A thread that waits forever for a lock it acquired itself and still holds never wakes —
//! unless it handed the guard to another thread, which will release it. A move cannot be
//! observed, so this is not refused as an error (which would fail a wait that is fine); the
//! wait logs a warning naming the lock when it starts.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::cancel::CancelToken;
use super::mode::{LockMode, OnWait};
use super::path::LockFilePath;
use super::{flock_error, flock_op, open, registry};
use crate::error::{Error, Result};
use crate::sys::{self, FlockOp};

/// How long an acquire may wait.
#[derive(Clone, Copy)]
pub(super) enum Patience<'t> {
    Try,
    Forever,
    Bounded {
        deadline: Option<Instant>,
        cancel: Option<&'t CancelToken>,
    },
}

impl<'t> Patience<'t> {
    /// The patience of `timeout` and `cancel`, both optional.
    pub(super) fn new(timeout: Option<Duration>, cancel: Option<&'t CancelToken>) -> Self {
        // A timeout too long to add to the clock (e.g. `Duration::MAX`) never expires: wait
        // without a deadline rather than panic on the overflow.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        match (deadline, cancel) {
            (None, None) => Patience::Forever,
            (deadline, cancel) => Patience::Bounded { deadline, cancel },
        }
    }

    /// Cancelled before the acquire began: it then fails even if the lock is free.
    pub(super) fn is_cancelled(self) -> bool {
        matches!(self, Patience::Bounded { cancel: Some(token), .. } if token.is_cancelled())
    }
}

/// An acquire's way of dealing with a held lock: its name and mode, its patience, the
/// on-wait callback (called at most once) and when it first found the lock held.
pub(super) struct Contention<'a> {
    name: &'a str,
    mode: LockMode,
    patience: Patience<'a>,
    on_wait: Option<OnWait<'a>>,
    started: Option<Instant>,
}

impl<'a> Contention<'a> {
    pub(super) fn new(
        name: &'a str,
        mode: LockMode,
        patience: Patience<'a>,
        on_wait: Option<OnWait<'a>>,
    ) -> Self {
        Contention {
            name,
            mode,
            patience,
            on_wait,
            started: None,
        }
    }

    pub(super) fn name(&self) -> &'a str {
        self.name
    }

    pub(super) fn mode(&self) -> LockMode {
        self.mode
    }

    /// Waits for `file`, found held, as the patience allows: `Ok(Some(file))` locked,
    /// `Ok(None)` for a try, or the timeout, cancel or failure as an error.
    pub(super) fn wait(&mut self, file: File, path: &LockFilePath<'_>) -> Result<Option<File>> {
        // Contention on something that is not a lock file (a FIFO someone holds a flock on)
        // is an error, not a reason to report "held" or to wait forever. Checked only here
        // so that the uncontended acquire keeps a single fstat.
        open::check_is_lock_file(&file, path)?;
        let started = *self.started.get_or_insert_with(Instant::now);
        let op = flock_op(self.mode);
        let outcome = match self.patience {
            Patience::Try => return Ok(None),
            Patience::Forever => {
                self.warn_if_this_thread_holds(path);
                self.call_on_wait();
                match sys::flock(file.as_fd(), op, false) {
                    Ok(()) => WaitOutcome::Acquired(file),
                    Err(e) => WaitOutcome::Failed(e),
                }
            }
            Patience::Bounded { deadline, cancel } => {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    // A zero timeout: one try, no wait, no on-wait callback.
                    WaitOutcome::TimedOut
                } else {
                    self.call_on_wait();
                    wait_for_lock(file, op, deadline, cancel)
                }
            }
        };
        match outcome {
            WaitOutcome::Acquired(file) => Ok(Some(file)),
            WaitOutcome::TimedOut => Err(Error::Timeout {
                name: self.name.into(),
                waited: started.elapsed(),
            }),
            WaitOutcome::Cancelled => Err(Error::Cancelled {
                name: self.name.into(),
            }),
            WaitOutcome::Failed(e) => Err(flock_error(e, path)),
            WaitOutcome::NoHelper(e) => Err(Error::io(
                "cannot start a thread to wait for lock file",
                path.to_path_buf(),
                e,
            )),
        }
    }

    fn call_on_wait(&mut self) {
        if let Some(callback) = self.on_wait.take() {
            callback(self.name);
        }
    }

    fn warn_if_this_thread_holds(&self, path: &LockFilePath<'_>) {
        if let Some(held) = registry::conflicting_hold_of_this_thread(path, self.mode) {
            log::warn!(
                "werf-sync: this thread waits without a deadline for lock \"{}\" ({}) that it \
                 acquired itself ({held}) and has not released: unless that guard was handed \
                 to another thread, the wait never ends",
                self.name,
                self.mode,
            );
        }
    }
}

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
