//! PID-1 duties and the order they happen in.
//!
//! 1. Block asynchronous signals and ignore SIGTTIN/SIGTTOU, before any thread or child exists (a
//!    signal arriving earlier than that follows the default action; from here on none is lost).
//! 2. Become a child subreaper when not PID 1, so orphans are reparented to us and reaped.
//! 3. Start the signal thread and the pipeline thread.
//! 4. On the tracer thread: fork the workload held before exec, PTRACE_SEIZE it (or fall back to
//!    polling), release it, and run the wait loop until the main process and every leftover are gone.
//! 5. Drain the pipeline and return the exit code for `main` to pass to `process::exit`.

pub mod signals;

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use thiserror::Error;

use crate::config::{Config, TraceSetting};
use crate::pipeline::{self, Detection, EventSender, PipelineConfig};
use crate::sys::signal::{self as sig, SigSet};
use crate::sys::{ptrace, spawn};
use crate::trace::engine::{Engine, EngineConfig, MainExit, Outcome};
use crate::trace::Mode;

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
    #[error("RUNWARDEN_TRACE=require, but ptrace is refused here: {0}")]
    TraceRequired(std::io::Error),
    #[error(
        "RUNWARDEN_TRACE=require, but the seccomp filter of RUNWARDEN_SYSCALLS cannot be installed: {0}"
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
    enforcer: Option<crate::trace::enforce::Enforcer>,
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
    let (events, pipeline) = pipeline::spawn(PipelineConfig {
        proc_root: proc_root.clone(),
        self_pid,
        scan_interval: config.scan_interval,
        env_names: config.env_capture.clone(),
        baseline: config.baseline.clone(),
        detection,
    })
    .map_err(|e| SupervisorError::Thread("pipeline", e))?;
    // The file watcher's watches are in place before the workload starts; its thread feeds the
    // pipeline. A failure (no inotify here) costs the file detections only.
    let watcher = if config.watch { start_watcher(config, &proc_root, self_pid, &events) } else { None };

    // (4) The tracer thread owns the child: ptrace attaches to the thread that seizes.
    let request = spawn::SpawnRequest {
        argv,
        original_mask,
        restore,
        seccomp: syscall_filter(&config.syscalls),
        seccomp_required: config.trace == TraceSetting::Require,
    };
    let trace_setting = config.trace;
    let engine_cfg = EngineConfig {
        mode: Mode::Ptrace,
        enforcer,
        grace: config.grace,
        env_names: config.env_capture.clone(),
        proc_root,
        self_pid,
    };
    let program = command[0].to_string_lossy().into_owned();
    let tracer_events = events.clone();
    let signal_group = config.signal_group;
    let syscall_names = config.syscalls.clone();
    let tracer = std::thread::Builder::new()
        .name("rw-tracer".into())
        .spawn(move || {
            let names = &syscall_names;
            trace_workload(request, trace_setting, engine_cfg, &tracer_events, signal_group, &program, names)
        })
        .map_err(|e| SupervisorError::Thread("tracer", e))?;
    let result = tracer.join().unwrap_or_else(|_| {
        tracing::error!("the tracer thread panicked");
        Ok(RunResult { exit_code: 1 })
    });

    // (5) Drain what the sensors reported before exiting.
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
    result
}

fn start_watcher(
    config: &Config,
    proc_root: &std::path::Path,
    self_pid: i32,
    events: &EventSender,
) -> Option<crate::fs::watch::WatchHandle> {
    use crate::fs::watch::{self, Classifier, WatchConfig};
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
    match watch::spawn(cfg, events.clone()) {
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
fn syscall_filter(names: &[&'static str]) -> Option<crate::sys::seccomp::Filter> {
    use crate::sys::seccomp::{lookup, Filter};
    if names.is_empty() {
        return None;
    }
    let indices: Vec<usize> = names.iter().filter_map(|n| lookup(n)).collect();
    // With CAP_SYS_ADMIN no no_new_privs is needed, and setuid programs keep working.
    let nnp = !crate::sys::seccomp::has_cap_sys_admin();
    match Filter::build(&indices, nnp) {
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

fn trace_workload(
    request: spawn::SpawnRequest,
    setting: TraceSetting,
    mut engine_cfg: EngineConfig,
    events: &EventSender,
    signal_group: bool,
    program: &str,
    syscall_names: &[&'static str],
) -> Result<RunResult, SupervisorError> {
    let mut child = spawn::fork_held(&request).map_err(SupervisorError::Fork)?;
    let syscalls: Vec<&'static str> = match &request.seccomp {
        Some(_) => syscall_names.to_vec(),
        None => Vec::new(),
    };
    let extra_options = if syscalls.is_empty() { 0 } else { ptrace::TRACE_SECCOMP };
    // The child leads its own process group (sys::spawn), so -pid addresses the group.
    sig::set_forward_target(if signal_group { -child.pid } else { child.pid });

    let mode = match setting {
        TraceSetting::Off => Mode::Poll,
        TraceSetting::Auto | TraceSetting::Require => match ptrace::seize_with(child.pid, extra_options) {
            Ok(()) => Mode::Ptrace,
            Err(e) if setting == TraceSetting::Require => {
                let _ = sig::send(child.pid, libc::SIGKILL);
                let _ = crate::sys::wait_any(false);
                return Err(SupervisorError::TraceRequired(e));
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "ptrace is refused here; falling back to /proc polling (short-lived programs may be missed)"
                );
                Mode::Poll
            }
        },
    };
    tracing::info!(mode = %mode, pid = child.pid, program, "workload started");
    engine_cfg.mode = mode;
    events.begin(mode, child.pid);

    // The filter only goes in under a tracer that takes its stops: without one, RET_TRACE is ENOSYS.
    let with_filter = !syscalls.is_empty() && mode == Mode::Ptrace;
    if !syscalls.is_empty() && !with_filter {
        tracing::warn!("syscall mode is off: it needs ptrace, which is not in use");
    }
    if let Err(e) = child.release(with_filter) {
        tracing::error!(error = %e, "cannot release the workload; it will run untraced");
    } else if with_filter {
        syscall_mode_outcome(&child, &syscalls, request.seccomp_required)?;
    }
    // Untraced, the child cannot sit in a ptrace stop, so waiting for its exec result is safe here.
    let early_error = if mode == Mode::Poll { child.exec_error() } else { None };

    let on_main_exit = || sig::set_forward_target(0);
    let outcome: Outcome = Engine::new(engine_cfg, child.pid, events, &on_main_exit).run();
    tracing::debug!(data = %serde_json::to_string(&outcome.stats).unwrap_or_default(), "tracer finished");

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
