//! The HTTP sink end to end: the real runwarden binary, a workload that raises findings, and a small
//! HTTP server on 127.0.0.1 written here (std only) that answers from a script: 503s then 200, a hang
//! past the timeout, 400, 429 with Retry-After, falcosidekick's format, and no server at all (the
//! flush timeout, stderr, the spool delivered by the next run). Every wait is bounded.

mod common;
mod ship_support;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use serde_json::Value;
use ship_support::*;

#[test]
fn delivered_after_503s_with_the_same_ids_gzip_and_bearer() {
    let server = Server::start(|n| if n < 2 { Answer::Status(503) } else { Answer::Status(200) });
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let (mut cmd, file) = rw_with(&dir, &server.url);
    cmd.env("RUNWARDEN_TOKEN_FILE", &token).args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let want = file_ids(&file);
    assert!(!want.is_empty(), "the workload raised no findings:\n{}", out.stderr());
    let reqs = server.requests();
    assert!(reqs.len() >= 3, "{reqs:?}");
    // The retries carry the same findingIds as the refused first attempt.
    assert_eq!(ids_of(&reqs[0].body), ids_of(&reqs[1].body));
    assert_eq!(ids_of(&reqs[0].body), ids_of(&reqs[2].body));
    for r in &reqs {
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["content-encoding"], "gzip");
        assert_eq!(r.headers["authorization"], "Bearer s3cret-token");
    }
    let delivered = server.delivered();
    assert_no_duplicates(&delivered);
    assert_eq!(delivered.iter().collect::<HashSet<_>>(), want.iter().collect::<HashSet<_>>());
    let fin = finished(&out);
    assert_eq!(fin["delivered"], want.len() as u64);
    assert!(fin["retries"].as_u64().unwrap() >= 2, "{fin}");
    assert!(!out.stderr().contains("s3cret-token"), "the token was logged");
}

#[test]
fn google_id_token_from_the_metadata_server_renewed_on_401() {
    // Identity tokens by their own count: the same server also answers the findings' resource lookups.
    let issued = std::sync::atomic::AtomicUsize::new(0);
    let metadata = Server::start_with_line(move |_, line| {
        if !line.contains("/service-accounts/default/identity") {
            return Answer::Status(404);
        }
        let n = issued.fetch_add(1, Ordering::SeqCst);
        Answer::Text(if n == 0 { "id-token-1\n" } else { "id-token-2" })
    });
    let server = Server::start(|n| if n == 0 { Answer::Status(401) } else { Answer::Status(200) });
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &server.url);
    let meta_host = metadata.url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    cmd.env("RUNWARDEN_AUTH", "google")
        .env("GCE_METADATA_HOST", &meta_host)
        .args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    // The same server also answers the findings' resource lookups (project, region, instance id);
    // the identity-token requests are the ones this test is about.
    let asked: Vec<_> = metadata
        .requests()
        .into_iter()
        .filter(|r| r.line.contains("/service-accounts/default/identity"))
        .collect();
    assert_eq!(asked.len(), 2, "one fetch, one renewal on the 401: {asked:?}");
    let origin = server.url.trim_end_matches("/v1/findings").replace(':', "%3A").replace('/', "%2F");
    for r in &asked {
        assert_eq!(r.headers["metadata-flavor"], "Google");
        assert!(
            r.line.starts_with("GET /computeMetadata/v1/instance/service-accounts/default/identity?"),
            "{}",
            r.line
        );
        assert!(r.line.contains(&format!("audience={origin}")), "{} vs {origin}", r.line);
    }
    let reqs = server.requests();
    assert_eq!(reqs[0].headers["authorization"], "Bearer id-token-1");
    assert_eq!(reqs[1].headers["authorization"], "Bearer id-token-2");
    assert_eq!(ids_of(&reqs[0].body), ids_of(&reqs[1].body));
    assert_eq!(server.delivered().len(), file_ids(&file).len());
    assert!(!out.stderr().contains("id-token-"), "a token was logged");
}

