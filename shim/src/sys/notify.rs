//! Seccomp user notification (seccomp_unotify(2)): the raw calls of the seccomp exec sensor.
//!
//! The child installs a filter with `SECCOMP_FILTER_FLAG_NEW_LISTENER` between fork and exec
//! ([`install_listener`]), hands the listener to runwarden over a socket pair created before the
//! fork ([`send_fd`], [`recv_fd`]) and closes its own copy, so the workload never holds it. From then
//! on every listed call of the workload (execve, execveat, and the opt-in syscall mode's list) waits
//! in the kernel until runwarden answers it through the [`Listener`]: `CONTINUE` (the kernel runs
//! the call as if nothing had happened) or an errno (the call fails, nothing runs).
//!
//! What the kernel guarantees and what it does not (seccomp_unotify(2), "NOTES" and "BUGS"):
//! - The caller's memory may change between our read and the kernel's own copy (another thread):
//!   what we read is evidence, not proof; the scanner re-checks what actually runs.
//! - A notification's id stops being valid when the caller is interrupted or killed:
//!   [`Listener::id_valid`] after reading its memory, as the man page asks, and `ENOENT` from
//!   [`Listener::respond`] mean "the call never happened as read" (an `SA_RESTART` handler then
//!   brings a new notification for the same call).
//! - If the listener is closed while filtered tasks live, each listed call fails with `ENOSYS`:
//!   runwarden keeps it open until the workload is gone.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use libc::c_int;

use super::cvt;

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (linux/seccomp.h, Linux 6.6): the listener wakes the
/// notified task on the CPU that answered, instead of through the scheduler's usual wake-up path.
pub const FD_SYNC_WAKE_UP: u64 = 1;

/// A notification as the kernel hands it over.
pub type Notif = libc::seccomp_notif;

/// The supervisor's end of a seccomp filter: receives the workload's listed calls and answers them.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

/// What [`Listener::wait`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Ready {
    /// A notification can be received.
    Notification,
    /// Every filtered task is gone (POLLHUP): nothing will ever come again.
    Gone,
    /// Nothing before the timeout.
    Idle,
}

impl Listener {
    /// Takes ownership of a listener descriptor received from the child.
    pub fn from_fd(fd: OwnedFd) -> Listener {
        Listener { fd }
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    /// Waits up to `timeout_ms` (-1: forever) for a notification.
    pub fn wait(&self, timeout_ms: c_int) -> io::Result<Ready> {
        let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for a descriptor we own, for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        match n {
            -1 => Err(io::Error::last_os_error()),
            0 => Ok(Ready::Idle),
            _ if pfd.revents & libc::POLLIN != 0 => Ok(Ready::Notification),
            _ if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 => Ok(Ready::Gone),
            _ => Ok(Ready::Idle),
        }
    }

    /// Receives one notification. `Ok(None)`: it went away before we took it (the caller was killed
    /// between the poll and this call: `ENOENT`), or a signal interrupted the call.
    pub fn recv(&self) -> io::Result<Option<Notif>> {
        // SAFETY: seccomp_notif is plain old data; all-zero is a valid value, and the kernel requires
        // the buffer to be zeroed (seccomp_unotify(2), SECCOMP_IOCTL_NOTIF_RECV).
        let mut n: Notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV writes one seccomp_notif into `n`, which is valid and writable.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
        if rc == 0 {
            return Ok(Some(n));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::EINTR) => Ok(None),
            _ => Err(e),
        }
    }

    /// Whether the notification `id` is still pending: the caller has not been interrupted or
    /// killed, so the memory we read belonged to the call the kernel is holding.
    pub fn id_valid(&self, id: u64) -> bool {
        // SAFETY: ID_VALID reads one u64 through the pointer, which is valid for the call.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &id) };
        rc == 0
    }

    /// Answers a notification: `None` lets the call run (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`),
    /// `Some(errno)` fails it with that error. `Ok(false)`: the notification was no longer pending
    /// (the caller was interrupted or killed; `ENOENT`), so the call did not happen as notified.
    pub fn respond(&self, id: u64, error: Option<i32>) -> io::Result<bool> {
        let resp = libc::seccomp_notif_resp {
            id,
            val: 0,
            error: error.map(|e| -e).unwrap_or(0),
            flags: if error.is_some() { 0 } else { libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32 },
        };
        loop {
            // SAFETY: SEND reads one seccomp_notif_resp through the pointer, valid for the call.
            let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
            if rc == 0 {
                return Ok(true);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ENOENT) => return Ok(false),
                _ => return Err(e),
            }
        }
    }

    /// Asks the kernel to wake notified tasks synchronously (Linux 6.6+); `Err` on older kernels.
    pub fn set_sync_wake_up(&self) -> io::Result<()> {
        let flags: u64 = FD_SYNC_WAKE_UP;
        // SAFETY: SET_FLAGS takes the flags by value in the argument; no memory is passed.
        cvt(unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) }).map(drop)
    }
}

