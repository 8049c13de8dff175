//! The process events runwarden's sensors produce and its pipeline consumes.
//!
//! These are *observations*, not findings: what the tracer saw at a stop, or what the scanner found in
//! /proc. They serialize to the JSON logged at debug level (so a user can see what runwarden sees), and
//! they are the input the detection engine's event model is built from.

#![forbid(unsafe_code)]

pub mod bus;
pub mod queue;

pub use bus::{EventReceiver, EventSender};

use std::time::SystemTime;

use serde::Serialize;

/// Which sensor saw the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sensor {
    /// The ptrace exec/fork/exit stops: exact, before the new program runs.
    Ptrace,
    /// The periodic /proc scan: best effort (the fallback when ptrace is refused, and reconciliation).
    Scanner,
    /// The file watcher (`sensors::files`): changes to, and opens of, the watched files.
    Inotify,
    /// The opt-in syscall mode (`RUNWARDEN_SYSCALLS`): a seccomp RET_TRACE stop, before the call runs.
    Seccomp,
}

impl Sensor {
    pub fn as_str(self) -> &'static str {
        match self {
            Sensor::Ptrace => "ptrace",
            Sensor::Scanner => "scanner",
            Sensor::Inotify => "inotify",
            Sensor::Seccomp => "seccomp",
        }
    }
}

/// How runwarden sees the workload's processes (the exec sensor in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tracking {
    /// Every fork/clone/exec is a ptrace stop: exact, and before the new program runs.
    Ptrace,
    /// ptrace was refused or disabled: /proc is polled, short-lived programs can be missed.
    Poll,
    /// The seccomp exec sensor (`sensors::notify`): every exec is held at a user notification
    /// before it runs; the wait loop only reaps.
    Seccomp,
}

impl Tracking {
    /// Whether every exec is seen exactly (by a stop or a notification), not polled for.
    pub fn exact(self) -> bool {
        matches!(self, Tracking::Ptrace | Tracking::Seccomp)
    }
}

impl std::fmt::Display for Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tracking::Ptrace => "ptrace",
            Tracking::Poll => "poll",
            Tracking::Seccomp => "seccomp",
        })
    }
}

/// What a [`StopGate`] decides about a process held at a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateDecision {
    Allow,
    /// Kill the process before it runs another instruction.
    Kill,
    /// Kill it, and stop the workload so that the instance is replaced.
    Stop,
}

/// Checks a sensor runs on a process it holds stopped, before resuming it (enforcement,
/// `RUNWARDEN_MODE=enforce`). Defined here so that a sensor names no consumer: whoever implements it
/// (`respond::enforce`) reports what it found its own way.
pub trait StopGate: Send {
    /// A new process (not a thread).
    fn started(&mut self, ev: &StartEvent);
    fn exited(&mut self, ev: &ExitEvent);
    /// An exec captured at its stop, before the new program's first instruction.
    fn exec(&mut self, ev: &ExecEvent) -> GateDecision;
    /// A listed syscall held at its seccomp stop, before the kernel runs it.
    fn syscall(&mut self, ev: &SyscallEvent) -> GateDecision;
}

/// How a new process came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The workload's main process, started by runwarden.
    Main,
    Fork,
    Vfork,
    Clone,
    /// Found by the scanner; how it started is unknown.
    Observed,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum ProcessEvent {
    /// A new process (not a thread) appeared.
    Start(StartEvent),
    /// A process ran a new program.
    Exec(Box<ExecEvent>),
    /// A process ended.
    Exit(ExitEvent),
    /// A descendant that the tracer does not trace (CLONE_UNTRACED, or attached late).
    Untraced(UntracedEvent),
    /// A watched file changed or a watched secret was opened (`sensors::files`).
    File(Box<FileEvent>),
    /// The scanner: a running process's stdio now reaches the network, rewired after its exec
    /// (`exec 0<&5`) or through pipes and FIFOs to a process holding a socket (`relays`).
    Stdio(Box<ExecEvent>),
    /// The scanner: a new outbound connection or listening socket, attributed to a process.
    Connection(Box<ConnectionEvent>),
    /// The scanner: a process has a shared library mapped that it did not have before.
    Library(Box<LibraryEvent>),
    /// A listed syscall was called (the opt-in syscall mode, `sensors::ptrace::syscall`).
    Syscall(Box<SyscallEvent>),
    /// A process runs other arguments, or another program, than the seccomp sensor read at its exec
    /// (`pipeline::verify`).
    Mismatch(Box<MismatchEvent>),
}

