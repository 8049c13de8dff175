//! PID-1 duties and the order they happen in.
//!
//! 1. Block asynchronous signals and ignore SIGTTIN/SIGTTOU, before any thread or child exists (a
//!    signal arriving earlier than that follows the default action; from here on none is lost).
//! 2. Become a child subreaper when not PID 1, so orphans are reparented to us and reaped.
//! 3. Start the signal thread and the pipeline thread.
//! 4. On the tracer thread: fork the workload held before exec, PTRACE_SEIZE it (or fall back to
//!    polling), release it, and run the wait loop until the main process and every leftover are gone.
//! 5. Drain the pipeline and return the exit code for `main` to pass to `process::exit`.
#![forbid(unsafe_code)]

pub mod choose;
pub mod signals;

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use thiserror::Error;

use crate::config::Config;
use crate::events::{EventSender, StopGate, Tracking};
use crate::pipeline::{self, Detection, PipelineConfig};
use crate::respond::enforce::Enforcer;
use crate::sensors::notify::{self, NotifyConfig, NotifySensor};
use crate::sensors::ptrace::engine::{MainExit, Tracer, TracerConfig, TracerOutcome};
use crate::sys::signal::{self as sig, SigSet};
use crate::sys::{ptrace, spawn};
use choose::Choice;

/// Exit code when the command was not found (like a shell).
pub const EXIT_NOT_FOUND: i32 = 127;
/// Exit code when the command exists but could not be executed (like a shell).
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
/// Exit code after an enforcing `stop` rule, when the workload itself exited 0.
pub const EXIT_STOPPED_BY_POLICY: i32 = 1;

#[derive(Debug, Error)]
pub enum SupervisorError {
    #[error("cannot set up signal handling: {0}")]
    Signals(std::io::Error),
    #[error("cannot start the {0} thread: {1}")]
    Thread(&'static str, std::io::Error),
    #[error("cannot fork the workload: {0}")]
    Fork(std::io::Error),
    #[error("the command contains a NUL byte: {0:?}")]
    NulInCommand(OsString),
    #[error("RUNWARDEN_SENSOR=ptrace (or RUNWARDEN_TRACE=require), but ptrace is refused here: {0}")]
    TraceRequired(std::io::Error),
    #[error("RUNWARDEN_SENSOR=seccomp, but {0}")]
    SeccompRequired(String),
    #[error(
        "RUNWARDEN_SENSOR=ptrace (or RUNWARDEN_TRACE=require), but the seccomp filter of RUNWARDEN_SYSCALLS cannot be installed: {0}"
    )]
    SyscallModeRequired(std::io::Error),
}

/// The result of a supervised run.
pub struct RunResult {
    pub exit_code: i32,
}

fn to_cstrings(command: &[OsString]) -> Result<Vec<CString>, SupervisorError> {
    command
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| SupervisorError::NulInCommand(a.clone())))
        .collect()
}

