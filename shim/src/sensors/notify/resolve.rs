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
//!
//! Not procfs: paths are opened *through* `/proc/<tid>/{cwd,root,fd/N}` (the caller's view of the file
//! system, whatever its mount namespace or chroot), where procfs's accessors return the links' text.
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::enrich::bounded::BoundedMap;

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
pub fn proc_path(proc_root: &Path, tid: i32, base: &Base, path: &OsStr) -> PathBuf {
    let bytes = path.as_bytes();
    let relative = |b: &[u8]| OsStr::from_bytes(trim_slashes(b)).to_os_string();
    // The caller's "self" is not ours: /proc/self, /proc/thread-self and /dev/fd (a link to
    // /proc/self/fd) name the caller's own files (fexecve without execveat passes
    // /proc/self/fd/N).
    if let Base::Cwd = base {
        for (prefix, to) in [("/proc/self/", ""), ("/proc/thread-self/", ""), ("/dev/fd/", "fd/")] {
            if let Some(rest) = bytes.strip_prefix(prefix.as_bytes()) {
                let mut p = proc_root.join(format!("{tid}/{to}"));
                p.push(OsStr::from_bytes(rest));
                return p;
            }
        }
    }
    let mut p = proc_root.join(tid.to_string());
    match base {
        Base::Fd(fd) => {
            p.push(format!("fd/{fd}"));
            if !bytes.is_empty() {
                p.push(relative(bytes));
            }
        }
        Base::Cwd if bytes.starts_with(b"/") => {
            p.push("root");
            p.push(relative(bytes));
        }
        Base::Cwd => {
            p.push("cwd");
            p.push(path);
        }
    }
    p
}

/// `b` without its leading slashes.
fn trim_slashes(mut b: &[u8]) -> &[u8] {
    while let [b'/', rest @ ..] = b {
        b = rest;
    }
    b
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
    /// A `#!` script: its interpreter and optional argument, as bytes (the kernel's view).
    Script(Vec<u8>, Option<Vec<u8>>),
}

/// The identity of a program file as an exec reached it: the path the caller gave (absolute, from
/// its root) and what fstat says of the file it opened. A rewritten file gets a new mtime and ctime;
/// a file replaced under the same name gets a new inode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct KnownKey {
    path: Vec<u8>,
    key: crate::events::FileKey,
}

/// Programs already resolved, so the same program run again (a shell loop, a server's helper per
/// request) costs an open and an fstat instead of five calls: the mount's exec permission, the
/// header, and the canonical name come from the first time. Only absolute paths are remembered (a
/// relative one depends on the caller's cwd). What this can get wrong, and accepts: a mount
/// remounted `noexec` after the program's first run (the exec is reported though the kernel refuses
/// it), and a symlink on the path re-pointed at another hard link of the same inode (the event shows
/// the first name). Bounded ([`KNOWN_MAX`], `enrich::bounded`): the newest and the ones in use stay,
/// in memory reserved at start.
#[derive(Debug)]
pub struct Known {
    programs: BoundedMap<KnownKey, (String, Kind)>,
}

/// Programs remembered at most: a service runs a few dozen distinct programs; a workload writing new
/// ones all the time (each rewrite is a new identity) cycles through the bound instead of growing.
/// Two tables of 1,024 buckets of 177 bytes are reserved (0.35 MiB, what the map this replaces, cleared
/// when full, reached anyway), plus each entry's path and name.
const KNOWN_MAX: usize = 1024;

impl Default for Known {
    fn default() -> Self {
        Known { programs: BoundedMap::new(KNOWN_MAX) }
    }
}

impl Known {
    fn get(&mut self, path: &[u8], meta: &std::fs::Metadata) -> Option<(String, Kind)> {
        if !path.starts_with(b"/") {
            return None;
        }
        let k = KnownKey { path: path.to_vec(), key: crate::proc::files::key_of(meta) };
        self.programs.get(&k).cloned()
    }