#[test]
fn retry_after_is_honoured() {
    let server = Server::start(|n| if n == 0 { Answer::RetryAfter(429, 2) } else { Answer::Status(200) });
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &server.url);
    cmd.args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let reqs = server.requests();
    assert!(reqs.len() >= 2, "{reqs:?}");
    let gap = reqs[1].at - reqs[0].at;
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}, not after Retry-After: 2");
    let delivered = server.delivered();
    assert_no_duplicates(&delivered);
    assert_eq!(delivered.len(), file_ids(&file).len());
}

#[test]
fn a_hanging_endpoint_times_out_and_is_retried() {
    let server =
        Server::start(|n| if n == 0 { Answer::Hang(Duration::from_secs(8)) } else { Answer::Status(200) });
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &server.url);
    cmd.env("RUNWARDEN_HTTP_TIMEOUT", "300ms").args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let reqs = server.requests();
    assert!(reqs.len() >= 2, "{reqs:?}");
    assert!(reqs[1].at - reqs[0].at < Duration::from_secs(3), "the timeout did not apply");
    assert!(out.elapsed < Duration::from_secs(8), "runwarden waited for the hanging request");
    let delivered = server.delivered();
    assert_no_duplicates(&delivered);
    assert_eq!(delivered.len(), file_ids(&file).len());
}

#[test]
fn a_400_rejects_the_batch_once_logged_and_counted() {
    let server = Server::start(|_| Answer::Status(400));
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &server.url);
    cmd.args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let want = file_ids(&file);
    let sent: Vec<String> = server.requests().iter().flat_map(|r| ids_of(&r.body)).collect();
    assert_no_duplicates(&sent); // not retried
    assert_eq!(sent.len(), want.len());
    let fin = finished(&out);
    assert_eq!(fin["rejected"], want.len() as u64, "{fin}");
    assert_eq!(fin["retries"], 0);
    let rejected = out
        .logs()
        .into_iter()
        .find(|v| v["message"] == "the findings endpoint rejected a batch; it is not retried");
    let rejected = rejected.unwrap_or_else(|| panic!("no rejection logged:\n{}", out.stderr()));
    assert_eq!(rejected["status"], 400);
    assert_eq!(rejected["severity"], "ERROR");
}

/// The keys of falcosidekick's input, `types.FalcoPayload` (falcosecurity/falcosidekick,
/// types/types.go): `uuid`, `output`, `priority`, `rule`, `time`, `output_fields`, `source`, `tags`,
/// `hostname`. Other keys would be ignored by its decoder; none are sent.
const FALCO_KEYS: [&str; 9] =
    ["uuid", "output", "priority", "rule", "time", "output_fields", "source", "tags", "hostname"];

/// Falco's priority names, as falcosidekick's `types.Priority` parses them (types/priority.go: the
/// lower-cased name; anything else is the empty `Default` priority, which `Check()` refuses).
const FALCO_PRIORITIES: [&str; 8] =
    ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"];

