//! The seccomp stop of the opt-in syscall mode: which call it is (the filter's tag in the event
//! message), its arguments (the registers), and what they point at (the caller's memory), turned into a
//! [`SyscallEvent`].
//!
//! The tracer always resumes a seccomp stop with PTRACE_CONT, never PTRACE_SYSCALL: Linux >= 4.8 stops
//! at syscall entry, then seccomp, then exit, while gVisor stops at seccomp first, then entry, then exit
//! (ptrace-gvisor-init.md, 2.7). Without PTRACE_SYSCALL there are no entry and exit stops at all, so
//! the order cannot matter; the price is that the call's result is not seen.
//!
//! Decoding is pure over a memory-reading closure, so it is table-tested without a tracee. Reads are
//! bounded: a sockaddr is at most [`SOCKADDR_MAX_BYTES`], a string [`STRING_MAX_BYTES`].

use std::path::Path;
use std::time::SystemTime;

use crate::events::{SyscallDetail, SyscallEvent};
use crate::sys::seccomp::{Abi, Tag};

/// `sizeof(struct sockaddr_storage)`.
pub const SOCKADDR_MAX_BYTES: usize = 128;
/// Names, paths and module parameters read from the caller.
pub const STRING_MAX_BYTES: usize = 256;

/// The six argument registers of the call, per ABI (syscall(2), "Architecture calling conventions").
#[cfg(target_arch = "x86_64")]
pub fn args_of(regs: &libc::user_regs_struct, abi: Abi) -> [u64; 6] {
    match abi {
        Abi::X86_64 | Abi::X32 => [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
        // i386 arguments are 32-bit: the upper halves are not part of the call.
        Abi::I386 => [regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi, regs.rbp].map(|r| r & 0xffff_ffff),
    }
}

/// The name of a ptrace request (linux/ptrace.h; the same numbers on every x86 ABI).
pub fn ptrace_request_name(req: u64) -> Option<&'static str> {
    Some(match req {
        0 => "PTRACE_TRACEME",
        1 => "PTRACE_PEEKTEXT",
        2 => "PTRACE_PEEKDATA",
        3 => "PTRACE_PEEKUSER",
        4 => "PTRACE_POKETEXT",
        5 => "PTRACE_POKEDATA",
        6 => "PTRACE_POKEUSER",
        7 => "PTRACE_CONT",
        8 => "PTRACE_KILL",
        9 => "PTRACE_SINGLESTEP",
        12 => "PTRACE_GETREGS",
        13 => "PTRACE_SETREGS",
        14 => "PTRACE_GETFPREGS",
        15 => "PTRACE_SETFPREGS",
        16 => "PTRACE_ATTACH",
        17 => "PTRACE_DETACH",
        24 => "PTRACE_SYSCALL",
        0x4200 => "PTRACE_SETOPTIONS",
        0x4201 => "PTRACE_GETEVENTMSG",
        0x4202 => "PTRACE_GETSIGINFO",
        0x4203 => "PTRACE_SETSIGINFO",
        0x4204 => "PTRACE_GETREGSET",
        0x4205 => "PTRACE_SETREGSET",
        0x4206 => "PTRACE_SEIZE",
        0x4207 => "PTRACE_INTERRUPT",
        0x4208 => "PTRACE_LISTEN",
        0x4209 => "PTRACE_PEEKSIGINFO",
        _ => return None,
    })
}

/// A socket address as (family, address, port).
pub fn parse_sockaddr(b: &[u8]) -> Option<(String, String, Option<u16>)> {
    let family = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?);
    let port = |b: &[u8]| b.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]));
    match i32::from(family) {
        libc::AF_INET => {
            let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(("inet".into(), std::net::Ipv4Addr::from(a).to_string(), port(b)))
        }
        libc::AF_INET6 => {
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            Some(("inet6".into(), std::net::Ipv6Addr::from(a).to_string(), port(b)))
        }
        libc::AF_UNIX => {
            let path = b.get(2..).unwrap_or_default();
            let text = match path.first() {
                // Abstract names start with a NUL and may contain more; shown as "@name".
                Some(0) => format!("@{}", String::from_utf8_lossy(&path[1..]).trim_end_matches('\0')),
                _ => {
                    let end = path.iter().position(|c| *c == 0).unwrap_or(path.len());
                    String::from_utf8_lossy(&path[..end]).into_owned()
                }
            };
            Some(("unix".into(), text, None))
        }
        other => Some((other.to_string(), String::new(), None)),
    }
}

