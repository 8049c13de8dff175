//! Authentication: static tokens, and Google ID tokens verified against keys served by a loopback JWKS
//! server (an RSA key generated here): good token, bad signature, wrong audience, wrong issuer,
//! expired, unknown key, wrong algorithm, email allow-list, key caching, keys unreachable; and readers
//! (API and UI) asked for the same credentials.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use runwarden_collector::config::{CollectorConfig, GoogleConfig, ReadAuth};
use serde_json::{json, Value};

const AUDIENCE: &str = "https://collector-abc-ew.a.run.app";
const TOKEN: &str = "test-token-0123456789abcdef";

struct Jwks {
    url: String,
    hits: Arc<AtomicUsize>,
}

/// Serves `body` as the JWKS (with a max-age) on a loopback port, counting fetches.
fn jwks_server(body: String) -> Jwks {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/oauth2/v3/certs", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            h.fetch_add(1, Ordering::SeqCst);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: public, max-age=3600\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                body.len(),
                body
            );
        }
    });
    Jwks { url, hits }
}

struct Key {
    der: Vec<u8>,
    jwk: Value,
}

fn key(kid: &str) -> Key {
    let k = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwk = json!({ "kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig", "n": b64(k.n().to_bytes_be()), "e": b64(k.e().to_bytes_be()) });
    Key { der: k.to_pkcs1_der().unwrap().as_bytes().to_vec(), jwk }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn claims(aud: &str, email: &str) -> Value {
    json!({ "iss": "https://accounts.google.com", "aud": aud, "azp": "1234", "sub": "1234", "email": email,
            "email_verified": true, "iat": now(), "exp": now() + 3600 })
}

fn sign(key: &Key, kid: &str, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.to_string());
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_rsa_der(&key.der)).unwrap()
}

fn collector(jwks_url: &str, emails: &[&str]) -> Collector {
    let db = sqlite();
    let mut config = CollectorConfig::local(&db.url);
    config.open = false;
    config.tokens = vec![TOKEN.to_string()];
    config.read_auth = ReadAuth::Ingest;
    config.google = Some(GoogleConfig {
        audience: AUDIENCE.to_string(),
        jwks_url: jwks_url.to_string(),
        emails: emails.iter().map(|e| e.to_string()).collect(),
    });
    Collector::start_with(config, db.dir)
}

fn batch() -> Value {
    json!({ "findings": [finding("Reverse Shell", "CRITICAL", "api", "i-1", "2026-11-20T10:00:00Z")] })
}

fn rejected(c: &Collector, token: Option<&str>, reason: &str) {
    let (st, body) = post_json(c, &batch(), token);
    assert_eq!(st, 401, "{reason}: {body}");
    assert!(body["error"].as_str().unwrap().contains(reason), "expected {reason:?}: {body}");
}

