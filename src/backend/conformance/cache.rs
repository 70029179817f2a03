//! The stages storage cache checks: misses, store/replace/get, the all-stages view,
//! deletion, and visibility between clients.

use super::{call, Failure};
use crate::backend::CacheBackend;
use crate::cache::StageId;

/// Makes a new client of the synchronization under test.
pub type ConnectCache<'a> = dyn Fn() -> Box<dyn CacheBackend> + 'a;

/// One cache check.
pub type CacheCheck = fn(&ConnectCache<'_>) -> Result<(), String>;

/// The cache checks, in the order [`cache_backend`] runs them.
pub const CACHE_CHECKS: &[(&str, CacheCheck)] = &[
    ("misses are None", misses_are_none),
    ("store replaces the entry", store_replaces_the_entry),
    ("entries are shared between clients", entries_are_shared),
    (
        "all stages are the union of entries",
        all_stages_are_the_union,
    ),
    ("delete by digest forgets one entry", delete_by_digest),
    ("delete all forgets the project", delete_all),
];

/// Runs every cache check against the backend made by `connect`.
pub fn cache_backend(connect: &ConnectCache<'_>) -> Result<(), Failure> {
    for (check, run) in CACHE_CHECKS {
        run(connect).map_err(|message| Failure { check, message })?;
    }
    Ok(())
}

/// A werf-shaped digest (56 lower-case hex characters, like sha3-224).
fn digest(n: u32) -> String {
    format!("{n:056x}")
}

fn stage(n: u32, unique_id: i64) -> StageId {
    StageId::new(digest(n), unique_id)
}

fn expect(what: &str, got: Option<Vec<StageId>>, want: Option<Vec<StageId>>) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

fn sorted(stages: Option<Vec<StageId>>) -> Option<Vec<StageId>> {
    stages.map(|mut s| {
        s.sort();
        s
    })
}

fn misses_are_none(connect: &ConnectCache<'_>) -> Result<(), String> {
    let cache = connect();
    let all = call("get_all_stages", cache.get_all_stages("conf-miss"))?;
    expect("get_all_stages of a new project", all, None)?;
    let one = call(
        "get_stages_by_digest",
        cache.get_stages_by_digest("conf-miss", &digest(1)),
    )?;
    expect("get_stages_by_digest of a new digest", one, None)
}

fn store_replaces_the_entry(connect: &ConnectCache<'_>) -> Result<(), String> {
    let cache = connect();
    let (p, d) = ("conf-store", digest(1));
    let get = |what| call(what, cache.get_stages_by_digest(p, &d));
    // Order within an entry is kept (werf stores a JSON array).
    let two = vec![stage(1, 1_700_000_000_002), stage(1, 1_700_000_000_001)];
    call(
        "store_stages_by_digest",
        cache.store_stages_by_digest(p, &d, &two),
    )?;
    expect("get after store", get("get_stages_by_digest")?, Some(two))?;
    let one = vec![stage(1, 1_700_000_000_003)];
    call(
        "store_stages_by_digest",
        cache.store_stages_by_digest(p, &d, &one),
    )?;
    expect(
        "get after a second store",
        get("get_stages_by_digest")?,
        Some(one),
    )?;
    // An empty entry is a hit: "cached, and there are no such stages".
    call(
        "store_stages_by_digest",
        cache.store_stages_by_digest(p, &d, &[]),
    )?;
    expect(
        "get after storing []",
        get("get_stages_by_digest")?,
        Some(vec![]),
    )
}

fn entries_are_shared(connect: &ConnectCache<'_>) -> Result<(), String> {
    let (a, b) = (connect(), connect());
    let (p, d) = ("conf-shared", digest(2));
    let stages = vec![stage(2, 1_600_000_000_000)];
    call(
        "store_stages_by_digest",
        a.store_stages_by_digest(p, &d, &stages),
    )?;
    let seen = call("get_stages_by_digest", b.get_stages_by_digest(p, &d))?;
    expect("another client's get", seen, Some(stages))?;
    call("delete_stages_by_digest", b.delete_stages_by_digest(p, &d))?;
    let seen = call("get_stages_by_digest", a.get_stages_by_digest(p, &d))?;
    expect("get after another client deleted", seen, None)
}

fn all_stages_are_the_union(connect: &ConnectCache<'_>) -> Result<(), String> {
    let cache = connect();
    let p = "conf-all";
    let first = vec![stage(3, 10)];
    let second = vec![stage(4, 20), stage(4, 30)];
    call("store", cache.store_stages_by_digest(p, &digest(3), &first))?;
    call(
        "store",
        cache.store_stages_by_digest(p, &digest(4), &second),
    )?;
    call("store", cache.store_stages_by_digest(p, &digest(5), &[]))?;
    let all = call("get_all_stages", cache.get_all_stages(p))?;
    let want = [first, second].concat();
    expect("get_all_stages (sorted)", sorted(all), sorted(Some(want)))?;
    // Other projects are untouched.
    let other = call("get_all_stages", cache.get_all_stages("conf-all-other"))?;
    expect("get_all_stages of another project", other, None)
}

fn delete_by_digest(connect: &ConnectCache<'_>) -> Result<(), String> {
    let cache = connect();
    let p = "conf-delete";
    let kept = vec![stage(7, 70)];
    call(
        "store",
        cache.store_stages_by_digest(p, &digest(6), &[stage(6, 60)]),
    )?;
    call("store", cache.store_stages_by_digest(p, &digest(7), &kept))?;
    call(
        "delete_stages_by_digest",
        cache.delete_stages_by_digest(p, &digest(6)),
    )?;
    let gone = call("get", cache.get_stages_by_digest(p, &digest(6)))?;
    expect("get of the deleted digest", gone, None)?;
    let other = call("get", cache.get_stages_by_digest(p, &digest(7)))?;
    expect("get of the other digest", other, Some(kept.clone()))?;
    let all = call("get_all_stages", cache.get_all_stages(p))?;
    expect("get_all_stages after the delete", sorted(all), Some(kept))?;
    // Deleting what is not there is not an error.
    call(
        "delete_stages_by_digest of a missing digest",
        cache.delete_stages_by_digest(p, &digest(6)),
    )?;
    call(
        "delete_stages_by_digest in a missing project",
        cache.delete_stages_by_digest("conf-delete-none", &digest(6)),
    )
}

fn delete_all(connect: &ConnectCache<'_>) -> Result<(), String> {
    let cache = connect();
    let p = "conf-reset";
    call(
        "store",
        cache.store_stages_by_digest(p, &digest(8), &[stage(8, 80)]),
    )?;
    call(
        "store",
        cache.store_stages_by_digest(p, &digest(9), &[stage(9, 90)]),
    )?;
    call(
        "store",
        cache.store_stages_by_digest("conf-reset-other", &digest(8), &[]),
    )?;
    call("delete_all_stages", cache.delete_all_stages(p))?;
    expect(
        "get_all_stages after delete_all_stages",
        call("get_all_stages", cache.get_all_stages(p))?,
        None,
    )?;
    expect(
        "get after delete_all_stages",
        call("get", cache.get_stages_by_digest(p, &digest(8)))?,
        None,
    )?;
    expect(
        "another project after delete_all_stages",
        call(
            "get",
            cache.get_stages_by_digest("conf-reset-other", &digest(8)),
        )?,
        Some(vec![]),
    )?;
    call("delete_all_stages again", cache.delete_all_stages(p))?;
    // The project is usable again after the reset.
    call(
        "store after reset",
        cache.store_stages_by_digest(p, &digest(8), &[stage(8, 81)]),
    )?;
    expect(
        "get after store after reset",
        call("get", cache.get_stages_by_digest(p, &digest(8)))?,
        Some(vec![stage(8, 81)]),
    )
}
