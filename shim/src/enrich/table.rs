//! The process table: every process the sensors reported, with its lineage, kept a while after it exits
//! so findings raised late (hashing, scans, shipping) can still describe it and its ancestors.
//!
//! Two threads write it (`enrich::SharedState`): the enforcer at the exec stop and the pipeline when
//! the same event reaches it, later. Each entry keeps the time of the newest event applied to it
//! (`stamp`); a start, exec or exit older than that is ignored, so a second or late copy of an event
//! never rolls a process back to what it was (a lagging pipeline re-applying a start after the
//! enforcer recorded the exec that followed it).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use crate::events::{ExecEvent, ExitEvent, ProcessRef, RecentProgram, StartEvent};

/// How long an exited process stays describable.
pub const EXITED_RETENTION: Duration = Duration::from_secs(60);
/// Bound on exited entries kept, whatever their age (an exec storm must not grow memory without bound).
pub const EXITED_MAX_ENTRIES: usize = 8192;
/// Bound on the ancestor chain reported for one process.
pub const ANCESTORS_MAX: usize = 16;

#[derive(Debug, Clone)]
pub struct Entry {
    /// The process (its parent always known here, `ancestors` left empty): program, arguments, and
    /// the sha256 of the program (set by the pipeline after hashing; inherited over fork).
    pub process: ProcessRef,
    pub exited: Option<Instant>,
    /// fds 0-2 at the last exec (`parse::stdio_key`), for the scanner to notice rewiring.
    pub stdio: Option<[String; 3]>,
    /// When the newest event applied to this entry happened (at its sensor).
    pub stamp: SystemTime,
    /// When its last exec happened (None: not seen exec'ing, a fork that runs its parent's program).
    pub exec_time: Option<SystemTime>,
}

#[derive(Debug, Default)]
pub struct ProcessTable {
    entries: HashMap<i32, Entry>,
    exited: VecDeque<(Instant, i32)>,
    /// Pipe inode -> the processes holding it as stdin (fd 0) or stdout (fd 1) at their last exec:
    /// the pipeline view (`pipe_peer`).
    pipes: HashMap<u64, Vec<(i32, u8)>>,
}

/// The pipe inode of a stdio key (`parse::stdio_key`: "pipe:[N]").
fn pipe_inode(key: &str) -> Option<u64> {
    key.strip_prefix("pipe:[")?.strip_suffix(']')?.parse().ok()
}

impl ProcessTable {
    /// A process as this table knows it: program, arguments, parent, lineage (the caller of a syscall,
    /// the holder of a file).
    pub fn actor(&self, pid: i32) -> ProcessRef {
        let process =
            self.get(pid).map(|e| e.process.clone()).unwrap_or(ProcessRef { pid, ..Default::default() });
        ProcessRef { ancestors: self.ancestors(pid), ..process }
    }

    /// Whether an event of `at` about `pid` is older than what the table holds (already applied, or
    /// superseded by a later event of the same process or of a process that reused its pid).
    fn stale(&self, pid: i32, at: SystemTime) -> bool {
        self.entries.get(&pid).is_some_and(|e| e.stamp > at)
    }

    /// A new process. A reused pid replaces the old entry; the same start seen again changes nothing,
    /// and neither does a start that comes after the process's own exec (the ptrace sensor can see a
    /// child's exec stop before its parent's fork event): a live entry with that parent is that process.
    pub fn start(&mut self, ev: &StartEvent) {
        if self
            .entries
            .get(&ev.pid)
            .is_some_and(|e| e.stamp >= ev.time || (e.exited.is_none() && e.process.ppid == Some(ev.ppid)))
        {
            return;
        }
        // A child inherits its parent's program until it execs.
        let inherited = self.entries.get(&ev.ppid).map(|p| p.process.clone()).unwrap_or_default();
        let process = ProcessRef { pid: ev.pid, ppid: Some(ev.ppid), ..inherited };
        if let Some(old) = self.entries.get(&ev.pid).and_then(|e| e.stdio.clone()) {
            self.unindex(ev.pid, Some(&old));
        }
        self.entries
            .insert(ev.pid, Entry { process, exited: None, stdio: None, stamp: ev.time, exec_time: None });
    }

