//! The collector's configuration, read once from the environment at start. Every `COLLECTOR_*` variable
//! must be one this module knows and every value must parse: a typo or a bad value stops the start with
//! a message naming the variable, rather than a collector that runs with a setting silently ignored.
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Google's JWKS for ID tokens (the keys rotate; `Cache-Control: max-age` says for how long to keep them).
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./runwarden-collector.db";
/// A request body as sent (gzipped or not): 100 findings of a few KiB each fit many times over.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;
/// A gzipped body inflated: bounds the memory a small "gzip bomb" can make the collector allocate.
pub const DEFAULT_MAX_DECODED_BYTES: usize = 16 << 20;
/// Findings in one request (runwarden sends up to 100).
pub const DEFAULT_MAX_BATCH: usize = 1000;
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Shorter static tokens are refused: they are guessable.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Every variable the collector reads.
pub const VARIABLES: &[&str] = &[
    "COLLECTOR_ADDR",
    "PORT",
    "DATABASE_URL",
    "COLLECTOR_TOKENS_FILE",
    "COLLECTOR_GOOGLE_AUDIENCE",
    "COLLECTOR_GOOGLE_JWKS_URL",
    "COLLECTOR_GOOGLE_EMAILS",
    "COLLECTOR_ALLOW_UNAUTHENTICATED",
    "COLLECTOR_READ_AUTH",
    "COLLECTOR_RETENTION",
    "COLLECTOR_MAX_BODY",
    "COLLECTOR_MAX_DECODED",
    "COLLECTOR_MAX_BATCH",
    "COLLECTOR_LOG",
    "COLLECTOR_SCC_SOURCE",
    "COLLECTOR_SCC_LOCATION",
    "COLLECTOR_SCC_ENDPOINT",
    "COLLECTOR_SCC_METADATA",
];

#[derive(Debug, thiserror::Error)]
pub enum CollectorConfigError {
    #[error("{var}={value:?}: {reason}")]
    Invalid { var: &'static str, value: String, reason: String },
    #[error("{var}: unknown variable (known: {known})")]
    Unknown { var: String, known: String },
    #[error("{var}={path}: cannot read the token file: {source}")]
    TokensFile { var: &'static str, path: String, source: std::io::Error },
    #[error(
        "no authentication configured and {addr} is not a loopback address: set COLLECTOR_TOKENS_FILE or \
         COLLECTOR_GOOGLE_AUDIENCE, or COLLECTOR_ALLOW_UNAUTHENTICATED=true when something in front \
         (Cloud Run IAM, a private network) already checks callers"
    )]
    NoAuth { addr: SocketAddr },
}

pub type ConfigResult<T> = std::result::Result<T, CollectorConfigError>;

/// Who may read findings (the query API and the web UI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAuth {
    /// The same credentials as ingest (a static token as Bearer or as a Basic password, or a Google ID
    /// token). The default whenever ingest has credentials.
    Ingest,
    /// Anyone who reaches the port: for Cloud Run with IAM (`--no-allow-unauthenticated`) or IAP in
    /// front, which already decides who gets through.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleConfig {
    pub audience: String,
    pub jwks_url: String,
    /// When not empty, only ID tokens of these (service account) emails are accepted.
    pub emails: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub addr: SocketAddr,
    pub database_url: String,
    pub tokens: Vec<String>,
    pub google: Option<GoogleConfig>,
    /// No credentials configured (only allowed on loopback or when asked for).
    pub open: bool,
    pub read_auth: ReadAuth,
    pub retention: Option<Duration>,
    pub max_body_bytes: usize,
    pub max_decoded_bytes: usize,
    pub max_batch: usize,
    pub log_level: tracing::Level,
    /// Security Command Center export (`COLLECTOR_SCC_SOURCE`), off when `None`.
    pub scc: Option<crate::scc::SccConfig>,
}

impl CollectorConfig {
    /// A configuration for tests and embedding: loopback, no credentials, the defaults.
    pub fn local(database_url: &str) -> CollectorConfig {
        CollectorConfig {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            database_url: database_url.to_string(),
            tokens: Vec::new(),
            google: None,
            open: true,
            read_auth: ReadAuth::None,
            retention: Some(DEFAULT_RETENTION),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_decoded_bytes: DEFAULT_MAX_DECODED_BYTES,
            max_batch: DEFAULT_MAX_BATCH,
            log_level: tracing::Level::INFO,
            scc: None,
        }
    }

