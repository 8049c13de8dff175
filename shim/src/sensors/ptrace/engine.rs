//! The tracer loop: one `waitpid(-1, __WALL)` that handles every ptrace stop and reaps every child.
//!
//! Runs on the thread that seized the workload (ptrace attaches to a thread, not a process) and is the
//! only caller of `wait` in runwarden. Each stop does the minimum before the tracee is restarted: at an
//! exec stop it reads the /proc files that vanish with the process; everything else is handed to the
//! pipeline. Stops per fork+exec of a short program: the parent's fork event, the child's first stop,
//! its exec event, and the parent's SIGCHLD signal-delivery-stop (ptrace(2): every signal stops a
//! tracee, even an ignored one); the child's exit is a wait notification, not a stop.
//!
//! When the main process has exited, the remaining descendants get SIGTERM, then SIGKILL once the
//! grace period is over; the loop ends when no child and no tracee is left (ECHILD).

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use libc::pid_t;
use serde::Serialize;

use super::stop::{classify, SpawnKind, Stop};
use super::tasks::Tasks;
use crate::events::{
    EventSender, ExitEvent, GateDecision, Origin, ProcessEvent, Sensor, StartEvent, StopGate, Tracking,
};
use crate::proc::capture::ProcReader;
use crate::proc::tree::descendants;
use crate::sys;
use crate::sys::ptrace;

/// How often the loop looks for exits while waiting out the grace period.
const SHUTDOWN_POLL_INTERVAL_MS: u64 = 5;
/// After the grace period, how often SIGKILL is sent again (a process forked while the previous round
/// was being sent would otherwise keep the loop waiting).
const KILL_REPEAT_INTERVAL_MS: u64 = 100;

pub struct TracerConfig {
    pub mode: Tracking,
    /// Rules with an enforcing action (`RUNWARDEN_MODE=enforce`), evaluated at exec stops.
    pub enforcer: Option<Box<dyn StopGate>>,
    pub grace: Duration,
    pub env_names: Vec<String>,
    pub proc_root: PathBuf,
    /// runwarden's own pid, the root of the tree it supervises.
    pub self_pid: pid_t,
}

/// The start event of the workload's main process, a child of runwarden.
pub fn main_start(pid: pid_t, self_pid: pid_t) -> ProcessEvent {
    ProcessEvent::Start(StartEvent { time: SystemTime::now(), pid, ppid: self_pid, origin: Origin::Main })
}

/// How the main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MainExit {
    Exited(i32),
    Killed(i32),
}

impl MainExit {
    /// The exit code runwarden passes on: the code, or 128+N for a death by signal N (like a shell).
    pub fn code(self) -> i32 {
        match self {
            MainExit::Exited(c) => c,
            MainExit::Killed(s) => 128 + s,
        }
    }
}

/// Counters of what the tracer handled, logged when it ends.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub stops: u64,
    pub execs: u64,
    pub processes: u64,
    pub threads: u64,
    pub exits: u64,
    pub signals_delivered: u64,
    pub group_stops: u64,
    pub vanished: u64,
    /// Seccomp stops of the opt-in syscall mode.
    pub syscalls: u64,
}

pub struct TracerOutcome {
    pub main: MainExit,
    /// An enforcing rule with the `stop` action fired: the instance must be replaced.
    pub stopped_by_policy: bool,
    /// False when the main process ended before its first exec (the exec failed).
    pub main_exec_seen: bool,
    pub stats: Stats,
}

struct Shutdown {
    deadline: Instant,
    /// When SIGKILL was last sent to the leftovers.
    last_kill: Option<Instant>,
}

pub struct Tracer<'a> {
    cfg: TracerConfig,
    events: &'a EventSender,
    on_main_exit: &'a dyn Fn(),
    reader: ProcReader,
    tasks: Tasks,
    main_pid: pid_t,
    main_exec_seen: bool,
    main_exit: Option<MainExit>,
    shutdown: Option<Shutdown>,
    stopped_by_policy: bool,
    stats: Stats,
}

