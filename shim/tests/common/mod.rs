//! Shared harness for runwarden's end-to-end tests: locating the binaries, running runwarden under a
//! timeout (a hang fails the test instead of blocking CI), reading its JSON log lines, and looking at
//! processes through /proc.
//!
//! The tracees come from the `rw-fixtures` crate's `rw-fixture` binary, which cargo builds only when
//! the whole workspace is built: run these tests with `cargo test --workspace` (or build the workspace
//! first). A missing fixture is a panic with that instruction, never a skip.
#![allow(dead_code)] // each test binary uses a different part of the harness

#[path = "docker.rs"]
pub mod docker;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Default limit for one runwarden run in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for an expected line of output.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(10);

pub fn runwarden() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runwarden"))
}

/// `rw-fixture`, next to the runwarden binary (same target directory and profile).
pub fn fixture() -> PathBuf {
    let path = runwarden().parent().expect("runwarden has a parent directory").join("rw-fixture");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so that the rw-fixtures crate is \
         built too (or `cargo build --workspace` first)",
        path.display()
    );
    path
}

pub fn fixture_str() -> String {
    fixture().to_str().expect("UTF-8 path").to_string()
}

/// A `runwarden` command with a clean configuration: the test runner's own RUNWARDEN_* variables
/// (if any) must not change what a test checks.
///
/// `RW_TEST_SENSOR` (auto, seccomp, ptrace, poll) runs the suite under one exec sensor
/// (`RUNWARDEN_SENSOR`); integration/test.sh runs the process tests under each. A test that is about
/// one sensor sets `RUNWARDEN_SENSOR` itself, which wins.
pub fn rw() -> Command {
    let mut cmd = Command::new(runwarden());
    strip_config(&mut cmd);
    cmd
}

/// The exec sensor a run used, from its "workload started" log line ("seccomp", "ptrace", "poll").
pub fn sensor_of(out: &Output) -> String {
    out.logs()
        .iter()
        .find(|v| v["message"] == "workload started")
        .and_then(|v| v["sensor"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Every signal at its default action in the started program, whatever the test process inherited:
/// run from a shell's background job, SIGINT and SIGQUIT arrive ignored, under `nohup` SIGHUP does,
/// and runwarden rightly hands ignored signals on to the workload, which would then not be what a
/// test expects. (std already clears the signal mask and resets SIGPIPE.) A test that wants a
/// signal ignored sets it up itself, later (the fixture's `sigconf`, its own `pre_exec`).
pub fn default_signals(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: signal(2) is async-signal-safe, as pre_exec requires; SIGKILL and SIGSTOP, whose
    // action cannot change, are skipped.
    unsafe {
        cmd.pre_exec(|| {
            for sig in 1..32 {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            Ok(())
        });
    }
}

pub fn strip_config(cmd: &mut Command) {
    default_signals(cmd);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RUNWARDEN_") {
            cmd.env_remove(k);
        }
    }
    match PINNED_SENSOR.get() {
        Some(s) => {
            cmd.env("RUNWARDEN_SENSOR", s);
        }
        None => {
            if let Ok(s) = std::env::var("RW_TEST_SENSOR") {
                cmd.env("RUNWARDEN_SENSOR", s);
            }
        }
    }
}

/// The sensor every runwarden of this test binary uses, whatever `RW_TEST_SENSOR` says: for suites
/// about one sensor's internals (the ptrace tracer's stops, the RET_TRACE syscall mode).
pub static PINNED_SENSOR: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

pub fn pin_sensor(s: &'static str) {
    let _ = PINNED_SENSOR.set(s);
}

/// `runwarden -- ARGS...`
pub fn rw_run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Command {
    let mut cmd = rw();
    cmd.arg("--").args(args);
    cmd
}

pub fn require_root(what: &str) {
    // SAFETY: geteuid has no arguments and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "{what} needs root (CI runs these tests as root): run the test suite as root");
}

/// `unshare -pf --mount-proc PROGRAM ARGS...`: PROGRAM runs as PID 1 of a fresh PID namespace.
pub fn unshare_pid1(program: &std::path::Path) -> Command {
    require_root("a fresh PID namespace (unshare -p)");
    let mut cmd = Command::new("unshare");
    strip_config(&mut cmd);
    cmd.args(["-pf", "--mount-proc"]).arg(program);
    cmd
}

/// What a finished run produced.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// runwarden's JSON log lines (one object per line on stderr); other lines are skipped.
    pub fn logs(&self) -> Vec<Value> {
        json_lines(&self.stderr())
    }
    /// The `data` object of the first log line whose message is `message`.
    pub fn data_of(&self, message: &str) -> Value {
        self.logs()
            .into_iter()
            .find(|v| v["message"] == message)
            .map(|v| v["data"].clone())
            .unwrap_or_else(|| panic!("no {message:?} log line in stderr:\n{}", self.stderr()))
    }
    /// Panics with both streams when the exit code is not `want`.
    pub fn assert_code(&self, want: i32) {
        assert_eq!(
            self.code(),
            Some(want),
            "exit status {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout(),
            self.stderr()
        );
    }
}

/// The findings a `file:` sink wrote: one JSON object per line (any other line fails the test); none
/// when the file was never created.
pub fn read_findings(path: &std::path::Path) -> Vec<Value> {
    docker::complete_lines(&std::fs::read_to_string(path).unwrap_or_default())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON finding per line ({e}): {l}"))
        })
        .collect()
}

