//! Pure parsers for the /proc files read at an exec stop. No I/O here: `proc::capture` reads, these
//! parse, and the tests below feed them fixture contents.
//!
//! procfs-core parses most of /proc, but three of these run on the tracer thread while a tracee waits in
//! its exec stop, where allocation and full-file parsing are the cost: `status` needs four lines of
//! fifty-odd, `cmdline` must keep empty arguments (procfs drops them: `sh -c ''` would lose one) and
//! be bounded, and `environ` needs only the entries on a short list. fd link targets use procfs-core's
//! parser.

use std::str::FromStr;

use procfs::process::FDTarget;

use crate::events::{EnvVar, Stdio};

/// The fields of /proc/<pid>/status an exec event needs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatusFields {
    pub tgid: i32,
    pub ppid: i32,
    pub tracer_pid: i32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
}

fn first_two(rest: &str) -> (u32, u32) {
    let mut it = rest.split_whitespace().map(|v| v.parse::<u32>().unwrap_or(u32::MAX));
    (it.next().unwrap_or(u32::MAX), it.next().unwrap_or(u32::MAX))
}

/// Parses `Tgid`, `PPid`, `TracerPid`, `Uid` and `Gid` (real and effective) out of a status file.
/// Missing fields stay 0 (ids) or u32::MAX (credentials: unknown, never mistaken for root).
pub fn parse_status(text: &str) -> StatusFields {
    let mut f =
        StatusFields { uid: u32::MAX, euid: u32::MAX, gid: u32::MAX, egid: u32::MAX, ..Default::default() };
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        match key {
            "Tgid" => f.tgid = rest.trim().parse().unwrap_or(0),
            "PPid" => f.ppid = rest.trim().parse().unwrap_or(0),
            "TracerPid" => f.tracer_pid = rest.trim().parse().unwrap_or(0),
            "Uid" => (f.uid, f.euid) = first_two(rest),
            "Gid" => {
                (f.gid, f.egid) = first_two(rest);
                // Gid is the last line we need; the rest of the file (capabilities, memory) is skipped.
                break;
            }
            _ => {}
        }
    }
    f
}

/// Whether a status file says `NoNewPrivs: 1` (prctl(2) PR_SET_NO_NEW_PRIVS).
pub fn parse_no_new_privs(status: &str) -> bool {
    status.lines().any(|l| l.strip_prefix("NoNewPrivs:").is_some_and(|v| v.trim() == "1"))
}

/// Splits a NUL-separated argv. `full` says the buffer held the whole file (no bound was hit);
/// otherwise the last, possibly cut, argument is kept and the result is flagged truncated.
pub fn parse_cmdline(bytes: &[u8], full: bool) -> (Vec<String>, bool) {
    let body = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if body.is_empty() && bytes.is_empty() {
        return (Vec::new(), !full);
    }
    let args = body.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    (args, !full)
}

/// Picks the entries whose names are in `wanted` from a NUL-separated environ block.
pub fn select_env(bytes: &[u8], wanted: &[String]) -> Vec<EnvVar> {
    bytes
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let eq = entry.iter().position(|b| *b == b'=')?;
            let name = std::str::from_utf8(&entry[..eq]).ok()?;
            wanted.iter().any(|w| w == name).then(|| EnvVar {
                name: name.to_string(),
                val: String::from_utf8_lossy(&entry[eq + 1..]).into_owned(),
            })
        })
        .collect()
}

fn is_terminal_path(path: &str) -> bool {
    path.starts_with("/dev/pts/")
        || path.starts_with("/dev/tty")
        || path == "/dev/console"
        || path == "/dev/ptmx"
}

/// Classifies the target of a `/proc/<pid>/fd/N` link.
pub fn parse_fd_link(link: &str) -> Stdio {
    match FDTarget::from_str(link) {
        Ok(FDTarget::Socket(inode)) => Stdio::Socket { inode, peer: None },
        Ok(FDTarget::Pipe(inode)) => Stdio::Pipe { inode },
        Ok(FDTarget::AnonInode(name)) => Stdio::Anon { name },
        Ok(FDTarget::MemFD(name)) => Stdio::File { path: format!("/memfd:{name}") },
        Ok(FDTarget::Path(p)) => {
            let path = p.to_string_lossy().into_owned();
            if is_terminal_path(&path) {
                Stdio::Tty { path }
            } else {
                Stdio::File { path }
            }
        }
        _ => Stdio::Other { link: link.to_string() },
    }
}

