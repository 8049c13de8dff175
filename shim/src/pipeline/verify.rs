//! What actually ran, checked against what the seccomp sensor read.
//!
//! The seccomp sensor reads an exec's path and arguments from the caller's memory *before* the kernel
//! copies them (seccomp_unotify(2): another thread may change them in between). So each exec it
//! reports is checked once the exec has happened: when `/proc/PID/exe` is the file the sensor opened,
//! the kernel's copy of argv (`/proc/PID/cmdline`) must be what was read; when it is neither that file
//! nor the program the process ran before, the path was swapped under the sensor. Either is a finding
//! (`event: mismatch`). An exec that failed after all leaves the old program in place and is dropped
//! quietly; so is a process that is gone before it could be checked.
//!
//! A program may rewrite its own argv later (setproctitle); it is checked within milliseconds of its
//! exec, and a title rewrite changes the number of arguments (one string), which is not reported.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::events::{ExecEvent, FileKey};
use crate::proc::capture::ProcReader;

/// How long an exec may take to show in /proc before its check is dropped (an exec that failed).
const VERIFY_WINDOW: Duration = Duration::from_secs(2);
/// Pending checks kept at most (a storm of execs must not grow this without bound).
const PENDING_MAX: usize = 4096;

struct Pending {
    event: ExecEvent,
    since: Instant,
}

/// What a check found.
#[derive(Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Not decided yet: the exec has not shown in /proc.
    Wait,
    /// Done, nothing to report (as read, or gone, or the exec failed).
    Fine,
    /// The process runs other arguments, or another program, than the sensor read.
    Mismatch { running_path: String, running_args: Vec<String> },
}

#[derive(Default)]
pub struct Verifier {
    pending: HashMap<i32, Pending>,
    /// Checks dropped because the table was full.
    pub dropped: u64,
    reader: Option<ProcReader>,
}

/// The decision for one exec from what /proc says now (pure: tested below).
pub fn judge(
    event_key: FileKey,
    before: Option<FileKey>,
    event_args: &[String],
    now_key: Option<FileKey>,
    now_args: &[String],
) -> bool {
    let Some(now) = now_key else { return false };
    let same_file = |a: FileKey, b: FileKey| a.dev == b.dev && a.ino == b.ino;
    if same_file(now, event_key) {
        return now_args.len() == event_args.len() && now_args != event_args;
    }
    // Neither the inspected program nor the one before the exec: the path was swapped.
    before.is_some_and(|b| !same_file(now, b))
}

impl Verifier {
    /// Remembers an exec reported by the seccomp sensor (the latest exec of a pid replaces older ones).
    pub fn expect(&mut self, ev: &ExecEvent) {
        if ev.binary.key.is_none() {
            return;
        }
        if self.pending.len() >= PENDING_MAX && !self.pending.contains_key(&ev.pid) {
            self.dropped += 1;
            return;
        }
        let mut event = ev.clone();
        event.binary.held = None;
        self.pending.insert(ev.pid, Pending { event, since: Instant::now() });
    }

    /// A process exited: nothing left to check.
    pub fn forget(&mut self, pid: i32) {
        self.pending.remove(&pid);
    }

    /// Checks every pending exec; returns the inspected events whose process runs something else,
    /// with what it runs.
    pub fn check(&mut self, proc_root: &Path) -> Vec<(ExecEvent, CheckOutcome)> {
        let mut out = Vec::new();
        let now = Instant::now();
        let reader = self.reader.get_or_insert_with(|| ProcReader::new(proc_root));
        self.pending.retain(|pid, p| {
            let outcome = check_one(reader, *pid, &p.event);
            match outcome {
                CheckOutcome::Wait => now.duration_since(p.since) < VERIFY_WINDOW,
                CheckOutcome::Fine => false,
                m @ CheckOutcome::Mismatch { .. } => {
                    out.push((p.event.clone(), m));
                    false
                }
            }
        });
        out
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

fn check_one(reader: &mut ProcReader, pid: i32, ev: &ExecEvent) -> CheckOutcome {
    let Some(key) = ev.binary.key else { return CheckOutcome::Fine };
    let proc_root = reader.root().to_path_buf();
    let exe = proc_root.join(format!("{pid}/exe"));
    let Ok(now_key) = crate::proc::files::stat_key(&exe) else { return CheckOutcome::Fine };
    let same = now_key.dev == key.dev && now_key.ino == key.ino;
    let before_same = ev.replaced.is_some_and(|b| b.dev == now_key.dev && b.ino == now_key.ino);
    if !same && (before_same || ev.replaced.is_none()) {
        return CheckOutcome::Wait;
    }
    // The same file before and after (or a vfork child still sharing its parent's memory, whose
    // cmdline is the parent's): the exec has happened only once the auxiliary vector changed. An
    // unreadable one cannot tell, so nothing is reported (a missed check, never a false finding).
    if same && before_same {
        match (ev.replaced_auxv, reader.auxv_hash(pid)) {
            (Some(before), Some(now)) if before != now => {}
            _ => return CheckOutcome::Wait,
        }
    }
    let Ok(raw) = std::fs::read(proc_root.join(format!("{pid}/cmdline"))) else { return CheckOutcome::Fine };
    let (args, _) = crate::proc::parse::parse_cmdline(&raw, true);
    if judge(key, ev.replaced, &ev.args, Some(now_key), &args) {
        let link = std::fs::read_link(&exe).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let (running_path, _, _) = crate::proc::parse::parse_exe_link(&link);
        CheckOutcome::Mismatch { running_path, running_args: args }
    } else {
        CheckOutcome::Fine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ino: u64) -> FileKey {
        FileKey { dev: 1, ino, size: 10, mtime_ns: 0, ctime_ns: 0 }
    }

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn mismatches_are_changed_arguments_or_a_third_program() {
        let read = v(&["sh", "-c", ": A; sleep 1"]);
        // As read.
        assert!(!judge(key(5), Some(key(1)), &read, Some(key(5)), &read));
        // The kernel copied other arguments.
        assert!(judge(key(5), Some(key(1)), &read, Some(key(5)), &v(&["sh", "-c", ": B; sleep 1"])));
        // A title rewrite (one string) is not a mismatch.
        assert!(!judge(key(5), Some(key(1)), &read, Some(key(5)), &v(&["sh: worker"])));
        // Still the old program: not decided here (the caller waits, then drops it).
        assert!(!judge(key(5), Some(key(1)), &read, Some(key(1)), &read));
        // A third program: the path was swapped after it was read.
        assert!(judge(key(5), Some(key(1)), &read, Some(key(9)), &read));
        // Gone.
        assert!(!judge(key(5), Some(key(1)), &read, None, &read));
    }
}
