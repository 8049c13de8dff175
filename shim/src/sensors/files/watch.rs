//! The inotify watches: installed for every target (or waited for on an ancestor), read in batches,
//! turned into file events; the overflow snapshot and rescan.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use serde::Serialize;

use super::changes::{coalesce, diff, Change, Meta, RawOp};
use super::holder::holder;
use super::paths::{join, real_of, split, Class, Classifier, Target};
use crate::events::{FileEvent, FileOp};

/// Default cap on watches: well under the usual `max_user_watches` (8192 or more), shared with the host.
pub const DEFAULT_MAX_WATCHES: usize = 1024;
/// Files larger than this are reported without a hash.
pub const HASH_MAX_BYTES: u64 = 64 * 1024 * 1024;

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

#[derive(Clone)]
struct Dir {
    real: PathBuf,
    shown: String,
}

pub struct Watcher {
    ino: Inotify,
    pub(super) cfg: WatchConfig,
    dirs: HashMap<WatchDescriptor, Dir>,
    files: HashMap<WatchDescriptor, (String, PathBuf)>,
    by_real: HashMap<PathBuf, WatchDescriptor>,
    /// Every target, and which of them are not watched yet (missing, or waiting on an ancestor).
    targets: Vec<Target>,
    pending: BTreeSet<usize>,
    skipped: Vec<String>,
    budget_warned: bool,
    snapshot: BTreeMap<String, Meta>,
    /// Files reported as created because they were found in a directory as its watch began, with
    /// what they were then: the live events that may still follow for the same write are not a second
    /// change.
    read_off: HashMap<String, Option<Meta>>,
    /// Readable when the watcher must stop: ends a wait at once.
    pub(super) wake: Option<std::os::fd::OwnedFd>,
    pub stats: WatchStats,
}

/// At most this many files read off new directories are remembered (a workload creating directories
/// full of watched files by the thousand is not what this is for).
const READ_OFF_MAX: usize = 256;

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
            read_off: HashMap::new(),
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
        let mut changes = coalesce(&raw, &self.cfg.classifier);
        if !self.read_off.is_empty() {
            changes.retain(|c| !self.already_reported(c));
        }
        if !appeared.is_empty() {
            // What was written into a directory before its watch existed (`mkdir -p ~/.ssh && echo
            // key >> ~/.ssh/authorized_keys` takes microseconds) is read off the new directory.
            for shown in self.on_appeared(&appeared) {
                if !raw.iter().any(|(p, _)| *p == shown) {
                    let meta = std::fs::metadata(self.real_of_shown(&shown)).ok().map(|m| Meta::of(&m));
                    if self.read_off.len() >= READ_OFF_MAX {
                        self.read_off.clear();
                    }
                    self.read_off.insert(shown.clone(), meta);
                    changes.push(Change { path: shown, op: FileOp::Create, other: None });
                }
            }
        }
        let mut out: Vec<FileEvent> = changes.into_iter().map(|c| self.event(c, false)).collect();
        if overflow {
            out.extend(self.rescan());
        }
        out
    }

    /// A live create or write of a file reported already as read off its new directory, which has
    /// not changed since: the same write seen a second time.
    fn already_reported(&mut self, c: &Change) -> bool {
        if !matches!(c.op, FileOp::Create | FileOp::Modify) {
            return false;
        }
        let Some(then) = self.read_off.get(&c.path) else { return false };
        let now = std::fs::metadata(self.real_of_shown(&c.path)).ok().map(|m| Meta::of(&m));
        let same = then.is_some() && *then == now;
        if !same {
            self.read_off.remove(&c.path);
        }
        same
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
    /// Returns the classified entries already inside the directories this starts to watch.
    fn on_appeared(&mut self, paths: &[String]) -> Vec<String> {
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
        if !retry {
            return Vec::new();
        }
        let before: std::collections::HashSet<WatchDescriptor> = self.dirs.keys().cloned().collect();
        self.install_pending();
        let fresh: Vec<Dir> =
            self.dirs.iter().filter(|(wd, _)| !before.contains(*wd)).map(|(_, d)| d.clone()).collect();
        let mut found = Vec::new();
        for d in fresh {
            let Ok(rd) = std::fs::read_dir(&d.real) else { continue };
            for e in rd.flatten() {
                // Files: a directory made inside is watched in turn (and its files read off then).
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
                let shown = join(&d.shown, &name);
                if !matches!(self.cfg.classifier.classify(&shown), None | Some(Class::Executables)) {
                    found.push(shown);
                }
            }
        }
        found
    }

    fn real_of_shown(&self, shown: &str) -> PathBuf {
        let rooted = self.cfg.classifier.classify(shown) != Some(Class::Sensor);
        real_of(&self.cfg.root, shown, rooted)
    }

    /// The event for a change: class, hash (never of a secret), the process holding the file open.
    fn event(&mut self, c: Change, rescan: bool) -> FileEvent {
        // Before the hash and the look through /proc: the closest to the change that can be known.
        let time = SystemTime::now();
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
                std::fs::File::open(&real).ok().and_then(|f| crate::proc::files::sha256_hex(f).ok())
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
            time,
            path: c.path,
            operation: c.op,
            other_path: c.other,
            class: class.map_or("", Class::as_str),
            sha256,
            process,
            rescan,
            recent_programs: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
