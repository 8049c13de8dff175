//! Enrichment on the pipeline thread: what a raw event lacks before rules see it. Executables and
//! libraries are hashed (cached), judged against the image baseline and the signatures; interpreters'
//! code is captured and scored; socket peers and lineage are filled in; processes that scanner events
//! name are read from /proc (or the table, when they are gone). Every event passes through
//! [`Enricher::enrich`] in order, so the process table sees starts, execs and exits as they happened;
//! the enforcer has applied those it saw at the stop already, which changes nothing (`table`).

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// How far before a file event that names no process an exec counts as a candidate for it: an
/// authentication program's PAM read of /etc/shadow comes milliseconds after its exec, the watcher's
/// event within a few more; a wider window takes in the unrelated programs a script runs around it.
pub const RECENT_EXEC_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

use super::baseline::{Baseline, Judge};
use super::ioc::Iocs;
use super::signatures::Signatures;
use super::table::ProcessTable;
use super::SharedState;
use super::{score, script};
use crate::events::{
    Binary, ConnectionEvent, ExecEvent, ProcessEvent, Provenance, ScriptEvidence, Sensor, SignatureHit,
    Stdio, SyscallEvent,
};
use crate::proc::capture::ProcReader;
use crate::proc::sockets::describe_socket;

/// Signatures and IoC lists, compiled once.
pub struct Intel {
    pub signatures: Signatures,
    pub iocs: Iocs,
}

impl Intel {
    /// The built-in signatures plus `policy_dir`'s `*.yar`, and its `ioc/*.txt` lists.
    pub fn load(policy_dir: Option<&std::path::Path>) -> Result<Intel, String> {
        let signatures = Signatures::load(policy_dir)?;
        let iocs = Iocs::load(policy_dir.map(|d| d.join("ioc")).as_deref())?;
        Ok(Intel { signatures, iocs })
    }
}

pub struct Enricher {
    judge: Judge,
    intel: Option<Intel>,
    /// The process table and hash cache, shared with the enforcer.
    shared: SharedState,
    /// Reads the processes scanner events are about.
    reader: ProcReader,
    proc_root: PathBuf,
    self_pid: i32,
    env_names: Vec<String>,
    /// The workload's main process: the service.
    main_pid: Option<i32>,
}

impl Enricher {
    /// `baseline`: the image baseline file, read here (on the pipeline thread, off the workload's start
    /// path); `started`: without a baseline, files changed after this count as added.
    pub fn new(
        proc_root: PathBuf,
        self_pid: i32,
        env_names: Vec<String>,
        baseline: Option<&std::path::Path>,
        started: SystemTime,
        intel: Option<Intel>,
        shared: SharedState,
    ) -> Enricher {
        let baseline = baseline.and_then(|p| match Baseline::read(p) {
            Ok(b) => {
                tracing::info!(path = %p.display(), files = b.files.len(), "image baseline loaded");
                Some(b)
            }
            Err(e) => {
                tracing::error!(error = %e, "the image baseline cannot be used; added/modified verdicts fall back to file times");
                None
            }
        });
        Enricher {
            judge: Judge::new(baseline, started),
            intel,
            shared,
            reader: ProcReader::new(proc_root.clone()),
            proc_root,
            self_pid,
            env_names,
            main_pid: None,
        }
    }

    pub fn set_main_pid(&mut self, pid: i32) {
        self.main_pid = Some(pid);
    }

