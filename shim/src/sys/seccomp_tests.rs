//! The filter program run by a small cBPF interpreter (every table entry, every ABI, foreign arches),
//! then installed for real in a forked child without a tracer, where RET_TRACE shows as ENOSYS
//! (seccomp(2)): the listed calls of both x86 tables fail that way and nothing else does.

use super::*;

/// Runs the subset of cBPF the filter uses over a `seccomp_data` built from (nr, arch, arg0).
fn run(f: &BpfProgram, nr: u32, arch: u32, arg0: u64) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_le_bytes());
    data[4..8].copy_from_slice(&arch.to_le_bytes());
    data[16..24].copy_from_slice(&arg0.to_le_bytes());
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let i = f.program[pc];
        match u32::from(i.code) {
            c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                let k = i.k as usize;
                acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                pc += 1;
            }
            c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                pc += 1 + usize::from(if acc == i.k { i.jt } else { i.jf });
            }
            c if c == libc::BPF_RET | libc::BPF_K => return i.k,
            other => panic!("unexpected instruction {other:#x}"),
        }
    }
}

fn all() -> Vec<usize> {
    (0..SYSCALLS.len()).collect()
}

const TRACE: u32 = libc::SECCOMP_RET_TRACE;

#[test]
fn every_listed_syscall_of_every_x86_abi_is_traced_with_its_tag() {
    let f = BpfProgram::build(&all(), true).unwrap();
    for (i, d) in SYSCALLS.iter().enumerate() {
        assert_eq!(run(&f, d.x86_64, AUDIT_ARCH_X86_64, 0), TRACE | tag(Abi::X86_64, i, false), "{}", d.name);
        assert_eq!(run(&f, d.x32 | X32_SYSCALL_BIT, AUDIT_ARCH_X86_64, 0), TRACE | tag(Abi::X32, i, false));
        if let Some(nr) = d.i386 {
            assert_eq!(run(&f, nr, AUDIT_ARCH_I386, 0), TRACE | tag(Abi::I386, i, false), "{}", d.name);
        }
        let t = untag(u64::from(tag(Abi::I386, i, false))).unwrap();
        assert_eq!((t.abi, t.def.name, t.via_socketcall), (Abi::I386, d.name, false));
    }
    let connect = lookup("connect").unwrap();
    assert_eq!(run(&f, I386_SOCKETCALL, AUDIT_ARCH_I386, 3), TRACE | tag(Abi::I386, connect, true));
    assert!(untag(u64::from(tag(Abi::I386, connect, true))).unwrap().via_socketcall);
    // socketcall(SYS_SOCKET), and socketcall on x86_64's arch (where 102 is getuid), are allowed.
    assert_eq!(run(&f, I386_SOCKETCALL, AUDIT_ARCH_I386, 1), libc::SECCOMP_RET_ALLOW);
    assert_eq!(run(&f, 102, AUDIT_ARCH_X86_64, 3), libc::SECCOMP_RET_ALLOW);
}

#[test]
fn other_syscalls_and_foreign_arches_are_allowed() {
    let f = BpfProgram::build(&[lookup("ptrace").unwrap()], false).unwrap();
    let allow = libc::SECCOMP_RET_ALLOW;
    // x86_64 getpid; i386 101 is ioperm, not ptrace; x86_64 26 is msync, not i386's ptrace.
    assert_eq!(run(&f, 39, AUDIT_ARCH_X86_64, 0), allow);
    assert_eq!(run(&f, 101, AUDIT_ARCH_I386, 0), allow);
    assert_eq!(run(&f, 26, AUDIT_ARCH_X86_64, 0), allow);
    assert_eq!(run(&f, 26, AUDIT_ARCH_I386, 0), TRACE | tag(Abi::I386, 1, false));
    // x32's ptrace is 521 with the x32 bit; without it, 521 is nothing.
    assert_eq!(run(&f, 521, AUDIT_ARCH_X86_64, 0), allow);
    // aarch64, arm, riscv64: never judged, never ENOSYS.
    for arch in [0xC000_00B7, 0x4000_0028, 0xC000_00F3] {
        assert_eq!(run(&f, 101, arch, 0), allow);
        assert_eq!(run(&f, 26, arch, 0), allow);
    }
    assert_eq!(untag(0x3_00), None);
    assert_eq!(untag(u64::from(SYSCALLS.len() as u32)), None);
    assert_eq!(untag(1 << 40), None);
}