/// What runs, and what the seccomp sensor read before the exec happened.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MismatchEvent {
    /// The process as it runs now (filled in like a scanner event's process).
    pub process: ExecEvent,
    /// The exec event the sensor reported.
    pub inspected: ExecEvent,
}

/// A connection or listener the scanner found (`sensors::scanner::net`), with the process holding it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionEvent {
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    /// The holder as it is now (program, arguments, stdio; `sensor` is the scanner).
    pub process: ExecEvent,
    /// TCP | UDP
    pub protocol: &'static str,
    pub local_ip: String,
    pub local_port: u16,
    pub remote_ip: String,
    pub remote_port: u16,
    pub listening: bool,
    pub inode: u64,
    /// The holder is the workload's main process (the service itself).
    pub main_process: bool,
    /// The holder is a fork of the main process that runs the same program with the same arguments
    /// (a pre-fork server's worker), filled in by the pipeline.
    pub service_worker: bool,
    /// The remote address is on the IoC lists (enrichment; not in the debug log).
    #[serde(skip)]
    pub remote_ioc: bool,
}

/// A mapped library (`sensors::scanner::maps`) with the process that mapped it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LibraryEvent {
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    pub process: ExecEvent,
    /// The library file: path, identity, and (filled in by the pipeline) hash, verdict, signatures.
    pub library: Binary,
}

/// A standard descriptor that is a pipe or FIFO leading to a process holding a network socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StdioRelay {
    /// 0, 1 or 2.
    pub fd: u8,
    pub pid: i32,
    /// The relay's command name ("nc").
    pub name: String,
    /// Its socket: "tcp 10.0.0.5:41234->203.0.113.7:4444 ESTABLISHED".
    pub peer: String,
    /// Processes between (1: the relay holds the other end itself).
    pub hops: usize,
}

/// A call of a syscall listed in `RUNWARDEN_SYSCALLS`, seen at its seccomp stop: before the kernel
/// runs it, so there is no result. Arguments read from the caller's memory are evidence, not proof:
/// another thread can change them before the kernel copies them (ptrace-gvisor-init.md, 2.9).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallEvent {
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    /// The calling process (thread group id) and thread.
    pub pid: i32,
    pub tid: i32,
    pub name: &'static str,
    /// x86_64 | i386 | x32: the syscall table the call came through.
    pub abi: &'static str,
    /// The six raw argument registers.
    pub args: [u64; 6],
    pub detail: SyscallDetail,
    /// The caller as the process table knows it (filled in by the pipeline, or the enforcer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessRef>,
}

/// What the arguments say, decoded per syscall (fields that do not apply stay empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallDetail {
    /// One line for descriptions: "connect(inet 127.0.0.1:8080)", "ptrace(PTRACE_ATTACH, pid 42)".
    pub summary: String,
    /// connect: inet | inet6 | unix | the family number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// connect: the IP address, or the unix socket path ("@name" for an abstract one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// connect: TCP | UDP | UNIX ... (the socket's protocol, when the kernel says; not under gVisor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// ptrace: the request's name ("PTRACE_ATTACH"), or its number when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// ptrace, process_vm_*: the process acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_pid: Option<i32>,
    /// finit_module and setns: the file behind the fd; memfd_create: the name; mount, umount2,
    /// pivot_root, chroot: the target directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// init_module and finit_module: the module parameters; mount: the source and the filesystem type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<String>,
}

/// What happened to a watched file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FileOp {
    Create,
    Modify,
    Delete,
    Rename,
    Attrib,
    Open,
}