/// Runs `command` under supervision and returns the code runwarden should exit with.
pub fn run(
    config: &Config,
    command: &[OsString],
    detection: Option<Detection>,
    enforcing: Option<crate::detect::engine::Engine>,
) -> Result<RunResult, SupervisorError> {
    let argv = to_cstrings(command)?;
    let self_pid = std::process::id() as i32;
    let proc_root = PathBuf::from("/proc");

    // (1) Signals first: nothing may be lost between here and the workload's start.
    let forwarded = SigSet::asynchronous();
    let original_mask = sig::block(&forwarded).map_err(SupervisorError::Signals)?;
    let mut restore = Vec::new();
    for s in sig::IGNORED_FOR_SELF {
        restore.push(sig::ignore(s).map_err(SupervisorError::Signals)?);
    }

    // (2) Orphans come to us even when we are not PID 1.
    if self_pid != 1 {
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            tracing::warn!(error = %e, "cannot become a child subreaper; orphans will not be reaped by runwarden");
        }
    }

    // (3) Helper threads.
    // Fault signals sent by other processes are forwarded too (from a handler; see sys::signal).
    restore.extend(sig::forward_sent_faults().map_err(SupervisorError::Signals)?);
    signals::spawn_forwarder(forwarded).map_err(|e| SupervisorError::Thread("signal", e))?;
    // The enforcer's findings reach the pipeline on their own channel (events carry no findings).
    let (enforced_tx, enforced) = std::sync::mpsc::channel();
    // One process table and hash cache for the pipeline and the enforcer at the stop.
    let shared = crate::enrich::SharedState::default();
    let enforcer = enforcing.map(|engine| {
        Box::new(Enforcer::new(engine, &proc_root, enforced_tx, shared.clone())) as Box<dyn StopGate>
    });
    let (events, pipeline) = pipeline::spawn(PipelineConfig {
        proc_root: proc_root.clone(),
        self_pid,
        scan_interval: config.scan_interval,
        env_names: config.env_capture.clone(),
        baseline: config.baseline.clone(),
        detection,
        enforced,
        shared,
    })
    .map_err(|e| SupervisorError::Thread("pipeline", e))?;
    // The file watcher's watches are in place before the workload starts; its thread feeds the
    // pipeline. A failure (no inotify here) costs the file detections only.
    let watcher = if config.watch { start_watcher(config, &proc_root, self_pid, &events) } else { None };

    // (4) The exec sensor, chosen before the fork: the child installs the seccomp sensor's filter
    // between fork and exec, or waits to be seized by the tracer thread.
    let (choice, notify_filter) = choose_sensor(config)?;
    let request = spawn::SpawnRequest {
        argv,
        original_mask,
        restore,
        // Under the seccomp sensor the syscall mode's calls go through its listener instead.
        seccomp: if notify_filter.is_some() { None } else { syscall_filter(&config.syscalls) },
        notify: notify_filter,
        seccomp_required: config.sensor.required(),
    };
    let engine_cfg = TracerConfig {
        mode: Tracking::Ptrace,
        enforcer,
        grace: config.grace,
        env_names: config.env_capture.clone(),
        proc_root,
        self_pid,
    };
    let launch = Launch {
        choice,
        required: config.sensor.required(),
        signal_group: config.signal_group,
        program: command[0].to_string_lossy().into_owned(),
        syscall_names: config.syscalls.clone(),
    };
    let tracer_events = events.clone();
    // The tracer thread owns the child: ptrace attaches to the thread that seizes.
    let tracer = std::thread::Builder::new()
        .name("rw-tracer".into())
        .spawn(move || trace_workload(request, launch, engine_cfg, &tracer_events))
        .map_err(|e| SupervisorError::Thread("tracer", e))?;
    let result = tracer.join().unwrap_or_else(|_| {
        tracing::error!("the tracer thread panicked");
        Ok(RunResult { exit_code: 1 })
    });

    // (5) Drain what the sensors reported before exiting.
    drain(watcher, events, pipeline);
    result
}

/// The exec sensor for this run, and the seccomp sensor's filter when it is the one.
fn choose_sensor(
    config: &Config,
) -> Result<(Choice, Option<crate::sys::seccomp::BpfProgram>), SupervisorError> {
    let facts = choose::Facts::gather(config.baseline.as_deref());
    let choice = choose::choose(config.sensor, &facts, crate::sys::notify::probe_listener)
        .map_err(SupervisorError::SeccompRequired)?;
    let notify_filter = match &choice {
        Choice::Seccomp { no_new_privs, .. } => {
            let indices: Vec<usize> =
                config.syscalls.iter().filter_map(|n| crate::sys::seccomp::lookup(n)).collect();
            match crate::sys::seccomp::BpfProgram::build_notify(&indices, *no_new_privs) {
                Ok(f) => Some(f),
                Err(e) => return Err(SupervisorError::SeccompRequired(e.to_string())),
            }
        }
        _ => None,
    };
    Ok((choice, notify_filter))
}

/// Stops the file watcher, closes the event queue and lets the pipeline finish what it holds.
fn drain(
    watcher: Option<crate::sensors::files::thread::WatchHandle>,
    events: EventSender,
    pipeline: pipeline::Pipeline,
) {
    if let Some(w) = watcher {
        let stats = w.stop();
        tracing::debug!(data = %serde_json::to_string(&stats).unwrap_or_default(), "file watcher finished");
    }
    drop(events);
    let stats = pipeline.finish();
    tracing::debug!(data = %serde_json::to_string(&stats).unwrap_or_default(), "pipeline finished");
    if stats.lost > 0 {
        tracing::error!(lost = stats.lost, "process events were lost because the pipeline stopped");
    }
}

fn start_watcher(
    config: &Config,
    proc_root: &std::path::Path,
    self_pid: i32,
    events: &EventSender,
) -> Option<crate::sensors::files::thread::WatchHandle> {
    use crate::sensors::files::paths::Classifier;
    use crate::sensors::files::thread;
    use crate::sensors::files::watch::WatchConfig;
    let text = |p: &std::path::Path| p.display().to_string();
    let mut sensor_files: Vec<String> = std::env::current_exe().ok().map(|p| text(&p)).into_iter().collect();
    sensor_files.extend(config.baseline.as_deref().map(text));
    let sensor_dirs: Vec<String> = config.policies.as_deref().map(text).into_iter().collect();
    let cfg = WatchConfig {
        root: config.watch_root.clone(),
        classifier: Classifier { sensor_files, sensor_dirs },
        proc_root: proc_root.to_path_buf(),
        self_pid,
        max_watches: WatchConfig::budget(),
    };
    match thread::spawn(cfg, events.clone()) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the file watcher; file detections are off");
            None
        }
    }
}