#[test]
fn the_variable_s_values() {
    assert_eq!(parse_list(""), Some(vec![]));
    assert_eq!(parse_list(" off "), Some(vec![]));
    assert_eq!(
        parse_list("ptrace, connect,ptrace,,memfd_create"),
        Some(vec!["ptrace", "connect", "memfd_create"])
    );
    assert_eq!(parse_list("default,bpf").unwrap().len(), DEFAULT_SET.len() + 1);
    assert!(DEFAULT_SET.iter().all(|n| lookup(n).is_some()));
    for bad in ["conect", "connect,execve", "all", "CONNECT", "off,connect"] {
        assert_eq!(parse_list(bad), None, "{bad}");
    }
}

#[test]
fn capability_parsing() {
    assert!(parse_has_cap_sys_admin("Name:\tx\nCapEff:\t000001ffffffffff\n"));
    assert!(parse_has_cap_sys_admin("CapEff:\t0000000000200000\n"));
    assert!(!parse_has_cap_sys_admin("CapEff:\t00000000a80425fb\n")); // Docker's default set
    assert!(!parse_has_cap_sys_admin("CapPrm:\tffffffff\n"));
}

/// An i386 syscall from this 64-bit process through `int 0x80` (the kernel's ia32 entry).
#[cfg(target_arch = "x86_64")]
fn int80(nr: u32, arg0: u32) -> i32 {
    let ret: i32;
    // SAFETY: `int 0x80` runs one syscall with the i386 convention; the syscalls used here take
    // integers only (no pointers), rbx is saved and restored around it because LLVM reserves it.
    unsafe {
        std::arch::asm!(
            "xchg {arg0:r}, rbx",
            "int 0x80",
            "xchg {arg0:r}, rbx",
            arg0 = inout(reg) u64::from(arg0) => _,
            inlateout("eax") nr => ret,
        );
    }
    ret
}

#[cfg(target_arch = "x86_64")]
#[test]
fn installed_without_a_tracer_listed_calls_of_both_tables_fail_with_enosys() {
    let f = BpfProgram::build(&[lookup("personality").unwrap(), lookup("connect").unwrap()], true).unwrap();
    let query = 0xffff_ffffu32; // personality(0xffffffff) only reads the persona
                                // SAFETY: fork in a test binary: the child only makes raw syscalls (prctl, personality, getpid,
                                // int 0x80) and leaves with _exit, all async-signal-safe; nothing it touches was allocated after
                                // the fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let mut bad = 0;
        if f.install().is_err() {
            // SAFETY: _exit is async-signal-safe and ends the child at once.
            unsafe { libc::_exit(100) }
        }
        // SAFETY: raw syscalls with integer arguments.
        let (p64, e64) = unsafe { (libc::syscall(libc::SYS_personality, query as libc::c_ulong), errno()) };
        if !(p64 == -1 && e64 == libc::ENOSYS) {
            bad |= 1;
        }
        // SAFETY: getpid takes no arguments.
        let me = unsafe { libc::getpid() };
        if int80(20, 0) != me {
            bad |= 2; // i386 getpid: an unlisted call of the foreign table works
        }
        if int80(136, query) != -libc::ENOSYS {
            bad |= 4; // i386 personality is listed
        }
        if int80(42, 0) != -libc::EFAULT {
            bad |= 8; // i386 42 is pipe (x86_64's connect number): pipe(NULL) must reach the kernel
        }
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(bad) }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child with a valid status pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "{status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "failed checks (bit mask; 100 = install failed)");
}
