//! Reads what an exec stop must record before the new program runs: these files vanish with the
//! process, and a short-lived program (`/bin/true`) is gone microseconds after it is resumed.
//!
//! Runs on the tracer thread while the tracee waits, so it reads the fewest files, each bounded,
//! into one reused buffer, and does no parsing beyond what is needed. Everything that can wait
//! (hashing, socket resolution, lineage) happens later in the pipeline.
//!
//! Not procfs: its readers parse whole files into owned structures; here each file is read once into
//! a reused, bounded buffer and handed to `proc::parse` (which says why it is hand-written).

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::SystemTime;

use crate::events::{Binary, ExecEvent, Sensor, Stdio};

use super::parse;

/// Upper bound on the argv bytes kept per exec (ARG_MAX can be 2 MiB; findings need the start).
pub const ARGV_MAX_BYTES: usize = 32 * 1024;
/// Upper bound on the environ bytes scanned for the wanted variables.
pub const ENVIRON_MAX_BYTES: usize = 128 * 1024;

/// This thread's filesystem uid and gid switched to another user's until dropped (setfsuid(2) and
/// setfsgid(2) act on the calling thread only; the previous ids are restored on drop).
pub(crate) struct FsIds {
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
}

impl FsIds {
    pub(crate) fn switch(uid: u32, gid: u32) -> FsIds {
        // Group first: once the fsuid is not 0, the thread may lack the right to change its fsgid.
        let gid = nix::unistd::setfsgid(nix::unistd::Gid::from_raw(gid));
        let uid = nix::unistd::setfsuid(nix::unistd::Uid::from_raw(uid));
        FsIds { uid, gid }
    }
}

impl Drop for FsIds {
    fn drop(&mut self) {
        nix::unistd::setfsuid(self.uid);
        nix::unistd::setfsgid(self.gid);
    }
}

/// Where /proc is (a temp dir in tests) and the reading state reused across stops.
pub struct ProcReader {
    root: PathBuf,
    buf: Vec<u8>,
}