    fn put(&mut self, path: &[u8], meta: &std::fs::Metadata, link: &str, kind: &Kind) {
        if !path.starts_with(b"/") {
            return;
        }
        let k = KnownKey { path: path.to_vec(), key: crate::proc::files::key_of(meta) };
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
    let (interp, arg) = parse_shebang_bytes(header)?;
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Some((lossy(&interp), arg.as_deref().map(lossy)))
}

/// [`parse_shebang`] as the kernel reads it: bytes, whatever their encoding.
pub fn parse_shebang_bytes(header: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let rest = header.strip_prefix(b"#!")?;
    let line = &rest[..rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len())];
    let start = line.iter().position(|b| !blank(b))?;
    let end = line.iter().rposition(|b| !blank(b)).map_or(start, |e| e + 1);
    let line = &line[start..end];
    match line.iter().position(blank) {
        Some(i) => {
            let arg = &line[i..];
            let from = arg.iter().position(|b| !blank(b)).unwrap_or(arg.len());
            let arg = &arg[from..];
            Some((line[..i].to_vec(), (!arg.is_empty()).then(|| arg.to_vec())))
        }
        None => Some((line.to_vec(), None)),
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
    let kind = parse_shebang_bytes(header).map(|(interp, arg)| Kind::Script(interp, arg));
    Ok((link, kind, false))
}

/// Resolves the program `path` (as the caller passed it) will run; `known` remembers what earlier
/// resolutions found.
pub fn resolve(
    proc_root: &Path,
    known: &mut Known,
    tid: i32,
    base: Base,
    path: &OsStr,
) -> Result<Program, WillFail> {
    let bytes = path.as_bytes();
    if bytes.is_empty() && !matches!(base, Base::Fd(_)) {
        return Err(WillFail(libc::ENOENT));
    }
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut target = proc_path(proc_root, tid, &base, path);
    // The name as it resolves from the caller's root, for `known` (None: relative or through an fd).
    let mut absolute: Option<Vec<u8>> =
        (matches!(base, Base::Cwd) && bytes.starts_with(b"/")).then(|| bytes.to_vec());
    // What the kernel calls the script in argv: the name as given (for an fd: /dev/fd/N[/path]).
    let mut shown = match base {
        Base::Fd(fd) if bytes.is_empty() => format!("/dev/fd/{fd}"),
        Base::Fd(fd) if !bytes.starts_with(b"/") => format!("/dev/fd/{fd}/{}", lossy(bytes)),
        _ => lossy(bytes),
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
        let mut p = vec![lossy(&interp)];
        p.extend(arg.as_deref().map(lossy));
        p.push(shown.clone());
        if let Some(outer) = prefix.take() {
            // A script run by a script: the outer rewrite's argv[0] was this script's name.
            p.extend(outer.into_iter().skip(1));
        }
        prefix = Some(p);
        shown = lossy(&interp);
        target = proc_path(proc_root, tid, &Base::Cwd, OsStr::from_bytes(&interp));
        absolute = interp.starts_with(b"/").then_some(interp);
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

        let p = resolve(proc_root, &mut Known::default(), me, Base::Cwd, OsStr::new(&at("prog"))).unwrap();
        assert_eq!(p.link, at("prog"));
        assert!(p.argv_prefix.is_none());
        assert_eq!(
            resolve(proc_root, &mut Known::default(), me, Base::Cwd, OsStr::new(&at("missing"))).unwrap_err(),
            WillFail(libc::ENOENT)
        );
        assert_eq!(
            resolve(proc_root, &mut Known::default(), me, Base::Cwd, OsStr::new(&at("noexec"))).unwrap_err(),
            WillFail(libc::EACCES)
        );
        assert_eq!(
            resolve(proc_root, &mut Known::default(), me, Base::Cwd, OsStr::new(&at("plain"))).unwrap_err(),
            WillFail(libc::ENOEXEC)
        );
        assert_eq!(
            resolve(proc_root, &mut Known::default(), me, Base::Cwd, d.as_os_str()).unwrap_err(),
            WillFail(libc::EACCES)
        );

        let p = resolve(proc_root, &mut Known::default(), me, Base::Cwd, OsStr::new(&at("outer"))).unwrap();
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
        let first = resolve(proc_root, &mut known, me, Base::Cwd, OsStr::new(&at("tool"))).unwrap();
        assert_eq!(known.len(), 2);
        let again = resolve(proc_root, &mut known, me, Base::Cwd, OsStr::new(&at("tool"))).unwrap();
        assert_eq!((again.link, again.argv_prefix), (first.link, first.argv_prefix));

        // Rewritten in place (new mtime and ctime): read again, so the ELF is no longer a script.
        std::thread::sleep(std::time::Duration::from_millis(10));
        write(&d.join("tool"), &elf[..4096.min(elf.len())], 0o755);
        let now = resolve(proc_root, &mut known, me, Base::Cwd, OsStr::new(&at("tool"))).unwrap();
        assert_eq!(now.link, at("tool"));
        assert!(now.argv_prefix.is_none());

        // Replaced by text: the kernel's ENOEXEC is still predicted.
        std::thread::sleep(std::time::Duration::from_millis(10));
        write(&d.join("tool"), b"just text", 0o755);
        assert_eq!(
            resolve(proc_root, &mut known, me, Base::Cwd, OsStr::new(&at("tool"))).unwrap_err(),
            WillFail(libc::ENOEXEC)
        );

        // Relative paths depend on the caller's cwd: never remembered.
        let before = known.len();
        let cwd = std::env::current_dir().unwrap();
        let rel = pathdiff(&d.join("prog"), &cwd);
        let _ = resolve(proc_root, &mut known, me, Base::Cwd, OsStr::new(&rel));
        assert_eq!(known.len(), before);
    }

    /// `to` relative to `from` (both absolute), through enough `..` to reach the root.
    fn pathdiff(to: &Path, from: &Path) -> String {
        let ups = from.components().count().saturating_sub(1);
        format!("{}{}", "../".repeat(ups), to.display().to_string().trim_start_matches('/'))
    }

    #[test]
    fn names_that_are_not_utf8_resolve_byte_for_byte() {
        // A lossy conversion would look for U+FFFD in the name, find nothing, and predict a failed
        // exec: the program would run unreported.
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id() as i32;
        let elf = std::fs::read("/proc/self/exe").unwrap();
        let mut name = dir.path().as_os_str().as_bytes().to_vec();
        name.extend_from_slice(b"/pr)og( \n\xff\xfe");
        let prog = OsStr::from_bytes(&name);
        write(Path::new(prog), &elf[..4096.min(elf.len())], 0o755);
        // A `#!` line ends at a newline and splits at a blank: the interpreter's name has neither.
        let mut interp = dir.path().as_os_str().as_bytes().to_vec();
        interp.extend_from_slice(b"/in\xfeterp");
        write(Path::new(OsStr::from_bytes(&interp)), &elf[..4096.min(elf.len())], 0o755);
        let mut script = dir.path().as_os_str().as_bytes().to_vec();
        script.extend_from_slice(b"/s\xff.sh");
        let mut body = b"#!".to_vec();
        body.extend_from_slice(&interp);
        body.extend_from_slice(b" -x\n");
        write(Path::new(OsStr::from_bytes(&script)), &body, 0o755);

        let p = resolve(Path::new("/proc"), &mut Known::default(), me, Base::Cwd, prog).unwrap();
        assert_eq!(p.link, String::from_utf8_lossy(&name));
        let p = resolve(Path::new("/proc"), &mut Known::default(), me, Base::Cwd, OsStr::from_bytes(&script))
            .unwrap();
        assert_eq!(p.link, String::from_utf8_lossy(&interp), "the interpreter's name is bytes too");
        assert_eq!(p.argv_prefix.unwrap()[1], "-x");
    }

    #[test]
    fn known_programs_are_bounded_and_keep_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let meta = std::fs::metadata(dir.path()).unwrap();
        let mut known = Known::default();
        let path = |i: usize| format!("/soak/prog-{i}").into_bytes();
        let n = 3 * KNOWN_MAX + 17;
        for i in 0..n {
            known.put(&path(i), &meta, &format!("/soak/prog-{i}"), &Kind::Elf);
            assert!(known.len() <= KNOWN_MAX);
        }
        assert!(known.len() >= KNOWN_MAX / 2, "{}", known.len());
        for i in n - KNOWN_MAX / 2..n {
            let (link, kind) = known.get(&path(i), &meta).unwrap_or_else(|| panic!("{i} forgotten"));
            assert_eq!(link, format!("/soak/prog-{i}"));
            assert!(matches!(kind, Kind::Elf));
        }
        assert!(known.get(&path(0), &meta).is_none(), "the oldest went");
        // Relative names are never remembered.
        known.put(b"prog", &meta, "/soak/prog", &Kind::Elf);
        assert!(known.get(b"prog", &meta).is_none());
    }
}
