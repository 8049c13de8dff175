//! Attack scenarios as runwarden reports them, with the process lineage incidents are grouped by.

use serde_json::{json, Value};

use super::finding;

/// A finding by process `pid` (child of `parent`), with ancestors nearest first as (pid, binary path).
pub fn by_process(
    category: &str,
    severity: &str,
    instance: &str,
    time: &str,
    pid: i64,
    parent: i64,
    ancestors: &[(i64, &str)],
) -> Value {
    let mut f = finding(category, severity, "api", instance, time);
    f["processes"][0]["pid"] = json!(pid);
    f["processes"][0]["parentPid"] = json!(parent);
    f["ancestors"] = ancestors
        .iter()
        .map(|(p, path)| json!({ "pid": p, "binary": { "path": path }, "args": [path] }))
        .collect();
    f
}

/// The README demo, `runwarden -- sh -c 'echo aWQ= | base64 -d | sh; cp /bin/true /dev/shm/x && /dev/shm/x'`:
/// the outer sh is 10, its children base64 11, sh 12 and /dev/shm/x 13.
pub fn demo(instance: &str, minute: u32) -> Vec<Value> {
    let t = |s: u32| format!("2026-11-20T10:{minute:02}:{s:02}Z");
    let under_sh = [(10, "/bin/sh"), (1, "/runwarden")];
    vec![
        by_process("Malicious Script Executed", "CRITICAL", instance, &t(1), 10, 1, &[(1, "/runwarden")]),
        by_process(
            "Defense Evasion: Base64 Encoded Shell Script Executed",
            "MEDIUM",
            instance,
            &t(2),
            11,
            10,
            &under_sh,
        ),
        by_process("Malicious Script Executed", "CRITICAL", instance, &t(3), 12, 10, &under_sh),
        by_process(
            "Privilege Escalation: Fileless Execution in /dev/shm",
            "HIGH",
            instance,
            &t(4),
            13,
            10,
            &under_sh,
        ),
        by_process("Added Binary Executed", "LOW", instance, &t(5), 13, 10, &under_sh),
    ]
}