impl FileOp {
    pub fn as_str(self) -> &'static str {
        match self {
            FileOp::Create => "CREATE",
            FileOp::Modify => "MODIFY",
            FileOp::Delete => "DELETE",
            FileOp::Rename => "RENAME",
            FileOp::Attrib => "ATTRIB",
            FileOp::Open => "OPEN",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEvent {
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    /// The path as the container sees it (without `RUNWARDEN_WATCH_ROOT`).
    pub path: String,
    pub operation: FileOp,
    /// For a rename: the other name (the source when `path` is the destination, or the destination
    /// when the file was moved away).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_path: Option<String>,
    /// What the watcher's classification says the file is (`sensors::files::paths::Class`).
    pub class: &'static str,
    /// Of the contents, when the file still exists and is not a secret (secrets are never read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessRef>,
    /// Found by comparing against the snapshot after the kernel's event queue overflowed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rescan: bool,
    /// When no process is named: the programs exec'd in the moments before the event (enrichment,
    /// `enrich::Enricher`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recent_programs: Vec<RecentProgram>,
}

/// A program exec'd just before a file event: its name and its parent's (`sudo` runs the command it
/// was given as its child, after authentication).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RecentProgram {
    pub name: String,
    pub parent: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StartEvent {
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    pub pid: i32,
    pub ppid: i32,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExitEvent {
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    pub pid: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UntracedEvent {
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    /// The process as the scanner found it.
    pub untraced: ProcessRef,
    /// The process as /proc (or the table) shows it now (enrichment; not in the debug log).
    #[serde(skip)]
    pub process: Option<Box<ExecEvent>>,
}

/// At most this many program files are held open at once (`Binary::held`): past it, during an exec
/// storm with the queue full, a program is hashed by path as before, and runwarden keeps descriptors
/// for everything else it does (the soft limit is often 1,024).
pub const HELD_MAX: usize = 512;

static HELD_OPEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A program file held open from its exec until its event is done with (see [`HELD_MAX`]).
#[derive(Debug)]
pub struct HeldFile(std::fs::File);

impl HeldFile {
    /// Holds `file`, or closes it and returns `None` when [`HELD_MAX`] are held already.
    pub fn new(file: std::fs::File) -> Option<HeldFile> {
        use std::sync::atomic::Ordering;
        if HELD_OPEN.fetch_add(1, Ordering::Relaxed) >= HELD_MAX {
            HELD_OPEN.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(HeldFile(file))
    }

    pub fn file(&self) -> &std::fs::File {
        &self.0
    }

    /// How many are held now.
    pub fn open_now() -> usize {
        HELD_OPEN.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for HeldFile {
    fn drop(&mut self) {
        HELD_OPEN.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Identity of a file's contents as far as metadata tells: the hash cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Binary {
    /// The path `/proc/<pid>/exe` names, without the " (deleted)" suffix.
    pub path: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Executed from a memfd (`/memfd:name`): fileless execution.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub memfd: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Filled in off the tracer thread by the hashing cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// builtin | added | modified | unknown, against the image baseline (filled in by the pipeline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Provenance>,
    /// YARA rules matching the file (filled in by the pipeline).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub signatures: Vec<SignatureHit>,
    /// The malware family when the sha256 is on the IoC list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ioc_family: Option<String>,
    /// A program that is not the image's file at its path but has the same content as an image
    /// program: that program's name (`nc.openbsd` for /tmp/x copied from /usr/bin/nc.openbsd).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<String>,
    #[serde(skip)]
    pub key: Option<FileKey>,
    /// The program file itself, opened at the exec stop (or notification), so it can be hashed after
    /// a short-lived process is gone and its file deleted or overwritten (droppers that clean up).
    #[serde(skip)]
    pub held: Option<std::sync::Arc<HeldFile>>,
}

/// What an executed file is, relative to the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provenance {
    Builtin,
    Added,
    Modified,
    Unknown,
}

impl Provenance {
    pub fn as_str(self) -> &'static str {
        match self {
            Provenance::Builtin => "builtin",
            Provenance::Added => "added",
            Provenance::Modified => "modified",
            Provenance::Unknown => "unknown",
        }
    }
}

/// A YARA rule that matched, with its `family` meta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureHit {
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

/// What a standard descriptor (0, 1, 2) refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Stdio {
    File {
        path: String,
    },
    Tty {
        path: String,
    },
    Pipe {
        inode: u64,
    },
    Socket {
        inode: u64,
        /// "tcp 10.0.0.5:41234->203.0.113.7:4444", resolved off the tracer thread when possible.
        #[serde(skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
    },
    Anon {
        name: String,
    },
    Closed,
    Other {
        link: String,
    },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecEvent {
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    pub sensor: Sensor,
    pub pid: i32,
    /// The thread that called execve, when it was not the leader (its id is gone after the exec).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub former_tid: Option<i32>,
    pub ppid: i32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub binary: Binary,
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub arguments_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The environment entries that matter (proxies, loader variables, the configured list).
    pub env: Vec<EnvVar>,
    pub stdio: [Stdio; 3],
    /// Ancestor pids, nearest first, filled in by the pipeline from the process table.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<ProcessRef>,
    /// URLs in the command line that match the IoC lists (filled in by the pipeline).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub indicators: Vec<String>,
    /// The code an interpreter runs (file, inline or piped) and its verdict (filled in by the pipeline).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub script: Option<ScriptEvidence>,
    /// Standard descriptors that are pipes to a process holding a network socket (scanner only).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub relays: Vec<StdioRelay>,
    /// The pipeline this process is part of, as far as the process table knows it when the exec is
    /// enriched: the process whose stdout is this one's stdin pipe, and the one whose stdin is this
    /// one's stdout pipe (siblings in `a | b | c`, however the pipeline was typed).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stdin_writer: Option<ProcessRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stdout_reader: Option<ProcessRef>,
    /// The seccomp sensor reads an exec before it happens: the program the process ran until then,
    /// so the pipeline can tell a failed exec from a swapped path (`pipeline::verify`).
    #[serde(skip)]
    pub replaced: Option<FileKey>,
    /// When the process ran the same file before this exec (python starting python, sh running sh),
    /// a hash of its /proc/PID/auxv before the exec: every exec sets a new one (ASLR'd addresses, a
    /// new AT_RANDOM), so the pipeline can tell the exec has happened (`pipeline::verify`).
    #[serde(skip)]
    pub replaced_auxv: Option<u64>,
}

/// A captured script and what the scoring model and the signatures say of it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScriptEvidence {
    #[serde(flatten)]
    pub script: runwarden_contract::Script,
    /// shell | python | other
    pub language: &'static str,
    pub score: f64,
    pub malicious: bool,
    /// The scoring model's features that fired.
    pub reasons: Vec<String>,
    /// YARA rules matching the script's text.
    pub signatures: Vec<SignatureHit>,
}

impl Default for ExecEvent {
    /// An empty event (for tests and builders): pid 0, no program, stdio closed.
    fn default() -> Self {
        ExecEvent {
            time: SystemTime::UNIX_EPOCH,
            sensor: Sensor::Ptrace,
            pid: 0,
            former_tid: None,
            ppid: 0,
            uid: 0,
            euid: 0,
            gid: 0,
            egid: 0,
            binary: Binary::default(),
            args: Vec::new(),
            arguments_truncated: false,
            cwd: None,
            env: Vec::new(),
            stdio: [Stdio::Closed, Stdio::Closed, Stdio::Closed],
            ancestors: Vec::new(),
            indicators: Vec::new(),
            script: None,
            relays: Vec::new(),
            stdin_writer: None,
            stdout_reader: None,
            replaced: None,
            replaced_auxv: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    pub name: String,
    pub val: String,
}

/// A process as other things refer to it: an ancestor in a lineage, the holder of a watched file,
/// the caller of a syscall, a process the scanner found untraced, an entry of the process table. The
/// whole record of a process at its exec is [`ExecEvent`]; this is the part of it that is kept and
/// passed around. Rule bindings (`detect::model::Relative`) and the finding's wire form (the
/// contract's `AncestorRef`) are built from it, each in one place.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProcessRef {
    pub pid: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ppid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Of the program it runs, when its exec was seen and hashed (the process table's record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The image program whose copy it runs, when it runs one under another name ([`Binary::copy_of`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<String>,
    /// Its lineage, nearest first, where the referrer needs it (a file's holder, a syscall's caller;
    /// filled in from the process table). Empty in the elements of a lineage.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<ProcessRef>,
}

/// RFC 3339 timestamps with microseconds, UTC ("2026-11-22T23:59:59.123456Z").
pub mod rfc3339 {
    use std::time::SystemTime;

    pub fn format(t: SystemTime) -> String {
        humantime::format_rfc3339_micros(t).to_string()
    }

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*t))
    }
}
