//! The seccomp exec sensor: every execve and execveat of the workload waits in the kernel for one
//! answer from this thread, which reads what will run, reports it, and lets it go on.
//!
//! Why (docs and ARCHITECTURE.md, "Exec sensors"): a seccomp filter returning
//! `SECCOMP_RET_USER_NOTIF` is inherited by every thread and child, so forks and threads cost
//! nothing and each exec costs one round trip, where ptrace costs four stops per fork+exec and two
//! per thread. Nothing escapes the filter (CLONE_UNTRACED changes nothing), a stopped process stays
//! `T`, the workload can use ptrace itself, and an enforcing rule refuses an exec (EPERM) before the
//! program exists instead of killing it.
//!
//! The thread does nothing but this: it waits on the listener, reads the caller's memory and /proc,
//! pushes the event to the pipeline, and answers. It is woken by the kernel directly; it never waits
//! on the pipeline (the queue only makes it wait when it is full, as the tracer does: every exec
//! must be seen). Hashing and everything else happen later, on the pipeline thread, from the
//! program file opened here (so a program deleted right after its exec is still hashed).
//!
//! Failing open: a panic while handling one notification answers that notification with CONTINUE
//! and counts it; a panic of the loop itself hands the listener to [`respond_only`], which answers
//! every later call with CONTINUE for as long as the workload lives (the listener must never be
//! closed while filtered tasks live: each exec would then fail with ENOSYS). runwarden logs what it
//! lost either way.
#![forbid(unsafe_code)]

pub mod exec;
pub mod mem;
pub mod resolve;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::Serialize;

use crate::events::{EventSender, GateDecision, ProcessEvent, StopGate};
use crate::proc::capture::{FsIds, ProcReader};
use crate::sys::notify::{Listener, Notif, Ready};
use crate::sys::seccomp::{notified, Abi, Notified, Tag};

use exec::{ExecCall, Read};

/// How long a wait on the listener lasts before the loop looks at its shutdown flag.
const WAIT_SLICE_MS: i32 = 200;

pub struct NotifyConfig {
    pub proc_root: PathBuf,
    pub env_names: Vec<String>,
    /// Rules with an enforcing action (`RUNWARDEN_MODE=enforce`), evaluated while the call waits
    /// (`respond::enforce`, which reports its findings itself).
    pub enforcer: Option<Box<dyn StopGate>>,
    /// For tests of the fail-open path: panic while handling the Nth notification (1-based).
    pub panic_at: Option<u64>,
}

/// What the sensor handled, logged when it ends.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyStats {
    pub notifications: u64,
    /// Execs reported (the program will run).
    pub execs: u64,
    /// Exec attempts the kernel refuses (a PATH search's misses): not reported.
    pub failed_execs: u64,
    /// Calls whose caller was interrupted or killed while we read it (read again if restarted).
    pub vanished: u64,
    /// Execs whose caller could not be read (reported as lost).
    pub unreadable: u64,
    /// Execs read from /proc after they happened (callers that dropped privileges).
    pub read_after_exec: u64,
    pub syscalls: u64,
    /// Execs refused by an enforcing rule (EPERM).
    pub blocked: u64,
    /// Notifications whose handling panicked (each answered with CONTINUE).
    pub panics: u64,
    /// An enforcing `stop` rule fired: the instance must be replaced.
    pub stopped_by_policy: bool,
}

/// The running sensor: its thread and the flag that ends it once the workload is gone.
pub struct NotifySensor {
    handle: JoinHandle<NotifyStats>,
    shutdown: Arc<AtomicBool>,
}

impl NotifySensor {
    /// Ends the thread once no workload process is left (the tracer loop saw ECHILD) and returns what
    /// it counted.
    pub fn finish(self) -> NotifyStats {
        self.shutdown.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_else(|_| {
            tracing::error!("the seccomp sensor thread died");
            NotifyStats::default()
        })
    }
}

/// Starts the sensor thread on `listener`.
pub fn spawn(listener: Listener, cfg: NotifyConfig, events: EventSender) -> std::io::Result<NotifySensor> {
    let shutdown = Arc::new(AtomicBool::new(false));
    let flag = shutdown.clone();
    let listener = Arc::new(listener);
    let handle = std::thread::Builder::new().name("rw-seccomp".into()).spawn(move || {
        let mut sensor = Sensor {
            reader: ProcReader::new(cfg.proc_root.clone()),
            programs: resolve::Known::default(),
            listener: listener.clone(),
            cfg,
            events,
            stats: NotifyStats::default(),
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sensor.run(&flag)));
        if outcome.is_err() {
            sensor.stats.panics += 1;
            tracing::error!(
                "the seccomp sensor failed; from now on every exec of the workload runs unreported (fail open)"
            );
            respond_only(&listener, &flag, &mut sensor.stats);
        }
        sensor.stats
    })?;
    Ok(NotifySensor { handle, shutdown })
}

