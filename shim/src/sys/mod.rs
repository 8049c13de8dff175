//! The raw-syscall fence: every `unsafe` call of runwarden outside the tracer engine lives here.
//!
//! Each wrapper turns a libc return code into a `Result` in one place ([`cvt`]), takes and returns plain
//! Rust values, and documents the invariant its `unsafe` block relies on. nix covers most requests; we drop
//! to libc only where nix cannot express what we need: `PTRACE_LISTEN`, signal numbers outside nix's
//! `Signal` enum (realtime signals must be forwarded and injected too), and the async-signal-safe code
//! that runs between `fork` and `exec`.

pub mod notify;
pub mod ptrace;
pub mod seccomp;
pub mod signal;
pub mod spawn;

use std::io;

/// Turns a libc-style return value (`-1` and `errno` on failure) into an `io::Result`.
pub fn cvt<T: IsMinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Integer types that libc uses for "-1 means error".
pub trait IsMinusOne: Copy {
    fn is_minus_one(self) -> bool;
}

impl IsMinusOne for i32 {
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

impl IsMinusOne for i64 {
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

impl IsMinusOne for isize {
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

/// glibc's mmap threshold, fixed at its default: every block of 128 KiB or more is mapped when
/// allocated and unmapped when freed.
pub const MMAP_THRESHOLD: usize = 128 * 1024;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD`], which also turns off its dynamic raise. By
/// default, freeing a mapped block raises the threshold to that block's size (up to 32 MiB); later
/// blocks of that size then come from an arena, and when anything was allocated above them they stay
/// resident after they are freed. The signature scan reads a whole file (up to 64 MiB,
/// `enrich::signatures::SCAN_MAX_BYTES`): in the soak (`integration/bench/soak.py`), the rescan of
/// a 22 MiB libpython whose cache entry had been evicted left its buffer resident, RSS 29 -> 51 MiB
/// in one step at 29 minutes. The cost: a mapping and an unmapping per block this large (a scan
/// buffer, a large HTTP body), little next to reading or sending that much. Call before any thread
/// starts; returns false when glibc refused (or this is not glibc).
pub fn pin_mmap_threshold() -> bool {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallopt only sets an allocator parameter; M_MMAP_THRESHOLD with a value under
        // glibc's maximum (32 MiB on 64-bit) is a documented, valid request.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1 }
    }
    #[cfg(not(target_env = "gnu"))]
    {
        false
    }
}

/// Wait flags: `__WALL` reports threads and non-SIGCHLD children too, so one loop sees every tracee.
const WAIT_ALL: libc::c_int = libc::__WALL;

/// `waitpid(-1, &status, __WALL [| WNOHANG])`: the one wait call of runwarden (nothing else may wait,
/// or it would steal a stop or an exit status from the tracer loop).
/// Returns `Ok(None)` when `nohang` and nothing is ready; `Err(ECHILD)` when no child or tracee is left.
pub fn wait_any(nohang: bool) -> io::Result<Option<(libc::pid_t, libc::c_int)>> {
    let flags = if nohang { WAIT_ALL | libc::WNOHANG } else { WAIT_ALL };
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid, writable c_int for the duration of the call.
    let pid = cvt(unsafe { libc::waitpid(-1, &mut status, flags) })?;
    Ok((pid != 0).then_some((pid, status)))
}

/// Whether `path` carries file capabilities (a `security.capability` extended attribute), which an
/// exec would grant unless no_new_privs is set. Symlinks are not followed.
pub fn has_file_capabilities(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: both strings are NUL-terminated and live for the call; a null buffer with size 0 asks
    // only for the attribute's size, so nothing is written.
    let n = unsafe { libc::lgetxattr(c.as_ptr(), c"security.capability".as_ptr(), std::ptr::null_mut(), 0) };
    n > 0
}

#[cfg(all(test, target_env = "gnu"))]
mod tests {
    #[test]
    fn a_large_block_is_mapped_even_after_one_was_freed() {
        assert!(super::pin_mmap_threshold());
        const BIG: usize = 24 << 20;
        // Unpinned, the second block would come from an arena (the first one's free raised the
        // threshold) and could stay resident after its free.
        for round in 0..2 {
            let buf = std::hint::black_box(vec![1u8; BIG]);
            // SAFETY: mallinfo2 takes no arguments and only reads the allocator's statistics.
            let mapped = unsafe { libc::mallinfo2() }.hblkhd;
            assert!(mapped >= BIG, "round {round}: the {BIG}-byte block is not mapped ({mapped} bytes are)");
            drop(buf);
        }
    }
}
