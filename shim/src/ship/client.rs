//! One request of the HTTP(S) sink: the client (kept-alive connections, timeouts, no redirects, the
//! private CA), the bearer token file, and one POST with what it came back with, in words for the log.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use super::endpoint::HttpSpec;
use super::retry::{self, AttemptOutcome};

/// The bearer token in `RUNWARDEN_TOKEN_FILE`, without surrounding blanks.
pub fn read_token(path: &std::path::Path) -> std::io::Result<String> {
    Ok(std::fs::read_to_string(path)?.trim().to_string())
}

/// One POST, ready to send on any connection.
pub struct Request {
    pub url: String,
    pub token: Option<String>,
    pub gzip: bool,
    /// The body as sent (gzipped when `gzip`).
    pub body: Vec<u8>,
}

/// The private CA's client configuration, when one is configured (read once per sink).
pub fn private_ca(spec: &HttpSpec, name: &str) -> Option<Arc<rustls::ClientConfig>> {
    let path = spec.options.ca_file.as_deref()?;
    // The configuration already read it; it changed since.
    match super::tls::read_ca_file(path).and_then(|certs| super::tls::client_config(&certs)) {
        Ok(config) => Some(config),
        Err(e) => {
            tracing::error!(sink = %name, error = %e, "RUNWARDEN_CA_FILE cannot be used; only the built-in roots are trusted");
            None
        }
    }
}

/// A client for the sink: kept-alive connections, the request timeout, no redirects, and the private
/// CA when one is configured.
pub fn build_agent(spec: &HttpSpec, tls: Option<Arc<rustls::ClientConfig>>) -> ureq::Agent {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(spec.options.timeout)
        .timeout(spec.options.timeout)
        .redirects(0)
        .user_agent(concat!("runwarden/", env!("CARGO_PKG_VERSION")));
    match tls {
        Some(config) => agent.tls_config(config).build(),
        None => agent.build(),
    }
}

/// Sends `req` once on `agent`: what the endpoint answered, and the same in words for the log (a TLS
/// failure names its cause: an unknown issuer is a missing `RUNWARDEN_CA_FILE`). The URL is left out
/// of the words.
pub fn post_once(agent: &ureq::Agent, req: &Request, timeout: Duration) -> (AttemptOutcome, String) {
    let mut r = agent.post(&req.url).timeout(timeout).set("Content-Type", "application/json");
    if let Some(t) = &req.token {
        r = r.set("Authorization", &format!("Bearer {t}"));
    }
    if req.gzip {
        r = r.set("Content-Encoding", "gzip");
    }
    match r.send_bytes(&req.body) {
        Ok(resp) => {
            let code = resp.status();
            let _ = resp.into_string();
            (AttemptOutcome::Status { code, retry_after: None }, format!("HTTP {code}"))
        }
        Err(ureq::Error::Status(code, resp)) => {
            let retry_after = resp.header("retry-after").and_then(retry::parse_retry_after);
            (AttemptOutcome::Status { code, retry_after }, format!("HTTP {code}"))
        }
        Err(ureq::Error::Transport(t)) => {
            let mut words = format!("{}", t.kind());
            if let Some(m) = t.message() {
                words.push_str(&format!(": {m}"));
            }
            let mut source = std::error::Error::source(&t);
            while let Some(e) = source {
                words.push_str(&format!(": {e}"));
                source = e.source();
            }
            let text = words.to_ascii_lowercase();
            if text.contains("certificate") || text.contains("issuer") {
                words.push_str(" (an endpoint behind a private CA needs RUNWARDEN_CA_FILE)");
            }
            if text.contains("timed out") || text.contains("timeout") || text.contains("wouldblock") {
                (AttemptOutcome::Timeout, words)
            } else {
                (AttemptOutcome::Network, words)
            }
        }
    }
}
