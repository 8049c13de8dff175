//! Where and how an HTTP sink ships: its URL and format (`HttpSpec`, one entry of `RUNWARDEN_SINKS`)
//! and the options all HTTP sinks share (`ShipOptions`, from the other `RUNWARDEN_*` variables).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use super::format::Format;

pub const DEFAULT_SPOOL_MAX: u64 = 64 << 20;
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The options every HTTP sink shares (`RUNWARDEN_TOKEN_FILE`, `RUNWARDEN_SPOOL_*`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipOptions {
    pub token_file: Option<PathBuf>,
    /// `RUNWARDEN_AUTH=google`: ID tokens from the metadata server.
    pub google_auth: bool,
    pub spool_dir: Option<PathBuf>,
    pub spool_max: u64,
    pub flush_timeout: Duration,
    pub timeout: Duration,
    pub gzip: bool,
    /// `RUNWARDEN_HEARTBEAT`; `None` is `off`.
    pub heartbeat: Option<Duration>,
    /// `RUNWARDEN_CA_FILE`: certificates trusted besides the compiled-in roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for ShipOptions {
    fn default() -> Self {
        ShipOptions {
            token_file: None,
            google_auth: false,
            spool_dir: None,
            spool_max: DEFAULT_SPOOL_MAX,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            gzip: true,
            heartbeat: Some(super::heartbeat::DEFAULT_INTERVAL),
            ca_file: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    pub url: String,
    pub format: Format,
    pub options: ShipOptions,
}

impl HttpSpec {
    /// `https://HOST...`, `http://HOST...`, or either behind `falco+`.
    pub fn parse(s: &str) -> Option<HttpSpec> {
        let (format, url) = match s.strip_prefix("falco+") {
            Some(rest) => (Format::Falco, rest),
            None => (Format::Native, s),
        };
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let valid =
            !host.is_empty() && !host.contains(char::is_whitespace) && !url.contains(char::is_whitespace);
        valid.then(|| HttpSpec { url: url.to_string(), format, options: ShipOptions::default() })
    }

    /// scheme://host[:port], without credentials or path (the audience of a Google ID token).
    pub fn origin(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        format!("{scheme}://{}", host.rsplit('@').next().unwrap_or(host))
    }

    /// [falco+]scheme://host[:port]: safe to log.
    pub fn name(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit('@').next().unwrap_or(host);
        let prefix = if self.format == Format::Falco { "falco+" } else { "" };
        format!("{prefix}{scheme}://{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let s = HttpSpec::parse("https://collector.example/v1/findings").unwrap();
        assert_eq!((s.format, s.url.as_str()), (Format::Native, "https://collector.example/v1/findings"));
        let s = HttpSpec::parse("falco+http://127.0.0.1:2801/").unwrap();
        assert_eq!((s.format, s.url.as_str()), (Format::Falco, "http://127.0.0.1:2801/"));
        for bad in ["https://", "http:///x", "ftp://x", "falco+", "falco+file:/x", "https://a b/"] {
            assert!(HttpSpec::parse(bad).is_none(), "{bad}");
        }
        let s = HttpSpec::parse("https://user:secret@host.example:8443/p?token=abc").unwrap();
        assert_eq!(s.name(), "https://host.example:8443");
        assert_eq!(s.origin(), "https://host.example:8443");
        assert_eq!(HttpSpec::parse("falco+http://h/x").unwrap().origin(), "http://h");
    }
}
