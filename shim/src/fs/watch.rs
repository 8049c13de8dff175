//! The file watcher: inotify on the files attackers change to persist, escalate or blind the sensor.
//!
//! What is watched (each path under `RUNWARDEN_WATCH_ROOT`, default `/`): the loader's preload list and
//! search path (`/etc/ld.so.preload`, `/etc/ld.so.conf*`), cron (`/etc/crontab`, `/etc/cron.*`,
//! `/var/spool/cron`), PAM (`/etc/pam.d`, `/etc/security`, the module directories), audit and logging
//! configuration (auditd, rsyslog, syslog-ng, journald), the CA trust stores, the directories of the
//! image's executables (so drift is known before it runs), opens of `/etc/shadow`, `/etc/gshadow` and
//! `authorized_keys`, and runwarden's own binary, policy directory and baseline (never under the root).
//!
//! Directories are watched for changes of their entries and the entries are classified by path
//! ([`Classifier`]); only classified entries are reported. Secrets are watched as files for `IN_OPEN`
//! and are never read by runwarden. A watched path that does not exist yet is waited for on its nearest
//! existing ancestor (`IN_CREATE`), so `/etc/cron.d` or `/root/.ssh` created later are watched from
//! then on; a watched directory that is deleted or moved goes back to waiting. Watches are counted and
//! capped ([`WatchConfig::max_watches`]); what is left out is logged once. When the kernel's queue
//! overflows (`IN_Q_OVERFLOW`), the watched directories are compared with the snapshot (size, mtime,
//! inode) and every difference is reported with `rescan: true`, after a warning that it happened.
//!
//! inotify never says which process acted. For opens, the watcher looks through `/proc/*/fd` for a
//! process holding the file open at that moment (best effort; the finding says so when none is found).
//! Under gVisor inotify sees the changes made inside the sandbox, which is all a workload can do.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use serde::Serialize;

use crate::event::{FileActor, FileEvent, FileOp, ProcessEvent};
use crate::pipeline::EventSender;

/// Default cap on watches: well under the usual `max_user_watches` (8192 or more), shared with the host.
pub const DEFAULT_MAX_WATCHES: usize = 1024;
/// Files larger than this are reported without a hash.
pub const HASH_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// What a watched file is. The rules of `policies/rules/file.yaml` see it as `file.class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// The dynamic loader's preload list and search path.
    Preload,
    Cron,
    Pam,
    /// Password hashes and SSH keys: watched for opens.
    Secret,
    /// Audit and logging configuration.
    Audit,
    /// CA trust stores.
    Ca,
    /// runwarden's own binary, policies and baseline.
    Sensor,
    /// A directory of executables.
    Executables,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Preload => "preload",
            Class::Cron => "cron",
            Class::Pam => "pam",
            Class::Secret => "secret",
            Class::Audit => "audit",
            Class::Ca => "ca",
            Class::Sensor => "sensor",
            Class::Executables => "executables",
        }
    }
}

const CRON_DIRS: &[&str] =
    &["/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly", "/etc/cron.monthly"];
const PAM_MODULE_DIRS: &[&str] = &[
    "/lib/security",
    "/lib64/security",
    "/usr/lib/security",
    "/usr/lib64/security",
    "/lib/x86_64-linux-gnu/security",
    "/usr/lib/x86_64-linux-gnu/security",
    "/lib/aarch64-linux-gnu/security",
    "/usr/lib/aarch64-linux-gnu/security",
];
const AUDIT_DIRS: &[&str] = &[
    "/etc/audit",
    "/etc/audit/rules.d",
    "/etc/audit/plugins.d",
    "/etc/audisp",
    "/etc/rsyslog.d",
    "/etc/syslog-ng",
    "/etc/syslog-ng/conf.d",
    "/etc/systemd/journald.conf.d",
];
const AUDIT_FILES: &[&str] = &["/etc/rsyslog.conf", "/etc/syslog.conf", "/etc/systemd/journald.conf"];
const CA_DIRS: &[&str] = &["/etc/ssl/certs", "/etc/pki/ca-trust/source/anchors"];
const CA_FILES: &[&str] = &["/etc/pki/tls/certs/ca-bundle.crt", "/etc/ca-certificates.conf"];
const EXEC_DIRS: &[&str] = &["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/bin", "/sbin"];
const SECRET_FILES: &[&str] = &["/etc/shadow", "/etc/gshadow"];
const AUTHORIZED_KEYS: &[&str] = &["authorized_keys", "authorized_keys2"];

fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// Path -> [`Class`]: the pure part of the watcher, shared by what is watched and what is reported.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    /// runwarden's own files (absolute, as they are on disk: never under the watch root).
    pub sensor_files: Vec<String>,
    /// Directories whose every entry is runwarden's (the policy directory).
    pub sensor_dirs: Vec<String>,
}

