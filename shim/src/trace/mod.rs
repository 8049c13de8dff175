//! The tracer: ptrace stops turned into process events, and the reaper loop of PID 1.
//!
//! `stop` classifies wait statuses (pure), `tasks` tracks which thread belongs to which process,
//! `engine` runs the one `waitpid` loop that both traces and reaps. When ptrace is refused the same loop
//! runs without stops ([`Mode::Poll`]) and the scanner in `proc::scan` finds new programs instead.

pub mod enforce;
pub mod engine;
pub mod stop;
pub mod syscall;
pub mod tasks;

use serde::Serialize;

/// How runwarden sees the workload's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every fork/clone/exec is a ptrace stop: exact, and before the new program runs.
    Ptrace,
    /// ptrace was refused or disabled: /proc is polled, short-lived programs can be missed.
    Poll,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Ptrace => "ptrace",
            Mode::Poll => "poll",
        })
    }
}