/// How long the tracer waits for the child's report on its seccomp filter (it comes within
/// microseconds; only a SIGSTOP from outside could delay it).
const SYSCALL_MODE_REPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The opt-in syscall mode's filter, built before the fork; `None` when the mode is off.
fn syscall_filter(names: &[&'static str]) -> Option<crate::sys::seccomp::BpfProgram> {
    use crate::sys::seccomp::{lookup, BpfProgram};
    if names.is_empty() {
        return None;
    }
    let indices: Vec<usize> = names.iter().filter_map(|n| lookup(n)).collect();
    // With CAP_SYS_ADMIN no no_new_privs is needed, and setuid programs keep working.
    let nnp = !crate::sys::seccomp::has_cap_sys_admin();
    match BpfProgram::build(&indices, nnp) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::error!(error = %e, "the syscall mode is off");
            None
        }
    }
}

/// After `release(true)`: whether the filter is in place, logged either way.
fn syscall_mode_outcome(
    child: &spawn::HeldChild,
    names: &[&'static str],
    required: bool,
) -> Result<bool, SupervisorError> {
    match child.filter_status(SYSCALL_MODE_REPORT_TIMEOUT) {
        Some(Ok(nnp)) => {
            tracing::info!(
                syscalls = %names.join(","),
                no_new_privs = nnp,
                "syscall mode on: the listed syscalls stop at a seccomp filter{}",
                if nnp { " (no_new_privs: setuid programs do not gain privileges)" } else { "" }
            );
            Ok(true)
        }
        outcome => {
            let err = match outcome {
                Some(Err(e)) => e,
                _ => std::io::Error::other("the workload did not report whether the filter is in place"),
            };
            if required {
                let _ = sig::send(child.pid, libc::SIGKILL);
                let _ = crate::sys::wait_any(false);
                return Err(SupervisorError::SyscallModeRequired(err));
            }
            if err.raw_os_error().is_some() {
                tracing::warn!(error = %err, "syscall mode is off: the seccomp filter cannot be installed; the workload runs without it");
            } else {
                // Silent child (stopped from outside, or gone): the filter may or may not be there.
                tracing::warn!(error = %err, "syscall mode unknown: the workload runs, perhaps without the filter");
            }
            Ok(false)
        }
    }
}

/// What the tracer thread needs besides the request and the engine's settings.
struct Launch {
    choice: Choice,
    /// The named sensor is required: without it runwarden refuses to start.
    required: bool,
    signal_group: bool,
    program: String,
    syscall_names: Vec<&'static str>,
}

/// How long the tracer waits for the child's report on its seccomp filter (it comes within
/// microseconds; only a SIGSTOP from outside could delay it).
const FILTER_REPORT_TIMEOUT: std::time::Duration = SYSCALL_MODE_REPORT_TIMEOUT;

/// Kills the held child (it has not exec'd) and collects it, before refusing to start.
fn abandon(child: &spawn::HeldChild) {
    let _ = sig::send(child.pid, libc::SIGKILL);
    let _ = crate::sys::wait_any(false);
}

/// Starts the seccomp sensor on the child's listener; `None` (after a log line) when the child
/// could not install its filter and runs without it.
fn start_notify(
    child: &mut spawn::HeldChild,
    launch: &Launch,
    engine_cfg: &mut TracerConfig,
    events: &EventSender,
) -> Result<Option<NotifySensor>, SupervisorError> {
    let (listener, nnp) = match child.release_with_listener(FILTER_REPORT_TIMEOUT) {
        Ok(l) => l,
        Err(e) if launch.required => {
            abandon(child);
            return Err(SupervisorError::SeccompRequired(format!("its filter cannot be installed: {e}")));
        }
        Err(e) => {
            tracing::warn!(error = %e, "the seccomp sensor's filter cannot be installed; the workload runs with /proc polling only");
            return Ok(None);
        }
    };
    if let Err(e) = listener.set_sync_wake_up() {
        tracing::debug!(error = %e, "seccomp listener: no synchronous wake-up (Linux < 6.6)");
    }
    events.begin(Tracking::Seccomp, child.pid);
    // Queued before the sensor runs: the main process's exec must follow its start.
    events.send(crate::sensors::ptrace::engine::main_start(child.pid, engine_cfg.self_pid));
    let cfg = NotifyConfig {
        proc_root: engine_cfg.proc_root.clone(),
        env_names: engine_cfg.env_names.clone(),
        enforcer: engine_cfg.enforcer.take(),
        panic_at: None,
    };
    let sensor =
        notify::spawn(listener, cfg, events.clone()).map_err(|e| SupervisorError::Thread("seccomp", e))?;
    if !launch.syscall_names.is_empty() {
        tracing::info!(
            syscalls = %launch.syscall_names.join(","),
            "syscall mode on: the listed syscalls wait at the seccomp sensor's listener"
        );
    }
    tracing::debug!(no_new_privs = nnp, "seccomp sensor started");
    Ok(Some(sensor))
}

fn trace_workload(
    request: spawn::SpawnRequest,
    launch: Launch,
    mut engine_cfg: TracerConfig,
    events: &EventSender,
) -> Result<RunResult, SupervisorError> {
    let program = launch.program.as_str();
    let mut child = spawn::fork_held(&request).map_err(SupervisorError::Fork)?;
    let syscalls: Vec<&'static str> = match &request.seccomp {
        Some(_) => launch.syscall_names.clone(),
        None => Vec::new(),
    };
    let extra_options = if syscalls.is_empty() { 0 } else { ptrace::TRACE_SECCOMP };
    // The child leads its own process group (sys::spawn), so -pid addresses the group.
    sig::set_forward_target(if launch.signal_group { -child.pid } else { child.pid });

    let mut notify_sensor = None;
    let mode = match &launch.choice {
        Choice::Poll { .. } => Tracking::Poll,
        Choice::Seccomp { .. } => {
            notify_sensor = start_notify(&mut child, &launch, &mut engine_cfg, events)?;
            if notify_sensor.is_some() {
                Tracking::Seccomp
            } else {
                Tracking::Poll
            }
        }
        Choice::Ptrace { .. } => match ptrace::seize_with(child.pid, extra_options) {
            Ok(()) => Tracking::Ptrace,
            Err(e) if launch.required => {
                abandon(&child);
                return Err(SupervisorError::TraceRequired(e));
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "ptrace is refused here; falling back to /proc polling (short-lived programs may be missed)"
                );
                Tracking::Poll
            }
        },
    };
    tracing::info!(mode = %mode, sensor = %mode, why = launch.choice.why(), pid = child.pid, program, "workload started");
    engine_cfg.mode = mode;
    if mode != Tracking::Seccomp {
        events.begin(mode, child.pid);
    }

    if mode != Tracking::Seccomp {
        // The filter only goes in under a tracer that takes its stops: without one, RET_TRACE is ENOSYS.
        let with_filter = !syscalls.is_empty() && mode == Tracking::Ptrace;
        if !syscalls.is_empty() && !with_filter {
            tracing::warn!(
                "syscall mode is off: it needs ptrace or the seccomp sensor, neither of which is in use"
            );
        }
        if let Err(e) = child.release(with_filter) {
            tracing::error!(error = %e, "cannot release the workload; it will run untraced");
        } else if with_filter {
            syscall_mode_outcome(&child, &syscalls, request.seccomp_required)?;
        }
    }
    // Not held in a ptrace stop, the child execs or fails on its own, so waiting for its exec result
    // is safe here (under the seccomp sensor, its thread answers the exec meanwhile).
    let early_error = if mode != Tracking::Ptrace { child.exec_error() } else { None };

    let on_main_exit = || sig::set_forward_target(0);
    let mut outcome: TracerOutcome = Tracer::new(engine_cfg, child.pid, events, &on_main_exit).run();
    tracing::debug!(data = %serde_json::to_string(&outcome.stats).unwrap_or_default(), "tracer finished");
    if let Some(sensor) = notify_sensor {
        // Every workload process is gone (the wait loop saw ECHILD): the listener can close.
        let stats = sensor.finish();
        tracing::debug!(data = %serde_json::to_string(&stats).unwrap_or_default(), "seccomp sensor finished");
        if stats.unreadable > 0 || stats.panics > 0 {
            tracing::warn!(
                unreadable = stats.unreadable,
                panics = stats.panics,
                "the seccomp sensor let some execs run unreported"
            );
        }
        outcome.stopped_by_policy |= stats.stopped_by_policy;
    }

    // An exec failure shows as a main process that exited before its first exec.
    let exec_error = early_error.or_else(|| if outcome.main_exec_seen { None } else { child.exec_error() });
    if let Some(err) = exec_error {
        let code = match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => EXIT_NOT_FOUND,
            _ => EXIT_NOT_EXECUTABLE,
        };
        tracing::error!(program, exit_code = code, "cannot execute {program}: {err}");
        return Ok(RunResult { exit_code: code });
    }
    let mut code = outcome.main.code();
    if outcome.stopped_by_policy && code == 0 {
        // The platform must replace this instance: never report success after a policy stop.
        code = EXIT_STOPPED_BY_POLICY;
    }
    match outcome.main {
        MainExit::Exited(c) => tracing::info!(exit_code = c, "workload exited"),
        MainExit::Killed(s) => {
            tracing::info!(signal = %sig::name(s), exit_code = code, "workload killed by a signal")
        }
    }
    Ok(RunResult { exit_code: code })
}
