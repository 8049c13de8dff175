//! The watcher's thread: the watches are installed on the caller's thread, then events are read and
//! sent on a thread of its own until [`WatchHandle::stop`].
#![forbid(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::watch::{WatchConfig, WatchStats, Watcher};
use crate::events::{EventSender, ProcessEvent};

/// The running watcher thread.
pub struct WatchHandle {
    stop: Arc<AtomicBool>,
    wake: std::os::fd::OwnedFd,
    thread: JoinHandle<WatchStats>,
}

/// How long after start the overflow-rescan snapshot is taken (an overflow before it is still
/// reported, with the changes it can see against an empty snapshot).
const SNAPSHOT_DELAY: Duration = Duration::from_secs(1);

/// Installs the watches on the calling thread (so nothing the workload does from its first
/// instruction is missed), then reads events on a thread of its own and feeds the pipeline's queue
/// (which the tracer never waits on because of file events: they only ever add to it from here).
pub fn spawn(cfg: WatchConfig, events: EventSender) -> io::Result<WatchHandle> {
    let started = std::time::Instant::now();
    let mut w = Watcher::new(cfg)?;
    tracing::info!(
        root = %w.cfg.root.display(),
        watches = w.watch_count(),
        skipped = w.stats.skipped,
        micros = started.elapsed().as_micros() as u64,
        "file watcher started"
    );
    let (wake_r, wake) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    w.wake = Some(wake_r);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new().name("rw-watch".into()).spawn(move || {
        // The overflow snapshot waits a second: a short workload never pays for it, and it would
        // compete with the pipeline's start-up for the CPUs.
        let mut snapshot_due = Some(std::time::Instant::now() + SNAPSHOT_DELAY);
        loop {
            let last = flag.load(Ordering::Acquire);
            for ev in w.read(if last { Duration::ZERO } else { Duration::from_millis(200) }) {
                tracing::debug!(data = %serde_json::to_string(&ev).unwrap_or_default(), "file event");
                events.send(ProcessEvent::File(Box::new(ev)));
            }
            if last {
                break;
            }
            if snapshot_due.is_some_and(|t| std::time::Instant::now() >= t) {
                snapshot_due = None;
                w.take_snapshot_unless(&flag);
            }
        }
        w.stats.watches = w.watch_count();
        let stats = w.stats.clone();
        // Closing an inotify descriptor waits for an SRCU grace period while the kernel destroys its
        // marks (fsnotify_destroy_group): 5-20 ms measured here, on every exit. runwarden stops the
        // watcher only to exit, and the kernel releases the descriptor then; so it is not closed here.
        std::mem::forget(w);
        stats
    })?;
    Ok(WatchHandle { stop, wake, thread })
}

impl WatchHandle {
    /// Reads what is already queued, then stops.
    pub fn stop(self) -> WatchStats {
        self.stop.store(true, Ordering::Release);
        let _ = io::Write::write_all(&mut std::fs::File::from(self.wake), b"x");
        self.thread.join().unwrap_or_else(|_| {
            tracing::error!("the file watcher thread panicked");
            WatchStats::default()
        })
    }
}