/// Reads memory of the caller: `(address, max length) -> bytes`, `None` when unreadable.
pub type ReadMem<'a> = dyn FnMut(u64, usize) -> Option<Vec<u8>> + 'a;
/// The path an fd of the caller refers to.
pub type FdPath<'a> = dyn Fn(u64) -> Option<String> + 'a;

fn c_string(mem: &mut ReadMem, addr: u64) -> Option<String> {
    if addr == 0 {
        return None;
    }
    let b = mem(addr, STRING_MAX_BYTES)?;
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    Some(String::from_utf8_lossy(&b[..end]).into_owned())
}

/// Decodes a call's arguments. For i386 `socketcall(SYS_CONNECT, argp)` the real arguments are three
/// 32-bit words at `argp`; they are returned in place of the registers.
pub fn decode(
    tag: Tag,
    mut args: [u64; 6],
    mem: &mut ReadMem,
    fd_path: &FdPath,
) -> ([u64; 6], SyscallDetail) {
    if tag.via_socketcall {
        let words = mem(args[1], 12).filter(|b| b.len() == 12).unwrap_or_default();
        let word =
            |i: usize| words.get(i * 4..i * 4 + 4).and_then(|w| Some(u32::from_ne_bytes(w.try_into().ok()?)));
        let w = |i: usize| u64::from(word(i).unwrap_or(0));
        args = [w(0), w(1), w(2), 0, 0, 0];
    }
    let mut d = SyscallDetail::default();
    let name = tag.def.name;
    let as_fd = |v: u64| v as u32 as i32;
    d.summary = match name {
        "connect" => {
            let len = (args[2] as usize).min(SOCKADDR_MAX_BYTES);
            match mem(args[1], len).as_deref().and_then(parse_sockaddr) {
                Some((family, address, port)) => {
                    let shown = match (family.as_str(), port) {
                        ("inet6", Some(p)) => format!("{family} [{address}]:{p}"),
                        (_, Some(p)) => format!("{family} {address}:{p}"),
                        _ => format!("{family} {address}"),
                    };
                    d.family = Some(family);
                    d.address = Some(address);
                    d.port = port;
                    format!("connect(fd {}, {})", as_fd(args[0]), shown.trim_end())
                }
                None => format!("connect(fd {}, unreadable address)", as_fd(args[0])),
            }
        }
        "ptrace" => {
            let req = ptrace_request_name(args[0]).map(str::to_string).unwrap_or_else(|| args[0].to_string());
            d.request = Some(req.clone());
            if args[0] == 0 {
                format!("ptrace({req})")
            } else {
                d.target_pid = Some(args[1] as u32 as i32);
                format!("ptrace({req}, pid {})", args[1] as u32 as i32)
            }
        }
        "process_vm_readv" | "process_vm_writev" => {
            d.target_pid = Some(args[0] as u32 as i32);
            format!("{name}(pid {})", args[0] as u32 as i32)
        }
        "init_module" => {
            d.params = c_string(mem, args[2]);
            format!("init_module({} bytes, \"{}\")", args[1], d.params.as_deref().unwrap_or(""))
        }
        "finit_module" => {
            d.path = fd_path(args[0]);
            d.params = c_string(mem, args[1]);
            format!("finit_module({})", d.path.as_deref().unwrap_or("unknown file"))
        }
        "delete_module" => {
            d.params = c_string(mem, args[0]);
            format!("delete_module({})", d.params.as_deref().unwrap_or("?"))
        }
        "memfd_create" => {
            d.path = c_string(mem, args[0]);
            format!("memfd_create(\"{}\")", d.path.as_deref().unwrap_or(""))
        }
        "mount" => {
            d.path = c_string(mem, args[1]);
            let source = c_string(mem, args[0]).unwrap_or_default();
            let fstype = c_string(mem, args[2]).unwrap_or_default();
            d.params = Some(format!("{source} {fstype}").trim().to_string());
            format!("mount({source}, {}, {fstype})", d.path.as_deref().unwrap_or("?"))
        }
        "umount2" | "pivot_root" | "chroot" => {
            d.path = c_string(mem, args[0]);
            format!("{name}({})", d.path.as_deref().unwrap_or("?"))
        }
        "setns" => {
            d.path = fd_path(args[0]);
            format!("setns({}, {:#x})", d.path.as_deref().unwrap_or("unknown fd"), args[1])
        }
        "unshare" => format!("unshare({:#x})", args[0]),
        "personality" => format!("personality({:#x})", args[0]),
        "bpf" => format!("bpf(cmd {})", args[0]),
        other => format!("{other}()"),
    };
    (args, d)
}

