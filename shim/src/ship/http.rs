//! The HTTP(S) sink: `RUNWARDEN_SINKS=https://...` (the native contract, batched) or
//! `falco+https://...` (falcosidekick events, one per request).
//!
//! Sensors never wait for the network: the pipeline thread only pushes the serialized finding onto a
//! bounded memory [`Shelf`] under a mutex (no I/O under it); one `rw-ship` thread per sink batches
//! (up to [`BATCH_MAX`] findings or [`BATCH_WAIT`]), gzips (`RUNWARDEN_GZIP`), POSTs and retries by the
//! pure policy of [`retry`](super::retry): the same batch, the same `findingId`s, capped jittered
//! backoff or `Retry-After`. While the endpoint fails, findings move to the disk [`Spool`] when
//! `RUNWARDEN_SPOOL_DIR` is set; spooled files (this run's or a previous run's) are delivered before
//! newer findings. When memory or spool is full the least severe go first and a summary finding says
//! what was shed.
//!
//! Shutdown ([`HttpSink::close`], from `Pipeline::finish` once the workload exited): the thread keeps
//! delivering for at most `RUNWARDEN_FLUSH_TIMEOUT` (default 5 s: with the 3 s grace this fits Cloud
//! Run's 10 s), then writes what is left to the spool (if any) and to stderr as structured lines (the
//! stderr sink's form: `severity`, `message`, `finding`) so Cloud Logging still has it.
//!
//! Auth: `Authorization: Bearer` from `RUNWARDEN_TOKEN_FILE`, re-read once on a `401`; or, with
//! `RUNWARDEN_AUTH=google`, a Google ID token for the endpoint's origin from the metadata server
//! (`169.254.169.254`, or `GCE_METADATA_HOST` like Google's client libraries), fetched before the
//! first request, renewed after 50 minutes (they last an hour) and on a `401`; a metadata server that
//! does not answer is retried like the endpoint, never sent without a token. Tokens are never logged,
//! and the URL is logged as scheme://host only.
//!
//! Client: see [`client`](super::client).
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::client::{build_agent, post_once, private_ca, read_token, Request};
pub use super::endpoint::{HttpSpec, ShipOptions};
use super::format::{self, Format};
use super::heartbeat::{Beat, Context, HeartbeatCounts};
use super::hedge;
use super::retry::{self, AttemptOutcome, Decision, Jitter};
use super::spool::{Record, Shed, Shelf, Spool};

/// Findings in one native request.
pub const BATCH_MAX: usize = 100;
/// How long the first finding of a batch waits for more.
pub const BATCH_WAIT: Duration = Duration::from_secs(1);
/// Findings kept in memory per sink.
pub const MEMORY_MAX_FINDINGS: usize = 10_000;
/// JSON bytes kept in memory per sink.
pub const MEMORY_MAX_BYTES: u64 = 32 << 20;
/// What one sink did, logged when it finishes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HttpStats {
    pub delivered: u64,
    pub rejected: u64,
    pub retries: u64,
    /// Deliveries answered by a second or third attempt while the first stalled.
    pub hedged: u64,
    pub shed: u64,
    pub spooled: u64,
    /// Written to stderr at shutdown because they could not be delivered.
    pub undelivered: u64,
}

struct State {
    shelf: Shelf,
    shed: Shed,
    /// When the oldest finding on the shelf arrived.
    since: Option<Instant>,
    closing: Option<Instant>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The pipeline's handle on one HTTP sink.
pub struct HttpSink {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<HttpStats>>,
    name: String,
}

impl HttpSink {
    pub fn start(spec: &HttpSpec, context: &Arc<Context>) -> std::io::Result<HttpSink> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                shelf: Shelf::new(MEMORY_MAX_FINDINGS, MEMORY_MAX_BYTES),
                shed: Shed::default(),
                since: None,
                closing: None,
            }),
            wake: Condvar::new(),
        });
        let mut shipper = Shipper::new(spec.clone());
        if spec.format == Format::Native {
            // falcosidekick has no heartbeat input.
            shipper.beat = spec.options.heartbeat.map(|i| Beat::new(context.clone(), i));
        }
        let s = shared.clone();
        let thread = std::thread::Builder::new().name("rw-ship".into()).spawn(move || shipper.run(&s))?;
        Ok(HttpSink { shared, thread: Some(thread), name: spec.name() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hands a finding over; never blocks on the network or the disk.
    pub fn emit(&self, r: Record) {
        let mut st = self.shared.lock();
        let State { shelf, shed, since, .. } = &mut *st;
        shelf.push(r, shed);
        // The first finding of a batch starts its wait: the thread learns when the batch is due.
        let first = since.is_none();
        since.get_or_insert_with(Instant::now);
        if first || shelf.len() >= BATCH_MAX {
            self.shared.wake.notify_all();
        }
    }

    /// Starts the final flush (returns at once).
    pub fn close(&self) {
        self.shared.lock().closing.get_or_insert_with(Instant::now);
        self.shared.wake.notify_all();
    }

    /// Waits for the final flush (bounded by the flush timeout).
    pub fn join(&mut self) -> HttpStats {
        self.close();
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.join();
        }
    }
}

