//! The consumer side of the sensors: one thread that takes events off the queue and runs each through
//! the stages in order: `enrich` (the facts an event lacks, and the process table), `detect` (the one
//! place findings are born), then `ship` (de-duplication, storm control, sinks). It also runs the
//! periodic /proc scan (`sensors::scanner`), whose events take the same path, and ships the findings
//! the tracer's enforcer (`respond::enforce`) raised at its stops.
//!
//! The queue between the sensors and this thread is bounded (`events::bus`): when it is full the
//! tracer *waits* rather than drop an event, because every exec must be seen; the stall is counted and
//! reported. Enrichment never runs on the tracer thread.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use runwarden_contract::{Finding, Resource};
use serde::Serialize;

use crate::detect::engine::{Engine, Mode as DetectMode};
use crate::detect::policy::{Policy, RuleAction};
use crate::enrich::enricher::{Enricher, Intel};
use crate::events::bus::{self, Msg};
use crate::events::queue::Take;
use crate::events::{EventReceiver, EventSender, ExecEvent, MismatchEvent, ProcessEvent, Tracking};
use crate::sensors::scanner::scan::Scanner;
use crate::ship::dedup::Dedup;
use crate::ship::heartbeat::{Context, SensorState};
use crate::ship::ratelimit::RateLimit;
use crate::ship::{SinkSpec, Sinks};

mod soon;
mod verify;

/// When runwarden started: without a baseline, files changed after this count as added.
pub static STARTED: std::sync::LazyLock<std::time::SystemTime> =
    std::sync::LazyLock::new(std::time::SystemTime::now);

/// Events in flight between the tracer and the pipeline (about 1 KiB each).
pub const QUEUE_CAPACITY_EVENTS: usize = 4096;

pub struct PipelineConfig {
    /// The image baseline file, loaded by the pipeline thread (never on the workload's start path).
    pub baseline: Option<PathBuf>,
    pub proc_root: PathBuf,
    pub self_pid: i32,
    pub scan_interval: Duration,
    pub env_names: Vec<String>,
    /// Rules to evaluate and where findings go; `None` only observes (tests, benchmarks).
    pub detection: Option<Detection>,
    /// Findings of the tracer's enforcer (`respond::enforce`), shipped like every other.
    pub enforced: Receiver<Finding>,
    /// The process table and hash cache, shared with the enforcer.
    pub shared: crate::enrich::SharedState,
}

/// The detection stage: rules, then de-duplication, then the sinks.
pub struct Detection {
    /// The whole policy; its built-in rules are compiled on the pipeline thread, off the workload's
    /// start path. `None`: the built-in policy alone, not even parsed yet (no user directory and no
    /// enforcement: nothing had to be checked before the start), parsed here too.
    pub policy: Option<Policy>,
    /// The rules a user supplied, already compiled by the start-up check (each rule is compiled once).
    pub user_rules: Engine,
    /// Signatures and IoC lists when the start-up check compiled them (a policy directory is set);
    /// else the pipeline loads the built-in ones.
    pub intel: Option<Intel>,
    /// The user's policy directory: extra `*.yar` signatures and `ioc/*.txt` lists.
    pub policy_dir: Option<PathBuf>,
    pub resource: Resource,
    /// In enforce mode the kill/stop rules belong to the tracer's enforcer and are left out here.
    pub skip_enforcing: bool,
    pub mode: DetectMode,
    pub sinks: Vec<SinkSpec>,
}

/// Rules, then de-duplication, then storm control, then the sinks.
struct Detector {
    engine: Engine,
    mode: DetectMode,
    dedup: Dedup,
    limit: RateLimit,
    sinks: Sinks,
    /// When the de-duplication windows and rate-limit counts were last flushed.
    flushed: Instant,
}

