//! Shipping findings: the sinks (`RUNWARDEN_SINKS`), their formats, and the de-duplication in front
//! of them. Sensors never wait on a sink: these run on the pipeline thread, and the two sinks here
//! write locally (the HTTP sink, with batching and retries, is its own module).
#![forbid(unsafe_code)]

pub mod dedup;
pub mod ratelimit;
pub mod sink;

pub use sink::{SinkSpec, Sinks};
