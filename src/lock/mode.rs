//! Lock modes and the options of a waiting acquire.

use std::fmt;
use std::time::Duration;

use super::cancel::CancelToken;

/// Exclusive (`LOCK_EX`) or shared (`LOCK_SH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// One holder at a time; excludes shared holders too.
    Exclusive,
    /// Any number of shared holders at once; excludes exclusive holders.
    Shared,
}

impl LockMode {
    /// Whether a holder in `self` mode excludes a request in `other` mode.
    pub fn conflicts_with(self, other: LockMode) -> bool {
        !(self == LockMode::Shared && other == LockMode::Shared)
    }
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockMode::Exclusive => "exclusive",
            LockMode::Shared => "shared",
        })
    }
}

/// Called once, with the lock name, when the first try finds the lock held and the acquire
/// is about to wait (werf logs `Waiting for locked "NAME"` here).
pub type OnWait<'a> = Box<dyn FnOnce(&str) + Send + 'a>;

/// How to acquire a lock that may be held elsewhere: mode, how long to wait, a cancel token
/// and an on-wait callback. The default is exclusive, wait forever, not cancellable.
#[derive(Default)]
pub struct LockOptions<'a> {
    pub(crate) shared: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) on_wait: Option<OnWait<'a>>,
}

impl<'a> LockOptions<'a> {
    /// Exclusive, wait forever.
    pub fn exclusive() -> Self {
        Self::default()
    }

    /// Shared, wait forever.
    pub fn shared() -> Self {
        Self {
            shared: true,
            ..Self::default()
        }
    }

    /// Options for `mode`.
    pub fn with_mode(mode: LockMode) -> Self {
        Self {
            shared: mode == LockMode::Shared,
            ..Self::default()
        }
    }

    /// Give up with [`crate::Error::Timeout`] after `timeout` (zero: one try, no wait; a
    /// timeout too long for the clock, such as `Duration::MAX`, never expires).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Give up with [`crate::Error::Cancelled`] when `token` is cancelled.
    pub fn cancel(mut self, token: &CancelToken) -> Self {
        self.cancel = Some(token.clone());
        self
    }

    /// Call `on_wait(name)` once if the acquire has to wait.
    pub fn on_wait(mut self, on_wait: impl FnOnce(&str) + Send + 'a) -> Self {
        self.on_wait = Some(Box::new(on_wait));
        self
    }

    /// The mode these options ask for.
    pub fn mode(&self) -> LockMode {
        if self.shared {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        }
    }
}

impl fmt::Debug for LockOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockOptions")
            .field("mode", &self.mode())
            .field("timeout", &self.timeout)
            .field("cancel", &self.cancel)
            .field("on_wait", &self.on_wait.is_some())
            .finish()
    }
}
