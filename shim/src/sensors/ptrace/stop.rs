//! One function turns a raw `waitpid` status into a typed [`Stop`]; the engine matches on it
//! exhaustively. Pure, so every case is table-tested below.
//!
//! Under `PTRACE_SEIZE` (ptrace(2), "Group-stop", "PTRACE_EVENT stops"):
//! - `status >> 16 == PTRACE_EVENT_STOP` with SIGSTOP/SIGTSTP/SIGTTIN/SIGTTOU is a group-stop;
//!   with any other signal (SIGTRAP) it is a new child's first stop or an interrupt/listen wake-up.
//! - `status >> 16 == PTRACE_EVENT_{FORK,VFORK,CLONE,EXEC,...}` is an event stop (signal SIGTRAP).
//! - `status >> 16 == 0` with a stop signal is a signal-delivery-stop: the only stop where a signal may
//!   be injected on restart.

use libc::c_int;

/// What a task reported to the tracer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The task exited with `code` (a thread's exit, or a whole process's when it was the leader).
    Exited { code: c_int },
    /// The task was killed by `signal`.
    Killed { signal: c_int, core_dumped: bool },
    /// A signal is about to be delivered; restart with it to deliver it, with 0 to suppress it.
    Signal { signal: c_int },
    /// The task entered a group-stop (SIGSTOP & co. took effect): leave it stopped with PTRACE_LISTEN.
    GroupStop { signal: c_int },
    /// A new task's first stop, or a wake-up from PTRACE_LISTEN/INTERRUPT: restart without a signal.
    Trap,
    /// fork/vfork/clone: the new task's id is in the event message.
    Spawned { kind: SpawnKind },
    /// A successful execve: the former thread id is in the event message.
    Exec,
    /// A seccomp filter returned SECCOMP_RET_TRACE (only with the opt-in syscall mode).
    Seccomp,
    /// Any other ptrace event; restart without a signal.
    OtherEvent { event: c_int },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnKind {
    Fork,
    Vfork,
    /// clone(2) with an exit signal other than SIGCHLD: threads, and rarely processes.
    Clone,
}

fn is_stopping_signal(sig: c_int) -> bool {
    matches!(sig, libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU)
}

/// Classifies a raw status from `waitpid(..., __WALL)`. Returns `None` for a status that is none of
/// exited, signalled or stopped (WCONTINUED is never requested, so that should not happen).
pub fn classify(status: c_int) -> Option<Stop> {
    if libc::WIFEXITED(status) {
        return Some(Stop::Exited { code: libc::WEXITSTATUS(status) });
    }
    if libc::WIFSIGNALED(status) {
        return Some(Stop::Killed { signal: libc::WTERMSIG(status), core_dumped: libc::WCOREDUMP(status) });
    }
    if !libc::WIFSTOPPED(status) {
        return None;
    }
    let signal = libc::WSTOPSIG(status);
    let event = (status >> 16) & 0xffff;
    Some(match event {
        0 => Stop::Signal { signal },
        libc::PTRACE_EVENT_STOP if is_stopping_signal(signal) => Stop::GroupStop { signal },
        libc::PTRACE_EVENT_STOP => Stop::Trap,
        libc::PTRACE_EVENT_FORK => Stop::Spawned { kind: SpawnKind::Fork },
        libc::PTRACE_EVENT_VFORK => Stop::Spawned { kind: SpawnKind::Vfork },
        libc::PTRACE_EVENT_CLONE => Stop::Spawned { kind: SpawnKind::Clone },
        libc::PTRACE_EVENT_EXEC => Stop::Exec,
        libc::PTRACE_EVENT_SECCOMP => Stop::Seccomp,
        other => Stop::OtherEvent { event: other },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a stopped status the way the kernel does: `sig << 8 | 0x7f`, event in bits 16..24.
    fn stopped(sig: c_int, event: c_int) -> c_int {
        (event << 16) | (sig << 8) | 0x7f
    }

    #[test]
    fn classifies_every_kind_of_report() {
        let cases = [
            (0x0000, Some(Stop::Exited { code: 0 })),
            (3 << 8, Some(Stop::Exited { code: 3 })),
            (255 << 8, Some(Stop::Exited { code: 255 })),
            (libc::SIGKILL, Some(Stop::Killed { signal: libc::SIGKILL, core_dumped: false })),
            (libc::SIGSEGV | 0x80, Some(Stop::Killed { signal: libc::SIGSEGV, core_dumped: true })),
            (stopped(libc::SIGTERM, 0), Some(Stop::Signal { signal: libc::SIGTERM })),
            (stopped(libc::SIGSTOP, 0), Some(Stop::Signal { signal: libc::SIGSTOP })),
            (stopped(libc::SIGRTMIN() + 4, 0), Some(Stop::Signal { signal: libc::SIGRTMIN() + 4 })),
            (
                stopped(libc::SIGSTOP, libc::PTRACE_EVENT_STOP),
                Some(Stop::GroupStop { signal: libc::SIGSTOP }),
            ),
            (
                stopped(libc::SIGTSTP, libc::PTRACE_EVENT_STOP),
                Some(Stop::GroupStop { signal: libc::SIGTSTP }),
            ),
            (
                stopped(libc::SIGTTIN, libc::PTRACE_EVENT_STOP),
                Some(Stop::GroupStop { signal: libc::SIGTTIN }),
            ),
            (
                stopped(libc::SIGTTOU, libc::PTRACE_EVENT_STOP),
                Some(Stop::GroupStop { signal: libc::SIGTTOU }),
            ),
            (stopped(libc::SIGTRAP, libc::PTRACE_EVENT_STOP), Some(Stop::Trap)),
            (stopped(libc::SIGTRAP, libc::PTRACE_EVENT_FORK), Some(Stop::Spawned { kind: SpawnKind::Fork })),
            (
                stopped(libc::SIGTRAP, libc::PTRACE_EVENT_VFORK),
                Some(Stop::Spawned { kind: SpawnKind::Vfork }),
            ),
            (
                stopped(libc::SIGTRAP, libc::PTRACE_EVENT_CLONE),
                Some(Stop::Spawned { kind: SpawnKind::Clone }),
            ),
            (stopped(libc::SIGTRAP, libc::PTRACE_EVENT_EXEC), Some(Stop::Exec)),
            (stopped(libc::SIGTRAP, libc::PTRACE_EVENT_SECCOMP), Some(Stop::Seccomp)),
            (
                stopped(libc::SIGTRAP, libc::PTRACE_EVENT_EXIT),
                Some(Stop::OtherEvent { event: libc::PTRACE_EVENT_EXIT }),
            ),
            (0xffff, None), // WIFCONTINUED
        ];
        for (status, want) in cases {
            assert_eq!(classify(status), want, "status {status:#x}");
        }
    }
}
