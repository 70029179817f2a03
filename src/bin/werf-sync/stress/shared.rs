//! State shared by the stress processes through a memory-mapped file: per hot lock name an
//! occupancy word (who is inside the critical section), a counter updated *non-atomically*
//! under the lock (a lost update shows as a wrong sum), and the release time used to measure
//! handoff latency; plus global progress and violation counters.
//!
//! Atomics in a `MAP_SHARED` mapping are coherent across processes on the same machine,
//! which is what lets the invariant checks see overlaps the moment they happen.
//!
//! The file is mapped with memmap2's `MmapRaw`, which maps and unmaps without `unsafe` and
//! hands out only a raw pointer, never a `&[u8]` that the other processes' writes would
//! break. Seeing those bytes as the atomics below is the stress tool's one `unsafe`,
//! [`Shared::view`].

use std::fs::OpenOptions;
use std::io;
use std::mem::{align_of, size_of};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use memmap2::MmapRaw;

/// One hot lock name's slot: a cache line of its own.
#[repr(C)]
pub struct Slot {
    /// 0 free, -1 an exclusive holder inside, n > 0 shared holders inside.
    pub occupancy: AtomicI64,
    /// Incremented by exclusive holders with a separate load and store.
    pub counter: AtomicU64,
    /// CLOCK_MONOTONIC nanoseconds of the last exclusive release.
    pub released_at_ns: AtomicU64,
    _pad: [u64; 5],
}

/// The global counters, a cache line before the slots.
#[repr(C)]
struct Header {
    operations: AtomicU64,
    violations: AtomicU64,
    /// Nonzero once the parent asks the workers to stop (the run is interrupted): they finish
    /// their operation and stop. An integer rather than an `AtomicBool` so that every byte
    /// pattern of the file is a valid `Header` (see [`Shared::view`]).
    stop: AtomicU64,
    _pad: [u64; 5],
}

// Slots follow the header, each on its own 64-byte cache line, every one aligned.
const _: () = assert!(size_of::<Header>() == 64 && size_of::<Slot>() == 64);
const _: () = assert!(size_of::<Header>().is_multiple_of(align_of::<Slot>()));

/// The size of the file for `slots` hot names.
fn mapped_len(slots: usize) -> usize {
    size_of::<Header>() + slots * size_of::<Slot>()
}

/// The shared file mapped: its header and `slots` slots. Unmapped on drop (by `MmapRaw`).
pub struct Shared {
    map: MmapRaw,
    slots: usize,
}

impl Shared {
    /// Creates (`create`) or opens the shared file at `path` with `slots` hot-name slots.
    pub fn map(path: &Path, slots: usize, create: bool) -> io::Result<Shared> {
        let len = mapped_len(slots);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(create)
            .open(path)?;
        if create {
            file.set_len(len as u64)?; // zero-filled: every slot starts free
        }
        // MAP_SHARED, read-write, the whole file; the file may be closed afterwards, the
        // mapping keeps it alive. Nothing truncates it while mapped: the parent sizes it
        // before it starts the workers and only unlinks it after they exit.
        let map = MmapRaw::map_raw(&file)?;
        if map.len() != len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} bytes, not the {len} of a run with {slots} hot names",
                    map.len()
                ),
            ));
        }
        Ok(Shared { map, slots })
    }

    /// The mapping seen as its header and slots: the stress tool's one `unsafe`. Every
    /// process reads and writes the file only through these atomics.
    ///
    /// Panics if the mapping is too short or misaligned for them (checked in [`Shared::map`]
    /// already; checked here again so that this function's soundness depends on no caller).
    #[allow(unsafe_code)]
    fn view(&self) -> (&Header, &[Slot]) {
        let base = self.map.as_ptr();
        let len = mapped_len(self.slots);
        assert!(self.map.len() >= len, "mapping shorter than {len} bytes");
        assert!(base.cast::<Header>().is_aligned(), "mapping misaligned");
        // SAFETY:
        // - In bounds and live: the mapping holds a Header then `slots` Slots (asserted above);
        //   the references borrow `self`, so the mapping outlives them.
        // - Aligned: the mapping is (page-)aligned for Header (asserted above), and Header's
        //   size is a multiple of Slot's alignment (const assert), so the slots are too.
        // - Valid: Header and Slot are plain integers and integer atomics, for which every
        //   byte pattern is valid; the file starts zero-filled (`set_len`).
        // - No aliasing violation: `MmapRaw` hands out no `&[u8]`, so these shared references
        //   are the only view of the bytes; the other processes, running this same code, change
        //   them only through the atomics (interior mutability), never the padding.
        unsafe {
            let header = &*base.cast::<Header>();
            let slots = std::slice::from_raw_parts(
                base.add(size_of::<Header>()).cast::<Slot>(),
                self.slots,
            );
            (header, slots)
        }
    }

    fn header(&self) -> &Header {
        self.view().0
    }

    /// The slot of hot name `index`.
    pub fn slot(&self, index: usize) -> &Slot {
        assert!(index < self.slots, "slot {index} out of {}", self.slots);
        &self.view().1[index]
    }

    pub fn add_operations(&self, n: u64) {
        self.header().operations.fetch_add(n, Ordering::Relaxed);
    }

    pub fn operations(&self) -> u64 {
        self.header().operations.load(Ordering::Relaxed)
    }

    pub fn add_violation(&self) {
        self.header().violations.fetch_add(1, Ordering::SeqCst);
    }

    pub fn violations(&self) -> u64 {
        self.header().violations.load(Ordering::SeqCst)
    }

    /// Asks every worker to stop after its current operation.
    pub fn stop(&self) {
        self.header().stop.store(1, Ordering::Relaxed);
    }

    pub fn stopping(&self) -> bool {
        self.header().stop.load(Ordering::Relaxed) != 0
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for all processes on the machine.
pub fn monotonic_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
