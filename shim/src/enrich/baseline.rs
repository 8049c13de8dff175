//! The image baseline: what "added" and "modified" mean at run time.
//!
//! `runwarden baseline`, run as a `RUN` step of the image build, records path, sha256, size and mode of
//! every executable and shared library under a root (default `/`, without /proc, /sys, /dev, /run and
//! the output file), hashing on every core. At run time an executed file gets a verdict:
//! `builtin` (recorded, same sha256), `modified` (recorded, different content) or `added` (not
//! recorded). Without a baseline, a file whose ctime is later than runwarden's start counts as
//! `added` (changed at run time), anything else `unknown`.
//!
//! The format is JSON (one object, paths as keys): a few hundred KB for a typical image, loaded off the
//! workload's start path by the pipeline thread.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::events::Provenance;
use crate::proc::files::sha256_hex;

/// Where `runwarden baseline` writes and runwarden reads by default.
pub const DEFAULT_PATH: &str = "/etc/runwarden/baseline.json";
/// Directories never recorded: kernel and runtime file systems, not image content.
pub const EXCLUDED_DIRS: &[&str] = &["/proc", "/sys", "/dev", "/run"];
/// Files larger than this are recorded without a hash (and judged by size only).
pub const BASELINE_HASH_MAX_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineEntry {
    pub sha256: String,
    pub size: u64,
    pub mode: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Baseline {
    pub version: u32,
    /// RFC 3339 time the baseline was taken.
    pub created: String,
    pub root: String,
    /// Executables that gain privileges at exec (setuid, setgid with group execute, or file
    /// capabilities): what no_new_privs would take away, so what decides whether the seccomp sensor
    /// may be chosen (`supervisor::choose`). Written before `files`, so it is read from the head of
    /// the file at start-up ([`read_privileged`]); `None` in baselines taken before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<Vec<String>>,
    /// Absolute paths (as seen in the running container) -> identity.
    pub files: BTreeMap<String, BaselineEntry>,
}

/// How much of a baseline's head is read for its privileged list (a few hundred bytes in practice).
const HEAD_MAX_BYTES: u64 = 64 * 1024;

/// The `privileged` list from the head of a baseline file, without loading the rest (which the
/// pipeline loads later, off the workload's start path). `None`: no such file or field, or a list
/// too long to be in the head.
pub fn read_privileged(path: &Path) -> Option<Vec<String>> {
    use std::io::Read;
    #[derive(Deserialize)]
    struct Head {
        privileged: Option<Vec<String>>,
    }
    let mut head = String::new();
    File::open(path).ok()?.take(HEAD_MAX_BYTES).read_to_string(&mut head).ok()?;
    let end = head.find(",\"files\":")?;
    let head: Head = serde_json::from_str(&format!("{}}}", &head[..end])).ok()?;
    head.privileged
}

/// Whether running `path` gains privileges: setuid, setgid (with group execute: without it the bit
/// means mandatory locking), or a `security.capability` attribute.
fn is_privileged(path: &Path, mode: u32) -> bool {
    let exec = mode & 0o111 != 0;
    let setuid = mode & 0o4000 != 0;
    let setgid = mode & 0o2000 != 0 && mode & 0o010 != 0;
    exec && (setuid || setgid || crate::sys::has_file_capabilities(path))
}

#[derive(Debug, Error)]
pub enum BaselineError {
    #[error("cannot read the baseline {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("the baseline {path} is not valid: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("cannot write the baseline {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot walk {path}: {source}")]
    Walk { path: PathBuf, source: io::Error },
}

/// Executables (any execute bit) and shared libraries (`.so`, `.so.N`), regular files only.
fn is_candidate(path: &Path, meta: &std::fs::Metadata) -> bool {
    if !meta.file_type().is_file() {
        return false;
    }
    if meta.permissions().mode() & 0o111 != 0 {
        return true;
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".so") || name.contains(".so.")
}

/// Walks `root` (not following symlinks, staying out of `skip`) and lists the candidate files.
fn walk(root: &Path, skip: &[PathBuf]) -> Result<Vec<(PathBuf, std::fs::Metadata)>, BaselineError> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            // Unreadable directories are skipped, not fatal (a build step may lack permissions).
            Err(e) if dir != root => {
                tracing::debug!(dir = %dir.display(), error = %e, "baseline: directory skipped");
                continue;
            }
            Err(e) => return Err(BaselineError::Walk { path: dir, source: e }),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if skip.iter().any(|s| s == &path) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if meta.file_type().is_dir() {
                todo.push(path);
            } else if is_candidate(&path, &meta) {
                out.push((path, meta));
            }
        }
    }
    Ok(out)
}

