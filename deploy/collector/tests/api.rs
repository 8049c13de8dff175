//! The endpoint contract and the query API against SQLite and PostgreSQL: ingest, idempotent redelivery,
//! filters, pagination, counts, CSV, heartbeats and silent instances, malformed and oversized bodies.

mod common;

use common::*;
use serde_json::{json, Value};

fn ids(v: &Value) -> Vec<String> {
    v["findings"].as_array().unwrap().iter().map(|f| f["findingId"].as_str().unwrap().to_string()).collect()
}

#[test]
fn ingest_query_and_redelivery() {
    for db in databases() {
        let name = db.name;
        let c = collector_on(db);
        let a = finding("Reverse Shell", "CRITICAL", "api", "i-1", "2026-11-20T10:00:00.000001Z");
        let b = finding("Added Binary Executed", "LOW", "api", "i-2", "2026-11-21T10:00:00Z");
        let d = finding(
            "Execution: Program Run from Temporary Directory",
            "MEDIUM",
            "worker",
            "i-3",
            "2026-11-22T10:00:00Z",
        );
        let (st, resp) = post_json(&c, &json!({ "findings": [a, b, d] }), None);
        assert_eq!((st, &resp), (200, &json!({ "accepted": 3, "duplicates": 0 })), "{name}");

        // Redelivery after a lost response: the same ids are duplicates, the new one is accepted.
        let e = finding("Reverse Shell", "CRITICAL", "worker", "i-3", "2026-11-23T10:00:00Z");
        let (st, resp) = post_json(&c, &json!({ "findings": [a, b, e] }), None);
        assert_eq!((st, &resp), (200, &json!({ "accepted": 1, "duplicates": 2 })), "{name}");

        let (st, all) = get_json(&c, "/v1/findings");
        assert_eq!(st, 200, "{name}");
        assert_eq!(all["total"], 4, "{name}");
        // Newest first, stored exactly as sent.
        assert_eq!(
            ids(&all),
            [&e, &d, &b, &a].map(|f| f["findingId"].as_str().unwrap().to_string()),
            "{name}"
        );
        assert_eq!(all["findings"][3], a, "{name}");

        let count = |q: &str| get_json(&c, &format!("/v1/findings?{q}")).1["total"].as_i64().unwrap();
        assert_eq!(count("category=Reverse%20Shell"), 2, "{name}");
        assert_eq!(count("category=Reverse%20Shell&category=Added%20Binary%20Executed"), 3, "{name}");
        assert_eq!(count("severity=critical,low"), 3, "{name}");
        assert_eq!(count("service=worker"), 2, "{name}");
        assert_eq!(count("revision=api-00001-abc"), 2, "{name}");
        assert_eq!(count("instance=i-3"), 2, "{name}");
        assert_eq!(count("since=2026-11-21T10:00:00Z"), 3, "{name}");
        assert_eq!(count("since=2026-11-21T00:00:00Z&until=2026-11-22T10:00:00Z"), 1, "{name}");
        assert_eq!(count("q=PROGRAM%20RUN%20FROM"), 1, "{name}");
        assert_eq!(count("q=203.0.113.7"), 4, "{name}");
        // LIKE wildcards in the text are literal.
        assert_eq!(count("q=%25"), 0, "{name}");
        assert_eq!(count("service=none"), 0, "{name}");

        // Pagination.
        let (_, p1) = get_json(&c, "/v1/findings?limit=3");
        let (_, p2) = get_json(&c, "/v1/findings?limit=3&offset=3");
        assert_eq!(ids(&p1).len(), 3, "{name}");
        assert_eq!(ids(&p2), [a["findingId"].as_str().unwrap()], "{name}");
        assert_eq!(p2["offset"], 3);

        let id = a["findingId"].as_str().unwrap();
        assert_eq!(get_json(&c, &format!("/v1/findings/{id}")), (200, a.clone()), "{name}");
        assert_eq!(get_json(&c, "/v1/findings/nope").0, 404, "{name}");

        let (st, counts) = get_json(&c, "/v1/counts?service=api");
        assert_eq!(st, 200);
        assert_eq!(
            counts,
            json!({ "total": 2, "byCategory": { "Added Binary Executed": 1, "Reverse Shell": 1 }, "bySeverity": { "CRITICAL": 1, "LOW": 1 } }),
            "{name}"
        );

        // CSV export with the same filter.
        let resp = agent().get(&c.url("/v1/findings?format=csv&severity=CRITICAL")).call().unwrap();
        assert_eq!(resp.content_type(), "text/csv");
        let csv = resp.into_string().unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3, "{name}: {csv}");
        assert!(lines[0].starts_with("findingId,eventTime,severity,category"), "{csv}");
        assert!(
            lines[1].starts_with(&format!(
                "{},2026-11-23T10:00:00.000000Z,CRITICAL,Reverse Shell,worker",
                e["findingId"].as_str().unwrap()
            )),
            "{csv}"
        );
        assert!(lines[1].contains("/usr/bin/dash"), "{csv}");

        // Bad query parameters name themselves.
        for q in ["severity=SEVERE", "since=last%20week", "limit=0", "format=xml", "colour=red"] {
            let (st, body) = get_json(&c, &format!("/v1/findings?{q}"));
            assert_eq!(st, 400, "{name} {q}");
            assert!(body["error"].as_str().unwrap().contains(q.split('=').next().unwrap()), "{q}: {body}");
        }

        // Retention: findings whose event is older than the cutoff go.
        let deleted = c
            .block_on(
                c.app.store.purge(runwarden_collector::model::parse_time("2026-11-21T12:00:00Z").unwrap()),
            )
            .unwrap();
        assert_eq!(deleted, 2, "{name}");
        assert_eq!(count(""), 2, "{name}");
    }
}

