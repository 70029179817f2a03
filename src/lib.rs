//! # werf-sync
//!
//! werf's `--synchronization=:local` mode as a library: named OS advisory file locks that
//! exclude werf's own (Go, lockgate) locks on the same files, with waits that hand a released
//! lock over in microseconds instead of werf's 500 ms polling.
//!
//! ```no_run
//! use werf_sync::{Locker, LockMode, LockOptions, WerfHome};
//! use std::time::Duration;
//!
//! let locker = Locker::new(WerfHome::resolve(None)?);
//! let guard = locker.lock_with(
//!     "myproject.0123abcd",
//!     LockOptions::exclusive()
//!         .timeout(Duration::from_secs(30))
//!         .on_wait(|name| eprintln!("Waiting for locked \"{name}\"")),
//! )?;
//! // ... build the stage ...
//! guard.release()?;
//! # Ok::<(), werf_sync::Error>(())
//! ```
//!
//! Modules: [`home`] (the werf home and its directories), [`lock`] (named locks), [`manager`]
//! (werf's lock names), [`cache`] (werf's stages storage cache), [`address`] (the
//! `--synchronization` address), [`backend`] (lock and cache traits; local implementation,
//! remote stubs).

pub mod address;
pub mod backend;
pub mod cache;
pub mod error;
pub mod home;
pub mod lock;
pub mod manager;
mod sys;

pub use address::Address;
pub use backend::Synchronization;
pub use cache::{StageId, StagesStorageCache};
pub use error::{Error, Result};
pub use home::WerfHome;
pub use lock::{CancelToken, LockGuard, LockMode, LockOptions, Locker};
pub use manager::{LockHandle, LockManager};

/// The README's Rust snippets, compiled by `cargo test --doc` as they are printed there (they
/// are `no_run`: they would lock in the real werf home).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
