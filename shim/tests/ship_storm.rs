//! A storm of findings while the findings endpoint is down, end to end: over 100,000 findings raised
//! by real execs under the real runwarden, an HTTP sink whose endpoint refuses connections, a small
//! spool. Checked: runwarden's memory stays bounded (VmHWM), the least severe findings are shed first
//! (every CRITICAL one is kept), and nothing is dropped without a record: every finding that reached
//! the sinks is on stderr, in the spool, or counted in a "Runwarden: Findings Shed" summary, and every
//! finding the rules raised is in the sinks or counted in a rate-limit summary.

mod common;
mod ship_support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use ship_support::*;

/// Execs in the chain; each raises three findings (see `CHAIN`).
const EXECS: u64 = 34_000;
/// runwarden's peak resident memory allowed during the storm. Measured: 81 MiB (about 47 MiB for the
/// supervisor, rules, signatures and pipeline under this load, which a file sink alone also reaches,
/// plus the HTTP sink's memory queue, bounded at 10,000 findings or 32 MiB of JSON). Before the
/// de-duplication table was flushed during the run it kept every distinct finding: 464 MiB here.
const VMHWM_MAX_KIB: u64 = 128 * 1024;

/// The workload: one process that execs itself `n` times from a hidden directory in /dev/shm, with
/// `argv[0]` a known Kubernetes attack tool every tenth time and a recon tool otherwise. Each exec
/// raises "Privilege Escalation: Fileless Execution in /dev/shm" (HIGH), "Execution: Program Run
/// from Temporary Directory" (MEDIUM) and either "Execution: Kubernetes Attack Tool Execution"
/// (CRITICAL) or "Execution: Local Reconnaissance Tool Execution" (MEDIUM). The tool names come in
/// through argv, so the binary itself holds no signature strings.
const CHAIN: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 5) return 2;
    long n = atol(argv[1]);
    if (n <= 0) return 0;
    char next[32];
    snprintf(next, sizeof next, "%ld", n - 1);
    char *args[] = {(n - 1) % 10 == 0 ? argv[3] : argv[4], next, argv[2], argv[3], argv[4], NULL};
    execv(argv[2], args);
    return 127;
}
"#;

fn compile_chain(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("chain.c");
    std::fs::write(&src, CHAIN).unwrap();
    let bin = dir.join("chain");
    let out = std::process::Command::new("cc").args(["-O2", "-static", "-o"]).arg(&bin).arg(&src).output();
    let out = out.expect("cc (gcc) is needed to build the storm workload");
    assert!(out.status.success(), "cc: {}", String::from_utf8_lossy(&out.stderr));
    bin
}

fn vmhwm_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn spool_records(dir: &Path) -> Vec<Value> {
    walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .flat_map(|p| read_findings(&p))
        .collect()
}

fn count(v: &Value, key: &str) -> u64 {
    v["sourceProperties"][key].as_u64().unwrap_or(0)
}

