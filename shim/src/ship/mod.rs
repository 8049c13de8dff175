//! Shipping findings: the sinks (`RUNWARDEN_SINKS`), their formats, and the de-duplication in front
//! of them. Sensors never wait on a sink: these run on the pipeline thread, and the two sinks here
//! write locally; the HTTP sink (`http`, with `client`, `retry`, `hedge`, `spool` and `format`) ships from its own
//! thread.
#![forbid(unsafe_code)]

pub mod client;
pub mod dedup;
pub mod endpoint;
pub mod format;
pub mod heartbeat;
pub mod hedge;
pub mod http;
pub mod metadata;
pub mod ratelimit;
pub mod resource;
pub mod retry;
pub mod sink;
pub mod spool;
pub mod tls;

pub use sink::{SinkSpec, Sinks};

/// A minimal finding for tests of what handles findings (dedup, storm control, sinks).
#[cfg(test)]
pub(crate) fn sample_finding(rule: &str, category: &str) -> runwarden_contract::Finding {
    runwarden_contract::Finding {
        finding_id: uuid::Uuid::now_v7().to_string(),
        category: category.into(),
        state: "ACTIVE".into(),
        finding_class: "THREAT".into(),
        description: "d".into(),
        action: Some(runwarden_contract::Action::Alert),
        rule: runwarden_contract::RuleRef { id: rule.into(), source: "builtin".into() },
        source_properties: serde_json::json!({}),
        ..Default::default()
    }
}
