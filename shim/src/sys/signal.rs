//! Signal masks, dispositions, waiting and sending, with raw signal numbers.
//!
//! PID 1 must block every asynchronous signal *before* it forks or starts a thread: a blocked signal is
//! never ignored, even by a namespace init without handlers (kernel/signal.c `sig_ignored`;
//! pid_namespaces(7)), so it stays pending until the forwarding thread takes it with `sigwaitinfo`. The
//! synchronous signals stay unblocked (a fault must still kill us), and SIGTTIN/SIGTTOU are ignored
//! instead of blocked, as tini does, so a background runwarden never stops on terminal access.

use std::io;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicI32, Ordering};

use libc::{c_int, pid_t, sigset_t};

use super::cvt;

/// Signals the kernel raises synchronously on a faulting thread; blocking them would hang or kill us
/// in worse ways, so they keep their default action (tini and catatonit leave the same set alone).
pub const SYNCHRONOUS: [c_int; 7] =
    [libc::SIGFPE, libc::SIGILL, libc::SIGSEGV, libc::SIGBUS, libc::SIGABRT, libc::SIGTRAP, libc::SIGSYS];

/// Terminal job-control signals that runwarden ignores for itself (tini does the same).
pub const IGNORED_FOR_SELF: [c_int; 2] = [libc::SIGTTIN, libc::SIGTTOU];

/// Highest signal number (`SIGRTMAX` on Linux, glibc and musl alike).
pub const SIGNAL_MAX: c_int = 64;

/// A signal set, copyable so it can be handed to a forked child.
#[derive(Clone, Copy)]
pub struct SigSet(sigset_t);

impl SigSet {
    pub fn empty() -> Self {
        let mut set = MaybeUninit::<sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the whole set it is given; `set` is a valid, writable sigset_t.
        unsafe { libc::sigemptyset(set.as_mut_ptr()) };
        // SAFETY: initialised by sigemptyset just above.
        SigSet(unsafe { set.assume_init() })
    }

    /// Every signal except the synchronous ones and those runwarden ignores for itself.
    pub fn asynchronous() -> Self {
        let mut set = MaybeUninit::<sigset_t>::uninit();
        // SAFETY: sigfillset initialises the whole set it is given.
        unsafe { libc::sigfillset(set.as_mut_ptr()) };
        // SAFETY: initialised by sigfillset just above.
        let mut set = SigSet(unsafe { set.assume_init() });
        for sig in SYNCHRONOUS.iter().chain(IGNORED_FOR_SELF.iter()) {
            set.remove(*sig);
        }
        set
    }

    pub fn remove(&mut self, sig: c_int) {
        // SAFETY: `self.0` is an initialised sigset_t; an out-of-range `sig` only yields EINVAL.
        unsafe { libc::sigdelset(&mut self.0, sig) };
    }

    pub fn contains(&self, sig: c_int) -> bool {
        // SAFETY: `self.0` is an initialised sigset_t and is only read.
        unsafe { libc::sigismember(&self.0, sig) == 1 }
    }

    pub fn as_raw(&self) -> &sigset_t {
        &self.0
    }
}

/// Blocks `set` in the calling thread (threads spawned later inherit it) and returns the previous mask.
pub fn block(set: &SigSet) -> io::Result<SigSet> {
    let mut old = SigSet::empty();
    // SAFETY: both pointers refer to initialised sigset_t values that live across the call.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set.as_raw(), &mut old.0) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(old)
}

/// A saved signal disposition, to be put back in the workload before exec.
#[derive(Clone, Copy)]
pub struct Disposition {
    pub sig: c_int,
    action: libc::sigaction,
}

impl Disposition {
    pub fn raw(&self) -> &libc::sigaction {
        &self.action
    }
}

/// Sets `sig` to SIG_IGN and returns what it was.
pub fn ignore(sig: c_int) -> io::Result<Disposition> {
    let mut new = MaybeUninit::<libc::sigaction>::zeroed();
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a zeroed sigaction is a valid value (empty mask, no flags); we set its handler to SIG_IGN.
    // Both pointers are valid for the duration of the call.
    unsafe {
        (*new.as_mut_ptr()).sa_sigaction = libc::SIG_IGN;
        cvt(libc::sigaction(sig, new.as_ptr(), old.as_mut_ptr()))?;
    }
    // SAFETY: sigaction succeeded, so it filled `old` with the previous disposition.
    let action = unsafe { old.assume_init() };
    Ok(Disposition { sig, action })
}

/// Where forwarded signals go: the main process's pid, its negated process group id, or 0 before the
/// workload starts and after it is reaped (its pid may be reused then). A static so the fault-signal
/// handler below can read it; an atomic load is async-signal-safe.
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

