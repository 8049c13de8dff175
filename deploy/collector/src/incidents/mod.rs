//! Incidents: the findings of one attack, grouped. One attack produces several findings (the README's
//! three-line demo gives five: base64 decoding, two scripts, a /dev/shm execution, an added binary);
//! an incident puts them back together so an analyst reads one story with a timeline.
//!
//! The grouping, decided for each new finding as it is stored ([`crate::storage::incidents`]):
//! 1. Same instance: the finding's `resource.instanceId`, else its service and revision.
//! 2. Within [`INCIDENT_WINDOW_US`] of the incident (its first to last finding, widened by the window).
//! 3. Linked by process lineage ([`Lineage::links`]), when any of these holds:
//!    - the same process (`processes[].pid`), e.g. a /dev/shm execution and an added binary;
//!    - one finding's process is an ancestor of the other's (`processes[].parentPid`, `ancestors[].pid`),
//!      e.g. a malicious `sh -c` script and the base64 it started;
//!    - both processes are children of the same shell (the nearest ancestor, when it is a shell): the
//!      members of one pipeline or script, e.g. `curl ... | base64 -d | sh`.
//!
//!    PID 1 (runwarden itself, or the image's init) is never a link, and a shared parent that is not a
//!    shell (the server that runs each request's command) is not one either: two attacks through the
//!    same web server are two incidents.
//! 4. A finding that links to several incidents merges them into the oldest. A finding with no process
//!    information (a file watch) starts an incident of its own.
//!
//! Everything here is pure (the JSON of a finding in, sets of PIDs out) and table-tested below.
#![forbid(unsafe_code)]

pub mod api;

use serde_json::Value;

/// How far apart (microseconds) a finding may be from an incident's first-to-last span and still join
/// it: wide enough for a slow, typed attack; narrow enough that a reused PID an hour later is not one.
pub const INCIDENT_WINDOW_US: i64 = 30 * 60 * 1_000_000;
/// The most PIDs an incident keeps in each set (an incident of a process storm stays bounded).
pub const MAX_PIDS_PER_SET: usize = 512;

/// Program names (basename of the binary or `argv[0]`) taken as shells for the pipeline link.
const SHELLS: [&str; 9] = ["sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox", "fish"];

/// The PIDs that tie a finding (or, unioned, an incident) to others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    /// The finding's own processes.
    pub pids: Vec<i64>,
    /// Their parents and ancestors.
    pub ancestors: Vec<i64>,
    /// Nearest ancestors that are shells: the pipeline or script the processes are part of.
    pub shells: Vec<i64>,
}

fn is_shell(v: &Value) -> bool {
    let name = v["binary"]["path"].as_str().or_else(|| v["args"][0].as_str()).unwrap_or("");
    let base = name.rsplit('/').next().unwrap_or("");
    SHELLS.contains(&base)
}

fn pid(v: &Value) -> Option<i64> {
    v.as_i64().filter(|p| *p > 1)
}

fn push(set: &mut Vec<i64>, p: i64) {
    if !set.contains(&p) && set.len() < MAX_PIDS_PER_SET {
        set.push(p);
    }
}

impl Lineage {
    /// A finding's lineage, from its `processes` and `ancestors` (nearest first, as runwarden sends).
    pub fn of(finding: &Value) -> Lineage {
        let mut l = Lineage::default();
        let ancestors = finding["ancestors"].as_array().map(Vec::as_slice).unwrap_or_default();
        for a in ancestors {
            if let Some(p) = pid(&a["pid"]) {
                push(&mut l.ancestors, p);
            }
        }
        for p in finding["processes"].as_array().into_iter().flatten() {
            if let Some(x) = pid(&p["pid"]) {
                push(&mut l.pids, x);
            }
            let parent = pid(&p["parentPid"]);
            if let Some(pp) = parent {
                push(&mut l.ancestors, pp);
            }
            // The nearest ancestor is the parent when runwarden knew it; it is a pipeline's shell when
            // its program is one.
            if let Some(near) = ancestors.first() {
                let near_pid = pid(&near["pid"]);
                if near_pid.is_some() && (parent.is_none() || parent == near_pid) && is_shell(near) {
                    push(&mut l.shells, near_pid.unwrap_or_default());
                }
            }
        }
        l
    }

    pub fn is_empty(&self) -> bool {
        self.pids.is_empty() && self.ancestors.is_empty() && self.shells.is_empty()
    }

    /// Whether two lineages belong to one story (module docs, rule 3).
    pub fn links(&self, other: &Lineage) -> bool {
        let meets = |a: &[i64], b: &[i64]| a.iter().any(|x| b.contains(x));
        meets(&self.pids, &other.pids)
            || meets(&self.pids, &other.ancestors)
            || meets(&other.pids, &self.ancestors)
            || meets(&self.shells, &other.shells)
    }

    /// Adds another lineage's PIDs (a finding joining, or an incident merged).
    pub fn absorb(&mut self, other: &Lineage) {
        for p in &other.pids {
            push(&mut self.pids, *p);
        }
        for p in &other.ancestors {
            push(&mut self.ancestors, *p);
        }
        for p in &other.shells {
            push(&mut self.shells, *p);
        }
    }

