//! inotify records and snapshot differences turned into changes (pure): renames paired by cookie,
//! creates coalesced with the writer's close, only classified paths kept.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;

use inotify::EventMask;

use super::paths::Classifier;
use crate::events::FileOp;

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
    pub(super) fn of(m: &std::fs::Metadata) -> Meta {
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

#[cfg(test)]
mod tests {
    use super::super::paths::tests::classifier;
    use super::*;

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
}