/// The pid `rw-fixture untraced-child` prints ("child PID").
pub fn untraced_child_pid(out: &Output) -> i64 {
    out.stdout()
        .trim()
        .strip_prefix("child ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no child pid: {}", out.stdout()))
}

/// runwarden's "escaped tracing" warnings, in order.
pub fn escaped_warnings(out: &Output) -> Vec<Value> {
    out.logs()
        .into_iter()
        .filter(|v| {
            v["severity"] == "WARNING" && v["message"].as_str().is_some_and(|m| m.contains("escaped tracing"))
        })
        .collect()
}

pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("severity").is_some())
        .collect()
}

/// Collects a stream in a thread; the buffer is readable while the process runs.
struct Collector {
    buf: Arc<Mutex<Vec<u8>>>,
    done: Receiver<()>,
    _handle: JoinHandle<()>,
}

impl Collector {
    fn new<R: Read + Send + 'static>(mut r: R) -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel();
        let b = buf.clone();
        let handle = std::thread::spawn(move || {
            let mut chunk = [0u8; 65536];
            loop {
                match r.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => b.lock().unwrap().extend_from_slice(&chunk[..n]),
                }
            }
            let _ = tx.send(());
        });
        Collector { buf, done, _handle: handle }
    }

    /// Everything read so far, after waiting up to `wait` for EOF (a leftover process may hold the
    /// pipe open; the caller's assertions then say what is wrong).
    fn take(&self, wait: Duration) -> Vec<u8> {
        let _ = self.done.recv_timeout(wait);
        std::mem::take(&mut *self.buf.lock().unwrap())
    }

    fn snapshot(&self) -> Vec<u8> {
        self.buf.lock().unwrap().clone()
    }
}

/// A running runwarden (or unshare) whose stdout is read line by line while it runs. Dropping it
/// kills the process and every descendant still alive.
pub struct Live {
    child: Option<Child>,
    pub pid: i32,
    lines: Receiver<String>,
    stdout_all: Arc<Mutex<Vec<u8>>>,
    stdout_done: Receiver<()>,
    stderr: Collector,
    started: Instant,
}

