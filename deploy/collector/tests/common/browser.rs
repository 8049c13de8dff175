//! A WebDriver session on headless Chromium (Debian `chromium`) through `chromedriver` (Debian
//! `chromium-driver`), for the browser tests. Under CI the browser must be there; run by hand without
//! it, a test says loudly that it skipped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{agent, read};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session on a chromedriver this test started (stopped on drop).
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
}

impl Browser {
    pub fn start() -> Option<Browser> {
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

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (st, v) = self.try_call(method, path, body);
        assert_eq!(st, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    /// The WebDriver answer, whatever its status.
    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let req = agent().request(method, &url);
        read(match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(&b.to_string()),
            None => req.call(),
        })
    }

    /// `op` on the element `css` finds, found again when the page changed between the find and the
    /// operation: a form's POST-redirect can replace the page under a test that polls it, and
    /// WebDriver then answers "stale element reference" (seen in CI on a busy machine). Up to 10 s.
    fn on_element(&self, css: &str, op: &str, body: Option<Value>) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.find_all(css);
            if let Some(e) = found.first() {
                let method = if body.is_some() { "POST" } else { "GET" };
                let (st, v) = self.try_call(method, &self.s(&format!("/element/{e}/{op}")), body.clone());
                if st == 200 {
                    return v["value"].clone();
                }
                let stale = v["value"]["error"] == "stale element reference";
                assert!(stale && Instant::now() < deadline, "{op} on {css}: {v}");
            } else {
                assert!(Instant::now() < deadline, "no element {css} on {}", self.url());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn s(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.call("GET", &self.s("/url"), None).as_str().unwrap().to_string()
    }

    /// Waits (up to 10 s) for a click's navigation to land on a URL `want` accepts: chromedriver may
    /// answer a click that submits a form before the new page is there.
    pub fn wait_url(&self, want: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let url = self.url();
            if want(&url) || std::time::Instant::now() > deadline {
                return url;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn find_all(&self, css: &str) -> Vec<String> {
        let v =
            self.call("POST", &self.s("/elements"), Some(json!({ "using": "css selector", "value": css })));
        v.as_array().unwrap().iter().map(|e| e[ELEMENT].as_str().unwrap().to_string()).collect()
    }

    pub fn find(&self, css: &str) -> String {
        self.find_all(css).into_iter().next().unwrap_or_else(|| panic!("no element {css} on {}", self.url()))
    }

    pub fn click(&self, css: &str) {
        self.on_element(css, "click", Some(json!({})));
    }

    /// Waits (up to 10 s) for an element to be on the page: a navigation that was still landing when
    /// the next command came may show the previous page for a moment.
    pub fn wait_for(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.find_all(css).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn type_text(&self, css: &str, text: &str) {
        self.on_element(css, "value", Some(json!({ "text": text })));
    }

    pub fn text(&self, css: &str) -> String {
        self.on_element(css, "text", None).as_str().unwrap().to_string()
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
