//! The opt-in exact syscall mode (`RUNWARDEN_SYSCALLS`): off, nothing is installed; on, the workload
//! carries a seccomp filter whose listed calls stop at runwarden, become events and findings
//! ("Defense Evasion: Ptrace Attempt", "Persistence: Kernel Module Load Attempt", connect peers), and
//! return exactly what they return without runwarden; i386 calls are traced by their own numbers and
//! never broken; enforcement kills at the call; no_new_privs only without CAP_SYS_ADMIN; a filter that
//! cannot be installed fails open (or stops the start with RUNWARDEN_TRACE=require); and the same
//! under gVisor (`runsc do`), whose stop order differs (seccomp before syscall-entry).
//!
//! A real 32-bit program is not built here (no i386 libc on the build machine: `gcc -m32` fails);
//! `rw-fixture i386` makes the same kernel entry (`int 0x80`, AUDIT_ARCH_I386) from a 64-bit program.
//! That test runs on Linux only: gVisor has no i386 syscall table (`int 0x80` there returns errors
//! such as EFAULT and ENOSYS with or without runwarden), so there is nothing of it to trace.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

const KMOD: &str = "Persistence: Kernel Module Load Attempt";
const PTRACE: &str = "Defense Evasion: Ptrace Attempt";

/// `runwarden -- sh -c SCRIPT` with the syscall mode set to `syscalls` (None: unset), findings to a
/// file sink, debug logs (syscall events), no file watcher.
fn run_mode(syscalls: Option<&str>, script: &str, extra: &[(&str, &str)]) -> (Output, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("findings.jsonl");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_LOG", "debug")
        .env("RUNWARDEN_WATCH", "off")
        .env("RUNWARDEN_SINKS", format!("file:{}", sink.display()));
    if let Some(s) = syscalls {
        cmd.env("RUNWARDEN_SYSCALLS", s);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.args(["--", "sh", "-c", script]);
    let out = run(&mut cmd, TIMEOUT);
    let findings = read_findings(&sink);
    (out, findings)
}

fn syscall_events(out: &Output) -> Vec<Value> {
    out.logs().into_iter().filter(|v| v["message"] == "syscall").map(|v| v["data"].clone()).collect()
}

fn of_category<'a>(findings: &'a [Value], category: &str) -> Vec<&'a Value> {
    findings.iter().filter(|f| f["category"] == category).collect()
}