#[test]
fn google_id_tokens() {
    let good = key("k1");
    let other = key("k1");
    let jwks = jwks_server(json!({ "keys": [good.jwk] }).to_string());
    let c = collector(&jwks.url, &[]);
    let sa = "sample@p.iam.gserviceaccount.com";

    let (st, body) = post_json(&c, &batch(), Some(&sign(&good, "k1", &claims(AUDIENCE, sa))));
    assert_eq!((st, &body["accepted"]), (200, &json!(1)), "{body}");
    // Issuer without the scheme is Google's other spelling.
    let mut plain_iss = claims(AUDIENCE, sa);
    plain_iss["iss"] = json!("accounts.google.com");
    assert_eq!(post_json(&c, &batch(), Some(&sign(&good, "k1", &plain_iss))).0, 200);

    rejected(&c, Some(&sign(&other, "k1", &claims(AUDIENCE, sa))), "bad signature");
    rejected(&c, Some(&sign(&good, "k1", &claims("https://someone-else.a.run.app", sa))), "wrong audience");
    let mut expired = claims(AUDIENCE, sa);
    expired["iat"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    rejected(&c, Some(&sign(&good, "k1", &expired)), "expired");
    let mut issuer = claims(AUDIENCE, sa);
    issuer["iss"] = json!("https://evil.example");
    rejected(&c, Some(&sign(&good, "k1", &issuer)), "issuer");
    let mut future = claims(AUDIENCE, sa);
    future["iat"] = json!(now() + 600);
    rejected(&c, Some(&sign(&good, "k1", &future)), "future");
    let mut no_exp = claims(AUDIENCE, sa);
    no_exp.as_object_mut().unwrap().remove("exp");
    rejected(&c, Some(&sign(&good, "k1", &no_exp)), "exp");
    rejected(&c, Some(&sign(&good, "k2", &claims(AUDIENCE, sa))), "unknown signing key");
    let hs = jsonwebtoken::encode(
        &Header { kid: Some("k1".into()), ..Header::new(Algorithm::HS256) },
        &claims(AUDIENCE, sa),
        &EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    rejected(&c, Some(&hs), "RS256");
    rejected(&c, Some("not.a.jwt"), "malformed");

    // Static tokens work beside Google's; anything else is refused.
    assert_eq!(post_json(&c, &batch(), Some(TOKEN)).0, 200);
    rejected(&c, Some("test-token-0123456789abcdeX"), "unknown token");
    rejected(&c, None, "missing credentials");

    // Keys fetched once for all of the above (the unknown kid may refetch once, no more).
    assert!(jwks.hits.load(Ordering::SeqCst) <= 2, "JWKS fetched {} times", jwks.hits.load(Ordering::SeqCst));
}

#[test]
fn email_allow_list() {
    let good = key("k1");
    let jwks = jwks_server(json!({ "keys": [good.jwk] }).to_string());
    let allowed = "runwarden-sample@p.iam.gserviceaccount.com";
    let c = collector(&jwks.url, &[allowed]);
    assert_eq!(post_json(&c, &batch(), Some(&sign(&good, "k1", &claims(AUDIENCE, allowed)))).0, 200);
    rejected(
        &c,
        Some(&sign(&good, "k1", &claims(AUDIENCE, "other@p.iam.gserviceaccount.com"))),
        "COLLECTOR_GOOGLE_EMAILS",
    );
    let mut unverified = claims(AUDIENCE, allowed);
    unverified["email_verified"] = json!(false);
    rejected(&c, Some(&sign(&good, "k1", &unverified)), "COLLECTOR_GOOGLE_EMAILS");
}

#[test]
fn keys_out_of_reach_is_a_retryable_503() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let c = collector(&format!("http://127.0.0.1:{port}/certs"), &[]);
    let k = key("k1");
    let (st, body) = post_json(&c, &batch(), Some(&sign(&k, "k1", &claims(AUDIENCE, "a@b"))));
    assert_eq!(st, 503, "{body}");
    // Static tokens do not depend on Google.
    assert_eq!(post_json(&c, &batch(), Some(TOKEN)).0, 200);
}

#[test]
fn readers_need_credentials_too() {
    let jwks = jwks_server(json!({ "keys": [] }).to_string());
    let c = collector(&jwks.url, &[]);
    for path in ["/findings", "/instances", "/v1/findings", "/v1/counts", "/v1/instances"] {
        let resp = agent().get(&c.url(path)).call();
        let Err(ureq::Error::Status(401, r)) = resp else { panic!("{path}: not a 401") };
        assert!(r.header("www-authenticate").unwrap().starts_with("Basic"), "{path}");
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("me:{TOKEN}"));
        let ok = agent().get(&c.url(path)).set("Authorization", &format!("Basic {basic}")).call().unwrap();
        assert_eq!(ok.status(), 200, "{path}");
        let ok = agent().get(&c.url(path)).set("Authorization", &format!("Bearer {TOKEN}")).call().unwrap();
        assert_eq!(ok.status(), 200, "{path}");
    }
    // Health checks stay open (Cloud Run's startup probe carries no token).
    assert_eq!(agent().get(&c.url("/healthz")).call().unwrap().status(), 200);
}
