//! One request of the HTTP(S) sink: the client (kept-alive connections, timeouts, no redirects, the
//! private CA), the bearer token file, and one POST with what it came back with, in words for the log.
//!
//! Client: `ureq` 2 with rustls (ring) and the webpki roots compiled in, no default features: a small
//! blocking client fits one dedicated thread per sink, where reqwest would bring hyper and a tokio
//! runtime for the same job (binary and build time). Request bodies are gzipped with flate2's pure-Rust
//! backend. Binary cost: 10.93 MB -> 13.72 MB (+2.8 MB: ring, rustls, webpki roots, and `url`/`idna`
//! through ureq 2); ureq 3 with rustls came out 0.2 MB larger than ureq 2 in a static hello-POST
//! binary (4.31 vs 4.10 MB), so ureq 2 stays. Names are resolved by the static glibc's getaddrinfo, which has the `files` and
//! `dns` sources built in since 2.34: numeric addresses and `/etc/hosts` work without NSS modules or
//! `nsswitch.conf` (checked by hand with an empty one), DNS needs `/etc/resolv.conf`. A pure-Rust
//! resolver (hickory-resolver) was left out for its size.
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
