//! An exec held at its notification, read into the same [`ExecEvent`] the ptrace sensor produces.
//!
//! What the ptrace sensor reads from /proc after the exec, this reads before it: the path, argv and
//! the wanted environment entries from the caller's memory (the kernel has not copied them yet),
//! the program by resolving the path as the kernel will ([`super::resolve`]), and the credentials,
//! cwd and standard descriptors from /proc (an exec keeps all of them, except the effective ids of a
//! setuid or setgid program, which are computed from the file's mode).
#![forbid(unsafe_code)]

use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::events::{Binary, ExecEvent, Sensor};
use crate::proc::capture::{ProcReader, ARGV_MAX_BYTES, ENVIRON_MAX_BYTES};
use crate::proc::parse;
use crate::sys::seccomp::Abi;

use super::mem::{Mem, ReadAt};
use super::resolve::{self, Base, Known, WillFail};

/// Path bytes read from the caller (PATH_MAX).
const PATH_MAX_BYTES: usize = 4096;
/// Pointers read from an argv or envp array (a bound on a hostile array, far above real use).
const ARRAY_MAX_ENTRIES: usize = 65_536;

/// The registers of an exec call that matter, from `seccomp_data.args`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecCall {
    pub dirfd: Option<i32>,
    pub path: u64,
    pub argv: u64,
    pub envp: u64,
    /// execveat's AT_EMPTY_PATH: run the file `dirfd` refers to.
    pub empty_path: bool,
}

impl ExecCall {
    /// execve(path, argv, envp) or execveat(dirfd, path, argv, envp, flags).
    pub fn from_args(at: bool, args: [u64; 6]) -> ExecCall {
        if !at {
            return ExecCall { dirfd: None, path: args[0], argv: args[1], envp: args[2], empty_path: false };
        }
        let dirfd = args[0] as u32 as i32;
        ExecCall {
            dirfd: (dirfd != libc::AT_FDCWD).then_some(dirfd),
            path: args[1],
            argv: args[2],
            envp: args[3],
            empty_path: args[4] & libc::AT_EMPTY_PATH as u64 != 0,
        }
    }
}

/// What reading an exec came to.
#[derive(Debug)]
pub enum Read {
    /// The program will run: the event to report.
    Runs(Box<ExecEvent>),
    /// The kernel will refuse it (a PATH search's miss, a missing or non-executable file).
    Fails(WillFail),
}

pub fn pointer_bytes(abi: Abi) -> usize {
    match abi {
        Abi::X86_64 => 8,
        Abi::I386 | Abi::X32 => 4,
    }
}

/// The environment entries named in `wanted`, from NUL-less `NAME=value` strings.
fn wanted_entry(entry: &[u8], wanted: &[String]) -> bool {
    entry
        .iter()
        .position(|b| *b == b'=')
        .is_some_and(|eq| wanted.iter().any(|w| w.as_bytes() == &entry[..eq]))
}

