//! Reliability and security tests (issue 7): crash loops, a full disk, descriptor
//! exhaustion, directories removed or replaced while in use, hostile filesystems and other
//! users, fuzz smoke runs, load.
//!
//! One test binary so the suite links once. Tests that need a separate process (to be killed,
//! to lower a resource limit, to drop privileges) re-execute this binary as a child with a
//! role (see `child`). Long variants run with `WERF_SYNC_LONG=1`; `RELIABILITY.md` lists
//! each guarantee and the test that proves it.

mod child;
mod crash;
mod descriptors;
mod diskfull;
mod fuzz;
mod hostile;
mod load;
mod moved;
mod purge;
mod rng;
mod support;
mod users;

/// Not a test: the entry point of the child processes the tests spawn. Run without the
/// child-role variable (as in a normal `cargo test`), it does nothing.
#[test]
fn child_process_entry() {
    child::run_role_if_child();
}
