//! Enforcement at the exec stop (`RUNWARDEN_MODE=enforce`): rules whose action is `kill` or `stop` are
//! evaluated on the tracer thread while the new program is still held before its first instruction.
//!
//! - `kill`: SIGKILL is queued before the tracee is resumed; a SIGKILLed task leaves the ptrace stop
//!   straight for do_exit, so the program never runs a single instruction.
//! - `stop`: the offending program is killed the same way, the workload gets SIGTERM (as Cloud Run would
//!   send it) and runwarden exits non-zero, so the platform replaces the instance.
//!
//! The enforcer keeps its own small lineage table (fed by the same stops) so conditions on `parent` and
//! `ancestors` work without waiting for the pipeline. Only rules with an enforcing action run here;
//! everything else is evaluated later, off the tracer thread.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::detect::engine::{Engine, Mode};
use crate::detect::finding::Finding;
use crate::detect::policy::RuleAction;
use crate::event::{ExecEvent, FileActor, SyscallEvent};
use crate::fs::hash::HashCache;
use crate::proc::table::ProcessTable;

/// What to do with the process held at its exec stop.
pub enum Verdict {
    Allow,
    Kill(Vec<Finding>),
    Stop(Vec<Finding>),
}

pub struct Enforcer {
    engine: Engine,
    table: ProcessTable,
    hashes: HashCache,
    proc_root: PathBuf,
}

impl Enforcer {
    pub fn new(engine: Engine, proc_root: &Path) -> Enforcer {
        Enforcer {
            engine,
            table: ProcessTable::default(),
            hashes: HashCache::default(),
            proc_root: proc_root.into(),
        }
    }

    pub fn on_start(&mut self, pid: i32, ppid: i32) {
        self.table.start(pid, ppid);
    }

    pub fn on_exit(&mut self, pid: i32) {
        self.table.exit(pid, Instant::now());
    }

    /// Evaluates the enforcing rules on a call held at its seccomp stop. Findings name the program and
    /// lineage this table knows (no hashing: the binary was judged at its exec).
    pub fn on_syscall(&mut self, ev: &SyscallEvent) -> Verdict {
        let mut ev = ev.clone();
        ev.process = Some(actor_of(&self.table, ev.pid));
        let matched = self.engine.evaluate_syscall_rules(&ev, Mode::Enforce);
        if matched.is_empty() {
            return Verdict::Allow;
        }
        let stop = matched.iter().any(|(a, _)| *a == RuleAction::Stop);
        let findings = matched.into_iter().map(|(_, f)| f).collect();
        if stop {
            Verdict::Stop(findings)
        } else {
            Verdict::Kill(findings)
        }
    }

    /// Evaluates the enforcing rules on an exec captured at its stop.
    pub fn on_exec(&mut self, ev: &ExecEvent) -> Verdict {
        let mut ev = ev.clone();
        ev.ancestors = self.table.ancestors(ev.pid);
        if ev.ancestors.is_empty() && ev.ppid > 0 {
            ev.ancestors = self.table.ancestors_from(ev.ppid);
        }
        self.table.exec(&ev);
        let matched = self.engine.evaluate_exec_rules(&ev, Mode::Enforce);
        if matched.is_empty() {
            return Verdict::Allow;
        }
        // Acting is rare: only then is the binary hashed here, for the finding's sha256 and link.
        let sha = ev.binary.key.and_then(|key| {
            let via_proc = self.proc_root.join(format!("{}/exe", ev.pid));
            self.hashes.hash(key, &[via_proc.as_path(), Path::new(&ev.binary.path)])
        });
        let stop = matched.iter().any(|(a, _)| *a == RuleAction::Stop);
        let findings = matched
            .into_iter()
            .map(|(_, mut f)| {
                if let (Some(sha), Some(b)) = (&sha, f.processes.first_mut().and_then(|p| p.binary.as_mut()))
                {
                    b.sha256 = Some(sha.clone());
                    f.external_uri = Some(format!("https://www.virustotal.com/gui/file/{sha}"));
                }
                f
            })
            .collect();
        if stop {
            Verdict::Stop(findings)
        } else {
            Verdict::Kill(findings)
        }
    }
}

/// The caller of a syscall as a process table knows it: program, arguments, parent, lineage.
pub fn actor_of(table: &ProcessTable, pid: i32) -> FileActor {
    let entry = table.get(pid);
    FileActor {
        pid,
        ppid: entry.map(|e| e.ppid),
        exe: entry.and_then(|e| e.exe.clone()),
        args: entry.map(|e| e.args.clone()).unwrap_or_default(),
        ancestors: table.ancestors(pid),
        sha256: entry.and_then(|e| e.sha256.clone()),
    }
}
