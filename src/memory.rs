//! Memory the process no longer needs, given back to the system.
//!
//! Loading the rules (at start and at each reload) needs a few megabytes for
//! a moment: parsing, checking every pattern, building the prefilter; a
//! reload also frees the rules it replaces. Once freed, glibc's allocator
//! keeps those pages, scattered through its heap where `free` cannot return
//! them, so they would stay resident for the life of the process (about a
//! megabyte and a half when following a container, read from
//! `/proc/PID/smaps`). `malloc_trim` returns them.

/// Returns the allocator's free pages to the system. Only glibc has the
/// call; elsewhere this does nothing.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it only walks glibc's own free
    // lists under glibc's own locks, and may be called from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
