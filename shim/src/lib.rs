//! runwarden: a PID-1 supervisor that traces every process of a container and reports threats.
//!
//! Data flow: `config` turns `RUNWARDEN_*` variables into a validated [`config::Config`]; `supervisor`
//! blocks signals, forks the workload held before exec and forwards signals to it; `trace` seizes it
//! with ptrace and runs the one `waitpid` loop that sees every fork, clone, exec and exit (and reaps
//! every zombie), reading what each exec runs through `proc::capture` before the program starts;
//! `pipeline` receives those [`event::ProcessEvent`]s off the tracer thread, keeps the process table
//! with lineage (`proc::table`), hashes executables (`fs::hash`), resolves sockets (`proc::sockets`)
//! and reconciles /proc against the traced set (`proc::scan`). `detect` evaluates the rules of `policies/` (CEL conditions over an event model) into
//! SCC-shaped findings, which `ship` de-duplicates and writes to the configured sinks. `log` writes operator logs in Cloud
//! Logging's JSON format. `sys` is the fence around raw syscalls.
//!
//! Modules, one noun each: [`cli`], [`config`], [`detect`], [`event`], [`fs`], [`log`], [`pipeline`], [`proc`], [`queue`], [`ship`],
//! [`supervisor`], [`sys`], [`trace`].

pub mod cli;
pub mod config;
pub mod detect;
pub mod event;
pub mod fs;
pub mod log;
pub mod pipeline;
pub mod proc;
pub mod queue;
pub mod ship;
pub mod supervisor;
pub mod sys;
pub mod trace;
