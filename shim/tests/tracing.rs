//! The tracer follows every way of making a task or running a program, stays transparent (exit codes
//! come back), counts exactly, notices what escapes it, and fails open when ptrace is refused.
//! Run with `cargo test --workspace` (the tests need the rw-fixture binary).

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

fn debug_run(args: &[&str], timeout: Duration) -> Output {
    let fx = fixture_str();
    let mut cmd = rw_run(&[fx.as_str()]);
    cmd.args(args).env("RUNWARDEN_LOG", "debug");
    run(&mut cmd, timeout)
}

fn events<'a>(logs: &'a [Value], message: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    logs.iter().filter(move |v| v["message"] == message).map(|v| &v["data"])
}

#[test]
fn exec_from_a_non_main_thread_is_followed() {
    pin_sensor("ptrace"); // these tests are about the ptrace tracer
    let out = debug_run(&["exec-from-thread", "/bin/sh", "-c", "exit 9"], TIMEOUT);
    out.assert_code(9);
    let logs = out.logs();
    let exec = events(&logs, "exec")
        .find(|d| d["args"] == serde_json::json!(["/bin/sh", "-c", "exit 9"]))
        .unwrap_or_else(|| panic!("no exec event for the thread's exec:\n{}", out.stderr()));
    let former = exec["formerTid"].as_i64().unwrap_or_else(|| panic!("formerTid is not set: {exec}"));
    assert_ne!(Some(former), exec["pid"].as_i64(), "{exec}");
}

#[test]
fn posix_spawn_vfork_child_is_followed() {
    pin_sensor("ptrace"); // these tests are about the ptrace tracer
    let out = debug_run(&["spawn", "/bin/sh", "-c", "exit 3"], TIMEOUT);
    out.assert_code(3);
    let logs = out.logs();
    let vforked: Vec<&Value> = events(&logs, "process started").filter(|d| d["origin"] == "vfork").collect();
    assert_eq!(vforked.len(), 1, "{}", out.stderr());
    let child = &vforked[0]["pid"];
    assert!(
        events(&logs, "exec").any(|d| d["pid"] == *child && d["args"][0] == "/bin/sh"),
        "no exec event for the vfork child {child}:\n{}",
        out.stderr()
    );
}

#[test]
fn two_thousand_threads_are_followed() {
    pin_sensor("ptrace"); // these tests are about the ptrace tracer
    let out = debug_run(&["threads", "2000"], Duration::from_secs(90));
    out.assert_code(0);
    assert_eq!(out.stdout(), "joined 2000\n");
    let stats = out.data_of("tracer finished");
    let threads = stats["threads"].as_u64().expect("threads counter");
    assert!(threads >= 2000, "tracer saw {threads} threads: {stats}");
}

#[test]
fn exec_storm_every_exec_is_counted() {
    pin_sensor("ptrace"); // these tests are about the ptrace tracer
    const EXECS: u64 = 10_000;
    let out = debug_run(&["exec-storm", &EXECS.to_string()], Duration::from_secs(180));
    out.assert_code(0);
    let traced = out.data_of("tracer finished")["execs"].as_u64().expect("tracer execs");
    let piped = out.data_of("pipeline finished")["execs"].as_u64().expect("pipeline execs");
    // The fixture's own exec plus one per /bin/true.
    assert!(traced > EXECS, "the tracer counted {traced} execs");
    assert_eq!(piped, traced, "the pipeline lost exec events");
    let logged = out
        .logs()
        .iter()
        .filter(|v| v["message"] == "exec")
        .filter(|v| v["data"]["binary"]["path"].as_str().is_some_and(|p| p.ends_with("/true")))
        .count() as u64;
    assert_eq!(logged, EXECS, "exec events logged for /bin/true");
    eprintln!("exec storm of {EXECS}: {:?}", out.elapsed);
}

#[test]
fn clone_untraced_child_is_reported_as_escaped() {
    pin_sensor("ptrace"); // these tests are about the ptrace tracer
    let fx = fixture_str();
    let mut cmd = rw_run(&[fx.as_str(), "untraced-child", "2"]);
    cmd.env("RUNWARDEN_SCAN_INTERVAL", "100ms");
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let child = untraced_child_pid(&out);
    let warning = escaped_warnings(&out)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no escaped-tracing warning:\n{}", out.stderr()));
    assert_eq!(warning["pid"].as_i64(), Some(child), "{warning}");
}

