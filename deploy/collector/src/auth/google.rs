//! Google ID tokens (what Cloud Run's metadata server gives a service for calling another): RS256 JWTs
//! signed by one of Google's rotating keys. Checked: the signature against the key named by `kid` in
//! Google's JWKS, `aud` equal to `COLLECTOR_GOOGLE_AUDIENCE`, `iss` one of Google's two spellings,
//! `exp` not passed and `iat` not in the future (60 s leeway for clock skew), and, when
//! `COLLECTOR_GOOGLE_EMAILS` is set, a verified `email` on that list (without it any Google identity
//! that can mint a token for this audience gets in; on Cloud Run, IAM's invoker role decides that).
//!
//! The keys are fetched from `COLLECTOR_GOOGLE_JWKS_URL` (Google's by default; tests serve their own)
//! and kept for the response's `Cache-Control: max-age` (Google sends some hours); a `kid` not in the
//! cache triggers one early refetch at most every [`REFETCH_MIN`], so made-up `kid`s cannot make the
//! collector hammer Google. When a refetch fails, keys already held stay in use.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::AuthError;
use crate::config::GoogleConfig;

pub const ISSUERS: [&str; 2] = ["accounts.google.com", "https://accounts.google.com"];
pub const LEEWAY_SECONDS: u64 = 60;
/// How long keys are kept when the response gives no `max-age`.
pub const DEFAULT_KEYS_TTL: Duration = Duration::from_secs(3600);
/// The earliest a refetch for an unknown `kid` may follow the previous fetch.
pub const REFETCH_MIN: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A JWKS larger than this is not Google's.
const MAX_JWKS_BYTES: u64 = 1 << 20;

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: String,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    iat: Option<u64>,
    sub: Option<String>,
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
}

struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fresh_until: Instant,
    fetched_at: Instant,
}

pub struct GoogleVerifier {
    config: GoogleConfig,
    agent: ureq::Agent,
    keys: tokio::sync::Mutex<Option<Keys>>,
}

impl GoogleVerifier {
    pub fn new(config: GoogleConfig) -> GoogleVerifier {
        let agent = ureq::AgentBuilder::new().timeout(FETCH_TIMEOUT).build();
        GoogleVerifier { config, agent, keys: tokio::sync::Mutex::new(None) }
    }

    /// Verifies an ID token; returns its `email` (or `sub`).
    pub async fn verify(&self, token: &str) -> Result<String, AuthError> {
        let bad = |m: &str| AuthError::IdToken(format!("ID token rejected: {m}"));
        let header = jsonwebtoken::decode_header(token).map_err(|e| bad(&format!("malformed ({e})")))?;
        if header.alg != Algorithm::RS256 {
            return Err(bad(&format!("algorithm {:?}, expected RS256", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| bad("no kid in the header"))?;
        let key = self.key(&kid).await?.ok_or_else(|| bad(&format!("unknown signing key {kid:?}")))?;
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&[&self.config.audience]);
        v.set_issuer(&ISSUERS);
        v.set_required_spec_claims(&["exp", "aud", "iss"]);
        v.leeway = LEEWAY_SECONDS;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &v).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => bad("expired"),
            ErrorKind::InvalidAudience => bad(&format!("wrong audience (expected {})", self.config.audience)),
            ErrorKind::InvalidIssuer => bad("issuer is not Google"),
            ErrorKind::InvalidSignature => bad("bad signature"),
            ErrorKind::MissingRequiredClaim(c) => bad(&format!("no {c} claim")),
            _ => bad(&e.to_string()),
        })?;
        let claims = data.claims;
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        if claims.iat.is_some_and(|iat| iat > now + LEEWAY_SECONDS) {
            return Err(bad("issued in the future"));
        }
        if !self.config.emails.is_empty() {
            let allowed = claims.email_verified
                && claims.email.as_ref().is_some_and(|e| self.config.emails.iter().any(|a| a == e));
            if !allowed {
                return Err(bad("email not in COLLECTOR_GOOGLE_EMAILS"));
            }
        }
        Ok(claims.email.or(claims.sub).unwrap_or_default())
    }

    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, AuthError> {
        let mut cache = self.keys.lock().await;
        let now = Instant::now();
        let stale = match &*cache {
            None => true,
            Some(k) => {
                now >= k.fresh_until
                    || (!k.by_kid.contains_key(kid) && now.duration_since(k.fetched_at) >= REFETCH_MIN)
            }
        };
        if stale {
            let url = self.config.jwks_url.clone();
            let agent = self.agent.clone();
            let fetched = tokio::task::spawn_blocking(move || fetch(&agent, &url))
                .await
                .unwrap_or_else(|e| Err(format!("fetch task failed: {e}")));
            match fetched {
                Ok((by_kid, ttl)) => *cache = Some(Keys { by_kid, fresh_until: now + ttl, fetched_at: now }),
                Err(e) => {
                    tracing::warn!(url = %self.config.jwks_url, error = %e, "cannot fetch the ID token keys");
                    match cache.as_mut() {
                        // Keep what we have; try again after REFETCH_MIN, not on every request.
                        Some(k) => k.fetched_at = now,
                        None => return Err(AuthError::KeysUnavailable(e)),
                    }
                }
            }
        }
        Ok(cache.as_ref().and_then(|k| k.by_kid.get(kid).cloned()))
    }
}

fn fetch(agent: &ureq::Agent, url: &str) -> Result<(HashMap<String, DecodingKey>, Duration), String> {
    let resp = agent.get(url).call().map_err(|e| format!("GET {url}: {e}"))?;
    let ttl = resp.header("cache-control").and_then(max_age).unwrap_or(DEFAULT_KEYS_TTL);
    let mut body = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(resp.into_reader(), MAX_JWKS_BYTES), &mut body)
        .map_err(|e| format!("reading {url}: {e}"))?;
    let jwks: Jwks = serde_json::from_str(&body).map_err(|e| format!("{url} is not a JWKS: {e}"))?;
    let mut by_kid = HashMap::new();
    for k in jwks.keys {
        if let (Some(kid), "RSA", Some(n), Some(e)) = (k.kid, k.kty.as_str(), k.n, k.e) {
            if let Ok(key) = DecodingKey::from_rsa_components(&n, &e) {
                by_kid.insert(kid, key);
            }
        }
    }
    if by_kid.is_empty() {
        return Err(format!("{url} holds no RSA key"));
    }
    // Refetching sooner than every minute would only add load; longer than a day misses rotations.
    Ok((by_kid, ttl.clamp(Duration::from_secs(60), Duration::from_secs(86_400))))
}

/// `max-age=N` from a `Cache-Control` header.
fn max_age(cc: &str) -> Option<Duration> {
    cc.split(',').find_map(|d| d.trim().strip_prefix("max-age=")?.parse().ok()).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control() {
        assert_eq!(
            max_age("public, max-age=23169, must-revalidate, no-transform"),
            Some(Duration::from_secs(23169))
        );
        assert_eq!(max_age("no-cache"), None);
    }
}
