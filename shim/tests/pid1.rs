//! The core behaviours again with runwarden as PID 1 of a fresh PID namespace (`unshare -pf
//! --mount-proc`), as in a container: the kernel treats a namespace's init specially (signals without
//! a handler are dropped, orphans come to it), so passing outside says little about passing here.
//! Orphan reaping as PID 1 is in `reaping.rs`.
//! Run with `cargo test --workspace` as root.

mod common;

use common::*;

fn pid1(args: &[&str]) -> std::process::Command {
    let mut cmd = unshare_pid1(&runwarden());
    cmd.arg("--").args(args);
    cmd
}

#[test]
fn pid1_exit_codes_pass_through() {
    for code in [0, 1, 77, 255] {
        let out = run(&mut pid1(&["sh", "-c", &format!("exit {code}")]), TIMEOUT);
        out.assert_code(code);
    }
    for (name, num) in [("TERM", libc::SIGTERM), ("SEGV", libc::SIGSEGV)] {
        let out = run(&mut pid1(&["sh", "-c", &format!("kill -{name} $$")]), TIMEOUT);
        out.assert_code(128 + num);
    }
}

#[test]
fn pid1_signals_from_outside_reach_the_workload() {
    let fx = fixture_str();
    let live = Live::spawn(&mut pid1(&[fx.as_str(), "print-signals", "77"]));
    live.expect_line("ready", "print-signals start");
    // runwarden's pid as the test sees it: unshare's only child.
    let rw = only_child(live.pid);
    assert_eq!(comm(rw).as_deref(), Some("runwarden"));
    for sig in [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
        libc::SIGRTMIN() + 2,
        libc::SIGTERM,
    ] {
        kill(rw, sig);
        live.expect_line(&sig.to_string(), &format!("signal {sig} sent to PID 1"));
    }
    live.wait(TIMEOUT).assert_code(77);
}

#[test]
fn pid1_signals_from_inside_the_namespace_reach_the_workload() {
    // The workload signals PID 1 (runwarden), which has no handler: blocked signals are not dropped,
    // so it gets the signal and forwards it back.
    let out =
        run(&mut pid1(&["sh", "-c", "trap 'exit 42' TERM; kill -TERM 1; sleep 5 & wait; exit 1"]), TIMEOUT);
    out.assert_code(42);
}

#[test]
fn pid1_exec_from_a_thread_is_followed() {
    let fx = fixture_str();
    let mut cmd = pid1(&[fx.as_str(), "exec-from-thread", "/bin/sh", "-c", "exit 9"]);
    cmd.env("RUNWARDEN_LOG", "debug");
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(9);
    let found = out.logs().into_iter().any(|v| {
        v["message"] == "exec"
            && v["data"]["args"] == serde_json::json!(["/bin/sh", "-c", "exit 9"])
            && v["data"]["formerTid"].is_i64()
    });
    assert!(found, "no exec event with formerTid:\n{}", out.stderr());
}

#[test]
fn pid1_clone_untraced_child_is_reported() {
    let fx = fixture_str();
    let mut cmd = pid1(&[fx.as_str(), "untraced-child", "2"]);
    // CLONE_UNTRACED escapes ptrace only: a seccomp filter is inherited whatever the clone flags.
    cmd.env("RUNWARDEN_SCAN_INTERVAL", "100ms").env("RUNWARDEN_SENSOR", "ptrace");
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let child = untraced_child_pid(&out);
    let reported = escaped_warnings(&out).iter().any(|v| v["pid"].as_i64() == Some(child));
    assert!(reported, "child {child} not reported:\n{}", out.stderr());
}

#[test]
fn pid1_stop_and_continue() {
    let fx = fixture_str();
    let live = Live::spawn(&mut pid1(&[fx.as_str(), "stopme"]));
    live.expect_line("stopping", "stopme start");
    let rw = only_child(live.pid);
    let workload = only_child(rw);
    wait_for(LINE_TIMEOUT, || state(workload).filter(|s| *s == 'T' || *s == 't'))
        .unwrap_or_else(|| panic!("the workload never stopped: {:?}", state(workload)));
    kill(rw, libc::SIGCONT);
    live.expect_line("continued", "after SIGCONT to PID 1");
    live.wait(TIMEOUT).assert_code(0);
}
