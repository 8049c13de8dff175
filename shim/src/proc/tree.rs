//! The process tree as /proc shows it: which pids exist, their parent and start time, and which
//! descend from a given process. Shared by the tracer (signalling leftovers at shutdown) and the
//! scanner. Hand-written rather than procfs: a pass reads only three fields of `stat` per new pid, and
//! procfs parses all fifty-two of every entry.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::Path;

/// The fields of /proc/<pid>/stat a pass needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFields {
    pub state: char,
    pub ppid: i32,
    pub starttime: u64,
}

/// Parses /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses, so fields are
/// counted from the *last* ')' (proc(5)).
pub fn parse_stat(text: &str) -> Option<StatFields> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    // After ppid: pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime
    // cstime priority nice num_threads itrealvalue, then starttime.
    let starttime = f.nth(17)?.parse().ok()?;
    Some(StatFields { state, ppid, starttime })
}

/// The numeric entries of /proc: every process (thread ids are not listed at the top level).
pub fn list_pids(root: &Path) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

pub fn read_stat(root: &Path, pid: i32) -> Option<StatFields> {
    parse_stat(&std::fs::read_to_string(root.join(format!("{pid}/stat"))).ok()?)
}

/// Every live process below `ancestor` (not including it).
pub fn descendants(root: &Path, ancestor: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for pid in list_pids(root) {
        if let Some(s) = read_stat(root, pid) {
            children.entry(s.ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![ancestor];
    while let Some(p) = todo.pop() {
        if let Some(kids) = children.get(&p) {
            for k in kids {
                if *k != ancestor && !out.contains(k) {
                    out.push(*k);
                    todo.push(*k);
                }
            }
        }
    }
    out
}
