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
//! Client: `ureq` 2 with rustls (ring) and the webpki roots compiled in, no default features: a small
//! blocking client fits one dedicated thread per sink, where reqwest would bring hyper and a tokio
//! runtime for the same job (binary and build time). Request bodies are gzipped with flate2's pure-Rust
//! backend. Binary cost: 10.93 MB -> 13.72 MB (+2.8 MB: ring, rustls, webpki roots, and `url`/`idna`
//! through ureq 2); ureq 3 with rustls came out 0.2 MB larger than ureq 2 in a static hello-POST
//! binary (4.31 vs 4.10 MB), so ureq 2 stays. Names are resolved by the static glibc's getaddrinfo, which has the `files` and
//! `dns` sources built in since 2.34: numeric addresses and `/etc/hosts` work without NSS modules or
//! `nsswitch.conf` (checked by hand with an empty one), DNS needs `/etc/resolv.conf`. A pure-Rust
//! resolver (hickory-resolver) was left out for its size.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::format::{self, Format};
use super::retry::{self, Decision, Jitter, Outcome};
use super::spool::{Record, Shed, Shelf, Spool};

/// Findings in one native request.
pub const BATCH_MAX: usize = 100;
/// How long the first finding of a batch waits for more.
pub const BATCH_WAIT: Duration = Duration::from_secs(1);
/// Findings kept in memory per sink.
pub const MEMORY_MAX_FINDINGS: usize = 10_000;
/// JSON bytes kept in memory per sink.
pub const MEMORY_MAX_BYTES: u64 = 32 << 20;
pub const DEFAULT_SPOOL_MAX: u64 = 64 << 20;
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The options every HTTP sink shares (`RUNWARDEN_TOKEN_FILE`, `RUNWARDEN_SPOOL_*`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipOptions {
    pub token_file: Option<PathBuf>,
    /// `RUNWARDEN_AUTH=google`: ID tokens from the metadata server.
    pub google_auth: bool,
    pub spool_dir: Option<PathBuf>,
    pub spool_max: u64,
    pub flush_timeout: Duration,
    pub timeout: Duration,
    pub gzip: bool,
}

impl Default for ShipOptions {
    fn default() -> Self {
        ShipOptions {
            token_file: None,
            google_auth: false,
            spool_dir: None,
            spool_max: DEFAULT_SPOOL_MAX,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            gzip: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    pub url: String,
    pub format: Format,
    pub options: ShipOptions,
}

impl HttpSpec {
    /// `https://HOST...`, `http://HOST...`, or either behind `falco+`.
    pub fn parse(s: &str) -> Option<HttpSpec> {
        let (format, url) = match s.strip_prefix("falco+") {
            Some(rest) => (Format::Falco, rest),
            None => (Format::Native, s),
        };
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let valid =
            !host.is_empty() && !host.contains(char::is_whitespace) && !url.contains(char::is_whitespace);
        valid.then(|| HttpSpec { url: url.to_string(), format, options: ShipOptions::default() })
    }

    /// scheme://host[:port], without credentials or path: safe to log.
    /// scheme://host[:port] (the audience of a Google ID token).
    pub fn origin(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        format!("{scheme}://{}", host.rsplit('@').next().unwrap_or(host))
    }

    pub fn name(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit('@').next().unwrap_or(host);
        let prefix = if self.format == Format::Falco { "falco+" } else { "" };
        format!("{prefix}{scheme}://{host}")
    }
}

/// What one sink did, logged when it finishes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HttpStats {
    pub delivered: u64,
    pub rejected: u64,
    pub retries: u64,
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
    pub fn start(spec: &HttpSpec) -> std::io::Result<HttpSink> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                shelf: Shelf::new(MEMORY_MAX_FINDINGS, MEMORY_MAX_BYTES),
                shed: Shed::default(),
                since: None,
                closing: None,
            }),
            wake: Condvar::new(),
        });
        let shipper = Shipper::new(spec.clone());
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
        since.get_or_insert_with(Instant::now);
        if shelf.len() >= BATCH_MAX {
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

/// Where the batch in flight came from.
enum Origin {
    Memory,
    Spool(u64),
}

struct Shipper {
    spec: HttpSpec,
    name: String,
    agent: ureq::Agent,
    token: Option<String>,
    /// When the Google ID token was fetched.
    token_at: Option<Instant>,
    spool: Option<Spool>,
    hostname: String,
    jitter: Jitter,
    stats: HttpStats,
    failing: bool,
}

fn read_token(path: &std::path::Path) -> std::io::Result<String> {
    Ok(std::fs::read_to_string(path)?.trim().to_string())
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
            let sub = dir.join(&sha256_hex(spec.url.as_bytes())[..16]);
            match Spool::open(&sub, spec.options.spool_max) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::error!(sink = %name, path = %sub.display(), error = %e, "cannot use the spool directory; findings are kept in memory only");
                    None
                }
            }
        });
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(spec.options.timeout)
            .timeout(spec.options.timeout)
            .redirects(0)
            .user_agent(concat!("runwarden/", env!("CARGO_PKG_VERSION")))
            .build();
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        Shipper {
            spec,
            name,
            agent,
            token,
            token_at: None,
            spool,
            hostname,
            jitter: Jitter::new(),
            stats: HttpStats::default(),
            failing: false,
        }
    }

    fn run(mut self, shared: &Shared) -> HttpStats {
        let mut batch: Vec<Record> = Vec::new();
        let mut origin = Origin::Memory;
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        loop {
            let closing = shared.lock().closing;
            let deadline = closing.map(|c| c + self.spec.options.flush_timeout);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            if batch.is_empty() {
                match self.next_batch(shared) {
                    Some((b, o)) => (batch, origin) = (b, o),
                    None if closing.is_some() => break,
                    None => continue,
                }
                attempt = 0;
                reauthenticated = false;
            }
            let timeout = match deadline {
                Some(d) => self.spec.options.timeout.min(d.saturating_duration_since(Instant::now())),
                None => self.spec.options.timeout,
            };
            if timeout.is_zero() {
                break;
            }
            match self.send(&mut batch, timeout, &mut reauthenticated) {
                Sent::Done => {
                    if let (Origin::Spool(seq), Some(spool)) = (&origin, self.spool.as_mut()) {
                        spool.delivered(*seq);
                    }
                    if self.failing {
                        self.failing = false;
                        tracing::info!(sink = %self.name, "the findings endpoint accepts findings again");
                    }
                }
                Sent::Again => {}
                Sent::Retry { after, why } => {
                    attempt += 1;
                    self.stats.retries += 1;
                    if !self.failing {
                        self.failing = true;
                        tracing::warn!(sink = %self.name, error = %why, findings = batch.len(), "the findings endpoint is failing; retrying with backoff");
                    }
                    let wait = retry::delay(attempt, self.jitter.sample(), after);
                    self.spill(shared);
                    let until = Instant::now() + wait;
                    let mut st = shared.lock();
                    while Instant::now() < until {
                        let left = until.saturating_duration_since(Instant::now());
                        let left = match st.closing {
                            Some(c) => left.min(
                                (c + self.spec.options.flush_timeout)
                                    .saturating_duration_since(Instant::now()),
                            ),
                            None => left,
                        };
                        if left.is_zero() {
                            break;
                        }
                        st = shared.wake.wait_timeout(st, left).unwrap_or_else(|p| p.into_inner()).0;
                    }
                }
            }
        }
        self.give_up(shared, batch, origin);
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
        let mut st = shared.lock();
        loop {
            let due = st.since.map(|s| s + BATCH_WAIT);
            let ready = st.shelf.len() >= BATCH_MAX
                || st.closing.is_some()
                || due.is_some_and(|d| Instant::now() >= d)
                || (!st.shed.is_empty() && st.shelf.is_empty() && st.closing.is_some());
            if ready {
                break;
            }
            let wait = due.map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
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
        (!batch.is_empty()).then_some((batch, Origin::Memory))
    }

    /// Sends the batch (all of it, or for falco one finding at a time, removing the delivered ones).
    /// A Google ID token for the endpoint's origin, from the metadata server.
    fn fetch_google_token(&self) -> Result<String, String> {
        let host = std::env::var("GCE_METADATA_HOST").unwrap_or_else(|_| "169.254.169.254".to_string());
        let audience: String = self
            .spec
            .origin()
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let url = format!(
            "http://{host}/computeMetadata/v1/instance/service-accounts/default/identity?audience={audience}&format=full"
        );
        match self.agent.get(&url).set("Metadata-Flavor", "Google").timeout(Duration::from_secs(3)).call() {
            Ok(resp) => match resp.into_string() {
                Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
                Ok(_) => Err("the metadata server returned an empty token".into()),
                Err(e) => Err(format!("reading the metadata server's answer: {e}")),
            },
            Err(ureq::Error::Status(code, _)) => Err(format!("the metadata server answered HTTP {code}")),
            Err(e) => Err(format!("the metadata server did not answer: {e}")),
        }
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
        let token = self.fetch_google_token()?;
        self.token = Some(token);
        self.token_at = Some(Instant::now());
        Ok(())
    }

    fn send(&mut self, batch: &mut Vec<Record>, timeout: Duration, reauthenticated: &mut bool) -> Sent {
        loop {
            if let Err(why) = self.google_token(false) {
                return Sent::Retry { after: None, why };
            }
            let (body, n) = match self.spec.format {
                Format::Native => (format::native_body(batch), batch.len()),
                Format::Falco => {
                    let finding = serde_json::from_str(&batch[0].json).unwrap_or_default();
                    (format::falco_event(&finding, &self.hostname).to_string().into_bytes(), 1)
                }
            };
            let outcome = self.post(&body, timeout);
            match retry::decide(outcome, *reauthenticated) {
                Decision::Delivered => {
                    self.stats.delivered += n as u64;
                    batch.drain(..n);
                }
                Decision::Reject => {
                    let code = match outcome {
                        Outcome::Status { code, .. } => code,
                        _ => 0,
                    };
                    let ids: Vec<&str> = batch[..n].iter().take(5).map(|r| r.id.as_str()).collect();
                    tracing::error!(sink = %self.name, status = code, findings = n, first_ids = %ids.join(","), "the findings endpoint rejected a batch; it is not retried");
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
                Decision::Retry { after } => {
                    let why = match outcome {
                        Outcome::Status { code, .. } => format!("HTTP {code}"),
                        Outcome::Timeout => "timed out".to_string(),
                        Outcome::Network => "connection failed".to_string(),
                    };
                    return Sent::Retry { after, why };
                }
            }
            *reauthenticated = false;
            if batch.is_empty() {
                return Sent::Done;
            }
        }
    }

    fn post(&self, body: &[u8], timeout: Duration) -> Outcome {
        let mut req =
            self.agent.post(&self.spec.url).timeout(timeout).set("Content-Type", "application/json");
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let result = if self.spec.options.gzip {
            req.set("Content-Encoding", "gzip").send_bytes(&format::gzip(body))
        } else {
            req.send_bytes(body)
        };
        match result {
            Ok(resp) => {
                let code = resp.status();
                let _ = resp.into_string();
                Outcome::Status { code, retry_after: None }
            }
            Err(ureq::Error::Status(code, resp)) => {
                let retry_after = resp.header("retry-after").and_then(retry::parse_retry_after);
                Outcome::Status { code, retry_after }
            }
            Err(ureq::Error::Transport(t)) => {
                let text = t.to_string();
                if text.contains("timed out") || text.contains("timeout") || text.contains("WouldBlock") {
                    Outcome::Timeout
                } else {
                    Outcome::Network
                }
            }
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
                let _ = spool.push(r, &mut Shed::default());
            }
            let _ = writeln!(err, "{}", undelivered_line(r));
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

/// The stderr sink's line for a finding that could not be delivered.
fn undelivered_line(r: &Record) -> String {
    let finding: serde_json::Value = serde_json::from_str(&r.json).unwrap_or_default();
    let description = finding["description"].as_str().unwrap_or("");
    serde_json::json!({
        "severity": super::sink::logging_severity(r.severity),
        "message": format!("{}: {}", r.category, description),
        "logging.googleapis.com/labels": {
            crate::log::LABELS.0: crate::log::LABELS.1,
            "runwarden/category": r.category,
            "runwarden/severity": r.severity.as_str(),
            "runwarden/undelivered": "true",
        },
        "finding": finding,
    })
    .to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let s = HttpSpec::parse("https://collector.example/v1/findings").unwrap();
        assert_eq!((s.format, s.url.as_str()), (Format::Native, "https://collector.example/v1/findings"));
        let s = HttpSpec::parse("falco+http://127.0.0.1:2801/").unwrap();
        assert_eq!((s.format, s.url.as_str()), (Format::Falco, "http://127.0.0.1:2801/"));
        for bad in ["https://", "http:///x", "ftp://x", "falco+", "falco+file:/x", "https://a b/"] {
            assert!(HttpSpec::parse(bad).is_none(), "{bad}");
        }
        let s = HttpSpec::parse("https://user:secret@host.example:8443/p?token=abc").unwrap();
        assert_eq!(s.name(), "https://host.example:8443");
        assert_eq!(s.origin(), "https://host.example:8443");
        assert_eq!(HttpSpec::parse("falco+http://h/x").unwrap().origin(), "http://h");
    }
}
