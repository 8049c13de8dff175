//! Cloud Run's first generation runs containers in gVisor. These run runwarden under Debian's `runsc`
//! (`runsc --network=none do`, where runwarden is PID 1 of the sandbox) and check the core behaviours
//! hold there: tracing works (gVisor implements ptrace itself), exit codes and signals pass through,
//! job-control stops are preserved, orphans are reaped, every exec is seen.
//! Needs root and the `runsc` package (CI installs it).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

fn runwarden() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runwarden"))
}

/// Runs `runwarden -- sh -c SCRIPT` as PID 1 of a gVisor sandbox, with extra env, under a timeout.
fn in_gvisor(env: &[(&str, &str)], script: &str) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.arg("120").arg("runsc").arg("--network=none").arg("do").arg("env");
    for (k, v) in env {
        cmd.arg(format!("{k}={v}"));
    }
    cmd.arg(runwarden()).arg("--").arg("sh").arg("-c").arg(script);
    let out = cmd.output().expect("runsc must be installed (Debian package runsc)");
    assert_ne!(
        out.status.code(),
        Some(124),
        "timed out under gVisor: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stderr).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[test]
fn gvisor_exit_codes_pass_through() {
    for code in [0, 7, 255] {
        let out = in_gvisor(&[], &format!("exit {code}"));
        assert_eq!(out.status.code(), Some(code), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = in_gvisor(&[], "kill -TERM $$");
    assert_eq!(out.status.code(), Some(128 + 15));
}

#[test]
fn gvisor_traces_every_exec() {
    let out = in_gvisor(&[("RUNWARDEN_LOG", "debug")], "/bin/true; /bin/true; /bin/echo hello");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    let lines = json_lines(&out);
    assert!(lines.iter().any(|v| v["message"] == "workload started" && v["mode"] == "ptrace"), "{lines:?}");
    let execs: Vec<&str> = lines
        .iter()
        .filter(|v| v["message"] == "exec")
        .filter_map(|v| v["data"]["binary"]["path"].as_str())
        .collect();
    assert_eq!(execs.len(), 4, "{execs:?}");
    assert_eq!(execs.iter().filter(|p| p.ends_with("/true")).count(), 2, "{execs:?}");
    assert!(execs.iter().any(|p| p.ends_with("/echo")), "{execs:?}");
}

#[test]
fn gvisor_forwards_sigterm_to_the_workload() {
    // Inside the sandbox runwarden is PID 1: the workload signals it, and must get the signal back.
    let out = in_gvisor(&[], "trap 'exit 42' TERM; kill -TERM 1; sleep 5 & wait; exit 1");
    assert_eq!(out.status.code(), Some(42), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn gvisor_preserves_stop_and_continue() {
    let out = in_gvisor(&[], "(sleep 0.3; kill -CONT $$) & kill -STOP $$; echo resumed; wait; exit 4");
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "resumed\n");
}

#[test]
fn gvisor_reaps_orphans() {
    // 50 orphans (double-forked sleeps) are reparented to PID 1 (runwarden) and must be reaped.
    let script = r#"
        i=0; while [ $i -lt 50 ]; do (sleep 0.2 &); i=$((i+1)); done
        sleep 1.5
        z=0
        for s in /proc/[0-9]*/stat; do
            case "$(cat "$s" 2>/dev/null)" in *") Z "*) z=$((z+1));; esac
        done
        echo "zombies=$z"
    "#;
    let out = in_gvisor(&[], script);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "zombies=0");
}

#[test]
fn gvisor_terminates_leftovers_after_main_exits() {
    let start = std::time::Instant::now();
    let out = in_gvisor(&[("RUNWARDEN_GRACE", "1s")], "sleep 100 & exit 3");
    assert_eq!(out.status.code(), Some(3));
    assert!(start.elapsed() < Duration::from_secs(30), "leftover not terminated");
}