/// The number the call must have in `orig_rax` for `tag`: a workload's own filter may return RET_TRACE
/// with data that happens to decode as one of our tags; its stops are not reported as ours.
pub fn expected_nr(tag: Tag) -> Option<u64> {
    use crate::sys::seccomp::{I386_SOCKETCALL, X32_SYSCALL_BIT};
    let nr = match (tag.abi, tag.via_socketcall) {
        (Abi::I386, true) => I386_SOCKETCALL,
        (Abi::I386, false) => tag.def.i386?,
        (Abi::X86_64, _) => tag.def.x86_64,
        (Abi::X32, _) => tag.def.x32 | X32_SYSCALL_BIT,
    };
    Some(u64::from(nr))
}

/// Builds the event for the call a tracee is stopped in. `tid` is stopped; `pid` is its process.
/// `None` when the stop is not one of our filter's (see [`expected_nr`]).
#[cfg(target_arch = "x86_64")]
pub fn capture(proc_root: &Path, tid: i32, pid: i32, tag: Tag) -> std::io::Result<Option<SyscallEvent>> {
    use crate::sys::ptrace;
    let regs = ptrace::regs(tid)?;
    if expected_nr(tag) != Some(regs.orig_rax) {
        return Ok(None);
    }
    let raw = args_of(&regs, tag.abi);
    let mut mem = |addr: u64, len: usize| {
        if addr == 0 || len == 0 {
            return None;
        }
        ptrace::read_memory(tid, addr, len).ok()
    };
    Ok(Some(event_of(proc_root, tid, pid, tag, raw, &mut mem)))
}

