//! werf's lock manager (spec §3): named locks held by handle, with handles that serialize as
//! lockgate's `{"uuid":…,"lockName":…}`; [`names`] builds werf's lock names, so each werf
//! operation is defined once, as its name (`manager.lock(&names::stage(p, d), …)`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lock::{LockGuard, LockOptions, Locker};

/// A held lock, as werf and lockgate identify it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LockHandle {
    /// Random UUID of this acquisition.
    pub uuid: String,
    /// The lock name.
    #[serde(rename = "lockName")]
    pub lock_name: String,
}

/// werf's lock names (spec §3).
pub mod names {
    /// `PROJECT.DIGEST` — building a stage.
    pub fn stage(project: &str, digest: &str) -> String {
        format!("{project}.{digest}")
    }

    /// `PROJECT.DIGEST.cache` — a stage's cache record (werf ≤ v1.2.76).
    pub fn stage_cache(project: &str, digest: &str) -> String {
        format!("{project}.{digest}.cache")
    }

    /// `IMAGE.image` (werf v1.1).
    pub fn image(image: &str) -> String {
        format!("{image}.image")
    }

    /// `PROJECT.stages_and_images` (werf v1.1).
    pub fn stages_and_images(project: &str) -> String {
        format!("{project}.stages_and_images")
    }

    /// `project/PROJECT;release/RELEASE;kube_context/CONTEXT` (werf v1.1).
    pub fn deploy_process(project: &str, release: &str, kube_context: &str) -> String {
        format!("project/{project};release/{release};kube_context/{kube_context}")
    }
}

/// Holds werf's locks by handle. Usable from any thread.
#[derive(Debug)]
pub struct LockManager {
    locker: Locker,
    held: Mutex<HashMap<LockHandle, LockGuard>>,
}

impl LockManager {
    /// A manager over `locker`.
    pub fn new(locker: Locker) -> Self {
        LockManager {
            locker,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The underlying locker.
    pub fn locker(&self) -> &Locker {
        &self.locker
    }

    /// Acquires `name` with `options` and keeps it until [`LockManager::unlock`].
    pub fn lock(&self, name: &str, options: LockOptions<'_>) -> Result<LockHandle> {
        let guard = self.locker.lock_with(name, options)?;
        Ok(self.keep(name, guard))
    }

    /// One non-blocking attempt; `Ok(None)` when the lock is held elsewhere.
    pub fn try_lock(&self, name: &str, mode: crate::LockMode) -> Result<Option<LockHandle>> {
        Ok(self
            .locker
            .try_lock(name, mode)?
            .map(|g| self.keep(name, g)))
    }

    fn keep(&self, name: &str, guard: LockGuard) -> LockHandle {
        let handle = LockHandle {
            uuid: uuid::Uuid::new_v4().to_string(),
            lock_name: name.to_owned(),
        };
        self.held_map().insert(handle.clone(), guard);
        handle
    }

    /// Releases the lock of `handle`; [`Error::UnknownHandle`] if this manager does not
    /// hold it (never acquired here, or already unlocked).
    pub fn unlock(&self, handle: &LockHandle) -> Result<()> {
        let guard = self
            .held_map()
            .remove(handle)
            .ok_or_else(|| Error::UnknownHandle {
                uuid: handle.uuid.clone(),
                name: handle.lock_name.clone(),
            })?;
        guard.release()
    }

    /// The handles this manager holds.
    pub fn handles(&self) -> Vec<LockHandle> {
        self.held_map().keys().cloned().collect()
    }

    fn held_map(&self) -> std::sync::MutexGuard<'_, HashMap<LockHandle, LockGuard>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn werf_lock_names() {
        assert_eq!(names::stage("p", "d"), "p.d");
        assert_eq!(names::stage_cache("p", "d"), "p.d.cache");
        assert_eq!(names::image("i"), "i.image");
        assert_eq!(names::stages_and_images("p"), "p.stages_and_images");
        assert_eq!(
            names::deploy_process("p", "r", "c"),
            "project/p;release/r;kube_context/c"
        );
    }

    #[test]
    fn handle_serializes_as_lockgate_does() {
        let handle = LockHandle {
            uuid: "u".into(),
            lock_name: "n".into(),
        };
        assert_eq!(
            serde_json::to_string(&handle).unwrap(),
            r#"{"uuid":"u","lockName":"n"}"#
        );
        let back: LockHandle = serde_json::from_str(r#"{"lockName":"n","uuid":"u"}"#).unwrap();
        assert_eq!(back, handle);
    }
}
