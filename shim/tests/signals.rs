//! Signals: what is sent to runwarden reaches the workload, in order; job-control stops behave as
//! without a tracer; the workload starts with the signal mask and dispositions runwarden was started
//! with (tini's "signal configuration" test), not runwarden's own.
//! Run with `cargo test --workspace` (the tests need the rw-fixture binary).

mod common;

use std::time::Duration;

use common::*;

/// Sends each signal to runwarden and waits for the workload to print it before sending the next.
fn forward_each(live: &Live, signals: &[i32]) {
    for &sig in signals {
        live.signal(sig);
        live.expect_line(&sig.to_string(), &format!("signal {sig} sent to runwarden"));
    }
}

/// Sends a signal that runwarden must not forward, then a marker that it must: the next line is the
/// marker's number, so the first one never arrived.
fn not_forwarded(live: &Live, sig: i32) {
    live.signal(sig);
    live.signal(libc::SIGUSR1);
    live.expect_line(
        &libc::SIGUSR1.to_string(),
        &format!("signal {sig} must not be forwarded (the SIGUSR1 sent after it came first)"),
    );
}

#[test]
fn dumb_init_every_catchable_signal_reaches_the_workload() {
    let live = Live::spawn(&mut rw_run(&[fixture_str().as_str(), "print-signals", "77"]));
    live.expect_line("ready", "print-signals start");
    let rtmin = libc::SIGRTMIN();
    forward_each(
        &live,
        &[
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGPIPE,
            libc::SIGALRM,
            libc::SIGSTKFLT,
            libc::SIGCONT,
            // Forwarded, not acted on by runwarden: the workload decides whether to stop.
            libc::SIGTSTP,
            libc::SIGURG,
            libc::SIGXCPU,
            libc::SIGXFSZ,
            libc::SIGVTALRM,
            libc::SIGPROF,
            libc::SIGWINCH,
            libc::SIGIO,
            libc::SIGPWR,
            // Realtime signals (glibc reserves 32 and 33 for itself).
            rtmin,
            rtmin + 2,
            rtmin + 10,
            libc::SIGRTMAX() - 1,
            libc::SIGRTMAX(),
        ],
    );
    // SIGCHLD is runwarden's own (the reaper); SIGTTIN/SIGTTOU are ignored by runwarden, like tini.
    not_forwarded(&live, libc::SIGCHLD);
    not_forwarded(&live, libc::SIGTTIN);
    not_forwarded(&live, libc::SIGTTOU);
    // Last: the workload exits on SIGTERM with the code it chose.
    forward_each(&live, &[libc::SIGTERM]);
    let out = live.wait(TIMEOUT);
    out.assert_code(77);
}

#[test]
fn dumb_init_fault_signals_sent_with_kill_reach_the_workload() {
    // SIGSEGV & co. sent by another process (kill, not a fault) are ordinary asynchronous signals:
    // dumb-init forwards them; runwarden must not die of them or swallow them.
    let live = Live::spawn(&mut rw_run(&[fixture_str().as_str(), "print-signals", "0"]));
    live.expect_line("ready", "print-signals start");
    forward_each(
        &live,
        &[
            libc::SIGILL,
            libc::SIGTRAP,
            libc::SIGABRT,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGSEGV,
            libc::SIGSYS,
            libc::SIGTERM,
        ],
    );
    live.wait(TIMEOUT).assert_code(0);
}

