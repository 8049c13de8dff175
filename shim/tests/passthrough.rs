//! Transparency of the plumbing: stdin, stdout and stderr reach the workload untouched (binary data,
//! more than a pipe buffer); the working directory and the environment (RUNWARDEN_* included) are the
//! workload's (dumb-init's cwd test).
//! Run with `cargo test --workspace`.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn stdin_and_stdout_pass_through_byte_for_byte() {
    // 1.5 MiB covering every byte value, in a pattern that is not periodic at pipe-buffer sizes.
    let input: Vec<u8> = (0..1_572_864u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    assert!((0..=255u8).all(|b| input.contains(&b)));
    let out = run_with_input(&mut rw_run(&["cat"]), Some(input.clone()), TIMEOUT);
    out.assert_code(0);
    assert_eq!(out.stdout.len(), input.len(), "stdout length");
    assert!(out.stdout == input, "stdout differs from stdin");
}

#[test]
fn workload_stderr_arrives_on_stderr() {
    let out = run(
        &mut rw_run(&["sh", "-c", "echo to-stdout; echo to-stderr >&2; printf 'no newline' >&2"]),
        TIMEOUT,
    );
    out.assert_code(0);
    assert_eq!(out.stdout(), "to-stdout\n");
    let stderr = out.stderr();
    assert!(stderr.lines().any(|l| l == "to-stderr"), "{stderr}");
    assert!(stderr.contains("no newline"), "{stderr}");
    // runwarden's own lines are JSON; the workload's are not touched.
    assert!(!stderr.contains("to-stdout"), "{stderr}");
}

#[test]
fn dumb_init_cwd_is_preserved() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().canonicalize().unwrap();
    let mut cmd = rw_run(&["sh", "-c", "pwd -P"]);
    cmd.current_dir(&real);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert_eq!(out.stdout().trim_end(), real.to_str().unwrap());
}

#[test]
fn environment_passes_through_including_runwarden_variables() {
    let mut cmd =
        rw_run(&["sh", "-c", r#"printf '%s|%s|%s\n' "$RW_TEST_VALUE" "$RUNWARDEN_LOG" "$RUNWARDEN_GRACE""#]);
    cmd.env("RW_TEST_VALUE", "a b=c\té").env("RUNWARDEN_LOG", "warn").env("RUNWARDEN_GRACE", "1500ms");
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert_eq!(out.stdout(), "a b=c\té|warn|1500ms\n");
    // RUNWARDEN_LOG=warn took effect in runwarden too: no INFO lines.
    assert!(out.logs().iter().all(|v| v["severity"] != "INFO"), "{}", out.stderr());

    // And an empty environment stays empty (apart from what sh itself sets).
    let mut cmd = rw_run(&["/usr/bin/env"]);
    cmd.env_clear().env("ONLY", "1");
    let out = run(&mut cmd, Duration::from_secs(30));
    out.assert_code(0);
    assert_eq!(out.stdout(), "ONLY=1\n");
}
