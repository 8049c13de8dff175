//! What the periodic scan looks at in each live descendant besides its existence (`scanner::scan`):
//! stdio rewired after exec or piped to a socket holder, new connections and listeners, newly mapped
//! libraries. Each watcher keeps what it saw last pass and reports only changes, so a pass over a
//! quiet workload costs three readlinks per process and a read of the socket counters (a `sock_diag`
//! dump when they moved, `scanner::netcount`); fd tables and maps
//! are read only for processes that changed (maps also every [`LIB_RESCAN`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::events::{Binary, ConnectionEvent, ExecEvent, LibraryEvent, Sensor, StdioRelay};

use super::fds::{self, PipeHolders, StdFd};
use super::maps;
use super::net::{SocketEntry, SocketLister};
use crate::proc::capture::ProcReader;

/// How long after a process appears its pipes are followed to a socket holder each pass (the far
/// end of `sh | nc host port` connects a moment after the shell starts).
pub const PIPE_FOLLOW_WINDOW: Duration = Duration::from_secs(10);
/// A process older than [`PIPE_FOLLOW_WINDOW`] has its stdio read every this many passes (every 2 s
/// at the default 500 ms): rewiring happens right after an injected command starts, and the reads
/// are most of a pass's cost.
pub const STDIO_SETTLED_EVERY_PASSES: u64 = 4;
/// How often a process's mapped libraries are read again (dlopen after start). What the loader maps
/// at start (LD_PRELOAD, ld.so.preload) is read on the pass after the process appears; maps are
/// the costliest /proc file to read (the kernel formats every mapping), so later reads are rare.
pub const LIB_RESCAN: Duration = Duration::from_secs(30);
/// Bound on connection events per pass (a burst of outbound connections is summarised in the log).
pub const CONNECTIONS_MAX_PER_PASS: usize = 64;
/// Bound on remembered socket inodes (what has been reported or ignored).
pub const KNOWN_SOCKETS_MAX: usize = 65_536;

/// A live descendant, as `scanner::scan` hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    pub pid: i32,
    pub starttime: u64,
}

/// This pass's sockets, by inode.
pub struct SocketIndex {
    by_inode: HashMap<u64, SocketEntry>,
    /// Local ports with a listener (any address): sockets on them are accepted, not outbound.
    listen_ports: HashSet<u16>,
}

impl SocketIndex {
    pub fn new(sockets: Vec<SocketEntry>) -> SocketIndex {
        let listen_ports = sockets.iter().filter(|s| s.listening()).map(|s| s.local.port()).collect();
        SocketIndex { by_inode: sockets.into_iter().map(|s| (s.inode, s)).collect(), listen_ports }
    }

    pub fn get(&self, inode: u64) -> Option<&SocketEntry> {
        self.by_inode.get(&inode)
    }
}

#[derive(Debug)]
struct StdioState {
    starttime: u64,
    first_seen: Instant,
    /// The fd links last read, and what they are (pipe identities resolved once per change).
    raw: [Option<String>; 3],
    stdio: [Option<StdFd>; 3],
    reported: HashSet<String>,
    /// The current stdio was compared with the exec stop's record.
    exec_compared: bool,
    /// A change to a socket that this pass's socket table did not list yet (connected between the
    /// table's read and the fd links'): looked at once more on the next pass.
    recheck: bool,
}

/// Stdio that reaches the network after exec.
#[derive(Default)]
pub struct StdioWatch {
    state: HashMap<i32, StdioState>,
}

fn links_of(stdio: &[Option<StdFd>; 3]) -> [String; 3] {
    [0, 1, 2].map(|i| stdio[i].as_ref().map(|s| crate::proc::parse::stdio_key(&s.target)).unwrap_or_default())
}

fn resolve(root: &Path, pid: i32, raw: &[Option<String>; 3]) -> [Option<StdFd>; 3] {
    [0, 1, 2].map(|fd: usize| Some(StdFd::read(root, pid, &fd.to_string(), raw[fd].as_deref()?)))
}

