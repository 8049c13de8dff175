//! Enforcement (`RUNWARDEN_MODE=enforce`): a process matched by a `kill` rule is killed at its exec
//! stop and never runs (its side effect never happens) while the workload keeps running; `stop` ends
//! the workload gracefully and exits non-zero; in detect mode the same rules only report.

mod common;

use common::*;
use serde_json::Value;

fn policy_dir(action: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("enforce.yaml"),
        format!("rules:\n  - id: exec_from_temp_dir\n    action: {action}\n"),
    )
    .unwrap();
    dir
}

/// A program dropped in a temporary directory tries to leave a marker file, then the workload goes on.
fn dropper_script(work: &std::path::Path) -> String {
    format!("cp /bin/sh {w}/evil && {w}/evil -c 'touch {w}/marker'; echo after=$?", w = work.display())
}

#[test]
fn kill_rule_stops_the_program_before_it_runs() {
    let policies = policy_dir("kill");
    let work = tempfile::tempdir_in("/tmp").unwrap();
    let sink = work.path().join("findings.jsonl");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_MODE", "enforce")
        .env("RUNWARDEN_POLICIES", policies.path())
        .env("RUNWARDEN_SINKS", format!("file:{}", sink.display()))
        .args(["--", "sh", "-c", &dropper_script(work.path())]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(!work.path().join("marker").exists(), "the killed program ran");
    // ptrace kills the program at its exec stop (the shell sees SIGKILL: 137); the seccomp sensor
    // refuses the exec before the program exists (the shell sees EPERM: 126).
    let (code, action) = match sensor_of(&out).as_str() {
        "seccomp" => ("after=126", "BLOCKED"),
        _ => ("after=137", "KILLED"),
    };
    assert_eq!(out.stdout().trim(), code, "the workload goes on and sees its child fail");
    let f = read_findings(&sink);
    let killed: Vec<&Value> = f.iter().filter(|f| f["action"] == action).collect();
    assert_eq!(killed.len(), 1, "{f:#?}");
    assert_eq!(killed[0]["category"], "Execution: Program Run from Temporary Directory");
    assert_eq!(killed[0]["processes"][0]["binary"]["path"], format!("{}/evil", work.path().display()));
    assert_eq!(killed[0]["processes"][0]["binary"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        f.iter().filter(|f| f["rule"]["id"] == "exec_from_temp_dir").count(),
        1,
        "raised once: {f:#?}"
    );
}

#[test]
fn detect_mode_only_reports_what_it_would_have_done() {
    let policies = policy_dir("kill");
    let work = tempfile::tempdir_in("/tmp").unwrap();
    let sink = work.path().join("findings.jsonl");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_POLICIES", policies.path())
        .env("RUNWARDEN_SINKS", format!("file:{}", sink.display()))
        .args(["--", "sh", "-c", &dropper_script(work.path())]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(work.path().join("marker").exists(), "detect mode must not block");
    assert_eq!(out.stdout().trim(), "after=0");
    let f = read_findings(&sink);
    let hit = f.iter().find(|f| f["rule"]["id"] == "exec_from_temp_dir").expect("reported");
    assert_eq!(hit["action"], "ALERT");
    assert_eq!(hit["sourceProperties"]["wouldHaveBeen"], "KILLED");
}

#[test]
fn stop_rule_ends_the_workload_and_exits_non_zero() {
    let policies = policy_dir("stop");
    let work = tempfile::tempdir_in("/tmp").unwrap();
    let sink = work.path().join("findings.jsonl");
    let script = format!(
        "trap 'echo got-term; exit 0' TERM; cp /bin/true {w}/evil && {w}/evil; sleep 20 & wait",
        w = work.path().display()
    );
    let mut cmd = rw();
    cmd.env("RUNWARDEN_MODE", "enforce")
        .env("RUNWARDEN_POLICIES", policies.path())
        .env("RUNWARDEN_SINKS", format!("file:{}", sink.display()))
        .env("RUNWARDEN_GRACE", "500ms")
        .args(["--", "sh", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(1);
    assert!(out.stdout().contains("got-term"), "the workload was not asked to stop: {}", out.stdout());
    let f = read_findings(&sink);
    assert!(f.iter().any(|f| f["action"] == "CONTAINER_STOPPED"), "{f:#?}");
}

/// An enforcing rule on lineage: the parent is a process whose exec the pipeline may not have handled
/// yet when its child execs. The enforcer records each exec in the shared process table at the stop,
/// so the parent's new program is known at the child's stop, under either sensor.
#[test]
fn kill_rule_on_the_parent_sees_an_exec_made_just_before() {
    let policies = tempfile::tempdir().unwrap();
    std::fs::write(
        policies.path().join("lineage.yaml"),
        r#"rules:
  - id: id_under_marked_shell
    category: "Execution: Program Run from Temporary Directory"
    severity: HIGH
    description: "{proc.name} under {parent.cmdline}"
    nextSteps: "None: a test rule."
    mitre: {tactic: EXECUTION, techniques: [T1059.004]}
    event: exec
    action: kill
    condition: proc.name == 'id' && parent.cmdline.contains('lineage-marker')
"#,
    )
    .unwrap();
    let work = tempfile::tempdir_in("/tmp").unwrap();
    let sink = work.path().join("findings.jsonl");
    // 20 rounds: a fresh shell execs, then at once runs `id` (fork + exec); an unmarked shell's `id`
    // runs. Each round's marked `id` must be killed, each unmarked one must run.
    let round =
        "sh -c 'id >/dev/null; echo marked=$?' lineage-marker; sh -c 'id >/dev/null; echo plain=$?' x";
    let script = std::iter::repeat_n(round, 20).collect::<Vec<_>>().join("; ");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_MODE", "enforce")
        .env("RUNWARDEN_POLICIES", policies.path())
        .env("RUNWARDEN_SINKS", format!("file:{}", sink.display()))
        .args(["--", "sh", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let refused = match sensor_of(&out).as_str() {
        "seccomp" => "marked=126",
        _ => "marked=137",
    };
    let stdout = out.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.iter().filter(|l| **l == refused).count(), 20, "{lines:?}");
    assert_eq!(lines.iter().filter(|l| **l == "plain=0").count(), 20, "{lines:?}");
    let f = read_findings(&sink);
    let hits: Vec<&Value> = f.iter().filter(|f| f["rule"]["id"] == "id_under_marked_shell").collect();
    // Repeats of one finding are folded by the de-duplication stage: at least one is shipped.
    assert!(!hits.is_empty(), "{f:#?}");
    assert!(hits.iter().all(|h| h["action"] != "ALERT"), "{hits:#?}");
}