#[test]
fn tini_signal_group_mode_signals_the_whole_process_group() {
    // The main process ignores SIGUSR1 and waits on a grandchild (started before the trap, so it does
    // not inherit the ignore) that does not: only a group-wide signal kills the grandchild.
    let script = "sleep 100 & pid=$!; trap '' USR1; echo $pid; wait $pid; exit $?";
    let mut cmd = rw_run(&["sh", "-c", script]);
    cmd.env("RUNWARDEN_SIGNAL_GROUP", "1");
    let live = Live::spawn(&mut cmd);
    let sleep_pid: i32 = live.next_line(LINE_TIMEOUT).expect("sleep pid").parse().unwrap();
    live.signal(libc::SIGUSR1);
    let out = live.wait(TIMEOUT);
    // wait reports the grandchild's death by SIGUSR1 (128+10), and the main process exits with it.
    out.assert_code(128 + libc::SIGUSR1);
    assert_eq!(stat(sleep_pid).map(|s| s.0), None, "the grandchild survived");

    // Control: without the group setting, the grandchild is not signalled.
    let live = Live::spawn(&mut rw_run(&["sh", "-c", script]));
    let sleep_pid: i32 = live.next_line(LINE_TIMEOUT).expect("sleep pid").parse().unwrap();
    live.signal(libc::SIGUSR1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(comm(sleep_pid).as_deref(), Some("sleep"), "SIGUSR1 reached the grandchild");
    // SIGTERM kills the shell; the leftover sleep is then sent SIGTERM by runwarden.
    live.signal(libc::SIGTERM);
    let out = live.wait(TIMEOUT);
    out.assert_code(128 + libc::SIGTERM);
    assert_eq!(comm(sleep_pid), None, "the leftover grandchild was not ended");
}

/// Waits until `pid` is stopped; a stopped tracee shows 't' (tracing stop) rather than 'T'.
fn wait_stopped(pid: i32) -> char {
    wait_for(LINE_TIMEOUT, || state(pid).filter(|s| *s == 'T' || *s == 't'))
        .unwrap_or_else(|| panic!("pid {pid} never stopped (state {:?})", state(pid)))
}

#[test]
fn sigstop_raised_by_the_workload_stops_it_until_sigcont() {
    let live = Live::spawn(&mut rw_run(&[fixture_str().as_str(), "stopme"]));
    live.expect_line("stopping", "stopme start");
    let workload = only_child(live.pid);
    wait_stopped(workload);
    // Stopped means stopped: nothing resumes it behind our back.
    live.expect_silence(Duration::from_millis(500), "the workload resumed without SIGCONT");
    assert!(matches!(state(workload), Some('T' | 't')), "{:?}", state(workload));
    // SIGCONT to runwarden is forwarded and resumes it.
    live.signal(libc::SIGCONT);
    live.expect_line("continued", "after SIGCONT");
    live.wait(TIMEOUT).assert_code(0);
}

#[test]
fn sigstop_sent_from_outside_stops_the_workload_until_sigcont() {
    let live = Live::spawn(&mut rw_run(&[fixture_str().as_str(), "ticker"]));
    live.expect_line("0", "ticker start");
    let workload = only_child(live.pid);
    kill(workload, libc::SIGSTOP);
    wait_stopped(workload);
    while live.next_line(Duration::from_millis(200)).is_some() {} // ticks already in flight
    live.expect_silence(Duration::from_millis(500), "the workload ticks while stopped");
    kill(workload, libc::SIGCONT);
    assert!(live.next_line(LINE_TIMEOUT).is_some(), "no tick after SIGCONT");
    assert_eq!(state(workload).map(|s| s == 'T' || s == 't'), Some(false));
    // Stopped again through runwarden (SIGTSTP is forwarded and stops a program without a handler).
    live.signal(libc::SIGTSTP);
    wait_stopped(workload);
    while live.next_line(Duration::from_millis(200)).is_some() {}
    live.expect_silence(Duration::from_millis(500), "the workload ticks after SIGTSTP");
    live.signal(libc::SIGCONT);
    assert!(live.next_line(LINE_TIMEOUT).is_some(), "no tick after SIGCONT");
    live.signal(libc::SIGTERM);
    live.wait(TIMEOUT).assert_code(128 + libc::SIGTERM);
}

/// Signals 32 and 33 are glibc's own (SIGCANCEL, SIGSETXID): glibc's posix_spawn, which the test
/// harness uses to start processes, leaves them ignored in the child, and runwarden's glibc installs
/// its handler for 33. Neither says anything about runwarden, so they are left out of comparisons.
const GLIBC_INTERNAL: u64 = (1 << 31) | (1 << 32);

/// The SigBlk and SigIgn masks `rw-fixture show-sigstate` printed, without glibc's internal signals.
fn sigstate(out: &Output) -> (u64, u64) {
    let mut blk = None;
    let mut ign = None;
    for line in out.stdout().lines() {
        let (name, hex) = line.split_once(':').expect("Name:\tHEX");
        let v = u64::from_str_radix(hex.trim(), 16).expect("hex mask") & !GLIBC_INTERNAL;
        match name {
            "SigBlk" => blk = Some(v),
            "SigIgn" => ign = Some(v),
            _ => {}
        }
    }
    (
        blk.unwrap_or_else(|| panic!("no SigBlk: {}", out.stdout())),
        ign.unwrap_or_else(|| panic!("no SigIgn: {}", out.stdout())),
    )
}

fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

#[test]
fn tini_signal_mask_and_ignored_signals_are_handed_to_the_workload() {
    let fx = fixture_str();
    let mut cmd = std::process::Command::new(&fx);
    strip_config(&mut cmd);
    cmd.args(["sigconf", "--"]).arg(runwarden()).args(["--", fx.as_str(), "show-sigstate"]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let (blk, ign) = sigstate(&out);
    assert_eq!(blk, bit(libc::SIGUSR2) | bit(libc::SIGINT), "SigBlk {blk:#x}");
    assert_eq!(ign, bit(libc::SIGUSR1), "SigIgn {ign:#x}");
}

#[test]
fn tini_runwarden_does_not_leak_its_own_mask_or_ignores() {
    // Control: what the fixture sees when the test starts it directly.
    let mut direct = std::process::Command::new(fixture());
    default_signals(&mut direct);
    let direct = run(direct.arg("show-sigstate"), TIMEOUT);
    direct.assert_code(0);
    assert_eq!(sigstate(&direct), (0, 0), "the test harness itself leaks a mask");

    let out = run(&mut rw_run(&[fixture_str().as_str(), "show-sigstate"]), TIMEOUT);
    out.assert_code(0);
    let (blk, ign) = sigstate(&out);
    assert_eq!(blk, 0, "runwarden's blocked signals leaked into the workload: {blk:#x}");
    assert_eq!(ign & bit(libc::SIGPIPE), 0, "SIGPIPE is ignored in the workload");
    assert_eq!(ign, 0, "runwarden's ignored signals (TTIN/TTOU?) leaked: {ign:#x}");
}
