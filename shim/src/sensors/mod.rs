//! Sensors: each watches the workload one way and only *produces* events (`crate::events`).
//! `notify` (the seccomp exec sensor), `ptrace` (the tracer and PID 1's reaper loop), `scanner`
//! (/proc and sock_diag), `files` (inotify).
#![forbid(unsafe_code)]

pub mod files;
pub mod notify;
pub mod ptrace;
pub mod scanner;