impl StdioWatch {
    /// `exec_links` gives the stdio links a process had at its last exec (from the process table):
    /// what the exec rules already judged. `remote_holders` are the processes holding a connected
    /// internet socket (from [`NetWatch`]), the only possible far ends of a relayed shell. A quiet
    /// process costs three readlinks a pass.
    #[allow(clippy::too_many_arguments)]
    pub fn pass(
        &mut self,
        reader: &mut ProcReader,
        live: &[Live],
        sockets: &SocketIndex,
        remote_holders: &HashMap<i32, String>,
        exec_links: &dyn Fn(i32) -> Option<[String; 3]>,
        env_names: &[String],
        pass_no: u64,
    ) -> Vec<ExecEvent> {
        let root = reader.root().to_path_buf();
        let now = Instant::now();
        let alive: HashSet<i32> = live.iter().map(|l| l.pid).collect();
        self.state.retain(|pid, _| alive.contains(pid));

        let mut holders = PipeHolders::default();
        let mut candidates: Vec<(i32, bool)> = Vec::new();
        // Processes looked at again this pass because of `recheck` (once only).
        let mut recheck_done: HashSet<i32> = HashSet::new();
        for l in live {
            let changed = if self.due(l, now, pass_no) {
                self.look(&root, l, now, exec_links, &mut recheck_done)
            } else {
                false
            };
            let Some(st) = self.state.get(&l.pid) else { continue };
            holders.add(l.pid, &st.stdio);
            let young = now.duration_since(st.first_seen) <= PIPE_FOLLOW_WINDOW;
            let has_pipe = st.stdio.iter().flatten().any(|s| s.pipe.is_some());
            if changed || (young && has_pipe && !remote_holders.is_empty()) {
                candidates.push((l.pid, changed));
            }
        }

        let mut out = Vec::new();
        for (pid, changed) in candidates {
            let Some(relays) =
                self.judge(&root, pid, changed, sockets, remote_holders, &holders, &recheck_done)
            else {
                continue;
            };
            if let Ok(mut ev) = reader.exec_event(pid, None, Sensor::Scanner, env_names) {
                ev.relays = relays;
                out.push(ev);
            }
        }
        out
    }

    /// Whether `l`'s descriptors are read this pass: new and young processes every pass, settled ones
    /// every few passes, and any that asked for a second look.
    fn due(&self, l: &Live, now: Instant, pass_no: u64) -> bool {
        let Some(st) = self.state.get(&l.pid) else { return true };
        let fresh = st.starttime != l.starttime;
        let settled = now.duration_since(st.first_seen) > PIPE_FOLLOW_WINDOW;
        fresh || !settled || st.recheck || (l.pid as u64 + pass_no) % STDIO_SETTLED_EVERY_PASSES == 0
    }

    /// Reads `l`'s fds 0-2 and records them; true when they changed since the last look (or differ
    /// from what its exec recorded, or a second look was asked for).
    fn look(
        &mut self,
        root: &Path,
        l: &Live,
        now: Instant,
        exec_links: &dyn Fn(i32) -> Option<[String; 3]>,
        recheck_done: &mut HashSet<i32>,
    ) -> bool {
        let fresh = self.state.get(&l.pid).is_none_or(|st| st.starttime != l.starttime);
        let raw = fds::read_stdio_links(root, l.pid);
        let mut changed = false;
        if fresh {
            let stdio = resolve(root, l.pid, &raw);
            self.state.insert(
                l.pid,
                StdioState {
                    starttime: l.starttime,
                    first_seen: now,
                    raw,
                    stdio,
                    reported: HashSet::new(),
                    exec_compared: false,
                    recheck: false,
                },
            );
        } else if let Some(st) = self.state.get_mut(&l.pid) {
            if st.raw != raw {
                st.stdio = resolve(root, l.pid, &raw);
                st.raw = raw;
                changed = true;
            }
            if std::mem::take(&mut st.recheck) {
                changed = true;
                recheck_done.insert(l.pid);
            }
        }
        // Compared once with what the exec stop recorded, as soon as the pipeline has that exec
        // (its event can still be queued when the scan first sees the process): stdio rewired
        // before the first look is a change too.
        if let Some(st) = self.state.get_mut(&l.pid) {
            if !st.exec_compared {
                if let Some(e) = exec_links(l.pid) {
                    st.exec_compared = true;
                    changed |= e != links_of(&st.stdio);
                }
            }
        }
        changed
    }

