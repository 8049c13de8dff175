//! The event model rule conditions are written against (documented for rule authors in
//! `policies/README.md`). Built from an enriched exec event and the process table; plain serde
//! structs, handed to CEL as variables `proc`, `parent` and `ancestors`.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use serde::Serialize;

use crate::events::{Binary, ConnectionEvent, ExecEvent, FileEvent, ProcessRef, Stdio};

/// The last path component: what `ps` calls the command name.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Programs that are many tools, chosen by the name they are run as or by their first argument.
const MULTI_CALL: &[&str] = &["busybox", "toybox"];

/// What a program is, whatever it was called: the applet a multi-call binary runs (`busybox nc`, or
/// busybox linked or copied as `nc`), the image program a renamed copy is identical to (`copy_of`,
/// from the baseline), else the executable's name.
pub fn tool_of(name: &str, copy_of: Option<&str>, args: &[String]) -> String {
    let name = copy_of.unwrap_or(name);
    if MULTI_CALL.contains(&name) {
        let argv0 = args.first().map(|a| basename(a)).unwrap_or("");
        if !argv0.is_empty() && !MULTI_CALL.iter().any(|m| argv0.starts_with(m)) {
            return argv0.to_string();
        }
        if let Some(applet) = args.get(1).filter(|a| !a.starts_with('-')) {
            return basename(applet).to_string();
        }
    }
    name.to_string()
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Fd {
    /// file | tty | pipe | socket | anon | closed | other
    #[serde(rename = "type")]
    pub kind: String,
    /// The path for files and terminals.
    pub path: String,
    /// For sockets: "tcp 10.0.0.5:41234->203.0.113.7:4444 ESTABLISHED", "unix /run/x.sock", or "".
    pub peer: String,
    /// For sockets: true when it is an internet socket (tcp/udp, v4 or v6).
    pub inet: bool,
    /// For internet sockets: true when connected to a peer (not listening, not unconnected). For a
    /// pipe: true when it leads to a process holding such a socket (`relay`).
    pub remote: bool,
    pub inode: u64,
    /// For a pipe or FIFO that leads to a socket holder: "nc (pid 42)" (scanner events only).
    pub relay: String,
    /// For stdin, a pipe: the process writing into it (its stdout is this pipe), when seen.
    pub writer: Relative,
    /// For stdout, a pipe: the process reading from it (its stdin is this pipe), when seen.
    pub reader: Relative,
}

impl Fd {
    pub fn from_stdio(s: &Stdio) -> Fd {
        match s {
            Stdio::File { path } => Fd { kind: "file".into(), path: path.clone(), ..Default::default() },
            Stdio::Tty { path } => Fd { kind: "tty".into(), path: path.clone(), ..Default::default() },
            Stdio::Pipe { inode } => Fd { kind: "pipe".into(), inode: *inode, ..Default::default() },
            Stdio::Socket { inode, peer } => {
                let peer = peer.clone().unwrap_or_default();
                let inet = peer.starts_with("tcp") || peer.starts_with("udp");
                let remote = inet
                    && !peer.contains("->0.0.0.0:0")
                    && !peer.contains("->[::]:0")
                    && !peer.ends_with("LISTEN");
                Fd { kind: "socket".into(), inode: *inode, peer, inet, remote, ..Default::default() }
            }
            Stdio::Anon { name } => Fd { kind: "anon".into(), path: name.clone(), ..Default::default() },
            Stdio::Closed => Fd { kind: "closed".into(), ..Default::default() },
            Stdio::Other { link } => Fd { kind: "other".into(), path: link.clone(), ..Default::default() },
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BinaryModel {
    pub path: String,
    pub sha256: String,
    /// builtin | added | modified | unknown: against the image baseline (see `runwarden baseline`).
    pub verdict: String,
    /// Names of the YARA rules that match the file.
    pub signatures: Vec<String>,
    /// A signature matched or the sha256 is on the IoC list.
    pub malicious: bool,
    /// The malware family named by the signature or the IoC list ("" when none).
    pub family: String,
    pub size: u64,
    pub deleted: bool,
    pub memfd: bool,
}

/// `proc`: the process that just exec'd.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcModel {
    pub pid: i64,
    pub ppid: i64,
    /// Basename of the executable ("dash" for /bin/sh -> dash).
    pub name: String,
    /// argv[0]'s basename, which is what the user typed ("sh").
    pub argv0: String,
    /// What the program is whatever it was called ([`tool_of`]): `nc.openbsd` for a renamed copy
    /// of nc, `nc` for `busybox nc`; otherwise `name`.
    pub tool: String,
    pub exe: String,
    pub args: Vec<String>,
    /// args joined with single spaces.
    pub cmdline: String,
    pub cwd: String,
    pub uid: i64,
    pub euid: i64,
    pub gid: i64,
    pub env: BTreeMap<String, String>,
    pub stdin: Fd,
    pub stdout: Fd,
    pub stderr: Fd,
    /// Any of the three standard descriptors is a terminal.
    pub tty: bool,
    /// URLs in the command line that match the IoC lists.
    pub indicators: Vec<String>,
    pub binary: BinaryModel,
}

/// `parent` and each element of `ancestors`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Relative {
    pub pid: i64,
    pub name: String,
    /// As `proc.tool`.
    pub tool: String,
    pub exe: String,
    pub args: Vec<String>,
    pub cmdline: String,
}

impl ProcModel {
    /// What rules see of a process known by reference only (a file's holder, a syscall's caller):
    /// program, arguments and parent; the rest stays empty.
    pub fn from_ref(a: &ProcessRef) -> ProcModel {
        let exe = a.exe.clone().unwrap_or_default();
        ProcModel {
            pid: a.pid.into(),
            ppid: a.ppid.unwrap_or(0).into(),
            name: basename(&exe).to_string(),
            tool: tool_of(basename(&exe), a.copy_of.as_deref(), &a.args),
            argv0: a.args.first().map(|x| basename(x).to_string()).unwrap_or_default(),
            exe,
            args: a.args.clone(),
            cmdline: a.args.join(" "),
            ..Default::default()
        }
    }
}

impl Relative {
    pub fn from_ref(a: &ProcessRef) -> Relative {
        let exe = a.exe.clone().unwrap_or_default();
        Relative {
            pid: a.pid.into(),
            name: basename(&exe).to_string(),
            tool: tool_of(basename(&exe), a.copy_of.as_deref(), &a.args),
            cmdline: a.args.join(" "),
            args: a.args.clone(),
            exe,
        }
    }
}

/// `script`: the code an interpreter runs (file, `-c`/`-e` code, or piped from the parent's pipeline).
/// `present` is false when the program is not an interpreter or runs no code (`python -m x`), or when
/// its script file could not be read (then `path` alone is set: where the file was).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScriptModel {
    pub present: bool,
    pub path: String,
    /// shell | python | other
    pub language: String,
    pub sha256: String,
    /// The scoring model's score (threshold 1.0) and the features that fired.
    pub score: f64,
    pub reasons: Vec<String>,
    /// YARA rules matching the code.
    pub signatures: Vec<String>,
    /// The model or a signature says malicious.
    pub malicious: bool,
}

/// Everything a condition sees for one exec.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExecModel {
    pub proc: ProcModel,
    pub parent: Relative,
    pub ancestors: Vec<Relative>,
    pub script: ScriptModel,
}

