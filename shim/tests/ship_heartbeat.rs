//! Heartbeats and shutdown end to end: the real runwarden binary, real workloads, and the recording
//! HTTP server of `ship_support` on 127.0.0.1. The heartbeat contract is in `docs/HEARTBEAT.md`: the
//! `heartbeat` object rides in the findings POST (or alone with `"findings": []`), every
//! `RUNWARDEN_HEARTBEAT`, with cumulative counts, and `final: true` once at shutdown.

mod common;
mod ship_support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use ship_support::*;

/// Checks the fields every heartbeat has (the counts are checked by the callers).
fn assert_heartbeat_shape(h: &Value, interval: u64) {
    let keys: HashSet<&str> = h.as_object().unwrap().keys().map(String::as_str).collect();
    let want: HashSet<&str> = [
        "heartbeatId",
        "time",
        "startTime",
        "intervalSeconds",
        "final",
        "runwardenVersion",
        "sensor",
        "mode",
        "resource",
        "hostname",
        "counts",
    ]
    .into();
    assert_eq!(keys, want, "{h}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(h["hostname"], host.trim());
    assert_eq!(h["intervalSeconds"], interval);
    assert_eq!(h["runwardenVersion"], env!("CARGO_PKG_VERSION"));
    // The exec sensor in use: seccomp where auto may choose it (root on this host), else ptrace.
    let want = match std::env::var("RW_TEST_SENSOR").as_deref() {
        Ok("ptrace") => "ptrace",
        _ => "seccomp",
    };
    assert_eq!(h["sensor"], want, "{h}");
    assert_eq!(h["mode"], "detect");
    assert!(h["resource"].is_object());
    let id = h["heartbeatId"].as_str().unwrap();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(&id[14..15], "7", "a UUIDv7: {id}");
    for k in ["time", "startTime"] {
        let t = h[k].as_str().unwrap();
        // RFC 3339 UTC with microseconds, like eventTime.
        assert_eq!(t.len(), "2026-11-22T23:59:59.123456Z".len(), "{k}={t}");
        humantime::parse_rfc3339(t).unwrap_or_else(|e| panic!("{k}={t}: {e}"));
    }
    assert!(h["startTime"].as_str() <= h["time"].as_str());
    let counts = h["counts"].as_object().unwrap();
    let names: HashSet<&str> = counts.keys().map(String::as_str).collect();
    let want: HashSet<&str> =
        ["events", "findings", "delivered", "retries", "shed", "spooled", "rejected"].into();
    assert_eq!(names, want);
    assert!(counts.values().all(Value::is_u64), "{h}");
}

/// Every request carries findings, a heartbeat, or both.
fn assert_no_empty_requests(reqs: &[Request]) {
    for r in reqs {
        assert!(
            !ids_of(&r.body).is_empty() || r.body.get("heartbeat").is_some(),
            "empty request: {}",
            r.body
        );
    }
}

#[test]
fn heartbeats_are_periodic_count_what_was_delivered_and_end_with_a_final_one_at_sigterm() {
    let server = Server::start(|_| Answer::Status(200));
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &server.url);
    cmd.env("RUNWARDEN_HEARTBEAT", "5s").args(["--", "sh", "-c", &format!("{WORKLOAD}; exec sleep 60")]);
    let live = Live::spawn(&mut cmd);
    // Two periodic heartbeats (at about 5 s and 10 s), then SIGTERM.
    let two = wait_for(Duration::from_secs(20), || (heartbeats(&server).len() >= 2).then_some(()));
    assert!(two.is_some(), "fewer than two heartbeats in 20 s:\n{}", live.stderr_now());
    let signalled = Instant::now();
    live.signal(libc::SIGTERM);
    let out = live.wait(TIMEOUT);
    // The workload got the forwarded SIGTERM; runwarden passes its status on.
    out.assert_code(143);
    assert!(signalled.elapsed() < Duration::from_secs(5), "shutdown took {:?}", signalled.elapsed());

    let findings = file_ids(&file);
    assert!(!findings.is_empty(), "the workload raised no findings:\n{}", out.stderr());
    let beats = heartbeats(&server);
    let ids: HashSet<&str> = beats.iter().map(|(_, h)| h["heartbeatId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), beats.len(), "a heartbeatId was reused");
    let (last, periodic) = beats.split_last().unwrap();
    assert!(periodic.len() >= 2, "{beats:?}");
    assert_eq!(last.1["final"], true, "the last heartbeat is the final one");
    assert!(periodic.iter().all(|(_, h)| h["final"] == false), "final is sent once");
    for (r, h) in &beats {
        assert_eq!(r.status, 200);
        assert!(r.body["findings"].is_array(), "a heartbeat alone still has \"findings\": []");
        assert_heartbeat_shape(h, 5);
    }
    // Periodic: one interval apart (the first one interval after start), never early.
    for w in periodic.windows(2) {
        let gap = w[1].0.at - w[0].0.at;
        assert!(gap >= Duration::from_millis(4900) && gap < Duration::from_secs(8), "gap {gap:?}");
    }
    // Cumulative counts: what was delivered up to and with this request.
    let reqs = server.requests();
    assert_no_empty_requests(&reqs);
    // Findings do not wait for a heartbeat: their batch goes out after its 1 s wait.
    let first = reqs.iter().find(|r| !ids_of(&r.body).is_empty()).unwrap();
    assert!(first.body.get("heartbeat").is_none(), "the findings waited for the first heartbeat");
    let mut delivered = 0u64;
    let mut previous_events = 0;
    for r in &reqs {
        delivered += ids_of(&r.body).len() as u64;
        if let Some(h) = r.body.get("heartbeat") {
            let c = &h["counts"];
            assert_eq!(c["delivered"], delivered, "{h}");
            assert!(c["findings"].as_u64().unwrap() >= delivered, "{h}");
            assert_eq!((c["retries"].as_u64(), c["rejected"].as_u64()), (Some(0), Some(0)), "{h}");
            assert_eq!((c["shed"].as_u64(), c["spooled"].as_u64()), (Some(0), Some(0)), "{h}");
            let events = c["events"].as_u64().unwrap();
            assert!(events > 0 && events >= previous_events, "{h}");
            previous_events = events;
        }
    }
    let c = &last.1["counts"];
    assert_eq!(c["findings"], findings.len() as u64, "the final heartbeat counts every finding");
    assert_eq!(c["delivered"], findings.len() as u64);
    assert_eq!(server.delivered().len(), findings.len());
}

#[test]
fn a_short_run_sends_only_the_final_heartbeat_with_the_last_findings() {
    let server = Server::start(|_| Answer::Status(200));
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &server.url);
    cmd.args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let beats = heartbeats(&server);
    assert_eq!(beats.len(), 1, "{beats:?}");
    let (r, h) = &beats[0];
    assert_heartbeat_shape(h, 60);
    assert_eq!(h["final"], true);
    assert_eq!(h["counts"]["delivered"], file_ids(&file).len() as u64);
    assert_eq!(h["counts"]["findings"], file_ids(&file).len() as u64);
    assert_eq!(r.at, server.requests().last().unwrap().at, "the final heartbeat is the last request");
    assert_no_empty_requests(&server.requests());
}

#[test]
fn heartbeat_off_sends_none_and_falco_sinks_never_do() {
    let native = Server::start(|_| Answer::Status(200));
    let falco = Server::start(|_| Answer::Status(200));
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &native.url);
    cmd.env("RUNWARDEN_HEARTBEAT", "off").args(["--", "sh", "-c", &format!("{WORKLOAD}; sleep 6")]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(heartbeats(&native).is_empty(), "{:?}", heartbeats(&native));
    assert_eq!(native.delivered().len(), file_ids(&file).len());

    let (mut cmd, file) = rw_with(&dir, &format!("falco+{}", falco.url));
    std::fs::remove_file(&file).ok();
    cmd.env("RUNWARDEN_HEARTBEAT", "5s").args(["--", "sh", "-c", &format!("{WORKLOAD}; sleep 6")]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let reqs = falco.requests();
    assert_eq!(reqs.len(), file_ids(&file).len(), "one event per finding, nothing else");
    assert!(reqs.iter().all(|r| r.body.get("heartbeat").is_none() && r.body["rule"].is_string()));
}

#[test]
fn a_malformed_heartbeat_interval_refuses_the_start() {
    for bad in ["1s", "4s", "soon", "2h", ""] {
        let mut cmd = rw();
        cmd.env("RUNWARDEN_HEARTBEAT", bad).args(["--", "true"]);
        let out = run(&mut cmd, TIMEOUT);
        out.assert_code(2);
        assert!(out.stderr().contains("RUNWARDEN_HEARTBEAT"), "{bad}: {}", out.stderr());
    }
}

/// SIGTERM while the endpoint is down: runwarden forwards it, waits for the workload (which takes a
/// second to exit), flushes within `RUNWARDEN_FLUSH_TIMEOUT`, and writes every finding it could not
/// deliver to stderr as structured JSON.
#[test]
fn sigterm_during_an_outage_waits_for_the_workload_then_flushes_to_stderr_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &dead_url());
    let script =
        format!("trap 'sleep 1; echo bye; exit 7' TERM; {WORKLOAD}; echo ready; while :; do sleep 0.1; done");
    cmd.env("RUNWARDEN_FLUSH_TIMEOUT", "1s").args(["--", "sh", "-c", &script]);
    let live = Live::spawn(&mut cmd);
    // The workload's own output (`id`, ...) comes first.
    let mut lines = std::iter::from_fn(|| live.next_line(LINE_TIMEOUT));
    assert!(lines.any(|l| l == "ready"), "the workload did not start:\n{}", live.stderr_now());
    // The findings are raised (the file sink has them) before the signal.
    let raised = wait_for(Duration::from_secs(10), || (!file_ids(&file).is_empty()).then_some(()));
    assert!(raised.is_some(), "no findings:\n{}", live.stderr_now());
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    live.signal(libc::SIGTERM);
    let out = live.wait(TIMEOUT);
    let elapsed = signalled.elapsed();
    out.assert_code(7);
    assert_eq!(out.stdout().trim_end().lines().last(), Some("bye"), "the trap ran: SIGTERM was forwarded");
    // 1 s for the workload's trap, at most 1 s of flushing, and process start-up slack.
    assert!(elapsed >= Duration::from_secs(1), "runwarden did not wait for the workload: {elapsed:?}");
    assert!(elapsed < Duration::from_millis(3500), "the flush timeout was not kept: {elapsed:?}");
    let want: HashSet<String> = file_ids(&file).into_iter().collect();
    let logs = out.logs();
    let undelivered: Vec<&Value> = logs
        .iter()
        .filter(|v| v["logging.googleapis.com/labels"]["runwarden/undelivered"] == "true")
        .collect();
    let got: HashSet<String> =
        undelivered.iter().map(|v| v["finding"]["findingId"].as_str().unwrap().to_string()).collect();
    assert_eq!(got, want, "every finding is on stderr:\n{}", out.stderr());
    for v in undelivered {
        // Cloud Logging's structured form: severity, message, labels, the whole finding.
        assert!(["CRITICAL", "ERROR", "WARNING", "NOTICE"].contains(&v["severity"].as_str().unwrap()));
        assert!(v["message"].as_str().unwrap().starts_with(v["finding"]["category"].as_str().unwrap()));
        assert_eq!(v["logging.googleapis.com/labels"]["runwarden/category"], v["finding"]["category"]);
    }
    let fin = finished(&out);
    assert_eq!(fin["undelivered"], want.len() as u64, "{fin}");
    assert!(out.stderr().contains("the final heartbeat was not delivered before the flush timeout"));
}