    pub fn exec(&mut self, ev: &ExecEvent) {
        if self.stale(ev.pid, ev.time) {
            return;
        }
        let e = self.entries.entry(ev.pid).or_insert_with(|| Entry {
            process: ProcessRef { pid: ev.pid, ppid: Some(ev.ppid), ..Default::default() },
            exited: None,
            stdio: None,
            stamp: SystemTime::UNIX_EPOCH,
            exec_time: None,
        });
        // The enforcer records an exec unhashed; the pipeline's copy of the same event brings the hash
        // (and a copy without one does not take it away).
        if ev.binary.sha256.is_some() || e.stamp != ev.time {
            e.process.sha256 = ev.binary.sha256.clone();
            e.process.copy_of = ev.binary.copy_of.clone();
        }
        e.stamp = ev.time;
        e.exec_time = Some(ev.time);
        e.process.exe = Some(ev.binary.path.clone());
        e.process.args = ev.args.clone();
        e.exited = None;
        let old = e.stdio.replace([0, 1, 2].map(|i| crate::proc::parse::stdio_key(&ev.stdio[i])));
        let new = e.stdio.clone();
        self.unindex(ev.pid, old.as_ref());
        if let Some(keys) = new {
            for fd in 0..2u8 {
                if let Some(inode) = pipe_inode(&keys[usize::from(fd)]) {
                    self.pipes.entry(inode).or_default().push((ev.pid, fd));
                }
            }
        }
    }

    fn unindex(&mut self, pid: i32, keys: Option<&[String; 3]>) {
        for inode in keys.into_iter().flatten().take(2).filter_map(|k| pipe_inode(k)) {
            if let Some(v) = self.pipes.get_mut(&inode) {
                v.retain(|(p, _)| *p != pid);
                if v.is_empty() {
                    self.pipes.remove(&inode);
                }
            }
        }
    }

    /// The other end of pipe `inode` among processes seen at their exec: the holder of it as `fd` (0:
    /// the reader, 1: the writer), other than `pid`; the most recent one when several.
    pub fn pipe_peer(&self, inode: u64, fd: u8, pid: i32) -> Option<ProcessRef> {
        let holders = self.pipes.get(&inode)?;
        let (peer, _) = holders.iter().rev().find(|(p, f)| *f == fd && *p != pid)?;
        self.get(*peer).map(|e| e.process.clone())
    }

    /// `now`: when it was seen (exited entries are kept [`EXITED_RETENTION`] from then).
    pub fn exit(&mut self, ev: &ExitEvent, now: Instant) {
        if self.stale(ev.pid, ev.time) {
            return;
        }
        if let Some(e) = self.entries.get_mut(&ev.pid) {
            e.stamp = ev.time;
            if e.exited.is_none() {
                e.exited = Some(now);
                self.exited.push_back((now, ev.pid));
            }
        }
        self.prune(now);
    }

    /// Marks as exited every process not in `live` (all pids in /proc now) that no exit event reported.
    /// Under the seccomp sensor nothing reports the exit of a process runwarden did not fork (only
    /// execs are seen), so without this every exec'd pid stayed in the table until its pid was reused:
    /// 33 MiB after 30 minutes of a 50-exec/s workload (the soak benchmark, 2026-12-05).
    /// `listed`: a time before /proc was listed; entries written since (by the enforcer, while the
    /// pass ran) may be missing from `live` without being gone.
    pub fn reconcile(&mut self, live: &std::collections::HashSet<i32>, listed: SystemTime, now: Instant) {
        for e in self.entries.values_mut() {
            if e.exited.is_none() && e.stamp <= listed && !live.contains(&e.process.pid) {
                e.exited = Some(now);
                self.exited.push_back((now, e.process.pid));
            }
        }
        self.prune(now);
    }

    /// Drops exited entries older than the retention or beyond the bound.
    pub fn prune(&mut self, now: Instant) {
        while let Some((at, pid)) = self.exited.front().copied() {
            if now.duration_since(at) < EXITED_RETENTION && self.exited.len() <= EXITED_MAX_ENTRIES {
                break;
            }
            self.exited.pop_front();
            // Only remove if the entry is still that exited process (the pid may have been reused).
            if self.entries.get(&pid).is_some_and(|e| e.exited == Some(at)) {
                if let Some(e) = self.entries.remove(&pid) {
                    self.unindex(pid, e.stdio.as_ref());
                }
            }
        }
    }