impl Detector {
    /// Compiles the built-in rules here and adds the user's, compiled at start-up. A failure only
    /// disables detection (fail open): the defaults are checked by the test suite.
    fn new(d: Detection) -> Option<Detector> {
        let skip = d.skip_enforcing;
        // Project, region and instance from the metadata server: here, off the start path.
        let resource = crate::ship::metadata::enrich(d.resource);
        let context =
            Context { resource: resource.clone(), mode: d.mode, start_time: *STARTED, ..Context::default() };
        let builtin = |r: &crate::detect::policy::LoadedRule| {
            r.origin.source == "builtin" && !(skip && r.spec.action != RuleAction::Alert)
        };
        let policy = match d.policy.map(Ok).unwrap_or_else(|| Policy::load_with_dir(None)) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("detection disabled: the built-in policy does not load:\n{e}");
                return None;
            }
        };
        match Engine::with_rules(policy, resource, builtin) {
            Ok(mut engine) => {
                engine.absorb(d.user_rules);
                engine.service_port = std::env::var("PORT").ok().and_then(|p| p.parse().ok());
                Some(Detector {
                    engine,
                    mode: d.mode,
                    dedup: Dedup::default(),
                    limit: RateLimit::new(Instant::now()),
                    sinks: Sinks::new(&d.sinks, context),
                    flushed: Instant::now(),
                })
            }
            Err(e) => {
                tracing::error!("detection disabled: the rules do not compile:\n{e}");
                None
            }
        }
    }

    /// De-duplication, then storm control, then the sinks. Returns how many findings were written.
    fn emit(&mut self, f: Finding) -> u64 {
        let now = Instant::now();
        let Some(f) = self.dedup.admit(f, now) else { return 0 };
        let Some(f) = self.limit.admit(f, now) else { return 0 };
        self.sinks.emit(&f);
        1
    }

    /// The event's findings, shipped.
    fn detect(&mut self, ev: &ProcessEvent) -> u64 {
        let findings = self.engine.evaluate(ev, self.mode);
        findings.into_iter().map(|f| self.emit(f)).sum()
    }

    /// Writes the de-duplication and rate-limit summaries that are due (all of them when `all`).
    fn flush(&mut self, all: bool) -> u64 {
        let now = Instant::now();
        let mut summaries = self.dedup.flush(now, all);
        summaries.extend(self.limit.summaries(now, all));
        for f in &summaries {
            self.sinks.emit(f);
        }
        summaries.len() as u64
    }
}

/// What the pipeline did, logged at exit.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStats {
    pub events: u64,
    pub execs: u64,
    pub untraced: u64,
    /// Scanner events: stdio reaching the network, connections and listeners, libraries judged.
    pub stdio_events: u64,
    pub connections: u64,
    pub libraries: u64,
    /// Where the scanner read sockets from ("sock_diag" or "/proc/net").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_source: Option<&'static str>,
    /// Connection events over the per-pass bound (counted, not evaluated).
    pub connections_dropped: u64,
    pub scans: u64,
    pub hash_hits: u64,
    pub hash_misses: u64,
    pub findings: u64,
    pub findings_unwritten: u64,
    pub rule_errors: u64,
    /// Times the tracer found the queue full and waited.
    pub queue_stalls: u64,
    /// Events that arrived after the pipeline was closed.
    pub lost: u64,
    /// Events whose processing failed with an internal error.
    pub failed: u64,
    /// Execs whose process ran other arguments or another program than the seccomp sensor read.
    pub mismatches: u64,
    /// Such differences not reported because the process had exec'd again meanwhile.
    pub mismatches_superseded: u64,
}

pub struct Pipeline {
    handle: JoinHandle<PipelineStats>,
    events: EventReceiver,
}

/// Starts the pipeline thread.
pub fn spawn(cfg: PipelineConfig) -> std::io::Result<(EventSender, Pipeline)> {
    let (sender, events) = bus::channel(QUEUE_CAPACITY_EVENTS);
    let worker_events = events.clone();
    let handle = std::thread::Builder::new().name("rw-pipeline".into()).spawn(move || {
        // If this thread dies, the queue must refuse events rather than let the tracer wait forever
        // for room: the guard closes it on every exit path, unwinding included.
        let _close_on_exit = CloseOnDrop(worker_events.clone());
        // Compiling the rules keeps a core busy for tens of milliseconds: it waits for the first
        // message (the workload has started), so it never competes with runwarden's own start-up and
        // delays the workload's first instruction. Nothing is lost meanwhile: messages queue.
        let early = first_messages(&worker_events);
        Worker::new(cfg).run(&worker_events, early)
    })?;
    Ok((sender, Pipeline { handle, events }))
}