impl ExecModel {
    pub fn from_event(e: &ExecEvent) -> ExecModel {
        let [mut stdin, mut stdout, mut stderr] = [&e.stdio[0], &e.stdio[1], &e.stdio[2]].map(Fd::from_stdio);
        for r in &e.relays {
            let fd = match r.fd {
                0 => &mut stdin,
                1 => &mut stdout,
                _ => &mut stderr,
            };
            fd.relay = format!("{} (pid {})", r.name, r.pid);
            fd.peer = format!("through {} to {}", fd.relay, r.peer);
            fd.inet = true;
            fd.remote = true;
        }
        if let Some(w) = &e.stdin_writer {
            stdin.writer = Relative::from_ref(w);
        }
        if let Some(r) = &e.stdout_reader {
            stdout.reader = Relative::from_ref(r);
        }
        let tty = [&stdin, &stdout, &stderr].iter().any(|f| f.kind == "tty");
        let proc = ProcModel {
            pid: e.pid.into(),
            ppid: e.ppid.into(),
            name: basename(&e.binary.path).to_string(),
            tool: tool_of(basename(&e.binary.path), e.binary.copy_of.as_deref(), &e.args),
            argv0: e.args.first().map(|a| basename(a).to_string()).unwrap_or_default(),
            exe: e.binary.path.clone(),
            cmdline: e.args.join(" "),
            args: e.args.clone(),
            cwd: e.cwd.clone().unwrap_or_default(),
            uid: e.uid.into(),
            euid: e.euid.into(),
            gid: e.gid.into(),
            env: e.env.iter().map(|v| (v.name.clone(), v.val.clone())).collect(),
            stdin,
            stdout,
            stderr,
            tty,
            indicators: e.indicators.clone(),
            binary: BinaryModel {
                path: e.binary.path.clone(),
                sha256: e.binary.sha256.clone().unwrap_or_default(),
                verdict: e.binary.verdict.map(|v| v.as_str()).unwrap_or("unknown").to_string(),
                signatures: e.binary.signatures.iter().map(|s| s.rule.clone()).collect(),
                malicious: !e.binary.signatures.is_empty() || e.binary.ioc_family.is_some(),
                family: e
                    .binary
                    .ioc_family
                    .clone()
                    .or_else(|| e.binary.signatures.iter().find_map(|s| s.family.clone()))
                    .unwrap_or_default(),
                size: e.binary.size.unwrap_or(0),
                deleted: e.binary.deleted,
                memfd: e.binary.memfd,
            },
        };
        let ancestors: Vec<Relative> = e.ancestors.iter().map(Relative::from_ref).collect();
        let parent = ancestors.first().cloned().unwrap_or_default();
        let script = match &e.script {
            Some(s) => ScriptModel {
                present: true,
                path: s.script.path.clone().unwrap_or_default(),
                language: s.language.to_string(),
                sha256: s.script.sha256.clone(),
                score: s.score,
                reasons: s.reasons.clone(),
                signatures: s.signatures.iter().map(|h| h.rule.clone()).collect(),
                malicious: s.malicious,
            },
            // Not captured (a file already deleted when the pipeline looked, no intel): the path the
            // interpreter was given still says where the script was.
            None => ScriptModel {
                path: crate::enrich::script::file_of(crate::enrich::script::Exec::of(e)).unwrap_or_default(),
                ..ScriptModel::default()
            },
        };
        ExecModel { proc, parent, ancestors, script }
    }
}

