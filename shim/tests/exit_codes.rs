//! Exit codes (tini, dumb-init): the workload's exit code is runwarden's; a death by signal N is
//! 128+N; a command that cannot run is 127 (not found) or 126 (not executable), like a shell.
//! Run with `cargo test --workspace` (the tests need the rw-fixture binary).

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn tini_exit_codes_0_to_255_pass_through() {
    let fx = fixture_str();
    // Batches of 8 concurrent runs keep the 256 runs fast on a small machine.
    let codes: Vec<i32> = (0..=255).collect();
    for batch in codes.chunks(8) {
        let handles: Vec<_> = batch
            .iter()
            .map(|&code| {
                let fx = fx.clone();
                std::thread::spawn(move || {
                    let out = run(&mut rw_run(&[fx.as_str(), "exit", &code.to_string()]), TIMEOUT);
                    (code, out)
                })
            })
            .collect();
        for h in handles {
            let (code, out) = h.join().unwrap();
            assert_eq!(out.code(), Some(code), "exit {code}: {}", out.stderr());
        }
    }
}

#[test]
fn dumb_init_death_by_signal_is_128_plus_n() {
    for (name, num) in [
        ("TERM", libc::SIGTERM),
        ("HUP", libc::SIGHUP),
        ("QUIT", libc::SIGQUIT),
        ("KILL", libc::SIGKILL),
        ("SEGV", libc::SIGSEGV),
        ("USR1", libc::SIGUSR1),
    ] {
        // rw_run starts it with every signal at its default action (common::default_signals).
        let out = run(&mut rw_run(&["sh", "-c", &format!("kill -{name} $$")]), TIMEOUT);
        assert_eq!(out.code(), Some(128 + num), "kill -{name}: {:?}\n{}", out.status, out.stderr());
        let killed = out
            .logs()
            .into_iter()
            .find(|v| v["message"] == "workload killed by a signal")
            .unwrap_or_else(|| panic!("no 'killed by a signal' line for {name}:\n{}", out.stderr()));
        assert_eq!(killed["signal"], format!("SIG{name}"));
    }
}

#[test]
fn tini_sigterm_handler_exit_code_passes_through() {
    let live = Live::spawn(&mut rw_run(&[fixture_str().as_str(), "term-handler", "42"]));
    live.expect_line("ready", "term-handler start");
    live.signal(libc::SIGTERM);
    let out = live.wait(TIMEOUT);
    out.assert_code(42);
}

#[test]
fn tini_command_not_found_is_127_and_names_the_path() {
    let out = run(&mut rw_run(&["/nonexistent/rw-no-such-command", "arg"]), TIMEOUT);
    out.assert_code(127);
    assert!(
        out.stderr().contains("/nonexistent/rw-no-such-command"),
        "the error does not name the command:\n{}",
        out.stderr()
    );
    // Found through PATH or not at all: a bare name too.
    let out = run(&mut rw_run(&["rw-no-such-command-in-path"]), TIMEOUT);
    out.assert_code(127);
    assert!(out.stderr().contains("rw-no-such-command-in-path"), "{}", out.stderr());
}

#[test]
fn tini_not_executable_is_126() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&mut rw_run(&[&script]), TIMEOUT);
    out.assert_code(126);
    assert!(out.stderr().contains("not-executable.sh"), "{}", out.stderr());

    // A directory cannot be executed either (EACCES).
    let out = run(&mut rw_run(&[dir.path()]), TIMEOUT);
    out.assert_code(126);
}
