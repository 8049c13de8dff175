//! The default `event: syscall` rules against synthetic calls: each has calls it must fire on and
//! look-alikes it must stay quiet on (the coverage test in `tests.rs` counts these too).

use std::collections::BTreeSet;
use std::time::SystemTime;

use super::engine::{Engine, Mode};
use super::policy::{Policy, DEFAULT_FILES};
use crate::events::{ProcessRef, SyscallDetail, SyscallEvent};
use runwarden_contract::Resource;

fn call(name: &'static str, detail: SyscallDetail) -> SyscallEvent {
    SyscallEvent {
        time: SystemTime::now(),
        pid: 42,
        tid: 42,
        name,
        abi: "x86_64",
        args: [0; 6],
        detail,
        process: Some(ProcessRef {
            pid: 42,
            ppid: Some(7),
            exe: Some("/usr/bin/python3.11".into()),
            args: vec!["python3".into(), "inject.py".into()],
            ancestors: vec![ProcessRef {
                pid: 7,
                exe: Some("/usr/bin/dash".into()),
                args: vec!["sh".into()],
                ..Default::default()
            }],
            sha256: None,
            copy_of: None,
        }),
    }
}

fn ptrace(request: &str, target: i32) -> SyscallEvent {
    call(
        "ptrace",
        SyscallDetail {
            summary: format!("ptrace({request}, pid {target})"),
            request: Some(request.into()),
            target_pid: Some(target),
            ..Default::default()
        },
    )
}

fn vm_writev(target: i32) -> SyscallEvent {
    call("process_vm_writev", SyscallDetail { target_pid: Some(target), ..Default::default() })
}

fn module(name: &'static str) -> SyscallEvent {
    let detail = SyscallDetail {
        summary: format!("{name}(/tmp/rootkit.ko)"),
        path: Some("/tmp/rootkit.ko".into()),
        ..Default::default()
    };
    call(name, detail)
}

fn connect(ip: &str, port: u16) -> SyscallEvent {
    call(
        "connect",
        SyscallDetail {
            summary: format!("connect(fd 3, inet {ip}:{port})"),
            family: Some("inet".into()),
            address: Some(ip.into()),
            port: Some(port),
            protocol: Some("TCP".into()),
            ..Default::default()
        },
    )
}

/// (rule, call it must fire on)
pub(super) fn syscall_positives() -> Vec<(&'static str, SyscallEvent)> {
    vec![
        ("syscall_ptrace_attempt", ptrace("PTRACE_ATTACH", 99)),
        ("syscall_ptrace_attempt", ptrace("PTRACE_SEIZE", 99)),
        ("syscall_ptrace_attempt", ptrace("PTRACE_TRACEME", 0)),
        ("syscall_ptrace_attempt", ptrace("PTRACE_POKETEXT", 99)),
        ("syscall_ptrace_attempt", vm_writev(99)),
        ("syscall_kernel_module_load", module("finit_module")),
        ("syscall_kernel_module_load", module("init_module")),
    ]
}

/// (rule, look-alike call it must stay quiet on)
pub(super) fn syscall_negatives() -> Vec<(&'static str, SyscallEvent)> {
    vec![
        ("syscall_ptrace_attempt", ptrace("PTRACE_GETREGS", 99)),
        ("syscall_ptrace_attempt", ptrace("PTRACE_CONT", 99)),
        ("syscall_ptrace_attempt", vm_writev(42)), // into itself
        ("syscall_ptrace_attempt", connect("127.0.0.1", 8080)),
        ("syscall_kernel_module_load", module("delete_module")),
        ("syscall_kernel_module_load", call("memfd_create", SyscallDetail::default())),
    ]
}

fn engine() -> Engine {
    Engine::new(Policy::load(DEFAULT_FILES, &[]).expect("defaults load"), Resource::default())
        .expect("compile")
}

fn fired(engine: &mut Engine, e: &SyscallEvent) -> BTreeSet<String> {
    engine.evaluate_syscall(e, Mode::Detect).into_iter().map(|f| f.rule.id).collect()
}

