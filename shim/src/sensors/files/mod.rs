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
//!
//! `paths`: what a path means (the classification) and what to watch; `changes`: inotify records and
//! snapshot differences turned into changes (pure); `watch`: the inotify watches and the reading loop;
//! `holder`: which process holds a file open; `thread`: the watcher's thread and its handle.
#![forbid(unsafe_code)]

pub mod changes;
pub mod holder;
pub mod paths;
pub mod thread;
pub mod watch;