    /// Whether candidate `pid` is reported this pass: its stdio on a connected socket (when changed),
    /// or a pipe relayed to a network holder. The relays when it is; `None` when not, or when this
    /// wiring was reported already. A changed descriptor on a socket not listed yet asks for a second
    /// look next pass.
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &mut self,
        root: &Path,
        pid: i32,
        changed: bool,
        sockets: &SocketIndex,
        remote_holders: &HashMap<i32, String>,
        holders: &PipeHolders,
        recheck_done: &HashSet<i32>,
    ) -> Option<Vec<StdioRelay>> {
        let st = self.state.get(&pid)?;
        let mut network = false;
        let mut unlisted = false;
        for s in st.stdio.iter().flatten() {
            match s.socket_inode().map(|i| sockets.get(i)) {
                Some(Some(sock)) => network |= sock.connected() && changed,
                Some(None) => unlisted = true,
                None => {}
            }
        }
        let relays = if remote_holders.is_empty() {
            Vec::new()
        } else {
            relays_of(root, pid, st, holders, remote_holders)
        };
        if !network && relays.is_empty() {
            if changed && unlisted && !recheck_done.contains(&pid) {
                if let Some(st) = self.state.get_mut(&pid) {
                    st.recheck = true;
                }
            }
            return None;
        }
        let key = format!(
            "{:?}{:?}",
            links_of(&st.stdio),
            relays.iter().map(|r| (r.fd, r.pid)).collect::<Vec<_>>()
        );
        let st = self.state.get_mut(&pid)?;
        st.reported.insert(key).then_some(relays)
    }
}

/// Each of `pid`'s pipes followed to a process holding a connected internet socket.
fn relays_of(
    root: &Path,
    pid: i32,
    st: &StdioState,
    holders: &PipeHolders,
    remote_holders: &HashMap<i32, String>,
) -> Vec<StdioRelay> {
    let mut relays = Vec::new();
    for (fd, s) in st.stdio.iter().enumerate() {
        let Some(pipe) = s.as_ref().and_then(|s| s.pipe) else { continue };
        let relay =
            holders.find_relay(pid, pipe, |p| remote_holders.get(&p).cloned(), |p| fds::pipe_ids(root, p));
        if let Some(r) = relay {
            let name = std::fs::read_to_string(root.join(format!("{}/comm", r.pid)))
                .map(|c| c.trim_end().to_string())
                .unwrap_or_default();
            relays.push(StdioRelay { fd: fd as u8, pid: r.pid, name, peer: r.peer, hops: r.hops });
        }
    }
    relays
}

/// New connections and listeners, attributed to the descendant holding them.
#[derive(Default)]
pub struct NetWatch {
    known: HashSet<u64>,
    /// Outbound connected sockets and the descendant holding each.
    owners: HashMap<u64, i32>,
    /// Recent socket holders, most recent first: likely owners of the next new socket.
    recent_owners: Vec<i32>,
    /// runwarden itself.
    self_pid: i32,
    pub dropped: u64,
}

impl NetWatch {
    pub fn pass(
        &mut self,
        root: &Path,
        live: &[Live],
        sockets: &SocketIndex,
        main_pid: Option<i32>,
    ) -> Vec<ConnectionEvent> {
        let present: HashSet<u64> = sockets.by_inode.keys().copied().collect();
        self.known.retain(|i| present.contains(i));
        self.owners.retain(|i, _| sockets.get(*i).is_some_and(SocketEntry::connected));
        let mut pending: HashSet<u64> = HashSet::new();
        for s in sockets.by_inode.values() {
            if s.inode == 0 || self.known.contains(&s.inode) || self.known.len() >= KNOWN_SOCKETS_MAX {
                continue;
            }
            self.known.insert(s.inode);
            let outbound = s.connected() && !sockets.listen_ports.contains(&s.local.port());
            if s.listening() || outbound {
                pending.insert(s.inode);
            }
        }
        // runwarden's own sockets (its HTTP sinks) are no descendant's: one read of its fd table spares
        // reading every process's when the sink opens a connection.
        if !pending.is_empty() {
            for inode in fds::socket_inodes(root, self.self_pid) {
                pending.remove(&inode);
            }
        }
        if pending.is_empty() {
            return Vec::new();
        }
        // Likely owners first, then the newest processes.
        let mut order: Vec<i32> =
            self.recent_owners.iter().copied().filter(|p| live.iter().any(|l| l.pid == *p)).collect();
        let mut by_age: Vec<&Live> = live.iter().collect();
        by_age.sort_by_key(|l| std::cmp::Reverse(l.starttime));
        order.extend(by_age.into_iter().map(|l| l.pid).filter(|p| !self.recent_owners.contains(p)));

        let mut out = Vec::new();
        for pid in order {
            if pending.is_empty() {
                break;
            }
            for inode in fds::socket_inodes(root, pid) {
                if !pending.remove(&inode) {
                    continue;
                }
                let Some(s) = sockets.get(inode) else { continue };
                self.recent_owners.retain(|p| *p != pid);
                self.recent_owners.insert(0, pid);
                self.recent_owners.truncate(8);
                if s.connected() {
                    self.owners.insert(inode, pid);
                }
                if out.len() >= CONNECTIONS_MAX_PER_PASS {
                    self.dropped += 1;
                    continue;
                }
                out.push(ConnectionEvent {
                    time: SystemTime::now(),
                    process: ExecEvent { pid, sensor: Sensor::Scanner, ..Default::default() },
                    protocol: s.proto.as_str(),
                    local_ip: s.local.ip().to_string(),
                    local_port: s.local.port(),
                    remote_ip: s.remote.ip().to_string(),
                    remote_port: s.remote.port(),
                    listening: s.listening(),
                    inode,
                    main_process: Some(pid) == main_pid,
                    service_worker: false,
                    remote_ioc: false,
                });
            }
        }
        // What is left is held by runwarden itself (its HTTP sinks) or by no descendant.
        out
    }

