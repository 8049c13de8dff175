//! The shared libraries a process has mapped, from `/proc/<pid>/maps` (proc(5)): every file mapped
//! with execute permission that is not the program itself. This sees what the loader mapped at start
//! (LD_PRELOAD, /etc/ld.so.preload) and what was dlopen()ed later, whoever did it.
//!
//! Parsed by hand, not with procfs's `MemoryMaps`: only executable file mappings are kept, line by
//! line, instead of building every mapping of a process.

use std::path::Path;

/// Upper bound on the maps bytes read for one process (a JVM can have tens of thousands of lines; the
/// executable file mappings come first in practice, but the bound is what protects us).
pub const MAPS_MAX_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub path: String,
    /// The file was deleted or replaced after it was mapped.
    pub deleted: bool,
    pub inode: u64,
}

/// Parses maps text into the executable file mappings, each path once, in order.
pub fn parse_maps(text: &str, exe: Option<&str>) -> Vec<Mapped> {
    let mut out: Vec<Mapped> = Vec::new();
    for line in text.lines() {
        // address perms offset dev inode pathname (the path may contain spaces).
        let mut f = line.splitn(6, ' ');
        let (Some(_), Some(perms), Some(_), Some(_), Some(inode), Some(rest)) =
            (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let path = rest.trim_start();
        if !perms.contains('x') || !path.starts_with('/') {
            continue;
        }
        let (path, deleted) = match path.strip_suffix(" (deleted)") {
            Some(p) => (p, true),
            None => (path, false),
        };
        if Some(path) == exe || out.iter().any(|m| m.path == path) {
            continue;
        }
        out.push(Mapped { path: path.to_string(), deleted, inode: inode.parse().unwrap_or(0) });
    }
    out
}

/// Reads and parses `pid`'s maps (bounded by [`MAPS_MAX_BYTES`]).
pub fn read_maps(root: &Path, pid: i32, exe: Option<&str>) -> std::io::Result<Vec<Mapped>> {
    use std::io::Read;
    let file = std::fs::File::open(root.join(pid.to_string()).join("maps"))?;
    let mut buf = Vec::new();
    file.take(MAPS_MAX_BYTES as u64).read_to_end(&mut buf)?;
    Ok(parse_maps(&String::from_utf8_lossy(&buf), exe))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0a00000-55d0c0a28000 r--p 00000000 fd:01 1311 /usr/bin/python3.11
55d0c0a28000-55d0c0c00000 r-xp 00028000 fd:01 1311 /usr/bin/python3.11
7f1a00000000-7f1a00022000 r--p 00000000 fd:01 2001 /usr/lib/x86_64-linux-gnu/libc.so.6
7f1a00022000-7f1a00197000 r-xp 00022000 fd:01 2001 /usr/lib/x86_64-linux-gnu/libc.so.6
7f1a10000000-7f1a10001000 r-xp 00000000 00:1f 4242 /tmp/evil lib.so (deleted)
7f1a20000000-7f1a20001000 rw-p 00000000 00:00 0 [heap]
7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0 [vdso]
7f1a30000000-7f1a30001000 r-xp 00000000 00:01 99 /memfd:x (deleted)
";

    #[test]
    fn executable_file_mappings_once_without_the_program() {
        let m = parse_maps(MAPS, Some("/usr/bin/python3.11"));
        let paths: Vec<&str> = m.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/tmp/evil lib.so", "/memfd:x"]);
        assert!(m[1].deleted && !m[0].deleted);
        assert_eq!(m[0].inode, 2001);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id() as i32;
        let m = read_maps(Path::new("/proc"), me, None).unwrap();
        // The test binary is static (crt-static): it maps no library, only itself.
        assert!(m.iter().all(|m| !m.path.is_empty()));
    }
}
