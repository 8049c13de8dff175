//! Enforcement at the exec stop (`RUNWARDEN_MODE=enforce`): rules whose action is `kill` or `stop` are
//! evaluated on the tracer thread while the new program is still held before its first instruction.
//!
//! - `kill`: SIGKILL is queued before the tracee is resumed; a SIGKILLed task leaves the ptrace stop
//!   straight for do_exit, so the program never runs a single instruction.
//! - `stop`: the offending program is killed the same way, the workload gets SIGTERM (as Cloud Run would
//!   send it) and runwarden exits non-zero, so the platform replaces the instance.
//!
//! Lineage and hashes come from the pipeline's own process table and hash cache (`enrich::SharedState`),
//! which the enforcer writes at each stop, before the pipeline has the event: conditions on `parent`
//! and `ancestors` see the parent's latest exec even when the pipeline is behind. Only rules with an
//! enforcing action run here; everything else is evaluated later, off the sensor's thread.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Instant;

use runwarden_contract::{Action, Finding};

use crate::detect::engine::{Engine, Mode};
use crate::enrich::enricher::{add_lineage, hash_program};
use crate::enrich::SharedState;
use crate::events::{ExecEvent, ExitEvent, GateDecision, ProcessEvent, StartEvent, StopGate, SyscallEvent};

pub struct Enforcer {
    engine: Engine,
    shared: SharedState,
    proc_root: PathBuf,
    /// Where the findings go: the pipeline ships them like every other.
    findings: Sender<Finding>,
}

impl Enforcer {
    pub fn new(engine: Engine, proc_root: &Path, findings: Sender<Finding>, shared: SharedState) -> Enforcer {
        Enforcer { engine, findings, shared, proc_root: proc_root.into() }
    }

    /// Sends the findings on and says what to do with the process: their actions are the rules'
    /// (only enforcing rules run here).
    fn report(&self, findings: Vec<Finding>) -> GateDecision {
        if findings.is_empty() {
            return GateDecision::Allow;
        }
        let stop = findings.iter().any(|f| f.action == Some(Action::ContainerStopped));
        for f in findings {
            // The pipeline is gone only when runwarden is shutting down; the kill still happens.
            let _ = self.findings.send(f);
        }
        if stop {
            GateDecision::Stop
        } else {
            GateDecision::Kill
        }
    }
}

impl StopGate for Enforcer {
    fn started(&mut self, ev: &StartEvent) {
        self.shared.table.lock().start(ev);
    }

    fn exited(&mut self, ev: &ExitEvent) {
        self.shared.table.lock().exit(ev, Instant::now());
    }

    /// Evaluates the enforcing rules on a call held at its seccomp stop. Findings name the program and
    /// lineage this table knows (no hashing: the binary was judged at its exec).
    fn syscall(&mut self, ev: &SyscallEvent) -> GateDecision {
        let mut ev = ev.clone();
        ev.process = Some(self.shared.table.lock().actor(ev.pid));
        let findings = self.engine.evaluate(&ProcessEvent::Syscall(Box::new(ev)), Mode::Enforce);
        self.report(findings)
    }

    /// Evaluates the enforcing rules on an exec captured at its stop, with the facts the sensor's thread
    /// has: the lineage of the shared table and, when a rule matches, the program's sha256 through the
    /// shared cache (hashing every exec here would slow every exec down; acting is rare). The findings
    /// come from the same `Engine::evaluate` as the pipeline's, complete.
    fn exec(&mut self, ev: &ExecEvent) -> GateDecision {
        let mut ev = ev.clone();
        {
            let mut table = self.shared.table.lock();
            add_lineage(&table, &mut ev);
            table.exec(&ev);
        }
        let mut event = ProcessEvent::Exec(Box::new(ev));
        let mut findings = self.engine.evaluate(&event, Mode::Enforce);
        if let (false, ProcessEvent::Exec(e)) = (findings.is_empty(), &mut event) {
            if e.binary.sha256.is_none() {
                hash_program(&mut self.shared.hashes.lock(), &self.proc_root, e);
                if e.binary.sha256.is_some() {
                    findings = self.engine.evaluate(&event, Mode::Enforce);
                }
            }
        }
        self.report(findings)
    }
}
