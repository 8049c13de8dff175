//! De-duplication: the same rule firing for the same program and command line again within a window
//! is suppressed and counted; when the window closes, one summary finding says how many were
//! suppressed ("N more like this"). Nothing is dropped without a record.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use runwarden_contract::Finding;

/// How long a finding suppresses its repeats.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(60);
/// Bound on the keys remembered; beyond it the oldest windows are closed early.
pub const DEDUP_MAX_KEYS: usize = 4096;

struct Window {
    opened: Instant,
    first: Finding,
    suppressed: u64,
}

#[derive(Default)]
pub struct Dedup {
    windows: HashMap<String, Window>,
}

/// Same rule, same evidence. For a process whose stdin is a socket the evidence is that socket: every
/// program an attacker runs through one reverse shell is one incident. Otherwise it is the program and
/// its command line.
fn key(f: &Finding) -> String {
    let p = f.processes.first();
    if let Some(stdin) = p.and_then(|p| p.stdio.as_ref()).map(|s| &s.stdin) {
        if stdin.starts_with("socket ") {
            return format!("{}\u{1e}{stdin}", f.rule.id);
        }
    }
    let exe = p.and_then(|p| p.binary.as_ref()).map(|b| b.path.as_str()).unwrap_or("");
    let args = p.map(|p| p.args.join("\u{1f}")).unwrap_or_default();
    // File findings: the same change to the same file (the process is often unknown).
    let files: Vec<String> = f.files.iter().map(|c| format!("{} {}", c.operation, c.path)).collect();
    // Connection findings: the same peer (a process dialling two bad addresses is two incidents).
    let peers: Vec<String> = f
        .connections
        .iter()
        .map(|c| format!("{:?}:{:?}", c.destination_ip, c.destination_port.unwrap_or(c.source_port)))
        .collect();
    format!(
        "{}\u{1e}{exe}\u{1e}{args}\u{1e}{}\u{1e}{}",
        f.rule.id,
        files.join("\u{1f}"),
        peers.join("\u{1f}")
    )
}

fn summary(w: Window) -> Finding {
    let mut s = w.first;
    s.finding_id = uuid::Uuid::now_v7().to_string();
    s.create_time = crate::events::rfc3339::format(std::time::SystemTime::now());
    s.description =
        format!("{} more like this in {} s: {}", w.suppressed, DEDUP_WINDOW.as_secs(), s.description);
    if let serde_json::Value::Object(m) = &mut s.source_properties {
        m.insert("suppressedRepeats".into(), w.suppressed.into());
    }
    s
}

impl Dedup {
    /// Returns the finding if it should be emitted now, or `None` if it repeats one in its window.
    pub fn admit(&mut self, f: Finding, now: Instant) -> Option<Finding> {
        let k = key(&f);
        if let Some(w) = self.windows.get_mut(&k) {
            if now.duration_since(w.opened) < DEDUP_WINDOW {
                w.suppressed += 1;
                return None;
            }
        }
        self.windows.insert(k, Window { opened: now, first: f.clone(), suppressed: 0 });
        Some(f)
    }

    /// Closes expired windows (and the oldest ones when over the bound); returns the summaries of
    /// those that suppressed anything.
    pub fn flush(&mut self, now: Instant, all: bool) -> Vec<Finding> {
        // A set: in a storm thousands of windows expire at once and are looked up below.
        let mut expired: std::collections::HashSet<String> = self
            .windows
            .iter()
            .filter(|(_, w)| all || now.duration_since(w.opened) >= DEDUP_WINDOW)
            .map(|(k, _)| k.clone())
            .collect();
        if self.windows.len() - expired.len() > DEDUP_MAX_KEYS {
            let mut rest: Vec<(&String, Instant)> = self
                .windows
                .iter()
                .filter(|(k, _)| !expired.contains(*k))
                .map(|(k, w)| (k, w.opened))
                .collect();
            rest.sort_by_key(|(_, t)| *t);
            let extra = self.windows.len() - expired.len() - DEDUP_MAX_KEYS;
            expired.extend(rest.into_iter().take(extra).map(|(k, _)| k.clone()));
        }
        expired
            .into_iter()
            .filter_map(|k| self.windows.remove(&k))
            .filter(|w| w.suppressed > 0)
            .map(summary)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runwarden_contract::{Process, StdioWiring};

    fn finding(rule: &str, args: &[&str], stdin: &str) -> Finding {
        let mut f = crate::ship::sample_finding(rule, "Reverse Shell");
        f.processes = vec![Process {
            args: args.iter().map(|a| a.to_string()).collect(),
            stdio: Some(StdioWiring { stdin: stdin.into(), stdout: String::new(), stderr: String::new() }),
            ..Default::default()
        }];
        f
    }

    #[test]
    fn repeats_are_suppressed_then_summarised() {
        let mut d = Dedup::default();
        let t0 = Instant::now();
        assert!(d.admit(finding("r", &["nc", "-z"], "pipe inode 1"), t0).is_some());
        assert!(d.admit(finding("r", &["nc", "-z"], "pipe inode 1"), t0).is_none());
        assert!(d.admit(finding("r", &["nc", "-z"], "pipe inode 1"), t0).is_none());
        assert!(d.admit(finding("r", &["nc", "-e"], "pipe inode 1"), t0).is_some(), "other evidence");
        assert!(d.admit(finding("q", &["nc", "-z"], "pipe inode 1"), t0).is_some(), "other rule");
        assert!(d.flush(t0, false).is_empty(), "windows still open");
        let sums = d.flush(t0 + DEDUP_WINDOW, false);
        assert_eq!(sums.len(), 1);
        assert!(sums[0].description.starts_with("2 more like this"), "{}", sums[0].description);
        assert_eq!(sums[0].source_properties["suppressedRepeats"], 2);
    }

    #[test]
    fn one_reverse_shell_socket_is_one_incident() {
        let mut d = Dedup::default();
        let t0 = Instant::now();
        let sock = "socket tcp 10.0.0.2:41234->203.0.113.7:4444 ESTABLISHED";
        assert!(d.admit(finding("reverse_shell", &["bash", "-i"], sock), t0).is_some());
        assert!(d.admit(finding("reverse_shell", &["bash", "/etc/profile.d/x"], sock), t0).is_none());
        let other = "socket tcp 10.0.0.2:41235->203.0.113.7:4444 ESTABLISHED";
        assert!(d.admit(finding("reverse_shell", &["bash", "-i"], other), t0).is_some());
        assert_eq!(d.flush(t0, true).len(), 1, "flush(all) reports the open window with repeats");
    }
}