/// Checks one event against falcosidekick's input rules, field by field, and against the finding it
/// came from. falcosidekick's `mainHandler` answers 400 unless the body decodes into `FalcoPayload`
/// and `FalcoPayload.Check()` holds (handlers.go, types/types.go): a known priority, a non-empty
/// rule, a non-zero `time` (Go's `time.Time` decodes RFC 3339 only), a non-empty `output_fields`.
fn assert_falcosidekick_accepts(e: &Value, finding: &Value) {
    let obj = e.as_object().unwrap_or_else(|| panic!("not a JSON object: {e}"));
    for k in obj.keys() {
        assert!(FALCO_KEYS.contains(&k.as_str()), "{k} is not a FalcoPayload field: {e}");
    }
    // uuid: a string (falcosidekick replaces it with its own; ours is the findingId).
    assert_eq!(e["uuid"], finding["findingId"], "{e}");
    // output: a non-empty string, in Falco's layout "HH:MM:SS.nnnnnnnnn: Priority text".
    let output = e["output"].as_str().unwrap_or_else(|| panic!("output is not a string: {e}"));
    let (clock, rest) = output.split_once(": ").unwrap_or_else(|| panic!("no time prefix: {output}"));
    assert_eq!(clock.len(), 18, "{output}");
    assert!(clock.chars().enumerate().all(|(i, c)| match i {
        2 | 5 => c == ':',
        8 => c == '.',
        _ => c.is_ascii_digit(),
    }));
    // priority: one of Falco's names (Informational, never Info), from the severity.
    let priority = e["priority"].as_str().unwrap_or_else(|| panic!("priority is not a string: {e}"));
    assert!(FALCO_PRIORITIES.contains(&priority), "{priority}");
    let want = match finding["severity"].as_str().unwrap() {
        "CRITICAL" => "Critical",
        "HIGH" => "Error",
        "MEDIUM" => "Warning",
        "LOW" => "Notice",
        other => panic!("severity {other}"),
    };
    assert_eq!(priority, want, "{e}");
    assert!(rest.starts_with(&format!("{priority} {}: ", finding["category"].as_str().unwrap())), "{output}");
    // rule: not empty; the category, so falcosidekick's per-rule routing and metrics use it.
    assert_eq!(e["rule"], finding["category"], "{e}");
    // time: RFC 3339 in UTC, not zero, the finding's eventTime.
    let time = e["time"].as_str().unwrap_or_else(|| panic!("time is not a string: {e}"));
    let parsed = humantime::parse_rfc3339(time).unwrap_or_else(|err| panic!("{time}: {err}"));
    assert!(parsed > std::time::UNIX_EPOCH, "{time}");
    assert_eq!(time, finding["eventTime"].as_str().unwrap());
    // output_fields: a non-empty map of scalars (Falco's own: strings and numbers).
    let fields = e["output_fields"].as_object().unwrap_or_else(|| panic!("no output_fields: {e}"));
    assert!(!fields.is_empty(), "{e}");
    for (k, v) in fields {
        assert!(v.is_string() || v.is_number(), "{k}={v} is not a scalar");
    }
    let nanos = parsed.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    assert_eq!(fields["evt.time"], nanos, "{e}");
    assert_eq!(fields["runwarden.finding_id"], finding["findingId"]);
    if let Some(p) = finding["processes"][0].as_object() {
        assert_eq!(fields["proc.pid"], p["pid"], "numeric, like Falco's");
        assert_eq!(fields["proc.name"], p["name"]);
    }
    // source: not empty (falcosidekick would say "syscalls" otherwise); tags: strings; hostname.
    assert_eq!(e["source"], "runwarden");
    let tags = e["tags"].as_array().unwrap_or_else(|| panic!("tags is not an array: {e}"));
    assert!(tags.iter().all(Value::is_string), "{e}");
    assert!(tags.contains(&Value::from("runwarden")));
    assert!(e["hostname"].as_str().is_some_and(|h| !h.is_empty()), "{e}");
}