/// Reads the exec `call` of thread `tid` (process `tgid`). `reader` reads /proc (its buffers are
/// reused); `mem` is the caller's memory; `programs` remembers programs already resolved.
pub fn read<R: ReadAt>(
    reader: &mut ProcReader,
    mem: &mut Mem<R>,
    programs: &mut Known,
    tid: i32,
    call: ExecCall,
    env_names: &[String],
) -> std::io::Result<Read> {
    let time = SystemTime::now();
    // Bytes, as the kernel takes them: a name that is not UTF-8 is still a name that runs.
    let path: Vec<u8> = match mem.c_string(call.path, PATH_MAX_BYTES) {
        Some((p, false)) => p,
        Some((_, true)) => return Ok(Read::Fails(WillFail(libc::ENAMETOOLONG))),
        None if call.empty_path => Vec::new(),
        None => return Ok(Read::Fails(WillFail(libc::EFAULT))),
    };
    let base = match call.dirfd {
        Some(fd) => Base::Fd(fd),
        None => Base::Cwd,
    };
    let base = if path.starts_with(b"/") { Base::Cwd } else { base };
    let path = std::ffi::OsStr::from_bytes(&path);
    let program = match resolve::resolve(reader.root(), programs, tid, base, path) {
        Ok(p) => p,
        Err(fail) => return Ok(Read::Fails(fail)),
    };
    let (argv, argv_cut) = mem.string_array(call.argv, ARRAY_MAX_ENTRIES, ARGV_MAX_BYTES, |_| true);
    let (env, _) =
        mem.string_array(call.envp, ARRAY_MAX_ENTRIES, ENVIRON_MAX_BYTES, |e| wanted_entry(e, env_names));
    let args = resolve::final_argv(
        program.argv_prefix.clone(),
        argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect(),
    );
    let env_block: Vec<u8> = env.join(&0u8);
    let env = parse::select_env(&env_block, env_names);

    let status = reader.status(tid)?;
    let (euid, egid) = effective_ids(&program.meta, status.euid, status.egid, || reader.no_new_privs(tid));
    let (path_shown, deleted, memfd) = parse::parse_exe_link(&program.link);
    let key = crate::proc::files::key_of(&program.meta);
    let binary = Binary {
        path: path_shown,
        deleted,
        memfd,
        size: Some(program.meta.len()),
        key: Some(key),
        held: crate::events::HeldFile::new(program.file).map(Arc::new),
        ..Binary::default()
    };
    let pid = if status.tgid > 0 { status.tgid } else { tid };
    let stdio = reader.stdio_resolved(tid);
    let replaced = crate::proc::files::stat_key(&reader.root().join(format!("{tid}/exe"))).ok();
    // Re-running the same file: only the auxiliary vector tells before from after (pipeline::verify).
    let same_file = replaced.is_some_and(|r| r.dev == key.dev && r.ino == key.ino);
    let replaced_auxv = if same_file { reader.auxv_hash(tid) } else { None };
    Ok(Read::Runs(Box::new(ExecEvent {
        time,
        sensor: Sensor::Seccomp,
        pid,
        former_tid: (tid != pid).then_some(tid),
        ppid: status.ppid,
        uid: status.uid,
        euid,
        gid: status.gid,
        egid,
        binary,
        args,
        arguments_truncated: argv_cut,
        cwd: reader.cwd(tid),
        env,
        stdio,
        replaced,
        replaced_auxv,
        ..ExecEvent::default()
    })))
}

/// The effective ids after the exec: a setuid (setgid) program runs as its owner (group), unless
/// no_new_privs is set (prctl(2)), in which case the kernel ignores the bits.
/// `nnp` is only asked (one more read of /proc) for a setuid or setgid program.
fn effective_ids(meta: &std::fs::Metadata, euid: u32, egid: u32, nnp: impl FnOnce() -> bool) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode();
    if mode & (libc::S_ISUID | libc::S_ISGID) == 0 || nnp() {
        return (euid, egid);
    }
    let euid = if mode & libc::S_ISUID != 0 { meta.uid() } else { euid };
    let egid = if mode & libc::S_ISGID != 0 && mode & libc::S_IXGRP != 0 { meta.gid() } else { egid };
    (euid, egid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_registers_per_call() {
        let args = [1, 2, 3, 4, 0x1000, 6];
        assert_eq!(
            ExecCall::from_args(false, args),
            ExecCall { dirfd: None, path: 1, argv: 2, envp: 3, empty_path: false }
        );
        assert_eq!(
            ExecCall::from_args(true, args),
            ExecCall { dirfd: Some(1), path: 2, argv: 3, envp: 4, empty_path: true }
        );
        let cwd = [libc::AT_FDCWD as u32 as u64, 2, 3, 4, 0, 6];
        assert_eq!(ExecCall::from_args(true, cwd).dirfd, None);
    }

    #[test]
    fn wanted_entries_by_exact_name() {
        let names = vec!["HTTPS_PROXY".to_string(), "LD_PRELOAD".to_string()];
        assert!(wanted_entry(b"LD_PRELOAD=/tmp/x.so", &names));
        assert!(!wanted_entry(b"LD_PRELOAD_X=1", &names));
        assert!(!wanted_entry(b"HTTPS_PROXY", &names));
    }
}
