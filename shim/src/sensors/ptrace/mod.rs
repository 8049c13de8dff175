//! The tracer: ptrace stops turned into process events, and the reaper loop of PID 1.
//!
//! `stop` classifies wait statuses (pure), `tasks` tracks which thread belongs to which process,
//! `engine` runs the one `waitpid` loop that both traces and reaps. When ptrace is refused the same loop
//! runs without stops ([`Tracking::Poll`](crate::events::Tracking::Poll)) and the scanner in `sensors::scanner` finds new programs instead.

pub mod engine;
pub mod stop;
pub mod syscall;
pub mod tasks;