#[test]
fn gzip_bodies_and_heartbeats() {
    for db in databases() {
        let name = db.name;
        let c = collector_on(db);
        // runwarden's sink: gzip, a batch carrying a heartbeat.
        let body = json!({ "findings": [finding("Reverse Shell", "CRITICAL", "api", "i-live", "2026-11-20T10:00:00Z")],
                           "heartbeat": heartbeat(Some("i-live"), "api", 60, false) });
        let (st, resp) = read(
            agent()
                .post(&c.url("/v1/findings"))
                .set("Content-Type", "application/json")
                .set("Content-Encoding", "gzip")
                .send_bytes(&gzip(body.to_string().as_bytes())),
        );
        assert_eq!(
            (st, resp),
            (200, json!({ "accepted": 1, "duplicates": 0, "heartbeat": "recorded" })),
            "{name}"
        );
        // The same batch again (a retry): nothing new.
        let (_, resp) = post_json(&c, &body, None);
        assert_eq!(resp, json!({ "accepted": 0, "duplicates": 1, "heartbeat": "duplicate" }), "{name}");

        // Heartbeat-only batches; one instance that will go silent (1 s interval), one that ended, and
        // one without an instance id (keyed by service/revision).
        for hb in [
            heartbeat(Some("i-quiet"), "api", 1, false),
            heartbeat(Some("i-done"), "api", 1, true),
            heartbeat(None, "local", 60, false),
        ] {
            let (st, resp) = post_json(&c, &json!({ "findings": [], "heartbeat": hb }), None);
            assert_eq!((st, &resp["heartbeat"]), (200, &json!("recorded")), "{name}");
        }
        let (st, resp) =
            post_json(&c, &json!({ "heartbeat": heartbeat(Some("i-live"), "api", 60, false) }), None);
        assert_eq!((st, &resp["heartbeat"]), (200, &json!("recorded")), "{name}: a batch may omit findings");
        std::thread::sleep(std::time::Duration::from_millis(2700));
        let (st, list) = get_json(&c, "/v1/instances");
        assert_eq!(st, 200);
        let status = |key: &str| {
            list["instances"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["instanceKey"] == key)
                .map(|i| i["status"].clone())
        };
        assert_eq!(status("i-live"), Some(json!("live")), "{name}: {list}");
        assert_eq!(status("i-quiet"), Some(json!("silent")), "{name}: {list}");
        assert_eq!(status("i-done"), Some(json!("ended")), "{name}: {list}");
        assert_eq!(status("local/local-00001-abc"), Some(json!("live")), "{name}: {list}");
        let i = list["instances"].as_array().unwrap().iter().find(|i| i["instanceKey"] == "i-live").unwrap();
        assert_eq!(
            (&i["sensor"], &i["counts"]["delivered"], &i["service"]),
            (&json!("ptrace"), &json!(2), &json!("api"))
        );
        let (_, silent) = get_json(&c, "/v1/instances?status=silent");
        assert_eq!(silent["instances"].as_array().unwrap().len(), 1, "{name}");
    }
}