    /// The process table (locked: hold it briefly, the enforcer waits at an exec stop meanwhile).
    pub fn table(&self) -> std::sync::MutexGuard<'_, ProcessTable> {
        self.shared.table.lock()
    }

    /// Forgets processes that exited long enough ago.
    pub fn prune(&mut self) {
        self.table().prune(Instant::now());
    }

    /// Forgets the processes that are gone (`live`: every pid in /proc at the scanner's last pass,
    /// listed after `listed`).
    pub fn reconcile(&mut self, live: &std::collections::HashSet<i32>, listed: SystemTime) {
        self.table().reconcile(live, listed, Instant::now());
    }

    /// (hits, misses) of the hash cache.
    pub fn hash_counts(&self) -> (u64, u64) {
        let hashes = self.shared.hashes.lock();
        (hashes.hits, hashes.misses)
    }

    /// Adds what `ev` lacks, and keeps the process table. Returns false for an event that is not worth
    /// evaluating: a mapped library that is in the image, unchanged and unsigned.
    pub fn enrich(&mut self, ev: &mut ProcessEvent) -> bool {
        match ev {
            ProcessEvent::Start(s) => self.table().start(s),
            ProcessEvent::Exit(x) => self.table().exit(x, Instant::now()),
            ProcessEvent::Exec(e) => {
                self.exec(e, true);
                self.table().exec(e);
            }
            ProcessEvent::Stdio(e) => self.exec(e, true),
            ProcessEvent::File(f) => {
                // The watcher names a process only when one held the file open: add its lineage.
                // Otherwise the programs exec'd just before are the candidates (`file.recent_programs`).
                let table = self.table();
                match f.process.as_mut() {
                    Some(a) => {
                        a.ancestors = table.ancestors(a.pid);
                        if a.ancestors.is_empty() {
                            a.ancestors = a.ppid.map(|p| table.ancestors_from(p)).unwrap_or_default();
                        }
                    }
                    None => {
                        let from = f.time.checked_sub(RECENT_EXEC_WINDOW).unwrap_or(std::time::UNIX_EPOCH);
                        f.recent_programs = table.programs_execd_between(from, f.time);
                    }
                }
            }
            // The opt-in syscall mode: the caller's program and lineage come from the table.
            ProcessEvent::Syscall(c) => c.process = Some(self.table().actor(c.pid)),
            ProcessEvent::Untraced(u) => {
                let mut p = self.snapshot(u.untraced.pid, u.time);
                p.ppid = u.untraced.ppid.unwrap_or(p.ppid);
                if p.binary.path.is_empty() {
                    p.binary.path = u.untraced.exe.clone().unwrap_or_default();
                    p.args = u.untraced.args.clone();
                }
                u.process = Some(Box::new(p));
            }
            ProcessEvent::Connection(c) => self.connection(c),
            ProcessEvent::Mismatch(m) => {
                let mut p = self.snapshot(m.process.pid, m.process.time);
                if p.binary.path.is_empty() {
                    p.binary.path = std::mem::take(&mut m.process.binary.path);
                    p.args = std::mem::take(&mut m.process.args);
                }
                m.process = p;
            }
            ProcessEvent::Library(l) => {
                self.judge_library(l.process.pid, &mut l.library);
                if !is_foreign(&l.library) {
                    return false;
                }
                l.process = self.snapshot(l.process.pid, l.time);
            }
        }
        true
    }

    fn connection(&mut self, c: &mut ConnectionEvent) {
        c.process = self.snapshot(c.process.pid, c.time);
        c.service_worker = self.main_pid.is_some_and(|m| {
            let table = self.shared.table.lock();
            let main = table.get(m);
            m != c.process.pid
                && main.is_some_and(|e| {
                    e.process.exe.as_deref() == Some(c.process.binary.path.as_str()) && e.process.args == c.process.args
                })
                // The snapshot's lineage: from the table, or from /proc for a fork the table never
                // saw (the seccomp sensor reports execs, not forks).
                && c.process.ancestors.iter().any(|a| a.pid == m)
        });
        c.remote_ioc = self.intel.as_ref().is_some_and(|i| i.iocs.ips.contains(&c.remote_ip));
    }

    /// An internet `connect` of the syscall mode, as a connection for the network rules (Stratum pools,
    /// IoC addresses): exact, before it happens, where the scanner may miss a short one.
    pub fn connection_of_call(&mut self, c: &SyscallEvent) -> Option<ConnectionEvent> {
        let inet = matches!(c.detail.family.as_deref(), Some("inet" | "inet6"));
        let (true, "connect", Some(ip), Some(port)) = (inet, c.name, c.detail.address.clone(), c.detail.port)
        else {
            return None;
        };
        let remote_ioc = self.intel.as_ref().is_some_and(|i| i.iocs.ips.contains(&ip));
        Some(ConnectionEvent {
            time: c.time,
            process: ExecEvent { sensor: Sensor::Seccomp, ..self.snapshot(c.pid, c.time) },
            protocol: if c.detail.protocol.as_deref() == Some("UDP") { "UDP" } else { "TCP" },
            local_ip: String::new(),
            local_port: 0,
            remote_ip: ip,
            remote_port: port,
            listening: false,
            inode: 0,
            main_process: false,
            service_worker: false,
            remote_ioc,
        })
    }

    /// The script an interpreter runs, scored by the model and scanned by the signatures. Piped code
    /// (`curl ... | sh`) is read from the parent's command line in the process table.
    fn script_evidence(&self, e: &ExecEvent, intel: &Intel) -> Option<ScriptEvidence> {
        let interp = script::interpreter_of(e)?;
        let parent_args = self.table().get(e.ppid).map(|p| p.process.args.clone()).unwrap_or_default();
        let captured = script::capture(e, &self.proc_root, &parent_args)?;
        let language = interp.language();
        let verdict = score::score(language, &captured.contents);
        let signatures: Vec<SignatureHit> = intel
            .signatures
            .scan_bytes(captured.contents.as_bytes())
            .into_iter()
            .map(|m| SignatureHit { rule: m.rule, family: m.family })
            .collect();
        Some(ScriptEvidence {
            language: match language {
                score::Language::Shell => "shell",
                score::Language::Python => "python",
                score::Language::Other => "other",
            },
            score: verdict.score,
            malicious: verdict.malicious || !signatures.is_empty(),
            reasons: verdict.reasons,
            signatures,
            script: captured,
        })
    }

    /// The process a scanner event is about, as it is now (from the table if it is already gone).
    fn snapshot(&mut self, pid: i32, time: SystemTime) -> ExecEvent {
        let mut p = match self.reader.exec_event(pid, None, Sensor::Scanner, &self.env_names) {
            Ok(p) => p,
            Err(_) => {
                let mut p = ExecEvent { pid, sensor: Sensor::Scanner, ..Default::default() };
                if let Some(e) = self.table().get(pid) {
                    p.ppid = e.process.ppid.unwrap_or(0);
                    p.binary.path = e.process.exe.clone().unwrap_or_default();
                    p.args = e.process.args.clone();
                }
                p
            }
        };
        p.time = time;
        self.exec(&mut p, false);
        p
    }

    /// Hash, baseline verdict, signatures and IoC family of a mapped library.
    fn judge_library(&mut self, pid: i32, lib: &mut Binary) {
        let Some(key) = lib.key else {
            return;
        };
        let path = PathBuf::from(&lib.path);
        let via_root = self.proc_root.join(format!("{pid}/root{}", lib.path));
        let candidates = [path.as_path(), via_root.as_path()];
        lib.sha256 = self.shared.hashes.lock().hash(key, &candidates);
        lib.verdict = Some(self.judge.verdict(&lib.path, lib.sha256.as_deref(), ctime_of(key.ctime_ns)));
        if let Some(intel) = self.intel.as_mut() {
            lib.signatures = intel
                .signatures
                .scan_file(key, &candidates)
                .into_iter()
                .map(|m| SignatureHit { rule: m.rule, family: m.family })
                .collect();
            lib.ioc_family = lib.sha256.as_ref().and_then(|h| intel.iocs.hashes.get(h).cloned());
        }
    }

    fn exec(&mut self, e: &mut ExecEvent, with_script: bool) {
        if let Some(key) = e.binary.key {
            hash_program(&mut self.shared.hashes.lock(), &self.proc_root, e);
            let [via_proc, by_path] = program_paths(e, &self.proc_root);
            let verdict =
                self.judge.verdict(&e.binary.path, e.binary.sha256.as_deref(), ctime_of(key.ctime_ns));
            e.binary.verdict = Some(verdict);
            e.binary.copy_of = self.judge.copy_of(&e.binary.path, e.binary.sha256.as_deref(), verdict);
            if let Some(intel) = self.intel.as_mut() {
                e.binary.signatures = intel
                    .signatures
                    .scan_file(key, &[via_proc.as_path(), by_path.as_path()])
                    .into_iter()
                    .map(|m| SignatureHit { rule: m.rule, family: m.family })
                    .collect();
                e.binary.ioc_family =
                    e.binary.sha256.as_ref().and_then(|h| intel.iocs.hashes.get(h).cloned());
            }
        }
        if let Some(intel) = self.intel.as_ref() {
            e.indicators = intel.iocs.matches_in(&e.args.join(" "));
            e.script = if with_script { self.script_evidence(e, intel) } else { None };
            if let Some(s) = &e.script {
                for url in intel.iocs.matches_in(&s.script.contents) {
                    if !e.indicators.contains(&url) {
                        e.indicators.push(url);
                    }
                }
            }
        }
        for s in e.stdio.iter_mut() {
            if let Stdio::Socket { inode, peer: peer @ None } = s {
                *peer = describe_socket(&self.proc_root, e.pid, *inode)
                    .or_else(|| describe_socket(&self.proc_root, self.self_pid, *inode));
            }
        }
        add_lineage(&self.table(), e);
    }
}

