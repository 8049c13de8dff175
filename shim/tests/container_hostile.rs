//! Hostile workloads in a real container (issue 14, item 3): `integration/docker/hostile/hostile.py` runs, under
//! runwarden as the image's ENTRYPOINT, a program whose path and arguments hold newlines, parentheses and
//! invalid UTF-8, a 1 MiB argument list, 50,000 open descriptors held over several scanner passes (or as
//! many as the container's hard limit allows: 20,000 where the Docker daemon runs with that limit), deep
//! trees and symlink loops under watched directories, and bursts of processes that exit while runwarden reads
//! them. Under both exec sensors (Docker's default capabilities choose ptrace; `RUNWARDEN_SENSOR=seccomp`
//! forces the other):
//! - the workload sees what it would see alone (the script checks argv bytes, exit codes and fds itself and
//!   ends with HOSTILE-OK and exit 0);
//! - runwarden neither panics nor stalls (the container ends well within its deadline, no internal error is
//!   logged, the pipeline reports no failed and no lost events);
//! - the odd program's finding carries its path and arguments intact (JSON-escaped; invalid UTF-8 as U+FFFD).
//!
//! Needs root and a Docker engine.

#[path = "common/docker.rs"]
mod docker;

use std::time::Duration;

use docker::*;
use serde_json::Value;

const IMAGE: &str = "runwarden-test/hostile";

fn image() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let dir = repo().join("integration/docker/hostile");
        build(IMAGE, &dir.join("Dockerfile"), &[&dir.join("hostile.py")]);
    });
}

/// Runs the hostile workload with `sensor` and returns its log lines (runwarden's and the workload's).
fn run(sensor: &str) -> Vec<String> {
    image();
    let env = ["RUNWARDEN_LOG=debug".to_string(), format!("RUNWARDEN_SENSOR={sensor}")];
    let env: Vec<&str> = env.iter().map(String::as_str).collect();
    let c = Container::run_with(IMAGE, &format!("-{sensor}"), &env, &[]);
    // Bounded: a stalled runwarden fails here rather than hanging the suite (the script itself takes ~8 s).
    let code = c.wait(Duration::from_secs(240));
    let logs = c.logs();
    assert_eq!(code, 0, "the hostile workload exited {code} under {sensor}:\n{}", tail(&logs));
    logs.lines().map(str::to_string).collect()
}

/// The last lines of the logs that are not process events, each cut short (the 1 MiB argv is in them).
fn tail(logs: &str) -> String {
    let lines: Vec<String> = logs
        .lines()
        .filter(|l| !l.contains("\"severity\":\"DEBUG\""))
        .map(|l| l.chars().take(400).collect())
        .collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn json(lines: &[String]) -> Vec<Value> {
    lines.iter().filter_map(|l| serde_json::from_str::<Value>(l).ok()).collect()
}

fn check(sensor: &str) {
    let lines = run(sensor);
    let all = lines.join("\n");
    assert!(
        lines.iter().any(|l| l == "HOSTILE-OK odd-argv big-argv many-fds deep-trees exits"),
        "the workload's own checks under {sensor}:\n{}",
        tail(&all)
    );
    let logs = json(&lines);
    let started = logs.iter().find(|v| v["message"] == "workload started").expect("workload started");
    assert_eq!(started["sensor"], if sensor == "seccomp" { "seccomp" } else { "ptrace" }, "{started}");

    // No internal error anywhere, and the pipeline lost nothing.
    for bad in ["panicked", "internal error"] {
        assert!(!all.contains(bad), "runwarden logged {bad:?} under {sensor}:\n{}", tail(&all));
    }
    let stats = logs.iter().find(|v| v["message"] == "pipeline finished").expect("pipeline stats");
    assert_eq!(stats["data"]["failed"], 0, "{stats}");
    assert_eq!(stats["data"]["lost"], 0, "{stats}");
    assert!(stats["data"]["execs"].as_u64().unwrap() > 100, "the bursts' execs were seen: {stats}");
    // Odd bytes read before the exec and from /proc after it are the same program, not a changed one.
    assert_eq!(stats["data"]["mismatches"], 0, "{stats}");

    // The odd program, reported with its name and arguments intact.
    let odd = logs
        .iter()
        .filter_map(|v| v.get("finding"))
        .find(|f| {
            f["processes"][0]["binary"]["path"].as_str().is_some_and(|p| p.starts_with("/tmp/odd dir (x)\n/"))
        })
        .unwrap_or_else(|| panic!("no finding for the odd program under {sensor}:\n{}", tail(&all)));
    assert_eq!(
        odd["processes"][0]["binary"]["path"], "/tmp/odd dir (x)\n/pr)og( \n\u{fffd}\u{fffd}",
        "{odd}"
    );
    let args: Vec<&str> =
        odd["processes"][0]["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    for want in ["new\nline", "(paren) ) (", "\u{fffd}\u{fffd}\u{fffd} invalid", "tab\there", "-- --"] {
        assert!(args.contains(&want), "{want:?} missing from {args:?}");
    }
}

#[test]
fn hostile_names_huge_argv_many_fds_deep_trees_and_vanishing_processes_under_ptrace() {
    check("ptrace");
}

#[test]
fn hostile_names_huge_argv_many_fds_deep_trees_and_vanishing_processes_under_seccomp() {
    check("seccomp");
}
