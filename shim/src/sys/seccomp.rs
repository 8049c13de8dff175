//! The opt-in exact syscall mode (`RUNWARDEN_SYSCALLS`): a seccomp filter that returns
//! `SECCOMP_RET_TRACE` for the listed syscalls, so the tracer gets a `PTRACE_EVENT_SECCOMP` stop for
//! each call and nothing else changes for the workload.
//!
//! Written by hand rather than with `seccompiler`: the program is a dozen compare-and-return pairs, it
//! must also match the i386 and x32 tables of one x86_64 kernel (seccompiler builds a filter for one
//! arch and kills on a foreign one), and it must carry a tag in `SECCOMP_RET_DATA` (the tracer reads it
//! with PTRACE_GETEVENTMSG, which gVisor implements, instead of PTRACE_GET_SYSCALL_INFO, which it does
//! not).
//!
//! The filter (seccomp(2), "Caveats": check `arch` before reading `nr`):
//! - `arch == AUDIT_ARCH_X86_64`: the x86_64 numbers, and the x32 numbers (`nr | __X32_SYSCALL_BIT`, on
//!   the same arch value) of the same syscalls;
//! - `arch == AUDIT_ARCH_I386` (32-bit programs, and `int 0x80` from 64-bit ones): the i386 numbers,
//!   plus `socketcall(SYS_CONNECT, ...)` when `connect` is listed (older i386 libcs connect that way);
//! - any other arch, and every other syscall: `SECCOMP_RET_ALLOW`. Never ENOSYS nor a kill: a syscall
//!   the filter does not understand is not ours to judge.
//!
//! The tag in `SECCOMP_RET_DATA` is `abi << 8 | via_socketcall << 7 | index in SYSCALLS`.
//!
//! Installing needs `no_new_privs` unless the caller has CAP_SYS_ADMIN (seccomp(2)). no_new_privs makes
//! execve never grant privileges: setuid/setgid binaries and file capabilities (sudo, su, ping in some
//! images) stop working, which is why the mode is opt-in. With CAP_SYS_ADMIN runwarden installs the
//! filter without it. `install` runs in the forked child between fork and exec, so it only calls
//! `prctl` on a program built before the fork.

use libc::{c_int, sock_filter};
use serde::Serialize;

/// x86_64's `AUDIT_ARCH_X86_64` (EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE).
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// i386's `AUDIT_ARCH_I386` (EM_386 | __AUDIT_ARCH_LE).
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// x32 syscalls run on AUDIT_ARCH_X86_64 with this bit set in `nr` (asm/unistd_x32.h).
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// i386 `socketcall(2)` and its `SYS_CONNECT` call number (linux/net.h).
pub const I386_SOCKETCALL: u32 = 102;
pub const SYS_CONNECT: u32 = 3;

/// Offsets in `struct seccomp_data` (linux/seccomp.h): nr, arch, instruction pointer, args[6].
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
/// The low 32 bits of args[0] (little endian).
const DATA_ARG0_LO: u32 = 16;

/// A syscall the mode can trace, with its number in each x86 ABI (asm/unistd_{64,32,x32}.h).
#[derive(Debug, Clone, Copy)]
pub struct SyscallDef {
    pub name: &'static str,
    pub x86_64: u32,
    pub i386: Option<u32>,
    /// Without `X32_SYSCALL_BIT`.
    pub x32: u32,
}

const fn def(name: &'static str, x86_64: u32, i386: Option<u32>, x32: u32) -> SyscallDef {
    SyscallDef { name, x86_64, i386, x32 }
}

/// The supported table: what the rules use (connect, ptrace, module loading) and what attacks on a
/// container's isolation go through (injection, namespaces, mounts, BPF, kexec, fileless code).
pub const SYSCALLS: &[SyscallDef] = &[
    def("connect", 42, Some(362), 42),
    def("ptrace", 101, Some(26), 521),
    def("init_module", 175, Some(128), 175),
    def("finit_module", 313, Some(350), 313),
    def("delete_module", 176, Some(129), 176),
    def("memfd_create", 319, Some(356), 319),
    def("process_vm_readv", 310, Some(347), 539),
    def("process_vm_writev", 311, Some(348), 540),
    def("bpf", 321, Some(357), 321),
    def("mount", 165, Some(21), 165),
    def("umount2", 166, Some(52), 166),
    def("pivot_root", 155, Some(217), 155),
    def("chroot", 161, Some(61), 161),
    def("unshare", 272, Some(310), 272),
    def("setns", 308, Some(346), 308),
    def("kexec_load", 246, Some(283), 528),
    def("kexec_file_load", 320, None, 320),
    def("personality", 135, Some(136), 135),
    def("userfaultfd", 323, Some(374), 323),
    def("perf_event_open", 298, Some(336), 298),
    def("open_by_handle_at", 304, Some(342), 304),
    def("keyctl", 250, Some(288), 250),
];

