//! The scanner rules (`policies/rules/scan.yaml`) against synthetic scanner events: each has cases it
//! must fire on and look-alikes it must stay quiet on (the coverage test in `tests.rs` counts these).

use std::time::SystemTime;

use super::engine::{Engine, Mode};
use super::policy::EventKind;
use super::scan::ScanSubject;
use super::tests::{engine, ev, malicious, socket, stdin, verdict};
use crate::events::Provenance;
use crate::events::{Binary, ConnectionEvent, ExecEvent, SignatureHit, Stdio, StdioRelay};

pub(super) enum Subject {
    Process,
    Conn(Box<ConnectionEvent>, bool),
    Lib(Box<Binary>),
}

pub(super) struct Case {
    pub rule: &'static str,
    kind: EventKind,
    process: ExecEvent,
    subject: Subject,
}

fn case(rule: &'static str, kind: EventKind, process: ExecEvent, subject: Subject) -> Case {
    Case { rule, kind, process, subject }
}

fn relayed(mut e: ExecEvent, fd: u8) -> ExecEvent {
    e.stdio[usize::from(fd)] = Stdio::Pipe { inode: 77 };
    e.relays.push(StdioRelay {
        fd,
        pid: 4242,
        name: "nc".into(),
        peer: "tcp 10.0.0.5:41234->203.0.113.7:4444 ESTABLISHED".into(),
        hops: 2,
    });
    e
}

/// `e` with its stdin a pipe from a downloader that still holds its connection (`curl URL | sh`).
fn downloaded(mut e: ExecEvent, tool: &str) -> ExecEvent {
    e = relayed(e, 0);
    e.relays[0].name = tool.into();
    e
}

fn conn(remote: &str, port: u16, listening: bool, main: bool) -> Box<ConnectionEvent> {
    Box::new(ConnectionEvent {
        time: SystemTime::now(),
        process: ExecEvent::default(),
        protocol: "TCP",
        local_ip: if listening { remote.into() } else { "10.0.0.5".into() },
        local_port: if listening { port } else { 41234 },
        remote_ip: if listening { "0.0.0.0".into() } else { remote.into() },
        remote_port: if listening { 0 } else { port },
        listening,
        inode: 5,
        main_process: main,
        service_worker: false,
        remote_ioc: false,
    })
}

fn worker(mut c: Box<ConnectionEvent>) -> Box<ConnectionEvent> {
    c.service_worker = true;
    c
}

fn lib(path: &str, v: Provenance, bad: bool) -> Binary {
    Binary {
        path: path.into(),
        sha256: Some("ab".repeat(32)),
        verdict: Some(v),
        signatures: if bad {
            vec![SignatureHit { rule: "xmrig_strings".into(), family: Some("xmrig".into()) }]
        } else {
            vec![]
        },
        ..Default::default()
    }
}

pub(super) fn positives() -> Vec<Case> {
    use EventKind::*;
    let dropped = verdict(ev("/tmp/.x/kworker", &["kworker"]), Provenance::Added);
    vec![
        case(
            "reverse_shell_stdio_rewired",
            Stdio,
            stdin(ev("/bin/bash", &["bash", "-c", "x"]), socket()),
            Subject::Process,
        ),
        case(
            "reverse_shell_stdio_rewired",
            Stdio,
            relayed(ev("/bin/dash", &["sh", "-i"]), 0),
            Subject::Process,
        ),
        case("remote_command_stdio_rewired", Stdio, relayed(ev("/usr/bin/id", &["id"]), 1), Subject::Process),
        case(
            "stratum_pool_connection",
            Connection,
            dropped.clone(),
            Subject::Conn(conn("198.18.0.9", 3333, false, false), false),
        ),
        case(
            "stratum_pool_connection",
            Connection,
            ev("/usr/bin/xmrig", &["xmrig"]),
            Subject::Conn(conn("198.18.0.9", 14444, false, false), false),
        ),
        case(
            "connection_to_ioc_address",
            Connection,
            ev("/usr/bin/python3", &["python3", "app.py"]),
            Subject::Conn(conn("203.0.113.66", 443, false, true), true),
        ),
        case(
            "new_listening_socket",
            Connection,
            ev("/usr/bin/nc", &["nc", "-lvp", "4444"]),
            Subject::Conn(conn("0.0.0.0", 4444, true, false), false),
        ),
        case(
            "added_library_loaded",
            Library,
            ev("/usr/bin/python3", &["python3"]),
            Subject::Lib(Box::new(lib("/tmp/libx.so", Provenance::Added, false))),
        ),
        case(
            "added_malicious_library_loaded",
            Library,
            ev("/usr/bin/python3", &["python3"]),
            Subject::Lib(Box::new(lib("/tmp/libx.so", Provenance::Added, true))),
        ),
        case(
            "modified_malicious_library_loaded",
            Library,
            ev("/usr/bin/python3", &["python3"]),
            Subject::Lib(Box::new(lib("/usr/lib/libz.so.1", Provenance::Modified, true))),
        ),
        case("untraced_process", Untraced, ev("/usr/bin/sleep", &["sleep", "100"]), Subject::Process),
        case("exec_arguments_changed", Mismatch, ev("/usr/bin/dash", &["sh", "-c", ": B"]), Subject::Process),
        // A downloader's stream into a shell whose output also goes back to the network.
        case(
            "reverse_shell_stdio_rewired",
            Stdio,
            relayed(downloaded(ev("/bin/dash", &["sh"]), "curl"), 1),
            Subject::Process,
        ),
    ]
}