/// `file`: a watched file that changed or was opened (rules with `event: file`; see `sensors::files`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileFields {
    /// As the container sees it.
    pub path: String,
    /// CREATE | MODIFY | DELETE | RENAME | ATTRIB | OPEN
    pub operation: String,
    pub dir: String,
    pub name: String,
    /// The watcher's classification: preload | cron | pam | secret | audit | ca | sensor | executables
    pub class: String,
    /// For a rename, the other name ("" when it was moved from or to an unwatched place).
    pub other_path: String,
    /// Found by the rescan after an inotify queue overflow.
    pub rescan: bool,
    /// A process holding the file open was found (then `proc` and `parent` are filled in).
    pub attributed: bool,
    /// "sh (pid 42)", or a sentence saying the process is not known.
    pub actor: String,
    /// When `attributed` is false: the programs exec'd in the second before the event, `{name,
    /// parent}` (the candidates; empty when none ran).
    pub recent_programs: Vec<crate::events::RecentProgram>,
}

/// Everything a condition sees for one file event: `file`, and `proc`/`parent` of the attributed
/// process (empty when none).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileModel {
    pub file: FileFields,
    pub proc: ProcModel,
    pub parent: Relative,
}

/// What file findings say when inotify (which never names the process) left the actor unknown.
pub const UNKNOWN_ACTOR: &str =
    "an unknown process (inotify does not say which one, and none held the file open when checked)";

