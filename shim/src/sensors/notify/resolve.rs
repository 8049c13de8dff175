//! Which program an exec held at its notification will run, and whether it will run at all.
//!
//! The notification comes *before* the kernel looks at the file, so runwarden does what the kernel
//! is about to do (fs/exec.c, fs/binfmt_script.c): resolve the path against the caller's cwd, root or
//! directory descriptor; refuse what the kernel refuses (no such file, not a regular file, no execute
//! bit, a `noexec` mount, a format it cannot run); and follow `#!` lines to the interpreter, rewriting
//! argv as binfmt_script does (`interpreter [arg] path argv[1..]`), so the event names the program
//! that runs, as the ptrace sensor's `/proc/PID/exe` does. A predicted failure is not an event: a
//! PATH search tries several directories, and only the one that exists runs.
//!
//! The file is opened once and kept open in the event (`Binary::held`): the hash comes from it later,
//! off the caller's path, even when a dropper deletes the program right after its exec.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// `#!` nesting the kernel follows (BINPRM_MAX_RECURSION in fs/exec.c).
const SHEBANG_DEPTH_MAX: usize = 4;
/// The bytes of a file the kernel's binfmt handlers look at (BINPRM_BUF_SIZE).
const HEADER_BYTES: usize = 256;

/// Why an exec will fail (the errno the kernel will return), so it is no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WillFail(pub i32);

/// The program an exec will run.
#[derive(Debug)]
pub struct Program {
    /// The file that runs (the interpreter for a script), opened at the notification.
    pub file: File,
    /// Its path as `/proc/self/fd` names it (symlinks resolved, " (deleted)" kept for parsing).
    pub link: String,
    pub meta: std::fs::Metadata,
    /// For scripts: what the kernel puts before the caller's argv[1..] (`interpreter [arg] path`).
    pub argv_prefix: Option<Vec<String>>,
}

/// Where an exec's path is resolved from.
pub enum Base {
    /// execve, or execveat with AT_FDCWD: absolute paths from the caller's root, relative from cwd.
    Cwd,
    /// execveat with a directory (or, with AT_EMPTY_PATH and an empty path, the file) descriptor.
    Fd(i32),
}

/// The path to open, through /proc, for `path` as the caller `tid` would resolve it.
///
/// Through `/proc/<tid>/root` the magic link takes us to the caller's root, but a symlink with an
/// absolute target met further down resolves against runwarden's root. In a container both are the
/// same; a workload that chroots elsewhere could make the prediction differ (the scanner's post-exec
/// check then sees what really ran).
pub fn proc_path(proc_root: &Path, tid: i32, base: &Base, path: &str) -> PathBuf {
    // The caller's "self" is not ours: /proc/self, /proc/thread-self and /dev/fd (a link to
    // /proc/self/fd) name the caller's own files (fexecve without execveat passes
    // /proc/self/fd/N).
    if let Base::Cwd = base {
        for (prefix, to) in [("/proc/self/", ""), ("/proc/thread-self/", ""), ("/dev/fd/", "fd/")] {
            if let Some(rest) = path.strip_prefix(prefix) {
                return proc_root.join(format!("{tid}/{to}{rest}"));
            }
        }
    }
    let mut p = proc_root.join(tid.to_string());
    match base {
        Base::Fd(fd) => {
            p.push(format!("fd/{fd}"));
            if !path.is_empty() {
                p.push(path.trim_start_matches('/'));
            }
        }
        Base::Cwd if path.starts_with('/') => {
            p.push("root");
            p.push(path.trim_start_matches('/'));
        }
        Base::Cwd => {
            p.push("cwd");
            p.push(path);
        }
    }
    p
}

/// Opens the file an exec names and checks what the kernel checks on the inode: a regular file
/// with some execute bit. The mount's `noexec` is checked by [`mount_allows_exec`], once per file.
fn open_program(path: &Path) -> Result<(File, std::fs::Metadata), WillFail> {
    let errno = |e: io::Error| WillFail(e.raw_os_error().unwrap_or(libc::EACCES));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .or_else(|e| match e.raw_os_error() {
            // Unreadable to runwarden but perhaps executable to the caller: O_PATH still stats it.
            Some(libc::EACCES) | Some(libc::EPERM) => {
                std::fs::OpenOptions::new().read(true).custom_flags(libc::O_PATH | libc::O_CLOEXEC).open(path)
            }
            _ => Err(e),
        })
        .map_err(errno)?;
    let meta = file.metadata().map_err(errno)?;
    if !meta.is_file() {
        return Err(WillFail(libc::EACCES));
    }
    // Some execute bit is needed for anyone, root included (fs/namei.c, generic_permission). With
    // none for the caller's class but some for another, the prediction says "runs": a missed failure
    // is reported as an exec, never a real exec missed.
    if meta.mode() & 0o111 == 0 {
        return Err(WillFail(libc::EACCES));
    }
    Ok((file, meta))
}

