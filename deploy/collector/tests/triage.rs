//! Triage against SQLite and PostgreSQL: incident and finding states through the API with the audit
//! trail, mute rules that new findings honour until they end, who made a change, and the UI's form
//! posts refused without a matching CSRF cookie or from another site.

mod common;

use common::attacks::*;
use common::*;
use runwarden_collector::config::CollectorConfig;
use serde_json::{json, Value};

fn post(c: &Collector, path: &str, body: &Value) -> (u16, Value) {
    read(agent().post(&c.url(path)).set("Content-Type", "application/json").send_string(&body.to_string()))
}

fn total(c: &Collector, q: &str) -> i64 {
    get_json(c, &format!("/v1/findings?{q}")).1["total"].as_i64().unwrap()
}

#[test]
fn states_audit_and_mutes() {
    for db in databases() {
        let name = db.name;
        let c = collector_on(db);
        assert_eq!(post_json(&c, &json!({ "findings": demo("i-1", 0) }), None).0, 200);
        let inc = get_json(&c, "/v1/incidents").1["incidents"][0].clone();
        assert_eq!(inc["state"], "ACTIVE", "{name}");
        let id = inc["incidentId"].as_str().unwrap();

        // The incident's state is its findings' state; each change is audited with who and the note.
        let (st, v) = post(
            &c,
            &format!("/v1/incidents/{id}/state"),
            &json!({ "state": "acknowledged", "note": "on it" }),
        );
        assert_eq!(st, 200, "{name}: {v}");
        assert_eq!(
            (v["previousState"].as_str(), v["findings"].as_array().unwrap().len()),
            (Some("ACTIVE"), 5)
        );
        assert_eq!(total(&c, "state=ACKNOWLEDGED"), 5, "{name}");
        assert_eq!(total(&c, "state=ACTIVE"), 0, "{name}");
        assert_eq!(get_json(&c, "/v1/incidents?state=ACKNOWLEDGED").1["total"], 1, "{name}");
        let f0 = v["findings"][0].as_str().unwrap().to_string();
        let (st, v) = post(
            &c,
            &format!("/v1/findings/{f0}/state"),
            &json!({ "state": "RESOLVED", "note": "false alarm" }),
        );
        assert_eq!((st, v["previousState"].as_str()), (200, Some("ACKNOWLEDGED")), "{name}");
        let (_, audit) = get_json(&c, &format!("/v1/audit?kind=finding&id={f0}"));
        let rows = audit["audit"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{name}: {audit}");
        assert_eq!(
            (rows[0]["newState"].as_str(), rows[0]["note"].as_str()),
            (Some("ACKNOWLEDGED"), Some("on it"))
        );
        assert_eq!(
            (rows[1]["oldState"].as_str(), rows[1]["newState"].as_str()),
            (Some("ACKNOWLEDGED"), Some("RESOLVED"))
        );
        assert_eq!(rows[1]["actor"], "anonymous", "{name}");
        let (_, audit) = get_json(&c, &format!("/v1/audit?kind=incident&id={id}"));
        assert_eq!(audit["audit"].as_array().unwrap().len(), 1, "{name}");

        // Bad requests: unknown state, unknown finding, a body that is not JSON (what a form would send).
        assert_eq!(post(&c, &format!("/v1/findings/{f0}/state"), &json!({ "state": "INACTIVE" })).0, 400);
        assert_eq!(post(&c, "/v1/findings/nope/state", &json!({ "state": "RESOLVED" })).0, 404);
        let form = agent()
            .post(&c.url(&format!("/v1/findings/{f0}/state")))
            .set("Content-Type", "application/x-www-form-urlencoded")
            .send_string("state=MUTED");
        assert_eq!(read(form).0, 415, "{name}");
        assert_eq!(
            read(agent().post(&c.url("/v1/mutes/x/end")).set("Content-Type", "text/plain").send_string("{}"))
                .0,
            415
        );

        // A mute rule: new findings that match arrive MUTED; others and older ones do not change.
        let (st, rule) = post(
            &c,
            "/v1/mutes",
            &json!({ "service": "worker", "category": "Added Binary Executed", "expires": "1h", "note": "plugin installs" }),
        );
        assert_eq!(st, 201, "{name}: {rule}");
        assert_eq!(rule["inForce"], true);
        let muted = finding("Added Binary Executed", "LOW", "worker", "i-7", "2026-11-21T10:00:00Z");
        let other_service = finding("Added Binary Executed", "LOW", "api", "i-8", "2026-11-21T10:00:00Z");
        let other_category = finding("Reverse Shell", "CRITICAL", "worker", "i-7", "2026-11-21T10:00:01Z");
        assert_eq!(
            post_json(&c, &json!({ "findings": [muted, other_service, other_category] }), None).0,
            200
        );
        assert_eq!(total(&c, "state=MUTED"), 1, "{name}");
        let mid = muted["findingId"].as_str().unwrap();
        let (_, audit) = get_json(&c, &format!("/v1/audit?kind=finding&id={mid}"));
        let mute_id = rule["muteId"].as_str().unwrap();
        assert_eq!(audit["audit"][0]["actor"], format!("mute rule {mute_id}"), "{name}");
        assert_eq!(audit["audit"][0]["note"], "plugin installs");
        // Its incident (opened by the muted finding) is muted too.
        assert_eq!(get_json(&c, "/v1/incidents?instance=i-7&state=MUTED").1["total"], 1, "{name}");

        // Ended: the next matching finding is not muted; the rule is still listed, not in force.
        let (st, _) = post(&c, &format!("/v1/mutes/{mute_id}/end"), &json!({}));
        assert_eq!(st, 200);
        assert_eq!(post(&c, &format!("/v1/mutes/{mute_id}/end"), &json!({})).0, 404, "already ended");
        let after = finding("Added Binary Executed", "LOW", "worker", "i-7", "2026-11-21T10:05:00Z");
        assert_eq!(post_json(&c, &json!({ "findings": [after] }), None).0, 200);
        assert_eq!(total(&c, "state=MUTED"), 1, "{name}");
        let (_, mutes) = get_json(&c, "/v1/mutes");
        assert_eq!(mutes["mutes"][0]["inForce"], false, "{name}");
        // A rule must have a condition and a future expiry.
        assert_eq!(post(&c, "/v1/mutes", &json!({ "expires": "1h" })).0, 400);
        assert_eq!(
            post(&c, "/v1/mutes", &json!({ "service": "api", "expires": "2020-01-01T00:00:00Z" })).0,
            400
        );
    }
}

#[test]
fn who_changed_it_and_csrf() {
    const TOKEN: &str = "triage-token-0123456789";
    let db = sqlite();
    let mut config = CollectorConfig::local(&db.url);
    config.open = false;
    config.tokens = vec![TOKEN.to_string()];
    config.read_auth = runwarden_collector::config::ReadAuth::Ingest;
    let c = Collector::start_with(config, db.dir);
    let f = finding("Reverse Shell", "CRITICAL", "api", "i-1", "2026-11-20T10:00:00Z");
    assert_eq!(post_json(&c, &json!({ "findings": [f] }), Some(TOKEN)).0, 200);
    let id = f["findingId"].as_str().unwrap();
    let basic = format!("Basic {}", base64_encode(&format!("alice:{TOKEN}")));

    // No credentials: no change.
    assert_eq!(post(&c, &format!("/v1/findings/{id}/state"), &json!({ "state": "RESOLVED" })).0, 401);
    // The browser's Basic user name is kept with the token's number.
    let form = |cookie: Option<&str>, token: &str, site: Option<&str>| {
        let no_redirects = ureq::AgentBuilder::new().redirects(0).build();
        let mut r = no_redirects
            .post(&c.url(&format!("/findings/{id}/state")))
            .set("Authorization", &basic)
            .set("Content-Type", "application/x-www-form-urlencoded");
        if let Some(ck) = cookie {
            r = r.set("Cookie", &format!("rw_csrf={ck}"));
        }
        if let Some(s) = site {
            r = r.set("Sec-Fetch-Site", s);
        }
        read(r.send_string(&format!("csrf={token}&state=ACKNOWLEDGED&note=seen")))
    };
    let t = "0a".repeat(32);
    assert_eq!(form(None, &t, None).0, 403, "no cookie");
    assert_eq!(form(Some(&"0b".repeat(32)), &t, None).0, 403, "cookie and field differ");
    assert_eq!(form(Some(&t), &t, Some("cross-site")).0, 403, "another site's form");
    let (st, page) = form(Some(&t), &t, Some("same-origin"));
    assert_eq!(st, 303, "back to the finding page: {page}");
    let (_, audit) = read(
        agent().get(&c.url(&format!("/v1/audit?kind=finding&id={id}"))).set("Authorization", &basic).call(),
    );
    assert_eq!(audit["audit"][0]["actor"], "alice via token #0", "{audit}");
    assert_eq!(audit["audit"][0]["newState"], "ACKNOWLEDGED");
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}