/// What `RUNWARDEN_SYSCALLS=default` means: the syscalls the default rules and the network
/// detections use.
pub const DEFAULT_SET: &[&str] = &["connect", "ptrace", "init_module", "finit_module", "process_vm_writev"];

/// The index of `name` in [`SYSCALLS`].
pub fn lookup(name: &str) -> Option<usize> {
    SYSCALLS.iter().position(|d| d.name == name)
}

/// `RUNWARDEN_SYSCALLS`: `off` or empty (none), `default` ([`DEFAULT_SET`]), or names of [`SYSCALLS`],
/// comma-separated, each kept once. `None` when a name is not in the table.
pub fn parse_list(v: &str) -> Option<Vec<&'static str>> {
    let mut out: Vec<&'static str> = Vec::new();
    let v = v.trim();
    if v.is_empty() || v == "off" {
        return Some(out);
    }
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let names: Vec<&'static str> =
            if item == "default" { DEFAULT_SET.to_vec() } else { vec![SYSCALLS[lookup(item)?].name] };
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    Some(out)
}

/// Which syscall table a call came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Abi {
    X86_64,
    I386,
    X32,
}

impl Abi {
    pub fn as_str(self) -> &'static str {
        match self {
            Abi::X86_64 => "x86_64",
            Abi::I386 => "i386",
            Abi::X32 => "x32",
        }
    }

    fn code(self) -> u32 {
        match self {
            Abi::X86_64 => 0,
            Abi::I386 => 1,
            Abi::X32 => 2,
        }
    }
}

const VIA_SOCKETCALL: u32 = 1 << 7;

/// The `SECCOMP_RET_DATA` value for a traced call.
pub fn tag(abi: Abi, index: usize, via_socketcall: bool) -> u32 {
    (abi.code() << 8) | if via_socketcall { VIA_SOCKETCALL } else { 0 } | index as u32
}

/// A traced call, as the tracer learns it from the event message of the seccomp stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    pub abi: Abi,
    pub def: &'static SyscallDef,
    /// i386 `socketcall(SYS_CONNECT, args)`: the real arguments are in tracee memory.
    pub via_socketcall: bool,
}

impl PartialEq for SyscallDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for SyscallDef {}

/// Decodes a `PTRACE_GETEVENTMSG` value of a seccomp stop; `None` for a value our filter never
/// returns (another tracer's filter cannot reach us: the event goes to the task's one tracer, us, but
/// a workload's own filter may also return RET_TRACE with its own data).
pub fn untag(data: u64) -> Option<Tag> {
    let data = u32::try_from(data).ok()?;
    let abi = match data >> 8 {
        0 => Abi::X86_64,
        1 => Abi::I386,
        2 => Abi::X32,
        _ => return None,
    };
    let def = SYSCALLS.get((data & 0x7f) as usize)?;
    Some(Tag { abi, def, via_socketcall: data & VIA_SOCKETCALL != 0 })
}

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter { code: code as u16, jt: 0, jf: 0, k }
}

fn jeq(k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16, jt, jf, k }
}

fn load(offset: u32) -> sock_filter {
    stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset)
}

fn ret(k: u32) -> sock_filter {
    stmt(libc::BPF_RET | libc::BPF_K, k)
}

/// One arch's block: load nr, compare and return, end with ALLOW (so no block falls through).
/// Each entry is (nr, the full return value).
fn block(entries: &[(u32, u32)], socketcall_connect: Option<u32>) -> Vec<sock_filter> {
    let mut b = vec![load(DATA_NR)];
    for (nr, action) in entries {
        b.push(jeq(*nr, 0, 1));
        b.push(ret(*action));
    }
    if let Some(action) = socketcall_connect {
        b.push(jeq(I386_SOCKETCALL, 0, 3));
        b.push(load(DATA_ARG0_LO));
        b.push(jeq(SYS_CONNECT, 0, 1));
        b.push(ret(action));
    }
    b.push(ret(libc::SECCOMP_RET_ALLOW));
    b
}

/// `execve` and `execveat` in each ABI (asm/unistd_{64,32,x32}.h): what the seccomp exec sensor
/// stops at.
pub const EXEC_CALLS: [SyscallDef; 2] =
    [def("execve", 59, Some(11), 520), def("execveat", 322, Some(358), 545)];

