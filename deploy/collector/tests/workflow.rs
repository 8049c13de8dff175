//! The analyst's workflow in a real browser (headless Chromium over WebDriver): the README demo's
//! findings are one incident; the list switches between findings and incidents; the incident page shows
//! the timeline, and each finding links back to its incident; the incident is acknowledged through its
//! form (state and history shown), a finding's "mute findings like this" makes a rule on /mutes that
//! the next such finding honours; the trends page and the list draw the findings as SVG bars.

mod common;

use common::attacks::*;
use common::browser::Browser;
use common::*;
use serde_json::json;

#[test]
fn the_demo_is_one_incident_with_a_timeline() {
    let Some(browser) = Browser::start() else { return };
    let c = collector_on(sqlite());
    let findings = demo("i-1", 0);
    assert_eq!(post_json(&c, &json!({ "findings": findings }), None).0, 200);

    browser.goto(&c.url("/findings"));
    assert_eq!(browser.find_all("#findings a.finding").len(), 5);
    browser.click("#view-incidents");
    browser.wait_url(|u| u.ends_with("/incidents"));
    assert_eq!(browser.find_all("#incidents a.incident").len(), 1);
    assert_eq!(browser.text("#total"), "1");
    assert_eq!(browser.text("#incidents td.count"), "5");

    browser.click("#incidents a.incident");
    let incident_url = browser.wait_url(|u| u.contains("/incidents/"));
    assert_eq!(browser.text("#incident-severity"), "CRITICAL");
    let events = browser.find_all("#timeline li.event");
    assert_eq!(events.len(), 5);
    let timeline = browser.text("#timeline");
    let base64 = timeline.find("Base64").expect("base64 in the timeline");
    let shm = timeline.find("/dev/shm").expect("/dev/shm in the timeline");
    assert!(base64 < shm, "oldest first: {timeline}");
    assert!(timeline.contains("[11] /usr/bin/dash: /bin/sh -c curl"), "{timeline}");

    // A finding of the timeline links back to its incident.
    browser.click("#timeline a.finding");
    browser.wait_url(|u| u.contains("/findings/"));
    browser.click("#incident-link a");
    let url = browser.wait_url(|u| u.contains("/incidents/"));
    assert!(url.contains("/incidents/"), "{url}");

    // Acknowledge the incident through its form, with a note: state and history on the page.
    browser.goto(&incident_url);
    browser.wait_for("#incident-state");
    assert_eq!(browser.text("#incident-state"), "ACTIVE");
    browser.click("#t-state option:nth-child(2)");
    browser.type_text("#t-note", "looking into it");
    browser.click("#t-apply");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while browser.text("#incident-state") != "ACKNOWLEDGED" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(browser.text("#incident-state"), "ACKNOWLEDGED");
    let history = browser.text("#audit");
    assert!(history.contains("ACTIVE → ACKNOWLEDGED") && history.contains("looking into it"), "{history}");
    let (_, all) = get_json(&c, "/v1/findings?state=ACKNOWLEDGED");
    assert_eq!(all["total"], 5, "the incident's findings follow it");

    // Mute findings like the added binary (its category and service prefilled) for 7 days.
    let added = findings.iter().find(|f| f["category"] == "Added Binary Executed").unwrap();
    browser.goto(&c.url(&format!("/findings/{}", added["findingId"].as_str().unwrap())));
    browser.click("#mute-like-this summary");
    browser.type_text("#mute-form input[name='note']", "our plugin installer");
    browser.click("#m-apply");
    browser.wait_url(|u| u.ends_with("/mutes"));
    assert_eq!(browser.find_all("#mutes tr.mute-active").len(), 1);
    assert!(browser.text("#mutes").contains("our plugin installer"));
    let next = finding("Added Binary Executed", "LOW", "api", "i-3", "2026-11-20T12:00:00Z");
    assert_eq!(post_json(&c, &json!({ "findings": [next] }), None).0, 200);
    browser.goto(&c.url(&format!("/findings/{}", next["findingId"].as_str().unwrap())));
    assert_eq!(browser.text("#state"), "MUTED");
    assert!(browser.text("#audit").contains("mute rule"), "{}", browser.text("#audit"));

    // End the rule from the browser.
    browser.goto(&c.url("/mutes"));
    browser.click("#mutes button.end");
    browser.wait_url(|u| u.ends_with("/mutes"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while browser.find_all("#mutes tr.mute-expired").is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(browser.find_all("#mutes tr.mute-expired").len(), 1);

    // Trends: SVG bars by severity and category for the window, the service's own, the list's chart.
    browser.goto(&c.url("/trends?window=30d"));
    assert_eq!(browser.text("#trend-total"), "6");
    assert!(browser.find_all("#chart-severity rect.bar").len() >= 4, "one segment per severity");
    assert!(!browser.find_all("#chart-category rect.bar").is_empty());
    browser.click("#top-services a");
    browser.wait_url(|u| u.contains("service=api"));
    assert_eq!(browser.text("#trend-service"), "api");
    browser.goto(&c.url("/findings?since=30d"));
    assert!(!browser.find_all("#list-trend svg rect.bar").is_empty());
}
