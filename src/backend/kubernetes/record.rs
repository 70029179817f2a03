//! lockgate's lease record in one annotation, and its backend's three decisions (spec
//! `werf-remote-sync.md` §3, `optimistic_locking_storage_base_backend.go`) as pure functions
//! of the annotation's current value and the client's clock, so they are tested without a
//! cluster and the ConfigMap loop around them only reads and writes.
//!
//! **Clock skew.** Expiry is `ExpireAtTimestamp` in Unix seconds written by whichever client
//! last wrote the lease, compared against the *reading* client's clock (lockgate's
//! Kubernetes mode has no server clock). A reader whose clock runs `s` seconds ahead of the
//! holder's sees the lease expire `s` seconds early, so skew eats into [`LEASE_TTL`] minus
//! the renew period's slack (10 s − 3 s): with more than ~7 s of skew a live holder can lose
//! its lease to a takeover. Keep CI hosts NTP-synchronised, as werf needs too.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha3::{Digest, Sha3_224};

use crate::backend::lease::LEASE_TTL;
use crate::manager::LockHandle;

/// lockgate's annotation prefix; the rest is the hex SHA3-224 of the lock name.
const KEY_PREFIX: &str = "lockgate.io/";

/// `lockgate.io/<lowercase hex SHA3-224 of lock_name>`, lockgate's `keyName`.
pub(super) fn annotation_key(lock_name: &str) -> String {
    let digest = Sha3_224::digest(lock_name.as_bytes());
    let mut key = String::with_capacity(KEY_PREFIX.len() + 2 * digest.len());
    key.push_str(KEY_PREFIX);
    for byte in digest {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

/// lockgate's `LockLeaseRecord`: the handle's fields first, then the lease. Fields of other
/// lockgate versions (v0.2.0's `QueueMembers`) are kept in `other` and written back, so a
/// record we rewrite loses nothing another writer put there. Missing fields read as Go's
/// zero values, as Go's decoder leaves them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LeaseRecord {
    #[serde(default)]
    uuid: String,
    #[serde(rename = "lockName", default)]
    lock_name: String,
    #[serde(rename = "ExpireAtTimestamp", default)]
    expire_at: i64,
    #[serde(rename = "SharedHoldersCount", default)]
    shared_holders: i64,
    #[serde(rename = "IsShared", default)]
    is_shared: bool,
    #[serde(flatten)]
    other: Map<String, Value>,
}

impl LeaseRecord {
    /// lockgate's `NewLockLeaseRecord`: a fresh UUID, one holder, expiring in [`LEASE_TTL`].
    fn new(lock_name: &str, shared: bool, now: i64, other: Map<String, Value>) -> Self {
        LeaseRecord {
            uuid: uuid::Uuid::new_v4().to_string(),
            lock_name: lock_name.to_owned(),
            expire_at: now + ttl_seconds(),
            shared_holders: 1,
            is_shared: shared,
            other,
        }
    }

    fn handle(&self) -> LockHandle {
        LockHandle {
            uuid: self.uuid.clone(),
            lock_name: self.lock_name.clone(),
        }
    }

    fn to_value(&self) -> String {
        serde_json::to_string(self).expect("a lease record always serializes")
    }

    /// Whether fields of a newer lockgate carry something (v0.2.0's waiter queue), so the
    /// record must outlive its last holder rather than be deleted with them.
    fn carries_other_state(&self) -> bool {
        self.other.values().any(|v| match v {
            Value::Null => false,
            Value::Object(map) => !map.is_empty(),
            Value::Array(items) => !items.is_empty(),
            _ => true,
        })
    }
}

fn ttl_seconds() -> i64 {
    LEASE_TTL.as_secs() as i64
}

/// What to do with the annotation after a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Write {
    /// Set the annotation to this lease JSON.
    Set(String),
    /// Remove the annotation (the last holder released).
    Remove,
}

/// A decision that could not be made: the record is unreadable, or the lease is not ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The annotation holds no lockgate lease JSON (the parser's message).
    Corrupt(String),
    /// lockgate's `no existing lock lease found`.
    NoLease,
    /// lockgate's `lock already leased`: someone else's UUID is on the lock.
    AlreadyLeased,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Corrupt(reason) => f.write_str(reason),
            other => f.write_str(other.lockgate_text().unwrap_or_default()),
        }
    }
}

