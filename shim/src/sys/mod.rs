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