    /// Descendants holding an outbound connection, with one of their sockets described.
    pub fn remote_holders(&self, sockets: &SocketIndex) -> HashMap<i32, String> {
        let mut out = HashMap::new();
        for (inode, pid) in &self.owners {
            if let Some(s) = sockets.get(*inode) {
                out.entry(*pid).or_insert_with(|| s.describe());
            }
        }
        out
    }
}

struct LibState {
    starttime: u64,
    exe: Option<String>,
    last_read: Option<Instant>,
    libs: HashSet<(String, u64)>,
}

/// Libraries mapped by each descendant.
#[derive(Default)]
pub struct LibWatch {
    state: HashMap<i32, LibState>,
}

impl LibWatch {
    pub fn pass(&mut self, root: &Path, live: &[Live]) -> Vec<LibraryEvent> {
        let now = Instant::now();
        let alive: HashSet<i32> = live.iter().map(|l| l.pid).collect();
        self.state.retain(|pid, _| alive.contains(pid));
        let mut out = Vec::new();
        for l in live {
            let st = self.state.entry(l.pid).or_insert_with(|| LibState {
                starttime: l.starttime,
                exe: None,
                last_read: None,
                libs: HashSet::new(),
            });
            if st.starttime != l.starttime {
                *st = LibState { starttime: l.starttime, exe: None, last_read: None, libs: HashSet::new() };
            }
            match st.last_read {
                // First seen this pass: give the loader the time to map what it maps at start.
                None if st.exe.is_none() => {
                    st.exe = std::fs::read_link(root.join(format!("{}/exe", l.pid)))
                        .ok()
                        .map(|p| p.to_string_lossy().trim_end_matches(" (deleted)").to_string());
                    continue;
                }
                Some(t) if now.duration_since(t) < LIB_RESCAN => continue,
                _ => {}
            }
            st.last_read = Some(now);
            let Ok(mapped) = maps::read_maps(root, l.pid, st.exe.as_deref()) else { continue };
            for m in mapped {
                if !st.libs.insert((m.path.clone(), m.inode)) {
                    continue;
                }
                let path = PathBuf::from(&m.path);
                let key = (!m.deleted)
                    .then(|| crate::proc::files::stat_key(&path).ok())
                    .flatten()
                    .filter(|k| k.ino == m.inode);
                out.push(LibraryEvent {
                    time: SystemTime::now(),
                    process: ExecEvent { pid: l.pid, sensor: Sensor::Scanner, ..Default::default() },
                    library: Binary {
                        memfd: m.path.starts_with("/memfd:"),
                        path: m.path,
                        deleted: m.deleted,
                        size: key.map(|k| k.size),
                        key,
                        ..Default::default()
                    },
                });
            }
        }
        out
    }
}

/// The three watchers and the socket lister, driven by `scanner::scan` each pass.
pub struct Sensors {
    pub stdio: StdioWatch,
    pub net: NetWatch,
    pub libs: LibWatch,
    pub lister: SocketLister,
}

impl Sensors {
    pub fn new(root: &Path, self_pid: i32) -> Sensors {
        Sensors {
            stdio: StdioWatch::default(),
            net: NetWatch { self_pid, ..NetWatch::default() },
            libs: LibWatch::default(),
            lister: SocketLister::new(root, self_pid),
        }
    }
}