/// False when the file is on a `noexec` mount (the kernel refuses the exec with EACCES).
fn mount_allows_exec(file: &File) -> bool {
    !nix::sys::statvfs::fstatvfs(file)
        .is_ok_and(|v| v.flags().contains(nix::sys::statvfs::FsFlags::ST_NOEXEC))
}

/// What a program file was found to be; remembered by [`Known`].
#[derive(Debug, Clone)]
enum Kind {
    Elf,
    /// A `#!` script: its interpreter and optional argument.
    Script(String, Option<String>),
}

/// The identity of a program file as an exec reached it: the path the caller gave (absolute, from
/// its root) and what fstat says of the file it opened. A rewritten file gets a new mtime and ctime;
/// a file replaced under the same name gets a new inode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct KnownKey {
    path: String,
    key: crate::events::FileKey,
}

/// Programs already resolved, so the same program run again (a shell loop, a server's helper per
/// request) costs an open and an fstat instead of five calls: the mount's exec permission, the
/// header, and the canonical name come from the first time. Only absolute paths are remembered (a
/// relative one depends on the caller's cwd). What this can get wrong, and accepts: a mount
/// remounted `noexec` after the program's first run (the exec is reported though the kernel refuses
/// it), and a symlink on the path re-pointed at another hard link of the same inode (the event shows
/// the first name). Bounded: cleared when full.
#[derive(Debug, Default)]
pub struct Known {
    programs: std::collections::HashMap<KnownKey, (String, Kind)>,
}

/// Programs remembered at most.
const KNOWN_MAX: usize = 1024;

impl Known {
    fn get(&self, path: &str, meta: &std::fs::Metadata) -> Option<(String, Kind)> {
        if !path.starts_with('/') {
            return None;
        }
        let k = KnownKey { path: path.to_string(), key: crate::proc::files::key_of(meta) };
        self.programs.get(&k).cloned()
    }

    fn put(&mut self, path: &str, meta: &std::fs::Metadata, link: &str, kind: &Kind) {
        if !path.starts_with('/') {
            return;
        }
        if self.programs.len() >= KNOWN_MAX {
            self.programs.clear();
        }
        let k = KnownKey { path: path.to_string(), key: crate::proc::files::key_of(meta) };
        self.programs.insert(k, (link.to_string(), kind.clone()));
    }

    pub fn len(&self) -> usize {
        self.programs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
    }
}

/// A `#!` line: the interpreter and its one optional argument (fs/binfmt_script.c: everything after
/// the first run of blanks, trailing blanks removed, is one argument).
pub fn parse_shebang(header: &[u8]) -> Option<(String, Option<String>)> {
    let rest = header.strip_prefix(b"#!")?;
    let line = &rest[..rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len())];
    let line = String::from_utf8_lossy(line);
    let line = line.trim_matches(|c| c == ' ' || c == '\t');
    if line.is_empty() {
        return None;
    }
    match line.find([' ', '\t']) {
        Some(i) => {
            let arg = line[i..].trim_matches(|c| c == ' ' || c == '\t');
            Some((line[..i].to_string(), (!arg.is_empty()).then(|| arg.to_string())))
        }
        None => Some((line.to_string(), None)),
    }
}

/// What the file opened as `file` is: ELF, a script, or neither (`None`: ENOEXEC); and its canonical
/// name. `Err` for a file on a noexec mount. `Ok(None)` kind with an empty header read means the file
/// was opened with O_PATH (unreadable to runwarden).
fn inspect(
    file: &File,
    meta: &std::fs::Metadata,
    shown: &str,
) -> Result<(String, Option<Kind>, bool), WillFail> {
    if !mount_allows_exec(file) {
        return Err(WillFail(libc::EACCES));
    }
    let mut header = [0u8; HEADER_BYTES];
    let n = file.read_at(&mut header, 0).unwrap_or(0);
    let header = &header[..n];
    let link = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file)))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| shown.to_string());
    if n == 0 && meta.len() > 0 {
        // Opened with O_PATH (unreadable to runwarden): trust the execute bit.
        return Ok((link, None, true));
    }
    if header.starts_with(b"\x7fELF") {
        return Ok((link, Some(Kind::Elf), false));
    }
    let kind = parse_shebang(header).map(|(interp, arg)| Kind::Script(interp, arg));
    Ok((link, kind, false))
}

