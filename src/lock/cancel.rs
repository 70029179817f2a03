//! Cancelling a wait from another thread — how the C ABI honours a Go `context.Context`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

type Wake = Arc<dyn Fn() + Send + Sync>;

/// A token that cancels the waits it is passed to. Clone it to hand it to another thread;
/// all clones share one state. Cancellation is permanent.
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    next_id: AtomicU64,
    wakers: Mutex<HashMap<u64, Wake>>,
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    /// A new token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every wait using this token, now and in the future. Safe from any thread.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let wakers: Vec<Wake> = self
            .inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for wake in wakers {
            wake();
        }
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Calls `wake` when the token is cancelled, until the returned registration is dropped.
    /// The waiter must re-check [`CancelToken::is_cancelled`] under its own lock after
    /// registering, since a cancel may come between its check and the registration.
    pub(crate) fn on_cancel(&self, wake: Wake) -> Registration {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, wake);
        Registration {
            token: self.clone(),
            id,
        }
    }
}

/// Unregisters a wake-up callback on drop.
pub(crate) struct Registration {
    token: CancelToken,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.token
            .inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}