/// The container path of a file found under `root` ("/" + its path below root).
fn container_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    format!("/{}", rel.display()).replace("//", "/")
}

/// Takes a baseline of `root`, hashing with `workers` threads.
pub fn take(root: &Path, output: &Path, workers: usize) -> Result<Baseline, BaselineError> {
    let mut skip: Vec<PathBuf> = EXCLUDED_DIRS.iter().map(|d| root.join(d.trim_start_matches('/'))).collect();
    skip.push(output.to_path_buf());
    let files = walk(root, &skip)?;
    let next = AtomicUsize::new(0);
    let results = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((path, meta)) = files.get(i) else { break };
                let sha256 = if meta.size() <= BASELINE_HASH_MAX_BYTES {
                    match File::open(path).and_then(sha256_hex) {
                        Ok(h) => h,
                        Err(_) => continue,
                    }
                } else {
                    String::new()
                };
                let entry =
                    BaselineEntry { sha256, size: meta.size(), mode: meta.permissions().mode() & 0o7777 };
                results.lock().unwrap_or_else(|p| p.into_inner()).insert(container_path(root, path), entry);
            });
        }
    });
    let privileged = files
        .iter()
        .filter(|(path, meta)| is_privileged(path, meta.permissions().mode()))
        .map(|(path, _)| container_path(root, path))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(Baseline {
        version: 1,
        created: crate::events::rfc3339::format(SystemTime::now()),
        root: root.display().to_string(),
        privileged: Some(privileged),
        files: results.into_inner().unwrap_or_else(|p| p.into_inner()),
    })
}