/// What a user notification is about, from the `seccomp_data` the kernel passes with it (a
/// notification carries no `SECCOMP_RET_DATA`, so the call is recognised by arch and number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notified {
    /// execve (`at: false`) or execveat (`at: true`).
    Exec { abi: Abi, at: bool },
    /// A call of the opt-in syscall mode.
    Listed(Tag),
}

/// Recognises a notified call; `None` for a call our filter never notifies.
pub fn notified(arch: u32, nr: i32, arg0: u64) -> Option<Notified> {
    let nr = u32::try_from(nr).ok()?;
    let (abi, nr) = match arch {
        AUDIT_ARCH_X86_64 if nr & X32_SYSCALL_BIT != 0 => (Abi::X32, nr & !X32_SYSCALL_BIT),
        AUDIT_ARCH_X86_64 => (Abi::X86_64, nr),
        AUDIT_ARCH_I386 => (Abi::I386, nr),
        _ => return None,
    };
    let number = |d: &SyscallDef| match abi {
        Abi::X86_64 => Some(d.x86_64),
        Abi::X32 => Some(d.x32),
        Abi::I386 => d.i386,
    };
    if let Some(i) = EXEC_CALLS.iter().position(|d| number(d) == Some(nr)) {
        return Some(Notified::Exec { abi, at: i == 1 });
    }
    if abi == Abi::I386 && nr == I386_SOCKETCALL && arg0 & 0xffff_ffff == u64::from(SYS_CONNECT) {
        let def = &SYSCALLS[lookup("connect")?];
        return Some(Notified::Listed(Tag { abi, def, via_socketcall: true }));
    }
    let def = SYSCALLS.iter().find(|d| number(d) == Some(nr))?;
    Some(Notified::Listed(Tag { abi, def, via_socketcall: false }))
}

/// A filter program, built before the fork (the child must not allocate).
#[derive(Debug, Clone)]
pub struct BpfProgram {
    program: Vec<sock_filter>,
    /// Set PR_SET_NO_NEW_PRIVS first (runwarden lacks CAP_SYS_ADMIN).
    pub no_new_privs: bool,
}

/// The error of [`BpfProgram::build`]: a program longer than a jump can cross.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the seccomp program for {0} syscalls is too long")]
pub struct TooLong(usize);

impl BpfProgram {
    /// The filter for the syscalls at `indices` of [`SYSCALLS`].
    pub fn build(indices: &[usize], no_new_privs: bool) -> Result<BpfProgram, TooLong> {
        let defs: Vec<(usize, &SyscallDef)> =
            indices.iter().filter_map(|i| Some((*i, SYSCALLS.get(*i)?))).collect();
        let mut b64: Vec<(u32, u32)> = Vec::new();
        let mut b32: Vec<(u32, u32)> = Vec::new();
        let trace = |data: u32| libc::SECCOMP_RET_TRACE | data;
        for (i, d) in &defs {
            b64.push((d.x86_64, trace(tag(Abi::X86_64, *i, false))));
            b64.push((d.x32 | X32_SYSCALL_BIT, trace(tag(Abi::X32, *i, false))));
            if let Some(nr) = d.i386 {
                b32.push((nr, trace(tag(Abi::I386, *i, false))));
            }
        }
        let connect =
            defs.iter().find(|(_, d)| d.name == "connect").map(|(i, _)| trace(tag(Abi::I386, *i, true)));
        BpfProgram::assemble(indices.len(), &b64, &b32, connect, no_new_privs)
    }

    /// The seccomp exec sensor's filter: execve and execveat, plus the syscalls at `indices` of
    /// [`SYSCALLS`] (the syscall mode through the same listener), all answered with
    /// `SECCOMP_RET_USER_NOTIF`; everything else, and every foreign arch, is allowed.
    pub fn build_notify(indices: &[usize], no_new_privs: bool) -> Result<BpfProgram, TooLong> {
        let notify = libc::SECCOMP_RET_USER_NOTIF;
        let defs: Vec<&SyscallDef> =
            EXEC_CALLS.iter().chain(indices.iter().filter_map(|i| SYSCALLS.get(*i))).collect();
        let mut b64: Vec<(u32, u32)> = Vec::new();
        let mut b32: Vec<(u32, u32)> = Vec::new();
        for d in &defs {
            b64.push((d.x86_64, notify));
            b64.push((d.x32 | X32_SYSCALL_BIT, notify));
            if let Some(nr) = d.i386 {
                b32.push((nr, notify));
            }
        }
        let connect = defs.iter().any(|d| d.name == "connect").then_some(notify);
        BpfProgram::assemble(defs.len(), &b64, &b32, connect, no_new_privs)
    }