impl Classifier {
    /// The class of an absolute path as the container sees it; `None` = not reported.
    pub fn classify(&self, path: &str) -> Option<Class> {
        let (dir, name) = split(path);
        if self.sensor_files.iter().any(|f| f == path)
            || self.sensor_dirs.iter().any(|d| d == dir || d == path)
        {
            return Some(Class::Sensor);
        }
        if path == "/etc/ld.so.preload" || path == "/etc/ld.so.conf" || path == "/etc/ld.so.conf.d" {
            return Some(Class::Preload);
        }
        if dir == "/etc/ld.so.conf.d" {
            return Some(Class::Preload);
        }
        if matches!(path, "/etc/crontab" | "/etc/anacrontab" | "/etc/cron.allow" | "/etc/cron.deny")
            || CRON_DIRS.contains(&path)
            || CRON_DIRS.contains(&dir)
            || path == "/var/spool/cron"
            || path.starts_with("/var/spool/cron/")
        {
            return Some(Class::Cron);
        }
        if path == "/etc/pam.conf"
            || path == "/etc/pam.d"
            || dir == "/etc/pam.d"
            || dir == "/etc/security"
            || (PAM_MODULE_DIRS.contains(&dir) && name.ends_with(".so"))
        {
            return Some(Class::Pam);
        }
        if SECRET_FILES.contains(&path) || (AUTHORIZED_KEYS.contains(&name) && dir.ends_with("/.ssh")) {
            return Some(Class::Secret);
        }
        if AUDIT_FILES.contains(&path) || AUDIT_DIRS.contains(&dir) || AUDIT_DIRS.contains(&path) {
            return Some(Class::Audit);
        }
        if CA_FILES.contains(&path)
            || CA_DIRS.contains(&dir)
            || path.starts_with("/usr/local/share/ca-certificates/")
        {
            return Some(Class::Ca);
        }
        if EXEC_DIRS.contains(&dir) {
            return Some(Class::Executables);
        }
        None
    }

    /// What to watch. `homes` are the home directories found under the root (`/home/*`).
    pub fn targets(&self, homes: &[String]) -> Vec<Target> {
        let mut t = Vec::new();
        let mut dir = |p: &str, rooted: bool| t.push(Target { path: p.to_string(), open: false, rooted });
        for d in ["/etc", "/etc/ld.so.conf.d", "/var/spool/cron", "/var/spool/cron/crontabs", "/etc/pam.d"] {
            dir(d, true);
        }
        for d in ["/etc/security", "/etc/systemd", "/usr/local/share/ca-certificates", "/etc/pki/tls/certs"] {
            dir(d, true);
        }
        for d in CRON_DIRS.iter().chain(PAM_MODULE_DIRS).chain(AUDIT_DIRS).chain(CA_DIRS).chain(EXEC_DIRS) {
            dir(d, true);
        }
        let mut ssh_dirs = vec!["/root/.ssh".to_string()];
        ssh_dirs.extend(homes.iter().map(|h| format!("{h}/.ssh")));
        for d in &ssh_dirs {
            dir(d, true);
        }
        for f in &self.sensor_files {
            dir(split(f).0, false);
        }
        for d in &self.sensor_dirs {
            dir(d, false);
        }
        let mut open = |p: String| t.push(Target { path: p, open: true, rooted: true });
        for f in SECRET_FILES {
            open(f.to_string());
        }
        for d in &ssh_dirs {
            for k in AUTHORIZED_KEYS {
                open(format!("{d}/{k}"));
            }
        }
        let mut seen = BTreeSet::new();
        t.retain(|x| seen.insert((x.path.clone(), x.open)));
        t
    }
}

/// One thing to watch: a directory (its entries' changes) or, when `open`, a file (its opens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Absolute, as the container sees it.
    pub path: String,
    pub open: bool,
    /// Under the watch root (system paths) or not (runwarden's own files).
    pub rooted: bool,
}

/// What one inotify record means, before pairing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawOp {
    Create,
    CloseWrite,
    Delete,
    MovedFrom(u32),
    MovedTo(u32),
    Attrib,
    Open,
}

impl RawOp {
    pub fn from_mask(mask: EventMask, cookie: u32) -> Option<RawOp> {
        Some(if mask.contains(EventMask::CREATE) {
            RawOp::Create
        } else if mask.contains(EventMask::CLOSE_WRITE) {
            RawOp::CloseWrite
        } else if mask.contains(EventMask::DELETE) {
            RawOp::Delete
        } else if mask.contains(EventMask::MOVED_FROM) {
            RawOp::MovedFrom(cookie)
        } else if mask.contains(EventMask::MOVED_TO) {
            RawOp::MovedTo(cookie)
        } else if mask.contains(EventMask::ATTRIB) {
            RawOp::Attrib
        } else if mask.contains(EventMask::OPEN) {
            RawOp::Open
        } else {
            return None;
        })
    }
}

/// A change after pairing and coalescing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub op: FileOp,
    pub other: Option<String>,
}