    pub fn from_env() -> ConfigResult<CollectorConfig> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        CollectorConfig::from_vars(&vars)
    }

    /// Parses the given `(name, value)` pairs (the environment); pure except for reading the token file.
    pub fn from_vars(vars: &[(String, String)]) -> ConfigResult<CollectorConfig> {
        for (k, _) in vars {
            if k.starts_with("COLLECTOR_") && !VARIABLES.contains(&k.as_str()) {
                return Err(CollectorConfigError::Unknown { var: k.clone(), known: VARIABLES.join(", ") });
            }
        }
        let get = |name: &str| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let addr = match (get("COLLECTOR_ADDR"), get("PORT")) {
            (Some(a), _) => {
                a.parse().map_err(|e| invalid("COLLECTOR_ADDR", &a, format!("not HOST:PORT ({e})")))?
            }
            // Cloud Run says which port through $PORT and expects every interface.
            (None, Some(p)) => {
                let port: u16 = p.parse().map_err(|e| invalid("PORT", &p, format!("not a port ({e})")))?;
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
            }
            (None, None) => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
        };
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "DATABASE_URL",
                &database_url,
                "expected sqlite://PATH or postgres://...".into(),
            ));
        }
        let tokens = match get("COLLECTOR_TOKENS_FILE") {
            Some(path) => read_tokens(&path)?,
            None => Vec::new(),
        };
        let google = match get("COLLECTOR_GOOGLE_AUDIENCE") {
            Some(audience) => {
                let jwks_url =
                    get("COLLECTOR_GOOGLE_JWKS_URL").unwrap_or_else(|| GOOGLE_JWKS_URL.to_string());
                if !(jwks_url.starts_with("https://") || jwks_url.starts_with("http://")) {
                    return Err(invalid("COLLECTOR_GOOGLE_JWKS_URL", &jwks_url, "not an http(s) URL".into()));
                }
                let emails = get("COLLECTOR_GOOGLE_EMAILS")
                    .map(|v| v.split(',').map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect())
                    .unwrap_or_default();
                Some(GoogleConfig { audience, jwks_url, emails })
            }
            None => {
                for var in ["COLLECTOR_GOOGLE_JWKS_URL", "COLLECTOR_GOOGLE_EMAILS"] {
                    if let Some(v) = get(var) {
                        return Err(invalid(var, &v, "needs COLLECTOR_GOOGLE_AUDIENCE".into()));
                    }
                }
                None
            }
        };
        let allow_open = match get("COLLECTOR_ALLOW_UNAUTHENTICATED") {
            Some(v) => parse_bool("COLLECTOR_ALLOW_UNAUTHENTICATED", &v)?,
            None => false,
        };
        let open = tokens.is_empty() && google.is_none();
        if open && !allow_open && !addr.ip().is_loopback() {
            return Err(CollectorConfigError::NoAuth { addr });
        }
        let read_auth = match get("COLLECTOR_READ_AUTH").as_deref() {
            None if open => ReadAuth::None,
            None | Some("ingest") => ReadAuth::Ingest,
            Some("none") => ReadAuth::None,
            Some(v) => return Err(invalid("COLLECTOR_READ_AUTH", v, "expected ingest or none".into())),
        };
        let retention = match get("COLLECTOR_RETENTION").as_deref() {
            None => Some(DEFAULT_RETENTION),
            Some("off") => None,
            Some(v) => {
                let d = humantime::parse_duration(v)
                    .map_err(|e| invalid("COLLECTOR_RETENTION", v, format!("{e} (e.g. 30d, 12h, off)")))?;
                if d < Duration::from_secs(60) {
                    return Err(invalid("COLLECTOR_RETENTION", v, "shorter than a minute".into()));
                }
                Some(d)
            }
        };
        let size = |var: &'static str, default: usize| match get(var) {
            Some(v) => {
                parse_size(&v).ok_or_else(|| invalid(var, &v, "expected a size like 4MiB, 512KiB".into()))
            }
            None => Ok(default),
        };
        let max_body_bytes = size("COLLECTOR_MAX_BODY", DEFAULT_MAX_BODY_BYTES)?;
        let max_decoded_bytes = size("COLLECTOR_MAX_DECODED", DEFAULT_MAX_DECODED_BYTES)?;
        let max_batch = match get("COLLECTOR_MAX_BATCH") {
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid("COLLECTOR_MAX_BATCH", &v, "expected a positive count".into()))?,
            None => DEFAULT_MAX_BATCH,
        };
        let log_level = match get("COLLECTOR_LOG").as_deref() {
            None | Some("info") => tracing::Level::INFO,
            Some("error") => tracing::Level::ERROR,
            Some("warn") => tracing::Level::WARN,
            Some("debug") => tracing::Level::DEBUG,
            Some(v) => return Err(invalid("COLLECTOR_LOG", v, "expected error, warn, info or debug".into())),
        };
        let scc = match get("COLLECTOR_SCC_SOURCE") {
            Some(source) => {
                let mut c = crate::scc::SccConfig::new(&source, get("COLLECTOR_SCC_LOCATION").as_deref())
                    .map_err(|reason| invalid("COLLECTOR_SCC_SOURCE", &source, reason))?;
                for (var, slot) in
                    [("COLLECTOR_SCC_ENDPOINT", &mut c.endpoint), ("COLLECTOR_SCC_METADATA", &mut c.metadata)]
                {
                    if let Some(v) = get(var) {
                        if !(v.starts_with("https://") || v.starts_with("http://")) {
                            return Err(invalid(var, &v, "not an http(s) URL".into()));
                        }
                        *slot = v.trim_end_matches('/').to_string();
                    }
                }
                Some(c)
            }
            None => {
                for var in ["COLLECTOR_SCC_LOCATION", "COLLECTOR_SCC_ENDPOINT", "COLLECTOR_SCC_METADATA"] {
                    if let Some(v) = get(var) {
                        return Err(invalid(var, &v, "needs COLLECTOR_SCC_SOURCE".into()));
                    }
                }
                None
            }
        };
        Ok(CollectorConfig {
            scc,
            addr,
            database_url,
            tokens,
            google,
            open,
            read_auth,
            retention,
            max_body_bytes,
            max_decoded_bytes,
            max_batch,
            log_level,
        })
    }
}