impl Refusal {
    /// lockgate's error text for a lost lease (`None` for a corrupt record).
    pub(super) fn lockgate_text(&self) -> Option<&'static str> {
        match self {
            Refusal::NoLease => Some("no existing lock lease found"),
            Refusal::AlreadyLeased => Some("lock already leased"),
            Refusal::Corrupt(_) => None,
        }
    }
}

/// The acquire decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AcquireStep {
    /// Write the annotation; once written, `handle` holds the lease.
    Take { value: String, handle: LockHandle },
    /// Held by someone else, and not expired.
    ShouldWait,
}

/// An empty annotation value is no lease, as in lockgate (`value.Data == ""`); so is JSON
/// `null`, which Go decodes to a nil record.
fn parse(current: Option<&str>) -> Result<Option<LeaseRecord>, Refusal> {
    match current {
        None | Some("") => Ok(None),
        Some(text) => serde_json::from_str::<Option<LeaseRecord>>(text)
            .map_err(|err| Refusal::Corrupt(err.to_string())),
    }
}

/// lockgate's `Acquire`: no lease → a new one; an expired lease (`now > ExpireAt`) → taken
/// over by a new lease (unknown fields kept); shared on shared → one holder more, same UUID,
/// expiry refreshed; anything else → should wait.
pub(super) fn acquire(
    current: Option<&str>,
    lock_name: &str,
    shared: bool,
    now: i64,
) -> Result<AcquireStep, Refusal> {
    let lease = match parse(current)? {
        None => LeaseRecord::new(lock_name, shared, now, Map::new()),
        Some(old) if now > old.expire_at => LeaseRecord::new(lock_name, shared, now, old.other),
        Some(mut old) if shared && old.is_shared => {
            old.shared_holders += 1;
            old.expire_at = now + ttl_seconds();
            old
        }
        Some(_) => return Ok(AcquireStep::ShouldWait),
    };
    Ok(AcquireStep::Take {
        value: lease.to_value(),
        handle: lease.handle(),
    })
}

/// lockgate's `changeLease` checks: the lease exists and carries `handle`'s UUID.
fn ours(current: Option<&str>, handle: &LockHandle) -> Result<LeaseRecord, Refusal> {
    match parse(current)? {
        None => Err(Refusal::NoLease),
        Some(lease) if lease.uuid != handle.uuid => Err(Refusal::AlreadyLeased),
        Some(lease) => Ok(lease),
    }
}

/// lockgate's `RenewLease`: expiry becomes now + [`LEASE_TTL`].
pub(super) fn renew(
    current: Option<&str>,
    handle: &LockHandle,
    now: i64,
) -> Result<Write, Refusal> {
    let mut lease = ours(current, handle)?;
    lease.expire_at = now + ttl_seconds();
    Ok(Write::Set(lease.to_value()))
}

