//! The attack scenario table (tests/common/scenarios.rs) under gVisor, Cloud Run's first generation:
//! runwarden is PID 1 of a `runsc --network=none do` sandbox (Debian's runsc, as tests/gvisor.rs), and
//! everything the Docker suite has on the test network lives inside the sandbox on its loopback: the
//! sample web app (as root, and a second one dropped to nobody for the rows about unprivileged users),
//! the attacker's web server (python3 -m http.server), a reverse shell listener per row, and the batch
//! job with its fetched hooks. Payloads reach the app from files (`curl --data-urlencode name@FILE`) so
//! the driver's own command lines carry none of them. Writes stay in the sandbox's overlay.
//!
//! Rows marked `Runs::NotInGvisor` say why they cannot run here; the others must give the same
//! findings as in Docker, read from the stderr sink. This runsc has no NETLINK_SOCK_DIAG (socket()
//! fails with EPROTONOSUPPORT): the connection and listener rows pass through the scanner's
//! /proc/net fallback.

#[path = "common/scenarios.rs"]
mod scenarios;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use scenarios::*;
use serde_json::Value;

const WEB_PORT: u16 = 18081;
const APP_PORT: u16 = 18090;
const NOBODY_APP_PORT: u16 = 18091;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The attacker's reverse shell listener: says when it listens (a file), types the commands, prints
/// what came back.
const LISTENER: &str = r#"import socket, sys, time
port, commands, ready = int(sys.argv[1]), open(sys.argv[2]).read(), sys.argv[3]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(1); open(ready, "w").close()
s.settimeout(30); c, _ = s.accept()
c.sendall((commands + "\nexit\n").encode()); c.settimeout(8)
got = b""
try:
    while True:
        b = c.recv(4096)
        if not b:
            break
        got += b
except OSError:
    pass
print("session %d: %d bytes" % (port, len(got)))
"#;

fn vars_for(row: &Scenario, index: usize) -> Vars {
    Vars {
        web: format!("http://127.0.0.1:{WEB_PORT}"),
        gw: "127.0.0.1".into(),
        lport: match (typed_commands(row), listener_port(row)) {
            (None, _) => 0,
            (Some(_), 0) => 20000 + index as u16,
            (Some(_), fixed) => fixed,
        },
        runwarden: env!("CARGO_BIN_EXE_runwarden").into(),
    }
}

#[test]
fn gvisor_attack_table() {
    gvisor_table(false);
}

/// The rows on single syscalls, in a sandbox of their own with the opt-in syscall mode on (the other
/// rows run without it, as users run runwarden by default).
#[test]
fn gvisor_attack_table_in_syscall_mode() {
    gvisor_table(true);
}