/// Resolves the program `path` (as the caller passed it) will run; `known` remembers what earlier
/// resolutions found.
pub fn resolve(
    proc_root: &Path,
    known: &mut Known,
    tid: i32,
    base: Base,
    path: &str,
) -> Result<Program, WillFail> {
    if path.is_empty() && !matches!(base, Base::Fd(_)) {
        return Err(WillFail(libc::ENOENT));
    }
    let mut target = proc_path(proc_root, tid, &base, path);
    // The name as it resolves from the caller's root, for `known` (None: relative or through an fd).
    let mut absolute = matches!(base, Base::Cwd).then(|| path.to_string()).filter(|p| p.starts_with('/'));
    // What the kernel calls the script in argv: the name as given (for an fd: /dev/fd/N[/path]).
    let mut shown = match base {
        Base::Fd(fd) if path.is_empty() => format!("/dev/fd/{fd}"),
        Base::Fd(fd) if !path.starts_with('/') => format!("/dev/fd/{fd}/{path}"),
        _ => path.to_string(),
    };
    let mut prefix: Option<Vec<String>> = None;
    for _ in 0..=SHEBANG_DEPTH_MAX {
        let (file, meta) = open_program(&target)?;
        let remembered = absolute.as_deref().and_then(|p| known.get(p, &meta));
        let (link, kind) = match remembered {
            Some((link, kind)) => (link, Some(kind)),
            None => {
                let (link, kind, opaque) = inspect(&file, &meta, &shown)?;
                if opaque {
                    return Ok(Program { file, link, meta, argv_prefix: prefix });
                }
                if let (Some(p), Some(k)) = (absolute.as_deref(), kind.as_ref()) {
                    known.put(p, &meta, &link, k);
                }
                (link, kind)
            }
        };
        let (interp, arg) = match kind {
            Some(Kind::Elf) => return Ok(Program { file, link, meta, argv_prefix: prefix }),
            Some(Kind::Script(interp, arg)) => (interp, arg),
            // Neither ELF nor a script: the kernel answers ENOEXEC (and a shell then runs the file
            // itself, which is that shell's exec, already reported).
            None => return Err(WillFail(libc::ENOEXEC)),
        };
        let mut p = vec![interp.clone()];
        p.extend(arg);
        p.push(shown.clone());
        if let Some(outer) = prefix.take() {
            // A script run by a script: the outer rewrite's argv[0] was this script's name.
            p.extend(outer.into_iter().skip(1));
        }
        prefix = Some(p);
        shown = interp.clone();
        absolute = interp.starts_with('/').then(|| interp.clone());
        target = proc_path(proc_root, tid, &Base::Cwd, &interp);
    }
    Err(WillFail(libc::ELOOP))
}