fn invalid(var: &'static str, value: &str, reason: String) -> CollectorConfigError {
    CollectorConfigError::Invalid { var, value: value.to_string(), reason }
}

fn parse_bool(var: &'static str, v: &str) -> ConfigResult<bool> {
    match v {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(invalid(var, v, "expected true or false".into())),
    }
}

/// One token per line; blank lines and `#` comments skipped (a Secret Manager secret mounted as a file).
fn read_tokens(path: &str) -> ConfigResult<Vec<String>> {
    let var = "COLLECTOR_TOKENS_FILE";
    let text = std::fs::read_to_string(path).map_err(|source| CollectorConfigError::TokensFile {
        var,
        path: path.to_string(),
        source,
    })?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if tokens.is_empty() {
        return Err(invalid(var, path, "the file holds no token".into()));
    }
    if let Some(n) = tokens.iter().position(|t| t.chars().count() < MIN_TOKEN_CHARS) {
        return Err(invalid(
            var,
            path,
            format!("token on non-comment line {} is shorter than {MIN_TOKEN_CHARS} characters", n + 1),
        ));
    }
    Ok(tokens)
}

/// `4194304`, `512KiB`, `4MiB`, `4M`, `1GiB`.
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().ok()?;
    let mult: usize = match unit.trim() {
        "" | "B" => 1,
        "K" | "KB" | "KiB" => 1 << 10,
        "M" | "MB" | "MiB" => 1 << 20,
        "G" | "GB" | "GiB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult).filter(|b| *b > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_are_a_local_trial() {
        let c = CollectorConfig::from_vars(&[]).unwrap();
        assert_eq!(c.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert!(c.open);
        assert_eq!(c.read_auth, ReadAuth::None);
        assert_eq!(c.retention, Some(DEFAULT_RETENTION));
    }

    #[test]
    fn cloud_run_port_needs_auth() {
        let e = CollectorConfig::from_vars(&vars(&[("PORT", "8080")])).unwrap_err();
        assert!(matches!(e, CollectorConfigError::NoAuth { .. }), "{e}");
        let c = CollectorConfig::from_vars(&vars(&[
            ("PORT", "9000"),
            ("COLLECTOR_GOOGLE_AUDIENCE", "https://c.run.app"),
        ]))
        .unwrap();
        assert_eq!(c.addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(c.read_auth, ReadAuth::Ingest);
        assert_eq!(c.google.unwrap().jwks_url, GOOGLE_JWKS_URL);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("COLLECTOR_RETENTION", "forever"),
            ("COLLECTOR_MAX_BODY", "lots"),
            ("COLLECTOR_ADDR", "localhost"),
            ("DATABASE_URL", "mysql://x"),
            ("COLLECTOR_READ_AUTH", "maybe"),
            ("COLLECTOR_TOKENS_FILE", "/nonexistent/tokens"),
            ("COLLECTOR_GOOGLE_EMAILS", "a@b"),
            ("COLLECTOR_TYPO", "1"),
        ] {
            let e = CollectorConfig::from_vars(&vars(&[(k, v)])).unwrap_err().to_string();
            assert!(e.contains(k), "{k}: {e}");
        }
    }

    #[test]
    fn tokens_file() {
        let dir = std::env::temp_dir().join(format!("rwc-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("tokens");
        std::fs::write(&f, "# ingest tokens\n\n0123456789abcdef0123\n  fedcba9876543210fedc  \n").unwrap();
        let c = CollectorConfig::from_vars(&vars(&[("COLLECTOR_TOKENS_FILE", f.to_str().unwrap())])).unwrap();
        assert_eq!(c.tokens, ["0123456789abcdef0123", "fedcba9876543210fedc"]);
        assert!(!c.open);
        std::fs::write(&f, "short\n").unwrap();
        assert!(CollectorConfig::from_vars(&vars(&[("COLLECTOR_TOKENS_FILE", f.to_str().unwrap())])).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4MiB"), Some(4 << 20));
        assert_eq!(parse_size("512KiB"), Some(512 << 10));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("4XB"), None);
    }
}
