//! What a watched path means ([`Class`], by [`Classifier`], pure) and what is watched ([`Target`]).
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

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
    /// Shell start-up files (system-wide and in homes): code every login or interactive shell runs.
    Profile,
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
            Class::Profile => "profile",
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
const PROFILE_FILES: &[&str] = &[
    "/etc/profile",
    "/etc/bash.bashrc",
    "/etc/bashrc",
    "/etc/environment",
    "/etc/zshrc",
    "/etc/zshenv",
    "/etc/zprofile",
    "/etc/zsh/zshrc",
    "/etc/zsh/zshenv",
    "/etc/zsh/zprofile",
    "/etc/bash.bash_logout",
];
const PROFILE_DIRS: &[&str] = &["/etc/profile.d"];
/// Start-up files in a home directory (`/root`, `/home/*`).
const HOME_PROFILE_NAMES: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".kshrc",
    ".mkshrc",
];

/// A user's home directory as `targets` watches them: `/home/<name>`.
fn is_home(dir: &str) -> bool {
    dir.strip_prefix("/home/").is_some_and(|n| !n.is_empty() && !n.contains('/'))
}

pub(super) fn split(path: &str) -> (&str, &str) {
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
        if PROFILE_FILES.contains(&path)
            || PROFILE_DIRS.contains(&dir)
            || PROFILE_DIRS.contains(&path)
            || (HOME_PROFILE_NAMES.contains(&name) && (dir == "/root" || is_home(dir)))
        {
            return Some(Class::Profile);
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
        for d in PROFILE_DIRS.iter().chain(&["/etc/zsh", "/root"]) {
            dir(d, true);
        }
        for h in homes {
            dir(h, true);
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

pub(super) fn join(dir: &str, name: &str) -> String {
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::sensors::files) fn classifier() -> Classifier {
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
            ("/etc/profile", Some(Class::Profile)),
            ("/etc/profile.d/zz-evil.sh", Some(Class::Profile)),
            ("/etc/bash.bashrc", Some(Class::Profile)),
            ("/root/.bashrc", Some(Class::Profile)),
            ("/home/app/.profile", Some(Class::Profile)),
            ("/home/app/notes.txt", None),
            ("/home/app/src/.bashrc", None),
            ("/root/.bash_history", None),
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
}