/// A descriptor's identity as a comparable string ("socket:[12]", "pipe:[7]", a path, "" when
/// closed): what the scanner compares between the exec stop and later passes (peers left out).
pub fn stdio_key(s: &Stdio) -> String {
    match s {
        Stdio::Socket { inode, .. } => format!("socket:[{inode}]"),
        Stdio::Pipe { inode } => format!("pipe:[{inode}]"),
        Stdio::File { path } | Stdio::Tty { path } => path.clone(),
        Stdio::Anon { name } => format!("anon_inode:{name}"),
        Stdio::Closed => String::new(),
        Stdio::Other { link } => link.clone(),
    }
}

/// The executable named by a `/proc/<pid>/exe` link: (path, deleted, memfd).
pub fn parse_exe_link(link: &str) -> (String, bool, bool) {
    let (path, deleted) = match link.strip_suffix(" (deleted)") {
        Some(p) => (p, true),
        None => (link, false),
    };
    let memfd = path.starts_with("/memfd:");
    (path.to_string(), deleted, memfd)
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t4242\nNgid:\t0\nPid:\t4242\n\
PPid:\t17\nTracerPid:\t1\nUid:\t1000\t0\t0\t0\nGid:\t100\t101\t101\t101\nFDSize:\t64\n";

    #[test]
    fn status_fields() {
        let f = parse_status(STATUS);
        assert_eq!(
            f,
            StatusFields { tgid: 4242, ppid: 17, tracer_pid: 1, uid: 1000, euid: 0, gid: 100, egid: 101 }
        );
    }

    #[test]
    fn status_missing_credentials_are_not_root() {
        let f = parse_status("Tgid:\t5\nPPid:\t1\n");
        assert_eq!((f.tgid, f.ppid, f.uid, f.euid), (5, 1, u32::MAX, u32::MAX));
    }

    #[test]
    fn cmdline_keeps_empty_arguments() {
        assert_eq!(parse_cmdline(b"sh\0-c\0\0", true), (vec!["sh".into(), "-c".into(), "".into()], false));
        assert_eq!(parse_cmdline(b"/bin/true\0", true), (vec!["/bin/true".into()], false));
        assert_eq!(parse_cmdline(b"", true), (vec![], false));
    }

    #[test]
    fn cmdline_truncation_is_flagged() {
        let (args, truncated) = parse_cmdline(b"python3\0-c\0print(1", false);
        assert_eq!(args, vec!["python3", "-c", "print(1"]);
        assert!(truncated);
    }

    #[test]
    fn cmdline_invalid_utf8_is_lossy() {
        let (args, _) = parse_cmdline(b"a\xff\0", true);
        assert_eq!(args, vec!["a\u{fffd}"]);
    }

    #[test]
    fn env_selection() {
        let env = b"PATH=/bin\0HTTPS_PROXY=http://p:3128\0LD_PRELOAD=/tmp/x.so\0EMPTY=\0NOEQUALS\0";
        let wanted = vec!["HTTPS_PROXY".to_string(), "LD_PRELOAD".to_string(), "EMPTY".to_string()];
        let got = select_env(env, &wanted);
        let names: Vec<_> = got.iter().map(|e| (e.name.as_str(), e.val.as_str())).collect();
        assert_eq!(names, vec![("HTTPS_PROXY", "http://p:3128"), ("LD_PRELOAD", "/tmp/x.so"), ("EMPTY", "")]);
    }

    #[test]
    fn fd_links() {
        assert_eq!(parse_fd_link("socket:[1234]"), Stdio::Socket { inode: 1234, peer: None });
        assert_eq!(parse_fd_link("pipe:[99]"), Stdio::Pipe { inode: 99 });
        assert_eq!(parse_fd_link("/dev/pts/3"), Stdio::Tty { path: "/dev/pts/3".into() });
        assert_eq!(parse_fd_link("/dev/null"), Stdio::File { path: "/dev/null".into() });
        assert_eq!(parse_fd_link("anon_inode:[eventfd]"), Stdio::Anon { name: "[eventfd]".into() });
    }

    #[test]
    fn exe_links() {
        assert_eq!(parse_exe_link("/usr/bin/true"), ("/usr/bin/true".into(), false, false));
        assert_eq!(parse_exe_link("/tmp/x (deleted)"), ("/tmp/x".into(), true, false));
        assert_eq!(parse_exe_link("/memfd:payload (deleted)"), ("/memfd:payload".into(), true, true));
    }
}
