//! Unit tests of `config`: each variable's values, accepted and refused.

use super::*;

#[test]
fn duration_past_the_maximum_is_refused_not_a_panic() {
    // Duration::from_secs_f64 panics past Duration::MAX; config::props::duration_never_panics covers it.
    assert_eq!(parse_duration("99999999999999999999999m"), None);
    assert_eq!(parse_duration("1".repeat(400).as_str()), None);
}

fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_vars(pairs.iter().copied())
}

#[test]
fn defaults() {
    let c = cfg(&[("PATH", "/bin"), ("HOME", "/root")]).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.grace, Duration::from_secs(3));
    assert!(c.env_capture.contains(&"LD_PRELOAD".to_string()));
    assert!(c.watch);
    assert_eq!(c.watch_root, PathBuf::from("/"));
}

#[test]
fn valid_values() {
    let c = cfg(&[
        ("RUNWARDEN_LOG", "DEBUG"),
        ("RUNWARDEN_TRACE", "require"),
        ("RUNWARDEN_SIGNAL_GROUP", "1"),
        ("RUNWARDEN_GRACE", "500ms"),
        ("RUNWARDEN_SCAN_INTERVAL", "2s"),
        ("RUNWARDEN_ENV_CAPTURE", "AWS_PROFILE, GOOGLE_APPLICATION_CREDENTIALS,LD_PRELOAD"),
    ])
    .unwrap();
    assert_eq!(c.log, LogLevel::Debug);
    assert_eq!(c.sensor, SensorSetting::Ptrace);
    assert!(c.signal_group);
    assert_eq!(c.grace, Duration::from_millis(500));
    assert_eq!(c.scan_interval, Duration::from_secs(2));
    assert!(c.env_capture.contains(&"AWS_PROFILE".to_string()));
    assert_eq!(c.env_capture.iter().filter(|e| *e == "LD_PRELOAD").count(), 1);
    let c = cfg(&[
        ("RUNWARDEN_SINKS", "stderr,file:/tmp/findings.jsonl"),
        ("RUNWARDEN_POLICIES", "/"),
        ("RUNWARDEN_MODE", "enforce"),
        ("RUNWARDEN_WATCH", "off"),
        ("RUNWARDEN_WATCH_ROOT", "/tmp"),
    ])
    .unwrap();
    assert_eq!(c.sinks, vec![SinkSpec::Stderr, SinkSpec::File("/tmp/findings.jsonl".into())]);
    assert_eq!(c.policies.as_deref(), Some(std::path::Path::new("/")));
    assert_eq!(c.mode, Mode::Enforce);
    assert!(!c.watch);
    assert_eq!(c.watch_root, PathBuf::from("/tmp"));
}

#[test]
fn unknown_names_are_refused_with_the_list() {
    let err = cfg(&[("RUNWARDEN_GARCE", "3s")]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("RUNWARDEN_GARCE"), "{msg}");
    assert!(msg.contains("RUNWARDEN_GRACE"), "{msg}");
}

#[test]
fn bad_values_name_the_variable_and_the_accepted_values() {
    for (name, value) in [
        ("RUNWARDEN_LOG", "loud"),
        ("RUNWARDEN_TRACE", "yes"),
        ("RUNWARDEN_SIGNAL_GROUP", "2"),
        ("RUNWARDEN_GRACE", "forever"),
        ("RUNWARDEN_GRACE", "61s"),
        ("RUNWARDEN_GRACE", "-1s"),
        ("RUNWARDEN_SCAN_INTERVAL", "1ms"),
        ("RUNWARDEN_SCAN_INTERVAL", ""),
        ("RUNWARDEN_ENV_CAPTURE", "GOOD,bad-name"),
        ("RUNWARDEN_SINKS", "stdout"),
        ("RUNWARDEN_SINKS", "file:relative.jsonl"),
        ("RUNWARDEN_SINKS", ""),
        ("RUNWARDEN_POLICIES", "/does/not/exist"),
        ("RUNWARDEN_POLICIES", "relative/dir"),
        ("RUNWARDEN_MODE", "block"),
        ("RUNWARDEN_WATCH", "1"),
        ("RUNWARDEN_WATCH_ROOT", "relative"),
        ("RUNWARDEN_WATCH_ROOT", "/does/not/exist"),
        ("RUNWARDEN_SINKS", "https://"),
        ("RUNWARDEN_SINKS", "stderr,ftp://x"),
        ("RUNWARDEN_TOKEN_FILE", "/does/not/exist"),
        ("RUNWARDEN_TOKEN_FILE", "relative"),
        ("RUNWARDEN_SPOOL_DIR", "relative/dir"),
        ("RUNWARDEN_SPOOL_DIR", "/proc/self/status"),
        ("RUNWARDEN_SPOOL_MAX", "1KiB"),
        ("RUNWARDEN_SPOOL_MAX", "lots"),
        ("RUNWARDEN_FLUSH_TIMEOUT", "61s"),
        ("RUNWARDEN_HTTP_TIMEOUT", "1ms"),
        ("RUNWARDEN_GZIP", "maybe"),
        ("RUNWARDEN_AUTH", "oauth"),
        ("RUNWARDEN_HEARTBEAT", "1s"),
        ("RUNWARDEN_HEARTBEAT", "never"),
        ("RUNWARDEN_HEARTBEAT", ""),
        ("RUNWARDEN_CA_FILE", "relative.pem"),
    ] {
        let err = cfg(&[(name, value)]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("{name}=")), "{msg}");
        assert!(msg.contains("expected"), "{msg}");
    }
}

