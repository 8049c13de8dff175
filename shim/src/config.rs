//! `RUNWARDEN_*` environment variables -> one validated [`Config`].
//!
//! Pure: [`Config::from_vars`] takes the variables as pairs, so every rule is table-tested. An unknown
//! `RUNWARDEN_*` name or a malformed value is an error naming the variable and what it accepts: a typo
//! must never run a weaker setup than the user asked for, so runwarden refuses to start the workload.
#![forbid(unsafe_code)]

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::detect::engine::Mode;
use crate::log::LogLevel;
use crate::ship::http::ShipOptions;
use crate::ship::SinkSpec;

pub const PREFIX: &str = "RUNWARDEN_";

const HEARTBEAT_MIN: Duration = crate::ship::heartbeat::MIN_INTERVAL;

/// Proxy and loader variables always captured at exec (they decide where traffic goes and what code is
/// loaded): the catalogue's proxy-env and library-injection detections read them.
pub const DEFAULT_ENV_CAPTURE: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "GCONV_PATH",
];

/// Every variable runwarden reads, with what it accepts (shown in errors and `--help`).
pub const VARIABLES: &[(&str, &str)] = &[
    ("RUNWARDEN_LOG", "error | warn | info | debug | trace (default info; debug logs every process event)"),
    (
        "RUNWARDEN_SENSOR",
        "auto | seccomp | ptrace | poll (default auto: the seccomp sensor where it changes nothing the workload \
         can do, else ptrace, else /proc polling; seccomp and ptrace refuse to start without that sensor)",
    ),
    (
        "RUNWARDEN_TRACE",
        "auto | require | off: the older name of RUNWARDEN_SENSOR (auto = auto, require = ptrace, off = poll)",
    ),
    (
        "RUNWARDEN_SIGNAL_GROUP",
        "0 | 1 (default 0: forward signals to the main process; 1: to its process group)",
    ),
    (
        "RUNWARDEN_GRACE",
        "a duration such as 3s or 500ms, at most 60s (default 3s): SIGTERM-to-SIGKILL wait for leftovers",
    ),
    ("RUNWARDEN_SCAN_INTERVAL", "a duration from 50ms to 60s (default 500ms): how often /proc is reconciled"),
    (
        "RUNWARDEN_ENV_CAPTURE",
        "comma-separated variable names captured at exec, besides the proxy and loader ones",
    ),
    (
        "RUNWARDEN_SINKS",
        "comma-separated: stderr | file:/ABSOLUTE/PATH | https://URL | http://URL | falco+https://URL (default stderr)",
    ),
    (
        "RUNWARDEN_TOKEN_FILE",
        "an absolute path to a readable file holding the Bearer token for the HTTP sinks (re-read on 401)",
    ),
    (
        "RUNWARDEN_AUTH",
        "none | google (default none; google: the HTTP sinks send a Google ID token from the metadata server, not with RUNWARDEN_TOKEN_FILE)",
    ),
    (
        "RUNWARDEN_SPOOL_DIR",
        "an absolute directory where the HTTP sinks spool findings while the endpoint fails (default: memory only)",
    ),
    ("RUNWARDEN_SPOOL_MAX", "a size such as 64MiB, 512KiB or bytes, from 64KiB to 64GiB (default 64MiB)"),
    (
        "RUNWARDEN_FLUSH_TIMEOUT",
        "a duration from 0s to 60s (default 5s): how long the HTTP sinks deliver at exit before writing to stderr",
    ),
    ("RUNWARDEN_HTTP_TIMEOUT", "a duration from 100ms to 60s (default 10s): one HTTP request's timeout"),
    ("RUNWARDEN_GZIP", "0 | 1 (default 1: HTTP request bodies are gzipped)"),
    (
        "RUNWARDEN_HEARTBEAT",
        "a duration from 5s to 1h such as 60s or 5m, or off (default 60s): how often each HTTP sink sends a heartbeat",
    ),
    (
        "RUNWARDEN_CA_FILE",
        "an absolute path to a PEM file of CA certificates trusted by the HTTP sinks besides the built-in roots",
    ),
    (
        "RUNWARDEN_POLICIES",
        "an absolute directory of policy .yaml files that add to, override or disable the defaults",
    ),
    ("RUNWARDEN_MODE", "detect | enforce (default detect: rules with kill/stop actions only report)"),
    (
        "RUNWARDEN_BASELINE",
        "an absolute path to the image baseline written by `runwarden baseline` (default /etc/runwarden/baseline.json if present)",
    ),
    ("RUNWARDEN_WATCH", "on | off (default on): the file watcher (inotify) on persistence, credential and sensor files"),
    (
        "RUNWARDEN_WATCH_ROOT",
        "an absolute directory prefixed to every watched system path, for chroot-like layouts and tests (default /)",
    ),
    ("RUNWARDEN_IMAGE", "the image URI shown in findings' containers (e.g. europe-docker.pkg.dev/p/repo/app@sha256:...)"),
    (
        "RUNWARDEN_SYSCALLS",
        "off (default), default (connect,ptrace,init_module,finit_module,process_vm_writev), or comma-separated \
         syscalls stopped at exactly through seccomp: connect, ptrace, init_module, finit_module, delete_module, \
         memfd_create, process_vm_readv, process_vm_writev, bpf, mount, umount2, pivot_root, chroot, unshare, \
         setns, kexec_load, kexec_file_load, personality, userfaultfd, perf_event_open, open_by_handle_at, keyctl",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorSetting {
    /// The seccomp sensor where installing its filter changes nothing the workload can do, else
    /// ptrace, else /proc polling (fail open).
    Auto,
    /// The seccomp sensor (with no_new_privs when runwarden lacks CAP_SYS_ADMIN), or refuse to start.
    Seccomp,
    /// ptrace, or refuse to start.
    Ptrace,
    /// No exec sensor (the workload wants to use gdb or strace itself): /proc polling only.
    Poll,
}

impl SensorSetting {
    /// An exec sensor was asked for by name: without it runwarden refuses to start.
    pub fn required(self) -> bool {
        matches!(self, SensorSetting::Seccomp | SensorSetting::Ptrace)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub log: LogLevel,
    pub sensor: SensorSetting,
    pub signal_group: bool,
    pub grace: Duration,
    pub scan_interval: Duration,
    /// Names of the environment variables captured at each exec.
    pub env_capture: Vec<String>,
    pub sinks: Vec<SinkSpec>,
    /// The HTTP sinks' options (also copied into each `SinkSpec::Http`).
    pub ship: ShipOptions,
    pub policies: Option<PathBuf>,
    pub mode: Mode,
    /// The image baseline to load; `None` when there is none (then ctime decides what is added).
    pub baseline: Option<PathBuf>,
    /// The file watcher (`sensors::files`).
    pub watch: bool,
    /// Prefix of the watched system paths (`/` in a container).
    pub watch_root: PathBuf,
    /// The opt-in syscall mode: names from `sys::seccomp::SYSCALLS` (empty: off, no filter).
    pub syscalls: Vec<&'static str>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            log: LogLevel::Info,
            sensor: SensorSetting::Auto,
            signal_group: false,
            grace: Duration::from_secs(3),
            scan_interval: Duration::from_millis(500),
            env_capture: DEFAULT_ENV_CAPTURE.iter().map(|s| s.to_string()).collect(),
            sinks: vec![SinkSpec::Stderr],
            ship: ShipOptions::default(),
            policies: None,
            mode: Mode::Detect,
            baseline: None,
            watch: true,
            watch_root: PathBuf::from("/"),
            syscalls: Vec::new(),
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("unknown variable {name}; runwarden reads {known}")]
    Unknown { name: String, known: KnownNames },
    #[error("{name}={value:?} is not valid: expected {expected}")]
    Invalid { name: String, value: String, expected: &'static str },
    #[error("{name}={value:?} cannot be used: {reason}")]
    Unusable { name: String, value: String, reason: String },
}

/// The list of known names, printed in errors.
#[derive(Debug, PartialEq, Eq)]
pub struct KnownNames;

impl fmt::Display for KnownNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = VARIABLES.iter().map(|(n, _)| *n).collect();
        f.write_str(&names.join(", "))
    }
}

fn expected(name: &str) -> &'static str {
    VARIABLES.iter().find(|(n, _)| *n == name).map(|(_, e)| *e).unwrap_or("")
}