/// Answers every notification with CONTINUE until the workload is gone: the listener stays open, so
/// the workload keeps running as if runwarden were not there.
fn respond_only(listener: &Listener, shutdown: &AtomicBool, stats: &mut NotifyStats) {
    loop {
        match listener.wait(WAIT_SLICE_MS) {
            Ok(Ready::Notification) => {
                if let Ok(Some(n)) = listener.recv() {
                    stats.notifications += 1;
                    stats.unreadable += 1;
                    let _ = listener.respond(n.id, None);
                }
            }
            Ok(Ready::Gone) => return,
            Ok(Ready::Idle) | Err(_) if shutdown.load(Ordering::Relaxed) => return,
            Ok(Ready::Idle) | Err(_) => {}
        }
    }
}

struct Sensor {
    reader: ProcReader,
    /// Programs already resolved (path, header, canonical name), by identity.
    programs: resolve::Known,
    listener: Arc<Listener>,
    cfg: NotifyConfig,
    events: EventSender,
    stats: NotifyStats,
}

/// An enforcing decision as the sensor acts on it: `None` lets the call run; `Some(stop)` refuses it,
/// and `stop` also ends the workload.
fn refusal(decision: Option<GateDecision>) -> Option<bool> {
    match decision? {
        GateDecision::Allow => None,
        GateDecision::Kill => Some(false),
        GateDecision::Stop => Some(true),
    }
}

/// How a notification is answered.
enum Answer {
    Continue,
    Fail(i32),
    /// Let it run, then read the new program from /proc: the caller could not be read before its
    /// exec (see [`Sensor::read_after_exec`]).
    ContinueThenRead(i32),
}

/// How long the sensor waits for an exec it could not read beforehand to show in /proc.
const READ_AFTER_EXEC_MAX: std::time::Duration = std::time::Duration::from_millis(20);