    /// The three sets as stored (` 12 40 `: space-delimited, so the text is easy to read in SQL too).
    pub fn to_columns(&self) -> [String; 3] {
        let enc = |s: &[i64]| {
            let mut out = String::from(" ");
            for p in s {
                out.push_str(&p.to_string());
                out.push(' ');
            }
            out
        };
        [enc(&self.pids), enc(&self.ancestors), enc(&self.shells)]
    }

    pub fn from_columns(pids: &str, ancestors: &str, shells: &str) -> Lineage {
        let dec = |s: &str| s.split_ascii_whitespace().filter_map(|p| p.parse().ok()).collect();
        Lineage { pids: dec(pids), ancestors: dec(ancestors), shells: dec(shells) }
    }
}

/// The instance a finding belongs to, for grouping: its instance id, else service/revision.
pub fn instance_key(instance_id: Option<&str>, service: Option<&str>, revision: Option<&str>) -> String {
    match (instance_id, service) {
        (Some(i), _) => i.to_string(),
        (None, Some(s)) => format!("{s}/{}", revision.unwrap_or("-")),
        (None, None) => "(unidentified)".to_string(),
    }
}

/// Categories as stored: `\nA\nB\n`, so `LIKE '%\nA\n%'` finds one exactly.
pub fn add_category(stored: &str, category: &str) -> String {
    let c = category.replace('\n', " ");
    if stored.contains(&format!("\n{c}\n")) {
        return stored.to_string();
    }
    let base = if stored.is_empty() { "\n" } else { stored };
    format!("{base}{c}\n")
}

pub fn categories(stored: &str) -> Vec<&str> {
    stored.split('\n').filter(|c| !c.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn proc_finding(pid: i64, parent: i64, ancestors: &[(i64, &str)]) -> Value {
        json!({
            "processes": [{ "pid": pid, "parentPid": parent }],
            "ancestors": ancestors.iter().map(|(p, path)| json!({ "pid": p, "binary": { "path": path } })).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn the_readme_demo_is_one_story() {
        // runwarden (1) -> sh -c '...' (10) -> base64 (11), sh (12), /dev/shm/x (13)
        let script = Lineage::of(&proc_finding(10, 1, &[(1, "/runwarden")]));
        let base64 = Lineage::of(&proc_finding(11, 10, &[(10, "/bin/sh"), (1, "/runwarden")]));
        let inner = Lineage::of(&proc_finding(12, 10, &[(10, "/bin/sh"), (1, "/runwarden")]));
        let shm = Lineage::of(&proc_finding(13, 10, &[(10, "/usr/bin/dash"), (1, "/runwarden")]));
        assert_eq!(script, Lineage { pids: vec![10], ancestors: vec![], shells: vec![] });
        assert_eq!(base64.shells, vec![10]);
        assert!(script.links(&base64) && base64.links(&script), "descends from");
        assert!(base64.links(&inner) && inner.links(&shm), "children of one shell");
        assert!(shm.links(&shm.clone()), "same process");
    }

    #[test]
    fn two_attacks_through_one_server_are_two() {
        // python (7) serves requests; each attack is its own sh -c (100, 200) with children.
        let anc = |sh: i64| [(sh, "/bin/sh"), (7, "/usr/bin/python3.11"), (1, "/runwarden")];
        let a1 = Lineage::of(&proc_finding(100, 7, &anc(100)[1..]));
        let a1_child = Lineage::of(&proc_finding(101, 100, &anc(100)));
        let a2 = Lineage::of(&proc_finding(200, 7, &anc(200)[1..]));
        let a2_child = Lineage::of(&proc_finding(201, 200, &anc(200)));
        assert!(a1.links(&a1_child) && a2.links(&a2_child));
        assert!(!a1.links(&a2), "siblings under a server are not a pipeline");
        assert!(!a1_child.links(&a2_child) && !a1.links(&a2_child) && !a2.links(&a1_child));
        let mut incident = a1.clone();
        incident.absorb(&a1_child);
        assert!(!incident.links(&a2) && !incident.links(&a2_child));
    }

    #[test]
    fn pid_one_and_missing_processes_link_nothing() {
        let a = Lineage::of(&proc_finding(1, 0, &[]));
        assert!(a.is_empty());
        let none = Lineage::of(&json!({ "files": [{ "path": "/etc/ld.so.preload" }] }));
        assert!(none.is_empty() && !none.links(&none));
        // A nearest ancestor that is not the parent (a gap in the table) is no pipeline evidence.
        let gap = Lineage::of(&proc_finding(50, 49, &[(48, "/bin/sh")]));
        assert!(gap.shells.is_empty());
    }

    #[test]
    fn columns_round_trip() {
        let l = Lineage { pids: vec![3, 4], ancestors: vec![9], shells: vec![] };
        let [p, a, s] = l.to_columns();
        assert_eq!((p.as_str(), a.as_str(), s.as_str()), (" 3 4 ", " 9 ", " "));
        assert_eq!(Lineage::from_columns(&p, &a, &s), l);
    }

    #[test]
    fn category_sets() {
        let s = add_category("", "Reverse Shell");
        let s = add_category(&s, "Added Binary Executed");
        assert_eq!(add_category(&s, "Reverse Shell"), s);
        assert_eq!(categories(&s), ["Reverse Shell", "Added Binary Executed"]);
        assert_eq!(instance_key(None, Some("api"), None), "api/-");
    }
}