/// Ancestors from the table, nearest first; for a process unknown to it (poll mode, attached late), at
/// least the parent.
pub fn add_lineage(table: &ProcessTable, e: &mut ExecEvent) {
    e.ancestors = table.ancestors(e.pid);
    if e.ancestors.is_empty() && e.ppid > 0 {
        e.ancestors = table.ancestors_from(e.ppid);
    }
    // The pipeline view: who writes this process's stdin, who reads its stdout.
    if let Stdio::Pipe { inode } = e.stdio[0] {
        e.stdin_writer = table.pipe_peer(inode, 1, e.pid);
    }
    if let Stdio::Pipe { inode } = e.stdio[1] {
        e.stdout_reader = table.pipe_peer(inode, 0, e.pid);
    }
}

/// Where an executed program can be read: through our own fd of the program held open since the exec
/// stop (or /proc while the process lives), then by its path.
fn program_paths(e: &ExecEvent, proc_root: &std::path::Path) -> [PathBuf; 2] {
    let via_proc = match &e.binary.held {
        Some(f) => PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(f.file()))),
        None => proc_root.join(format!("{}/exe", e.pid)),
    };
    [via_proc, PathBuf::from(&e.binary.path)]
}

/// The sha256 of the program an exec runs, through the cache (the pipeline's enrichment and the
/// tracer's enforcer both use this).
pub fn hash_program(hashes: &mut super::hash::HashCache, proc_root: &std::path::Path, e: &mut ExecEvent) {
    if let Some(key) = e.binary.key {
        let [via_proc, by_path] = program_paths(e, proc_root);
        // A program held open since its exec (the seccomp sensor's, memfds, deleted files) is hashed
        // through that descriptor even when a dropper has deleted or renamed it since.
        e.binary.sha256 = match &e.binary.held {
            Some(f) => hashes.hash_held(key, f.file()),
            None => None,
        }
        .or_else(|| hashes.hash(key, &[via_proc.as_path(), by_path.as_path()]));
    }
}

fn ctime_of(ctime_ns: i128) -> Option<SystemTime> {
    u64::try_from(ctime_ns).ok().map(|ns| std::time::UNIX_EPOCH + Duration::from_nanos(ns))
}

/// A mapped library worth a look: not in the image, changed, signed by a signature or an IoC, or a memfd.
fn is_foreign(lib: &Binary) -> bool {
    matches!(lib.verdict.unwrap_or(Provenance::Unknown), Provenance::Added | Provenance::Modified)
        || !lib.signatures.is_empty()
        || lib.ioc_family.is_some()
        || lib.memfd
}