impl Pipeline {
    /// Closes the queue, lets the pipeline drain what is queued, and waits for it.
    pub fn finish(self) -> PipelineStats {
        self.events.close();
        let mut stats = self.handle.join().unwrap_or_else(|_| {
            tracing::error!("the pipeline thread panicked; some process events were not processed");
            PipelineStats::default()
        });
        stats.queue_stalls = self.events.stalls();
        stats.lost = self.events.lost();
        stats
    }
}

/// Waits for the first messages (or the queue's close: then there are none).
fn first_messages(queue: &EventReceiver) -> Vec<Msg> {
    loop {
        match queue.take(false, Duration::from_secs(3600)) {
            Take::Items(msgs) => return msgs,
            Take::Closed => return Vec::new(),
            Take::TimedOut => {}
        }
    }
}

struct CloseOnDrop(EventReceiver);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

struct Worker {
    cfg: PipelineConfig,
    enricher: Enricher,
    detector: Option<Detector>,
    scanner: Option<Scanner>,
    /// The seccomp sensor's execs, checked against what runs once they have happened.
    verifier: verify::Verifier,
    /// Early scanner passes asked for by execs that make a tree worth a look now.
    soon: soon::Soon,
    stats: PipelineStats,
}

impl Worker {
    fn new(mut cfg: PipelineConfig) -> Self {
        let intel = cfg.detection.as_mut().and_then(|d| {
            d.intel
                .take()
                .map(Ok)
                .unwrap_or_else(|| Intel::load(d.policy_dir.as_deref()))
                .map_err(|e| {
                    tracing::error!(error = %e, "signatures and IoC lists disabled");
                })
                .ok()
        });
        let detector = cfg.detection.take().and_then(Detector::new);
        let enricher = Enricher::new(
            cfg.proc_root.clone(),
            cfg.self_pid,
            cfg.env_names.clone(),
            cfg.baseline.as_deref(),
            *STARTED,
            intel,
            cfg.shared.clone(),
        );
        Worker {
            cfg,
            enricher,
            detector,
            scanner: None,
            verifier: verify::Verifier::default(),
            soon: soon::Soon::default(),
            stats: PipelineStats::default(),
        }
    }