#[test]
fn a_storm_during_an_outage_keeps_memory_bounded_and_loses_nothing_without_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let chain = compile_chain(dir.path());
    let shm = std::path::PathBuf::from(format!("/dev/shm/.rw-storm-{}", std::process::id()));
    std::fs::create_dir_all(&shm).unwrap();
    let worker = shm.join("worker");
    std::fs::copy(&chain, &worker).unwrap();
    let spool = dir.path().join("spool");
    let (mut cmd, file) = rw_with(&dir, &dead_url());
    cmd.env("RUNWARDEN_SPOOL_DIR", &spool)
        .env("RUNWARDEN_SPOOL_MAX", "16MiB")
        .env("RUNWARDEN_FLUSH_TIMEOUT", "1s")
        // The host's own file activity (other tests) stays out of the count.
        .env("RUNWARDEN_WATCH", "off")
        .arg("--")
        .arg(&worker)
        .arg(EXECS.to_string())
        .arg(&worker)
        .args(["peirates", "linpeas"]);
    let started = Instant::now();
    let live = Live::spawn(&mut cmd);
    // VmHWM is a high-water mark: sampled until the process is gone, the last sample is the peak
    // (up to the last 20 ms, the writing of stderr lines at exit).
    let (peak, done) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), live.pid);
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = vmhwm_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let out = live.wait(Duration::from_secs(120));
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    std::fs::remove_dir_all(&shm).ok();
    let elapsed = started.elapsed();
    out.assert_code(0);
    let peak = peak.load(Ordering::Relaxed);

    // What the rules raised: every finding reached the sinks, or is counted in a rate-limit summary.
    let sunk = read_findings(&file);
    let summaries = sunk.iter().filter(|f| count(f, "rateLimited") > 0 || count(f, "suppressedRepeats") > 0);
    let held: u64 = summaries.clone().map(|f| count(f, "rateLimited") + count(f, "suppressedRepeats")).sum();
    let raised = sunk.len() as u64 - summaries.count() as u64 + held;
    assert!(raised >= 100_000, "only {raised} findings raised");

    // What reached the HTTP sink: on stderr, in the spool, or counted by a shed summary.
    let mut survivors: HashMap<String, Value> = HashMap::new();
    let logs = out.logs();
    let undelivered =
        logs.iter().filter(|v| v["logging.googleapis.com/labels"]["runwarden/undelivered"] == "true");
    for f in undelivered.map(|v| v["finding"].clone()).chain(spool_records(&spool)) {
        survivors.insert(f["findingId"].as_str().unwrap().to_string(), f);
    }
    let shed_summaries: Vec<&Value> =
        survivors.values().filter(|f| f["category"] == "Runwarden: Findings Shed").collect();
    let mut shed_by_category: HashMap<String, u64> = HashMap::new();
    for s in &shed_summaries {
        for (category, n) in s["sourceProperties"]["shed"].as_object().unwrap() {
            *shed_by_category.entry(category.clone()).or_default() += n.as_u64().unwrap();
        }
        assert_eq!(
            count(s, "shedTotal"),
            s["sourceProperties"]["shed"]
                .as_object()
                .unwrap()
                .values()
                .map(|n| n.as_u64().unwrap())
                .sum::<u64>()
        );
    }
    let shed: u64 = shed_by_category.values().sum();
    let sunk_ids: HashSet<&str> = sunk.iter().map(|f| f["findingId"].as_str().unwrap()).collect();
    let kept = survivors.keys().filter(|id| sunk_ids.contains(id.as_str())).count() as u64;
    assert_eq!(
        kept + shed_summaries.len() as u64,
        survivors.len() as u64,
        "every survivor is a finding of this run or a shed summary"
    );
    assert!(shed > 0, "the storm did not overflow the buffers: {} findings kept", kept);
    assert_eq!(kept + shed, sunk.len() as u64, "kept {kept} + shed {shed} != {} findings sunk", sunk.len());

    // Least severe first: every CRITICAL finding is kept; only less severe categories were shed.
    let severity_of: HashMap<&str, &str> =
        sunk.iter().map(|f| (f["category"].as_str().unwrap(), f["severity"].as_str().unwrap())).collect();
    let critical: Vec<&str> = sunk
        .iter()
        .filter(|f| f["severity"] == "CRITICAL")
        .map(|f| f["findingId"].as_str().unwrap())
        .collect();
    assert!(critical.len() as u64 >= EXECS / 10 - 1, "{} CRITICAL findings", critical.len());
    assert!(critical.iter().all(|id| survivors.contains_key(*id)), "a CRITICAL finding was shed");
    for category in shed_by_category.keys() {
        assert_ne!(severity_of.get(category.as_str()).copied(), Some("CRITICAL"), "{category} was shed");
    }
    // The rate limiter's burst let MEDIUM findings through at the start; the full spool sheds them
    // before any HIGH file.
    let medium = shed_by_category.keys().any(|c| severity_of.get(c.as_str()).copied() == Some("MEDIUM"));
    assert!(medium, "no MEDIUM finding was shed: {shed_by_category:?}");

    let fin = finished(&out);
    assert_eq!(fin["shed"].as_u64(), Some(shed), "{fin}");
    assert!(fin["spooled"].as_u64().unwrap() > 0, "{fin}");
    assert!(peak > 0 && peak <= VMHWM_MAX_KIB, "VmHWM {peak} KiB over {VMHWM_MAX_KIB} KiB");
    eprintln!(
        "storm: {raised} findings raised, {} sunk, {kept} kept, {shed} shed {shed_by_category:?}, \
         VmHWM {peak} KiB, {elapsed:?}",
        sunk.len()
    );
}
