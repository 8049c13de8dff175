//! "One static binary": runwarden runs in an image that has no libc at all (FROM scratch), as PID 1,
//! under Docker's default seccomp profile and capabilities, and traces what it starts there.
//! Needs root and a Docker engine (CI has both).

use std::path::{Path, PathBuf};
use std::process::Command;

fn runwarden() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runwarden"))
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().expect("docker must be installed for this test")
}

#[test]
fn binary_is_statically_linked() {
    let out = Command::new("file").arg("-L").arg(runwarden()).output().expect("file(1) is needed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("statically linked") || text.contains("static-pie linked"), "{text}");
    assert!(!text.contains("interpreter"), "a dynamic loader is named: {text}");
}

fn build_scratch_image(dir: &Path, tag: &str) {
    std::fs::copy(runwarden(), dir.join("runwarden")).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY runwarden /runwarden\nENTRYPOINT [\"/runwarden\", \"--\"]\n",
    )
    .unwrap();
    let out = docker(&["build", "-q", "-t", tag, dir.to_str().unwrap()]);
    assert!(out.status.success(), "docker build failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn runs_as_pid_1_in_an_image_without_libc() {
    let dir = tempfile::tempdir().unwrap();
    let tag = "runwarden-test-scratch:latest";
    build_scratch_image(dir.path(), tag);

    // The image holds nothing but runwarden: no /lib, no libc, no shell.
    let out = docker(&["run", "--rm", "--entrypoint", "/runwarden", tag, "--version"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("runwarden "));

    // As PID 1, tracing a workload (itself, as a static program): the exec is seen and the workload's
    // exit code (2: usage error, no command) comes back through docker.
    let out = docker(&["run", "--rm", "-e", "RUNWARDEN_LOG=debug", tag, "/runwarden"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"mode\":\"ptrace\""), "not traced under Docker's default profile:\n{stderr}");
    let lines: Vec<serde_json::Value> = stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let started = lines.iter().find(|v| v["message"] == "workload started").expect("no start line");
    let pid = started["pid"].clone();
    let exec_seen = lines.iter().any(|v| {
        v["message"] == "exec" && v["data"]["pid"] == pid && v["data"]["binary"]["path"] == "/runwarden"
    });
    assert!(exec_seen, "no exec event for the workload (pid {pid}):\n{stderr}");
    let _ = docker(&["rmi", "-f", tag]);
}
