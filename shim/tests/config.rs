//! Configuration and command-line errors: a typo must never run a weaker setup, so runwarden refuses
//! to start the workload (exit 2, the variable named); `--help` and `--version` work.
//! Run with `cargo test --workspace`.

mod common;

use common::*;

/// Runs `runwarden -- touch MARKER` with `env`; returns the output and whether the workload ran.
fn with_env(env: &[(&str, &str)]) -> (Output, bool) {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let mut cmd = rw_run(&[std::ffi::OsStr::new("touch"), marker.as_os_str()]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd, TIMEOUT);
    let ran = marker.exists();
    (out, ran)
}

#[test]
fn unknown_runwarden_variable_is_refused_and_named() {
    let (out, ran) = with_env(&[("RUNWARDEN_FOO", "1")]);
    out.assert_code(2);
    assert!(!ran, "the workload ran despite the configuration error");
    let err = out.stderr();
    assert!(err.contains("RUNWARDEN_FOO"), "{err}");
    // The message lists what is known, so the typo is easy to fix.
    assert!(err.contains("RUNWARDEN_GRACE"), "{err}");
    // Control: a valid configuration runs the workload.
    let (out, ran) = with_env(&[("RUNWARDEN_GRACE", "2s")]);
    out.assert_code(0);
    assert!(ran);
}

#[test]
fn malformed_values_are_refused() {
    for (name, value) in [
        ("RUNWARDEN_GRACE", "forever"),
        ("RUNWARDEN_GRACE", "61s"),
        ("RUNWARDEN_LOG", "loud"),
        ("RUNWARDEN_TRACE", "maybe"),
        ("RUNWARDEN_SIGNAL_GROUP", "2"),
        ("RUNWARDEN_SCAN_INTERVAL", "1ms"),
    ] {
        let (out, ran) = with_env(&[(name, value)]);
        assert_eq!(out.code(), Some(2), "{name}={value}: {}", out.stderr());
        assert!(!ran, "{name}={value}: the workload ran");
        assert!(out.stderr().contains(name), "{name}={value}: {}", out.stderr());
    }
}

#[test]
fn no_command_prints_usage_and_exits_2() {
    let out = run(&mut rw(), TIMEOUT);
    out.assert_code(2);
    assert!(out.stderr().to_lowercase().contains("usage"), "{}", out.stderr());
    let out = run(rw().arg("--"), TIMEOUT);
    out.assert_code(2);
}

#[test]
fn help_and_version_exit_0() {
    let out = run(rw().arg("--help"), TIMEOUT);
    out.assert_code(0);
    let help = out.stdout();
    assert!(help.contains("COMMAND"), "{help}");
    assert!(help.contains("RUNWARDEN_GRACE"), "the variables are not documented:\n{help}");
    let out = run(rw().arg("--version"), TIMEOUT);
    out.assert_code(0);
    assert!(out.stdout().starts_with("runwarden "), "{}", out.stdout());
    // An option meant for the workload is the workload's after the command.
    let out = run(&mut rw_run(&["sh", "-c", "echo \"$1\"", "sh", "--help"]), TIMEOUT);
    out.assert_code(0);
    assert_eq!(out.stdout(), "--help\n");
}
