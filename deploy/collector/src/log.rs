//! Operator logs: the shared Cloud Logging layer (`runwarden-log`), one JSON object per line on stderr,
//! with the collector's own lines only (its libraries' debug chatter is not for operators).
#![forbid(unsafe_code)]

use tracing::Level;
use tracing_subscriber::filter::LevelFilter;

/// Installs the global logger; later calls (tests) are no-ops.
pub fn init(level: Level) {
    let style =
        runwarden_log::Style { labels: &[], json_field: None, target_prefix: Some("runwarden_collector") };
    runwarden_log::init(LevelFilter::from_level(level), style);
}