    /// The programs exec'd in `[from, to]` (live or exited since), with their parents' names, sorted,
    /// each once: the candidates for a file event that no process could be named for.
    pub fn programs_execd_between(&self, from: SystemTime, to: SystemTime) -> Vec<RecentProgram> {
        let name =
            |e: &Entry| e.process.exe.as_deref().map(|x| x.rsplit('/').next().unwrap_or(x).to_string());
        let mut out: Vec<RecentProgram> = self
            .entries
            .values()
            .filter(|e| e.exec_time.is_some_and(|t| t >= from && t <= to))
            .filter_map(|e| {
                let parent = e.process.ppid.and_then(|p| self.entries.get(&p)).and_then(name);
                Some(RecentProgram { name: name(e)?, parent: parent.unwrap_or_default() })
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn get(&self, pid: i32) -> Option<&Entry> {
        self.entries.get(&pid)
    }

    /// The ancestor chain of `pid`, nearest first, as far as the table knows it.
    pub fn ancestors(&self, pid: i32) -> Vec<ProcessRef> {
        match self.entries.get(&pid).and_then(|e| e.process.ppid) {
            Some(ppid) => self.ancestors_from(ppid),
            None => Vec::new(),
        }
    }

    /// The chain that starts at `parent` (included), nearest first.
    pub fn ancestors_from(&self, parent: i32) -> Vec<ProcessRef> {
        let mut out = Vec::new();
        let mut cur = Some(parent);
        while let Some(p) = cur {
            if out.len() >= ANCESTORS_MAX || p <= 0 || out.iter().any(|a: &ProcessRef| a.pid == p) {
                break;
            }
            let e = self.entries.get(&p);
            out.push(e.map(|e| e.process.clone()).unwrap_or(ProcessRef { pid: p, ..Default::default() }));
            cur = e.and_then(|e| e.process.ppid);
        }
        out
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Origin;
    use crate::events::{Binary, Sensor, Stdio};
    use std::time::SystemTime;

    fn start(pid: i32, ppid: i32) -> StartEvent {
        StartEvent { time: SystemTime::now(), pid, ppid, origin: Origin::Fork }
    }

    fn exit(pid: i32) -> ExitEvent {
        ExitEvent { time: SystemTime::now(), pid, code: Some(0), signal: None }
    }

    fn exec(pid: i32, ppid: i32, exe: &str) -> ExecEvent {
        ExecEvent {
            time: SystemTime::now(),
            sensor: Sensor::Ptrace,
            pid,
            former_tid: None,
            ppid,
            uid: 0,
            euid: 0,
            gid: 0,
            egid: 0,
            binary: Binary {
                path: exe.into(),
                deleted: false,
                memfd: false,
                size: None,
                sha256: None,
                verdict: None,
                key: None,
                ..Default::default()
            },
            args: vec![exe.into()],
            arguments_truncated: false,
            cwd: None,
            env: vec![],
            stdio: [Stdio::Closed, Stdio::Closed, Stdio::Closed],
            ancestors: vec![],
            ..Default::default()
        }
    }

    #[test]
    fn lineage_survives_exits() {
        let mut t = ProcessTable::default();
        t.start(&start(10, 1));
        t.exec(&exec(10, 1, "/usr/bin/python3"));
        t.start(&start(11, 10));
        t.exec(&exec(11, 10, "/bin/sh"));
        t.start(&start(12, 11));
        assert_eq!(t.get(12).unwrap().process.exe.as_deref(), Some("/bin/sh"), "fork inherits the program");
        t.exec(&exec(12, 11, "/usr/bin/curl"));
        t.exit(&exit(11), Instant::now());
        let a = t.ancestors(12);
        let chain: Vec<_> = a.iter().map(|a| (a.pid, a.exe.clone())).collect();
        assert_eq!(
            chain,
            vec![(11, Some("/bin/sh".into())), (10, Some("/usr/bin/python3".into())), (1, None)]
        );
    }

    #[test]
    fn exited_entries_are_bounded() {
        let mut t = ProcessTable::default();
        let now = Instant::now();
        for pid in 0..(EXITED_MAX_ENTRIES as i32 + 100) {
            t.start(&start(pid + 2, 1));
            t.exit(&exit(pid + 2), now);
        }
        assert!(t.len() <= EXITED_MAX_ENTRIES + 1);
        t.prune(now + EXITED_RETENTION + Duration::from_secs(1));
        assert!(t.is_empty());
    }

    #[test]
    fn ancestor_cycles_terminate() {
        let mut t = ProcessTable::default();
        t.start(&start(5, 6));
        t.start(&start(6, 5));
        assert_eq!(t.ancestors(5).len(), 2);
    }

    #[test]
    fn processes_gone_from_proc_are_forgotten_without_an_exit_event() {
        // The seccomp sensor reports execs only: nothing says when these exit.
        let mut t = ProcessTable::default();
        for pid in 100..110 {
            t.exec(&exec(pid, 1, "/bin/true"));
        }
        t.exec(&exec(7, 1, "/usr/bin/python3"));
        let start = Instant::now();
        let live: std::collections::HashSet<i32> = [1, 7].into_iter().collect();
        t.reconcile(&live, SystemTime::now(), start);
        // Still there for the retention (late findings describe them), and marked exited.
        assert!(t.get(105).is_some_and(|e| e.exited.is_some()));
        assert!(t.get(7).is_some_and(|e| e.exited.is_none()), "a live process is kept as it is");
        // Gone after it; the live one stays.
        t.reconcile(&live, SystemTime::now(), start + EXITED_RETENTION + std::time::Duration::from_secs(1));
        assert!(t.get(105).is_none());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn events_applied_twice_or_late_change_nothing() {
        // The enforcer applies each event at the stop; the pipeline applies the same copy later.
        let mut t = ProcessTable::default();
        let parent = exec(10, 1, "/bin/sh");
        let fork = start(11, 10);
        let mut child = exec(11, 10, "/usr/bin/nc");
        t.exec(&parent);
        t.start(&fork);
        t.exec(&child);
        // The pipeline, behind: the start again, then the exec with its hash.
        t.start(&fork);
        assert_eq!(
            t.get(11).unwrap().process.exe.as_deref(),
            Some("/usr/bin/nc"),
            "a late start must not undo the exec"
        );
        child.binary.sha256 = Some("ab".repeat(32));
        t.exec(&child);
        assert_eq!(t.get(11).unwrap().process.sha256, child.binary.sha256);
        // The unhashed copy of the same exec (the enforcer's) does not take the hash away.
        child.binary.sha256 = None;
        t.exec(&child);
        assert!(t.get(11).unwrap().process.sha256.is_some());
        // An older exec of the same pid, applied late, is ignored.
        let mut older = exec(11, 10, "/bin/sh");
        older.time = fork.time;
        t.exec(&older);
        assert_eq!(t.get(11).unwrap().process.exe.as_deref(), Some("/usr/bin/nc"));
    }

    #[test]
    fn a_late_exit_does_not_end_a_process_that_reused_the_pid() {
        let mut t = ProcessTable::default();
        t.start(&start(20, 1));
        let old_exit = exit(20);
        t.exit(&old_exit, Instant::now());
        assert!(t.get(20).is_some_and(|e| e.exited.is_some()));
        let reused = exec(20, 1, "/usr/bin/python3");
        t.exec(&reused);
        t.exit(&old_exit, Instant::now());
        assert!(t.get(20).is_some_and(|e| e.exited.is_none()));
    }

    #[test]
    fn processes_recorded_after_the_listing_are_not_taken_for_gone() {
        let mut t = ProcessTable::default();
        let listed = SystemTime::now();
        t.exec(&exec(30, 1, "/bin/sh"));
        t.reconcile(&std::collections::HashSet::new(), listed, Instant::now());
        assert!(t.get(30).is_some_and(|e| e.exited.is_none()));
    }

    #[test]
    fn pipe_peers_are_found_both_ways_and_forgotten_with_the_process() {
        let mut t = ProcessTable::default();
        let mut decoder = exec(40, 10, "/usr/bin/base64");
        decoder.stdio = [Stdio::Pipe { inode: 5 }, Stdio::Pipe { inode: 6 }, Stdio::Closed];
        let mut shell = exec(41, 10, "/bin/sh");
        shell.stdio = [Stdio::Pipe { inode: 6 }, Stdio::Closed, Stdio::Closed];
        t.exec(&decoder);
        assert_eq!(t.pipe_peer(6, 0, 40), None, "no reader yet");
        t.exec(&shell);
        assert_eq!(t.pipe_peer(6, 0, 40).map(|p| p.pid), Some(41), "base64's stdout is read by sh");
        assert_eq!(t.pipe_peer(6, 1, 41).map(|p| p.pid), Some(40), "sh's stdin is written by base64");
        assert_eq!(t.pipe_peer(5, 1, 40), None, "nobody writes base64's stdin");
        // A new exec of the shell with other stdio takes it out of that pipe.
        let mut again = exec(41, 10, "/usr/bin/id");
        again.stdio = [Stdio::Closed, Stdio::Closed, Stdio::Closed];
        t.exec(&again);
        assert_eq!(t.pipe_peer(6, 0, 40), None);
        // Gone for good once pruned.
        t.exit(&exit(40), Instant::now());
        t.prune(Instant::now() + EXITED_RETENTION + Duration::from_secs(1));
        assert!(t.pipes.is_empty(), "{:?}", t.pipes);
    }

    #[test]
    fn a_start_that_comes_after_the_exec_keeps_the_exec() {
        let mut t = ProcessTable::default();
        let mut child = exec(50, 10, "/usr/bin/curl");
        child.stdio = [Stdio::Closed, Stdio::Pipe { inode: 9 }, Stdio::Closed];
        t.exec(&child);
        t.start(&start(50, 10));
        assert_eq!(t.get(50).unwrap().process.exe.as_deref(), Some("/usr/bin/curl"));
        assert_eq!(t.pipe_peer(9, 1, 51).map(|p| p.pid), Some(50));
        // A pid reused by a child of another parent is a new process.
        t.start(&start(50, 11));
        assert_eq!(t.get(50).unwrap().process.exe, None);
        assert_eq!(t.pipe_peer(9, 1, 51), None);
    }
}
