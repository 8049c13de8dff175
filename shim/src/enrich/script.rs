//! Finds the script an interpreter exec runs, for the finding's `script` field and for the malicious
//! script model (`detect::score`).
//!
//! An exec of `sh`, `bash`, `python3`, `perl`, `ruby`, `node` or `php` says little by itself; what
//! matters is the code it runs. That code is one of: inline code (`sh -c CODE`, `python -c CODE`,
//! `perl -e CODE`, `node -e CODE`, `php -r CODE`), a file argument (the first non-option argument; a
//! shebang exec arrives the same way, the kernel rewrites argv to `interpreter [arg] script ...`), or
//! standard input (`curl ... | sh`), whose text is gone by the time the shell reads it, so the parent's
//! command line (the pipeline) stands in for it. `python -m module` runs no script.
//!
//! The argument parsing is pure (table-tested below); the only I/O is reading the file, through
//! `/proc/<pid>/root` so a chrooted or mount-namespaced process's own view of the path is used, at most
//! [`MAX_CONTENTS`] bytes, and only regular files: a FIFO or pipe (`bash <(curl ...)` runs
//! `/dev/fd/63`) is never opened, since reading it would steal the script from the process.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::enrich::score::Language;
use crate::events::{ExecEvent, Stdio};
use crate::proc::files::sha256_hex;
use runwarden_contract::Script;

/// Contents beyond this are cut and `contents_truncated` is set.
pub const MAX_CONTENTS: usize = 64 * 1024;

/// The interpreters whose code is captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpreter {
    Shell,
    Python,
    Perl,
    Ruby,
    Node,
    Php,
}

impl Interpreter {
    /// The language the score model uses for this interpreter's code.
    pub fn language(self) -> Language {
        match self {
            Interpreter::Shell => Language::Shell,
            Interpreter::Python => Language::Python,
            _ => Language::Other,
        }
    }

    /// Recognises an interpreter by a program's basename: `sh`, `bash`, `python3.11`, `perl5.36`, `php8.2`...
    pub fn from_name(name: &str) -> Option<Interpreter> {
        let base = name.rsplit('/').next().unwrap_or(name);
        let versioned = |prefix: &str| {
            base.strip_prefix(prefix).is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
        };
        match base {
            "sh" | "bash" | "dash" | "ash" | "zsh" | "ksh" | "mksh" | "rbash" => Some(Interpreter::Shell),
            "node" | "nodejs" => Some(Interpreter::Node),
            _ if versioned("python") || versioned("pypy") => Some(Interpreter::Python),
            _ if versioned("perl") => Some(Interpreter::Perl),
            _ if versioned("ruby") => Some(Interpreter::Ruby),
            _ if versioned("php") => Some(Interpreter::Php),
            _ => None,
        }
    }
}

/// Where an interpreter's code comes from, decided from its argv alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Code given on the command line.
    Inline(String),
    /// A script file, as written (maybe relative).
    File(String),
    /// Code read from standard input (no file, no inline code, or an explicit `-`/`-s`).
    Stdin,
    /// `python -m module`, `php -S`, `node --version`...: no script to capture.
    NoScript,
}

/// The interpreter an exec runs and the index of its first option in `args`: 1 normally, 2 for
/// `busybox sh ...`. The executable's basename wins (`/bin/sh -> dash`), then `argv[0]`, then a
/// busybox applet.
pub fn interpreter(exe: &str, args: &[String]) -> Option<(Interpreter, usize)> {
    let exe_base = exe.rsplit('/').next().unwrap_or(exe);
    let argv0 = args.first().map(|a| a.rsplit('/').next().unwrap_or(a)).unwrap_or("");
    if exe_base != "busybox" {
        if let Some(i) = Interpreter::from_name(exe_base) {
            return Some((i, 1));
        }
    }
    if argv0 == "busybox" {
        return match args.get(1).map(String::as_str) {
            Some("sh" | "ash" | "bash") => Some((Interpreter::Shell, 2)),
            _ => None,
        };
    }
    match (exe_base, Interpreter::from_name(argv0)) {
        // busybox runs applets by argv[0]; only its shells are interpreters.
        ("busybox", Some(Interpreter::Shell)) => Some((Interpreter::Shell, 1)),
        ("busybox", _) => None,
        (_, found) => found.map(|i| (i, 1)),
    }
}