/// The longest computed backoff once runwarden is shutting down (an endpoint's Retry-After is still
/// honoured).
const CLOSING_RETRY_MAX: Duration = Duration::from_millis(500);

/// Where the batch in flight came from.
enum Origin {
    Memory,
    Spool(u64),
}

struct Shipper {
    spec: HttpSpec,
    name: String,
    agent: ureq::Agent,
    /// The private CA's configuration, for the new connections of a second attempt.
    tls: Option<Arc<rustls::ClientConfig>>,
    token: Option<String>,
    /// When the Google ID token was fetched.
    token_at: Option<Instant>,
    spool: Option<Spool>,
    hostname: String,
    jitter: Jitter,
    stats: HttpStats,
    failing: bool,
    beat: Option<Beat>,
}

impl Shipper {
    fn new(spec: HttpSpec) -> Shipper {
        let name = spec.name();
        let token = spec.options.token_file.as_deref().and_then(|p| match read_token(p) {
            Ok(t) => Some(t),
            Err(e) => {
                // The configuration already checked it; it went away since.
                tracing::error!(sink = %name, path = %p.display(), error = %e, "cannot read the token file; sending without a token");
                None
            }
        });
        let spool = spec.options.spool_dir.as_deref().and_then(|dir| {
            // One directory per sink, so two sinks never deliver each other's findings.
            // Reading a byte slice cannot fail.
            let hash = crate::proc::files::sha256_hex(spec.url.as_bytes()).unwrap_or_default();
            let sub = dir.join(hash.get(..16).unwrap_or(&hash));
            match Spool::open(&sub, spec.options.spool_max) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::error!(sink = %name, path = %sub.display(), error = %e, "cannot use the spool directory; findings are kept in memory only");
                    None
                }
            }
        });
        let tls = private_ca(&spec, &name);
        let agent = build_agent(&spec, tls.clone());
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        Shipper {
            spec,
            name,
            agent,
            tls,
            token,
            token_at: None,
            spool,
            hostname,
            jitter: Jitter::new(),
            stats: HttpStats::default(),
            failing: false,
            beat: None,
        }
    }

    fn run(mut self, shared: &Shared) -> HttpStats {
        let mut batch: Vec<Record> = Vec::new();
        let mut origin = Origin::Memory;
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        // A request is in hand (`batch` may be empty: a heartbeat alone).
        let mut pending = false;
        loop {
            let closing = shared.lock().closing;
            let deadline = closing.map(|c| c + self.spec.options.flush_timeout);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            if !pending {
                match self.next_batch(shared) {
                    Some((b, o)) => (batch, origin, pending) = (b, o, true),
                    None if closing.is_some() => break,
                    None => continue,
                }
                reauthenticated = false;
            }
            // Shutdown may have begun while the batch was awaited.
            let closing = shared.lock().closing;
            let deadline = closing.map(|c| c + self.spec.options.flush_timeout);
            let timeout = match deadline {
                Some(d) => self.spec.options.timeout.min(d.saturating_duration_since(Instant::now())),
                None => self.spec.options.timeout,
            };
            if timeout.is_zero() {
                break;
            }
            let (last, shed) = {
                let st = shared.lock();
                let nothing_behind = st.shelf.is_empty() && st.shed.is_empty() && !self.spool_has_files();
                (closing.is_some() && nothing_behind, st.shed.total)
            };
            match self.send(&mut batch, timeout, &mut reauthenticated, last, shed) {
                Sent::Done => {
                    // The backoff grows across batches while the endpoint fails, and starts over here.
                    (pending, attempt) = (false, 0);
                    self.delivered(&origin);
                }
                Sent::Again => {}
                Sent::Retry { after, why } => {
                    attempt += 1;
                    self.back_off(shared, attempt, after, &why, batch.len());
                }
            }
        }
        if self.beat.as_ref().is_some_and(Beat::final_pending) && shared.lock().closing.is_some() {
            tracing::warn!(sink = %self.name, "the final heartbeat was not delivered before the flush timeout");
        }
        self.give_up(shared, batch, origin);
        self.finish(shared)
    }

    /// A batch is delivered: its spool file goes, and a failing endpoint is said to work again.
    fn delivered(&mut self, origin: &Origin) {
        if let (Origin::Spool(seq), Some(spool)) = (origin, self.spool.as_mut()) {
            spool.delivered(*seq);
        }
        if self.failing {
            self.failing = false;
            tracing::info!(sink = %self.name, "the findings endpoint accepts findings again");
        }
    }

    /// After failed attempt number `attempt`: spills memory to the spool and waits out the backoff
    /// (`after`: the endpoint's Retry-After), cut short by the flush deadline once shutdown began.
    fn back_off(
        &mut self,
        shared: &Shared,
        attempt: u32,
        after: Option<Duration>,
        why: &str,
        findings: usize,
    ) {
        self.stats.retries += 1;
        if !self.failing {
            self.failing = true;
            tracing::warn!(sink = %self.name, error = %why, findings, "the findings endpoint is failing; retrying with backoff");
        }
        let mut wait = retry::delay(attempt, self.jitter.sample(), after);
        if after.is_none() && shared.lock().closing.is_some() {
            // The flush budget is better spent on fresh attempts than on a long backoff.
            wait = wait.min(CLOSING_RETRY_MAX);
        }
        self.spill(shared);
        let until = Instant::now() + wait;
        let mut st = shared.lock();
        while Instant::now() < until {
            let left = until.saturating_duration_since(Instant::now());
            let left = match st.closing {
                Some(c) => {
                    left.min((c + self.spec.options.flush_timeout).saturating_duration_since(Instant::now()))
                }
                None => left,
            };
            if left.is_zero() {
                break;
            }
            st = shared.wake.wait_timeout(st, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// The sink's counts, logged once at the end.
    fn finish(&mut self, shared: &Shared) -> HttpStats {
        self.stats.shed = shared.lock().shed.total;
        if let Some(s) = &self.spool {
            self.stats.spooled = s.written;
        }
        let s = self.stats;
        tracing::info!(
            sink = %self.name,
            delivered = s.delivered,
            rejected = s.rejected,
            retries = s.retries,
            hedged = s.hedged,
            shed = s.shed,
            spooled = s.spooled,
            undelivered = s.undelivered,
            spool_bytes = self.spool.as_ref().map_or(0, |s| s.bytes()),
            "http sink finished"
        );
        s
    }

    /// The next batch: the oldest spool file first, then memory (with the shed summary ahead).
    /// `None` after waiting when there is nothing yet.
    fn next_batch(&mut self, shared: &Shared) -> Option<(Vec<Record>, Origin)> {
        if let Some(spool) = self.spool.as_mut() {
            if let Some((seq, records)) = spool.check_out() {
                if records.is_empty() {
                    spool.delivered(seq);
                    return None;
                }
                return Some((records, Origin::Spool(seq)));
            }
        }
        let spooled = self.spool_has_files();
        let mut st = shared.lock();
        loop {
            let now = Instant::now();
            let due = st.since.map(|s| s + BATCH_WAIT);
            let beat = self.beat.as_ref().filter(|b| b.final_pending()).map(Beat::due_at);
            let ready = st.shelf.len() >= BATCH_MAX
                || st.closing.is_some()
                || due.is_some_and(|d| now >= d)
                || beat.is_some_and(|d| now >= d);
            if ready {
                break;
            }
            let next = due.into_iter().chain(beat).min();
            let wait = next.map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(now));
            st = shared.wake.wait_timeout(st, wait).unwrap_or_else(|p| p.into_inner()).0;
        }
        let mut batch = Vec::new();
        if let Some(summary) = st.shed.summary() {
            batch.push(summary);
        }
        while batch.len() < BATCH_MAX {
            match st.shelf.pop_oldest() {
                Some(r) => batch.push(r),
                None => break,
            }
        }
        st.since = (!st.shelf.is_empty()).then(Instant::now);
        let last = st.closing.is_some() && st.shelf.is_empty() && st.shed.is_empty() && !spooled;
        let beat = self.beat.as_ref().is_some_and(|b| b.wanted(last, Instant::now()).is_some());
        (!batch.is_empty() || beat).then_some((batch, Origin::Memory))
    }

    fn spool_has_files(&self) -> bool {
        self.spool.as_ref().is_some_and(Spool::has_files)
    }

    /// The heartbeat a request sent now carries, if one is due (`last`: nothing is left behind it at
    /// shutdown, so it is the final one), with this sink's counts; `n` findings ride along and count
    /// as delivered, since the heartbeat is only read if the request is.
    fn heartbeat(&self, last: bool, n: usize, shed: u64) -> Option<(bool, serde_json::Value)> {
        let beat = self.beat.as_ref()?;
        let is_final = beat.wanted(last, Instant::now())?;
        let counts = HeartbeatCounts {
            delivered: self.stats.delivered + n as u64,
            retries: self.stats.retries,
            shed,
            spooled: self.spool.as_ref().map_or(0, |s| s.written),
            rejected: self.stats.rejected,
        };
        Some((is_final, beat.build(is_final, counts)))
    }

    /// Makes sure a Google ID token is at hand (fetched, or renewed when old or `stale`).
    fn google_token(&mut self, stale: bool) -> Result<(), String> {
        const RENEW_AFTER: Duration = Duration::from_secs(50 * 60);
        if !self.spec.options.google_auth {
            return Ok(());
        }
        if !stale && self.token.is_some() && self.token_at.is_some_and(|t| t.elapsed() < RENEW_AFTER) {
            return Ok(());
        }
        let token = super::metadata::id_token(&self.agent, &self.spec.origin())?;
        self.token = Some(token);
        self.token_at = Some(Instant::now());
        Ok(())
    }

    /// Sends the batch (all of it, or for falco one finding at a time, removing the delivered ones),
    /// with a heartbeat when one is due.
    fn send(
        &mut self,
        batch: &mut Vec<Record>,
        timeout: Duration,
        reauthenticated: &mut bool,
        last: bool,
        shed: u64,
    ) -> Sent {
        loop {
            if let Err(why) = self.google_token(false) {
                return Sent::Retry { after: None, why };
            }
            let mut heartbeat = None;
            let (body, n) = match self.spec.format {
                Format::Native => {
                    heartbeat = self.heartbeat(last, batch.len(), shed);
                    (format::native_body(batch, heartbeat.as_ref().map(|h| &h.1)), batch.len())
                }
                Format::Falco => {
                    let finding = serde_json::from_str(&batch[0].json).unwrap_or_default();
                    (format::falco_event(&finding, &self.hostname).to_string().into_bytes(), 1)
                }
            };
            let (outcome, detail) = self.post(&body, timeout);
            let decision = retry::decide(outcome, *reauthenticated);
            if let (Some((is_final, _)), Decision::Delivered | Decision::Reject) = (&heartbeat, decision) {
                // Answered: a refused heartbeat is not sent again at once, the next one is due later.
                if let Some(b) = self.beat.as_mut() {
                    b.answered(*is_final, Instant::now());
                }
            }
            match decision {
                Decision::Delivered => {
                    self.stats.delivered += n as u64;
                    batch.drain(..n);
                }
                Decision::Reject => {
                    let code = match outcome {
                        AttemptOutcome::Status { code, .. } => code,
                        _ => 0,
                    };
                    let ids: Vec<&str> = batch[..n].iter().take(5).map(|r| r.id.as_str()).collect();
                    tracing::error!(sink = %self.name, status = code, findings = n, heartbeat = heartbeat.is_some(), first_ids = %ids.join(","), "the findings endpoint rejected a batch; it is not retried");
                    self.stats.rejected += n as u64;
                    batch.drain(..n);
                }
                Decision::Reauthenticate => {
                    *reauthenticated = true;
                    if self.spec.options.google_auth {
                        if let Err(why) = self.google_token(true) {
                            return Sent::Retry { after: None, why };
                        }
                    }
                    if let Some(p) = self.spec.options.token_file.as_deref() {
                        match read_token(p) {
                            Ok(t) => self.token = Some(t),
                            Err(e) => {
                                tracing::error!(sink = %self.name, error = %e, "cannot re-read the token file")
                            }
                        }
                    }
                    return Sent::Again;
                }
                Decision::Retry { after } => return Sent::Retry { after, why: detail },
            }
            *reauthenticated = false;
            if batch.is_empty() {
                return Sent::Done;
            }
        }
    }

    /// What the endpoint answered, and the same in words for the log. The request goes out on the
    /// kept-alive connection; when it stalls, again on new connections (see `hedge`), within `timeout`.
    fn post(&mut self, body: &[u8], timeout: Duration) -> (AttemptOutcome, String) {
        let request = Arc::new(Request {
            url: self.spec.url.clone(),
            token: self.token.clone(),
            gzip: self.spec.options.gzip,
            body: if self.spec.options.gzip { format::gzip(body) } else { body.to_vec() },
        });
        let (pooled, spec, tls) = (self.agent.clone(), self.spec.clone(), self.tls.clone());
        let got = hedge::first_answer(timeout, hedge::HEDGE_AFTER, hedge::MAX_ATTEMPTS, move |n| {
            let agent = if n == 0 { pooled.clone() } else { build_agent(&spec, tls.clone()) };
            post_once(&agent, &request, timeout)
        });
        match got {
            Some((n, answer)) => {
                if n > 0 {
                    self.stats.hedged += 1;
                    tracing::debug!(sink = %self.name, attempt = n + 1, "a stalled request was overtaken by a new connection");
                }
                answer
            }
            None => (AttemptOutcome::Timeout, format!("no answer within {} ms", timeout.as_millis())),
        }
    }

    /// While the endpoint fails, moves what waits in memory to the spool (if there is one).
    fn spill(&mut self, shared: &Shared) {
        let Some(spool) = self.spool.as_mut() else { return };
        let records = {
            let mut st = shared.lock();
            st.since = None;
            st.shelf.drain()
        };
        let mut shed = Shed::default();
        for r in &records {
            if let Err(e) = spool.push(r, &mut shed) {
                tracing::error!(sink = %self.name, error = %e, "cannot write to the spool; finding kept in memory");
                let mut st = shared.lock();
                let State { shelf, shed, .. } = &mut *st;
                shelf.push(r.clone(), shed);
            }
        }
        if !shed.is_empty() {
            // Counted with the rest, summarised in the next batch.
            let summary = shed.summary();
            let mut st = shared.lock();
            st.shed.total += shed.total;
            if let Some(s) = summary {
                let State { shelf, shed, .. } = &mut *st;
                shelf.push(s, shed);
            }
        }
    }

    /// Shutdown with findings left: to the spool for the next run, and to stderr for Cloud Logging.
    fn give_up(&mut self, shared: &Shared, batch: Vec<Record>, origin: Origin) {
        let mut left: Vec<Record> = Vec::new();
        if matches!(origin, Origin::Memory) {
            left.extend(batch);
        }
        {
            let mut st = shared.lock();
            let summary = st.shed.summary();
            left.extend(summary);
            left.extend(st.shelf.drain());
        }
        if left.is_empty() {
            return;
        }
        tracing::error!(sink = %self.name, findings = left.len(), "findings could not be delivered before the flush timeout; written to stderr");
        let mut err = std::io::stderr().lock();
        for r in &left {
            if let Some(spool) = self.spool.as_mut() {
                // Only into free room: shedding spooled findings for these would lose them, while
                // these are on stderr anyway.
                let _ = spool.push_if_room(r);
            }
            let _ = writeln!(err, "{}", super::format::undelivered_line(r));
            self.stats.undelivered += 1;
        }
    }
}

enum Sent {
    Done,
    /// Try again at once (after a token re-read).
    Again,
    Retry {
        after: Option<Duration>,
        why: String,
    },
}
