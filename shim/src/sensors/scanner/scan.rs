//! Periodic passes over /proc: which processes descend from runwarden, which of them escaped tracing,
//! and (when ptrace is unavailable) which programs appeared since the last pass.
//!
//! A descendant is a process whose parent chain reaches runwarden. Each pid is classified once, when it
//! first appears (a process cannot move into or out of our tree: orphans are reparented to us, the
//! subreaper), so a pass costs one directory listing plus a few reads per *new* process.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::SystemTime;

use super::probes::{Live, Sensors, SocketIndex};
use crate::events::Tracking;
use crate::events::{ProcessEvent, ProcessRef, Sensor, UntracedEvent};
use crate::proc::capture::ProcReader;
use crate::proc::tree::{list_pids, read_stat, StatFields};

#[derive(Debug, Clone)]
struct Seen {
    starttime: u64,
    ours: bool,
    /// Poll mode: the program last seen, to notice a re-exec.
    program: Option<(String, Vec<String>)>,
}

/// The scanner's memory between passes.
pub struct Scanner {
    root: PathBuf,
    self_pid: i32,
    mode: Tracking,
    env_names: Vec<String>,
    seen: HashMap<i32, Seen>,
    reader: ProcReader,
    reported_untraced: HashSet<(i32, u64)>,
    /// Stdio, connection and library watchers (off in the unit tests of the pass itself).
    sensors: Option<Sensors>,
    main_pid: Option<i32>,
    passes: u64,
    /// Every pid in /proc at the last pass (the pipeline's process table forgets the others).
    live: HashSet<i32>,
}

/// A known pid's start time is read again every this many passes (pid reuse is rare and slow: the
/// kernel hands out pids in increasing order), spread over passes by pid.
pub const STAT_RECHECK_EVERY_PASSES: u64 = 8;

impl Scanner {
    pub fn new(root: impl Into<PathBuf>, self_pid: i32, mode: Tracking, env_names: Vec<String>) -> Self {
        let root = root.into();
        Scanner {
            reader: ProcReader::new(root.clone()),
            root,
            self_pid,
            mode,
            env_names,
            seen: HashMap::new(),
            reported_untraced: HashSet::new(),
            sensors: None,
            main_pid: None,
            passes: 0,
            live: HashSet::new(),
        }
    }

    /// Turns on the stdio, connection and library watchers; `main_pid` is the workload's main
    /// process (the service itself, for the listening-socket rules).
    pub fn with_sensors(mut self, main_pid: i32) -> Self {
        self.sensors = Some(Sensors::new(&self.root, self.self_pid));
        self.main_pid = Some(main_pid);
        self
    }

    /// Every pid that was in /proc at the last pass.
    pub fn live(&self) -> &HashSet<i32> {
        &self.live
    }

