//! The image baseline end to end: `runwarden baseline` records an image's executables and libraries,
//! and at run time a program that is not in it (added) or differs from it (modified) raises
//! "Added Binary Executed", while the image's own programs (builtin) stay quiet.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use serde_json::Value;

fn sha256(path: &str) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

#[test]
fn baseline_command_records_executables_and_libraries() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("usr/bin")).unwrap();
    std::fs::create_dir_all(r.join("usr/lib")).unwrap();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("usr/bin/app"), b"#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(r.join("usr/bin/app"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(r.join("usr/lib/libapp.so.1"), b"\x7fELF").unwrap();
    std::fs::write(r.join("etc/app.conf"), b"x=1").unwrap();
    let out_path = r.join("etc/runwarden/baseline.json");
    let out =
        run(rw().args(["baseline", "--output", out_path.to_str().unwrap(), r.to_str().unwrap()]), TIMEOUT);
    out.assert_code(0);
    assert!(out.stdout().starts_with("baseline: 2 files under"), "{}", out.stdout());
    let b: Value = serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    assert_eq!(b["version"], 1);
    let files = b["files"].as_object().unwrap();
    assert_eq!(files.keys().collect::<Vec<_>>(), vec!["/usr/bin/app", "/usr/lib/libapp.so.1"]);
    assert_eq!(files["/usr/bin/app"]["mode"], 0o755);
    assert_eq!(files["/usr/bin/app"]["sha256"], sha256(r.join("usr/bin/app").to_str().unwrap()));

    let bad = run(rw().args(["baseline", "--output"]), TIMEOUT);
    bad.assert_code(2);
}

#[test]
fn added_and_modified_programs_raise_drift_findings() {
    let dir = tempfile::tempdir().unwrap();
    // A baseline of this "image": dash and true as they are, ls with other contents (modified).
    let dash = std::fs::canonicalize("/bin/sh").unwrap().display().to_string();
    let t = std::fs::canonicalize("/bin/true").unwrap().display().to_string();
    let ls = std::fs::canonicalize("/bin/ls").unwrap().display().to_string();
    let baseline = serde_json::json!({
        "version": 1, "created": "2026-01-01T00:00:00Z", "root": "/",
        "files": {
            &dash: {"sha256": sha256(&dash), "size": 1, "mode": 493},
            &t: {"sha256": sha256(&t), "size": 1, "mode": 493},
            &ls: {"sha256": "0".repeat(64), "size": 1, "mode": 493},
        }
    });
    let bpath = dir.path().join("baseline.json");
    std::fs::write(&bpath, baseline.to_string()).unwrap();
    let sink = dir.path().join("findings.jsonl");
    let dropped = dir.path().join("dropped");
    let script = format!("{t}; {ls} / >/dev/null; cp {t} {d} && {d}", d = dropped.display());
    let mut cmd = rw();
    cmd.env("RUNWARDEN_BASELINE", &bpath)
        .env("RUNWARDEN_SINKS", format!("file:{}", sink.display()))
        .env("RUNWARDEN_LOG", "debug")
        .args(["--", "sh", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(out.stderr().contains("image baseline loaded"), "{}", out.stderr());
    let findings: Vec<Value> = read_findings(&sink);
    let drift: Vec<(String, String)> = findings
        .iter()
        .filter(|f| f["category"] == "Added Binary Executed")
        .map(|f| {
            let path = f["processes"][0]["binary"]["path"].as_str().unwrap().to_string();
            let desc = f["description"].as_str().unwrap().to_string();
            (path, desc)
        })
        .collect();
    assert!(drift.iter().any(|(p, d)| p == &ls && d.contains("(modified)")), "{drift:?}");
    assert!(
        drift.iter().any(|(p, d)| p == &dropped.display().to_string() && d.contains("(added)")),
        "{drift:?}"
    );
    assert!(!drift.iter().any(|(p, _)| p == &t || p == &dash), "builtin programs raised drift: {drift:?}");
}

#[test]
fn a_missing_baseline_file_is_refused_at_start() {
    let marker = tempfile::tempdir().unwrap().path().join("ran");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_BASELINE", "/does/not/exist.json").args(["--", "touch", marker.to_str().unwrap()]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(2);
    assert!(out.stderr().contains("RUNWARDEN_BASELINE"), "{}", out.stderr());
    assert!(!marker.exists());
}

/// Signature-marked programs, judged against the baseline: one the image ships (built in), one that
/// replaced an image file (modified).
#[test]
fn malicious_programs_are_named_by_where_they_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let miner_strings = b"xmrig 6.21 --donate-level 1 -o stratum+tcp://pool.example:3333";
    let make = |name: &str| {
        let p = dir.path().join(name);
        let mut data = std::fs::read("/bin/true").unwrap();
        data.extend_from_slice(miner_strings);
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.display().to_string()
    };
    let shipped = make("shipped-miner");
    let replaced = make("replaced-tool");
    let dash = std::fs::canonicalize("/bin/sh").unwrap().display().to_string();
    let baseline = serde_json::json!({
        "version": 1, "created": "2026-01-01T00:00:00Z", "root": "/",
        "files": {
            &dash: {"sha256": sha256(&dash), "size": 1, "mode": 493},
            &shipped: {"sha256": sha256(&shipped), "size": 1, "mode": 493},
            &replaced: {"sha256": "1".repeat(64), "size": 1, "mode": 493},
        }
    });
    let bpath = dir.path().join("baseline.json");
    std::fs::write(&bpath, baseline.to_string()).unwrap();
    let sink = dir.path().join("findings.jsonl");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_BASELINE", &bpath).env("RUNWARDEN_SINKS", format!("file:{}", sink.display())).args([
        "--",
        "sh",
        "-c",
        &format!("{shipped}; {replaced}"),
    ]);
    run(&mut cmd, TIMEOUT).assert_code(0);
    let findings: Vec<Value> = read_findings(&sink);
    let cat_of = |path: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["processes"][0]["binary"]["path"] == path)
            .filter_map(|f| f["category"].as_str().map(str::to_string))
            .collect()
    };
    assert!(
        cat_of(&shipped).contains(&"Execution: Built in Malicious Binary Executed".to_string()),
        "{findings:#?}"
    );
    assert!(
        cat_of(&replaced).contains(&"Execution: Modified Malicious Binary Executed".to_string()),
        "{findings:#?}"
    );
}