impl FileModel {
    pub fn from_event(e: &FileEvent) -> FileModel {
        let (dir, name) = match e.path.rfind('/') {
            Some(0) => ("/", &e.path[1..]),
            Some(i) => (&e.path[..i], &e.path[i + 1..]),
            None => ("", e.path.as_str()),
        };
        let (proc, parent, actor) = match &e.process {
            Some(a) => {
                let proc = ProcModel::from_ref(a);
                let parent = a.ancestors.first().map(Relative::from_ref).unwrap_or_default();
                let actor = format!("{} (pid {})", proc.name, a.pid);
                (proc, parent, actor)
            }
            None => (ProcModel::default(), Relative::default(), UNKNOWN_ACTOR.to_string()),
        };
        FileModel {
            file: FileFields {
                path: e.path.clone(),
                operation: e.operation.as_str().to_string(),
                dir: dir.to_string(),
                name: name.to_string(),
                class: e.class.to_string(),
                other_path: e.other_path.clone().unwrap_or_default(),
                rescan: e.rescan,
                attributed: e.process.is_some(),
                actor,
                recent_programs: e.recent_programs.clone(),
            },
            proc,
            parent,
        }
    }
}

/// `conn`: a connection or listening socket found by the scanner (rules with `event: connection`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnModel {
    /// TCP | UDP
    pub protocol: String,
    pub local_ip: String,
    pub local_port: i64,
    /// Empty and 0 for a listener.
    pub remote_ip: String,
    pub remote_port: i64,
    pub listening: bool,
    /// Connected to a peer, from a local port no listener owns (the process dialled out).
    pub outbound: bool,
    /// The peer (or, for a listener, the bound address) is a loopback address.
    pub loopback: bool,
    /// The holder is the workload's main process.
    pub main_process: bool,
    /// The holder is a fork of the main process running the same program and arguments (a
    /// pre-fork server's worker binding its own socket).
    pub service_worker: bool,
    /// The local port is the service's (`PORT`, as Cloud Run sets it).
    pub service_port: bool,
    /// The peer address is on the IoC address list.
    pub ioc: bool,
    /// "10.0.0.5:41234->203.0.113.7:3333", or "0.0.0.0:4444" for a listener.
    pub peer: String,
}

impl ConnModel {
    pub fn from_event(c: &ConnectionEvent, service_port: Option<u16>, ioc: bool) -> ConnModel {
        let is_loopback = |ip: &str| ip.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback());
        let peer = if c.listening {
            join_addr(&c.local_ip, c.local_port)
        } else {
            format!("{}->{}", join_addr(&c.local_ip, c.local_port), join_addr(&c.remote_ip, c.remote_port))
        };
        ConnModel {
            protocol: c.protocol.to_string(),
            local_ip: c.local_ip.clone(),
            local_port: c.local_port.into(),
            remote_ip: if c.listening { String::new() } else { c.remote_ip.clone() },
            remote_port: if c.listening { 0 } else { c.remote_port.into() },
            listening: c.listening,
            outbound: !c.listening,
            loopback: if c.listening { is_loopback(&c.local_ip) } else { is_loopback(&c.remote_ip) },
            main_process: c.main_process,
            service_worker: c.service_worker,
            service_port: service_port == Some(c.local_port),
            ioc,
            peer,
        }
    }
}

fn join_addr(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// `lib`: a mapped library found by the scanner (rules with `event: library`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LibModel {
    pub path: String,
    pub name: String,
    pub sha256: String,
    /// builtin | added | modified | unknown, against the image baseline.
    pub verdict: String,
    pub signatures: Vec<String>,
    /// A signature matched or the sha256 is on the IoC list.
    pub malicious: bool,
    pub family: String,
    /// The file was deleted (or replaced) after it was mapped.
    pub deleted: bool,
    pub memfd: bool,
}

impl LibModel {
    pub fn from_binary(b: &Binary) -> LibModel {
        LibModel {
            path: b.path.clone(),
            name: basename(&b.path).to_string(),
            sha256: b.sha256.clone().unwrap_or_default(),
            verdict: b.verdict.map(|v| v.as_str()).unwrap_or("unknown").to_string(),
            signatures: b.signatures.iter().map(|s| s.rule.clone()).collect(),
            malicious: !b.signatures.is_empty() || b.ioc_family.is_some(),
            family: b
                .ioc_family
                .clone()
                .or_else(|| b.signatures.iter().find_map(|s| s.family.clone()))
                .unwrap_or_default(),
            deleted: b.deleted,
            memfd: b.memfd,
        }
    }
}

/// Everything a scanner rule sees: the process (as for `exec`) and, by event, `conn` or `lib`
/// (empty for the other events).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanModel {
    #[serde(flatten)]
    pub exec: ExecModel,
    pub conn: ConnModel,
    pub lib: LibModel,
}