    fn run(mut self, queue: &EventReceiver, early: Vec<Msg>) -> PipelineStats {
        for msg in early {
            self.receive_guarded(msg);
        }
        let mut next_scan = Instant::now() + self.cfg.scan_interval;
        let mut busy = false;
        loop {
            let wake = self.soon.next().map_or(next_scan, |t| t.min(next_scan));
            let timeout = wake.saturating_duration_since(Instant::now());
            match queue.take(busy, timeout) {
                Take::Items(msgs) => {
                    busy = true;
                    // The enforcer sends its findings before the event of the stop it acted at.
                    self.ship_enforced();
                    for msg in msgs {
                        self.receive_guarded(msg);
                    }
                }
                Take::TimedOut => busy = false,
                Take::Closed => break,
            }
            self.ship_enforced();
            if !self.verifier.is_empty() {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.verify(queue)));
                if r.is_err() {
                    self.stats.failed += 1;
                    tracing::error!("internal error while checking execs against /proc; checks skipped");
                }
            }
            let now = Instant::now();
            let early = self.soon.take_due(now);
            if now >= next_scan {
                self.scan();
                next_scan = Instant::now() + self.cfg.scan_interval;
            } else if early {
                self.scan();
            }
            // Once a second: expired de-duplication windows close (and the table stays within its
            // bound: a storm of distinct findings would otherwise keep one window each until exit),
            // and rate-limit summaries go out every SUMMARY_INTERVAL.
            if let Some(d) = self.detector.as_mut().filter(|d| d.flushed.elapsed() >= Duration::from_secs(1))
            {
                d.flushed = Instant::now();
                self.stats.findings += d.flush(false);
            }
        }
        self.ship_enforced();
        if let Some(d) = self.detector.as_mut() {
            self.stats.findings += d.flush(true);
            // The HTTP sinks deliver what they hold, within RUNWARDEN_FLUSH_TIMEOUT.
            d.sinks.finish();
            self.stats.findings_unwritten = d.sinks.counts().1;
            self.stats.rule_errors = d.engine.eval_errors;
        }
        (self.stats.hash_hits, self.stats.hash_misses) = self.enricher.hash_counts();
        self.stats
    }

    /// Ships the findings the tracer's enforcer raised.
    fn ship_enforced(&mut self) {
        while let Ok(f) = self.cfg.enforced.try_recv() {
            if let Some(d) = self.detector.as_mut() {
                self.stats.findings += d.emit(f);
            }
        }
    }

    /// A hostile /proc entry or a bug must cost one event, not the pipeline.
    fn receive_guarded(&mut self, msg: Msg) {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.receive(msg)));
        if r.is_err() {
            self.stats.failed += 1;
            tracing::error!("internal error while processing a process event; event skipped");
        }
    }

    fn receive(&mut self, msg: Msg) {
        match msg {
            Msg::Begin { tracking, main_pid } => self.begin(tracking, main_pid),
            Msg::Event(ev) => self.handle(ev),
        }
    }

    /// The tracer knows how it sees the workload: the scanner starts.
    fn begin(&mut self, tracking: Tracking, main_pid: i32) {
        self.enricher.set_main_pid(main_pid);
        if let Some(d) = &self.detector {
            d.sinks.sensor(match tracking {
                Tracking::Ptrace => SensorState::Ptrace,
                Tracking::Poll => SensorState::Poll,
                Tracking::Seccomp => SensorState::Seccomp,
            });
        }
        let scanner =
            Scanner::new(self.cfg.proc_root.clone(), self.cfg.self_pid, tracking, self.cfg.env_names.clone());
        // The stdio, connection and library watchers feed rules: on when detection is.
        let scanner = if self.detector.is_some() { scanner.with_sensors(main_pid) } else { scanner };
        self.stats.socket_source = scanner.socket_source();
        self.scanner = Some(scanner);
    }

    /// Compares the seccomp sensor's execs with what runs now (`verify`): a difference is an event of
    /// its own (`ProcessEvent::Mismatch`), enriched and judged like every other.
    ///
    /// A process may have exec'd again between its checked exec and the look at /proc (a shebang
    /// through `/usr/bin/env`, a wrapper script's `exec`). The sensor queues each exec before it lets
    /// it happen, so every such later exec is in the queue by now: it is taken first, and a process
    /// with a newer exec is not judged against the older one (its newer exec is checked in turn).
    fn verify(&mut self, queue: &EventReceiver) {
        let found = self.verifier.check(&self.cfg.proc_root);
        if found.iter().all(|(_, o)| !matches!(o, verify::CheckOutcome::Mismatch { .. })) {
            return;
        }
        let mut exec_again = std::collections::HashSet::new();
        self.ship_enforced();
        for msg in queue.take_now() {
            if let Msg::Event(ProcessEvent::Exec(e)) = &msg {
                exec_again.insert(e.pid);
            }
            self.receive_guarded(msg);
        }
        for (inspected, outcome) in found {
            let verify::CheckOutcome::Mismatch { running_path, running_args } = outcome else { continue };
            if exec_again.contains(&inspected.pid) {
                self.stats.mismatches_superseded += 1;
                continue;
            }
            self.stats.mismatches += 1;
            tracing::warn!(
                pid = inspected.pid,
                inspected = %inspected.args.join(" "),
                running = %running_args.join(" "),
                "a process runs other arguments or another program than its exec showed ({running_path})"
            );
            let process = ExecEvent {
                time: std::time::SystemTime::now(),
                sensor: crate::events::Sensor::Scanner,
                pid: inspected.pid,
                ppid: inspected.ppid,
                binary: crate::events::Binary { path: running_path, ..Default::default() },
                args: running_args,
                ..ExecEvent::default()
            };
            self.handle(ProcessEvent::Mismatch(Box::new(MismatchEvent { process, inspected })));
        }
    }

    fn scan(&mut self) {
        let Some(scanner) = self.scanner.as_mut() else {
            return;
        };
        self.stats.scans += 1;
        let listed = SystemTime::now();
        let enricher = &self.enricher;
        let events = scanner.pass(&|pid| enricher.table().get(pid).and_then(|e| e.stdio.clone()));
        self.stats.connections_dropped = scanner.connections_dropped();
        // The first pass finds out whether sock_diag answers.
        self.stats.socket_source = scanner.socket_source();
        for ev in events {
            self.handle(ev);
        }
        if let Some(scanner) = self.scanner.as_ref() {
            self.enricher.reconcile(scanner.live(), listed);
        }
        self.enricher.prune();
    }

    /// One event through the stages: enrich, count, detect (and ship), log.
    fn handle(&mut self, mut ev: ProcessEvent) {
        self.stats.events += 1;
        if let Some(d) = &self.detector {
            d.sinks.event_seen();
        }
        if !self.enricher.enrich(&mut ev) {
            return;
        }
        match &ev {
            ProcessEvent::Exec(e) if e.sensor == crate::events::Sensor::Seccomp => {
                self.verifier.expect(e);
                self.look_soon(e);
            }
            ProcessEvent::Exec(e) => self.look_soon(e),
            ProcessEvent::Exit(x) => self.verifier.forget(x.pid),
            _ => {}
        }
        self.count(&ev);
        if let Some(d) = self.detector.as_mut() {
            self.stats.findings += d.detect(&ev);
            // A connect of the syscall mode is also a connection for the network rules.
            if let ProcessEvent::Syscall(c) = &ev {
                if let Some(conn) = self.enricher.connection_of_call(c) {
                    self.stats.findings += d.detect(&ProcessEvent::Connection(Box::new(conn)));
                }
            }
        }
        log_event(&ev);
    }

    /// An exec that makes its tree worth a look now asks for early scanner passes (`soon`), when the
    /// scanner's watchers are on.
    fn look_soon(&mut self, e: &ExecEvent) {
        if self.detector.is_some() && e.sensor != crate::events::Sensor::Scanner && soon::wants_look(e) {
            self.soon.request(Instant::now());
        }
    }

    fn count(&mut self, ev: &ProcessEvent) {
        let s = &mut self.stats;
        match ev {
            ProcessEvent::Exec(_) => s.execs += 1,
            ProcessEvent::Untraced(_) => s.untraced += 1,
            ProcessEvent::Stdio(_) => s.stdio_events += 1,
            ProcessEvent::Connection(_) => s.connections += 1,
            ProcessEvent::Library(_) => s.libraries += 1,
            ProcessEvent::Start(_)
            | ProcessEvent::Exit(_)
            | ProcessEvent::File(_)
            | ProcessEvent::Mismatch(_)
            | ProcessEvent::Syscall(_) => {}
        }
    }
}

fn json(ev: &ProcessEvent) -> String {
    serde_json::to_string(ev).unwrap_or_default()
}

/// The debug line of each event (what runwarden sees), or the warning of an untraced process.
fn log_event(ev: &ProcessEvent) {
    let what = match ev {
        ProcessEvent::Untraced(u) => {
            tracing::warn!(
                pid = u.untraced.pid,
                ppid = u.untraced.ppid.unwrap_or(0),
                exe = u.untraced.exe.as_deref().unwrap_or(""),
                data = %json(ev),
                "a process escaped tracing (CLONE_UNTRACED or attached late); it is watched by /proc scans only"
            );
            return;
        }
        ProcessEvent::File(_) => return,
        ProcessEvent::Start(_) => "process started",
        ProcessEvent::Exec(_) => "exec",
        ProcessEvent::Exit(_) => "process exited",
        ProcessEvent::Syscall(_) => "syscall",
        ProcessEvent::Stdio(_) => "stdio reaches the network",
        ProcessEvent::Connection(_) => "connection",
        ProcessEvent::Library(_) => "library",
        ProcessEvent::Mismatch(_) => "exec changed after inspection",
    };
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(data = %json(ev), "{what}");
    }
}
