//! Coherence with the stages storage (spec §4): the cache is a hint, and when a caller finds
//! that a cached stage no longer exists it fails with an error whose message ends with
//! `should reset storage cache`; werf then deletes the project's records and retries the
//! whole operation (`RetryOnStagesStorageCacheResetError`). werf retries without bound;
//! ours stops after a given number of resets and returns the last error.

use std::fmt;

use super::StagesStorageCache;
use crate::error::Error;

/// The suffix that marks an error as "the cache is stale" (werf's
/// `ErrShouldResetStagesStorageCache`). [`Error::StagesStorageCacheReset`] ends with it.
pub const RESET_MARKER: &str = "should reset storage cache";

/// A sensible bound for [`StagesStorageCache::retry_on_reset`]: one reset normally fixes
/// the cache; more mean something else keeps re-filling it with stale records.
pub const DEFAULT_MAX_RESETS: u32 = 3;

/// Whether `err` is a reset marker: its message ends with [`RESET_MARKER`], exactly werf's
/// test (`strings.HasSuffix(err.Error(), ...)`), so wrapped errors from anywhere count.
pub fn is_reset_error(err: &dyn fmt::Display) -> bool {
    err.to_string().ends_with(RESET_MARKER)
}

impl StagesStorageCache {
    /// Deletes all of `project`'s records after a reset error (werf's
    /// `ResetStagesStorageCache`).
    pub fn reset(&self, project: &str) -> crate::Result<()> {
        log::info!(
            "Reset stages storage cache {} for project {project:?}",
            self.root().display()
        );
        self.delete_all_stages(project)
    }

    /// Runs `op`; when it fails with a reset marker ([`is_reset_error`]), resets the
    /// project's cache and runs it again, at most `max_resets` times. Returns `op`'s result,
    /// the last reset error when the bound is reached, or the error of a failed reset.
    pub fn retry_on_reset<T, E>(
        &self,
        project: &str,
        max_resets: u32,
        mut op: impl FnMut() -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: fmt::Display + From<Error>,
    {
        let mut resets = 0;
        loop {
            match op() {
                Err(err) if is_reset_error(&err) => {
                    if resets == max_resets {
                        log::warn!("werf-sync: giving up after {resets} stages storage cache resets: {err}");
                        return Err(err);
                    }
                    resets += 1;
                    self.reset(project).map_err(E::from)?;
                }
                other => return other,
            }
        }
    }
}
