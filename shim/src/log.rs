//! Operator logs: one JSON object per line on stderr, in Cloud Logging's structured format
//! (`severity`, `message`, `time`, `logging.googleapis.com/labels`), so Cloud Run files them with the
//! right severity and they can be told apart from the workload's own output.
//!
//! Findings never go through here (they travel through `ship/`); these lines say what runwarden does.
//! A field named `data` whose value is JSON text is embedded as JSON, so a process event logged at
//! debug level stays one structured object rather than a quoted string.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::config::LogLevel;

/// The field whose JSON text is embedded as a JSON value.
pub const DATA_FIELD: &str = "data";

/// The label every runwarden log line carries.
pub const LABELS: (&str, &str) = ("component", "runwarden");

pub fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

#[derive(Default)]
struct JsonVisitor {
    message: String,
    fields: Map<String, Value>,
}

impl Visit for JsonVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields.insert(field.name().to_string(), Value::from(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().to_string(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().to_string(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().to_string(), Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        match field.name() {
            "message" => self.message.push_str(&text),
            DATA_FIELD => {
                let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
                self.fields.insert(DATA_FIELD.to_string(), v);
            }
            name => {
                self.fields.insert(name.to_string(), Value::String(text));
            }
        }
    }
}

/// Renders one log line (without the newline).
pub fn render(level: &Level, message: &str, fields: Map<String, Value>, time: SystemTime) -> String {
    let mut obj = Map::new();
    obj.insert("severity".into(), Value::from(severity(level)));
    obj.insert("message".into(), Value::from(message));
    obj.insert("time".into(), Value::from(crate::event::rfc3339::format(time)));
    let mut labels = Map::new();
    labels.insert(LABELS.0.into(), Value::from(LABELS.1));
    obj.insert("logging.googleapis.com/labels".into(), Value::Object(labels));
    for (k, v) in fields {
        obj.entry(k).or_insert(v);
    }
    Value::Object(obj).to_string()
}

/// The tracing layer that writes [`render`]ed lines to stderr.
pub struct CloudLoggingLayer;

impl<S: Subscriber> Layer<S> for CloudLoggingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut v = JsonVisitor::default();
        event.record(&mut v);
        let mut line = render(event.metadata().level(), &v.message, v.fields, SystemTime::now());
        line.push('\n');
        // One write per line keeps lines whole when the workload shares stderr. A failed write (stderr
        // closed) must not take runwarden down.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

fn filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}

/// Installs the global logger. Called once, before any thread starts.
pub fn init(level: LogLevel) {
    let subscriber = tracing_subscriber::registry().with(filter(level)).with(CloudLoggingLayer);
    let _ = tracing::subscriber::set_global_default(subscriber);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shape() {
        let mut fields = Map::new();
        fields.insert("pid".into(), Value::from(42));
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_700_000_000_123_456);
        let line = render(&Level::WARN, "tracer lost a process", fields, t);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["severity"], "WARNING");
        assert_eq!(v["message"], "tracer lost a process");
        assert_eq!(v["time"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(v["logging.googleapis.com/labels"]["component"], "runwarden");
        assert_eq!(v["pid"], 42);
    }

    #[test]
    fn reserved_keys_are_not_overwritten_by_fields() {
        let mut fields = Map::new();
        fields.insert("severity".into(), Value::from("bogus"));
        let line = render(&Level::ERROR, "m", fields, SystemTime::now());
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["severity"], "ERROR");
    }
}