pub(super) fn negatives() -> Vec<Case> {
    use EventKind::*;
    let builtin = |e| verdict(e, Provenance::Builtin);
    vec![
        // A shell whose pipe leads nowhere networked; a non-shell on a relay is not a reverse shell.
        case(
            "reverse_shell_stdio_rewired",
            Stdio,
            stdin(ev("/bin/bash", &["bash"]), crate::events::Stdio::Pipe { inode: 3 }),
            Subject::Process,
        ),
        case(
            "reverse_shell_stdio_rewired",
            Stdio,
            relayed(ev("/usr/bin/python3", &["python3"]), 0),
            Subject::Process,
        ),
        case(
            "remote_command_stdio_rewired",
            Stdio,
            relayed(ev("/usr/bin/python3", &["python3"]), 1),
            Subject::Process,
        ),
        // `curl URL | sh` (an install script, a job's hook) caught while curl is still connected: a
        // download run by a shell, judged by its content, not a shell taking commands from the network.
        case(
            "reverse_shell_stdio_rewired",
            Stdio,
            downloaded(ev("/bin/dash", &["sh"]), "curl"),
            Subject::Process,
        ),
        case(
            "remote_command_stdio_rewired",
            Stdio,
            downloaded(ev("/bin/ls", &["ls"]), "wget"),
            Subject::Process,
        ),
        // The image's own program on a pool-like port (9000 is a common app port), and a miner port
        // reached by an image binary.
        case(
            "stratum_pool_connection",
            Connection,
            builtin(ev("/usr/bin/python3", &["python3", "app.py"])),
            Subject::Conn(conn("10.1.2.3", 9000, false, true), false),
        ),
        case(
            "stratum_pool_connection",
            Connection,
            builtin(ev("/usr/bin/curl", &["curl"])),
            Subject::Conn(conn("10.1.2.3", 443, false, false), false),
        ),
        case(
            "connection_to_ioc_address",
            Connection,
            ev("/usr/bin/python3", &["python3"]),
            Subject::Conn(conn("10.1.2.3", 5432, false, true), false),
        ),
        // The service on its port, the main process on another port, a helper on loopback.
        case(
            "new_listening_socket",
            Connection,
            ev("/usr/bin/python3", &["python3", "app.py"]),
            Subject::Conn(conn("0.0.0.0", 8080, true, true), false),
        ),
        case(
            "new_listening_socket",
            Connection,
            ev("/usr/bin/node", &["node", "metrics.js"]),
            Subject::Conn(conn("127.0.0.1", 9090, true, false), false),
        ),
        // A pre-fork server's worker binding its own socket (SO_REUSEPORT), without PORT set.
        case(
            "new_listening_socket",
            Connection,
            ev("/usr/bin/python3", &["python3", "server.py"]),
            Subject::Conn(worker(conn("0.0.0.0", 9000, true, false)), false),
        ),
        case(
            "added_library_loaded",
            Library,
            ev("/usr/bin/python3", &["python3"]),
            Subject::Lib(Box::new(lib("/usr/lib/libssl.so.3", Provenance::Builtin, false))),
        ),
        case(
            "added_library_loaded",
            Library,
            ev("/usr/bin/python3", &["python3"]),
            Subject::Lib(Box::new(lib("/usr/lib/libz.so.1", Provenance::Unknown, false))),
        ),
        case(
            "added_malicious_library_loaded",
            Library,
            ev("/usr/bin/python3", &["python3"]),
            Subject::Lib(Box::new(lib("/tmp/libx.so", Provenance::Added, false))),
        ),
        case(
            "modified_malicious_library_loaded",
            Library,
            ev("/usr/bin/python3", &["python3"]),
            Subject::Lib(Box::new(lib("/tmp/libx.so", Provenance::Added, true))),
        ),
        // Untraced rules fire on untraced events only: the same process as an exec event is quiet.
        case("untraced_process", Exec, malicious(ev("/usr/bin/sleep", &["sleep", "1"])), Subject::Process),
        // Mismatch rules fire on mismatch events only (what pipeline::verify found), never on an exec.
        case("exec_arguments_changed", Exec, ev("/usr/bin/dash", &["sh", "-c", ": B"]), Subject::Process),
    ]
}

