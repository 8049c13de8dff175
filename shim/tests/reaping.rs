//! Reaping and leftovers (tini, dumb-init): orphans reparented to runwarden are reaped, whether it is
//! PID 1 of a PID namespace or a child subreaper; processes left when the main process exits get
//! SIGTERM, then SIGKILL once the grace period is over.
//! Run with `cargo test --workspace` as root (the PID-1 case uses `unshare -p`).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;

/// Runs `rw-fixture orphans 100`, then polls for up to 30 s until no process other than this shell has
/// runwarden ($PPID) as its parent: live orphans and unreaped zombies both count as left over. (The
/// bound is generous on purpose: on a loaded 2-vCPU CI machine 100 traced orphans took over 5 s.)
/// The script must write nothing to stderr: it shares that pipe with runwarden's log, and dash writes
/// "sh: 8: " and the rest of an error in two calls, between which a log line can land and be spoiled
/// (dash opens `< "$f"` before it applies a later `2>/dev/null`, hence the braces).
const ORPHANS_SCRIPT: &str = r#"
"$1" orphans 100 || exit 10
rw=$PPID
i=0
while [ $i -lt 300 ]; do
    left=0
    for f in /proc/[0-9]*/stat; do
        { read -r line < "$f"; } 2>/dev/null || continue
        rest=${line##*) }
        set -- $rest
        if [ "$2" = "$rw" ] && [ "$f" != "/proc/$$/stat" ]; then
            left=$((left + 1))
            state=$1
        fi
    done
    if [ $left = 0 ]; then echo "none left"; exit 0; fi
    sleep 0.1
    i=$((i + 1))
done
echo "left: $left (last state $state)"
exit 1
"#;

/// Longer than the script's own 30 s poll, so a slow run fails with the script's message, not a kill.
const ORPHANS_TIMEOUT: Duration = Duration::from_secs(90);

fn check_orphans_reaped(out: &Output) {
    out.assert_code(0);
    let stdout = out.stdout();
    let orphans: HashSet<i64> =
        stdout.lines().filter_map(|l| l.strip_prefix("orphan ")).map(|p| p.parse().unwrap()).collect();
    assert_eq!(orphans.len(), 100, "{stdout}");
    assert!(stdout.ends_with("none left\n"), "{stdout}");
    // Every orphan's exit was seen by runwarden (it reaped them: they were its children).
    let exited: HashSet<i64> = out
        .logs()
        .iter()
        .filter(|v| v["message"] == "process exited")
        .filter_map(|v| v["data"]["pid"].as_i64())
        .collect();
    let missing: Vec<_> = orphans.difference(&exited).collect();
    if !missing.is_empty() {
        // What runwarden did say about them, for the diagnosis.
        let about: Vec<String> = out
            .logs()
            .iter()
            .filter(|v| missing.iter().any(|p| v["data"]["pid"].as_i64() == Some(**p)))
            .map(|v| v.to_string())
            .collect();
        let stderr = out.stderr();
        let broken: Vec<&str> =
            stderr.lines().filter(|l| serde_json::from_str::<serde_json::Value>(l).is_err()).collect();
        let exits = out.logs().iter().filter(|v| v["message"] == "process exited").count();
        panic!(
            "no exit event for orphans {missing:?}; their log lines: {about:#?}\n{exits} exit lines; \
             lines that are not JSON: {broken:#?}"
        );
    }
}

#[test]
fn tini_100_orphans_are_reaped_by_runwarden_as_pid_1() {
    let mut cmd = unshare_pid1(&runwarden());
    cmd.env("RUNWARDEN_LOG", "debug").args(["--", "sh", "-c", ORPHANS_SCRIPT, "sh"]).arg(fixture());
    check_orphans_reaped(&run(&mut cmd, ORPHANS_TIMEOUT));
}

#[test]
fn tini_100_orphans_are_reaped_by_runwarden_as_subreaper() {
    let mut cmd = rw_run(&["sh", "-c", ORPHANS_SCRIPT, "sh"]);
    cmd.env("RUNWARDEN_LOG", "debug").arg(fixture());
    let out = run(&mut cmd, ORPHANS_TIMEOUT);
    assert!(!out.stderr().contains("subreaper"), "runwarden could not become a subreaper:\n{}", out.stderr());
    check_orphans_reaped(&out);
}

#[test]
fn leftover_descendants_get_sigterm_when_the_main_process_exits() {
    let out = run(&mut rw_run(&["sh", "-c", "sleep 100 & echo $!; exit 0"]), TIMEOUT);
    out.assert_code(0);
    let sleep_pid: i32 = out.stdout().trim().parse().unwrap();
    assert!(
        out.elapsed < Duration::from_millis(2500),
        "runwarden took {:?}: the leftover was not ended by SIGTERM but waited out",
        out.elapsed
    );
    assert_eq!(comm(sleep_pid), None, "the leftover sleep {sleep_pid} is still alive");
    let line = out
        .logs()
        .into_iter()
        .find(|v| v["message"].as_str().is_some_and(|m| m.contains("sending SIGTERM")))
        .unwrap_or_else(|| panic!("no SIGTERM line:\n{}", out.stderr()));
    assert_eq!(line["remaining"], 1, "{line}");
}

#[test]
fn leftover_descendants_ignoring_sigterm_are_killed_after_the_grace_period() {
    let mut cmd = rw_run(&["sh", "-c", "trap '' TERM; sleep 100 & echo $!; exit 0"]);
    cmd.env("RUNWARDEN_GRACE", "500ms");
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let sleep_pid: i32 = out.stdout().trim().parse().unwrap();
    assert_eq!(comm(sleep_pid), None, "the leftover sleep {sleep_pid} is still alive");
    assert!(
        out.elapsed >= Duration::from_millis(500),
        "exited after {:?}, before the grace period ended",
        out.elapsed
    );
    assert!(
        out.elapsed < Duration::from_millis(2500),
        "exited after {:?}: RUNWARDEN_GRACE=500ms was not honoured",
        out.elapsed
    );
    assert!(out.stderr().contains("grace period over; sending SIGKILL"), "{}", out.stderr());
}