fn bare(script: &str) -> String {
    let out = Command::new("sh").args(["-c", script]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `attach RC ERRNO target PID` without the pid, which differs from run to run.
fn without_pids(text: &str) -> String {
    text.lines().map(|l| l.split(" target ").next().unwrap_or(l)).collect::<Vec<_>>().join("\n")
}

const STATUS: &str = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status";

#[test]
fn off_installs_nothing_and_on_installs_the_filter() {
    pin_sensor("ptrace"); // these tests are about the RET_TRACE syscall mode under ptrace
    let (off, _) = run_mode(None, STATUS, &[]);
    off.assert_code(0);
    // Unset is exactly the runner's own state (0 here; a CI container's own profile shows as is).
    assert_eq!(off.stdout(), bare(STATUS));
    assert!(!off.stderr().contains("syscall mode"), "{}", off.stderr());
    let (explicit_off, _) = run_mode(Some("off"), STATUS, &[]);
    assert_eq!(explicit_off.stdout(), bare(STATUS));

    let (on, _) = run_mode(Some("default"), STATUS, &[]);
    on.assert_code(0);
    assert!(on.stdout().contains("Seccomp:\t2"), "{}", on.stdout());
    let line = on
        .logs()
        .into_iter()
        .find(|v| v["message"].as_str().is_some_and(|m| m.starts_with("syscall mode on")));
    let line = line.unwrap_or_else(|| panic!("no 'syscall mode on' line: {}", on.stderr()));
    assert_eq!(line["syscalls"], "connect,ptrace,init_module,finit_module,process_vm_writev");
}

#[test]
fn ptrace_attempts_are_found_and_their_results_unchanged() {
    pin_sensor("ptrace"); // these tests are about the RET_TRACE syscall mode under ptrace
    let fx = fixture_str();
    let script = format!("{fx} ptrace-attach; {fx} traceme");
    let (off, off_findings) = run_mode(None, &script, &[]);
    let (on, findings) = run_mode(Some("ptrace"), &script, &[]);
    on.assert_code(0);
    // Under runwarden every process is traced already: EPERM with the mode off and on alike.
    assert_eq!(without_pids(&on.stdout()), without_pids(&off.stdout()));
    assert_eq!(without_pids(&on.stdout()), "attach -1 1\ntraceme -1 1");
    assert!(of_category(&off_findings, PTRACE).is_empty(), "no seccomp, no finding: {off_findings:#?}");
    let hits = of_category(&findings, PTRACE);
    let requests: Vec<&str> =
        hits.iter().filter_map(|f| f["sourceProperties"]["syscall"]["request"].as_str()).collect();
    assert!(requests.contains(&"PTRACE_ATTACH") && requests.contains(&"PTRACE_TRACEME"), "{findings:#?}");
    let attach =
        hits.iter().find(|f| f["sourceProperties"]["syscall"]["request"] == "PTRACE_ATTACH").unwrap();
    assert_eq!(attach["severity"], "MEDIUM");
    assert_eq!(attach["sourceProperties"]["sensor"], "seccomp");
    assert_eq!(attach["processes"][0]["binary"]["path"], fx.as_str());
    // The caller's hash comes from its exec, recorded in the process table.
    let want = std::process::Command::new("sha256sum").arg(&fx).output().unwrap();
    let want = String::from_utf8_lossy(&want.stdout).split_whitespace().next().unwrap().to_string();
    assert_eq!(attach["processes"][0]["binary"]["sha256"], want.as_str(), "{attach:#}");
    assert_eq!(attach["mitreAttack"]["primaryTechniques"][0], "T1055.008");
    let target: i64 =
        on.stdout().split(" target ").nth(1).unwrap().trim().lines().next().unwrap().parse().unwrap();
    assert_eq!(attach["sourceProperties"]["syscall"]["target_pid"], target);
}

#[test]
fn kernel_module_load_attempts_are_found_and_fail_as_without_runwarden() {
    pin_sensor("ptrace"); // these tests are about the RET_TRACE syscall mode under ptrace
    let fx = fixture_str();
    let script = format!("{fx} kmod");
    let (on, findings) = run_mode(Some("init_module,finit_module"), &script, &[]);
    on.assert_code(0);
    assert_eq!(on.stdout(), bare(&script), "the calls' results changed");
    // One finding, and the second attempt by the same program as a repeat of that incident (dedup).
    let (hits, repeats): (Vec<&Value>, Vec<&Value>) = of_category(&findings, KMOD)
        .into_iter()
        .partition(|f| f["sourceProperties"]["suppressedRepeats"].is_null());
    assert_eq!((hits.len(), repeats.len()), (1, 1), "{findings:#?}");
    assert_eq!(repeats[0]["sourceProperties"]["suppressedRepeats"], 1);
    assert_eq!(hits[0]["severity"], "HIGH");
    assert_eq!(hits[0]["sourceProperties"]["syscall"]["name"], "init_module");
    assert_eq!(hits[0]["mitreAttack"]["primaryTechniques"][0], "T1547.006");
    assert_eq!(hits[0]["processes"][0]["binary"]["path"], fx.as_str());
    let events = syscall_events(&on);
    assert!(events.iter().any(|e| e["name"] == "init_module"), "{events:#?}");
    let finit = events.iter().find(|e| e["name"] == "finit_module").expect("finit_module event");
    assert_eq!(finit["detail"]["path"], "/dev/null");
}

#[test]
fn connect_is_seen_with_its_peer_and_its_result_unchanged() {
    pin_sensor("ptrace"); // these tests are about the RET_TRACE syscall mode under ptrace
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let fx = fixture_str();
    let script = format!("{fx} connect {open}; {fx} connect {closed}");
    let (on, _) = run_mode(Some("connect"), &script, &[]);
    on.assert_code(0);
    assert_eq!(on.stdout(), "connect 0 0\nconnect -1 111\n");
    assert_eq!(on.stdout(), bare(&script));
    let events = syscall_events(&on);
    for port in [open, closed] {
        let e = events
            .iter()
            .find(|e| e["name"] == "connect" && e["detail"]["port"] == port)
            .unwrap_or_else(|| panic!("no connect event for port {port}: {events:#?}"));
        assert_eq!(e["detail"]["family"], "inet");
        assert_eq!(e["detail"]["address"], "127.0.0.1");
        assert_eq!(e["detail"]["protocol"], "TCP");
        assert_eq!(e["abi"], "x86_64");
        assert_eq!(e["process"]["exe"], fx.as_str());
    }
}

#[test]
fn a_thread_s_call_is_attributed_to_its_process() {
    pin_sensor("ptrace"); // these tests are about the RET_TRACE syscall mode under ptrace
    let fx = fixture_str();
    let (on, _) = run_mode(Some("connect"), &format!("exec {fx} connect 1 thread"), &[]);
    on.assert_code(0);
    let tid: i64 = on.stdout().lines().next().and_then(|l| l.strip_prefix("tid ")?.parse().ok()).unwrap();
    assert!(on.stdout().ends_with("connect -1 111\n"), "{}", on.stdout());
    let events = syscall_events(&on);
    let e = events.iter().find(|e| e["name"] == "connect").expect("connect event");
    assert_eq!(e["tid"], tid);
    assert_ne!(e["pid"], tid, "the process, not the thread: {e}");
    assert_eq!(e["process"]["exe"], fx.as_str());
    assert_eq!(e["detail"]["port"], 1);
}

#[test]
fn i386_calls_are_traced_by_their_own_numbers_and_not_broken() {
    pin_sensor("ptrace"); // these tests are about the RET_TRACE syscall mode under ptrace
    let fx = fixture_str();
    let script = format!("{fx} i386");
    let (off, _) = run_mode(None, &script, &[]);
    let (on, findings) = run_mode(Some("ptrace,personality,connect"), &script, &[]);
    on.assert_code(0);
    let lines: Vec<String> = on.stdout().lines().map(str::to_string).collect();
    assert!(lines[0].ends_with(" same"), "i386 getpid broken: {lines:?}");
    assert_eq!(lines[1..], off.stdout().lines().map(str::to_string).collect::<Vec<_>>()[1..]);
    assert_eq!(lines[1], bare(&script).lines().nth(1).unwrap(), "personality query changed");
    let events = syscall_events(&on);
    for name in ["personality", "ptrace"] {
        assert!(events.iter().any(|e| e["name"] == name && e["abi"] == "i386"), "{name}: {events:#?}");
    }
    assert!(
        of_category(&findings, PTRACE).iter().any(|f| f["sourceProperties"]["syscall"]["abi"] == "i386"),
        "{findings:#?}"
    );
}

#[test]
fn enforce_kills_at_the_call_before_it_runs() {
    pin_sensor("ptrace"); // these tests are about the RET_TRACE syscall mode under ptrace
    let policies = tempfile::tempdir().unwrap();
    std::fs::write(
        policies.path().join("kmod.yaml"),
        "rules:\n  - id: syscall_kernel_module_load\n    action: kill\n",
    )
    .unwrap();
    let fx = fixture_str();
    let extra = [("RUNWARDEN_MODE", "enforce"), ("RUNWARDEN_POLICIES", policies.path().to_str().unwrap())];
    let (out, findings) = run_mode(Some("default"), &format!("{fx} kmod; echo after=$?"), &extra);
    out.assert_code(0);
    // Killed at init_module: neither result line is printed, the shell goes on.
    assert_eq!(out.stdout(), "after=137\n");
    let killed: Vec<&Value> = findings.iter().filter(|f| f["action"] == "KILLED").collect();
    assert_eq!(killed.len(), 1, "{findings:#?}");
    assert_eq!(killed[0]["category"], KMOD);
    assert_eq!(killed[0]["sourceProperties"]["syscall"]["name"], "init_module");
}

#[test]
fn unknown_syscall_names_refuse_to_start() {
    pin_sensor("ptrace"); // these tests are about the RET_TRACE syscall mode under ptrace
    for value in ["connect,execve", "conect"] {
        let mut cmd = rw();
        cmd.env("RUNWARDEN_SYSCALLS", value).args(["--", "sh", "-c", "echo ran"]);
        let out = run(&mut cmd, TIMEOUT);
        out.assert_code(2);
        assert!(!out.stdout().contains("ran"), "the workload ran");
        assert!(
            out.stderr().contains("RUNWARDEN_SYSCALLS") && out.stderr().contains(value),
            "{}",
            out.stderr()
        );
    }
}

#[test]
fn no_new_privs_only_without_cap_sys_admin_and_then_setuid_gains_nothing() {
    pin_sensor("ptrace"); // these tests are about the RET_TRACE syscall mode under ptrace
    require_root("setuid and capability checks");
    // A setuid-root copy of id, run as nobody: euid 0 when setuid works.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let id = dir.path().join("id");
    std::fs::copy("/usr/bin/id", &id).unwrap();
    std::os::unix::fs::chown(&id, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&id, std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
    let script = format!(
        "grep NoNewPrivs: /proc/self/status; setpriv --reuid=65534 --regid=65534 --clear-groups {} -u",
        id.display()
    );
    // The same runwarden, started without CAP_SYS_ADMIN (root otherwise, so it can still trace).
    let run_as = |caps_dropped: bool, syscalls: &str| {
        let mut cmd = if caps_dropped {
            let mut c = Command::new("setpriv");
            c.arg("--bounding-set=-sys_admin").arg(runwarden());
            strip_config(&mut c);
            c
        } else {
            rw()
        };
        cmd.env("RUNWARDEN_WATCH", "off")
            .env("RUNWARDEN_SYSCALLS", syscalls)
            .args(["--", "sh", "-c", &script]);
        run(&mut cmd, TIMEOUT)
    };
    let with_admin = run_as(false, "default");
    with_admin.assert_code(0);
    assert_eq!(with_admin.stdout(), "NoNewPrivs:\t0\n0\n", "CAP_SYS_ADMIN: no no_new_privs, setuid works");
    let off = run_as(true, "off");
    assert_eq!(off.stdout(), "NoNewPrivs:\t0\n0\n", "mode off: setuid works");
    let on = run_as(true, "default");
    on.assert_code(0);
    assert_eq!(on.stdout(), "NoNewPrivs:\t1\n65534\n", "no_new_privs: the setuid bit gives nothing");
    assert!(on.stderr().contains("\"no_new_privs\":true"), "{}", on.stderr());
}

#[test]
fn a_filter_that_cannot_be_installed_fails_open_unless_required() {
    pin_sensor("ptrace"); // these tests are about the RET_TRACE syscall mode under ptrace
    let fx = fixture_str();
    // Under a filter refusing further filters: the workload runs without ours, connect is not ENOSYS.
    let mut cmd = Command::new(&fx);
    strip_config(&mut cmd);
    cmd.args(["deny-seccomp", "--"]).arg(runwarden()).args(["--", &fx, "connect", "1"]);
    // auto: no seccomp listener under that filter, so ptrace, whose syscall filter fails open.
    cmd.env("RUNWARDEN_SENSOR", "auto").env("RUNWARDEN_SYSCALLS", "connect").env("RUNWARDEN_WATCH", "off");
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert_eq!(out.stdout(), "connect -1 111\n");
    assert!(out.stderr().contains("syscall mode is off"), "{}", out.stderr());

    cmd.env_remove("RUNWARDEN_SENSOR").env("RUNWARDEN_TRACE", "require");
    let out = run(&mut cmd, TIMEOUT);
    assert_ne!(out.code(), Some(0));
    assert_eq!(out.stdout(), "", "the workload ran without the required filter");
    assert!(out.stderr().contains("RUNWARDEN_SYSCALLS"), "{}", out.stderr());

    // Without ptrace (switched off, or refused), the filter is not installed at all: RET_TRACE would
    // be ENOSYS with no tracer to take the stop.
    let mut cmd = rw();
    cmd.env_remove("RUNWARDEN_SENSOR")
        .env("RUNWARDEN_SYSCALLS", "connect")
        .env("RUNWARDEN_TRACE", "off")
        .env("RUNWARDEN_WATCH", "off");
    cmd.args(["--", "sh", "-c", &format!("{STATUS}; {fx} connect 1")]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert_eq!(out.stdout(), format!("{}connect -1 111\n", bare(STATUS)));
    assert!(out.stderr().contains("syscall mode is off: it needs ptrace"), "{}", out.stderr());

    let mut cmd = Command::new(&fx);
    strip_config(&mut cmd);
    // Neither ptrace nor a seccomp listener (which would carry the syscall mode instead).
    cmd.args(["deny-ptrace", "--", &fx, "deny-seccomp", "--"])
        .arg(runwarden())
        .args(["--", &fx, "connect", "1"]);
    cmd.env("RUNWARDEN_SENSOR", "auto").env("RUNWARDEN_SYSCALLS", "connect").env("RUNWARDEN_WATCH", "off");
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert_eq!(out.stdout(), "connect -1 111\n");
    assert!(out.stderr().contains("syscall mode is off"), "{}", out.stderr());
}

/// Runs `runwarden -- sh -c SCRIPT` as PID 1 of a gVisor sandbox (stderr sink: findings in the log).
fn in_gvisor(syscalls: &str, script: &str) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["120", "runsc", "--network=none", "do", "env", "RUNWARDEN_LOG=debug", "RUNWARDEN_WATCH=off"]);
    cmd.arg(format!("RUNWARDEN_SYSCALLS={syscalls}")).arg(runwarden()).args(["--", "sh", "-c", script]);
    let out = run(&mut cmd, std::time::Duration::from_secs(130));
    assert_ne!(out.code(), Some(124), "timed out under gVisor: {}", out.stderr());
    out
}

#[test]
fn gvisor_syscall_mode_finds_the_same_and_changes_nothing() {
    pin_sensor("ptrace"); // these tests are about the RET_TRACE syscall mode under ptrace
    let fx = fixture_str();
    // The connect goes to a closed port of the sandbox's own loopback.
    let script = format!("{STATUS}; {fx} connect 1; {fx} traceme; {fx} kmod; {fx} ptrace-attach");
    let off = in_gvisor("off", &script);
    let on = in_gvisor("default", &script);
    on.assert_code(0);
    assert!(off.stdout().contains("Seccomp:\t0"), "{}", off.stdout());
    assert!(on.stdout().contains("Seccomp:\t2"), "{}", on.stdout());
    let results = |o: &Output| {
        without_pids(&o.stdout()).lines().filter(|l| !l.contains(':')).map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(results(&on), results(&off));
    let logs = on.logs();
    let categories: Vec<&str> = logs.iter().filter_map(|v| v["finding"]["category"].as_str()).collect();
    assert!(categories.contains(&PTRACE) && categories.contains(&KMOD), "{categories:?}\n{}", on.stderr());
    let connect = syscall_events(&on).into_iter().find(|e| e["name"] == "connect").expect("connect event");
    assert_eq!(
        (connect["detail"]["address"].as_str(), connect["detail"]["port"].as_i64()),
        (Some("127.0.0.1"), Some(1))
    );
}

#[test]
fn a_refused_connect_to_an_ioc_address_is_found_only_by_the_syscall_mode() {
    pin_sensor("ptrace"); // these tests are about the RET_TRACE syscall mode under ptrace
                          // The connection never exists (refused), so the scanner cannot see it; the connect stop does.
    let policies = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(policies.path().join("ioc")).unwrap();
    std::fs::write(policies.path().join("ioc/ips.txt"), "127.0.0.4 # test C2\n").unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.4:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let script =
        format!("python3 -c \"import socket;s=socket.socket();print(s.connect_ex(('127.0.0.4',{closed})))\"");
    let dir = policies.path().display().to_string();
    let extra = [("RUNWARDEN_POLICIES", dir.as_str())];
    let (off, findings_off) = run_mode(None, &script, &extra);
    off.assert_code(0);
    assert!(of_category(&findings_off, "Command and Control: Connection to Known Bad Address").is_empty());
    let (on, findings) = run_mode(Some("connect"), &script, &extra);
    on.assert_code(0);
    assert_eq!(on.stdout(), off.stdout(), "the connect's result is the same");
    let f = of_category(&findings, "Command and Control: Connection to Known Bad Address");
    assert_eq!(f.len(), 1, "{findings:#?}");
    assert_eq!(f[0]["sourceProperties"]["sensor"], "seccomp");
    assert_eq!(f[0]["connections"][0]["destinationIp"], "127.0.0.4");
    assert_eq!(f[0]["connections"][0]["destinationPort"], closed);
    assert_eq!(f[0]["indicator"]["ipAddresses"], serde_json::json!(["127.0.0.4"]));
}
