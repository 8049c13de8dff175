//! Finding text is attacker text: findings whose category, description, arguments, paths, names,
//! script, service, rule and id hold HTML, quotes and control characters are stored exactly (SQLite and
//! PostgreSQL) and shown as text on every page in a real browser (headless Chromium): no element, no
//! script, no dialog comes out of them.

mod common;

use common::browser::Browser;
use common::*;
use serde_json::{json, Value};

/// Markup that would make elements (and run script, were the CSP not there) if it reached the page.
const HTML: &str = "<img src=x onerror=alert(1)><b class=\"injected\">x</b><script>alert(2)</script>";
/// Quotes that would leave an attribute, and a javascript: URL.
const ATTR: &str = "\" onmouseover=\"alert(3)\" x='";
/// Control characters (NUL, BEL, ESC, CR), a line separator and a right-to-left override.
const CONTROL: &str = "a\u{0}b\u{7}c\u{1b}[31md\re\u{2028}f\u{202e}g";

fn hostile(id: &str) -> Value {
    let mut f = finding(
        &format!("Reverse Shell {HTML}"),
        "CRITICAL",
        &format!("api{ATTR}"),
        "i-1",
        "2026-11-20T10:00:00Z",
    );
    f["findingId"] = json!(id);
    f["description"] = json!(format!("{HTML} {ATTR} {CONTROL}"));
    f["processes"][0]["name"] = json!(HTML);
    f["processes"][0]["args"] = json!(["/bin/sh", "-c", HTML, ATTR, CONTROL]);
    f["processes"][0]["binary"]["path"] = json!(format!("/tmp/{HTML}"));
    f["processes"][0]["script"]["contents"] =
        json!(format!("{HTML}\n{CONTROL}\n</pre><b class=\"injected\">"));
    f["processes"][0]["stdio"] = json!({ "stdin": HTML });
    f["ancestors"][0]["args"] = json!([ATTR, HTML]);
    f["connections"][0]["destinationIp"] = json!(HTML);
    f["files"] = json!([{ "path": HTML, "sha256": ATTR, "operation": CONTROL }]);
    f["rule"]["id"] = json!(format!("rule{ATTR}"));
    f["externalUri"] = json!("javascript:alert(4)");
    f["indicator"] =
        json!({ "domains": [HTML], "signatures": [{ "yaraRuleSignature": { "yaraRule": HTML } }] });
    f
}

const ID: &str = "id\"><img src=x onerror=alert(5)>'";

#[test]
fn stored_exactly() {
    for db in databases() {
        let name = db.name;
        let c = collector_on(db);
        let f = hostile(ID);
        let (st, v) = post_json(&c, &json!({ "findings": [f] }), None);
        assert_eq!(st, 200, "{name}: {v}");
        let (st, all) = get_json(&c, "/v1/findings");
        assert_eq!(st, 200, "{name}");
        assert_eq!(all["findings"][0], f, "{name}: as received, control characters included");
        let (_, inc) = get_json(&c, "/v1/incidents");
        assert_eq!(inc["total"], 1, "{name}");
        assert_eq!(get_json(&c, "/v1/findings?q=%1B%5B31m").1["total"], 1, "{name}: searchable");
    }
}

/// No element made from the findings' text, and no JavaScript dialog.
fn assert_inert(b: &Browser, page: &str) {
    for css in ["img", "script", "b.injected", "[onerror]", "[onmouseover]", "a[href^='javascript']"] {
        assert!(b.find_all(css).is_empty(), "{page}: {css} made from finding text");
    }
    let alert = agent().get(&format!("{}{}", b.base(), b.s("/alert/text"))).call();
    assert!(matches!(alert, Err(ureq::Error::Status(404, _))), "{page}: a dialog is open");
}

#[test]
fn pages_show_it_as_text() {
    let Some(browser) = Browser::start() else { return };
    let c = collector_on(sqlite());
    let f = hostile(ID);
    let beat = heartbeat(Some(&format!("i-1{HTML}")), &format!("api{ATTR}"), 60, false);
    assert_eq!(post_json(&c, &json!({ "findings": [f], "heartbeat": beat }), None).0, 200);
    let mute = json!({ "category": HTML, "text": ATTR, "expires": "1d", "note": HTML });
    let (st, _) = read(
        agent()
            .post(&c.url("/v1/mutes"))
            .set("Content-Type", "application/json")
            .send_string(&mute.to_string()),
    );
    assert_eq!(st, 201);

    browser.goto(&c.url("/findings"));
    assert_inert(&browser, "list");
    assert_eq!(browser.text("#findings a.finding"), format!("Reverse Shell {HTML}"));
    assert!(browser.text("#findings td.desc").contains(HTML));

    browser.click("#findings a.finding");
    browser.wait_for("#summary");
    assert_inert(&browser, "finding");
    assert!(browser.text("#summary").contains(&format!("{HTML} {ATTR}")));
    assert!(browser.text("#process-tree").contains(HTML));
    assert!(browser.text("#script").contains("</pre><b class=\"injected\">"));
    assert!(
        browser.text("#virustotal").starts_with("https://www.virustotal.com/"),
        "not the javascript: URI"
    );

    browser.click("#tab-json");
    browser.wait_for("#json-body");
    assert_inert(&browser, "JSON tab");
    let shown: Value = serde_json::from_str(&browser.text("#json-body")).expect("the JSON tab shows JSON");
    assert_eq!(shown["description"].as_str().unwrap().split(' ').next(), Some("<img"));

    for (path, what) in [("/incidents", "incidents"), ("/trends?window=30d", "trends")] {
        browser.goto(&c.url(path));
        assert_inert(&browser, what);
    }
    browser.goto(&c.url("/instances"));
    assert_inert(&browser, "instances");
    assert!(browser.text("#instances").contains(&format!("i-1{HTML}")));
    browser.goto(&c.url("/mutes"));
    assert_inert(&browser, "mutes");
    assert!(browser.text("#mutes").contains(HTML));
    browser.goto(&c.url("/incidents"));
    browser.click("#incidents a.incident");
    browser.wait_for("#timeline");
    assert_inert(&browser, "incident");
    assert!(browser.text("#timeline").contains(HTML));
    assert!(browser.text("#incident-categories").contains(HTML));
}