    /// Where sockets are read from ("sock_diag" or "/proc/net"), when the watchers are on.
    pub fn socket_source(&self) -> Option<&'static str> {
        self.sensors.as_ref().map(|s| s.lister.source)
    }

    /// Connection events not reported because a pass found more than its bound.
    pub fn connections_dropped(&self) -> u64 {
        self.sensors.as_ref().map_or(0, |s| s.net.dropped)
    }

    /// One pass; returns the events it found. `exec_links` gives the stdio links a process had at
    /// its last exec (the process table's record), so stdio rewired since is told apart.
    pub fn pass(&mut self, exec_links: &dyn Fn(i32) -> Option<[String; 3]>) -> Vec<ProcessEvent> {
        self.passes += 1;
        let pids = list_pids(&self.root);
        let live: HashSet<i32> = pids.iter().copied().collect();
        self.seen.retain(|pid, _| live.contains(pid));
        self.live.clone_from(&live);
        let mut stats: HashMap<i32, StatFields> = HashMap::with_capacity(pids.len());

        // Classify new pids. A parent may be new too (and listed after its child), so repeat until no
        // new pid can be placed; what is left has a parent outside our tree.
        let mut pending: Vec<(i32, StatFields)> = pids
            .iter()
            .filter(|p| **p != self.self_pid)
            .filter_map(|p| {
                // A known pid is re-checked for reuse (its start time) every few passes, staggered;
                // each /proc read walks the kernel's pid lookup, the bulk of a pass's cost.
                let recheck = (*p as u64 + self.passes) % STAT_RECHECK_EVERY_PASSES == 0;
                if self.seen.contains_key(p) && !recheck {
                    return None;
                }
                let st = read_stat(&self.root, *p)?;
                stats.insert(*p, st);
                let known = self.seen.get(p).is_some_and(|s| s.starttime == st.starttime);
                (!known).then_some((*p, st))
            })
            .collect();
        let mut fresh = Vec::new();
        loop {
            let before = pending.len();
            pending.retain(|(pid, st)| {
                let parent_ours = st.ppid == self.self_pid || self.seen.get(&st.ppid).is_some_and(|s| s.ours);
                let parent_known =
                    parent_ours || self.seen.contains_key(&st.ppid) || !live.contains(&st.ppid);
                if parent_known {
                    self.seen
                        .insert(*pid, Seen { starttime: st.starttime, ours: parent_ours, program: None });
                    if parent_ours {
                        fresh.push((*pid, *st));
                    }
                }
                !parent_known
            });
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        for (pid, st) in pending {
            self.seen.insert(pid, Seen { starttime: st.starttime, ours: false, program: None });
        }

        let mut events = Vec::new();
        match self.mode {
            Tracking::Ptrace => {
                for (pid, st) in fresh {
                    self.check_traced(pid, st, &mut events);
                }
            }
            Tracking::Poll => self.poll_programs(&mut events),
            // Nothing escapes a seccomp filter (it is inherited by every child, CLONE_UNTRACED or
            // not), and every exec is reported by the sensor itself.
            Tracking::Seccomp => {}
        }
        if let Some(sensors) = self.sensors.as_mut() {
            // Zombies are left out when this pass read their state; one that died since its last
            // check simply has no fds to read.
            let running: Vec<Live> = self
                .seen
                .iter()
                .filter(|(pid, s)| {
                    s.ours && !stats.get(pid).is_some_and(|st| st.state == 'Z' || st.state == 'X')
                })
                .map(|(pid, s)| Live { pid: *pid, starttime: s.starttime })
                .collect();
            let sockets = SocketIndex::new(sensors.lister.list());
            // Connections first: their holders are the far ends the stdio watcher looks for.
            let conns = sensors.net.pass(&self.root, &running, &sockets, self.main_pid);
            events.extend(conns.into_iter().map(|c| ProcessEvent::Connection(Box::new(c))));
            let holders = sensors.net.remote_holders(&sockets);
            let stdio = sensors.stdio.pass(
                &mut self.reader,
                &running,
                &sockets,
                &holders,
                exec_links,
                &self.env_names,
                self.passes,
            );
            events.extend(stdio.into_iter().map(|e| ProcessEvent::Stdio(Box::new(e))));
            let libs = sensors.libs.pass(&self.root, &running);
            events.extend(libs.into_iter().map(|l| ProcessEvent::Library(Box::new(l))));
        }
        events
    }

    /// A live descendant with no tracer escaped (CLONE_UNTRACED) or was never attached. Zombies are
    /// skipped: once the tracer has consumed a tracee's exit, it shows TracerPid 0 until reaped.
    fn check_traced(&mut self, pid: i32, st: StatFields, events: &mut Vec<ProcessEvent>) {
        if st.state == 'Z' || st.state == 'X' {
            return;
        }
        let Ok(status) = self.reader.status(pid) else {
            return;
        };
        if status.tracer_pid != 0 || !self.reported_untraced.insert((pid, st.starttime)) {
            return;
        }
        let (args, _) = self.reader.cmdline(pid).unwrap_or_default();
        let exe = self.reader.binary(pid).ok().map(|b| b.path);
        events.push(ProcessEvent::Untraced(UntracedEvent {
            time: SystemTime::now(),
            untraced: ProcessRef { pid, ppid: Some(st.ppid), exe, args, ..Default::default() },
            process: None,
        }));
    }

    /// Without ptrace: report each descendant's program when first seen and whenever it changes.
    fn poll_programs(&mut self, events: &mut Vec<ProcessEvent>) {
        let ours: Vec<i32> = self.seen.iter().filter(|(_, s)| s.ours).map(|(p, _)| *p).collect();
        for pid in ours {
            let Ok(ev) = self.reader.exec_event(pid, None, Sensor::Scanner, &self.env_names) else {
                continue;
            };
            let program = (ev.binary.path.clone(), ev.args.clone());
            let Some(seen) = self.seen.get_mut(&pid) else {
                continue;
            };
            if seen.program.as_ref() != Some(&program) {
                seen.program = Some(program);
                events.push(ProcessEvent::Exec(Box::new(ev)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::tree::{descendants, parse_stat};
    use std::path::Path;

    #[test]
    fn stat_with_hostile_command_name() {
        let text = "4242 (a) b) (c) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(parse_stat(text), Some(StatFields { state: 'S', ppid: 17, starttime: 987654 }));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) R"), None);
    }

    fn write_proc(root: &Path, pid: i32, ppid: i32, start: u64, tracer: i32, state: char) {
        let d = root.join(pid.to_string());
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("stat"),
            format!("{pid} (p{pid}) {state} {ppid} 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 0 0"),
        )
        .unwrap();
        std::fs::write(
            d.join("status"),
            format!(
                "Tgid:\t{pid}\nPPid:\t{ppid}\nTracerPid:\t{tracer}\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
            ),
        )
        .unwrap();
        std::fs::write(d.join("cmdline"), format!("prog{pid}\0")).unwrap();
    }

    #[test]
    fn descendants_follow_the_parent_chain() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write_proc(r, 1, 0, 1, 0, 'S');
        write_proc(r, 10, 1, 2, 0, 'S');
        write_proc(r, 30, 20, 4, 0, 'S'); // child listed before its parent
        write_proc(r, 20, 10, 3, 0, 'S');
        write_proc(r, 99, 0, 5, 0, 'S'); // entered from outside (docker exec): not ours
        let mut d = descendants(r, 10);
        d.sort();
        assert_eq!(d, vec![20, 30]);
        let mut all = descendants(r, 1);
        all.sort();
        assert_eq!(all, vec![10, 20, 30]);
    }

    #[test]
    fn untraced_descendants_are_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write_proc(r, 1, 0, 1, 0, 'S');
        write_proc(r, 10, 1, 2, 1, 'S'); // traced
        write_proc(r, 11, 10, 3, 0, 'S'); // escaped
        write_proc(r, 12, 10, 4, 0, 'Z'); // zombie: not reported
        write_proc(r, 50, 0, 5, 0, 'S'); // not ours
        let mut s = Scanner::new(r, 1, Tracking::Ptrace, vec![]);
        let ev = s.pass(&|_| None);
        assert_eq!(ev.len(), 1, "{ev:?}");
        match &ev[0] {
            ProcessEvent::Untraced(u) => {
                assert_eq!((u.untraced.pid, u.untraced.ppid), (11, Some(10)));
                assert_eq!(u.untraced.args, vec!["prog11"]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(s.pass(&|_| None).is_empty(), "reported twice");
        // A new escaped grandchild is found on the next pass.
        write_proc(r, 13, 11, 6, 0, 'S');
        assert_eq!(s.pass(&|_| None).len(), 1);
    }
}
