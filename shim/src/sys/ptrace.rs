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

/// Added to [`TRACE_OPTIONS`] only in the opt-in syscall mode: without it a `SECCOMP_RET_TRACE` would
/// fail the call with ENOSYS instead of stopping (seccomp(2)).
pub const TRACE_SECCOMP: c_long = libc::PTRACE_O_TRACESECCOMP as c_long;

/// `PTRACE_SEIZE` with [`TRACE_OPTIONS`]: attach without stopping the task (no attach SIGSTOP race).
pub fn seize(pid: pid_t) -> io::Result<()> {
    seize_with(pid, 0)
}

/// `PTRACE_SEIZE` with [`TRACE_OPTIONS`] plus `extra` (e.g. [`TRACE_SECCOMP`]).
pub fn seize_with(pid: pid_t, extra: c_long) -> io::Result<()> {
    request(libc::PTRACE_SEIZE, pid, std::ptr::null_mut(), (TRACE_OPTIONS | extra) as *mut c_void).map(drop)
}

/// The registers of a stopped tracee (`PTRACE_GETREGS`, which gVisor implements; its
/// PTRACE_GET_SYSCALL_INFO does not exist). For an i386 tracee, or `int 0x80`, the kernel fills the
/// 64-bit layout too, with the i386 registers zero-extended.
#[cfg(target_arch = "x86_64")]
pub fn regs(pid: pid_t) -> io::Result<libc::user_regs_struct> {
    // SAFETY: user_regs_struct is plain integers, for which all-zero is a valid value.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    // SAFETY: PTRACE_GETREGS writes exactly one user_regs_struct through `data`, which points at the
    // live local above; `addr` is ignored.
    let ret = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGS,
            pid,
            std::ptr::null_mut::<c_void>(),
            &mut regs as *mut _ as *mut c_void,
        )
    };
    cvt(ret)?;
    Ok(regs)
}

/// Reads up to `len` bytes of a tracee's memory at `addr`: `process_vm_readv` (one syscall), or
/// `/proc/PID/mem` where that is missing (older gVisor: ENOSYS) or refused. Returns what could be read
/// (a string may end before a page that is not mapped).
pub fn read_memory(pid: pid_t, addr: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let local = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: len };
    let remote = libc::iovec { iov_base: addr as usize as *mut c_void, iov_len: len };
    // SAFETY: `local` describes `buf`, which is live and `len` bytes long; the kernel validates the
    // remote range against the tracee's mappings (EFAULT) and never writes to it.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n >= 0 {
        buf.truncate(n as usize);
        return Ok(buf);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EFAULT) {
        return Err(err);
    }
    use std::os::unix::fs::FileExt;
    let mem = std::fs::File::open(format!("/proc/{pid}/mem"))?;
    let n = mem.read_at(&mut buf, addr)?;
    buf.truncate(n);
    Ok(buf)
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