/// The argv the program will see: the caller's, behind a script's rewrite.
pub fn final_argv(prefix: Option<Vec<String>>, argv: Vec<String>) -> Vec<String> {
    match prefix {
        None => argv,
        Some(mut p) => {
            p.extend(argv.into_iter().skip(1));
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn shebang_lines_as_the_kernel_splits_them() {
        type Case<'a> = (&'a [u8], Option<(&'a str, Option<&'a str>)>);
        let cases: &[Case] = &[
            (b"#!/bin/sh\necho", Some(("/bin/sh", None))),
            (b"#! /usr/bin/env  python3 -u \n", Some(("/usr/bin/env", Some("python3 -u")))),
            (b"#!/bin/bash -e", Some(("/bin/bash", Some("-e")))),
            (b"#!\n", None),
            (b"\x7fELF", None),
            (b"echo hi", None),
        ];
        for (h, want) in cases {
            let got = parse_shebang(h);
            let want = want.map(|(i, a)| (i.to_string(), a.map(str::to_string)));
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(h));
        }
    }

    fn write(path: &Path, body: &[u8], mode: u32) {
        std::fs::write(path, body).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn predicts_what_the_kernel_refuses_and_follows_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id() as i32;
        let d = dir.path();
        let elf = std::fs::read("/proc/self/exe").unwrap();
        write(&d.join("prog"), &elf[..4096.min(elf.len())], 0o755);
        write(&d.join("noexec"), b"\x7fELF", 0o644);
        write(&d.join("plain"), b"just text", 0o755);
        write(&d.join("inner.sh"), format!("#!{}/prog -x\n", d.display()).as_bytes(), 0o755);
        write(&d.join("outer"), format!("#!{}/inner.sh\n", d.display()).as_bytes(), 0o755);
        let at = |name: &str| d.join(name).display().to_string();
        let proc_root = Path::new("/proc");

        let p = resolve(proc_root, &mut Known::default(), me, Base::Cwd, &at("prog")).unwrap();
        assert_eq!(p.link, at("prog"));
        assert!(p.argv_prefix.is_none());
        assert_eq!(
            resolve(proc_root, &mut Known::default(), me, Base::Cwd, &at("missing")).unwrap_err(),
            WillFail(libc::ENOENT)
        );
        assert_eq!(
            resolve(proc_root, &mut Known::default(), me, Base::Cwd, &at("noexec")).unwrap_err(),
            WillFail(libc::EACCES)
        );
        assert_eq!(
            resolve(proc_root, &mut Known::default(), me, Base::Cwd, &at("plain")).unwrap_err(),
            WillFail(libc::ENOEXEC)
        );
        assert_eq!(
            resolve(proc_root, &mut Known::default(), me, Base::Cwd, &d.display().to_string()).unwrap_err(),
            WillFail(libc::EACCES)
        );

        let p = resolve(proc_root, &mut Known::default(), me, Base::Cwd, &at("outer")).unwrap();
        assert_eq!(p.link, at("prog"));
        let argv = final_argv(p.argv_prefix, vec!["outer".into(), "a1".into()]);
        assert_eq!(argv, vec![at("prog"), "-x".into(), at("inner.sh"), at("outer"), "a1".into()]);
    }

    #[test]
    fn a_program_run_again_is_remembered_until_its_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id() as i32;
        let d = dir.path();
        let elf = std::fs::read("/proc/self/exe").unwrap();
        write(&d.join("prog"), &elf[..4096.min(elf.len())], 0o755);
        write(&d.join("tool"), format!("#!{}/prog\n", d.display()).as_bytes(), 0o755);
        let at = |name: &str| d.join(name).display().to_string();
        let proc_root = Path::new("/proc");
        let mut known = Known::default();

        // The script and its interpreter are both remembered, and a second run reads the same.
        let first = resolve(proc_root, &mut known, me, Base::Cwd, &at("tool")).unwrap();
        assert_eq!(known.len(), 2);
        let again = resolve(proc_root, &mut known, me, Base::Cwd, &at("tool")).unwrap();
        assert_eq!((again.link, again.argv_prefix), (first.link, first.argv_prefix));

        // Rewritten in place (new mtime and ctime): read again, so the ELF is no longer a script.
        std::thread::sleep(std::time::Duration::from_millis(10));
        write(&d.join("tool"), &elf[..4096.min(elf.len())], 0o755);
        let now = resolve(proc_root, &mut known, me, Base::Cwd, &at("tool")).unwrap();
        assert_eq!(now.link, at("tool"));
        assert!(now.argv_prefix.is_none());

        // Replaced by text: the kernel's ENOEXEC is still predicted.
        std::thread::sleep(std::time::Duration::from_millis(10));
        write(&d.join("tool"), b"just text", 0o755);
        assert_eq!(
            resolve(proc_root, &mut known, me, Base::Cwd, &at("tool")).unwrap_err(),
            WillFail(libc::ENOEXEC)
        );

        // Relative paths depend on the caller's cwd: never remembered.
        let before = known.len();
        let cwd = std::env::current_dir().unwrap();
        let rel = pathdiff(&d.join("prog"), &cwd);
        let _ = resolve(proc_root, &mut known, me, Base::Cwd, &rel);
        assert_eq!(known.len(), before);
    }

    /// `to` relative to `from` (both absolute), through enough `..` to reach the root.
    fn pathdiff(to: &Path, from: &Path) -> String {
        let ups = from.components().count().saturating_sub(1);
        format!("{}{}", "../".repeat(ups), to.display().to_string().trim_start_matches('/'))
    }
}