impl Baseline {
    pub fn write(&self, path: &Path) -> Result<(), BaselineError> {
        let err = |source| BaselineError::Write { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("json.tmp");
        let f = File::create(&tmp).map_err(err)?;
        serde_json::to_writer(BufWriter::new(f), self).map_err(|e| err(io::Error::other(e)))?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    pub fn read(path: &Path) -> Result<Baseline, BaselineError> {
        let f =
            File::open(path).map_err(|source| BaselineError::Read { path: path.to_path_buf(), source })?;
        serde_json::from_reader(BufReader::new(f))
            .map_err(|source| BaselineError::Parse { path: path.to_path_buf(), source })
    }
}

/// The run-time side: a loaded baseline (or none) and the time the container started.
pub struct Judge {
    files: HashMap<String, BaselineEntry>,
    /// The image's programs by content: digest -> name of the first path (in path order) holding it.
    programs: HashMap<[u8; 32], Box<str>>,
    have_baseline: bool,
    started: SystemTime,
}

impl Judge {
    pub fn new(baseline: Option<Baseline>, started: SystemTime) -> Judge {
        match baseline {
            Some(b) => {
                let mut programs = HashMap::new();
                for (path, e) in b.files.iter().filter(|(p, e)| e.mode & 0o111 != 0 && !is_library(p)) {
                    if let Some(d) = digest_of(&e.sha256) {
                        let name = path.rsplit('/').next().unwrap_or(path);
                        programs.entry(d).or_insert_with(|| name.into());
                    }
                }
                Judge { files: b.files.into_iter().collect(), programs, have_baseline: true, started }
            }
            None => Judge { files: HashMap::new(), programs: HashMap::new(), have_baseline: false, started },
        }
    }

    /// The name of the image program that a program judged `verdict` is a byte-for-byte copy of,
    /// when it runs under another path: a renamed nc, curl or busybox is still that tool. None for
    /// the image's own files, unknown content, or without a baseline.
    pub fn copy_of(&self, path: &str, sha256: Option<&str>, verdict: Provenance) -> Option<String> {
        if !matches!(verdict, Provenance::Added | Provenance::Modified) {
            return None;
        }
        let name = self.programs.get(&digest_of(sha256?)?)?;
        (path.rsplit('/').next() != Some(&**name)).then(|| name.to_string())
    }

    pub fn has_baseline(&self) -> bool {
        self.have_baseline
    }

    /// The verdict for an executed file: its path as the process sees it, its sha256 if known, and
    /// its ctime (for the no-baseline rule).
    pub fn verdict(&self, path: &str, sha256: Option<&str>, ctime: Option<SystemTime>) -> Provenance {
        if self.have_baseline {
            return match (self.files.get(path), sha256) {
                (None, _) => Provenance::Added,
                (Some(e), Some(h)) if !e.sha256.is_empty() => {
                    if e.sha256 == h {
                        Provenance::Builtin
                    } else {
                        Provenance::Modified
                    }
                }
                // Unhashed (too large) or unknown content: recorded path, cannot tell more.
                (Some(_), _) => Provenance::Builtin,
            };
        }
        match ctime {
            Some(c) if c > self.started => Provenance::Added,
            _ => Provenance::Unknown,
        }
    }
}

fn is_library(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".so") || name.contains(".so.")
}

/// A sha256 in hex as bytes (None for anything else).
fn digest_of(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = nibble(b[2 * i])? << 4 | nibble(b[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn write(path: &Path, data: &[u8], mode: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn takes_executables_and_libraries_only() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(&r.join("usr/bin/tool"), b"abc", 0o755);
        write(&r.join("usr/lib/libx.so.1"), b"lib", 0o644);
        write(&r.join("etc/config"), b"conf", 0o644);
        write(&r.join("proc/1/exe"), b"kernel", 0o755);
        std::os::unix::fs::symlink("/usr/bin/tool", r.join("usr/bin/link")).unwrap();
        let out = r.join("etc/runwarden/baseline.json");
        let b = take(r, &out, 2).unwrap();
        let paths: Vec<&str> = b.files.keys().map(String::as_str).collect();
        assert_eq!(paths, vec!["/usr/bin/tool", "/usr/lib/libx.so.1"]);
        assert_eq!(
            b.files["/usr/bin/tool"].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(b.files["/usr/bin/tool"].mode, 0o755);
        b.write(&out).unwrap();
        let back = Baseline::read(&out).unwrap();
        assert_eq!(back.files, b.files);
        // Taking it again does not record the baseline file itself.
        assert!(!take(r, &out, 1).unwrap().files.contains_key("/etc/runwarden/baseline.json"));
    }

    #[test]
    fn verdicts() {
        let mut files = BTreeMap::new();
        files
            .insert("/usr/bin/tool".to_string(), BaselineEntry { sha256: "aa".into(), size: 1, mode: 0o755 });
        let j = Judge::new(Some(Baseline { version: 1, files, ..Default::default() }), SystemTime::now());
        assert_eq!(j.verdict("/usr/bin/tool", Some("aa"), None), Provenance::Builtin);
        assert_eq!(j.verdict("/usr/bin/tool", Some("bb"), None), Provenance::Modified);
        assert_eq!(j.verdict("/tmp/x", Some("aa"), None), Provenance::Added);

        let start = SystemTime::now();
        let none = Judge::new(None, start);
        assert_eq!(none.verdict("/tmp/x", None, Some(start + Duration::from_secs(1))), Provenance::Added);
        assert_eq!(
            none.verdict("/usr/bin/ls", None, Some(start - Duration::from_secs(60))),
            Provenance::Unknown
        );
    }

    #[test]
    fn renamed_copies_of_image_programs_are_named() {
        let (nc, curl) = ("1".repeat(64), "2".repeat(64));
        let mut files = BTreeMap::new();
        let entry = |sha: &str, mode| BaselineEntry { sha256: sha.to_string(), size: 1, mode };
        files.insert("/usr/bin/nc.openbsd".to_string(), entry(&nc, 0o755));
        files.insert("/usr/bin/curl".to_string(), entry(&curl, 0o755));
        // A library with the same bytes as a program does not name it.
        files.insert("/usr/lib/libz.so.1".to_string(), entry(&"3".repeat(64), 0o755));
        let j = Judge::new(Some(Baseline { version: 1, files, ..Default::default() }), SystemTime::now());
        let copy = |path: &str, sha: &str| {
            let v = j.verdict(path, Some(sha), None);
            j.copy_of(path, Some(sha), v)
        };
        assert_eq!(copy("/tmp/.x", &nc).as_deref(), Some("nc.openbsd"));
        assert_eq!(copy("/var/tmp/kworker", &curl).as_deref(), Some("curl"));
        // The image's own file, an overwritten one keeping its name, unknown content: no copy.
        assert_eq!(copy("/usr/bin/nc.openbsd", &nc), None);
        assert_eq!(copy("/tmp/nc.openbsd", &nc), None);
        assert_eq!(copy("/tmp/.x", &"4".repeat(64)), None);
        assert_eq!(copy("/tmp/.z", &"3".repeat(64)), None);
        // /usr/bin/curl overwritten with nc's bytes is nc.
        assert_eq!(copy("/usr/bin/curl", &nc).as_deref(), Some("nc.openbsd"));
        assert_eq!(
            Judge::new(None, SystemTime::now()).copy_of("/tmp/.x", Some(&nc), Provenance::Added),
            None
        );
    }

    #[test]
    fn a_broken_baseline_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.json");
        std::fs::write(&p, "{not json").unwrap();
        let e = Baseline::read(&p).unwrap_err().to_string();
        assert!(e.contains("b.json") && e.contains("not valid"), "{e}");
    }
}