impl Sensor {
    fn run(&mut self, shutdown: &AtomicBool) {
        loop {
            match self.listener.wait(WAIT_SLICE_MS) {
                Ok(Ready::Notification) => self.receive(),
                // Every filtered task has been reaped: nothing can ever come again.
                Ok(Ready::Gone) => return,
                Ok(Ready::Idle) if shutdown.load(Ordering::Relaxed) => return,
                Ok(Ready::Idle) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // poll(2) on a descriptor we own fails only for lack of memory; keep answering.
                    tracing::warn!(error = %e, "seccomp sensor: waiting on the listener failed");
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
    }

    fn receive(&mut self) {
        let n = match self.listener.recv() {
            Ok(Some(n)) => n,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "seccomp sensor: cannot receive a notification");
                return;
            }
        };
        self.stats.notifications += 1;
        let panic_now = self.cfg.panic_at == Some(self.stats.notifications);
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert!(!panic_now, "seccomp sensor: panic requested by a test");
            self.handle(&n)
        }));
        let answer = answer.unwrap_or_else(|_| {
            self.stats.panics += 1;
            tracing::error!(
                pid = n.pid,
                "internal error while handling an exec; it runs unreported (fail open)"
            );
            Answer::Continue
        });
        let (error, read_after) = match answer {
            Answer::Continue => (None, None),
            Answer::Fail(errno) => (Some(errno), None),
            Answer::ContinueThenRead(tid) => (None, Some(tid)),
        };
        match self.listener.respond(n.id, error) {
            Ok(true) => {}
            // Interrupted meanwhile: a restarted call brings a new notification.
            Ok(false) => self.stats.vanished += 1,
            Err(e) => tracing::warn!(pid = n.pid, error = %e, "seccomp sensor: cannot answer a notification"),
        }
        if let Some(tid) = read_after {
            self.read_after_exec(tid);
        }
    }

    /// A process that changed its credentials (setpriv, gosu, su-exec dropping root) is not dumpable
    /// until its next exec, and runwarden without CAP_SYS_PTRACE (Docker's default capabilities) may
    /// then read neither its memory nor its /proc links (ptrace_may_access). The exec resets the
    /// dumpable flag (for a program that is not setuid), so the new program is read from /proc right
    /// after it, as the ptrace sensor reads it, with this thread's fsuid set to the process's. Only
    /// these rare execs wait here, at most [`READ_AFTER_EXEC_MAX`].
    fn read_after_exec(&mut self, tid: i32) {
        let deadline = std::time::Instant::now() + READ_AFTER_EXEC_MAX;
        loop {
            match self.reader.exec_event(tid, None, crate::events::Sensor::Seccomp, &self.cfg.env_names) {
                Ok(mut ev) => {
                    // Held open now: a short-lived program is still hashed after it is gone.
                    if ev.binary.held.is_none() {
                        let exe = self.cfg.proc_root.join(format!("{tid}/exe"));
                        ev.binary.held = std::fs::File::open(exe)
                            .ok()
                            .and_then(crate::events::HeldFile::new)
                            .map(Arc::new);
                    }
                    self.stats.execs += 1;
                    self.stats.read_after_exec += 1;
                    self.events.send(ProcessEvent::Exec(Box::new(ev)));
                    return;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(_) if std::time::Instant::now() >= deadline => break,
                Err(_) => std::thread::sleep(std::time::Duration::from_micros(50)),
            }
        }
        self.stats.unreadable += 1;
        tracing::warn!(
            pid = tid,
            "seccomp sensor: an exec could not be read before or after it ran; it runs unreported"
        );
    }

    fn handle(&mut self, n: &Notif) -> Answer {
        match notified(n.data.arch, n.data.nr, n.data.args[0]) {
            Some(Notified::Exec { abi, at }) => self.on_exec(n, abi, at),
            Some(Notified::Listed(tag)) => self.on_syscall(n, tag),
            None => Answer::Continue,
        }
    }

    /// Reads an exec, retried with the caller's filesystem ids when /proc refuses us (a process
    /// that dropped root, read by a root without CAP_SYS_PTRACE: `proc::capture`).
    fn read_exec(&mut self, tid: i32, call: ExecCall, abi: Abi) -> std::io::Result<Read> {
        match self.try_read_exec(tid, call, abi) {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                let st = self.reader.status(tid)?;
                let _as_caller = FsIds::switch(st.euid, st.egid);
                self.try_read_exec(tid, call, abi)
            }
            other => other,
        }
    }

    fn try_read_exec(&mut self, tid: i32, call: ExecCall, abi: Abi) -> std::io::Result<Read> {
        let (source, page) = mem::Remote::open(&self.cfg.proc_root, tid, call.path)?;
        let mut mem = mem::Mem::new(source, exec::pointer_bytes(abi)).with_page(page);
        exec::read(&mut self.reader, &mut mem, &mut self.programs, tid, call, &self.cfg.env_names)
    }

    fn on_exec(&mut self, n: &Notif, abi: Abi, at: bool) -> Answer {
        let tid = n.pid as i32;
        let read = self.read_exec(tid, ExecCall::from_args(at, n.data.args), abi);
        // seccomp_unotify(2): what was read is only the held call's if the id is still valid.
        if !self.listener.id_valid(n.id) {
            self.stats.vanished += 1;
            return Answer::Continue;
        }
        let ev = match read {
            Ok(Read::Runs(ev)) => ev,
            Ok(Read::Fails(_)) => {
                self.stats.failed_execs += 1;
                return Answer::Continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Answer::ContinueThenRead(tid)
            }
            Err(e) => {
                self.stats.unreadable += 1;
                tracing::warn!(pid = tid, error = %e, "seccomp sensor: an exec could not be read; it runs unreported");
                return Answer::Continue;
            }
        };
        self.stats.execs += 1;
        if let Some(gate) = self.cfg.enforcer.as_mut() {
            if let Some(stop) = refusal(Some(gate.exec(&ev))) {
                self.stats.blocked += 1;
                tracing::warn!(pid = ev.pid, stop, "enforcement: exec of {} refused (EPERM)", ev.binary.path);
                if stop {
                    self.stop_workload();
                }
                return Answer::Fail(libc::EPERM);
            }
        }
        // Queued before the answer: the exec event is in the pipeline before the program can run,
        // fork or exit, so the pipeline sees a process's events in order.
        self.events.send(ProcessEvent::Exec(ev));
        Answer::Continue
    }

    fn on_syscall(&mut self, n: &Notif, tag: Tag) -> Answer {
        let tid = n.pid as i32;
        let pid = self.reader.status(tid).map(|s| s.tgid).ok().filter(|t| *t > 0).unwrap_or(tid);
        let source = mem::Remote::open(&self.cfg.proc_root, tid, 0).ok();
        let mut memory = source.map(|(s, _)| mem::Mem::new(s, exec::pointer_bytes(tag.abi)));
        let mut read = |addr: u64, len: usize| memory.as_mut().and_then(|m| m.bytes(addr, len));
        let ev = crate::sensors::ptrace::syscall::event_of(
            &self.cfg.proc_root,
            tid,
            pid,
            tag,
            n.data.args,
            &mut read,
        );
        if !self.listener.id_valid(n.id) {
            self.stats.vanished += 1;
            return Answer::Continue;
        }
        self.stats.syscalls += 1;
        let mut answer = Answer::Continue;
        if let Some(stop) = refusal(self.cfg.enforcer.as_mut().map(|gate| gate.syscall(&ev))) {
            // Killed while its call waits: the call never runs (the EPERM is never seen).
            if let Err(e) = crate::sys::signal::send(pid, libc::SIGKILL) {
                tracing::error!(pid, error = %e, "enforcement: cannot kill the process");
            }
            tracing::warn!(pid, stop, "enforcement: process killed at its syscall {}", ev.name);
            if stop {
                self.stop_workload();
            }
            answer = Answer::Fail(libc::EPERM);
        }
        self.events.send(ProcessEvent::Syscall(Box::new(ev)));
        answer
    }

    /// An enforcing `stop` rule fired: the workload gets SIGTERM (as Cloud Run would send it) and
    /// runwarden will exit non-zero, so the platform replaces the instance.
    fn stop_workload(&mut self) {
        if !self.stats.stopped_by_policy {
            self.stats.stopped_by_policy = true;
            tracing::warn!("enforcement: stopping the workload so the instance is replaced");
            if let Some(dest) = crate::sys::signal::forward_target() {
                let _ = crate::sys::signal::send(dest, libc::SIGTERM);
            }
        }
    }
}