#[test]
fn falco_format_is_what_falcosidekick_accepts_for_every_finding() {
    let server = Server::start(|_| Answer::Status(200));
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &format!("falco+{}", server.url));
    // Several rules and severities: piped base64 to a shell, a program run from a temporary directory
    // and from /dev/shm, netcat.
    let shm = format!("/dev/shm/rw-falco-{}", std::process::id());
    let tmp = dir.path().join("tool");
    let script = format!(
        "{WORKLOAD}; cp /bin/true {shm}; {shm}; rm -f {shm}; cp /bin/true {t}; {t} --version; \
         nc -h >/dev/null 2>&1; true",
        t = tmp.display()
    );
    cmd.env("RUNWARDEN_GZIP", "0").args(["--", "sh", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let findings = read_findings(&file);
    let categories: HashSet<&str> = findings.iter().map(|f| f["category"].as_str().unwrap()).collect();
    assert!(categories.len() >= 3, "too few kinds of findings to check: {categories:?}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), findings.len(), "one request per finding");
    for r in &reqs {
        assert!(!r.headers.contains_key("content-encoding"));
        assert_eq!(r.headers["content-type"], "application/json");
        let id = r.body["uuid"].as_str().unwrap_or_else(|| panic!("no uuid: {}", r.body));
        let finding = findings.iter().find(|f| f["findingId"] == id).expect("a finding of this run");
        assert_falcosidekick_accepts(&r.body, finding);
        assert!(r.body.get("heartbeat").is_none() && r.body.get("findings").is_none());
    }
}

#[test]
fn at_exit_undelivered_findings_go_to_stderr_within_the_flush_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &dead_url());
    cmd.env("RUNWARDEN_FLUSH_TIMEOUT", "1s").args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let want: HashSet<String> = file_ids(&file).into_iter().collect();
    assert!(!want.is_empty());
    let on_stderr: HashSet<String> = undelivered_ids(&out).into_iter().collect();
    assert_eq!(on_stderr, want, "stderr:\n{}", out.stderr());
    assert!(out.elapsed < Duration::from_secs(6), "took {:?}", out.elapsed);
    assert_eq!(finished(&out)["undelivered"], want.len() as u64);
}

#[test]
fn spooled_findings_are_delivered_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let url = dead_url();
    let (mut cmd, file) = rw_with(&dir, &url);
    cmd.env("RUNWARDEN_SPOOL_DIR", &spool)
        .env("RUNWARDEN_FLUSH_TIMEOUT", "1s")
        .args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let first: Vec<String> = file_ids(&file);
    assert!(!first.is_empty());
    assert!(finished(&out)["spooled"].as_u64().unwrap() >= first.len() as u64, "{}", out.stderr());

    // The endpoint is back, on the same address.
    let addr = url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    let server = Server::start_on(&addr, |_, _| Answer::Status(200));
    let mut cmd = rw();
    cmd.env("RUNWARDEN_SINKS", &url).env("RUNWARDEN_SPOOL_DIR", &spool).args(["--", "true"]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let delivered = server.delivered();
    assert_no_duplicates(&delivered);
    for id in &first {
        assert!(
            delivered.contains(id),
            "{id} was not delivered from the spool: {delivered:?}\n{}",
            out.stderr()
        );
    }
    let left: Vec<_> =
        walk(&spool).into_iter().filter(|p| p.extension().is_some_and(|e| e == "jsonl")).collect();
    assert!(left.is_empty(), "spool files left after delivery: {left:?}");
}

