//! Which process holds a file open right now: inotify never says who acted, so the watcher looks
//! through `/proc/*/fd` (best effort; a finding says when no process was found).
//!
//! std, not procfs: the lookup stops at the first holder, reading only `fd/` links until then, and
//! `exe`, `cmdline` and one field of `stat` of that one process.
#![forbid(unsafe_code)]

use std::path::Path;

use crate::events::ProcessRef;

/// A process that has `real` open right now (best effort: inotify does not say who acted).
pub fn holder(proc_root: &Path, real: &Path, self_pid: i32) -> Option<ProcessRef> {
    for e in std::fs::read_dir(proc_root).ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if pid == self_pid {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(e.path().join("fd")) else { continue };
        let holds = fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == real));
        if !holds {
            continue;
        }
        let exe = std::fs::read_link(e.path().join("exe")).ok().map(|p| p.display().to_string());
        let args: Vec<String> = std::fs::read(e.path().join("cmdline"))
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let ppid = std::fs::read_to_string(e.path().join("stat")).ok().and_then(|s| {
            let rest = &s[s.rfind(')')? + 1..];
            rest.split_whitespace().nth(1)?.parse().ok()
        });
        return Some(ProcessRef { pid, ppid, exe, args, ..Default::default() });
    }
    None
}
