//! The SCC v2 REST calls and the access token, blocking (ureq; the [`super::worker`] runs them on
//! tokio's blocking pool). The token is the collector's service account's, from the metadata server
//! (`instance/service-accounts/default/token`, `Metadata-Flavor: Google`), kept until a minute before
//! it expires. What to do with an answer is [`decide`], a pure function of the status.
#![forbid(unsafe_code)]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{scc_finding, scc_id, scc_state, SccConfig};

/// Each call's whole time (connect, send, answer).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A token is renewed this long before its stated expiry.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    Done,
    /// Try again later (the reason, for the outbox row and the log).
    Retry(String),
    /// Will not work however often it is tried.
    GiveUp(String),
}

/// The retry decision (STYLE habit 7): 429, 408 and 5xx are retried, other 4xx are not; `not_yet`
/// (a 404 for a state change of a finding whose publish has not landed) is retried too.
pub fn decide(status: u16, body: &str, not_yet_on_404: bool) -> PublishOutcome {
    let why = format!("HTTP {status}: {}", body.chars().take(300).collect::<String>());
    match status {
        200..=299 => PublishOutcome::Done,
        408 | 429 | 500..=599 => PublishOutcome::Retry(why),
        404 if not_yet_on_404 => PublishOutcome::Retry(why),
        _ => PublishOutcome::GiveUp(why),
    }
}

pub struct Client {
    cfg: SccConfig,
    agent: ureq::Agent,
    token: Mutex<Option<(String, Instant)>>,
}

enum Answer {
    Status(u16, String),
    Network(String),
}

impl Client {
    pub fn new(cfg: SccConfig) -> Client {
        Client {
            cfg,
            agent: ureq::AgentBuilder::new().timeout(CALL_TIMEOUT).build(),
            token: Mutex::new(None),
        }
    }

    fn token(&self) -> Result<String, PublishOutcome> {
        if let Some((t, until)) =
            self.token.lock().map_err(|_| PublishOutcome::Retry("token lock".into()))?.as_ref()
        {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let url = format!("{}/computeMetadata/v1/instance/service-accounts/default/token", self.cfg.metadata);
        let resp = self
            .agent
            .get(&url)
            .set("Metadata-Flavor", "Google")
            .call()
            .map_err(|e| PublishOutcome::Retry(format!("metadata server token: {e}")))?;
        let text =
            resp.into_string().map_err(|e| PublishOutcome::Retry(format!("metadata server token: {e}")))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| PublishOutcome::Retry(format!("metadata server token: {e}")))?;
        let token = v["access_token"]
            .as_str()
            .ok_or_else(|| PublishOutcome::Retry("metadata server: no access_token".into()))?;
        let life = Duration::from_secs(v["expires_in"].as_u64().unwrap_or(300)).saturating_sub(TOKEN_MARGIN);
        *self.token.lock().map_err(|_| PublishOutcome::Retry("token lock".into()))? =
            Some((token.to_string(), Instant::now() + life));
        Ok(token.to_string())
    }

    fn call(&self, method: &str, path_and_query: &str, body: &Value) -> Result<Answer, PublishOutcome> {
        let token = self.token()?;
        let url = format!("{}/v2/{path_and_query}", self.cfg.endpoint);
        let r = self
            .agent
            .request(method, &url)
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", "application/json")
            .send_string(&body.to_string());
        Ok(match r {
            Ok(resp) => Answer::Status(resp.status(), resp.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, resp)) => {
                if code == 401 {
                    // A token revoked or expired early: fetch a new one next time.
                    if let Ok(mut t) = self.token.lock() {
                        *t = None;
                    }
                }
                Answer::Status(code, resp.into_string().unwrap_or_default())
            }
            Err(e) => Answer::Network(e.to_string()),
        })
    }

    fn outcome(&self, a: Answer, not_yet_on_404: bool) -> PublishOutcome {
        match a {
            Answer::Status(code, body) => decide(code, &body, not_yet_on_404),
            Answer::Network(e) => PublishOutcome::Retry(format!("network: {e}")),
        }
    }

    /// Creates the SCC finding, or (already there: 409) replaces it with the same content.
    pub fn publish(&self, body: &Value) -> PublishOutcome {
        let id = body["findingId"].as_str().unwrap_or_default();
        let finding = scc_finding(&self.cfg, body);
        let create = format!("{}/findings?findingId={}", self.cfg.parent(), scc_id(id));
        match self.call("POST", &create, &finding) {
            Err(o) => o,
            Ok(Answer::Status(409, _)) => {
                let name = self.cfg.finding_name(id);
                let mut full = finding;
                full["name"] = json!(name);
                match self.call("PATCH", &name, &full) {
                    Ok(a) => self.outcome(a, false),
                    Err(o) => o,
                }
            }
            Ok(a) => self.outcome(a, false),
        }
    }

    /// Sets the SCC finding's state and mute from a runwarden triage state.
    pub fn set_state(&self, finding_id: &str, state: &str) -> PublishOutcome {
        let name = self.cfg.finding_name(finding_id);
        let (scc, mute) = scc_state(state);
        for (verb, body) in [("setState", json!({ "state": scc })), ("setMute", json!({ "mute": mute }))] {
            match self.call("POST", &format!("{name}:{verb}"), &body) {
                Err(o) => return o,
                Ok(a) => match self.outcome(a, true) {
                    PublishOutcome::Done => {}
                    other => return other,
                },
            }
        }
        PublishOutcome::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_decision() {
        assert_eq!(decide(200, "", false), PublishOutcome::Done);
        for s in [408, 429, 500, 503] {
            assert!(matches!(decide(s, "", false), PublishOutcome::Retry(_)), "{s}");
        }
        for s in [400, 403, 404] {
            assert!(matches!(decide(s, "", false), PublishOutcome::GiveUp(_)), "{s}");
        }
        assert!(matches!(decide(404, "", true), PublishOutcome::Retry(_)));
    }
}