#[test]
fn http_sinks_and_their_options() {
    let token = tempfile::NamedTempFile::new().unwrap();
    let token_path = token.path().to_str().unwrap();
    let c = cfg(&[
        ("RUNWARDEN_SINKS", "stderr,https://collector.example/v1/findings,falco+http://127.0.0.1:2801/"),
        ("RUNWARDEN_TOKEN_FILE", token_path),
        ("RUNWARDEN_SPOOL_DIR", "/var/spool/runwarden"),
        ("RUNWARDEN_SPOOL_MAX", "8MiB"),
        ("RUNWARDEN_FLUSH_TIMEOUT", "2s"),
        ("RUNWARDEN_HTTP_TIMEOUT", "500ms"),
        ("RUNWARDEN_GZIP", "0"),
    ])
    .unwrap();
    assert_eq!(c.sinks.len(), 3);
    let want = ShipOptions {
        token_file: Some(token.path().to_path_buf()),
        spool_dir: Some("/var/spool/runwarden".into()),
        spool_max: 8 << 20,
        flush_timeout: Duration::from_secs(2),
        timeout: Duration::from_millis(500),
        gzip: false,
        google_auth: false,
        ..ShipOptions::default()
    };
    assert_eq!(c.ship, want);
    assert!(cfg(&[("RUNWARDEN_AUTH", "google")]).unwrap().ship.google_auth);
    let both = cfg(&[("RUNWARDEN_AUTH", "google"), ("RUNWARDEN_TOKEN_FILE", token_path)]).unwrap_err();
    assert!(both.to_string().starts_with("RUNWARDEN_AUTH="), "{both}");
    for s in &c.sinks[1..] {
        match s {
            SinkSpec::Http(h) => assert_eq!(h.options, want),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(cfg(&[]).unwrap().ship.heartbeat, Some(Duration::from_secs(60)));
    assert_eq!(cfg(&[("RUNWARDEN_HEARTBEAT", "5s")]).unwrap().ship.heartbeat, Some(Duration::from_secs(5)));
    assert_eq!(cfg(&[("RUNWARDEN_HEARTBEAT", "off")]).unwrap().ship.heartbeat, None);
    for bad in ["/does/not/exist.pem", token_path] {
        let err = cfg(&[("RUNWARDEN_CA_FILE", bad)]).unwrap_err().to_string();
        assert!(err.starts_with("RUNWARDEN_CA_FILE=") && err.contains("cannot be used"), "{err}");
    }
    assert_eq!(parse_size("64MiB"), Some(64 << 20));
    assert_eq!(parse_size("512K"), Some(512 << 10));
    assert_eq!(parse_size("100000"), Some(100_000));
    assert_eq!(parse_size("1TB"), None);
    assert_eq!(parse_size("99999999999999999999G"), None);
}

#[test]
fn syscall_mode() {
    assert!(cfg(&[]).unwrap().syscalls.is_empty());
    let c = cfg(&[("RUNWARDEN_SYSCALLS", "ptrace, connect,ptrace")]).unwrap();
    assert_eq!(c.syscalls, vec!["ptrace", "connect"]);
    for bad in ["conect", "connect,execve"] {
        let msg = cfg(&[("RUNWARDEN_SYSCALLS", bad)]).unwrap_err().to_string();
        assert!(msg.starts_with(&format!("RUNWARDEN_SYSCALLS={bad:?}")) && msg.contains("keyctl"), "{msg}");
    }
    // The documented list is the supported table.
    let doc = expected("RUNWARDEN_SYSCALLS");
    assert!(crate::sys::seccomp::SYSCALLS.iter().all(|d| doc.contains(&format!(" {}", d.name))), "{doc}");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
    assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
    assert_eq!(parse_duration("2h"), None);
    assert_eq!(parse_duration("ms"), None);
}
