//! The signal thread: takes every asynchronous signal sent to runwarden and forwards it to the
//! workload (its main process, or its process group with `RUNWARDEN_SIGNAL_GROUP=1`).
//!
//! Forwarding is a plain `kill`, not a ptrace call, so it needs no tracer thread. The traced main
//! process then reports a signal-delivery-stop and the tracer delivers the signal. SIGCHLD is not
//! forwarded (tini and dumb-init agree): the tracer's wait loop is the reaper.

use crate::sys::signal::{self, SigSet};

/// Starts the thread. The caller must already have blocked `set` (threads inherit the mask).
///
/// SIGCHLD stays blocked but is *not* waited for: the kernel sends the tracer's process a SIGCHLD
/// (CLD_TRAPPED) at every ptrace stop, and waking this thread for each would add a cross-CPU wake-up to
/// every stop of the workload. Left blocked and unwaited, it stays pending (standard signals coalesce)
/// and wakes nobody; the wait loop reaps without it. Children do not inherit pending signals.
pub fn spawn_forwarder(mut set: SigSet) -> std::io::Result<()> {
    set.remove(libc::SIGCHLD);
    std::thread::Builder::new().name("rw-signals".into()).spawn(move || loop {
        let got = match signal::wait(&set) {
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::error!(error = %e, "sigwaitinfo failed; signals are no longer forwarded");
                return;
            }
        };
        let name = signal::name(got.signo);
        match signal::forward_target() {
            Some(dest) => match signal::send(dest, got.signo) {
                Ok(()) => {
                    tracing::debug!(signal = %name, to = dest, from = got.sender_pid, "signal forwarded")
                }
                Err(e) => tracing::debug!(signal = %name, to = dest, error = %e, "signal not forwarded"),
            },
            None => tracing::debug!(signal = %name, "no main process to forward the signal to"),
        }
    })?;
    Ok(())
}
