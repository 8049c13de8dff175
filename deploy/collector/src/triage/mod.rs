//! Triage: what a person decided about a finding or an incident, and mute rules.
//!
//! - A state per finding and incident: `ACTIVE` (new), `ACKNOWLEDGED` (someone is on it), `RESOLVED`
//!   (handled) or `MUTED` (expected here). Setting an incident's state sets its findings' too.
//! - Every change is a row of the audit table: what, from which state to which, who, when, a note.
//! - Mute rules: any of category, service, rule id (equal) and a text match (in the finding's searchable
//!   text, case-insensitive), all given ones must hold; each rule has an expiry. A finding stored while
//!   a rule matches it arrives `MUTED` (audited as done by that rule); findings stored before the rule
//!   and after its expiry are untouched.
//! - Who: the browser's HTTP Basic user name and the token's number (`alice via token #0`), a Google ID
//!   token's email, Identity-Aware Proxy's user header when reads are open behind IAP, else `anonymous`.
//!
//! Changes go through [`api`] (JSON, `Content-Type: application/json` required, which a cross-site form
//! cannot send) or the UI's form posts (CSRF-checked in [`crate::ui::csrf`]).
#![forbid(unsafe_code)]

pub mod api;

use axum::http::HeaderMap;
use base64::Engine as _;

use crate::auth::Principal;
use crate::config::ReadAuth;
use crate::Shared;

/// The longest note kept (bytes); longer notes are cut at a character boundary.
pub const MAX_NOTE_BYTES: usize = 2000;
/// The longest a mute rule may last: a year (a permanent exception belongs in runwarden's policy).
pub const MAX_MUTE_US: i64 = 366 * 86_400 * 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Active,
    Acknowledged,
    Resolved,
    Muted,
}

impl State {
    pub const ALL: [State; 4] = [State::Active, State::Acknowledged, State::Resolved, State::Muted];

    pub fn parse(s: &str) -> Option<State> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ACTIVE" => Some(State::Active),
            "ACKNOWLEDGED" => Some(State::Acknowledged),
            "RESOLVED" => Some(State::Resolved),
            "MUTED" => Some(State::Muted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "ACTIVE",
            State::Acknowledged => "ACKNOWLEDGED",
            State::Resolved => "RESOLVED",
            State::Muted => "MUTED",
        }
    }
}

/// A mute rule as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuteRule {
    pub id: String,
    pub category: Option<String>,
    pub service: Option<String>,
    pub rule_id: Option<String>,
    /// Lower-cased.
    pub text: Option<String>,
    pub expires_us: i64,
    pub created_by: String,
    pub created_us: i64,
    pub note: String,
}

/// What a mute rule is matched against: a finding's columns.
pub struct Subject<'a> {
    pub category: &'a str,
    pub service: Option<&'a str>,
    pub rule_id: Option<&'a str>,
    pub search_text: &'a str,
}

impl MuteRule {
    /// A rule needs at least one condition: a rule without any would mute everything.
    pub fn has_condition(&self) -> bool {
        self.category.is_some() || self.service.is_some() || self.rule_id.is_some() || self.text.is_some()
    }

    pub fn matches(&self, f: &Subject<'_>, now_us: i64) -> bool {
        self.has_condition()
            && now_us < self.expires_us
            && self.category.as_deref().is_none_or(|c| c == f.category)
            && self.service.as_deref().is_none_or(|s| Some(s) == f.service)
            && self.rule_id.as_deref().is_none_or(|r| Some(r) == f.rule_id)
            && self.text.as_deref().is_none_or(|t| f.search_text.contains(t))
    }
}

/// The fields of a new mute rule as a person gives them (form or JSON); empty means "any".
#[derive(Debug, Clone, Default)]
pub struct MuteRequest {
    pub category: String,
    pub service: String,
    pub rule_id: String,
    pub text: String,
    /// A duration from now (`7d`, `12h`) or an RFC 3339 UTC time.
    pub expires: String,
    pub note: String,
}

impl MuteRequest {
    /// Checks the request and makes the rule (a new random id), or says what is wrong.
    pub fn into_rule(self, actor: &str, now_us: i64) -> Result<MuteRule, String> {
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty() && s.len() <= 1000);
        let expires_us = match self.expires.trim() {
            "" => return Err("expires: give a duration (7d, 12h) or an RFC 3339 time".into()),
            e => crate::model::parse_time(e)
                .or_else(|| {
                    let d = humantime::parse_duration(e).ok()?;
                    now_us.checked_add(i64::try_from(d.as_micros()).ok()?)
                })
                .ok_or_else(|| {
                    format!("expires={e:?}: expected a duration like 7d or an RFC 3339 UTC time")
                })?,
        };
        if expires_us <= now_us || expires_us - now_us > MAX_MUTE_US {
            return Err("expires: must be in the future and at most a year away".into());
        }
        let rule = MuteRule {
            id: random_hex(8).map_err(|e| format!("no random id: {e}"))?,
            category: opt(&self.category),
            service: opt(&self.service),
            rule_id: opt(&self.rule_id),
            text: opt(&self.text).map(|t| t.to_lowercase()),
            expires_us,
            created_by: actor.to_string(),
            created_us: now_us,
            note: clean_note(&self.note),
        };
        if !rule.has_condition() {
            return Err("a mute rule needs a category, a service, a rule id or a text".into());
        }
        Ok(rule)
    }
}