/// A CA and a server certificate for 127.0.0.1 signed by it (openssl), as PEM files in `dir`.
fn private_ca(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let ca = ["-x509", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=runwarden test CA"];
    openssl(&[&["req"], &ec[..], &ca[..]].concat());
    let csr = ["-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1"];
    openssl(&[&["req"], &ec[..], &csr[..]].concat());
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (dir.join("ca.pem"), dir.join("srv.pem"), dir.join("srv.key"))
}

#[test]
fn a_private_ca_is_trusted_with_runwarden_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(dir.path());
    let server = Server::start_tls(&cert, &key, |_| Answer::Status(200));
    assert!(server.url.starts_with("https://127.0.0.1:"));
    let (mut cmd, file) = rw_with(&dir, &server.url);
    cmd.env("RUNWARDEN_CA_FILE", &ca).args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let want = file_ids(&file);
    assert!(!want.is_empty());
    let delivered = server.delivered();
    assert_no_duplicates(&delivered);
    assert_eq!(
        delivered.iter().collect::<HashSet<_>>(),
        want.iter().collect::<HashSet<_>>(),
        "{}",
        out.stderr()
    );
    assert_eq!(finished(&out)["retries"], 0);

    // A CA file that holds no certificate (the key) refuses the start, naming the variable.
    let mut cmd = rw();
    cmd.env("RUNWARDEN_CA_FILE", dir.path().join("ca.key")).args(["--", "true"]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(2);
    assert!(
        out.stderr().contains("RUNWARDEN_CA_FILE") && out.stderr().contains("no PEM certificate"),
        "{}",
        out.stderr()
    );
}

#[test]
fn without_the_ca_file_tls_fails_clearly_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = private_ca(dir.path());
    let server = Server::start_tls(&cert, &key, |_| Answer::Status(200));
    let (mut cmd, file) = rw_with(&dir, &server.url);
    cmd.env("RUNWARDEN_FLUSH_TIMEOUT", "1s").args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(server.requests().is_empty(), "a request got through an unverified TLS connection");
    let failing = out
        .logs()
        .into_iter()
        .find(|v| v["message"] == "the findings endpoint is failing; retrying with backoff")
        .unwrap_or_else(|| panic!("no failure logged:\n{}", out.stderr()));
    let why = failing["error"].as_str().unwrap();
    assert!(why.contains("UnknownIssuer") && why.contains("RUNWARDEN_CA_FILE"), "{why}");
    let want: HashSet<String> = file_ids(&file).into_iter().collect();
    assert!(!want.is_empty());
    let on_stderr: HashSet<String> = undelivered_ids(&out).into_iter().collect();
    assert_eq!(on_stderr, want, "every finding is on stderr");
}

/// The stalled-endpoint case of issue 14: 40 findings over about 7 s while the endpoint answers 503
/// for 3 s, then holds every request until 11 s, fails what arrives in the next 2 s, and answers 200
/// from 13 s on; the flush deadline is 19 s after the start. Every finding reaches the endpoint
/// (a stalled request is overtaken by a new connection, and the flush budget goes to fresh attempts),
/// and none is left for stderr.
#[test]
fn a_stalled_endpoint_is_routed_around_and_every_finding_arrives() {
    let start = std::time::Instant::now();
    let server = Server::start(move |_| {
        let t = start.elapsed();
        let s = Duration::from_secs;
        if t < s(3) {
            Answer::Status(503)
        } else if t < s(11) {
            // Held until 11 s, then the connection is closed without an answer.
            Answer::Hang(s(11) - t)
        } else if t < s(13) {
            Answer::Status(503)
        } else {
            Answer::Status(200)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &server.url);
    // Each round a different command line (distinct findings, none folded by de-duplication).
    let workload = r#"i=0; while [ $i -lt 40 ]; do sh -c "echo aWQ= | base64 -d | sh >/dev/null; : round $i"; i=$((i + 1)); sleep 0.17; done"#;
    cmd.env("RUNWARDEN_FLUSH_TIMEOUT", "12s").args(["--", "sh", "-c", workload]);
    let out = run(&mut cmd, Duration::from_secs(60));
    out.assert_code(0);
    let want: HashSet<String> = file_ids(&file).into_iter().collect();
    assert!(want.len() >= 40, "the workload raised {} findings, not 40 or more", want.len());
    let delivered: HashSet<String> = server.delivered().into_iter().collect();
    let missing: Vec<&String> = want.difference(&delivered).collect();
    assert!(
        missing.is_empty(),
        "{} of {} findings never reached the endpoint (after {:?}):\n{}",
        missing.len(),
        want.len(),
        out.elapsed,
        out.stderr()
    );
    assert!(undelivered_ids(&out).is_empty(), "findings went to stderr:\n{}", out.stderr());
    let fin = finished(&out);
    assert_eq!(fin["undelivered"], 0, "{fin}");
    // While the first held request stalled, the batch went out again on new connections (without
    // that, one request would sit in the hold until 11 s).
    let held = server
        .requests()
        .iter()
        .filter(|r| (Duration::from_secs(3)..Duration::from_secs(11)).contains(&(r.at - start)))
        .count();
    assert!(held >= 2, "{held} request(s) during the 8 s hold: the stalled one was not routed around");
}