impl ProcReader {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ProcReader { root: root.into(), buf: Vec::with_capacity(ENVIRON_MAX_BYTES) }
    }

    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    fn path(&self, pid: i32, name: &str) -> PathBuf {
        let mut p = self.root.join(pid.to_string());
        p.push(name);
        p
    }

    /// Reads up to `max` bytes of `/proc/<pid>/<name>` into the shared buffer; returns whether the
    /// whole file fit.
    fn read_bounded(&mut self, pid: i32, name: &str, max: usize) -> io::Result<bool> {
        self.buf.clear();
        let file = File::open(self.path(pid, name))?;
        // One byte more than the bound tells "exactly max" apart from "more than max".
        let n = file.take(max as u64 + 1).read_to_end(&mut self.buf)?;
        let full = n <= max;
        self.buf.truncate(max);
        Ok(full)
    }

    fn read_link(&self, pid: i32, name: &str) -> io::Result<String> {
        Ok(std::fs::read_link(self.path(pid, name))?.to_string_lossy().into_owned())
    }

    /// Reads `/proc/<pid>/<name>`, a file of one seq_file record shorter than `max`, with one read:
    /// such a file comes whole in the first read when the buffer is larger (fs/seq_file.c), so the
    /// read that would only confirm the end is saved. A first read that fills the buffer goes on
    /// reading as [`Self::read_bounded`] does.
    fn read_record(&mut self, pid: i32, name: &str, max: usize) -> io::Result<()> {
        self.buf.clear();
        self.buf.resize(max + 1, 0);
        let mut file = File::open(self.path(pid, name))?;
        let n = file.read(&mut self.buf)?;
        if n <= max {
            self.buf.truncate(n);
            return Ok(());
        }
        self.read_bounded(pid, name, max).map(|_| ())
    }

    /// The status fields, or an error if the process is gone.
    pub fn status(&mut self, pid: i32) -> io::Result<parse::StatusFields> {
        self.read_record(pid, "status", 4096)?;
        Ok(parse::parse_status(&String::from_utf8_lossy(&self.buf)))
    }

    /// argv, bounded by [`ARGV_MAX_BYTES`], with the truncation flag.
    pub fn cmdline(&mut self, pid: i32) -> io::Result<(Vec<String>, bool)> {
        let full = self.read_bounded(pid, "cmdline", ARGV_MAX_BYTES)?;
        Ok(parse::parse_cmdline(&self.buf, full))
    }

    /// The running executable: path from the exe link, identity from fstat of the file opened through
    /// it (which works for deleted files and memfds too). The file is kept open in the event
    /// (`Binary::held`): a dropper that deletes or overwrites its program right after the exec still
    /// gets its sha256 and size in the finding. One open(2) in place of a stat(2) at the stop; where
    /// the open is refused (or [`crate::events::HELD_MAX`] are held), stat(2) as before.
    pub fn binary(&self, pid: i32) -> io::Result<Binary> {
        let link = self.read_link(pid, "exe")?;
        let (path, deleted, memfd) = parse::parse_exe_link(&link);
        let exe = self.path(pid, "exe");
        let held = File::open(&exe).ok().and_then(crate::events::HeldFile::new).map(std::sync::Arc::new);
        // stat(2), not statx(2): gVisor refuses statx on some of its files (`enrich::hash::stat_key`).
        let key = match &held {
            Some(f) => crate::proc::files::fstat_key(f.file()).ok(),
            None => crate::proc::files::stat_key(&exe).ok(),
        };
        Ok(Binary {
            path,
            deleted,
            memfd,
            size: key.map(|k| k.size),
            sha256: None,
            verdict: None,
            signatures: Vec::new(),
            ioc_family: None,
            copy_of: None,
            key,
            held,
        })
    }

    /// Whether `NoNewPrivs: 1` is in the status of `pid` (prctl(2) PR_SET_NO_NEW_PRIVS).
    pub fn no_new_privs(&mut self, pid: i32) -> bool {
        self.read_bounded(pid, "status", 4096).is_ok()
            && parse::parse_no_new_privs(&String::from_utf8_lossy(&self.buf))
    }

    /// A hash of `/proc/<pid>/auxv` (the auxiliary vector the last exec set up), `None` if unreadable.
    pub fn auxv_hash(&mut self, pid: i32) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        self.read_bounded(pid, "auxv", 4096).ok()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.buf.hash(&mut h);
        Some(h.finish())
    }

    /// The working directory of `pid`.
    pub fn cwd(&self, pid: i32) -> Option<String> {
        self.read_link(pid, "cwd").ok()
    }

    /// Descriptors 0, 1 and 2, with the peers of sockets resolved now: a socket's peer vanishes
    /// with it (a closed TCP socket loses its inode in /proc/net/tcp). Only paid for sockets.
    pub fn stdio_resolved(&self, pid: i32) -> [Stdio; 3] {
        let mut stdio = [self.stdio(pid, 0), self.stdio(pid, 1), self.stdio(pid, 2)];
        let mut resolved: Vec<(u64, Option<String>)> = Vec::new();
        for s in stdio.iter_mut() {
            if let Stdio::Socket { inode, peer } = s {
                let known = resolved.iter().find(|(i, _)| i == inode).map(|(_, p)| p.clone());
                *peer = match known {
                    Some(p) => p,
                    None => {
                        let p = super::sockets::describe_socket(&self.root, pid, *inode);
                        resolved.push((*inode, p.clone()));
                        p
                    }
                };
            }
        }
        stdio
    }

    /// What descriptor `fd` refers to.
    pub fn stdio(&self, pid: i32, fd: i32) -> Stdio {
        match self.read_link(pid, &format!("fd/{fd}")) {
            Ok(link) => parse::parse_fd_link(&link),
            Err(_) => Stdio::Closed,
        }
    }

    /// Everything an exec event records. Fails only if the process vanished (then there is nothing to
    /// record); unreadable optional parts are left empty.
    ///
    /// A process that dropped to another user (setpriv, gosu, su-exec) cannot be read by a root
    /// without CAP_SYS_PTRACE, as runwarden is in Docker: /proc's exe, environ and fd answer EACCES
    /// (ptrace_may_access with PTRACE_MODE_READ_FSCREDS). That check compares the *filesystem* ids,
    /// so the read is retried with this thread's fsuid/fsgid set to the process's for its duration.
    pub fn exec_event(
        &mut self,
        pid: i32,
        former_tid: Option<i32>,
        sensor: Sensor,
        env_names: &[String],
    ) -> io::Result<ExecEvent> {
        match self.read_exec_event(pid, former_tid, sensor, env_names) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                let st = self.status(pid)?;
                let _as_target = FsIds::switch(st.euid, st.egid);
                self.read_exec_event(pid, former_tid, sensor, env_names)
            }
            other => other,
        }
    }

    fn read_exec_event(
        &mut self,
        pid: i32,
        former_tid: Option<i32>,
        sensor: Sensor,
        env_names: &[String],
    ) -> io::Result<ExecEvent> {
        let time = SystemTime::now();
        let binary = self.binary(pid)?;
        let status = self.status(pid)?;
        let (args, arguments_truncated) = self.cmdline(pid).unwrap_or_default();
        let env = match self.read_bounded(pid, "environ", ENVIRON_MAX_BYTES) {
            Ok(_) => parse::select_env(&self.buf, env_names),
            Err(_) => Vec::new(),
        };
        let cwd = self.cwd(pid);
        let stdio = self.stdio_resolved(pid);
        Ok(ExecEvent {
            time,
            sensor,
            pid,
            former_tid,
            ppid: status.ppid,
            uid: status.uid,
            euid: status.euid,
            gid: status.gid,
            egid: status.egid,
            binary,
            args,
            arguments_truncated,
            cwd,
            env,
            stdio,
            ancestors: Vec::new(),
            indicators: Vec::new(),
            script: None,
            relays: Vec::new(),
            stdin_writer: None,
            stdout_reader: None,
            replaced: None,
            replaced_auxv: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id() as i32;
        let mut r = ProcReader::new("/proc");
        let names = vec!["PATH".to_string()];
        let ev = r.exec_event(me, None, Sensor::Ptrace, &names).unwrap();
        assert_eq!(ev.pid, me);
        assert!(!ev.args.is_empty());
        assert!(ev.binary.key.is_some());
        assert_eq!(ev.ppid, nix::unistd::getppid().as_raw());
        assert_eq!(ev.uid, nix::unistd::getuid().as_raw());
        assert_eq!(ev.cwd.as_deref(), std::env::current_dir().ok().as_deref().and_then(|p| p.to_str()));
    }

    #[test]
    fn bounded_reads_flag_truncation() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("7")).unwrap();
        let long = "x".repeat(ARGV_MAX_BYTES + 10);
        std::fs::write(dir.path().join("7/cmdline"), format!("python3\0-c\0{long}\0")).unwrap();
        let mut r = ProcReader::new(dir.path());
        let (args, truncated) = r.cmdline(7).unwrap();
        assert!(truncated);
        assert_eq!(args.iter().map(|a| a.len() + 1).sum::<usize>() - 1, ARGV_MAX_BYTES);

        std::fs::write(dir.path().join("7/cmdline"), "sh\0-c\0\0").unwrap();
        assert_eq!(r.cmdline(7).unwrap(), (vec!["sh".into(), "-c".into(), "".into()], false));
    }

    #[test]
    fn vanished_process_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = ProcReader::new(dir.path());
        assert!(r.exec_event(12345, None, Sensor::Ptrace, &[]).is_err());
    }
}
