//! File identity and contents, shared by the sensors (the watcher hashes what changed, the scanner
//! follows FIFOs), enrichment (the hash cache) and shipping: stat(2) keys, FIFO identity, sha256.
#![forbid(unsafe_code)]

use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;

use sha2::{Digest, Sha256};

use crate::events::FileKey;

/// A file's identity from its metadata: the hash cache's key.
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
    Ok(key_of_stat(&nix::sys::stat::stat(path).map_err(io::Error::from)?))
}

/// [`stat_key`] of an open file (fstat(2)).
pub fn fstat_key(file: &std::fs::File) -> io::Result<FileKey> {
    Ok(key_of_stat(&nix::sys::stat::fstat(file).map_err(io::Error::from)?))
}

fn key_of_stat(st: &nix::sys::stat::FileStat) -> FileKey {
    FileKey {
        dev: st.st_dev,
        ino: st.st_ino,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
        ctime_ns: i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec),
    }
}

/// Whether `path` (symlinks followed) is a FIFO or pipe, and its (dev, ino); stat(2) as above.
pub fn stat_fifo(path: &std::path::Path) -> Option<(u64, u64)> {
    let st = nix::sys::stat::stat(path).ok()?;
    (st.st_mode & libc::S_IFMT == libc::S_IFIFO).then_some((st.st_dev, st.st_ino))
}

/// Streams a reader through sha256; hex digest.
pub fn sha256_hex(r: impl Read) -> io::Result<String> {
    sha256(r).map(|d| hex(&d))
}

/// Streams a reader through sha256; the digest's 32 bytes.
pub fn sha256(mut r: impl Read) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Lower-case hex, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}
