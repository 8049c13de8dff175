//! The findings' resource on Cloud Run: service and revision from Cloud Run's environment, project,
//! region and instance id from the metadata server (a fake one on loopback here, through
//! GCE_METADATA_HOST as Google's libraries honour it), the image from RUNWARDEN_IMAGE. Outside Google
//! Cloud the metadata server is not asked and nothing is filled with placeholders.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use serde_json::Value;

/// A metadata server that answers only requests carrying `Metadata-Flavor: Google`; counts requests.
fn fake_metadata_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("");
            let body = match path {
                _ if !req.to_ascii_lowercase().contains("metadata-flavor: google") => None,
                "/computeMetadata/v1/project/project-id" => Some("acme-prod"),
                "/computeMetadata/v1/instance/region" => Some("projects/123456/regions/europe-west1"),
                "/computeMetadata/v1/instance/id" => Some("00bf4bf02d7f2a3b"),
                _ => None,
            };
            let resp = match body {
                Some(b) => {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}", b.len())
                }
                None => {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                }
            };
            let _ = conn.write_all(resp.as_bytes());
        }
    });
    (addr, hits)
}

fn run_with_env(env: &[(&str, &str)]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("findings.jsonl");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_SINKS", format!("file:{}", sink.display()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(["--", "sh", "-c", "echo aWQ= | base64 -d | sh >/dev/null"]);
    run(&mut cmd, TIMEOUT).assert_code(0);
    read_findings(&sink)
}

#[test]
fn cloud_run_resource_from_env_and_metadata_server() {
    let (host, hits) = fake_metadata_server();
    let image = "europe-docker.pkg.dev/acme-prod/app/shop@sha256:0123abcd";
    let findings = run_with_env(&[
        ("K_SERVICE", "shop"),
        ("K_REVISION", "shop-00007-xyz"),
        ("GCE_METADATA_HOST", &host),
        ("RUNWARDEN_IMAGE", image),
    ]);
    let f = findings.first().expect("a finding");
    let r = &f["resource"];
    assert_eq!(r["projectId"], "acme-prod");
    assert_eq!(r["location"], "europe-west1");
    assert_eq!(r["instanceId"], "00bf4bf02d7f2a3b");
    assert_eq!(r["service"], "shop");
    assert_eq!(r["revision"], "shop-00007-xyz");
    assert_eq!(r["type"], "run.googleapis.com/Service");
    assert_eq!(r["name"], "//run.googleapis.com/projects/acme-prod/locations/europe-west1/services/shop");
    assert!(r.get("image").is_none(), "the image is not a resource field");
    assert_eq!(f["containers"], serde_json::json!([{"name": "shop", "uri": image}]));
    assert_eq!(hits.load(Ordering::SeqCst), 3, "project, region and instance id, once each");
}

#[test]
fn outside_google_cloud_nothing_is_asked_or_invented() {
    let (_host, hits) = fake_metadata_server();
    let findings = run_with_env(&[]);
    let f = findings.first().expect("a finding");
    assert_eq!(f["resource"], serde_json::json!({}), "no placeholders: {}", f["resource"]);
    assert!(f.get("containers").is_none());
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[test]
fn a_malformed_image_value_is_refused() {
    let out = run(rw().env("RUNWARDEN_IMAGE", "two words").args(["--", "true"]), TIMEOUT);
    out.assert_code(2);
    assert!(out.stderr().contains("RUNWARDEN_IMAGE"), "{}", out.stderr());
}