#[test]
fn pages_escape_finding_text() {
    let c = collector_on(sqlite());
    let mut f = finding("Reverse Shell", "CRITICAL", "api", "i-1", "2026-11-20T10:00:00Z");
    f["description"] = json!("<script>alert('x')</script><img src=x onerror=alert(1)>");
    f["processes"][0]["args"] = json!(["sh", "-c", "\"><script>alert(2)</script>"]);
    assert_eq!(post_json(&c, &json!({ "findings": [f] }), None).0, 200);
    let id = f["findingId"].as_str().unwrap();
    for path in ["/findings".to_string(), format!("/findings/{id}"), format!("/findings/{id}?tab=json")] {
        let resp = agent().get(&c.url(&path)).call().unwrap();
        let csp = resp.header("content-security-policy").unwrap().to_string();
        assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        let html = resp.into_string().unwrap();
        assert!(!html.contains("<script") && !html.contains("<img"), "{path}: unescaped finding text");
        assert!(html.contains("&lt;script&gt;alert("), "{path}: the text is shown, escaped");
    }
}

#[test]
fn malformed_and_oversized_bodies_are_4xx_with_a_reason() {
    let db = sqlite();
    let mut config = runwarden_collector::config::CollectorConfig::local(&db.url);
    config.max_body_bytes = 64 << 10;
    config.max_decoded_bytes = 256 << 10;
    let c = Collector::start_with(config, db.dir);
    let post = |body: &[u8], ct: &str, enc: Option<&str>| {
        let mut req = agent().post(&c.url("/v1/findings")).set("Content-Type", ct);
        if let Some(e) = enc {
            req = req.set("Content-Encoding", e);
        }
        read(req.send_bytes(body))
    };
    let good = finding("Reverse Shell", "CRITICAL", "api", "i-1", "2026-11-20T10:00:00Z");
    let mut bad = good.clone();
    bad["findingId"] = json!("other");
    bad["eventTime"] = json!("yesterday");
    // (body, Content-Type, Content-Encoding, expected status, expected words in the reason)
    type Case<'a> = (Vec<u8>, &'a str, Option<&'a str>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (b"{\"findings\": [".to_vec(), "application/json", None, 400, "invalid JSON"),
        (b"not json".to_vec(), "application/json", None, 400, "invalid JSON"),
        (b"[]".to_vec(), "application/json", None, 400, "JSON object"),
        (b"{\"findings\": {}}".to_vec(), "application/json", None, 400, "must be an array"),
        (
            json!({ "findings": [good, bad] }).to_string().into_bytes(),
            "application/json",
            None,
            400,
            "findings[1].eventTime",
        ),
        (b"{}".to_vec(), "text/plain", None, 415, "Content-Type"),
        (b"{}".to_vec(), "application/json", Some("br"), 415, "Content-Encoding"),
        (b"{\"findings\": []}".to_vec(), "application/json", Some("gzip"), 400, "not gzip"),
        // 1 MiB of zeros gzips to about 1 KiB: small on the wire, over the inflated limit.
        (gzip(&vec![0u8; 1 << 20]), "application/json", Some("gzip"), 413, "COLLECTOR_MAX_DECODED"),
    ];
    for (body, ct, enc, status, reason) in cases {
        let (st, resp) = post(&body, ct, enc);
        assert_eq!(st, status, "{reason}: {resp}");
        assert!(resp["error"].as_str().is_some_and(|e| e.contains(reason)), "{reason}: {resp}");
    }
    // The bad finding's index and field are machine-readable, and nothing of that batch was stored.
    let (_, resp) = post(json!({ "findings": [good, bad] }).to_string().as_bytes(), "application/json", None);
    assert_eq!((&resp["index"], &resp["field"]), (&json!(1), &json!("eventTime")));
    assert_eq!(get_json(&c, "/v1/findings").1["total"], 0);
    // Too many findings in one request.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({ "findingId": i.to_string(), "category": "x", "severity": "LOW", "eventTime": "2026-11-20T10:00:00Z" }))
        .collect();
    let big = gzip(json!({ "findings": many }).to_string().as_bytes());
    let (st, resp) = post(&big, "application/json", Some("gzip"));
    assert_eq!(st, 400, "{resp}");
    assert!(resp["error"].as_str().unwrap().contains("at most 1000"), "{resp}");
    // Oversized bodies, declared (refused on the header, before reading) and chunked (refused once the
    // limit is crossed). Raw TCP: an HTTP client still writing when the 413 comes back sees a broken pipe.
    let declared = "POST /v1/findings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 70000\r\n\r\n";
    assert!(raw_exchange(&c, declared.as_bytes()).starts_with("HTTP/1.1 413"));
    let mut chunked = b"POST /v1/findings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..17 {
        chunked.extend_from_slice(b"1000\r\n");
        chunked.extend_from_slice(&[b' '; 0x1000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let resp = raw_exchange(&c, &chunked);
    assert!(resp.starts_with("HTTP/1.1 413") && resp.contains("COLLECTOR_MAX_BODY"), "{resp}");
}

fn raw_exchange(c: &Collector, request: &[u8]) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(c.base.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}