/// Sets where forwarded signals go (`pid`, or `-pid` for its process group).
pub fn set_forward_target(dest: i32) {
    FORWARD_TO.store(dest, Ordering::Release);
}

pub fn forward_target() -> Option<i32> {
    Some(FORWARD_TO.load(Ordering::Acquire)).filter(|d| *d != 0)
}

/// Handler for the synchronous signals. They stay unblocked so a real fault still kills runwarden, but
/// another process may also *send* one with kill(2) (dumb-init forwards those): then it is forwarded
/// like any other signal. A real fault, or one runwarden raised itself (abort), gets the default
/// action back and is raised again, so runwarden dies exactly as it would have.
extern "C" fn on_synchronous_signal(sig: c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for an SA_SIGINFO handler; getpid, kill, signal and
    // raise are async-signal-safe, and FORWARD_TO is an atomic.
    unsafe {
        let code = (*info).si_code;
        let sent = matches!(code, libc::SI_USER | libc::SI_QUEUE | libc::SI_TKILL);
        if sent && (*info).si_pid() != libc::getpid() {
            let dest = FORWARD_TO.load(Ordering::Acquire);
            if dest != 0 {
                libc::kill(dest, sig);
            }
            return;
        }
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Installs [`on_synchronous_signal`] for every signal in [`SYNCHRONOUS`]; returns the dispositions
/// it replaced, for the workload to get back.
pub fn forward_sent_faults() -> io::Result<Vec<Disposition>> {
    let mut saved = Vec::new();
    for sig in SYNCHRONOUS {
        let mut new = MaybeUninit::<libc::sigaction>::zeroed();
        let mut old = MaybeUninit::<libc::sigaction>::zeroed();
        let handler: extern "C" fn(c_int, *mut libc::siginfo_t, *mut libc::c_void) = on_synchronous_signal;
        // SAFETY: a zeroed sigaction is valid; we set an SA_SIGINFO handler with the matching signature
        // and an empty mask. Both pointers are valid for the call.
        unsafe {
            (*new.as_mut_ptr()).sa_sigaction = handler as libc::sighandler_t;
            (*new.as_mut_ptr()).sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            cvt(libc::sigaction(sig, new.as_ptr(), old.as_mut_ptr()))?;
        }
        // SAFETY: sigaction succeeded and filled `old`.
        let action = unsafe { old.assume_init() };
        saved.push(Disposition { sig, action });
    }
    Ok(saved)
}

/// What `sigwaitinfo` reports: the signal and who sent it.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub signo: c_int,
    pub sender_pid: pid_t,
    pub code: c_int,
}

/// Waits for one of the signals in `set` (which must be blocked in the calling thread).
pub fn wait(set: &SigSet) -> io::Result<Received> {
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    // SAFETY: `set` is initialised and `info` points to writable storage for one siginfo_t.
    let signo = cvt(unsafe { libc::sigwaitinfo(set.as_raw(), info.as_mut_ptr()) })?;
    // SAFETY: sigwaitinfo succeeded and filled `info`; si_pid is valid for the signals users send
    // (SI_USER, SI_QUEUE) and reads as 0 for kernel-generated ones, which is what we report.
    let info = unsafe { info.assume_init() };
    // SAFETY: reading the si_pid union member of an initialised siginfo_t is defined for every code.
    let sender_pid = unsafe { info.si_pid() };
    Ok(Received { signo, sender_pid, code: info.si_code })
}

/// `kill(2)` with a raw signal number; `pid < 0` addresses a process group.
pub fn send(pid: pid_t, sig: c_int) -> io::Result<()> {
    // SAFETY: kill has no memory arguments; the kernel validates pid and sig.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// The conventional name of a signal, for log lines ("SIGTERM", "SIGRTMIN+3").
pub fn name(sig: c_int) -> String {
    let fixed = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTKFLT => "SIGSTKFLT",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_string();
    }
    let rtmin = libc::SIGRTMIN();
    if sig >= rtmin && sig <= SIGNAL_MAX {
        return format!("SIGRTMIN+{}", sig - rtmin);
    }
    format!("signal {sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asynchronous_set_leaves_faults_and_tty_signals_out() {
        let set = SigSet::asynchronous();
        for sig in SYNCHRONOUS.iter().chain(IGNORED_FOR_SELF.iter()) {
            assert!(!set.contains(*sig), "{} must not be blocked", name(*sig));
        }
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1, libc::SIGCHLD, libc::SIGTSTP] {
            assert!(set.contains(sig), "{} must be blocked", name(sig));
        }
        assert!(set.contains(libc::SIGRTMIN() + 2));
    }

    #[test]
    fn names() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGRTMIN() + 3), "SIGRTMIN+3");
    }
}
