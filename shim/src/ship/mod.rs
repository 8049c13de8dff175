//! Shipping findings: the sinks (`RUNWARDEN_SINKS`), their formats, and the de-duplication in front
//! of them. Sensors never wait on a sink: these run on the pipeline thread, and the two sinks here
//! write locally; the HTTP sink (`http`, with `retry`, `spool` and `format`) ships from its own
//! thread.
#![forbid(unsafe_code)]

pub mod dedup;
pub mod endpoint;
pub mod format;
pub mod heartbeat;
pub mod http;
pub mod metadata;
pub mod ratelimit;
pub mod retry;
pub mod sink;
pub mod spool;
pub mod tls;

pub use sink::{SinkSpec, Sinks};