#[test]
fn syscall_positives_fire_and_negatives_stay_quiet() {
    let mut e = engine();
    let mut failures = Vec::new();
    for (rule, event) in syscall_positives() {
        let got = fired(&mut e, &event);
        if !got.contains(rule) {
            failures
                .push(format!("{rule} did not fire on {} {:?} (fired: {got:?})", event.name, event.detail));
        }
    }
    for (rule, event) in syscall_negatives() {
        if fired(&mut e, &event).contains(rule) {
            failures.push(format!("{rule} fired on benign {} {:?}", event.name, event.detail));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert_eq!(e.eval_errors, 0, "conditions failed to evaluate");
}

#[test]
fn syscall_rules_only_see_syscalls() {
    let mut e = engine();
    for (_, event) in syscall_positives() {
        assert!(fired(&mut e, &event).iter().all(|r| r.starts_with("syscall_")));
    }
    // A call without a known caller still evaluates (proc fields empty).
    let mut anonymous = module("finit_module");
    anonymous.process = None;
    assert!(fired(&mut e, &anonymous).contains("syscall_kernel_module_load"));
    assert_eq!(e.eval_errors, 0);
}

#[test]
fn syscall_findings_follow_the_contract() {
    let mut e = engine();
    let f = e.evaluate_syscall(&ptrace("PTRACE_ATTACH", 99), Mode::Detect);
    let v = serde_json::to_value(&f[0]).unwrap();
    assert_eq!(v["category"], "Defense Evasion: Ptrace Attempt");
    assert_eq!(v["severity"], "MEDIUM");
    assert_eq!(v["mitreAttack"]["primaryTechniques"][0], "T1055.008");
    assert_eq!(v["description"], "python3.11 (pid 42) called ptrace(PTRACE_ATTACH, pid 99)");
    assert_eq!(v["processes"][0]["pid"], 42);
    assert_eq!(v["processes"][0]["parentPid"], 7);
    assert_eq!(v["processes"][0]["binary"]["path"], "/usr/bin/python3.11");
    assert_eq!(v["ancestors"][0]["pid"], 7);
    assert_eq!(v["sourceProperties"]["sensor"], "seccomp");
    assert_eq!(v["sourceProperties"]["syscall"]["request"], "PTRACE_ATTACH");
    assert_eq!(v["sourceProperties"]["syscall"]["target_pid"], 99);
    let f = e.evaluate_syscall(&module("finit_module"), Mode::Detect);
    let v = serde_json::to_value(&f[0]).unwrap();
    assert_eq!(v["category"], "Persistence: Kernel Module Load Attempt");
    assert_eq!(v["severity"], "HIGH");
    assert_eq!(v["mitreAttack"]["primaryTechniques"][0], "T1547.006");
    assert!(v["description"].as_str().unwrap().ends_with("finit_module(/tmp/rootkit.ko)"), "{v}");
}

#[test]
fn a_user_rule_on_connect_gets_the_peer() {
    let text = r#"
rules:
  - id: connect_to_4444
    category: "Command and Control: Connection to Known Bad Address"
    severity: HIGH
    description: "{proc.name} connected to {syscall.address}:{syscall.port}"
    mitre: {tactic: COMMAND_AND_CONTROL, techniques: [T1071]}
    event: syscall
    condition: syscall.name == 'connect' && syscall.family == 'inet' && syscall.port == 4444
"#;
    let policy = Policy::load(DEFAULT_FILES, &[("extra.yaml".into(), text.into())]).unwrap();
    let mut e = Engine::new(policy, Resource::default()).unwrap();
    assert!(fired(&mut e, &connect("127.0.0.1", 8080)).is_empty());
    let f = e.evaluate_syscall(&connect("203.0.113.7", 4444), Mode::Detect);
    assert_eq!(f.len(), 1);
    let v = serde_json::to_value(&f[0]).unwrap();
    assert_eq!(v["description"], "python3.11 connected to 203.0.113.7:4444");
    assert_eq!(v["connections"][0]["destinationIp"], "203.0.113.7");
    assert_eq!(v["connections"][0]["destinationPort"], 4444);
    assert_eq!(v["connections"][0]["protocol"], "TCP");
    // The source is not known before the call runs: left out, not filled with placeholders.
    assert!(v["connections"][0].get("sourceIp").is_none() && v["connections"][0].get("sourcePort").is_none());
    assert_eq!(v["indicator"]["ipAddresses"][0], "203.0.113.7");
}
