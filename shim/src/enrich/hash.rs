//! sha256 of executables, cached by (device, inode, size, mtime, ctime).
//!
//! Hashing runs in the pipeline; on the exec sensor's thread only when an enforcing rule matched (the
//! finding then carries the hash). The file is opened through
//! `/proc/<pid>/exe` while the process lives (that works for deleted files and memfds, and is the very
//! file that runs), else by path; either way its metadata must match the key captured at the exec stop,
//! so a file replaced meanwhile is never hashed under the old identity.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::events::FileKey;
use crate::proc::files::{key_of, sha256_hex};

/// Files larger than this are not hashed (a 2 GiB binary would stall the pipeline for seconds).
pub const HASH_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Bound on cached hashes; the cache is cleared when it is reached (cheap, and rare in practice).
pub const CACHE_MAX_ENTRIES: usize = 16 * 1024;

#[derive(Debug, Default)]
pub struct HashCache {
    map: HashMap<FileKey, String>,
    pub hits: u64,
    pub misses: u64,
}

impl HashCache {
    /// The sha256 of the file with identity `key`, trying each candidate path in turn.
    /// Hashes a file runwarden holds open since the exec (`Binary::held`). The inode is the one that
    /// ran, so only its contents must be unchanged (size and mtime): its ctime moves when a dropper
    /// deletes or renames it right after the exec, which must not cost the evidence.
    pub fn hash_held(&mut self, key: FileKey, file: &File) -> Option<String> {
        if let Some(h) = self.map.get(&key) {
            self.hits += 1;
            return Some(h.clone());
        }
        let meta = file.metadata().ok()?;
        let now = key_of(&meta);
        let same =
            now.dev == key.dev && now.ino == key.ino && now.size == key.size && now.mtime_ns == key.mtime_ns;
        if !same || key.size > HASH_MAX_BYTES {
            return None;
        }
        // Read through a fresh descriptor of the same file: the held one's offset is shared.
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file));
        let digest = sha256_hex(File::open(path).ok()?.take(HASH_MAX_BYTES)).ok()?;
        self.misses += 1;
        if self.map.len() >= CACHE_MAX_ENTRIES {
            self.map.clear();
        }
        self.map.insert(key, digest.clone());
        Some(digest)
    }

    pub fn hash(&mut self, key: FileKey, candidates: &[&Path]) -> Option<String> {
        if let Some(h) = self.map.get(&key) {
            self.hits += 1;
            return Some(h.clone());
        }
        if key.size > HASH_MAX_BYTES {
            return None;
        }
        for path in candidates {
            let Ok(file) = File::open(path) else { continue };
            let Ok(meta) = file.metadata() else { continue };
            if key_of(&meta) != key {
                continue;
            }
            let Ok(digest) = sha256_hex(file.take(HASH_MAX_BYTES)) else {
                continue;
            };
            self.misses += 1;
            if self.map.len() >= CACHE_MAX_ENTRIES {
                self.map.clear();
            }
            self.map.insert(key, digest.clone());
            return Some(digest);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(
            sha256_hex(&b"abc"[..]).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn cache_hits_and_identity_checks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin");
        std::fs::write(&p, b"abc").unwrap();
        let key = key_of(&std::fs::metadata(&p).unwrap());
        let mut c = HashCache::default();
        let want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(c.hash(key, &[&p]).as_deref(), Some(want));
        assert_eq!(c.hash(key, &[&p]).as_deref(), Some(want));
        assert_eq!((c.hits, c.misses), (1, 1));

        // Replaced file: a different identity is never hashed under the old key.
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, b"evil").unwrap();
        let mut fresh = HashCache::default();
        assert_eq!(fresh.hash(key, &[&p]), None);
    }
}
