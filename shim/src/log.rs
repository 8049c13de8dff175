//! runwarden's operator logs: the shared Cloud Logging layer (`runwarden-log`), with the label that
//! tells runwarden's lines apart from the workload's own output, and a `data` field whose JSON text is
//! embedded as JSON (a process event logged at debug level stays one structured object).
//!
//! Findings never go through here (they travel through `ship/`); these lines say what runwarden does.
#![forbid(unsafe_code)]

use tracing_subscriber::filter::LevelFilter;

/// The field whose JSON text is embedded as a JSON value.
pub const DATA_FIELD: &str = "data";

/// The label every runwarden log line carries.
pub const LABELS: (&str, &str) = ("component", "runwarden");

/// `RUNWARDEN_LOG`: the most detailed level written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
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
    let style = runwarden_log::Style { labels: &[LABELS], json_field: Some(DATA_FIELD), target_prefix: None };
    runwarden_log::init(filter(level), style);
}
