//! The local sinks.
//!
//! - `stderr`: one line per finding in Cloud Logging's structured format: `severity` (mapped from the
//!   finding's), `message` ("category: description"), `logging.googleapis.com/labels`, and the whole
//!   finding under the `finding` key.
//! - `file:PATH`: one finding object per line, exactly the contract of docs/FINDINGS.md, appended.
//! - `https://...`, `http://...`, `falco+https://...`: the HTTP sink (`http`), on its own thread; here
//!   the finding is only serialized and handed over.
//!
//! A sink that fails (disk full, closed stderr) says so once per failure streak and counts what it
//! could not write; it never takes runwarden down.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::format::stderr_line;
use super::heartbeat::{Context, SensorState};
use super::http::{HttpSink, HttpSpec};
use super::spool::Record;
use runwarden_contract::Finding;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    Stderr,
    File(PathBuf),
    Http(HttpSpec),
}

impl SinkSpec {
    /// Parses one entry of `RUNWARDEN_SINKS`.
    pub fn parse(s: &str) -> Option<SinkSpec> {
        match s.trim() {
            "stderr" => Some(SinkSpec::Stderr),
            other if other.contains("://") => HttpSpec::parse(other).map(SinkSpec::Http),
            other => {
                let path = other.strip_prefix("file:")?;
                (path.starts_with('/') && path.len() > 1).then(|| SinkSpec::File(PathBuf::from(path)))
            }
        }
    }
}

enum Target {
    Stderr,
    File { path: PathBuf, file: Option<File> },
    Http(HttpSink),
}

struct Sink {
    target: Target,
    written: u64,
    failed: u64,
    failing: bool,
}

impl Sink {
    fn write(&mut self, f: &Finding) {
        let result = match &mut self.target {
            Target::Stderr => {
                let mut line = stderr_line(f);
                line.push('\n');
                std::io::stderr().lock().write_all(line.as_bytes())
            }
            Target::File { path, file } => {
                if file.is_none() {
                    *file = OpenOptions::new().create(true).append(true).open(&*path).ok();
                }
                match file.as_mut() {
                    Some(fh) => {
                        let mut line = serde_json::to_string(f).unwrap_or_default();
                        line.push('\n');
                        fh.write_all(line.as_bytes())
                    }
                    None => Err(std::io::Error::other(format!("cannot open {}", path.display()))),
                }
            }
            Target::Http(h) => {
                // Shedding and delivery failures are counted by the sink itself.
                h.emit(Record {
                    id: f.finding_id.clone(),
                    severity: f.severity,
                    category: f.category.clone(),
                    json: serde_json::to_string(f).unwrap_or_default(),
                });
                Ok(())
            }
        };
        match result {
            Ok(()) => {
                self.written += 1;
                if self.failing {
                    self.failing = false;
                    tracing::warn!(sink = %self.name(), "finding sink works again");
                }
            }
            Err(e) => {
                self.failed += 1;
                if !self.failing {
                    self.failing = true;
                    // Findings still reach the other sinks; this one's losses are counted.
                    tracing::error!(sink = %self.name(), error = %e, finding = %f.finding_id, "cannot write a finding");
                }
            }
        }
    }

    fn name(&self) -> String {
        match &self.target {
            Target::Stderr => "stderr".into(),
            Target::File { path, .. } => format!("file:{}", path.display()),
            Target::Http(h) => h.name().to_string(),
        }
    }
}

/// Every configured sink.
pub struct Sinks {
    sinks: Vec<Sink>,
    /// What the heartbeats report (counters the pipeline bumps; never a wait).
    context: Arc<Context>,
}

impl Sinks {
    pub fn new(specs: &[SinkSpec], context: Context) -> Sinks {
        let context = Arc::new(context);
        let sinks = specs
            .iter()
            .filter_map(|s| {
                let target = match s {
                    SinkSpec::Stderr => Target::Stderr,
                    SinkSpec::File(p) => Target::File { path: p.clone(), file: None },
                    SinkSpec::Http(h) => match HttpSink::start(h, &context) {
                        Ok(sink) => Target::Http(sink),
                        Err(e) => {
                            tracing::error!(sink = %h.name(), error = %e, "cannot start the HTTP sink thread");
                            return None;
                        }
                    },
                };
                Some(Sink { target, written: 0, failed: 0, failing: false })
            })
            .collect();
        Sinks { sinks, context }
    }

    /// The pipeline received an event (counted for the heartbeats).
    pub fn event_seen(&self) {
        self.context.vitals.events.fetch_add(1, Ordering::Relaxed);
    }

    /// The sensor that feeds the pipeline (for the heartbeats).
    pub fn sensor(&self, s: SensorState) {
        self.context.vitals.set_sensor(s);
    }

    pub fn emit(&mut self, f: &Finding) {
        self.context.vitals.findings.fetch_add(1, Ordering::Relaxed);
        for s in &mut self.sinks {
            s.write(f);
        }
    }

    /// Flushes the HTTP sinks (all at once, each within `RUNWARDEN_FLUSH_TIMEOUT`) and stops them;
    /// what they could not deliver is counted as failed.
    pub fn finish(&mut self) {
        for s in &self.sinks {
            if let Target::Http(h) = &s.target {
                h.close();
            }
        }
        for s in &mut self.sinks {
            if let Target::Http(h) = &mut s.target {
                let stats = h.join();
                s.written = stats.delivered;
                s.failed = stats.rejected + stats.shed + stats.undelivered;
            }
        }
    }

    /// (written, failed) over all sinks.
    pub fn counts(&self) -> (u64, u64) {
        self.sinks.iter().fold((0, 0), |(w, f), s| (w + s.written, f + s.failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sink_specs() {
        assert_eq!(SinkSpec::parse("stderr"), Some(SinkSpec::Stderr));
        assert_eq!(
            SinkSpec::parse(" file:/var/log/f.jsonl "),
            Some(SinkSpec::File("/var/log/f.jsonl".into()))
        );
        assert_eq!(SinkSpec::parse("file:relative"), None);
        assert_eq!(SinkSpec::parse("file:"), None);
        assert_eq!(SinkSpec::parse("stdout"), None);
        assert!(matches!(SinkSpec::parse(" https://127.0.0.1:9/x "), Some(SinkSpec::Http(_))));
        assert!(matches!(SinkSpec::parse("falco+http://h/"), Some(SinkSpec::Http(_))));
        assert_eq!(SinkSpec::parse("https://"), None);
    }
}
