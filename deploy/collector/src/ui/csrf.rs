//! Cross-site request forgery protection for the UI's form posts (no JavaScript, so no custom header):
//! the double-submit pattern. A page with a form sets a random `rw_csrf` cookie (`SameSite=Strict`,
//! `HttpOnly`) if the browser has none and puts the same value in a hidden field; a post is accepted
//! only when field and cookie agree. Another site can make the browser post, with its credentials, but
//! cannot read or set the cookie (and a strict cookie is not sent on cross-site posts at all). Beside it,
//! a post that the browser labels `Sec-Fetch-Site: cross-site` or `same-site` is refused outright, and
//! without that header an `Origin` that is not this host is.
#![forbid(unsafe_code)]

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use maud::{html, Markup};

pub const COOKIE: &str = "rw_csrf";
/// Token length in hex digits (32 random bytes).
const TOKEN_HEX_CHARS: usize = 64;

fn valid(t: &str) -> bool {
    t.len() == TOKEN_HEX_CHARS && t.bytes().all(|b| b.is_ascii_hexdigit())
}

fn from_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, v)| *k == COOKIE && valid(v))
        .map(|(_, v)| v.to_string())
}

/// The token a page's forms carry, and whether the cookie must be set with the response.
pub struct Csrf {
    pub token: String,
    new: bool,
}

impl Csrf {
    pub fn for_page(headers: &HeaderMap) -> Csrf {
        match from_cookie(headers) {
            Some(token) => Csrf { token, new: false },
            None => {
                Csrf { token: crate::triage::random_hex(TOKEN_HEX_CHARS / 2).unwrap_or_default(), new: true }
            }
        }
    }

    pub fn field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.token); }
    }

    pub fn apply(&self, mut resp: Response) -> Response {
        if self.new && valid(&self.token) {
            let c = format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", self.token);
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

/// Accepts a form post or says why not.
pub fn check(headers: &HeaderMap, form_token: &str) -> Result<(), &'static str> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    match h("sec-fetch-site") {
        Some("same-origin") | Some("none") => {}
        Some(_) => return Err("a form of another site posted here"),
        None => {
            if let (Some(origin), Some(host)) = (h("origin"), h("host")) {
                let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
                if origin != "null" && origin_host != host {
                    return Err("a form of another origin posted here");
                }
            }
        }
    }
    let cookie = from_cookie(headers).ok_or("no CSRF cookie: reload the page and submit again")?;
    let same = cookie.len() == form_token.len()
        && cookie.bytes().zip(form_token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same {
        Ok(())
    } else {
        Err("the form's CSRF token does not match: reload the page and submit again")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn double_submit() {
        let t = "ab".repeat(32);
        let cookie = format!("other=1; {COOKIE}={t}");
        assert_eq!(check(&headers(&[("cookie", &cookie)]), &t), Ok(()));
        assert!(check(&headers(&[("cookie", &cookie)]), &"cd".repeat(32)).is_err());
        assert!(check(&headers(&[]), &t).is_err(), "no cookie");
        let cross = headers(&[("cookie", &cookie), ("sec-fetch-site", "cross-site")]);
        assert!(check(&cross, &t).is_err());
        let origin = headers(&[("cookie", &cookie), ("origin", "https://evil.example"), ("host", "rw:8080")]);
        assert!(check(&origin, &t).is_err());
        let ok = headers(&[("cookie", &cookie), ("origin", "http://rw:8080"), ("host", "rw:8080")]);
        assert_eq!(check(&ok, &t), Ok(()));
        // A page sets a cookie only when the browser has none.
        assert!(!Csrf::for_page(&headers(&[("cookie", &cookie)])).new);
        let fresh = Csrf::for_page(&headers(&[]));
        assert!(fresh.new && valid(&fresh.token));
    }
}
