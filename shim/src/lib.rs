//! runwarden: a PID-1 supervisor that traces every process of a container and reports threats.
//!
//! Data flow, one way (docs/ARCHITECTURE.md): `config` turns `RUNWARDEN_*` variables into a validated
//! [`config::Config`]; `supervisor` blocks signals, forks the workload held before exec and forwards
//! signals to it. The `sensors` only produce [`events::ProcessEvent`]s: `sensors::ptrace` seizes the
//! workload and runs the one `waitpid` loop that sees every fork, clone, exec and exit (and reaps every
//! zombie), reading what each exec runs through `proc::capture` before the program starts;
//! `sensors::scanner` passes over /proc and sock_diag; `sensors::files` watches with inotify. Events
//! travel through `events::bus` to the `pipeline` thread, which runs each through `enrich` (hashes,
//! baseline provenance, signatures, IoCs, scripts, the process table and lineage), `detect` (the rules
//! of `policies/`, CEL conditions over an event model; [`detect::engine::Engine::evaluate`] is the one
//! birthplace of findings, in the `runwarden-contract` shape) and `ship` (de-duplication, storm
//! control, sinks). `respond` enforces at the tracer's stops through the same evaluation. `log` writes
//! operator logs in Cloud Logging's JSON format. `sys` is the fence around raw syscalls: every other
//! module forbids `unsafe`.
//!
//! Modules, one noun each: [`cli`], [`config`], [`detect`], [`enrich`], [`events`], [`log`],
//! [`pipeline`], [`proc`], [`respond`], [`sensors`], [`ship`], [`supervisor`], [`sys`].

pub mod cli;
pub mod config;
pub mod detect;
pub mod enrich;
pub mod events;
pub mod log;
pub mod pipeline;
pub mod proc;
pub mod respond;
pub mod sensors;
pub mod ship;
pub mod supervisor;
pub mod sys;