/// How one interpreter's command line is parsed.
struct Spec {
    /// Short options whose value is code: the rest of the word or the next argument.
    code: &'static str,
    /// Short options that take a value (the rest of the word, or the next argument).
    valued: &'static str,
    /// Short options whose value, if any, is attached (`-i.bak`, `-d:Trace`): the rest of the word.
    attached: &'static str,
    /// Short options with an optional attached number (`-l0`, `-0777`, `-W2`); flags may follow.
    digits: &'static str,
    /// Long options whose value is code (`--eval CODE` or `--eval=CODE`).
    long_code: &'static [&'static str],
    /// Long options taking the next argument as their value.
    long_valued: &'static [&'static str],
    /// Options meaning "no script": `python -m`, `php -S`, `--version`.
    no_script: &'static [&'static str],
    /// Several code options accumulate, one line each (`perl -e A -e B`).
    accumulate: bool,
    /// A short flag that runs a module instead of a script, even combined (`python -Im pip`).
    module: Option<char>,
}

const PYTHON: Spec = Spec {
    code: "c",
    valued: "WX",
    attached: "",
    digits: "",
    long_code: &[],
    long_valued: &["--check-hash-based-pycs"],
    no_script: &["-m", "--version", "-V", "--help", "-h"],
    accumulate: false,
    module: Some('m'),
};
const PERL: Spec = Spec {
    code: "eE",
    valued: "IMm",
    attached: "iCdx",
    digits: "l0",
    long_code: &[],
    long_valued: &[],
    no_script: &["-v", "-V", "--version", "--help", "-h"],
    accumulate: true,
    module: None,
};
const RUBY: Spec = Spec {
    code: "e",
    valued: "IrCEF",
    attached: "xTK",
    digits: "0W",
    long_code: &[],
    long_valued: &["--encoding", "--external-encoding", "--internal-encoding"],
    no_script: &["-v", "--version", "--help", "-h"],
    accumulate: true,
    module: None,
};
const NODE: Spec = Spec {
    code: "ep",
    valued: "rC",
    attached: "",
    digits: "",
    long_code: &["--eval", "--print"],
    long_valued: &["--require", "--import", "--loader", "--experimental-loader", "--conditions", "--title"],
    no_script: &["-v", "--version", "-h", "--help", "-i", "--interactive", "--test", "--check", "-c"],
    accumulate: false,
    module: None,
};
const PHP: Spec = Spec {
    code: "rBRE",
    valued: "cdfztS",
    attached: "",
    digits: "",
    long_code: &[],
    long_valued: &[],
    no_script: &["-S", "-v", "--version", "-h", "--help", "-i", "-m", "-a", "-l"],
    accumulate: true,
    module: None,
};

/// Where the code of `interp` comes from, given the arguments after the program name.
pub fn source(interp: Interpreter, opts: &[String]) -> Source {
    match interp {
        Interpreter::Shell => shell_source(opts),
        Interpreter::Python => getopt_source(&PYTHON, opts),
        Interpreter::Perl => getopt_source(&PERL, opts),
        Interpreter::Ruby => getopt_source(&RUBY, opts),
        Interpreter::Node => getopt_source(&NODE, opts),
        Interpreter::Php => php_source(opts),
    }
}

/// POSIX shells: `-c` makes the first operand the code (`sh -c -x CODE` and `bash -xc CODE` both work);
/// `-o`/`-O`/`+o` take a value; `-s` or `-` read standard input; otherwise the first operand is the file.
fn shell_source(opts: &[String]) -> Source {
    let mut inline = false;
    let mut stdin = false;
    let mut i = 0;
    while i < opts.len() {
        let a = opts[i].as_str();
        i += 1;
        match a {
            "--" => break,
            "-" => return Source::Stdin,
            "--rcfile" | "--init-file" => i += 1,
            _ if a.starts_with("--") => {}
            _ if (a.starts_with('-') || a.starts_with('+')) && a.len() > 1 => {
                for ch in a[1..].chars() {
                    match ch {
                        'c' => inline = true,
                        's' => stdin = true,
                        'o' | 'O' => i += 1,
                        _ => {}
                    }
                }
            }
            _ => {
                i -= 1;
                break;
            }
        }
    }
    let operand = opts.get(i).cloned();
    match (inline, operand) {
        (true, Some(code)) => Source::Inline(code),
        (true, None) => Source::NoScript,
        (false, _) if stdin => Source::Stdin,
        (false, Some(file)) => Source::File(file),
        (false, None) => Source::Stdin,
    }
}

