//! Forking the workload so that it can be traced before its first instruction.
//!
//! Sequence (each step's ordering matters):
//! 1. The parent has already blocked asynchronous signals (see `sys::signal`), so a signal that arrives
//!    now stays pending instead of killing or being lost.
//! 2. `fork`. The child runs only async-signal-safe calls: runwarden has other threads, and their locks
//!    may be held at fork time.
//! 3. The child makes its own process group and, when stdin is a terminal, takes the foreground (tini
//!    does both in the child, where SIGTTOU is still ignored), then blocks reading the *go* pipe.
//! 4. The parent's tracer thread `PTRACE_SEIZE`s the child (no stop needed: SEIZE attaches a running
//!    task) and writes the go byte.
//! 5. In the opt-in syscall mode (the go byte says so, and only once the tracer has seized the child:
//!    a RET_TRACE filter without a tracer makes the listed calls fail with ENOSYS), the child installs
//!    the seccomp filter built before the fork and reports the outcome on the status pipe. A failure
//!    fails open (the workload runs without it) unless the filter is required.
//! 6. The child restores the original signal dispositions and mask, then `execvp`s. The exec is the
//!    first event the tracer sees. If exec fails, the child writes `errno` to the CLOEXEC error pipe and
//!    `_exit`s; a successful exec closes that pipe, so the parent reads EOF.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use libc::{c_int, pid_t};

use super::cvt;
use super::seccomp::BpfProgram;
use super::signal::{Disposition, SigSet};

/// Exit status the child uses when exec fails; the parent reports the real cause from the error pipe.
const EXEC_FAILED_STATUS: c_int = 127;
/// The go byte: exec as is, or install the seccomp filter first.
const GO_PLAIN: u8 = 1;
const GO_WITH_FILTER: u8 = 2;
/// Install the seccomp exec sensor's filter with a listener and hand the listener over first.
const GO_WITH_LISTENER: u8 = 3;

/// What the child needs, prepared before `fork` so the child allocates nothing.
pub struct SpawnRequest {
    pub argv: Vec<CString>,
    /// The mask runwarden was started with; the workload gets it back.
    pub original_mask: SigSet,
    /// Dispositions runwarden changed for itself; the workload gets the originals back.
    pub restore: Vec<Disposition>,
    /// The opt-in syscall mode's filter, installed only if [`HeldChild::release`] asks for it.
    pub seccomp: Option<BpfProgram>,
    /// The seccomp exec sensor's filter (`SECCOMP_RET_USER_NOTIF`), installed with a new listener
    /// only if [`HeldChild::release_with_listener`] asks for it.
    pub notify: Option<BpfProgram>,
    /// A filter that cannot be installed stops the child (`RUNWARDEN_TRACE=require`) instead of
    /// letting it run without.
    pub seccomp_required: bool,
}

/// A forked child held before exec, and the parent's ends of its pipes.
pub struct HeldChild {
    pub pid: pid_t,
    go: Option<OwnedFd>,
    exec_error: OwnedFd,
    /// The filter's outcome (see [`HeldChild::filter_status`]).
    filter_status: OwnedFd,
    /// Our end of the socket the child sends the listener over (with a notify filter only).
    listener_sock: Option<OwnedFd>,
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

/// Forks the child and leaves it waiting for [`HeldChild::release`].
pub fn fork_held(req: &SpawnRequest) -> io::Result<HeldChild> {
    if req.argv.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    }
    let (go_r, go_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (status_r, status_w) = pipe()?;
    let socks = match req.notify {
        Some(_) => Some(super::notify::socket_pair()?),
        None => None,
    };
    let child_sock = socks.as_ref().map_or(-1, |(_, c)| c.as_raw_fd());
    let mut argv: Vec<*const libc::c_char> = req.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());