impl<'a> Tracer<'a> {
    pub fn new(
        cfg: TracerConfig,
        main_pid: pid_t,
        events: &'a EventSender,
        on_main_exit: &'a dyn Fn(),
    ) -> Self {
        let reader = ProcReader::new(cfg.proc_root.clone());
        let mut tasks = Tasks::default();
        if cfg.mode == Tracking::Ptrace {
            tasks.insert(main_pid, main_pid);
        }
        Tracer {
            cfg,
            events,
            on_main_exit,
            reader,
            tasks,
            main_pid,
            main_exec_seen: false,
            main_exit: None,
            shutdown: None,
            stopped_by_policy: false,
            stats: Stats::default(),
        }
    }

    /// Runs until the main process has exited and every other descendant is gone.
    pub fn run(mut self) -> TracerOutcome {
        // Under the seccomp sensor the main process's start was reported before its exec could be.
        if self.cfg.mode != Tracking::Seccomp {
            self.events.send(main_start(self.main_pid, self.cfg.self_pid));
        }
        loop {
            let waited = match self.shutdown {
                None => sys::wait_any(false),
                Some(_) => self.wait_during_shutdown(),
            };
            match waited {
                Ok(Some((pid, status))) => self.handle_guarded(pid, status),
                Ok(None) => {}
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::error!(error = %e, "waitpid failed; runwarden stops supervising");
                    break;
                }
            }
            if self.main_exit.is_some() && self.shutdown.is_none() {
                self.begin_shutdown();
            }
        }
        TracerOutcome {
            // ECHILD before the main process was reaped cannot happen (it is our child); if it does,
            // report a failure rather than a success.
            main: self.main_exit.unwrap_or(MainExit::Exited(1)),
            main_exec_seen: self.main_exec_seen || self.cfg.mode != Tracking::Ptrace,
            stopped_by_policy: self.stopped_by_policy,
            stats: self.stats,
        }
    }

    /// Handles one report; a bug in handling it must not end tracing (the tracer thread's exit would
    /// SIGKILL every tracee through EXITKILL), so a panic is logged and the tracee is resumed.
    fn handle_guarded(&mut self, pid: pid_t, status: i32) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(pid, status)));
        if outcome.is_err() {
            tracing::error!(pid, status, "internal error while handling a ptrace stop; the task is resumed");
            if libc::WIFSTOPPED(status) {
                let _ = ptrace::cont(pid, 0);
            }
        }
    }

    fn handle(&mut self, pid: pid_t, status: i32) {
        let Some(stop) = classify(status) else { return };
        match stop {
            Stop::Exited { code } => self.on_gone(pid, MainExit::Exited(code)),
            Stop::Killed { signal, .. } => self.on_gone(pid, MainExit::Killed(signal)),
            Stop::Signal { signal } => {
                self.stats.stops += 1;
                self.stats.signals_delivered += 1;
                self.restart(pid, signal);
            }
            Stop::GroupStop { .. } => {
                self.stats.stops += 1;
                self.stats.group_stops += 1;
                // Leave it stopped, but able to report SIGCONT (PTRACE_CONT would silently resume it).
                if let Err(e) = ptrace::listen(pid) {
                    if e.raw_os_error() != Some(libc::ESRCH) {
                        tracing::warn!(pid, error = %e, "PTRACE_LISTEN failed; resuming the task");
                        self.restart(pid, 0);
                    }
                }
            }
            Stop::Trap => {
                self.stats.stops += 1;
                // A new task's first stop can arrive before its parent's fork/clone event.
                if self.tasks.tgid(pid).is_none() {
                    let tgid = self.reader.status(pid).map(|s| s.tgid).ok().filter(|t| *t > 0).unwrap_or(pid);
                    self.tasks.insert(pid, tgid);
                }
                self.restart(pid, 0);
            }
            Stop::Spawned { kind } => {
                self.stats.stops += 1;
                self.on_spawn(pid, kind);
                self.restart(pid, 0);
            }
            Stop::Exec => {
                self.stats.stops += 1;
                self.on_exec(pid);
                self.restart(pid, 0);
            }
            Stop::Seccomp => {
                self.stats.stops += 1;
                self.on_seccomp(pid);
                self.restart(pid, 0);
            }
            Stop::OtherEvent { .. } => {
                self.stats.stops += 1;
                self.restart(pid, 0);
            }
        }
    }

    /// Restarts a stopped tracee, delivering `sig` (only ever non-zero at a signal-delivery-stop).
    fn restart(&mut self, pid: pid_t, sig: i32) {
        if let Err(e) = ptrace::cont(pid, sig) {
            if e.raw_os_error() == Some(libc::ESRCH) {
                // Killed meanwhile (SIGKILL needs no stop); its exit is reported next.
                self.stats.vanished += 1;
            } else {
                tracing::warn!(pid, signal = sig, error = %e, "PTRACE_CONT failed");
            }
        }
    }

    fn on_spawn(&mut self, parent: pid_t, kind: SpawnKind) {
        let child = match ptrace::event_msg(parent) {
            Ok(c) => c as pid_t,
            Err(_) => return,
        };
        let parent_tgid = self.tasks.tgid(parent).unwrap_or(parent);
        // Threads are clone events whose new task sits in the parent's task directory.
        let is_thread = kind == SpawnKind::Clone
            && self.reader.root().join(format!("{parent_tgid}/task/{child}")).exists();
        if is_thread {
            self.stats.threads += 1;
            self.tasks.insert(child, parent_tgid);
            return;
        }
        self.stats.processes += 1;
        self.tasks.insert(child, child);
        let origin = match kind {
            SpawnKind::Fork => Origin::Fork,
            SpawnKind::Vfork => Origin::Vfork,
            SpawnKind::Clone => Origin::Clone,
        };
        let ev = StartEvent { time: SystemTime::now(), pid: child, ppid: parent_tgid, origin };
        if let Some(enf) = self.cfg.enforcer.as_mut() {
            enf.started(&ev);
        }
        self.events.send(ProcessEvent::Start(ev));
    }

    fn on_exec(&mut self, pid: pid_t) {
        self.stats.execs += 1;
        let former = ptrace::event_msg(pid).ok().map(|t| t as pid_t).filter(|t| *t != pid);
        self.tasks.exec_collapse(pid);
        if pid == self.main_pid {
            self.main_exec_seen = true;
        }
        match self.reader.exec_event(pid, former, Sensor::Ptrace, &self.cfg.env_names) {
            Ok(ev) => {
                self.enforce(&ev);
                self.events.send(ProcessEvent::Exec(Box::new(ev)));
            }
            Err(e) => {
                tracing::debug!(pid, error = %e, "exec stop: process vanished before it could be read")
            }
        }
    }

    /// A listed syscall (the opt-in syscall mode): read it, judge it, report it. Resumed with
    /// PTRACE_CONT by the caller, so no syscall-entry/exit stops follow in either stop order.
    fn on_seccomp(&mut self, tid: pid_t) {
        let Some(tag) = ptrace::event_msg(tid).ok().and_then(sys::seccomp::untag) else { return };
        self.stats.syscalls += 1;
        let pid = self.tasks.tgid(tid).unwrap_or(tid);
        let ev = match super::syscall::capture(self.reader.root(), tid, pid, tag) {
            Ok(Some(ev)) => ev,
            Ok(None) => {
                tracing::debug!(tid, "seccomp stop of another filter (the workload's own); resumed");
                return;
            }
            Err(e) => {
                tracing::debug!(tid, error = %e, "seccomp stop: the caller vanished before it could be read");
                return;
            }
        };
        if let Some(verdict) = self.cfg.enforcer.as_mut().map(|enf| enf.syscall(&ev)) {
            // Queued before the resume: the kernel skips a call whose caller has a fatal signal
            // pending after a seccomp stop (kernel/seccomp.c, __seccomp_filter).
            self.act(pid, verdict, || format!("at its syscall {}", ev.name));
        }
        self.events.send(ProcessEvent::Syscall(Box::new(ev)));
    }

    /// Applies the enforcing rules to a process held at its exec stop (before it is resumed).
    fn enforce(&mut self, ev: &crate::events::ExecEvent) {
        let Some(enf) = self.cfg.enforcer.as_mut() else { return };
        let verdict = enf.exec(ev);
        self.act(ev.pid, verdict, || format!("at its exec of {}", ev.binary.path));
    }

    /// Carries out an enforcement decision on a process held at a stop (the gate has reported its
    /// findings).
    fn act(&mut self, pid: pid_t, decision: GateDecision, at: impl FnOnce() -> String) {
        let stop = match decision {
            GateDecision::Allow => return,
            GateDecision::Kill => false,
            GateDecision::Stop => true,
        };
        // Queued before the resume: the program dies without running another instruction.
        if let Err(e) = sys::signal::send(pid, libc::SIGKILL) {
            tracing::error!(pid, error = %e, "enforcement: cannot kill the process");
        }
        tracing::warn!(pid, stop, "enforcement: process killed {}", at());
        if stop && !self.stopped_by_policy {
            self.stopped_by_policy = true;
            tracing::warn!("enforcement: stopping the workload so the instance is replaced");
            if let Some(dest) = sys::signal::forward_target() {
                let _ = sys::signal::send(dest, libc::SIGTERM);
            }
        }
    }

    fn on_gone(&mut self, pid: pid_t, how: MainExit) {
        let tgid = self.tasks.remove(pid);
        if tgid.is_none_or(|g| g == pid) {
            self.stats.exits += 1;
            let (code, signal) = match how {
                MainExit::Exited(c) => (Some(c), None),
                MainExit::Killed(s) => (None, Some(s)),
            };
            let ev = ExitEvent { time: SystemTime::now(), pid, code, signal };
            if let Some(enf) = self.cfg.enforcer.as_mut() {
                enf.exited(&ev);
            }
            self.events.send(ProcessEvent::Exit(ev));
        }
        if pid == self.main_pid && self.main_exit.is_none() {
            self.main_exit = Some(how);
            (self.on_main_exit)();
        }
    }

    fn signal_descendants(&self, sig: i32) -> usize {
        let pids = descendants(&self.cfg.proc_root, self.cfg.self_pid);
        for pid in &pids {
            // ESRCH: it exited meanwhile, which is what we want anyway.
            let _ = sys::signal::send(*pid, sig);
        }
        pids.len()
    }

    fn begin_shutdown(&mut self) {
        // Nothing left (ECHILD) is the usual end: skip the scan of every /proc entry. ECHILD is
        // conclusive because any orphan is reparented to us (subreaper or PID 1): a descendant that
        // is not our child has a living parent that is.
        match sys::wait_any(true) {
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
                let now = Instant::now();
                self.shutdown = Some(Shutdown { deadline: now, last_kill: Some(now) });
                return;
            }
            Ok(Some((pid, status))) => self.handle_guarded(pid, status),
            _ => {}
        }
        let grace = self.cfg.grace;
        let sig = if grace.is_zero() { libc::SIGKILL } else { libc::SIGTERM };
        let n = self.signal_descendants(sig);
        if n > 0 {
            tracing::info!(
                remaining = n,
                grace_ms = grace.as_millis() as u64,
                "main process exited; sending {} to the remaining processes",
                sys::signal::name(sig)
            );
        }
        let now = Instant::now();
        self.shutdown =
            Some(Shutdown { deadline: now + grace, last_kill: (grace.is_zero() || n == 0).then_some(now) });
    }

    fn wait_during_shutdown(&mut self) -> io::Result<Option<(pid_t, i32)>> {
        let got = sys::wait_any(true)?;
        if got.is_some() {
            return Ok(got);
        }
        let now = Instant::now();
        let (deadline, last_kill) = match &self.shutdown {
            Some(sd) => (sd.deadline, sd.last_kill),
            None => return Ok(None),
        };
        let repeat = Duration::from_millis(KILL_REPEAT_INTERVAL_MS);
        if now >= deadline && last_kill.is_none_or(|t| now.duration_since(t) >= repeat) {
            let n = self.signal_descendants(libc::SIGKILL);
            if n > 0 && last_kill.is_none() {
                tracing::warn!(
                    remaining = n,
                    "grace period over; sending SIGKILL to the remaining processes"
                );
            }
            if let Some(sd) = self.shutdown.as_mut() {
                sd.last_kill = Some(now);
            }
        }
        std::thread::sleep(Duration::from_millis(SHUTDOWN_POLL_INTERVAL_MS));
        Ok(None)
    }
}