/// getopt-style interpreters (Python, Perl, Ruby, Node): combined short flags, values attached or in
/// the next argument, the first operand is the script.
fn getopt_source(spec: &Spec, opts: &[String]) -> Source {
    let mut code: Vec<String> = Vec::new();
    let mut i = 0;
    while i < opts.len() {
        let a = opts[i].as_str();
        i += 1;
        if spec.no_script.contains(&a) {
            return Source::NoScript;
        }
        if a == "--" {
            break;
        }
        if a == "-" {
            return if code.is_empty() { Source::Stdin } else { Source::Inline(code.join("\n")) };
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let name = format!("--{name}");
            if spec.long_code.contains(&name.as_str()) {
                let v = value.or_else(|| {
                    i += 1;
                    opts.get(i - 1).cloned()
                });
                code.extend(v);
                if !spec.accumulate {
                    break;
                }
            } else if value.is_none() && spec.long_valued.contains(&name.as_str()) {
                i += 1;
            }
            continue;
        }
        let Some(flags) = a.strip_prefix('-') else {
            i -= 1;
            break;
        };
        let mut done_with_code = false;
        let chars: Vec<char> = flags.chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let ch = chars[k];
            let rest: String = chars[k + 1..].iter().collect();
            k += 1;
            if spec.code.contains(ch) {
                let v = if rest.is_empty() {
                    i += 1;
                    opts.get(i - 1).cloned()
                } else {
                    Some(rest)
                };
                code.extend(v);
                done_with_code = !spec.accumulate;
                break;
            }
            if spec.valued.contains(ch) {
                if rest.is_empty() {
                    i += 1;
                }
                break;
            }
            if spec.attached.contains(ch) {
                break;
            }
            if spec.digits.contains(ch) {
                while k < chars.len() && chars[k].is_ascii_hexdigit() && !spec.code.contains(chars[k]) {
                    k += 1;
                }
                continue;
            }
            if spec.module == Some(ch) {
                return Source::NoScript;
            }
        }
        if done_with_code {
            break;
        }
    }
    if !code.is_empty() {
        return Source::Inline(code.join("\n"));
    }
    match opts.get(i) {
        Some(file) => Source::File(file.clone()),
        None => Source::Stdin,
    }
}

/// php: `-r CODE` (and the -B/-R/-E line code), `-f FILE`, else the first operand.
fn php_source(opts: &[String]) -> Source {
    let mut i = 0;
    while i + 1 < opts.len() {
        if opts[i] == "-f" {
            return Source::File(opts[i + 1].clone());
        }
        i += 1;
    }
    getopt_source(&PHP, opts)
}

/// The path a script file argument names, made absolute against the working directory.
pub fn resolve(path: &str, cwd: Option<&str>) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    match cwd {
        Some(dir) => format!("{}/{}", dir.trim_end_matches('/'), path.trim_start_matches("./")),
        None => path.to_string(),
    }
}

/// The file to open for `path` as process `pid` sees it. `/dev/stdin`, `/dev/fd/N` and
/// `/proc/self/fd/N` are the process's own descriptors, not ours.
pub fn host_path(proc_root: &Path, pid: i32, path: &str) -> PathBuf {
    let fd = match path {
        "/dev/stdin" => Some("0"),
        _ => path.strip_prefix("/dev/fd/").or_else(|| path.strip_prefix("/proc/self/fd/")),
    };
    if let Some(fd) = fd.filter(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())) {
        return proc_root.join(pid.to_string()).join("fd").join(fd);
    }
    let through_root = proc_root.join(pid.to_string()).join("root").join(path.trim_start_matches('/'));
    if through_root.exists() {
        through_root
    } else {
        PathBuf::from(path)
    }
}

/// Cuts `bytes` to [`MAX_CONTENTS`] and makes it text (invalid UTF-8 replaced); the flag says whether
/// anything was cut.
pub fn bounded(bytes: &[u8]) -> (String, bool) {
    let cut = bytes.len() > MAX_CONTENTS;
    let kept = &bytes[..bytes.len().min(MAX_CONTENTS)];
    let mut s = String::from_utf8_lossy(kept).into_owned();
    if cut {
        // A multi-byte character split at the cut shows as U+FFFD; drop it.
        if s.ends_with('\u{FFFD}') {
            s.pop();
        }
    }
    (s, cut)
}

/// A [`Script`] from captured bytes: sha256 of the bytes kept (the file's own hash when not truncated,
/// so a VirusTotal link works).
pub fn script_of(path: Option<String>, bytes: &[u8], truncated: bool) -> Script {
    let kept = &bytes[..bytes.len().min(MAX_CONTENTS)];
    let (contents, cut) = bounded(bytes);
    Script {
        path,
        contents,
        sha256: sha256_hex(kept).unwrap_or_default(),
        contents_truncated: cut || truncated,
    }
}