/// Installs `prog` on the calling thread with a new listener and returns the listener's descriptor,
/// or the errno. Async-signal-safe (`prctl`, `syscall`, errno): it runs in the child between fork and
/// exec. With `no_new_privs`, PR_SET_NO_NEW_PRIVS is set first; without it, an `EACCES` (runwarden's
/// CAP_SYS_ADMIN does not count here) is an error for the caller to report, never silently worked
/// around, because no_new_privs changes what the workload can do.
pub fn install_listener(prog: &[libc::sock_filter], no_new_privs: bool) -> Result<RawFd, c_int> {
    if no_new_privs {
        // SAFETY: PR_SET_NO_NEW_PRIVS takes integers only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(errno());
        }
    }
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut _ };
    // SAFETY: seccomp(SET_MODE_FILTER) reads the sock_fprog at `&fprog`, whose `filter` points at
    // `prog.len()` instructions that outlive the call; the kernel copies the program.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            // SPEC_ALLOW: the filter must not switch on speculation mitigations (SSBD) for the
            // workload where the kernel's default would (spec_store_bypass_disable=seccomp): it would
            // slow every memory access of a workload that did not ask for it.
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        Err(errno())
    } else {
        Ok(rc as RawFd)
    }
}

fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot, always valid to read.
    unsafe { *libc::__errno_location() }
}

/// Room for one descriptor in a control message (CMSG_SPACE(sizeof(int)) on x86_64 is 24 bytes).
const CMSG_ONE_FD_BYTES: usize = 24;

/// Control-message buffer with the alignment `cmsghdr` needs.
#[repr(C, align(8))]
struct CmsgBuf([u8; CMSG_ONE_FD_BYTES]);

/// A message of one data byte (`iov`) and room for one descriptor (`cbuf`), both of which must
/// outlive its use. No allocation: the child calls this between fork and exec.
fn one_fd_message(iov: &mut libc::iovec, cbuf: &mut CmsgBuf) -> libc::msghdr {
    // SAFETY: msghdr is plain old data; all-zero is valid before the fields are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = CMSG_ONE_FD_BYTES;
    msg
}

/// Sends `fd` over the unix socket `sock` (SCM_RIGHTS). Async-signal-safe: no allocation, one
/// `sendmsg`; used by the child between fork and exec.
pub fn send_fd(sock: RawFd, fd: RawFd) -> Result<(), c_int> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let mut cbuf = CmsgBuf([0; CMSG_ONE_FD_BYTES]);
    let mut msg = one_fd_message(&mut iov, &mut cbuf);
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<c_int>() as u32) } as usize;
    // SAFETY: msg_control points at CMSG_ONE_FD_BYTES aligned bytes, enough for one header and one
    // int (CMSG_SPACE(4) == 24 on 64-bit Linux), so FIRSTHDR is non-null and DATA is in bounds.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<c_int>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<c_int>(), fd);
    }
    loop {
        // SAFETY: `msg` and everything it points at live on this stack frame for the call.
        let n = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// Receives one descriptor sent with [`send_fd`]; waits at most `timeout_ms`.
pub fn recv_fd(sock: BorrowedFd<'_>, timeout_ms: c_int) -> io::Result<OwnedFd> {
    let mut pfd = libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: one valid pollfd for a descriptor that outlives the call.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        match n {
            0 => return Err(io::Error::new(io::ErrorKind::TimedOut, "no listener from the workload")),
            n if n > 0 => break,
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            _ => return Err(io::Error::last_os_error()),
        }
    }
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let mut cbuf = CmsgBuf([0; CMSG_ONE_FD_BYTES]);
    let mut msg = one_fd_message(&mut iov, &mut cbuf);
    // SAFETY: `msg` points at buffers on this frame that live for the call; MSG_CMSG_CLOEXEC makes
    // the received descriptor close-on-exec in runwarden.
    let n = cvt(unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) })?;
    if n == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the workload closed the socket"));
    }
    // SAFETY: recvmsg filled `msg`; FIRSTHDR returns null or a header inside `cbuf`, and for an
    // SCM_RIGHTS header of CMSG_LEN(4) bytes the data holds one int.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
            || (*cmsg).cmsg_len < libc::CMSG_LEN(std::mem::size_of::<c_int>() as u32) as usize
        {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "no descriptor in the message"));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<c_int>());
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// A connected pair of unix stream sockets, close-on-exec (the listener's way from child to parent).
pub fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    cvt(unsafe {
        libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
    })?;
    // SAFETY: socketpair succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Whether this kernel (and whatever seccomp profile confines runwarden) hands out listeners: a
/// short-lived thread installs an allow-everything filter with a new listener and exits. Filters
/// and no_new_privs belong to that thread alone, so runwarden's other threads and the workload are
/// untouched. `Err` names what refused (gVisor: `EINVAL`; a profile without `seccomp`: `EPERM`).
pub fn probe_listener(no_new_privs: bool) -> io::Result<()> {
    let allow = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    }];
    let outcome = std::thread::Builder::new()
        .name("rw-probe".into())
        .spawn(move || match install_listener(&allow, no_new_privs) {
            Ok(fd) => {
                // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
                Ok(())
            }
            Err(e) => Err(io::Error::from_raw_os_error(e)),
        })?
        .join();
    outcome.unwrap_or_else(|_| Err(io::Error::other("the probe thread panicked")))
}