    // SAFETY: fork is safe to call; what follows in the child is restricted to async-signal-safe
    // functions on memory prepared before the fork (argv pointers, the saved mask and dispositions).
    let pid = cvt(unsafe { libc::fork() })?;
    if pid == 0 {
        // SAFETY: we are the freshly forked child; `child_after_fork` only makes async-signal-safe
        // calls and never returns.
        unsafe {
            child_after_fork(
                go_r.as_raw_fd(),
                go_w.as_raw_fd(),
                err_r.as_raw_fd(),
                err_w.as_raw_fd(),
                (status_r.as_raw_fd(), status_w.as_raw_fd()),
                child_sock,
                &argv,
                req,
            )
        }
    }
    drop(go_r);
    drop(err_w);
    drop(status_w);
    let listener_sock = socks.map(|(ours, theirs)| {
        drop(theirs);
        ours
    });
    Ok(HeldChild { pid, go: Some(go_w), exec_error: err_r, filter_status: status_r, listener_sock })
}

/// The child's side, between fork and exec.
///
/// Takes raw descriptors one by one: the child may not allocate, so no struct is built for them.
/// # Safety
/// Must only be called in a child right after `fork`, with `argv` NUL-terminated and pointing into
/// memory that stays valid (it was allocated before the fork). Never returns.
#[allow(clippy::too_many_arguments)]
unsafe fn child_after_fork(
    go_r: c_int,
    go_w: c_int,
    err_r: c_int,
    err_w: c_int,
    (status_r, status_w): (c_int, c_int),
    listener_sock: c_int,
    argv: &[*const libc::c_char],
    req: &SpawnRequest,
) -> ! {
    // SAFETY: close, setpgid, tcsetpgrp, read, prctl (the seccomp filter, built before the fork),
    // sigaction, pthread_sigmask (sigprocmask in a single-threaded child), execvp, write and _exit are
    // async-signal-safe; every pointer passed refers to memory allocated before the fork and still
    // mapped in the child.
    unsafe {
        libc::close(go_w);
        libc::close(err_r);
        libc::close(status_r);
        // Own process group, and the terminal's foreground when stdin is one (ENOTTY/ENXIO: no tty, fine).
        libc::setpgid(0, 0);
        if libc::isatty(libc::STDIN_FILENO) == 1 {
            libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpgrp());
        }
        // Wait until the tracer has seized us (or decided not to). EOF means the parent went away: we
        // run untraced rather than not at all (fail open).
        let mut byte = 0u8;
        loop {
            let n = libc::read(go_r, (&mut byte as *mut u8).cast(), 1);
            if n >= 0 || *libc::__errno_location() != libc::EINTR {
                break;
            }
        }
        libc::close(go_r);
        if let (GO_WITH_LISTENER, Some(filter)) = (byte, req.notify.as_ref()) {
            // The listener goes to runwarden and the child's copy is closed before anything else
            // runs: the workload must never hold (and so answer) its own notifications.
            let status: i32 = match super::notify::install_listener(filter.program(), filter.no_new_privs) {
                Ok(fd) => {
                    let sent = super::notify::send_fd(listener_sock, fd);
                    libc::close(fd);
                    match sent {
                        Ok(()) => i32::from(filter.no_new_privs),
                        Err(errno) => -errno,
                    }
                }
                Err(errno) => -errno,
            };
            let bytes = status.to_ne_bytes();
            libc::write(status_w, bytes.as_ptr().cast(), bytes.len());
            if status < 0 && req.seccomp_required {
                libc::_exit(EXEC_FAILED_STATUS);
            }
        }
        if listener_sock >= 0 {
            libc::close(listener_sock);
        }
        if let (GO_WITH_FILTER, Some(filter)) = (byte, req.seccomp.as_ref()) {
            // Before the mask is restored: no signal can stop us between the install and its report.
            let status: i32 = match filter.install() {
                Ok(nnp) => i32::from(nnp),
                Err(errno) => -errno,
            };
            let bytes = status.to_ne_bytes();
            libc::write(status_w, bytes.as_ptr().cast(), bytes.len());
            if status < 0 && req.seccomp_required {
                libc::_exit(EXEC_FAILED_STATUS);
            }
        }
        libc::close(status_w);
        for d in &req.restore {
            libc::sigaction(d.sig, d.raw(), std::ptr::null_mut());
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, req.original_mask.as_raw(), std::ptr::null_mut());
        libc::execvp(argv[0], argv.as_ptr());
        let errno: c_int = *libc::__errno_location();
        let bytes = errno.to_ne_bytes();
        libc::write(err_w, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(EXEC_FAILED_STATUS)
    }
}