/// Reads at most [`MAX_CONTENTS`] bytes (+1, to know whether there is more) of a regular file.
/// Anything else (a FIFO, a pipe, a socket, a directory) is refused without blocking.
fn read_regular(path: &Path) -> Option<(Vec<u8>, bool)> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None; // replaced by something else between the two looks
    }
    let mut buf = Vec::with_capacity(8 * 1024);
    File::take(file, MAX_CONTENTS as u64 + 1).read_to_end(&mut buf).ok()?;
    let more = buf.len() > MAX_CONTENTS;
    buf.truncate(MAX_CONTENTS);
    Some((buf, more))
}

/// The pipeline text standing in for code read from standard input.
fn from_parent(parent_args: &[String]) -> Option<Script> {
    let line = parent_args.join(" ");
    (!line.trim().is_empty()).then(|| script_of(None, line.as_bytes(), false))
}

/// The parts of an exec that decide its script: a view of [`ExecEvent`], so the capture logic is
/// tested without building whole events.
#[derive(Debug, Clone, Copy)]
pub struct Exec<'a> {
    pub pid: i32,
    pub exe: &'a str,
    pub args: &'a [String],
    pub arguments_truncated: bool,
    pub cwd: Option<&'a str>,
    pub stdin_is_pipe: bool,
}

impl<'a> Exec<'a> {
    pub fn of(ev: &'a ExecEvent) -> Exec<'a> {
        Exec {
            pid: ev.pid,
            exe: &ev.binary.path,
            args: &ev.args,
            arguments_truncated: ev.arguments_truncated,
            cwd: ev.cwd.as_deref(),
            stdin_is_pipe: matches!(ev.stdio[0], Stdio::Pipe { .. }),
        }
    }
}

/// The script that `ev` runs, if it execs an interpreter with some code: inline code, a script file
/// read through `<proc_root>/<pid>/root`, or, for code on a pipe, the parent's command line
/// (`parent_args`, the `curl ... | sh` pipeline). `None` for other programs, `python -m`, an interactive
/// shell on a terminal or a socket, or a file that cannot be read.
pub fn capture(ev: &ExecEvent, proc_root: &Path, parent_args: &[String]) -> Option<Script> {
    capture_exec(Exec::of(ev), proc_root, parent_args)
}

/// [`capture`] on the [`Exec`] view.
pub fn capture_exec(ex: Exec<'_>, proc_root: &Path, parent_args: &[String]) -> Option<Script> {
    let (interp, first) = interpreter(ex.exe, ex.args)?;
    let opts = ex.args.get(first..).unwrap_or(&[]);
    match source(interp, opts) {
        Source::Inline(code) => {
            // argv was cut at capture: inline code in the last argument may be incomplete.
            let last = ex.args.last().is_some_and(|a| code.ends_with(a.as_str()));
            Some(script_of(None, code.as_bytes(), ex.arguments_truncated && last))
        }
        Source::File(file) => {
            let path = resolve(&file, ex.cwd);
            let host = host_path(proc_root, ex.pid, &path);
            match read_regular(&host) {
                Some((bytes, more)) => Some(script_of(Some(path), &bytes, more)),
                // `bash <(curl ...)`: the file is a pipe, its text is in the parent's command line.
                None if is_fd_path(&path) => from_parent(parent_args),
                None => None,
            }
        }
        Source::Stdin if ex.stdin_is_pipe => from_parent(parent_args),
        Source::Stdin | Source::NoScript => None,
    }
}

/// The script file an interpreter exec is given, resolved against its cwd (no I/O): the script's path
/// even when the file is gone by the time it could be read.
pub fn file_of(ex: Exec<'_>) -> Option<String> {
    let (interp, first) = interpreter(ex.exe, ex.args)?;
    match source(interp, ex.args.get(first..).unwrap_or(&[])) {
        Source::File(file) => Some(resolve(&file, ex.cwd)),
        _ => None,
    }
}

fn is_fd_path(path: &str) -> bool {
    path == "/dev/stdin" || path.starts_with("/dev/fd/") || path.starts_with("/proc/self/fd/")
}

/// The interpreter of `ev`, for choosing the score model's language (None: not an interpreter).
pub fn interpreter_of(ev: &ExecEvent) -> Option<Interpreter> {
    interpreter(&ev.binary.path, &ev.args).map(|(i, _)| i)
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