/// Runs every row that can run under gVisor and needs the syscall mode (`syscalls`) or not, in one
/// sandbox.
fn gvisor_table(syscalls: bool) {
    let rows: Vec<&Scenario> = scenarios()
        .filter(|r| !matches!(r.runs, Runs::NotInGvisor(_)) && (r.needs == Needs::Syscalls) == syscalls)
        .collect();
    assert!(!rows.is_empty());
    let has_job = rows.iter().any(|r| matches!(r.arrival, Arrival::Fetched(_)));
    let index = |row: &Scenario| rows.iter().position(|r| r.name == row.name).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The app dropped to nobody reads the payloads too.
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let write = |rel: &str, data: &[u8]| {
        let p = d.join(rel.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    for (path, data) in attacker_files(&vars_for(rows[0], 0), &rows) {
        write(&format!("www{path}"), &data);
    }
    write("listener.py", LISTENER.as_bytes());
    // The IoC feed flags an unchanged system binary (Built in Malicious Binary).
    let users = Command::new("sha256sum").arg("/usr/bin/users").output().unwrap();
    let sha = String::from_utf8_lossy(&users.stdout).split_whitespace().next().unwrap().to_string();
    write("policies/ioc/sha256.txt", format!("{sha} test-feed-family\n").as_bytes());
    // The attacker's address: in the sandbox everything is on its loopback.
    write("policies/ioc/ips.txt", b"127.0.0.1\n");

    let app = repo().join("integration/docker/apps/pyweb/app.py");
    let job = repo().join("integration/docker/apps/batch/job.sh");
    let (d_s, app_s) = (d.display(), app.display());
    let mut driver = format!(
        "set -u\ncd /\n\
         # An empty home: `bash -i` must not run the host's ~/.bashrc (the sandbox shares its files).\n\
         export HOME={d_s}/home; mkdir -p $HOME\n\
         python3 -m http.server --bind 127.0.0.1 --directory {d_s}/www {WEB_PORT} >/dev/null 2>&1 & web=$!\n\
         python3 {app_s} {APP_PORT} & app=$!\n\
         setpriv --reuid=65534 --regid=65534 --clear-groups python3 {app_s} {NOBODY_APP_PORT} & nobody=$!\n\
         for port in {WEB_PORT} {APP_PORT} {NOBODY_APP_PORT}; do\n\
           for i in $(seq 150); do curl -s -o /dev/null http://127.0.0.1:$port/ && break; sleep 0.2; done\n\
         done\n"
    );
    // Rows for unprivileged users first: they create /tmp/.x as nobody.
    let mut ordered = rows.clone();
    ordered.sort_by_key(|r| r.needs != Needs::NonRoot);
    for row in &ordered {
        let vars = vars_for(row, index(row));
        let Some(cmd) = injected_command(row, &vars) else { continue };
        let n = row.name;
        write(&format!("p/{n}"), cmd.as_bytes());
        let port = if row.needs == Needs::NonRoot { NOBODY_APP_PORT } else { APP_PORT };
        let inject = format!(
            "curl -s -G -m 30 -o /dev/null --data-urlencode name@{d_s}/p/{n} http://127.0.0.1:{port}/lookup\n"
        );
        match typed_commands(row) {
            Some(typed) => {
                write(&format!("rs/{n}"), typed.as_bytes());
                let l = vars.lport;
                write!(
                    driver,
                    "python3 {d_s}/listener.py {l} {d_s}/rs/{n} {d_s}/ready-{l} & l=$!\n\
                     for i in $(seq 150); do [ -e {d_s}/ready-{l} ] && break; sleep 0.1; done\n\
                     {inject}wait $l\n"
                )
                .unwrap();
            }
            None => driver.push_str(&inject),
        }
    }
    if has_job {
        writeln!(
            driver,
            "JOB_MANIFEST_URL=http://127.0.0.1:{WEB_PORT}/h/manifest JOB_WORKDIR=/tmp/job {} ; echo \"job exit $?\"",
            job.display()
        )
        .unwrap();
    }
    driver.push_str("sleep 1; kill $app $nobody $web; wait $app $nobody $web; true\n");
    write("driver.sh", driver.as_bytes());

    let out = Command::new("timeout")
        .args(["300", "runsc", "--network=none", "do", "env"])
        // The system's programs only (a test runner's PATH may hold directories nobody cannot read).
        .arg("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .arg(format!("RUNWARDEN_POLICIES={d_s}/policies"))
        .arg("RUNWARDEN_SCAN_INTERVAL=200ms")
        .arg(format!("RUNWARDEN_SYSCALLS={}", if syscalls { "default" } else { "off" }))
        .arg(env!("CARGO_BIN_EXE_runwarden"))
        .args(["--", "sh"])
        .arg(d.join("driver.sh"))
        .output()
        .expect("runsc must be installed (Debian package runsc)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    if has_job {
        assert!(stdout.contains("job exit 0"), "the batch job failed under gVisor:\n{stdout}\n{stderr}");
    }
    let sessions = stdout.lines().filter(|l| l.starts_with("session ") && !l.ends_with(" 0 bytes")).count();
    let shells = rows.iter().filter(|r| typed_commands(r).is_some()).count();
    assert_eq!(sessions, shells, "a reverse shell never answered:\n{stdout}");

    let findings: Vec<Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("finding").cloned())
        .collect();
    let problems = check(&rows, &|row| vars_for(row, index(row)), &findings, None, "ptrace");
    let other: Vec<&str> = stderr.lines().filter(|l| !l.starts_with('{')).collect();
    assert!(
        problems.is_empty(),
        "under gVisor, {} of {} rows failed:\n{}\n\nnon-JSON stderr:\n{}\n\nall findings: {:#?}",
        problems.len(),
        rows.len(),
        problems.join("\n"),
        other.join("\n"),
        findings
            .iter()
            .map(|f| format!("{} | {} | {}", f["category"], f["rule"]["id"], f["processes"][0]["args"]))
            .collect::<Vec<_>>()
    );
    let skipped: Vec<String> = scenarios()
        .filter_map(|r| match r.runs {
            Runs::NotInGvisor(why) => Some(format!("{}: {why}", r.name)),
            _ => None,
        })
        .collect();
    let pending: Vec<&str> = NOT_YET_COVERED.iter().map(|(c, _)| *c).collect();
    eprintln!(
        "gVisor (syscall mode {syscalls}): {} rows passed; not run under gVisor:\n{}\nnot yet rows (no rule yet): {pending:?}",
        rows.len(),
        skipped.join("\n")
    );
}