/// lockgate's `Release`: one holder fewer; at zero the annotation goes — unless the record
/// carries a newer lockgate's waiter queue, which v0.2.0 keeps by expiring the lease
/// (now − 1 s) instead, and so do we.
pub(super) fn release(
    current: Option<&str>,
    handle: &LockHandle,
    now: i64,
) -> Result<Write, Refusal> {
    let mut lease = ours(current, handle)?;
    lease.shared_holders -= 1;
    if lease.shared_holders > 0 {
        return Ok(Write::Set(lease.to_value()));
    }
    if lease.carries_other_state() {
        lease.expire_at = now - 1;
        return Ok(Write::Set(lease.to_value()));
    }
    Ok(Write::Remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn take(current: Option<&str>, shared: bool, now: i64) -> (String, LockHandle) {
        match acquire(current, "p/stage/d", shared, now).unwrap() {
            AcquireStep::Take { value, handle } => (value, handle),
            AcquireStep::ShouldWait => panic!("should have been granted"),
        }
    }

    fn record(value: &str) -> Value {
        serde_json::from_str(value).unwrap()
    }

    #[test]
    fn key_is_lockgates() {
        // Python: hashlib.sha3_224(b"p/stage/d").hexdigest(), and of b"" (the NIST vector).
        assert_eq!(
            annotation_key(""),
            "lockgate.io/6b4e03423667dbb73b6e15454f0eb1abd4597f9a1b078e3f5b5a6bc7"
        );
        assert_eq!(
            annotation_key("p/stage/d"),
            "lockgate.io/83d94638dabd19e471cedfecfc788659402058dbfcb90938a900e33d"
        );
    }

    #[test]
    fn new_lease_is_lockgates_json_in_its_field_order() {
        let (value, handle) = take(None, false, NOW);
        assert_eq!(
            value,
            format!(
                r#"{{"uuid":"{}","lockName":"p/stage/d","ExpireAtTimestamp":{},"SharedHoldersCount":1,"IsShared":false}}"#,
                handle.uuid,
                NOW + 10
            )
        );
        assert_eq!(handle.lock_name, "p/stage/d");
        assert_eq!(take(Some(""), false, NOW).1.lock_name, "p/stage/d");
    }

    #[test]
    fn held_lease_makes_others_wait_until_strictly_after_expiry() {
        let (value, _) = take(None, false, NOW);
        for (shared, now) in [(false, NOW), (true, NOW + 10)] {
            assert_eq!(
                acquire(Some(&value), "p/stage/d", shared, now).unwrap(),
                AcquireStep::ShouldWait
            );
        }
        let (taken, handle) = take(Some(&value), false, NOW + 11);
        assert_ne!(record(&taken)["uuid"], record(&value)["uuid"]);
        assert_eq!(record(&taken)["uuid"], handle.uuid.as_str());
    }

    #[test]
    fn shared_holders_share_one_uuid_and_count() {
        let (first, a) = take(None, true, NOW);
        let (second, b) = take(Some(&first), true, NOW + 5);
        assert_eq!(a, b);
        assert_eq!(record(&second)["SharedHoldersCount"], 2);
        assert_eq!(record(&second)["ExpireAtTimestamp"], NOW + 15);
        assert_eq!(
            acquire(Some(&second), "p/stage/d", false, NOW + 5).unwrap(),
            AcquireStep::ShouldWait
        );
        let Write::Set(one_left) = release(Some(&second), &a, NOW + 6).unwrap() else {
            panic!("one holder is left");
        };
        assert_eq!(record(&one_left)["SharedHoldersCount"], 1);
        assert_eq!(
            release(Some(&one_left), &a, NOW + 6).unwrap(),
            Write::Remove
        );
    }

    #[test]
    fn renew_and_release_check_the_uuid() {
        let (value, handle) = take(None, false, NOW);
        let Write::Set(renewed) = renew(Some(&value), &handle, NOW + 3).unwrap() else {
            panic!("renew writes");
        };
        assert_eq!(record(&renewed)["ExpireAtTimestamp"], NOW + 13);
        let stranger = LockHandle {
            uuid: "other".into(),
            ..handle.clone()
        };
        assert_eq!(
            renew(Some(&value), &stranger, NOW),
            Err(Refusal::AlreadyLeased)
        );
        assert_eq!(release(None, &handle, NOW), Err(Refusal::NoLease));
        assert_eq!(release(Some(""), &handle, NOW), Err(Refusal::NoLease));
        assert!(matches!(
            renew(Some("{not json"), &handle, NOW),
            Err(Refusal::Corrupt(_))
        ));
    }

    #[test]
    fn fields_of_newer_lockgate_survive_every_rewrite() {
        let queue = r#"{"w1":{"AcquirerId":"w1","AcquiredAtTimestamp":1,"ExpireAtTimestamp":2}}"#;
        let old = format!(
            r#"{{"uuid":"u1","lockName":"p/stage/d","ExpireAtTimestamp":{},"SharedHoldersCount":1,"IsShared":false,"QueueMembers":{queue}}}"#,
            NOW + 10
        );
        let handle = LockHandle {
            uuid: "u1".into(),
            lock_name: "p/stage/d".into(),
        };
        let Write::Set(renewed) = renew(Some(&old), &handle, NOW).unwrap() else {
            panic!("renew writes");
        };
        assert_eq!(record(&renewed)["QueueMembers"], record(queue));
        // Released with waiters queued: expired in place (v0.2.0), not deleted.
        let Write::Set(released) = release(Some(&old), &handle, NOW).unwrap() else {
            panic!("a record with a queue outlives its holder");
        };
        assert_eq!(record(&released)["ExpireAtTimestamp"], NOW - 1);
        assert_eq!(record(&released)["QueueMembers"], record(queue));
        // Taken over after expiry: a new lease, the queue kept.
        let (taken, _) = take(Some(&old), false, NOW + 11);
        assert_eq!(record(&taken)["QueueMembers"], record(queue));
        // An empty queue is nothing to keep.
        let empty = old.replace(queue, "{}");
        assert_eq!(release(Some(&empty), &handle, NOW).unwrap(), Write::Remove);
    }
}
