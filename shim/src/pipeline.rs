//! The consumer side of the sensors: one thread that receives process events, keeps the process
//! table, enriches exec events (sha256, socket peers, ancestors), runs the periodic /proc scan, and
//! hands the result on (today: the debug log; the detection engine plugs in here).
//!
//! The queue between them is bounded (`queue`): when it is full the tracer *waits* rather than drop an
//! event, because every exec must be seen; the stall is counted and reported. Enrichment never runs on
//! the tracer thread.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::detect::engine::{Engine, Mode as DetectMode};
use crate::detect::finding::Resource;
use crate::detect::ioc::Iocs;
use crate::detect::policy::EventKind;
use crate::detect::policy::{Policy, RuleAction};
use crate::detect::scan::ScanSubject;
use crate::detect::signatures::Signatures;
use crate::event::{ExecEvent, FileEvent, ProcessEvent, Sensor};
use crate::fs::baseline::{Baseline, Judge, Verdict};
use crate::fs::hash::HashCache;
use crate::proc::capture::ProcReader;
use crate::proc::scan::Scanner;
use crate::proc::table::ProcessTable;
use crate::queue::{Queue, Take};
use crate::ship::dedup::Dedup;
use crate::ship::heartbeat::{Context, Sensor as HeartbeatSensor};
use crate::ship::ratelimit::RateLimit;
use crate::ship::{SinkSpec, Sinks};
use crate::trace::Mode;

mod enrich;

/// When runwarden started: without a baseline, files changed after this count as added.
pub static STARTED: std::sync::LazyLock<std::time::SystemTime> =
    std::sync::LazyLock::new(std::time::SystemTime::now);

/// Events in flight between the tracer and the pipeline (about 1 KiB each).
pub const QUEUE_CAPACITY_EVENTS: usize = 4096;

enum Msg {
    /// The tracer knows its mode and the main pid: scanning can start.
    Begin {
        mode: Mode,
        main_pid: i32,
    },
    Event(ProcessEvent),
}

/// The tracer's handle on the pipeline.
#[derive(Clone)]
pub struct EventSender {
    queue: Arc<Queue<Msg>>,
    /// Events refused because the pipeline had already been closed.
    lost: Arc<AtomicU64>,
}

