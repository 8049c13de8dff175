//! Who may send findings (and, unless `COLLECTOR_READ_AUTH=none`, read them): a static token from
//! `COLLECTOR_TOKENS_FILE` as `Authorization: Bearer`, or a Google ID token (Cloud Run to Cloud Run,
//! `RUNWARDEN_AUTH=google`) checked by [`google`]. Browsers reading the UI send a static token as the
//! password of HTTP Basic (any user name), which they prompt for after a `401` with
//! `WWW-Authenticate: Basic`. Tokens are compared in constant time and never logged.
#![forbid(unsafe_code)]

pub mod google;

use axum::http::HeaderMap;
use base64::Engine as _;

use crate::config::CollectorConfig;
pub use google::GoogleVerifier;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing credentials: send Authorization: Bearer <token>")]
    Missing,
    #[error("unsupported Authorization scheme (expected Bearer or Basic)")]
    Scheme,
    #[error("unknown token")]
    UnknownToken,
    #[error("{0}")]
    IdToken(String),
    #[error("cannot check ID tokens now: {0}")]
    KeysUnavailable(String),
}

impl AuthError {
    /// A failure on our side (Google's keys out of reach) is a 503, so senders retry.
    pub fn is_ours(&self) -> bool {
        matches!(self, AuthError::KeysUnavailable(_))
    }
}

/// Who was let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    /// The n-th token of the file (its index, never the token).
    Token(usize),
    /// A Google ID token's `email` (or `sub` when it has none).
    Google(String),
}

pub struct Auth {
    tokens: Vec<String>,
    google: Option<GoogleVerifier>,
    open: bool,
}

impl Auth {
    pub fn new(config: &CollectorConfig) -> Auth {
        Auth {
            tokens: config.tokens.clone(),
            google: config.google.clone().map(GoogleVerifier::new),
            open: config.open,
        }
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Checks the request's `Authorization` header.
    pub async fn check(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        if self.open {
            return Ok(Principal::Anonymous);
        }
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .ok_or(AuthError::Missing)?;
        let (scheme, cred) = value.split_once(' ').ok_or(AuthError::Scheme)?;
        let cred = cred.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(cred)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or(AuthError::UnknownToken)?;
            let password = decoded.split_once(':').map(|(_, p)| p).unwrap_or(&decoded);
            return self.static_token(password).ok_or(AuthError::UnknownToken);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Scheme);
        }
        if let Some(p) = self.static_token(cred) {
            return Ok(p);
        }
        // A JWT has three dot-separated parts; anything else can only have been a static token.
        match &self.google {
            Some(g) if cred.split('.').count() == 3 => g.verify(cred).await.map(Principal::Google),
            _ => Err(AuthError::UnknownToken),
        }
    }

    fn static_token(&self, presented: &str) -> Option<Principal> {
        // Every token is compared in full so the time taken says nothing about which matched or how far.
        let mut found = None;
        for (i, t) in self.tokens.iter().enumerate() {
            if constant_time_eq(t.as_bytes(), presented.as_bytes()) && found.is_none() {
                found = Some(Principal::Token(i));
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn auth() -> Auth {
        let mut c = CollectorConfig::local("sqlite::memory:");
        c.tokens = vec!["0123456789abcdef0123".into(), "fedcba9876543210fedc".into()];
        c.open = false;
        Auth::new(&c)
    }

    async fn check(a: &Auth, header: Option<&str>) -> Result<Principal, AuthError> {
        let mut h = HeaderMap::new();
        if let Some(v) = header {
            h.insert("authorization", HeaderValue::from_str(v).unwrap());
        }
        a.check(&h).await
    }

    #[tokio::test]
    async fn static_tokens() {
        let a = auth();
        assert_eq!(check(&a, Some("Bearer fedcba9876543210fedc")).await, Ok(Principal::Token(1)));
        assert_eq!(check(&a, Some("bearer  0123456789abcdef0123 ")).await, Ok(Principal::Token(0)));
        assert_eq!(check(&a, Some("Bearer 0123456789abcdef012")).await, Err(AuthError::UnknownToken));
        assert_eq!(check(&a, None).await, Err(AuthError::Missing));
        assert_eq!(check(&a, Some("Digest x")).await, Err(AuthError::Scheme));
        // HTTP Basic from a browser: any user, the token as password.
        let basic = base64::engine::general_purpose::STANDARD.encode("me:0123456789abcdef0123");
        assert_eq!(check(&a, Some(&format!("Basic {basic}"))).await, Ok(Principal::Token(0)));
        // No Google audience configured: a JWT-looking token is just an unknown token.
        assert_eq!(check(&a, Some("Bearer a.b.c")).await, Err(AuthError::UnknownToken));
    }

    #[test]
    fn equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