fn invalid(name: &str, value: &str) -> ConfigError {
    ConfigError::Invalid { name: name.to_string(), value: value.to_string(), expected: expected(name) }
}

/// Parses "3s", "500ms", "2m" or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num.parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    // try_: a value past Duration::MAX ("99999999999999999999999m") is refused, not a panic.
    Duration::try_from_secs_f64(secs).ok()
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(name, v)),
    }
}

fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses "64MiB", "512KiB", "1GiB" (K, M, G are binary too) or a bare number of bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let i = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..i].parse().ok()?;
    let shift = match s[i..].trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

fn parse_duration_in(name: &str, v: &str, min: Duration, max: Duration) -> Result<Duration, ConfigError> {
    match parse_duration(v) {
        Some(d) if d >= min && d <= max => Ok(d),
        _ => Err(invalid(name, v)),
    }
}

/// How the exec sensor was named: `RUNWARDEN_SENSOR`, or its older name `RUNWARDEN_TRACE` (never both).
#[derive(Default)]
struct SensorNames {
    sensor_named: bool,
    trace_alias: Option<(SensorSetting, String)>,
}

impl Config {
    /// Builds the config from environment pairs; variables without the prefix are ignored.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut c = Config::default();
        let mut names = SensorNames::default();
        for (name, value) in vars {
            let (name, v) = (name.as_ref(), value.as_ref());
            if !name.starts_with(PREFIX) {
                continue;
            }
            let known = c.set_process(name, v, &mut names)?
                || c.set_shipping(name, v)?
                || c.set_detection(name, v)?;
            if !known {
                return Err(ConfigError::Unknown { name: name.to_string(), known: KnownNames });
            }
        }
        c.settle(names)
    }

    /// Supervision and sensing: log level, exec sensor, signals, grace, scan interval, environment
    /// capture. False when `name` is not one of them.
    fn set_process(&mut self, name: &str, v: &str, names: &mut SensorNames) -> Result<bool, ConfigError> {
        let c = self;
        match name {
            "RUNWARDEN_LOG" => {
                c.log = match v.trim().to_ascii_lowercase().as_str() {
                    "error" => LogLevel::Error,
                    "warn" | "warning" => LogLevel::Warn,
                    "info" => LogLevel::Info,
                    "debug" => LogLevel::Debug,
                    "trace" => LogLevel::Trace,
                    _ => return Err(invalid(name, v)),
                }
            }
            "RUNWARDEN_SENSOR" => {
                c.sensor = match v.trim() {
                    "auto" => SensorSetting::Auto,
                    "seccomp" => SensorSetting::Seccomp,
                    "ptrace" => SensorSetting::Ptrace,
                    "poll" => SensorSetting::Poll,
                    _ => return Err(invalid(name, v)),
                };
                names.sensor_named = true;
            }
            "RUNWARDEN_TRACE" => {
                let alias = match v.trim() {
                    "auto" => SensorSetting::Auto,
                    "require" => SensorSetting::Ptrace,
                    "off" => SensorSetting::Poll,
                    _ => return Err(invalid(name, v)),
                };
                names.trace_alias = Some((alias, v.to_string()));
            }
            "RUNWARDEN_SIGNAL_GROUP" => c.signal_group = parse_bool(name, v)?,
            "RUNWARDEN_GRACE" => {
                c.grace = parse_duration_in(name, v, Duration::ZERO, Duration::from_secs(60))?
            }
            "RUNWARDEN_SCAN_INTERVAL" => {
                c.scan_interval =
                    parse_duration_in(name, v, Duration::from_millis(50), Duration::from_secs(60))?
            }
            "RUNWARDEN_ENV_CAPTURE" => {
                for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !is_env_name(item) {
                        return Err(invalid(name, v));
                    }
                    if !c.env_capture.iter().any(|e| e == item) {
                        c.env_capture.push(item.to_string());
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Where findings go and how: sinks, authentication, spool, timeouts, compression, heartbeats,
    /// the private CA. False when `name` is not one of them.
    fn set_shipping(&mut self, name: &str, v: &str) -> Result<bool, ConfigError> {
        let c = self;
        match name {
            "RUNWARDEN_SINKS" => {
                let specs: Option<Vec<SinkSpec>> =
                    v.split(',').filter(|s| !s.trim().is_empty()).map(SinkSpec::parse).collect();
                match specs {
                    Some(specs) if !specs.is_empty() => c.sinks = specs,
                    _ => return Err(invalid(name, v)),
                }
            }
            "RUNWARDEN_TOKEN_FILE" => {
                // Read now so that an unreadable token refuses to start; the sink reads it again.
                let path = PathBuf::from(v.trim());
                if !path.is_absolute() || std::fs::read(&path).is_err() {
                    return Err(invalid(name, v));
                }
                c.ship.token_file = Some(path);
            }
            "RUNWARDEN_AUTH" => {
                c.ship.google_auth = match v.trim() {
                    "none" => false,
                    "google" => true,
                    _ => return Err(invalid(name, v)),
                }
            }
            "RUNWARDEN_SPOOL_DIR" => {
                let dir = PathBuf::from(v.trim());
                if !dir.is_absolute() || (dir.exists() && !dir.is_dir()) {
                    return Err(invalid(name, v));
                }
                c.ship.spool_dir = Some(dir);
            }
            "RUNWARDEN_SPOOL_MAX" => {
                c.ship.spool_max = match parse_size(v) {
                    Some(n) if (64 << 10..=64 << 30).contains(&n) => n,
                    _ => return Err(invalid(name, v)),
                }
            }
            "RUNWARDEN_FLUSH_TIMEOUT" => {
                c.ship.flush_timeout = parse_duration_in(name, v, Duration::ZERO, Duration::from_secs(60))?
            }
            "RUNWARDEN_HTTP_TIMEOUT" => {
                c.ship.timeout =
                    parse_duration_in(name, v, Duration::from_millis(100), Duration::from_secs(60))?
            }
            "RUNWARDEN_GZIP" => c.ship.gzip = parse_bool(name, v)?,
            "RUNWARDEN_HEARTBEAT" => {
                c.ship.heartbeat = match v.trim() {
                    "off" => None,
                    d => Some(parse_duration_in(name, d, HEARTBEAT_MIN, Duration::from_secs(3600))?),
                }
            }
            "RUNWARDEN_CA_FILE" => {
                // Read now: a CA file that cannot be used must stop the start, not every delivery.
                let path = PathBuf::from(v.trim());
                if !path.is_absolute() {
                    return Err(invalid(name, v));
                }
                crate::ship::tls::read_ca_file(&path).map_err(|e| ConfigError::Unusable {
                    name: name.into(),
                    value: v.into(),
                    reason: e.to_string(),
                })?;
                c.ship.ca_file = Some(path);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// What is detected and how it is answered: policies, baseline, file watching, image, syscall
    /// mode, enforcement. False when `name` is not one of them.
    fn set_detection(&mut self, name: &str, v: &str) -> Result<bool, ConfigError> {
        let c = self;
        match name {
            "RUNWARDEN_POLICIES" => {
                let dir = PathBuf::from(v.trim());
                if !dir.is_absolute() || !dir.is_dir() {
                    return Err(invalid(name, v));
                }
                c.policies = Some(dir);
            }
            "RUNWARDEN_BASELINE" => {
                // Only existence is checked here: parsing happens off the workload's start path.
                let path = PathBuf::from(v.trim());
                if !path.is_absolute() || !path.is_file() {
                    return Err(invalid(name, v));
                }
                c.baseline = Some(path);
            }
            "RUNWARDEN_WATCH" => {
                c.watch = match v.trim() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(invalid(name, v)),
                }
            }
            "RUNWARDEN_WATCH_ROOT" => {
                let dir = PathBuf::from(v.trim());
                if !dir.is_absolute() || !dir.is_dir() {
                    return Err(invalid(name, v));
                }
                c.watch_root = dir;
            }
            "RUNWARDEN_IMAGE" => {
                // Read by detect::resource; validated here (one token, no spaces).
                if v.trim().is_empty() || v.contains(char::is_whitespace) {
                    return Err(invalid(name, v));
                }
            }
            "RUNWARDEN_SYSCALLS" => {
                c.syscalls = crate::sys::seccomp::parse_list(v).ok_or_else(|| invalid(name, v))?
            }
            "RUNWARDEN_MODE" => {
                c.mode = match v.trim() {
                    "detect" => Mode::Detect,
                    "enforce" => Mode::Enforce,
                    _ => return Err(invalid(name, v)),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks what only the whole set can tell (two names for one choice, two sources of one header)
    /// and hands the shipping options to each HTTP sink.
    fn settle(mut self, names: SensorNames) -> Result<Config, ConfigError> {
        let c = &mut self;
        if let Some((alias, value)) = names.trace_alias {
            if names.sensor_named {
                // Two names for one choice: refuse rather than pick one.
                return Err(ConfigError::Unusable {
                    name: "RUNWARDEN_TRACE".into(),
                    value,
                    reason: "RUNWARDEN_SENSOR is set too; RUNWARDEN_TRACE is its older name, set only one"
                        .into(),
                });
            }
            c.sensor = alias;
        }
        if c.ship.google_auth && c.ship.token_file.is_some() {
            // Two sources of one Authorization header: refuse rather than pick one.
            return Err(invalid("RUNWARDEN_AUTH", "google"));
        }
        for s in &mut c.sinks {
            if let SinkSpec::Http(h) = s {
                h.options = c.ship.clone();
            }
        }
        Ok(self)
    }

    /// Reads the process environment. Names or values that are not UTF-8 cannot be ours unless they
    /// carry the prefix, in which case they are refused like any malformed value.
    pub fn from_env() -> Result<Config, ConfigError> {
        let mut vars = Vec::new();
        for (k, v) in std::env::vars_os() {
            let key = k.to_string_lossy().into_owned();
            if !key.starts_with(PREFIX) {
                continue;
            }
            match v.into_string() {
                Ok(v) => vars.push((key, v)),
                Err(raw) => return Err(invalid(&key, &raw.to_string_lossy())),
            }
        }
        let mut c = Config::from_vars(vars)?;
        if c.baseline.is_none() {
            let default = std::path::Path::new(crate::enrich::baseline::DEFAULT_PATH);
            c.baseline = default.is_file().then(|| default.to_path_buf());
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;