impl EventSender {
    fn push(&self, msg: Msg) {
        if !self.queue.push(msg) {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn send(&self, ev: ProcessEvent) {
        self.push(Msg::Event(ev));
    }

    pub fn begin(&self, mode: Mode, main_pid: i32) {
        self.push(Msg::Begin { mode, main_pid });
    }
}

pub struct PipelineConfig {
    /// The image baseline file, loaded by the pipeline thread (never on the workload's start path).
    pub baseline: Option<PathBuf>,
    pub proc_root: PathBuf,
    pub self_pid: i32,
    pub scan_interval: Duration,
    pub env_names: Vec<String>,
    /// Rules to evaluate and where findings go; `None` only observes (tests, benchmarks).
    pub detection: Option<Detection>,
}

/// The detection stage: rules, then de-duplication, then the sinks.
pub struct Detection {
    /// The rules to compile; compiled on the pipeline thread, off the workload's start path.
    pub policy: Policy,
    /// The user's policy directory: extra `*.yar` signatures and `ioc/*.txt` lists.
    pub policy_dir: Option<PathBuf>,
    pub resource: Resource,
    /// In enforce mode the kill/stop rules belong to the tracer's enforcer and are left out here.
    pub skip_enforcing: bool,
    pub mode: DetectMode,
    pub sinks: Vec<SinkSpec>,
}

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
    /// De-duplication, then storm control, then the sinks. Returns how many findings were written.
    fn emit(&mut self, f: crate::detect::finding::Finding) -> u64 {
        let now = Instant::now();
        let Some(f) = self.dedup.admit(f, now) else { return 0 };
        let Some(f) = self.limit.admit(f, now) else { return 0 };
        self.sinks.emit(&f);
        1
    }

    fn on_exec(&mut self, e: &ExecEvent) -> u64 {
        let findings = self.engine.evaluate_exec(e, self.mode);
        findings.into_iter().map(|f| self.emit(f)).sum()
    }

    fn on_syscall(&mut self, e: &crate::event::SyscallEvent) -> u64 {
        let findings = self.engine.evaluate_syscall(e, self.mode);
        findings.into_iter().map(|f| self.emit(f)).sum()
    }

    fn on_file(&mut self, e: &FileEvent) -> u64 {
        let findings = self.engine.evaluate_file(e, self.mode);
        findings.into_iter().map(|f| self.emit(f)).sum()
    }

    fn on_scan(&mut self, kind: EventKind, process: &ExecEvent, subject: ScanSubject) -> u64 {
        let findings = self.engine.evaluate_scan(kind, process, subject, self.mode);
        findings.into_iter().map(|f| self.emit(f)).sum()
    }

    /// Ships a finding raised elsewhere (the tracer's enforcer).
    fn ship(&mut self, f: crate::detect::finding::Finding) -> u64 {
        self.emit(f)
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
}

pub struct Pipeline {
    handle: JoinHandle<PipelineStats>,
    queue: Arc<Queue<Msg>>,
    lost: Arc<AtomicU64>,
}

/// Starts the pipeline thread.
pub fn spawn(cfg: PipelineConfig) -> std::io::Result<(EventSender, Pipeline)> {
    let queue = Arc::new(Queue::new(QUEUE_CAPACITY_EVENTS));
    let lost = Arc::new(AtomicU64::new(0));
    let worker_queue = queue.clone();
    let handle = std::thread::Builder::new().name("rw-pipeline".into()).spawn(move || {
        // If this thread dies, the queue must refuse events rather than let the tracer wait forever
        // for room: the guard closes it on every exit path, unwinding included.
        let _close_on_exit = CloseOnDrop(worker_queue.clone());
        Worker::new(cfg).run(&worker_queue)
    })?;
    let sender = EventSender { queue: queue.clone(), lost: lost.clone() };
    Ok((sender, Pipeline { handle, queue, lost }))
}

impl Pipeline {
    /// Closes the queue, lets the pipeline drain what is queued, and waits for it.
    pub fn finish(self) -> PipelineStats {
        self.queue.close();
        let mut stats = self.handle.join().unwrap_or_else(|_| {
            tracing::error!("the pipeline thread panicked; some process events were not processed");
            PipelineStats::default()
        });
        stats.queue_stalls = self.queue.stalls();
        stats.lost = self.lost.load(Ordering::Relaxed);
        stats
    }
}

struct CloseOnDrop(Arc<Queue<Msg>>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Signatures and IoC lists, loaded on the pipeline thread.
struct Intel {
    signatures: Signatures,
    iocs: Iocs,
}

struct Worker {
    judge: Judge,
    intel: Option<Intel>,
    cfg: PipelineConfig,
    detector: Option<Detector>,
    table: ProcessTable,
    hashes: HashCache,
    scanner: Option<Scanner>,
    /// Reads the processes scanner events are about.
    reader: ProcReader,
    /// The service's port (`PORT`, set by Cloud Run): a listener there is the service's.
    service_port: Option<u16>,
    /// The workload's main process: the service.
    main_pid: Option<i32>,
    stats: PipelineStats,
}

impl Worker {
    fn new(mut cfg: PipelineConfig) -> Self {
        let policy_dir = cfg.detection.as_ref().and_then(|d| d.policy_dir.clone());
        let intel = cfg.detection.as_ref().and_then(|_| {
            let signatures = Signatures::load(policy_dir.as_deref());
            let iocs = Iocs::load(policy_dir.as_ref().map(|d| d.join("ioc")).as_deref());
            match (signatures, iocs) {
                (Ok(signatures), Ok(iocs)) => Some(Intel { signatures, iocs }),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(error = %e, "signatures and IoC lists disabled");
                    None
                }
            }
        });
        let detector = cfg.detection.take().and_then(|d| {
            let skip = d.skip_enforcing;
            // The start-up check already compiled every rule a user supplied, and the defaults are
            // checked by the test suite; a failure here still only disables detection (fail open).
            // Project, region and instance from the metadata server: here, off the start path.
            let resource = crate::ship::metadata::enrich(d.resource);
            let context = Context {
                resource: resource.clone(),
                mode: d.mode,
                start_time: *STARTED,
                ..Context::default()
            };
            match Engine::with_rules(d.policy, resource, |r| !(skip && r.spec.action != RuleAction::Alert)) {
                Ok(engine) => Some(Detector {
                    engine,
                    mode: d.mode,
                    dedup: Dedup::default(),
                    limit: RateLimit::new(Instant::now()),
                    sinks: Sinks::new(&d.sinks, context),
                    flushed: Instant::now(),
                }),
                Err(e) => {
                    tracing::error!("detection disabled: the rules do not compile:\n{e}");
                    None
                }
            }
        });
        let baseline = cfg.baseline.as_deref().and_then(|p| match Baseline::read(p) {
            Ok(b) => {
                tracing::info!(path = %p.display(), files = b.files.len(), "image baseline loaded");
                Some(b)
            }
            Err(e) => {
                tracing::error!(error = %e, "the image baseline cannot be used; added/modified verdicts fall back to file times");
                None
            }
        });
        Worker {
            reader: ProcReader::new(cfg.proc_root.clone()),
            service_port: std::env::var("PORT").ok().and_then(|p| p.parse().ok()),
            main_pid: None,
            judge: Judge::new(baseline, *STARTED),
            intel,
            cfg,
            detector,
            table: ProcessTable::default(),
            hashes: HashCache::default(),
            scanner: None,
            stats: PipelineStats::default(),
        }
    }

    fn run(mut self, queue: &Queue<Msg>) -> PipelineStats {
        let mut next_scan = Instant::now() + self.cfg.scan_interval;
        let mut busy = false;
        loop {
            let timeout = next_scan.saturating_duration_since(Instant::now());
            match queue.take(busy, timeout) {
                Take::Items(msgs) => {
                    busy = true;
                    for msg in msgs {
                        // A hostile /proc entry or a bug must cost one event, not the pipeline.
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.receive(msg)));
                        if r.is_err() {
                            self.stats.failed += 1;
                            tracing::error!("internal error while processing a process event; event skipped");
                        }
                    }
                }
                Take::TimedOut => busy = false,
                Take::Closed => break,
            }
            if Instant::now() >= next_scan {
                self.scan();
                next_scan = Instant::now() + self.cfg.scan_interval;
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
        if let Some(d) = self.detector.as_mut() {
            self.stats.findings += d.flush(true);
            // The HTTP sinks deliver what they hold, within RUNWARDEN_FLUSH_TIMEOUT.
            d.sinks.finish();
            self.stats.findings_unwritten = d.sinks.counts().1;
            self.stats.rule_errors = d.engine.eval_errors;
        }
        self.stats.hash_hits = self.hashes.hits;
        self.stats.hash_misses = self.hashes.misses;
        self.stats
    }

    fn receive(&mut self, msg: Msg) {
        match msg {
            Msg::Begin { mode, main_pid } => {
                self.main_pid = Some(main_pid);
                if let Some(d) = &self.detector {
                    d.sinks.sensor(match mode {
                        Mode::Ptrace => HeartbeatSensor::Ptrace,
                        Mode::Poll => HeartbeatSensor::Poll,
                    });
                }
                let scanner = Scanner::new(
                    self.cfg.proc_root.clone(),
                    self.cfg.self_pid,
                    mode,
                    self.cfg.env_names.clone(),
                );
                // The stdio, connection and library watchers feed rules: on when detection is.
                let scanner = if self.detector.is_some() { scanner.with_sensors(main_pid) } else { scanner };
                self.stats.socket_source = scanner.socket_source();
                self.scanner = Some(scanner);
            }
            Msg::Event(ev) => self.handle(ev),
        }
    }

    fn scan(&mut self) {
        let Some(scanner) = self.scanner.as_mut() else {
            return;
        };
        self.stats.scans += 1;
        let table = &self.table;
        let events = scanner.pass(&|pid| table.get(pid).and_then(|e| e.stdio.clone()));
        self.stats.connections_dropped = scanner.connections_dropped();
        for ev in events {
            self.handle(ev);
        }
        self.table.prune(Instant::now());
    }

    fn handle(&mut self, ev: ProcessEvent) {
        self.stats.events += 1;
        if let Some(d) = &self.detector {
            d.sinks.event_seen();
        }
        match ev {
            ProcessEvent::Start(ref s) => {
                self.table.start(s.pid, s.ppid);
                log_event("process started", &ev);
            }
            ProcessEvent::Exec(mut e) => {
                self.stats.execs += 1;
                self.enrich(&mut e, true);
                self.table.exec(&e);
                if let Some(d) = self.detector.as_mut() {
                    self.stats.findings += d.on_exec(&e);
                }
                log_event("exec", &ProcessEvent::Exec(e));
            }
            ProcessEvent::Exit(ref x) => {
                self.table.exit(x.pid, Instant::now());
                log_event("process exited", &ev);
            }
            ProcessEvent::File(mut f) => {
                // The watcher names a process only when one held the file open: add its lineage.
                if let Some(a) = f.process.as_mut() {
                    a.ancestors = self.table.ancestors(a.pid);
                    if a.ancestors.is_empty() {
                        a.ancestors = a.ppid.map(|p| self.table.ancestors_from(p)).unwrap_or_default();
                    }
                }
                if let Some(d) = self.detector.as_mut() {
                    self.stats.findings += d.on_file(&f);
                }
            }
            ProcessEvent::Syscall(mut c) => {
                // The opt-in syscall mode: the caller's program and lineage come from the table.
                c.process = Some(crate::trace::enforce::actor_of(&self.table, c.pid));
                if let Some(d) = self.detector.as_mut() {
                    self.stats.findings += d.on_syscall(&c);
                }
                // An internet connect is also a connection for the network rules (Stratum pools,
                // IoC addresses): exact, before it happens, where the scanner may miss a short one.
                let inet = matches!(c.detail.family.as_deref(), Some("inet" | "inet6"));
                if let (true, "connect", Some(ip), Some(port)) =
                    (inet, c.name, c.detail.address.clone(), c.detail.port)
                {
                    let conn = crate::event::ConnectionEvent {
                        time: c.time,
                        process: ExecEvent { sensor: Sensor::Seccomp, ..self.snapshot(c.pid, c.time) },
                        protocol: if c.detail.protocol.as_deref() == Some("UDP") { "UDP" } else { "TCP" },
                        local_ip: String::new(),
                        local_port: 0,
                        remote_ip: ip,
                        remote_port: port,
                        listening: false,
                        inode: 0,
                        main_process: false,
                        service_worker: false,
                    };
                    let ioc = self.intel.as_ref().is_some_and(|i| i.iocs.ips.contains(&conn.remote_ip));
                    if let Some(d) = self.detector.as_mut() {
                        let subject =
                            ScanSubject::Connection { event: &conn, service_port: self.service_port, ioc };
                        self.stats.findings += d.on_scan(EventKind::Connection, &conn.process, subject);
                    }
                }
                log_event("syscall", &ProcessEvent::Syscall(c));
            }
            ProcessEvent::Finding(f) => {
                if let Some(d) = self.detector.as_mut() {
                    self.stats.findings += d.ship(*f);
                }
            }
            ProcessEvent::Untraced(ref u) => {
                self.stats.untraced += 1;
                tracing::warn!(
                    pid = u.pid,
                    ppid = u.ppid,
                    exe = u.exe.as_deref().unwrap_or(""),
                    data = %json(&ev),
                    "a process escaped tracing (CLONE_UNTRACED or attached late); it is watched by /proc scans only"
                );
                let mut p = self.snapshot(u.pid, u.time);
                p.ppid = u.ppid;
                if p.binary.path.is_empty() {
                    p.binary.path = u.exe.clone().unwrap_or_default();
                    p.args = u.args.clone();
                }
                if let Some(d) = self.detector.as_mut() {
                    self.stats.findings += d.on_scan(EventKind::Untraced, &p, ScanSubject::Process);
                }
            }
            ProcessEvent::Stdio(mut e) => {
                self.stats.stdio_events += 1;
                self.enrich(&mut e, true);
                if let Some(d) = self.detector.as_mut() {
                    self.stats.findings += d.on_scan(EventKind::Stdio, &e, ScanSubject::Process);
                }
                log_event("stdio reaches the network", &ProcessEvent::Stdio(e));
            }
            ProcessEvent::Connection(mut c) => {
                self.stats.connections += 1;
                c.process = self.snapshot(c.process.pid, c.time);
                c.service_worker = self.main_pid.is_some_and(|m| {
                    let main = self.table.get(m);
                    m != c.process.pid
                        && main.is_some_and(|e| {
                            e.exe.as_deref() == Some(c.process.binary.path.as_str())
                                && e.args == c.process.args
                        })
                        && self.table.ancestors(c.process.pid).iter().any(|a| a.pid == m)
                });
                let ioc = self.intel.as_ref().is_some_and(|i| i.iocs.ips.contains(&c.remote_ip));
                if let Some(d) = self.detector.as_mut() {
                    let subject = ScanSubject::Connection { event: &c, service_port: self.service_port, ioc };
                    self.stats.findings += d.on_scan(EventKind::Connection, &c.process, subject);
                }
                log_event("connection", &ProcessEvent::Connection(c));
            }
            ProcessEvent::Library(mut l) => {
                self.judge_library(l.process.pid, &mut l.library);
                let verdict = l.library.verdict.unwrap_or(Verdict::Unknown);
                let foreign = matches!(verdict, Verdict::Added | Verdict::Modified)
                    || !l.library.signatures.is_empty()
                    || l.library.ioc_family.is_some()
                    || l.library.memfd;
                if !foreign {
                    return;
                }
                self.stats.libraries += 1;
                l.process = self.snapshot(l.process.pid, l.time);
                if let Some(d) = self.detector.as_mut() {
                    self.stats.findings +=
                        d.on_scan(EventKind::Library, &l.process, ScanSubject::Library(&l.library));
                }
                log_event("library", &ProcessEvent::Library(l));
            }
        }
    }
}

fn json(ev: &ProcessEvent) -> String {
    serde_json::to_string(ev).unwrap_or_default()
}

fn log_event(what: &str, ev: &ProcessEvent) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(data = %json(ev), "{what}");
    }
}
