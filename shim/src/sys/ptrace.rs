//! Thin ptrace wrappers that take raw signal numbers.
//!
//! nix's `ptrace::cont` takes a `Signal`, which cannot hold realtime signals (34..=64); a tracer that
//! re-injects signals must pass any number through, so restarts go through libc here. `PTRACE_LISTEN`
//! has no nix wrapper at all. Every call may fail with `ESRCH` when the tracee was killed meanwhile
//! (ptrace(2), "Death under ptrace"): callers treat that as an expected outcome.

use std::io;

use libc::{c_long, c_void, pid_t};

use super::cvt;

/// The options every tracee gets. TRACEEXEC also disables the legacy post-exec SIGTRAP.
pub const TRACE_OPTIONS: c_long = (libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_EXITKILL) as c_long;

fn request(req: libc::c_uint, pid: pid_t, addr: *mut c_void, data: *mut c_void) -> io::Result<c_long> {
    // SAFETY: every request issued through this helper (SEIZE, CONT, LISTEN, INTERRUPT, GETEVENTMSG)
    // either ignores `addr` and `data` or, for GETEVENTMSG, writes one `c_ulong` through `data`, which
    // the only caller points at a live local variable. The kernel validates `pid` and returns ESRCH for
    // a task that is not our stopped tracee.
    let ret = unsafe { libc::ptrace(req, pid, addr, data) };
    cvt(ret)
}

/// `PTRACE_SEIZE` with [`TRACE_OPTIONS`]: attach without stopping the task (no attach SIGSTOP race).
pub fn seize(pid: pid_t) -> io::Result<()> {
    request(libc::PTRACE_SEIZE, pid, std::ptr::null_mut(), TRACE_OPTIONS as *mut c_void).map(drop)
}

/// Restarts a stopped tracee, injecting `sig` (0 for none). Only signal-delivery-stops honour `sig`.
pub fn cont(pid: pid_t, sig: i32) -> io::Result<()> {
    request(libc::PTRACE_CONT, pid, std::ptr::null_mut(), sig as c_long as *mut c_void).map(drop)
}

/// Leaves a group-stopped tracee stopped, but lets it report the next SIGCONT (Linux >= 3.4).
pub fn listen(pid: pid_t) -> io::Result<()> {
    request(libc::PTRACE_LISTEN, pid, std::ptr::null_mut(), std::ptr::null_mut()).map(drop)
}

/// The event message of the current ptrace-event stop: the new task's id at FORK/VFORK/CLONE stops,
/// the former thread id at an EXEC stop.
pub fn event_msg(pid: pid_t) -> io::Result<u64> {
    let mut msg: libc::c_ulong = 0;
    request(libc::PTRACE_GETEVENTMSG, pid, std::ptr::null_mut(), (&mut msg as *mut libc::c_ulong).cast())?;
    Ok(msg as u64)
}