/// Turns one read's records into changes: a rename's two halves (same cookie) become one `RENAME`
/// (named by its destination when that is classified, else by its source, the other name in `other`);
/// a half whose other half is outside the watched directories is a `CREATE` (moved in) or a `RENAME`
/// (moved away); a `CREATE` followed by the writer's close is one `CREATE`; repeats are dropped; only
/// paths the classifier knows are kept.
pub fn coalesce(raw: &[(String, RawOp)], classifier: &Classifier) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    let mut created: BTreeSet<&str> = BTreeSet::new();
    let mut paired: BTreeSet<usize> = BTreeSet::new();
    for (i, (path, op)) in raw.iter().enumerate() {
        if paired.contains(&i) {
            continue;
        }
        let change = match *op {
            RawOp::Create => {
                created.insert(path);
                Change { path: path.clone(), op: FileOp::Create, other: None }
            }
            RawOp::CloseWrite if created.contains(path.as_str()) => continue,
            RawOp::CloseWrite => Change { path: path.clone(), op: FileOp::Modify, other: None },
            RawOp::Delete => Change { path: path.clone(), op: FileOp::Delete, other: None },
            RawOp::Attrib => Change { path: path.clone(), op: FileOp::Attrib, other: None },
            RawOp::Open => Change { path: path.clone(), op: FileOp::Open, other: None },
            RawOp::MovedFrom(cookie) => {
                let to = raw
                    .iter()
                    .enumerate()
                    .skip(i + 1)
                    .find(|(_, (_, o))| *o == RawOp::MovedTo(cookie))
                    .map(|(j, (p, _))| (j, p));
                match to {
                    Some((j, to)) => {
                        paired.insert(j);
                        if classifier.classify(to).is_some() || classifier.classify(path).is_none() {
                            Change { path: to.clone(), op: FileOp::Rename, other: Some(path.clone()) }
                        } else {
                            Change { path: path.clone(), op: FileOp::Rename, other: Some(to.clone()) }
                        }
                    }
                    None => Change { path: path.clone(), op: FileOp::Rename, other: None },
                }
            }
            RawOp::MovedTo(_) => Change { path: path.clone(), op: FileOp::Create, other: None },
        };
        let known = classifier.classify(&change.path).is_some()
            || change.other.as_deref().is_some_and(|o| classifier.classify(o).is_some());
        if known && !out.contains(&change) {
            out.push(change);
        }
    }
    out
}

/// What the overflow rescan compares: enough to see that a file changed, without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub size: u64,
    pub mtime_ns: i128,
    pub ino: u64,
}

impl Meta {
    fn of(m: &std::fs::Metadata) -> Meta {
        if m.is_dir() {
            // A directory's own size and mtime change with its entries, which are compared themselves.
            return Meta { size: 0, mtime_ns: 0, ino: m.ino() };
        }
        Meta {
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ino: m.ino(),
        }
    }
}

/// The differences between two snapshots: new paths are `CREATE`, vanished ones `DELETE`, changed
/// size, mtime or inode `MODIFY`.
pub fn diff(old: &BTreeMap<String, Meta>, new: &BTreeMap<String, Meta>) -> Vec<Change> {
    let mut out = Vec::new();
    for (p, m) in new {
        match old.get(p) {
            None => out.push(Change { path: p.clone(), op: FileOp::Create, other: None }),
            Some(o) if o != m => out.push(Change { path: p.clone(), op: FileOp::Modify, other: None }),
            Some(_) => {}
        }
    }
    for p in old.keys().filter(|p| !new.contains_key(*p)) {
        out.push(Change { path: p.clone(), op: FileOp::Delete, other: None });
    }
    out
}

#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Prefix of every watched system path (`RUNWARDEN_WATCH_ROOT`): `/`, or a chroot-like tree.
    pub root: PathBuf,
    pub classifier: Classifier,
    pub proc_root: PathBuf,
    /// runwarden's pid: never blamed for an open.
    pub self_pid: i32,
    pub max_watches: usize,
}

impl WatchConfig {
    /// The watch budget: the default cap, or half of `max_user_watches` when that is lower.
    pub fn budget() -> usize {
        let system = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok());
        system.map_or(DEFAULT_MAX_WATCHES, |n| DEFAULT_MAX_WATCHES.min(n / 2).max(1))
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchStats {
    pub watches: usize,
    /// Paths not watched because the budget was spent (or the kernel refused).
    pub skipped: usize,
    pub events: u64,
    pub overflows: u64,
    pub attributed: u64,
}

struct Dir {
    real: PathBuf,
    shown: String,
}

pub struct Watcher {
    ino: Inotify,
    cfg: WatchConfig,
    dirs: HashMap<WatchDescriptor, Dir>,
    files: HashMap<WatchDescriptor, (String, PathBuf)>,
    by_real: HashMap<PathBuf, WatchDescriptor>,
    /// Every target, and which of them are not watched yet (missing, or waiting on an ancestor).
    targets: Vec<Target>,
    pending: BTreeSet<usize>,
    skipped: Vec<String>,
    budget_warned: bool,
    snapshot: BTreeMap<String, Meta>,
    /// Readable when the watcher must stop: ends a wait at once.
    wake: Option<std::os::fd::OwnedFd>,
    pub stats: WatchStats,
}

const DIR_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR);

