//! sha256 of executables, cached by (device, inode, size, mtime, ctime).
//!
//! Hashing runs in the pipeline; on the exec sensor's thread only when an enforcing rule matched (the
//! finding then carries the hash). The file is opened through
//! `/proc/<pid>/exe` while the process lives (that works for deleted files and memfds, and is the very
//! file that runs), else by path; either way its metadata must match the key captured at the exec stop,
//! so a file replaced meanwhile is never hashed under the old identity.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::bounded::BoundedMap;
use crate::events::FileKey;
use crate::proc::files::{hex, key_of, sha256};

/// Files larger than this are not hashed (a 2 GiB binary would stall the pipeline for seconds).
pub const HASH_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Bound on cached hashes (`bounded`: two generations of 1,024; the 1,024 newest always stay, and a
/// hit makes an entry the newest). A service runs a few dozen distinct programs and maps a few dozen
/// to a few hundred shared libraries (an interpreter with native extensions: 200-500 `.so` files),
/// so its working set fits in one generation. A workload that writes programs all the time (a build;
/// the soak, one per round, 2.6 a second) fills the second generation after 1,024 new files, about
/// 7 minutes there, and memory stays as it is from then on. That memory is reserved at start: two
/// tables of 2,048 buckets of 97 bytes (a 64-byte key, a 32-byte digest, a control byte), 0.4 MiB.
/// Before: 16,384 entries with hex `String` digests, cleared when full, which grew in doublings to
/// 4.3 MiB (32,768 buckets and an 80-byte allocation per digest).
pub const CACHE_MAX_ENTRIES: usize = 2048;

#[derive(Debug)]
pub struct HashCache {
    map: BoundedMap<FileKey, [u8; 32]>,
    pub hits: u64,
    pub misses: u64,
}

impl Default for HashCache {
    fn default() -> Self {
        HashCache { map: BoundedMap::new(CACHE_MAX_ENTRIES), hits: 0, misses: 0 }
    }
}

impl HashCache {
    /// The sha256 of the file with identity `key`, trying each candidate path in turn.
    /// Hashes a file runwarden holds open since the exec (`Binary::held`). The inode is the one that
    /// ran, so only its contents must be unchanged (size and mtime): its ctime moves when a dropper
    /// deletes or renames it right after the exec, which must not cost the evidence.
    pub fn hash_held(&mut self, key: FileKey, file: &File) -> Option<String> {
        if let Some(h) = self.cached(&key) {
            return Some(h);
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
        let digest = sha256(File::open(path).ok()?.take(HASH_MAX_BYTES)).ok()?;
        Some(self.remember(key, digest))
    }

    pub fn hash(&mut self, key: FileKey, candidates: &[&Path]) -> Option<String> {
        if let Some(h) = self.cached(&key) {
            return Some(h);
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
            let Ok(digest) = sha256(file.take(HASH_MAX_BYTES)) else {
                continue;
            };
            return Some(self.remember(key, digest));
        }
        None
    }

    fn cached(&mut self, key: &FileKey) -> Option<String> {
        let digest = self.map.get(key)?;
        self.hits += 1;
        Some(hex(digest))
    }

    /// A fresh digest: counted, kept, and returned in hex.
    fn remember(&mut self, key: FileKey, digest: [u8; 32]) -> String {
        self.misses += 1;
        self.map.insert(key, digest);
        hex(&digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::files::sha256_hex;

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

    #[test]
    fn the_cache_is_bounded_and_keeps_the_newest() {
        let mut c = HashCache::default();
        let key = |i: u64| FileKey { dev: 1, ino: i, size: 10, mtime_ns: 7, ctime_ns: 7 };
        let digest = |i: u64| {
            let mut d = [0u8; 32];
            d[..8].copy_from_slice(&i.to_be_bytes());
            d
        };
        let n = 3 * CACHE_MAX_ENTRIES as u64 + 17;
        for i in 0..n {
            c.remember(key(i), digest(i));
            assert!(c.map.len() <= CACHE_MAX_ENTRIES);
        }
        assert!(c.map.len() >= CACHE_MAX_ENTRIES / 2, "{}", c.map.len());
        assert_eq!(c.misses, n);
        // The newest half of the bound is answered from the cache (no candidate path to read).
        for i in n - CACHE_MAX_ENTRIES as u64 / 2..n {
            assert_eq!(c.hash(key(i), &[]), Some(hex(&digest(i))), "{i}");
        }
        assert_eq!(c.hits, CACHE_MAX_ENTRIES as u64 / 2);
        assert_eq!(c.hash(key(0), &[]), None, "the oldest went");
    }
}