impl Live {
    pub fn spawn(cmd: &mut Command) -> Live {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let pid = child.id() as i32;
        let stdout = child.stdout.take().unwrap();
        let stderr = Collector::new(child.stderr.take().unwrap());
        let (tx, lines) = mpsc::channel();
        let (done_tx, stdout_done) = mpsc::channel();
        let all = Arc::new(Mutex::new(Vec::new()));
        let a = all.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = Vec::new();
            while let Ok(n) = r.read_until(b'\n', &mut line) {
                if n == 0 {
                    break;
                }
                a.lock().unwrap().extend_from_slice(&line);
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                let _ = tx.send(text);
                line.clear();
            }
            let _ = done_tx.send(());
        });
        Live { child: Some(child), pid, lines, stdout_all: all, stdout_done, stderr, started: Instant::now() }
    }

    /// The next line of stdout, or None after `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Waits for the next stdout line and asserts it is `want`.
    pub fn expect_line(&self, want: &str, context: &str) {
        match self.next_line(LINE_TIMEOUT) {
            Some(got) => assert_eq!(got, want, "{context}\n--- stderr\n{}", self.stderr_now()),
            None => panic!(
                "{context}: no line within {LINE_TIMEOUT:?} (wanted {want:?})\n--- stderr\n{}",
                self.stderr_now()
            ),
        }
    }

    /// Asserts that no stdout line arrives within `quiet`.
    pub fn expect_silence(&self, quiet: Duration, context: &str) {
        if let Some(got) = self.next_line(quiet) {
            panic!("{context}: unexpected line {got:?}");
        }
    }

    pub fn stderr_now(&self) -> String {
        String::from_utf8_lossy(&self.stderr.snapshot()).into_owned()
    }

    pub fn signal(&self, sig: i32) {
        kill(self.pid, sig);
    }

    /// Waits for the process to exit (killing the whole tree after `timeout`) and collects its output.
    pub fn wait(mut self, timeout: Duration) -> Output {
        let mut child = self.child.take().unwrap();
        let status = wait_or_kill(&mut child, timeout, &|| self.stderr_now());
        let _ = self.stdout_done.recv_timeout(Duration::from_secs(2));
        Output {
            status,
            stdout: std::mem::take(&mut *self.stdout_all.lock().unwrap()),
            stderr: self.stderr.take(Duration::from_secs(2)),
            elapsed: self.started.elapsed(),
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_tree(self.pid);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_or_kill(child: &mut Child, timeout: Duration, stderr: &dyn Fn() -> String) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let pid = child.id() as i32;
            kill_tree(pid);
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "pid {pid} did not exit within {timeout:?}; killed it and its descendants\n--- stderr\n{}",
                stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `cmd` to completion (stdin empty) under `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    run_with_input(cmd, None, timeout)
}

/// Runs `cmd` with `input` on its stdin (closed after writing) under `timeout`.
pub fn run_with_input(cmd: &mut Command, input: Option<Vec<u8>>, timeout: Duration) -> Output {
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let writer = input.map(|data| {
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        })
    });
    let out = Collector::new(child.stdout.take().unwrap());
    let err = Collector::new(child.stderr.take().unwrap());
    let status = wait_or_kill(&mut child, timeout, &|| String::from_utf8_lossy(&err.snapshot()).into_owned());
    let elapsed = started.elapsed();
    if let Some(w) = writer {
        let _ = w.join();
    }
    Output {
        status,
        stdout: out.take(Duration::from_secs(2)),
        stderr: err.take(Duration::from_secs(2)),
        elapsed,
    }
}

pub fn kill(pid: i32, sig: i32) {
    // SAFETY: kill has no memory arguments.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}): {}", std::io::Error::last_os_error());
}

/// pid, ppid and state of every process, from /proc/*/stat.
pub fn process_list() -> Vec<(i32, i32, char)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some((state, ppid)) = stat(pid) {
            out.push((pid, ppid, state));
        }
    }
    out
}

/// State letter and ppid of `pid` from /proc/<pid>/stat (the command name may hold spaces, so fields
/// are counted after the last ')').
pub fn stat(pid: i32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((state, ppid))
}

pub fn state(pid: i32) -> Option<char> {
    stat(pid).map(|s| s.0)
}

pub fn children(pid: i32) -> Vec<i32> {
    process_list().into_iter().filter(|(_, ppid, _)| *ppid == pid).map(|(p, _, _)| p).collect()
}

pub fn descendants(pid: i32) -> Vec<i32> {
    let all = process_list();
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for (c, ppid, _) in &all {
            if *ppid == p && !out.contains(c) {
                out.push(*c);
                todo.push(*c);
            }
        }
    }
    out
}

/// SIGKILLs every descendant of `pid` (leaves first is not needed: SIGKILL cannot be caught).
pub fn kill_tree(pid: i32) {
    for p in descendants(pid) {
        // SAFETY: kill has no memory arguments; ESRCH (already gone) is fine.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

/// Polls `f` every 10 ms until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The single child of `pid` (waits for it to appear).
pub fn only_child(pid: i32) -> i32 {
    wait_for(LINE_TIMEOUT, || match children(pid).as_slice() {
        [c] => Some(*c),
        _ => None,
    })
    .unwrap_or_else(|| panic!("pid {pid} has no single child: {:?}", children(pid)))
}

/// The `comm` of a process.
pub fn comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|s| s.trim_end().to_string())
}
