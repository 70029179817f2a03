//! Processes and clocks.

use super::check;

/// The wall clock to the resolution of a clock tick, from the vDSO without reading the
/// hardware clock: a few nanoseconds where the precise clock costs about 90 on virtual
/// machines. For timestamps that are listed, never compared to order events.
pub(crate) fn coarse_wall_clock() -> std::time::SystemTime {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: an all-zero timespec is valid; clock_gettime writes into it.
        let mut now: libc::timespec = unsafe { std::mem::zeroed() };
        // SAFETY: valid clock id and writable timespec.
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut now) } == 0 {
            if let (Ok(secs), Ok(nanos)) = (u64::try_from(now.tv_sec), u32::try_from(now.tv_nsec)) {
                return std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos);
            }
        }
    }
    std::time::SystemTime::now()
}

/// Whether a process with this pid exists: `kill(pid, 0)` checks without signalling; ESRCH
/// means there is none, EPERM that there is one we may not signal.
pub(crate) fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission checks.
    match check(unsafe { libc::kill(pid, 0) }) {
        Ok(_) => true,
        Err(e) => e.raw_os_error() == Some(libc::EPERM),
    }
}