/// The event of a listed call from its raw arguments and a reader of the caller's memory: the
/// ptrace stop's registers and PEEKDATA, or a notification's `seccomp_data` and /proc/PID/mem.
pub fn event_of(
    proc_root: &Path,
    tid: i32,
    pid: i32,
    tag: Tag,
    raw: [u64; 6],
    mem: &mut ReadMem,
) -> SyscallEvent {
    let fd_path = |fd: u64| {
        std::fs::read_link(proc_root.join(format!("{tid}/fd/{}", fd as u32 as i32)))
            .ok()
            .map(|p| p.display().to_string())
    };
    let (args, mut detail) = decode(tag, raw, mem, &fd_path);
    if tag.def.name == "connect" && detail.family.is_some() {
        let link = proc_root.join(format!("{tid}/fd/{}", args[0] as u32 as i32));
        // "TCPv6" and "UDPv6" are the same protocols as far as a finding says.
        detail.protocol =
            crate::sys::seccomp::socket_protocol(&link).map(|p| p.trim_end_matches("v6").to_string());
    }
    SyscallEvent {
        time: SystemTime::now(),
        pid,
        tid,
        name: tag.def.name,
        abi: tag.abi.as_str(),
        args,
        detail,
        process: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::seccomp::{lookup, tag as make_tag, untag, SYSCALLS};

    fn t(name: &str, abi: Abi, via: bool) -> Tag {
        untag(u64::from(make_tag(abi, lookup(name).unwrap(), via))).unwrap()
    }

    /// A fake address space: address -> bytes.
    fn memory(regions: &[(u64, Vec<u8>)]) -> impl FnMut(u64, usize) -> Option<Vec<u8>> + '_ {
        move |addr, len| regions.iter().find(|(a, _)| *a == addr).map(|(_, b)| b[..len.min(b.len())].to_vec())
    }

    fn sockaddr_in(port: u16, ip: [u8; 4]) -> Vec<u8> {
        let mut b = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        b.extend(port.to_be_bytes());
        b.extend(ip);
        b.extend([0u8; 8]);
        b
    }

    #[test]
    fn connect_addresses_of_every_family() {
        let no_fd = |_: u64| None;
        let v4 = sockaddr_in(8080, [127, 0, 0, 1]);
        let mut v6 = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        v6.extend(443u16.to_be_bytes());
        v6.extend([0u8; 4]);
        v6.extend(std::net::Ipv6Addr::LOCALHOST.octets());
        v6.extend([0u8; 4]);
        let mut unix = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        unix.extend(b"/run/docker.sock\0garbage");
        let mut abs = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        abs.extend(b"\0hidden");
        let regions = [(0x1000, v4.clone()), (0x2000, v6), (0x3000, unix), (0x4000, abs)];
        let cases = [
            (0x1000u64, 16u64, "inet", "127.0.0.1", Some(8080), "connect(fd 3, inet 127.0.0.1:8080)"),
            (0x2000, 28, "inet6", "::1", Some(443), "connect(fd 3, inet6 [::1]:443)"),
            (0x3000, 110, "unix", "/run/docker.sock", None, "connect(fd 3, unix /run/docker.sock)"),
            (0x4000, 9, "unix", "@hidden", None, "connect(fd 3, unix @hidden)"),
        ];
        for (addr, len, family, address, port, summary) in cases {
            let mut mem = memory(&regions);
            let (_, d) = decode(t("connect", Abi::X86_64, false), [3, addr, len, 0, 0, 0], &mut mem, &no_fd);
            assert_eq!(d.family.as_deref(), Some(family));
            assert_eq!(d.address.as_deref(), Some(address));
            assert_eq!(d.port, port);
            assert_eq!(d.summary, summary);
        }
        // An unreadable address still names the call.
        let mut mem = memory(&regions);
        let (_, d) = decode(t("connect", Abi::X86_64, false), [3, 0x9000, 16, 0, 0, 0], &mut mem, &no_fd);
        assert_eq!((d.family, d.summary.as_str()), (None, "connect(fd 3, unreadable address)"));
        // i386 socketcall(SYS_CONNECT, argp): the arguments are words at argp.
        let mut words = 5u32.to_ne_bytes().to_vec();
        words.extend(0x1000u32.to_ne_bytes());
        words.extend(16u32.to_ne_bytes());
        let regions = [(0x1000, v4), (0x5000, words)];
        let mut mem = memory(&regions);
        let (args, d) = decode(t("connect", Abi::I386, true), [3, 0x5000, 0, 0, 0, 0], &mut mem, &no_fd);
        assert_eq!(args, [5, 0x1000, 16, 0, 0, 0]);
        assert_eq!(d.summary, "connect(fd 5, inet 127.0.0.1:8080)");
    }

    #[test]
    fn stops_are_checked_against_the_number_of_their_tag() {
        assert_eq!(expected_nr(t("ptrace", Abi::X86_64, false)), Some(101));
        assert_eq!(expected_nr(t("ptrace", Abi::I386, false)), Some(26));
        assert_eq!(expected_nr(t("ptrace", Abi::X32, false)), Some(0x4000_0000 + 521));
        assert_eq!(expected_nr(t("connect", Abi::I386, true)), Some(102));
        assert_eq!(expected_nr(t("kexec_file_load", Abi::I386, false)), None);
    }

    #[test]
    fn ptrace_modules_and_paths() {
        let fds = |fd: u64| (fd == 7).then(|| "/tmp/rootkit.ko".to_string());
        let regions = [(0x100, b"debug=1\0".to_vec()), (0x200, b"evil\0".to_vec())];
        let mut mem = memory(&regions);
        let tr = |name| t(name, Abi::X86_64, false);
        let (_, d) = decode(tr("ptrace"), [16, 42, 0, 0, 0, 0], &mut mem, &fds);
        assert_eq!((d.request.as_deref(), d.target_pid), (Some("PTRACE_ATTACH"), Some(42)));
        assert_eq!(d.summary, "ptrace(PTRACE_ATTACH, pid 42)");
        let (_, d) = decode(tr("ptrace"), [0, 0, 0, 0, 0, 0], &mut mem, &fds);
        assert_eq!((d.request.as_deref(), d.target_pid), (Some("PTRACE_TRACEME"), None));
        let (_, d) = decode(tr("ptrace"), [0x9999, 1, 0, 0, 0, 0], &mut mem, &fds);
        assert_eq!(d.request.as_deref(), Some("39321"));
        let (_, d) = decode(tr("finit_module"), [7, 0x100, 0, 0, 0, 0], &mut mem, &fds);
        assert_eq!((d.path.as_deref(), d.params.as_deref()), (Some("/tmp/rootkit.ko"), Some("debug=1")));
        let (_, d) = decode(tr("init_module"), [0x5000, 4096, 0x100, 0, 0, 0], &mut mem, &fds);
        assert_eq!(d.summary, "init_module(4096 bytes, \"debug=1\")");
        let (_, d) = decode(tr("memfd_create"), [0x200, 1, 0, 0, 0, 0], &mut mem, &fds);
        assert_eq!(d.path.as_deref(), Some("evil"));
        let (_, d) = decode(tr("process_vm_writev"), [1234, 0, 1, 0, 1, 0], &mut mem, &fds);
        assert_eq!(d.target_pid, Some(1234));
        // Every syscall of the table decodes to a summary naming it.
        for def in SYSCALLS {
            let (_, d) = decode(tr(def.name), [0; 6], &mut mem, &fds);
            assert!(d.summary.starts_with(def.name), "{}", d.summary);
        }
    }
}