impl HeldChild {
    /// Lets the child go on to exec, installing the seccomp filter first when `with_filter` (only when
    /// it is traced with PTRACE_O_TRACESECCOMP). Idempotent.
    pub fn release(&mut self, with_filter: bool) -> io::Result<()> {
        if let Some(go) = self.go.take() {
            let byte = [if with_filter { GO_WITH_FILTER } else { GO_PLAIN }];
            io::Write::write_all(&mut std::fs::File::from(go), &byte)?;
        }
        Ok(())
    }

    /// Lets the child go on to exec after installing the seccomp exec sensor's filter, and returns
    /// the listener it hands over (within `timeout`), or why there is none. Without a listener the
    /// child runs unfiltered, unless `seccomp_required` made it exit.
    pub fn release_with_listener(
        &mut self,
        timeout: std::time::Duration,
    ) -> io::Result<(super::notify::Listener, bool)> {
        let Some(go) = self.go.take() else {
            return Err(io::Error::other("the child was already released"));
        };
        nix::unistd::write(&go, &[GO_WITH_LISTENER])?;
        drop(go);
        let nnp = match self.filter_status(timeout) {
            Some(Ok(nnp)) => nnp,
            Some(Err(e)) => return Err(e),
            None => {
                return Err(io::Error::other("the workload did not report whether the filter is in place"))
            }
        };
        let sock = self.listener_sock.take().ok_or_else(|| io::Error::other("no listener socket"))?;
        let ms = timeout.as_millis().min(c_int::MAX as u128) as c_int;
        let fd = super::notify::recv_fd(std::os::fd::AsFd::as_fd(&sock), ms)?;
        Ok((super::notify::Listener::from_fd(fd), nnp))
    }

    /// The seccomp filter's outcome after `release(true)`: whether no_new_privs was set, or why the
    /// install failed; `None` when the child went away without saying, or did not say within
    /// `timeout`. The child reports before it can enter any ptrace stop (its signals are blocked and
    /// it has not exec'd yet), so this is called before the tracer loop runs; the timeout only guards
    /// against the one signal that cannot be blocked (a SIGSTOP from outside would hold the child in a
    /// stop that only the loop handles).
    pub fn filter_status(&self, timeout: std::time::Duration) -> Option<io::Result<bool>> {
        use nix::poll::{PollFd, PollFlags, PollTimeout};
        let wait = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        loop {
            let mut fds = [PollFd::new(self.filter_status.as_fd(), PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, wait) {
                Ok(0) => return None,
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return None,
            }
        }
        // The child writes its 4 bytes with one write (atomic on a pipe), so they are all there now.
        let mut buf = [0u8; 4];
        let got = read_full(&self.filter_status, &mut buf);
        (got == buf.len()).then(|| match i32::from_ne_bytes(buf) {
            s if s < 0 => Err(io::Error::from_raw_os_error(-s)),
            s => Ok(s & 1 == 1),
        })
    }

    /// The exec error, if exec failed. Blocks until the child has either exec'd or written its error:
    /// call it only once the child has exited or exec'd, or while it is not traced (an untraced child
    /// cannot be held in a ptrace stop).
    pub fn exec_error(&self) -> Option<io::Error> {
        let mut buf = [0u8; 4];
        let got = read_full(&self.exec_error, &mut buf);
        (got == buf.len()).then(|| io::Error::from_raw_os_error(i32::from_ne_bytes(buf)))
    }
}

/// Reads from a pipe until `buf` is full or the writer is gone; returns how many bytes came. Parent
/// side: safe calls only.
fn read_full(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    got
}
