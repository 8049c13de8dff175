//! Enrichment on the pipeline thread: what a raw event lacks before rules see it. Executables and
//! libraries are hashed (cached), judged against the image baseline and the signatures; interpreters'
//! code is captured and scored; socket peers and lineage are filled in; processes that scanner events
//! name are read from /proc (or the table, when they are gone).

use std::path::PathBuf;
use std::time::Duration;

use crate::detect::{score, script};
use crate::event::{Binary, ExecEvent, ScriptEvidence, Sensor, SignatureHit, Stdio};
use crate::proc::sockets::describe_socket;

use super::{Intel, Worker};

impl Worker {
    /// The script an interpreter runs, scored by the model and scanned by the signatures. Piped code
    /// (`curl ... | sh`) is read from the parent's command line in the process table.
    pub(super) fn script_evidence(&self, e: &ExecEvent, intel: &Intel) -> Option<ScriptEvidence> {
        let interp = script::interpreter_of(e)?;
        let parent_args = self.table.get(e.ppid).map(|p| p.args.clone()).unwrap_or_default();
        let captured = script::capture(e, &self.cfg.proc_root, &parent_args)?;
        let language = interp.language();
        let verdict = score::score(language, &captured.contents);
        let signatures: Vec<SignatureHit> = intel
            .signatures
            .scan_bytes(captured.contents.as_bytes())
            .into_iter()
            .map(|m| SignatureHit { rule: m.rule, family: m.family })
            .collect();
        Some(ScriptEvidence {
            language: match language {
                score::Language::Shell => "shell",
                score::Language::Python => "python",
                score::Language::Other => "other",
            },
            score: verdict.score,
            malicious: verdict.malicious || !signatures.is_empty(),
            reasons: verdict.reasons,
            signatures,
            script: captured,
        })
    }

    /// The process a scanner event is about, as it is now (from the table if it is already gone).
    pub(super) fn snapshot(&mut self, pid: i32, time: std::time::SystemTime) -> ExecEvent {
        let mut p = match self.reader.exec_event(pid, None, Sensor::Scanner, &self.cfg.env_names) {
            Ok(p) => p,
            Err(_) => {
                let mut p = ExecEvent { pid, sensor: Sensor::Scanner, ..Default::default() };
                if let Some(e) = self.table.get(pid) {
                    p.ppid = e.ppid;
                    p.binary.path = e.exe.clone().unwrap_or_default();
                    p.args = e.args.clone();
                }
                p
            }
        };
        p.time = time;
        self.enrich(&mut p, false);
        p
    }

    /// Hash, baseline verdict, signatures and IoC family of a mapped library.
    pub(super) fn judge_library(&mut self, pid: i32, lib: &mut Binary) {
        let Some(key) = lib.key else {
            return;
        };
        let path = PathBuf::from(&lib.path);
        let via_root = self.cfg.proc_root.join(format!("{pid}/root{}", lib.path));
        let candidates = [path.as_path(), via_root.as_path()];
        lib.sha256 = self.hashes.hash(key, &candidates);
        let ctime =
            u64::try_from(key.ctime_ns).ok().map(|ns| std::time::UNIX_EPOCH + Duration::from_nanos(ns));
        lib.verdict = Some(self.judge.verdict(&lib.path, lib.sha256.as_deref(), ctime));
        if let Some(intel) = self.intel.as_mut() {
            lib.signatures = intel
                .signatures
                .scan_file(key, &candidates)
                .into_iter()
                .map(|m| SignatureHit { rule: m.rule, family: m.family })
                .collect();
            lib.ioc_family = lib.sha256.as_ref().and_then(|h| intel.iocs.hashes.get(h).cloned());
        }
    }

    pub(super) fn enrich(&mut self, e: &mut ExecEvent, with_script: bool) {
        if let Some(key) = e.binary.key {
            // The program held open at the exec stop (memfd, deleted) is read through our own fd.
            let via_proc = match &e.binary.held {
                Some(f) => PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&**f))),
                None => self.cfg.proc_root.join(format!("{}/exe", e.pid)),
            };
            let by_path = PathBuf::from(&e.binary.path);
            e.binary.sha256 = self.hashes.hash(key, &[via_proc.as_path(), by_path.as_path()]);
            let ctime = u64::try_from(key.ctime_ns)
                .ok()
                .map(|ns| std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns));
            e.binary.verdict = Some(self.judge.verdict(&e.binary.path, e.binary.sha256.as_deref(), ctime));
            if let Some(intel) = self.intel.as_mut() {
                e.binary.signatures = intel
                    .signatures
                    .scan_file(key, &[via_proc.as_path(), by_path.as_path()])
                    .into_iter()
                    .map(|m| SignatureHit { rule: m.rule, family: m.family })
                    .collect();
                e.binary.ioc_family =
                    e.binary.sha256.as_ref().and_then(|h| intel.iocs.hashes.get(h).cloned());
            }
        }
        if let Some(intel) = self.intel.as_ref() {
            e.indicators = intel.iocs.matches_in(&e.args.join(" "));
            e.script = if with_script { self.script_evidence(e, intel) } else { None };
            if let Some(s) = &e.script {
                for url in intel.iocs.matches_in(&s.script.contents) {
                    if !e.indicators.contains(&url) {
                        e.indicators.push(url);
                    }
                }
            }
        }
        for s in e.stdio.iter_mut() {
            if let Stdio::Socket { inode, peer: peer @ None } = s {
                *peer = describe_socket(&self.cfg.proc_root, e.pid, *inode)
                    .or_else(|| describe_socket(&self.cfg.proc_root, self.cfg.self_pid, *inode));
            }
        }
        e.ancestors = self.table.ancestors(e.pid);
        if e.ancestors.is_empty() && e.ppid > 0 {
            // Unknown to the table (poll mode, or attached late): at least name the parent.
            e.ancestors = self.table.ancestors_from(e.ppid);
        }
    }
}
