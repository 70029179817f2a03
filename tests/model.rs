//! Model-based test of lock semantics: random sequences of acquires (try, zero timeout,
//! blocking), releases and collections over a few names and handles, in one thread, checked
//! step by step against a model of flock(2) — and the kernel's view checked with raw flocks.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use werf_sync::lock::held_locks;
use werf_sync::{Error, LockGuard, LockMode, LockOptions};

const NAMES: [&str; 3] = ["a", "b.c", ""];
const HANDLES: usize = 4;

#[derive(Debug, Clone, Copy)]
enum How {
    Try,
    ZeroTimeout,
    /// Waits without deadline when the model grants the lock; otherwise only tries (in one
    /// thread, a wait for a lock held by this thread would never end).
    Blocking,
}

#[derive(Debug, Clone)]
enum Op {
    Acquire {
        handle: usize,
        name: usize,
        mode: LockMode,
        how: How,
    },
    Release {
        handle: usize,
    },
    Gc,
}

fn op() -> impl Strategy<Value = Op> {
    let mode = prop_oneof![Just(LockMode::Exclusive), Just(LockMode::Shared)];
    let how = prop_oneof![Just(How::Try), Just(How::ZeroTimeout), Just(How::Blocking)];
    prop_oneof![
        4 => (0..HANDLES, 0..NAMES.len(), mode, how)
            .prop_map(|(handle, name, mode, how)| Op::Acquire { handle, name, mode, how }),
        3 => (0..HANDLES).prop_map(|handle| Op::Release { handle }),
        1 => Just(Op::Gc),
    ]
}

/// The model: which handle holds which name in which mode.
#[derive(Default)]
struct Model {
    holds: BTreeMap<usize, (usize, LockMode)>,
}

impl Model {
    fn grantable(&self, name: usize, mode: LockMode) -> bool {
        self.holds
            .values()
            .all(|&(n, held)| n != name || !held.conflicts_with(mode))
    }

    fn holders(&self, name: usize) -> Vec<LockMode> {
        self.holds
            .values()
            .filter(|(n, _)| *n == name)
            .map(|&(_, m)| m)
            .collect()
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let home = TempHome::new();
    let l = &home.locker;
    let mut model = Model::default();
    let mut guards: Vec<Option<LockGuard>> = (0..HANDLES).map(|_| None).collect();
    for op in ops {
        match op {
            Op::Acquire { handle, .. } if guards[handle].is_some() => {} // busy handle
            Op::Acquire {
                handle,
                name,
                mode,
                how,
            } => {
                let n = NAMES[name];
                let expect = model.grantable(name, mode);
                let got = match how {
                    How::Try => l.try_lock(n, mode).unwrap(),
                    How::ZeroTimeout => {
                        let options = LockOptions::with_mode(mode).timeout(Duration::ZERO);
                        match l.lock_with(n, options) {
                            Ok(g) => Some(g),
                            Err(Error::Timeout { .. }) => None,
                            Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                        }
                    }
                    How::Blocking if expect => Some(l.lock(n, mode).unwrap()),
                    How::Blocking => l.try_lock(n, mode).unwrap(),
                };
                prop_assert_eq!(
                    got.is_some(),
                    expect,
                    "{:?} {:?} {} {:?}",
                    how,
                    mode,
                    n,
                    model.holders(name)
                );
                if let Some(g) = got {
                    model.holds.insert(handle, (name, mode));
                    guards[handle] = Some(g);
                }
            }
            Op::Release { handle } => {
                if let Some(g) = guards[handle].take() {
                    g.release().unwrap();
                    model.holds.remove(&handle);
                }
            }
            Op::Gc => {
                let report = l.gc(Duration::ZERO).unwrap();
                let held_names = (0..NAMES.len()).filter(|&n| !model.holders(n).is_empty());
                prop_assert_eq!(report.held, held_names.count());
            }
        }
        check_kernel_view(&home, &model)?;
    }
    Ok(())
}

/// What a raw flock on the werf path (another open file description) and the registry say
/// must match the model.
fn check_kernel_view(home: &TempHome, model: &Model) -> Result<(), TestCaseError> {
    for (i, name) in NAMES.iter().enumerate() {
        let holders = model.holders(i);
        let raw = RawFlock::open(&home.werf_path(name));
        let shared_ok = raw.flock(libc::LOCK_SH | libc::LOCK_NB).is_ok();
        raw.flock(libc::LOCK_UN).unwrap();
        let exclusive_ok = raw.flock(libc::LOCK_EX | libc::LOCK_NB).is_ok();
        raw.flock(libc::LOCK_UN).unwrap();
        prop_assert_eq!(
            exclusive_ok,
            holders.is_empty(),
            "{:?}: {:?}",
            name,
            holders
        );
        prop_assert_eq!(
            shared_ok,
            !holders.contains(&LockMode::Exclusive),
            "{:?}",
            name
        );
        let mut registered: Vec<LockMode> = held_locks()
            .into_iter()
            .filter(|h| h.path == home.werf_path(name))
            .map(|h| h.mode)
            .collect();
        let mut expected = holders;
        registered.sort_by_key(|m| *m as u8);
        expected.sort_by_key(|m| *m as u8);
        prop_assert_eq!(registered, expected, "registry for {:?}", name);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if long_run() { 2000 } else { 128 }))]
    #[test]
    fn lock_semantics_match_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops)?;
    }
}