    fn assemble(
        count: usize,
        b64: &[(u32, u32)],
        b32: &[(u32, u32)],
        connect: Option<u32>,
        no_new_privs: bool,
    ) -> Result<BpfProgram, TooLong> {
        let block64 = block(b64, None);
        let block32 = block(b32, connect);
        // Each arch test jumps over its block when the arch differs; cBPF jumps are 8-bit.
        let too_long = |b: &Vec<sock_filter>| b.len() > u8::MAX as usize;
        if too_long(&block64) || too_long(&block32) {
            return Err(TooLong(count));
        }
        let mut program = vec![load(DATA_ARCH), jeq(AUDIT_ARCH_X86_64, 0, block64.len() as u8)];
        program.extend(block64);
        program.push(jeq(AUDIT_ARCH_I386, 0, block32.len() as u8));
        program.extend(block32);
        program.push(ret(libc::SECCOMP_RET_ALLOW));
        Ok(BpfProgram { program, no_new_privs })
    }

    pub fn len(&self) -> usize {
        self.program.len()
    }

    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }

    /// The BPF instructions (for [`crate::sys::notify::install_listener`]).
    pub fn program(&self) -> &[sock_filter] {
        &self.program
    }

    /// Installs the filter on the calling thread. Async-signal-safe (only `prctl` and errno): called in
    /// the child between fork and exec. Returns whether no_new_privs was set, or the errno.
    ///
    /// Without no_new_privs requested, an EACCES (the capability was not effective after all, e.g. in a
    /// user namespace that does not own us) retries with it, so the mode still comes on.
    pub fn install(&self) -> Result<bool, c_int> {
        let prog =
            libc::sock_fprog { len: self.program.len() as u16, filter: self.program.as_ptr() as *mut _ };
        let set_nnp = || {
            // SAFETY: PR_SET_NO_NEW_PRIVS takes integers only.
            let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            if rc == 0 {
                Ok(())
            } else {
                Err(errno())
            }
        };
        let attach = || {
            // SAFETY: PR_SET_SECCOMP reads the sock_fprog at `&prog`, whose `filter` points at
            // `self.program`'s `len` instructions; both outlive the call and the kernel copies the
            // program (it never writes through the pointer despite the `*mut`).
            let rc = unsafe {
                libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog)
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(errno())
            }
        };
        if self.no_new_privs {
            set_nnp()?;
            return attach().map(|()| true);
        }
        match attach() {
            Ok(()) => Ok(false),
            Err(libc::EACCES) => {
                set_nnp()?;
                attach().map(|()| true)
            }
            Err(e) => Err(e),
        }
    }
}

fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot, always valid to read.
    unsafe { *libc::__errno_location() }
}

/// CAP_SYS_ADMIN in the effective set of `/proc/self/status` (`CapEff:` hex mask, bit 21).
pub fn parse_has_cap_sys_admin(status: &str) -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << CAP_SYS_ADMIN) != 0)
}

/// Whether runwarden may install a filter without no_new_privs.
pub fn has_cap_sys_admin() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| parse_has_cap_sys_admin(&s))
}

/// The protocol of a socket fd of another process ("TCP", "UDPv6", "UNIX"...): sockfs answers the
/// `system.sockprotoname` attribute of the socket behind `/proc/PID/fd/N` (net/socket.c). One syscall,
/// no need to wait for the socket to show in /proc/net (an unbound one never does). `None` where the
/// attribute is not implemented (gVisor) or the fd is not a socket.
pub fn socket_protocol(fd_link: &std::path::Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(fd_link.as_os_str().as_bytes()).ok()?;
    let mut buf = [0u8; 32];
    // SAFETY: both strings are NUL-terminated and live for the call; getxattr writes at most
    // `buf.len()` bytes into `buf`.
    let n = unsafe {
        libc::getxattr(path.as_ptr(), c"system.sockprotoname".as_ptr(), buf.as_mut_ptr().cast(), buf.len())
    };
    let n = usize::try_from(n).ok()?;
    let end = buf[..n].iter().position(|c| *c == 0).unwrap_or(n);
    Some(String::from_utf8_lossy(&buf[..end]).into_owned()).filter(|s| !s.is_empty())
}

#[cfg(test)]
#[path = "seccomp_tests.rs"]
mod tests;
