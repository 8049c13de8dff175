//! sha256 of executables, cached by (device, inode, size, mtime, ctime).
//!
//! Hashing runs in the pipeline, never on the tracer thread. The file is opened through
//! `/proc/<pid>/exe` while the process lives (that works for deleted files and memfds, and is the very
//! file that runs), else by path; either way its metadata must match the key captured at the exec stop,
//! so a file replaced meanwhile is never hashed under the old identity.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::event::FileKey;

/// Files larger than this are not hashed (a 2 GiB binary would stall the pipeline for seconds).
pub const HASH_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Bound on cached hashes; the cache is cleared when it is reached (cheap, and rare in practice).
pub const CACHE_MAX_ENTRIES: usize = 16 * 1024;

pub fn key_of(meta: &std::fs::Metadata) -> FileKey {
    FileKey {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
    }
}

/// The identity of the file at `path` (symlinks followed), read with stat(2) rather than the statx(2)
/// that `std::fs::metadata` uses: gVisor answers statx with EINVAL for files on its overlay (seen
/// with runsc 2023 on /tmp), where stat works.
pub fn stat_key(path: &std::path::Path) -> io::Result<FileKey> {
    let st = nix::sys::stat::stat(path).map_err(io::Error::from)?;
    Ok(FileKey {
        dev: st.st_dev,
        ino: st.st_ino,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
        ctime_ns: i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec),
    })
}

/// Whether `path` (symlinks followed) is a FIFO or pipe, and its (dev, ino); stat(2) as above.
pub fn stat_fifo(path: &std::path::Path) -> Option<(u64, u64)> {
    let st = nix::sys::stat::stat(path).ok()?;
    (st.st_mode & libc::S_IFMT == libc::S_IFIFO).then_some((st.st_dev, st.st_ino))
}

/// Streams a reader through sha256; hex digest.
pub fn sha256_hex(mut r: impl Read) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[derive(Debug, Default)]
pub struct HashCache {
    map: HashMap<FileKey, String>,
    pub hits: u64,
    pub misses: u64,
}

impl HashCache {
    /// The sha256 of the file with identity `key`, trying each candidate path in turn.
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