impl Watcher {
    /// Installs every watch (fast: no file is read). The snapshot for overflow rescans is taken by
    /// [`Watcher::take_snapshot`], off the workload's start path.
    pub fn new(cfg: WatchConfig) -> io::Result<Watcher> {
        let ino = Inotify::init()?;
        let homes: Vec<String> = std::fs::read_dir(real_of(&cfg.root, "/home", true))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| e.file_name().to_str().map(|n| format!("/home/{n}")))
                    .collect()
            })
            .unwrap_or_default();
        let targets = cfg.classifier.targets(&homes);
        let pending = (0..targets.len()).collect();
        let mut w = Watcher {
            ino,
            cfg,
            dirs: HashMap::new(),
            files: HashMap::new(),
            by_real: HashMap::new(),
            targets,
            pending,
            skipped: Vec::new(),
            budget_warned: false,
            snapshot: BTreeMap::new(),
            wake: None,
            stats: WatchStats::default(),
        };
        w.install_pending();
        if !w.skipped.is_empty() {
            w.warn_budget();
        }
        Ok(w)
    }

    fn warn_budget(&mut self) {
        if self.budget_warned {
            return;
        }
        self.budget_warned = true;
        let shown: Vec<&str> = self.skipped.iter().take(20).map(String::as_str).collect();
        tracing::warn!(
            watches = self.watch_count(),
            max = self.cfg.max_watches,
            skipped = self.skipped.len(),
            paths = %shown.join(" "),
            "the file watcher's budget is spent; these paths are not watched (logged once)"
        );
    }

    pub fn watch_count(&self) -> usize {
        self.dirs.len() + self.files.len()
    }

    fn add(&mut self, real: &Path, mask: WatchMask) -> Option<WatchDescriptor> {
        if let Some(wd) = self.by_real.get(real) {
            return Some(wd.clone());
        }
        if self.watch_count() >= self.cfg.max_watches {
            self.skip(real);
            return None;
        }
        match self.ino.watches().add(real, mask) {
            Ok(wd) => {
                self.by_real.insert(real.to_path_buf(), wd.clone());
                Some(wd)
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                self.skip(real);
                None
            }
            Err(_) => None,
        }
    }

    fn skip(&mut self, real: &Path) {
        self.stats.skipped += 1;
        self.skipped.push(real.display().to_string());
        if self.budget_warned {
            tracing::debug!(path = %real.display(), "not watched: the watch budget is spent");
        }
    }

    /// Watches a directory (or, with `shown` None, an ancestor waited on).
    fn add_dir(&mut self, real: &Path, shown: &str) -> Option<WatchDescriptor> {
        let wd = self.add(real, DIR_MASK)?;
        // Two paths to one inode (/bin -> usr/bin) share a watch: the first name is kept.
        self.dirs
            .entry(wd.clone())
            .or_insert_with(|| Dir { real: real.to_path_buf(), shown: shown.to_string() });
        Some(wd)
    }

    /// Tries to watch every pending target; those whose path is missing wait on an ancestor.
    fn install_pending(&mut self) {
        let pending: Vec<usize> = self.pending.iter().copied().collect();
        for i in pending {
            if self.install(i) {
                self.pending.remove(&i);
            }
        }
    }

    fn install(&mut self, i: usize) -> bool {
        let t = self.targets[i].clone();
        let real = real_of(&self.cfg.root, &t.path, t.rooted);
        if t.open {
            // The directory is watched too, to see the secret replaced (a new inode to watch).
            let dir = split(&t.path).0;
            let dir_real = real_of(&self.cfg.root, dir, t.rooted);
            if dir_real.is_dir() {
                self.add_dir(&dir_real, dir);
            }
            if real.is_file() {
                if let Some(wd) = self.add(&real, WatchMask::OPEN) {
                    self.files.insert(wd, (t.path.clone(), real));
                    return true;
                }
                return false;
            }
        } else if real.is_dir() {
            return self.add_dir(&real, &t.path).is_some();
        }
        // Missing: wait for it on the nearest existing ancestor (under the root for system paths).
        let mut shown = t.path.clone();
        loop {
            let (parent, _) = split(&shown);
            if parent.is_empty() || parent == shown {
                return false;
            }
            shown = parent.to_string();
            let real = real_of(&self.cfg.root, &shown, t.rooted);
            if real.is_dir() {
                self.add_dir(&real, &shown);
                return false;
            }
        }
    }

    /// Lists the watched directories' classified entries: the reference for overflow rescans.
    pub fn take_snapshot(&mut self) {
        self.snapshot = self.current();
    }

    /// Like [`Watcher::take_snapshot`], abandoned if `stop` is set meanwhile: the snapshot (a stat of
    /// every entry of the watched directories, /usr/bin included) only serves overflow rescans in a
    /// long run, and a workload as short as `/bin/true` must not wait for it at exit.
    pub fn take_snapshot_unless(&mut self, stop: &AtomicBool) {
        if let Some(s) = self.current_until(Some(stop)) {
            self.snapshot = s;
        }
    }

    fn current(&self) -> BTreeMap<String, Meta> {
        self.current_until(None).unwrap_or_default()
    }

    fn current_until(&self, stop: Option<&AtomicBool>) -> Option<BTreeMap<String, Meta>> {
        let mut out = BTreeMap::new();
        for d in self.dirs.values() {
            if stop.is_some_and(|s| s.load(Ordering::Acquire)) {
                return None;
            }
            let Ok(rd) = std::fs::read_dir(&d.real) else { continue };
            for e in rd.flatten() {
                let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
                let shown = join(&d.shown, &name);
                // Executable directories (thousands of entries, no file rule of their own: programs
                // are judged when they run) are left out of the snapshot.
                if matches!(self.cfg.classifier.classify(&shown), None | Some(Class::Executables)) {
                    continue;
                }
                if let Ok(m) = e.metadata() {
                    out.insert(shown, Meta::of(&m));
                }
            }
        }
        Some(out)
    }

    /// After an overflow: re-installs what may have appeared, then reports what differs from the
    /// snapshot.
    pub fn rescan(&mut self) -> Vec<FileEvent> {
        self.stats.overflows += 1;
        self.install_pending();
        let now = self.current();
        let changes = diff(&self.snapshot, &now);
        self.snapshot = now;
        tracing::warn!(
            changes = changes.len(),
            "the inotify event queue overflowed: events were lost, so the watched files were rescanned \
             against the snapshot and every difference is reported"
        );
        changes.into_iter().map(|c| self.event(c, true)).collect()
    }

    /// Waits up to `wait` for events and returns what they mean.
    pub fn read(&mut self, wait: Duration) -> Vec<FileEvent> {
        let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
        use nix::poll::{PollFd, PollFlags, PollTimeout};
        let ready = {
            let mut fds = vec![PollFd::new(self.ino.as_fd(), PollFlags::POLLIN)];
            fds.extend(self.wake.as_ref().map(|w| PollFd::new(w.as_fd(), PollFlags::POLLIN)));
            let n = nix::poll::poll(&mut fds, PollTimeout::from(ms)).unwrap_or(0);
            n > 0 && fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLIN))
        };
        if !ready {
            return Vec::new();
        }
        // A writer's create, write and close arrive close together: read them as one batch.
        std::thread::sleep(Duration::from_millis(5));
        let mut raw: Vec<(String, RawOp)> = Vec::new();
        let mut overflow = false;
        let mut gone: Vec<WatchDescriptor> = Vec::new();
        let mut appeared: Vec<String> = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let events = match self.ino.read_events(&mut buf) {
                Ok(ev) => ev,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read inotify events");
                    break;
                }
            };
            for ev in events {
                self.stats.events += 1;
                if ev.mask.contains(EventMask::Q_OVERFLOW) {
                    overflow = true;
                    continue;
                }
                if ev.mask.contains(EventMask::IGNORED) {
                    gone.push(ev.wd.clone());
                    continue;
                }
                if ev.mask.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF) {
                    // A moved directory keeps its watch under the old name: drop it and wait again.
                    let _ = self.ino.watches().remove(ev.wd.clone());
                    continue;
                }
                if let Some((shown, _)) = self.files.get(&ev.wd) {
                    if ev.mask.contains(EventMask::OPEN) {
                        raw.push((shown.clone(), RawOp::Open));
                    }
                    continue;
                }
                let (Some(d), Some(name)) = (self.dirs.get(&ev.wd), ev.name) else { continue };
                let name = name.to_string_lossy().into_owned();
                let shown = join(&d.shown, &name);
                let Some(op) = RawOp::from_mask(ev.mask, ev.cookie) else { continue };
                if matches!(op, RawOp::Create | RawOp::MovedTo(_)) {
                    appeared.push(shown.clone());
                }
                raw.push((shown, op));
            }
        }
        for wd in gone {
            self.forget(&wd);
        }
        if !appeared.is_empty() {
            self.on_appeared(&appeared);
        }
        let changes = coalesce(&raw, &self.cfg.classifier);
        let mut out: Vec<FileEvent> = changes.into_iter().map(|c| self.event(c, false)).collect();
        if overflow {
            out.extend(self.rescan());
        }
        out
    }

    /// A watch the kernel removed (its file or directory is gone): its targets wait again.
    fn forget(&mut self, wd: &WatchDescriptor) {
        let real = if let Some(d) = self.dirs.remove(wd) {
            Some(d.real)
        } else {
            self.files.remove(wd).map(|(_, r)| r)
        };
        if let Some(real) = real {
            self.by_real.remove(&real);
        }
        for (i, t) in self.targets.iter().enumerate() {
            let watched = self.by_real.contains_key(&real_of(&self.cfg.root, &t.path, t.rooted));
            if !watched {
                self.pending.insert(i);
            }
        }
        self.install_pending();
    }

    /// Something was created or moved in: a target may be watchable now, or a secret replaced.
    fn on_appeared(&mut self, paths: &[String]) {
        let mut retry = false;
        for p in paths {
            for (i, t) in self.targets.iter().enumerate() {
                if t.path == *p || t.path.starts_with(&format!("{p}/")) {
                    self.pending.insert(i);
                    retry = true;
                }
                if t.open && t.path == *p {
                    // A replaced secret is a new inode: watch it again.
                    let real = real_of(&self.cfg.root, &t.path, t.rooted);
                    if let Some(wd) = self.by_real.remove(&real) {
                        self.files.remove(&wd);
                    }
                }
            }
        }
        if retry {
            self.install_pending();
        }
    }

    fn real_of_shown(&self, shown: &str) -> PathBuf {
        let rooted = self.cfg.classifier.classify(shown) != Some(Class::Sensor);
        real_of(&self.cfg.root, shown, rooted)
    }

    /// The event for a change: class, hash (never of a secret), the process holding the file open.
    fn event(&mut self, c: Change, rescan: bool) -> FileEvent {
        let class = self
            .cfg
            .classifier
            .classify(&c.path)
            .or_else(|| c.other.as_deref().and_then(|o| self.cfg.classifier.classify(o)));
        let real = self.real_of_shown(&c.path);
        let meta = std::fs::metadata(&real).ok();
        match &meta {
            Some(m) => self.snapshot.insert(c.path.clone(), Meta::of(m)),
            None => self.snapshot.remove(&c.path),
        };
        let sha256 = match (&meta, class) {
            (_, Some(Class::Secret)) => None,
            (Some(m), _) if m.is_file() && m.size() <= HASH_MAX_BYTES && c.op != FileOp::Delete => {
                std::fs::File::open(&real).ok().and_then(|f| super::hash::sha256_hex(f).ok())
            }
            _ => None,
        };
        // Looking through /proc costs a little per event: not for deletions (nothing holds a deleted
        // name) nor for the executable directories (a package install writes hundreds of files).
        let process = if c.op == FileOp::Delete || class == Some(Class::Executables) {
            None
        } else {
            holder(&self.cfg.proc_root, &real, self.cfg.self_pid)
        };
        if process.is_some() {
            self.stats.attributed += 1;
        }
        FileEvent {
            time: SystemTime::now(),
            path: c.path,
            operation: c.op,
            other_path: c.other,
            class: class.map_or("", Class::as_str),
            sha256,
            process,
            rescan,
        }
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Where a path as the container sees it lives on disk.
pub fn real_of(root: &Path, shown: &str, rooted: bool) -> PathBuf {
    if rooted && root != Path::new("/") {
        root.join(shown.trim_start_matches('/'))
    } else {
        PathBuf::from(shown)
    }
}

/// A process that has `real` open right now (best effort: inotify does not say who acted).
pub fn holder(proc_root: &Path, real: &Path, self_pid: i32) -> Option<FileActor> {
    for e in std::fs::read_dir(proc_root).ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if pid == self_pid {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(e.path().join("fd")) else { continue };
        let holds = fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == real));
        if !holds {
            continue;
        }
        let exe = std::fs::read_link(e.path().join("exe")).ok().map(|p| p.display().to_string());
        let args: Vec<String> = std::fs::read(e.path().join("cmdline"))
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let ppid = std::fs::read_to_string(e.path().join("stat")).ok().and_then(|s| {
            let rest = &s[s.rfind(')')? + 1..];
            rest.split_whitespace().nth(1)?.parse().ok()
        });
        return Some(FileActor { pid, ppid, exe, args, ancestors: Vec::new(), sha256: None });
    }
    None
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier() -> Classifier {
        Classifier {
            sensor_files: vec!["/usr/local/bin/runwarden".into(), "/etc/runwarden/baseline.json".into()],
            sensor_dirs: vec!["/etc/runwarden/policies".into()],
        }
    }

    #[test]
    fn classification() {
        let c = classifier();
        for (path, want) in [
            ("/etc/ld.so.preload", Some(Class::Preload)),
            ("/etc/ld.so.conf.d/evil.conf", Some(Class::Preload)),
            ("/etc/crontab", Some(Class::Cron)),
            ("/etc/cron.d/job", Some(Class::Cron)),
            ("/etc/cron.d", Some(Class::Cron)),
            ("/var/spool/cron/crontabs/root", Some(Class::Cron)),
            ("/etc/pam.d/sshd", Some(Class::Pam)),
            ("/lib/x86_64-linux-gnu/security/pam_unix.so", Some(Class::Pam)),
            ("/etc/shadow", Some(Class::Secret)),
            ("/root/.ssh/authorized_keys", Some(Class::Secret)),
            ("/home/app/.ssh/authorized_keys2", Some(Class::Secret)),
            ("/etc/audit/rules.d/a.rules", Some(Class::Audit)),
            ("/etc/rsyslog.conf", Some(Class::Audit)),
            ("/etc/systemd/journald.conf", Some(Class::Audit)),
            ("/usr/local/share/ca-certificates/evil.crt", Some(Class::Ca)),
            ("/etc/ssl/certs/ca-certificates.crt", Some(Class::Ca)),
            ("/etc/pki/ca-trust/source/anchors/x.pem", Some(Class::Ca)),
            ("/usr/local/bin/runwarden", Some(Class::Sensor)),
            ("/etc/runwarden/policies/extra.yaml", Some(Class::Sensor)),
            ("/etc/runwarden/baseline.json", Some(Class::Sensor)),
            ("/usr/local/bin/app", Some(Class::Executables)),
            // Look-alikes that are not reported.
            ("/etc/hosts", None),
            ("/etc/passwd", None),
            ("/etc/ld.so.cache", None),
            ("/etc/cron.d.bak/x", None),
            ("/lib/x86_64-linux-gnu/libc.so.6", None),
            ("/root/.ssh/known_hosts", None),
            ("/home/app/authorized_keys", None),
            ("/etc/systemd/system.conf", None),
            ("/tmp/shadow", None),
            ("/var/log/app.log", None),
            ("/usr/local/bin/sub/x", None),
        ] {
            assert_eq!(c.classify(path), want, "{path}");
        }
    }

    #[test]
    fn targets_cover_every_class_and_keep_sensor_files_unrooted() {
        let t = classifier().targets(&["/home/app".into()]);
        let has = |p: &str, open: bool| t.iter().any(|x| x.path == p && x.open == open);
        assert!(has("/etc", false) && has("/etc/cron.d", false) && has("/etc/pam.d", false));
        assert!(has("/etc/shadow", true) && has("/root/.ssh/authorized_keys", true));
        assert!(has("/home/app/.ssh/authorized_keys", true) && has("/home/app/.ssh", false));
        assert!(has("/usr/local/share/ca-certificates", false) && has("/usr/bin", false));
        let sensor = t.iter().find(|x| x.path == "/etc/runwarden/policies").unwrap();
        assert!(!sensor.rooted);
        assert_eq!(real_of(Path::new("/tmp/r"), "/etc/shadow", true), PathBuf::from("/tmp/r/etc/shadow"));
        assert_eq!(real_of(Path::new("/tmp/r"), "/usr/bin/rw", false), PathBuf::from("/usr/bin/rw"));
        assert_eq!(real_of(Path::new("/"), "/etc/shadow", true), PathBuf::from("/etc/shadow"));
    }

    fn raw(items: &[(&str, RawOp)]) -> Vec<(String, RawOp)> {
        items.iter().map(|(p, o)| (p.to_string(), *o)).collect()
    }

    #[test]
    fn renames_pair_by_cookie_and_name_the_classified_side() {
        let c = classifier();
        // sed -i: a temporary file renamed over the watched one.
        let got = coalesce(
            &raw(&[
                ("/etc/sedAb12", RawOp::Create),
                ("/etc/sedAb12", RawOp::CloseWrite),
                ("/etc/sedAb12", RawOp::MovedFrom(7)),
                ("/etc/ld.so.preload", RawOp::MovedTo(7)),
            ]),
            &c,
        );
        assert_eq!(
            got,
            vec![Change {
                path: "/etc/ld.so.preload".into(),
                op: FileOp::Rename,
                other: Some("/etc/sedAb12".into())
            }]
        );
        // A watched file renamed to an unwatched name is named by its source.
        let got =
            coalesce(&raw(&[("/etc/pam.d/su", RawOp::MovedFrom(3)), ("/etc/su.bak", RawOp::MovedTo(3))]), &c);
        assert_eq!(got[0].path, "/etc/pam.d/su");
        assert_eq!(got[0].other.as_deref(), Some("/etc/su.bak"));
        // Halves whose other half is outside: moved away = RENAME, moved in = CREATE.
        let got = coalesce(
            &raw(&[
                ("/etc/runwarden/policies/a.yaml", RawOp::MovedFrom(9)),
                ("/etc/cron.d/job", RawOp::MovedTo(11)),
            ]),
            &c,
        );
        assert_eq!(
            got[0],
            Change { path: "/etc/runwarden/policies/a.yaml".into(), op: FileOp::Rename, other: None }
        );
        assert_eq!(got[1], Change { path: "/etc/cron.d/job".into(), op: FileOp::Create, other: None });
    }

    #[test]
    fn create_then_close_is_one_create_and_unclassified_paths_are_dropped() {
        let c = classifier();
        let got = coalesce(
            &raw(&[
                ("/etc/cron.d/job", RawOp::Create),
                ("/etc/cron.d/job", RawOp::CloseWrite),
                ("/etc/hosts", RawOp::CloseWrite),
                ("/etc/crontab", RawOp::CloseWrite),
                ("/etc/crontab", RawOp::CloseWrite),
                ("/etc/shadow", RawOp::Open),
            ]),
            &c,
        );
        let ops: Vec<(&str, FileOp)> = got.iter().map(|c| (c.path.as_str(), c.op)).collect();
        assert_eq!(
            ops,
            vec![
                ("/etc/cron.d/job", FileOp::Create),
                ("/etc/crontab", FileOp::Modify),
                ("/etc/shadow", FileOp::Open)
            ]
        );
    }

    #[test]
    fn snapshot_diff() {
        let m = |size, ino| Meta { size, mtime_ns: 1, ino };
        let old: BTreeMap<String, Meta> =
            [("/a".to_string(), m(1, 1)), ("/b".to_string(), m(1, 2)), ("/c".to_string(), m(1, 3))].into();
        let new: BTreeMap<String, Meta> =
            [("/a".to_string(), m(1, 1)), ("/b".to_string(), m(2, 2)), ("/d".to_string(), m(1, 4))].into();
        let got: Vec<(String, FileOp)> = diff(&old, &new).into_iter().map(|c| (c.path, c.op)).collect();
        assert_eq!(
            got,
            vec![("/b".into(), FileOp::Modify), ("/d".into(), FileOp::Create), ("/c".into(), FileOp::Delete)]
        );
    }

    fn fake_root() -> (tempfile::TempDir, Watcher) {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("etc/pam.d")).unwrap();
        std::fs::write(r.join("etc/shadow"), "root:*:1::::::\n").unwrap();
        std::fs::write(r.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        let cfg = WatchConfig {
            root: r.to_path_buf(),
            classifier: Classifier::default(),
            proc_root: PathBuf::from("/proc"),
            self_pid: std::process::id() as i32,
            max_watches: DEFAULT_MAX_WATCHES,
        };
        let mut w = Watcher::new(cfg).unwrap();
        w.take_snapshot();
        (dir, w)
    }

    fn read_until(w: &mut Watcher, want: impl Fn(&[FileEvent]) -> bool) -> Vec<FileEvent> {
        let mut all = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline && !want(&all) {
            all.extend(w.read(Duration::from_millis(100)));
        }
        all
    }

    #[test]
    fn real_inotify_changes_opens_and_directories_created_later() {
        let (dir, mut w) = fake_root();
        let r = dir.path();
        std::fs::write(r.join("etc/ld.so.preload"), "/tmp/evil.so\n").unwrap();
        std::fs::write(r.join("etc/hosts"), "changed\n").unwrap();
        // Held open while the watcher looks: attributed to this process.
        let f = std::fs::File::open(r.join("etc/shadow")).unwrap();
        let got = read_until(&mut w, |e| e.iter().any(|e| e.operation == FileOp::Open));
        drop(f);
        let preload = got.iter().find(|e| e.path == "/etc/ld.so.preload").expect("preload event");
        assert_eq!(preload.operation, FileOp::Create);
        assert_eq!(preload.class, "preload");
        assert_eq!(preload.sha256.as_deref().map(str::len), Some(64));
        let open = got.iter().find(|e| e.path == "/etc/shadow").unwrap();
        assert_eq!(open.sha256, None, "secrets are never read");
        assert!(got.iter().all(|e| e.path != "/etc/hosts"), "{got:?}");
        // Test threads share our pid: the watcher skips its own pid, so attribution is not checked here.

        // /etc/cron.d does not exist at start: /etc waits for it, then it is watched.
        std::fs::create_dir(r.join("etc/cron.d")).unwrap();
        let got = read_until(&mut w, |e| e.iter().any(|e| e.path == "/etc/cron.d"));
        assert!(got.iter().any(|e| e.path == "/etc/cron.d" && e.operation == FileOp::Create), "{got:?}");
        std::fs::write(r.join("etc/cron.d/job"), "* * * * * root id\n").unwrap();
        let got = read_until(&mut w, |e| e.iter().any(|e| e.path == "/etc/cron.d/job"));
        assert!(got.iter().any(|e| e.path == "/etc/cron.d/job" && e.class == "cron"), "{got:?}");

        // /root/.ssh and its authorized_keys appear later: the open is seen.
        std::fs::create_dir_all(r.join("root/.ssh")).unwrap();
        // Only unclassified directories appeared: nothing to report, but /root/.ssh is watched now.
        assert!(w.read(Duration::from_millis(300)).is_empty());
        std::fs::write(r.join("root/.ssh/authorized_keys"), "ssh-ed25519 AAAA x\n").unwrap();
        let _ = read_until(&mut w, |e| e.iter().any(|e| e.path == "/root/.ssh/authorized_keys"));
        let _ = std::fs::read(r.join("root/.ssh/authorized_keys")).unwrap();
        let got = read_until(&mut w, |e| e.iter().any(|e| e.operation == FileOp::Open));
        assert!(
            got.iter().any(|e| e.path == "/root/.ssh/authorized_keys" && e.operation == FileOp::Open),
            "{got:?}"
        );
    }

    #[test]
    fn overflow_rescan_reports_what_changed_since_the_snapshot() {
        let (dir, mut w) = fake_root();
        let r = dir.path();
        // Changes whose events are never read, as if the queue had overflowed.
        std::fs::write(r.join("etc/pam.d/common-auth"), "auth sufficient pam_permit.so\n").unwrap();
        std::fs::write(r.join("etc/hosts"), "changed\n").unwrap();
        let got = w.rescan();
        let paths: Vec<(&str, FileOp, bool)> =
            got.iter().map(|e| (e.path.as_str(), e.operation, e.rescan)).collect();
        assert_eq!(paths, vec![("/etc/pam.d/common-auth", FileOp::Create, true)]);
        assert_eq!(w.stats.overflows, 1);
        // The snapshot moved on: a second rescan finds nothing new.
        assert!(w.rescan().is_empty());
    }

    #[test]
    fn a_real_queue_overflow_is_rescanned() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, mut w) = fake_root();
        let r = dir.path();
        let (a, b) = (r.join("etc/pam.d/a"), r.join("etc/pam.d/b"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        let _ = read_until(&mut w, |e| e.len() >= 2);
        let max: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(16384);
        // Alternating files: the kernel merges only identical consecutive events.
        for i in 0..max / 2 + 100 {
            let mode = if i % 2 == 0 { 0o600 } else { 0o644 };
            std::fs::set_permissions(&a, std::fs::Permissions::from_mode(mode)).unwrap();
            std::fs::set_permissions(&b, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        // Its event is lost with the queue full: only the rescan can tell.
        std::fs::write(r.join("etc/pam.d/late"), "auth sufficient pam_permit.so").unwrap();
        let got = read_until(&mut w, |e| e.iter().any(|e| e.rescan));
        assert_eq!(w.stats.overflows, 1);
        let late: Vec<&FileEvent> = got.iter().filter(|e| e.path == "/etc/pam.d/late").collect();
        assert_eq!(late.len(), 1, "{late:?}");
        assert!(late[0].rescan && late[0].operation == FileOp::Create, "{late:?}");
        assert_eq!(late[0].sha256.as_deref().map(str::len), Some(64));
    }

    #[test]
    fn the_budget_caps_watches_and_counts_what_was_left_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/pam.d")).unwrap();
        let cfg = WatchConfig {
            root: dir.path().to_path_buf(),
            classifier: Classifier::default(),
            proc_root: PathBuf::from("/proc"),
            self_pid: std::process::id() as i32,
            max_watches: 2,
        };
        let w = Watcher::new(cfg).unwrap();
        assert_eq!(w.watch_count(), 2);
        assert!(w.stats.skipped > 0);
        assert!(w.budget_warned);
    }
}
