//! Operator logs: one JSON object per line on stderr in Cloud Logging's structured form (`severity`,
//! `message`, `time`, then the event's fields), so Cloud Run files them with their severity.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

#[derive(Default)]
struct Fields {
    message: String,
    fields: Map<String, Value>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            name => {
                self.fields.insert(name.to_string(), Value::from(value));
            }
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
            name => {
                self.fields.insert(name.to_string(), Value::String(text));
            }
        }
    }
}

pub fn render(level: &Level, message: &str, fields: Map<String, Value>) -> String {
    let severity = match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    };
    let mut obj = Map::new();
    obj.insert("severity".into(), Value::from(severity));
    obj.insert("message".into(), Value::from(message));
    obj.insert("time".into(), Value::from(crate::model::format_time(crate::model::now_us())));
    for (k, v) in fields {
        obj.entry(k).or_insert(v);
    }
    Value::Object(obj).to_string()
}

struct CloudLoggingLayer;

impl<S: Subscriber> Layer<S> for CloudLoggingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // Only the collector's own lines: its libraries' debug chatter is not for operators.
        if !event.metadata().target().starts_with("runwarden_collector") {
            return;
        }
        let mut v = Fields::default();
        event.record(&mut v);
        let mut line = render(event.metadata().level(), &v.message, v.fields);
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// Installs the global logger; later calls (tests) are no-ops.
pub fn init(level: Level) {
    let subscriber =
        tracing_subscriber::registry().with(LevelFilter::from_level(level)).with(CloudLoggingLayer);
    let _ = tracing::subscriber::set_global_default(subscriber);
}
