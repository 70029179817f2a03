//! State shared by the stress processes through a memory-mapped file: per hot lock name an
//! occupancy word (who is inside the critical section), a counter updated *non-atomically*
//! under the lock (a lost update shows as a wrong sum), and the release time used to measure
//! handoff latency; plus global progress and violation counters.
//!
//! Atomics in a `MAP_SHARED` mapping are coherent across processes on the same machine,
//! which is what lets the invariant checks see overlaps the moment they happen.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// One hot lock name's slot.
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

#[repr(C)]
struct Header {
    operations: AtomicU64,
    violations: AtomicU64,
    /// Set by the parent when the run is interrupted: workers finish their operation and stop.
    stop: AtomicBool,
    _pad: [u64; 5],
}

/// The mapping. Unmapped on drop.
pub struct Shared {
    base: *mut u8,
    len: usize,
    slots: usize,
}

// SAFETY: the mapping is only accessed through atomics.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// Creates (`create`) or opens the shared file at `path` with `slots` hot-name slots.
    pub fn map(path: &Path, slots: usize, create: bool) -> std::io::Result<Shared> {
        let len = std::mem::size_of::<Header>() + slots * std::mem::size_of::<Slot>();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(create)
            .open(path)?;
        if create {
            file.set_len(len as u64)?; // zero-filled: every slot starts free
        }
        use std::os::fd::AsRawFd;
        // SAFETY: mapping `len` bytes of a file that is at least `len` bytes long; the fd
        // may be closed afterwards, the mapping keeps the file alive.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Shared {
            base: base.cast(),
            len,
            slots,
        })
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a zero-initialised, suitably aligned Header
        // (mmap returns page-aligned memory) made only of atomics.
        unsafe { &*self.base.cast::<Header>() }
    }

    /// The slot of hot name `index`.
    pub fn slot(&self, index: usize) -> &Slot {
        assert!(index < self.slots, "slot {index} out of {}", self.slots);
        // SAFETY: in bounds (checked above); slots follow the header, 64-byte aligned.
        unsafe {
            &*self
                .base
                .add(std::mem::size_of::<Header>())
                .cast::<Slot>()
                .add(index)
        }
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
        self.header().stop.store(true, Ordering::Relaxed);
    }

    pub fn stopping(&self) -> bool {
        self.header().stop.load(Ordering::Relaxed)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mapped in `map`.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for all processes on the machine.
pub fn monotonic_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
