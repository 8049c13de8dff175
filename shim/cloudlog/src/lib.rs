//! Operator logs: one JSON object per line on stderr, in Cloud Logging's structured format (`severity`,
//! `message`, `time`, optionally `logging.googleapis.com/labels`, then the event's fields), so Cloud Run
//! files them with their severity. The one log layer of runwarden and of its collector; each says how
//! its lines differ in a [`Style`].
//!
//! Findings never go through here (they travel through runwarden's `ship/`); these lines say what a
//! program does.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// How one program's lines look.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// `logging.googleapis.com/labels` of every line (none: no labels object).
    pub labels: &'static [(&'static str, &'static str)],
    /// A field whose value is JSON text, embedded as JSON (a process event logged at debug level stays
    /// one structured object rather than a quoted string).
    pub json_field: Option<&'static str>,
    /// Only events whose target starts with this (a server's libraries chatter at debug level).
    pub target_prefix: Option<&'static str>,
}

/// Cloud Logging's severity for a tracing level.
pub fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

struct Fields {
    message: String,
    fields: Map<String, Value>,
    json_field: Option<&'static str>,
}

impl Visit for Fields {
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
            name if Some(name) == self.json_field => {
                let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
                self.fields.insert(name.to_string(), v);
            }
            name => {
                self.fields.insert(name.to_string(), Value::String(text));
            }
        }
    }
}

/// Renders one log line (without the newline). The event's fields never overwrite the reserved keys.
pub fn render(
    level: &Level,
    message: &str,
    fields: Map<String, Value>,
    time: SystemTime,
    labels: &[(&str, &str)],
) -> String {
    let mut obj = Map::new();
    obj.insert("severity".into(), Value::from(severity(level)));
    obj.insert("message".into(), Value::from(message));
    obj.insert("time".into(), Value::from(humantime::format_rfc3339_micros(time).to_string()));
    if !labels.is_empty() {
        let labels: Map<String, Value> =
            labels.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
        obj.insert("logging.googleapis.com/labels".into(), Value::Object(labels));
    }
    for (k, v) in fields {
        obj.entry(k).or_insert(v);
    }
    Value::Object(obj).to_string()
}

/// The tracing layer that writes [`render`]ed lines to stderr.
pub struct CloudLoggingLayer {
    style: Style,
}

impl<S: Subscriber> Layer<S> for CloudLoggingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if let Some(prefix) = self.style.target_prefix {
            if !event.metadata().target().starts_with(prefix) {
                return;
            }
        }
        let mut v = Fields { message: String::new(), fields: Map::new(), json_field: self.style.json_field };
        event.record(&mut v);
        let mut line =
            render(event.metadata().level(), &v.message, v.fields, SystemTime::now(), self.style.labels);
        line.push('\n');
        // One write per line keeps lines whole when a workload shares stderr. A failed write (stderr
        // closed) must not take the program down.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// Installs the global logger; later calls (tests) are no-ops. Called before any thread starts.
pub fn init(level: LevelFilter, style: Style) {
    let subscriber = tracing_subscriber::registry().with(level).with(CloudLoggingLayer { style });
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
        let line = render(&Level::WARN, "tracer lost a process", fields, t, &[("component", "runwarden")]);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["severity"], "WARNING");
        assert_eq!(v["message"], "tracer lost a process");
        assert_eq!(v["time"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(v["logging.googleapis.com/labels"]["component"], "runwarden");
        assert_eq!(v["pid"], 42);
        let bare = render(&Level::INFO, "m", Map::new(), t, &[]);
        assert!(!bare.contains("labels"), "{bare}");
    }

    #[test]
    fn reserved_keys_are_not_overwritten_by_fields() {
        let mut fields = Map::new();
        fields.insert("severity".into(), Value::from("bogus"));
        let line = render(&Level::ERROR, "m", fields, SystemTime::now(), &[]);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["severity"], "ERROR");
    }
}