#[test]
fn fail_open_when_ptrace_is_refused() {
    let fx = fixture_str();
    let mut cmd = std::process::Command::new(&fx);
    strip_config(&mut cmd);
    // auto: no seccomp listener either (seccomp(2) refused too), so ptrace is tried, then polling.
    cmd.env("RUNWARDEN_SENSOR", "auto");
    cmd.args(["deny-ptrace", "--", &fx, "deny-seccomp", "--"]).arg(runwarden()).args([
        "--",
        "sh",
        "-c",
        "echo ok; exit 5",
    ]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(5);
    assert_eq!(out.stdout(), "ok\n");
    let logs = out.logs();
    assert!(
        logs.iter().any(|v| v["severity"] == "WARNING"
            && v["message"].as_str().is_some_and(|m| m.contains("falling back to /proc polling"))),
        "no fallback warning:\n{}",
        out.stderr()
    );
    let started = logs.iter().find(|v| v["message"] == "workload started").expect("workload started line");
    assert_eq!(started["mode"], "poll", "{started}");
}

#[test]
fn trace_require_refuses_to_run_untraced() {
    pin_sensor("ptrace"); // these tests are about the ptrace tracer
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let fx = fixture_str();
    let mut cmd = std::process::Command::new(&fx);
    strip_config(&mut cmd);
    cmd.args(["deny-ptrace", "--"])
        .arg(runwarden())
        .arg("--")
        .arg("touch")
        .arg(&marker)
        .env_remove("RUNWARDEN_SENSOR")
        .env("RUNWARDEN_TRACE", "require");
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(2);
    assert!(out.stderr().contains("RUNWARDEN_TRACE=require"), "{}", out.stderr());
    std::thread::sleep(Duration::from_millis(200));
    assert!(!marker.exists(), "the workload ran although tracing was required");

    // Control: the same command with tracing available does run.
    let mut cmd = rw_run(&[std::ffi::OsStr::new("touch"), marker.as_os_str()]);
    cmd.env_remove("RUNWARDEN_SENSOR").env("RUNWARDEN_TRACE", "require");
    run(&mut cmd, TIMEOUT).assert_code(0);
    assert!(marker.exists());
}

#[test]
fn trace_off_lets_the_workload_use_ptrace_itself() {
    pin_sensor("ptrace"); // these tests are about the ptrace tracer
    let script = "strace -f -o /dev/null /bin/true";
    let mut which = std::process::Command::new("sh");
    let found = run(which.args(["-c", "command -v strace"]), TIMEOUT);
    assert_eq!(found.code(), Some(0), "strace is needed for this test (apt-get install strace)");
    // Traced by runwarden, the workload cannot trace its own children: a task has one tracer.
    let out = run(&mut rw_run(&["sh", "-c", script]), TIMEOUT);
    assert_ne!(out.code(), Some(0), "strace worked under tracing?\n{}", out.stderr());
    // RUNWARDEN_TRACE=off leaves ptrace to the workload.
    let mut cmd = rw_run(&["sh", "-c", script]);
    cmd.env_remove("RUNWARDEN_SENSOR").env("RUNWARDEN_TRACE", "off");
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let started =
        out.logs().into_iter().find(|v| v["message"] == "workload started").expect("workload started line");
    assert_eq!(started["mode"], "poll", "{started}");
}

#[test]
fn execs_after_a_privilege_drop_are_read_without_cap_sys_ptrace() {
    pin_sensor("ptrace"); // these tests are about the ptrace tracer
                          // As in Docker: root without CAP_SYS_PTRACE cannot read another user's /proc/<pid>/exe or environ;
                          // the exec of a program after `setpriv --reuid` must still be recorded, with its uid.
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--bounding-set", "-sys_ptrace"]).arg(runwarden()).env("RUNWARDEN_LOG", "debug");
    strip_config(&mut cmd);
    cmd.env("RUNWARDEN_LOG", "debug");
    cmd.args(["--", "sh", "-c", "setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/id -u"]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert_eq!(out.stdout().trim(), "65534");
    let logs = out.logs();
    let exec = events(&logs, "exec")
        .find(|d| d["args"] == serde_json::json!(["/usr/bin/id", "-u"]))
        .unwrap_or_else(|| panic!("the exec after the drop was lost:\n{}", out.stderr()));
    assert_eq!(exec["uid"], 65534, "{exec}");
    assert_eq!(exec["binary"]["path"], "/usr/bin/id", "{exec}");
}