/// Cuts a note to [`MAX_NOTE_BYTES`] and drops control characters other than newlines.
pub fn clean_note(note: &str) -> String {
    let mut out: String = note.chars().filter(|c| !c.is_control() || *c == '\n').collect();
    if out.len() > MAX_NOTE_BYTES {
        let mut cut = MAX_NOTE_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out.trim().to_string()
}

/// A random identifier (hex of `bytes` bytes from the kernel's generator): mute rule ids, CSRF tokens.
pub fn random_hex(bytes: usize) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The HTTP Basic user name, when the browser sent one (the password is the token).
fn basic_user(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, cred) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(cred.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map(|(u, _)| u.trim()).unwrap_or("");
    (!user.is_empty()).then(|| clean_note(user).chars().take(64).collect())
}

/// Who is making a change, or why they may not (the same rule as reading: see module docs).
pub async fn actor(app: &Shared, headers: &HeaderMap) -> Result<String, crate::auth::AuthError> {
    if app.config.read_auth == ReadAuth::None {
        let iap = headers
            .get("x-goog-authenticated-user-email")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_start_matches("accounts.google.com:").to_string());
        return Ok(iap.or_else(|| basic_user(headers)).unwrap_or_else(|| "anonymous".to_string()));
    }
    let who = match app.auth.check(headers).await? {
        Principal::Anonymous => "anonymous".to_string(),
        Principal::Token(i) => format!("token #{i}"),
        Principal::Google(email) => email,
    };
    Ok(match basic_user(headers) {
        Some(user) => format!("{user} via {who}"),
        None => who,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> MuteRule {
        MuteRule {
            id: "m".into(),
            category: Some("Added Binary Executed".into()),
            service: Some("api".into()),
            rule_id: None,
            text: Some("/opt/plugins/".into()),
            expires_us: 100,
            created_by: "a".into(),
            created_us: 0,
            note: String::new(),
        }
    }

    #[test]
    fn mute_rules_match_all_their_conditions_until_expiry() {
        let f = Subject {
            category: "Added Binary Executed",
            service: Some("api"),
            rule_id: Some("drift"),
            search_text: "x\n/opt/plugins/a.so\n",
        };
        assert!(rule().matches(&f, 99));
        assert!(!rule().matches(&f, 100), "expired");
        assert!(!rule().matches(&Subject { service: Some("worker"), ..f }, 0));
        assert!(!rule().matches(&Subject { search_text: "/tmp/x", ..f }, 0));
        let empty = MuteRule { category: None, service: None, text: None, ..rule() };
        assert!(!empty.has_condition() && !empty.matches(&f, 0), "no condition mutes nothing");
        let by_rule = MuteRule { rule_id: Some("drift".into()), ..empty };
        assert!(by_rule.matches(&f, 0));
    }

    #[test]
    fn mute_requests() {
        let now = 1_000_000_000_000_000;
        let r = MuteRequest {
            service: " api ".into(),
            text: "/OPT/".into(),
            expires: "7d".into(),
            ..Default::default()
        };
        let rule = r.into_rule("me", now).unwrap();
        assert_eq!((rule.service.as_deref(), rule.text.as_deref()), (Some("api"), Some("/opt/")));
        assert_eq!(rule.expires_us, now + 7 * 86_400_000_000);
        let none = MuteRequest { expires: "7d".into(), ..Default::default() };
        assert!(none.into_rule("me", now).unwrap_err().contains("needs"));
        for e in ["", "forever", "400d", "2001-01-01T00:00:00Z"] {
            let r = MuteRequest { service: "api".into(), expires: e.into(), ..Default::default() };
            assert!(r.into_rule("me", now).is_err(), "{e}");
        }
    }

    #[test]
    fn states_and_notes() {
        assert_eq!(State::parse(" acknowledged"), Some(State::Acknowledged));
        assert_eq!(State::parse("INACTIVE"), None);
        assert_eq!(clean_note(" ok\u{7}\nfine "), "ok\nfine");
        assert_eq!(clean_note(&"é".repeat(2000)).len(), 2000);
        assert_eq!(random_hex(16).unwrap().len(), 32);
    }
}