fn fired(engine: &mut Engine, c: &Case) -> Vec<String> {
    let subject = match &c.subject {
        Subject::Process => ScanSubject::Process,
        Subject::Conn(event, ioc) => ScanSubject::Connection { event, service_port: Some(8080), ioc: *ioc },
        Subject::Lib(b) => ScanSubject::Library(b),
    };
    let findings = if c.kind == EventKind::Exec {
        engine.evaluate_exec(&c.process, Mode::Detect)
    } else {
        engine.evaluate_scan(c.kind, &c.process, subject, Mode::Detect)
    };
    findings.into_iter().map(|f| f.rule.id).collect()
}

#[test]
fn scan_positives_fire_and_negatives_stay_quiet() {
    let mut engine = engine();
    let mut failures = Vec::new();
    for c in positives() {
        if !fired(&mut engine, &c).iter().any(|r| r == c.rule) {
            failures.push(format!("{} did not fire on {:?}", c.rule, c.process.args));
        }
    }
    for c in negatives() {
        let got = fired(&mut engine, &c);
        if got.iter().any(|r| r == c.rule) {
            failures.push(format!("{} fired on look-alike {:?}", c.rule, c.process.args));
        }
    }
    assert_eq!(engine.eval_errors, 0, "conditions failed to evaluate");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn scan_findings_carry_the_connection_and_library() {
    let mut engine = engine();
    let c = &positives()[5];
    let f = &fired_findings(&mut engine, c)[0];
    let v = serde_json::to_value(f).unwrap();
    assert_eq!(v["category"], "Command and Control: Connection to Known Bad Address");
    assert_eq!(v["connections"][0]["destinationIp"], "203.0.113.66");
    assert_eq!(v["connections"][0]["destinationPort"], 443);
    assert_eq!(v["indicator"]["ipAddresses"][0], "203.0.113.66");
    assert_eq!(v["sourceProperties"]["sensor"], "scanner");

    let listener = &positives()[6];
    let v = serde_json::to_value(&fired_findings(&mut engine, listener)[0]).unwrap();
    assert_eq!(v["connections"][0]["sourcePort"], 4444);
    assert!(v["connections"][0].get("destinationIp").is_none(), "a listener has no destination");

    let l = &positives()[8];
    let v = serde_json::to_value(&fired_findings(&mut engine, l)[0]).unwrap();
    assert_eq!(v["processes"][0]["libraries"][0]["path"], "/tmp/libx.so");
    assert_eq!(v["indicator"]["signatures"][0]["yaraRuleSignature"]["yaraRule"], "xmrig_strings");
    assert_eq!(v["externalUri"], format!("https://www.virustotal.com/gui/file/{}", "ab".repeat(32)));

    let r = &positives()[1];
    let v = serde_json::to_value(&fired_findings(&mut engine, r)[0]).unwrap();
    let stdin = v["processes"][0]["stdio"]["stdin"].as_str().unwrap();
    assert!(stdin.contains("through nc (pid 4242) to tcp"), "{stdin}");
}

fn fired_findings(engine: &mut Engine, c: &Case) -> Vec<runwarden_contract::Finding> {
    let subject = match &c.subject {
        Subject::Process => ScanSubject::Process,
        Subject::Conn(event, ioc) => ScanSubject::Connection { event, service_port: Some(8080), ioc: *ioc },
        Subject::Lib(b) => ScanSubject::Library(b),
    };
    engine.evaluate_scan(c.kind, &c.process, subject, Mode::Detect)
}
