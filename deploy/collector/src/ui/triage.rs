//! Triage in the browser, without JavaScript: a state form and the audit on each finding and incident
//! page, a "mute findings like this" form on the finding page, and `/mutes` (the rules, a form for a
//! new one, a button to end one). Every form posts with a CSRF token ([`super::csrf`]) and answers with
//! a `303` back to its page.
#![forbid(unsafe_code)]

use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};

use super::csrf::{self, Csrf};
use super::text::encode_path;
use super::{error_page, page, time, Nav};
use crate::api::read_guard;
use crate::storage::triage::AuditEntry;
use crate::triage::api::change_state;
use crate::triage::{actor, MuteRequest, State};
use crate::{model, Shared};

/// Durations offered for a mute rule.
const MUTE_FOR: [(&str, &str); 4] =
    [("1d", "1 day"), ("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days")];

fn state_class(s: &str) -> String {
    format!("state state-{}", s.to_ascii_lowercase())
}

pub fn state_badge(s: &str) -> Markup {
    html! { span class=(state_class(s)) { (s) } }
}

/// The state form and the audit of a finding (`kind` "finding") or an incident.
pub fn panel(kind: &str, id: &str, state: &str, audit: &[AuditEntry], csrf: &Csrf) -> Markup {
    let action = format!("/{kind}s/{}/state", encode_path(id));
    html! {
        section.triage #triage {
            h2 { "Triage" }
            p { "State: " span #state { (state_badge(state)) } }
            form.filters method="post" action=(action) #state-form {
                (csrf.field())
                label { "New state" select name="state" #t-state {
                    @for s in State::ALL { option selected[s.as_str() == state] { (s.as_str()) } }
                } }
                label { "Note" input name="note" #t-note size="40" maxlength="2000"; }
                button type="submit" #t-apply { "Set state" }
            }
            h2 { "History" }
            table #audit {
                thead { tr { th { "When" } th { "Who" } th { "Change" } th { "Note" } } }
                tbody {
                    @for a in audit {
                        tr.audit {
                            td { (time(a.at_us)) }
                            td.actor { (a.actor) }
                            td { (a.action) ": " (a.old_state.as_deref().unwrap_or("")) " → " (a.new_state.as_deref().unwrap_or("")) }
                            td.note { (a.note) }
                        }
                    }
                    @if audit.is_empty() { tr { td colspan="4" .muted { "No changes yet." } } }
                }
            }
        }
    }
}

/// "Mute findings like this": the finding's category, service and rule, editable, with an expiry.
pub fn mute_form(category: &str, service: &str, rule_id: &str, csrf: &Csrf) -> Markup {
    html! {
        details #mute-like-this {
            summary { "Mute findings like this" }
            form.filters method="post" action="/mutes" #mute-form {
                (csrf.field())
                label { "Category" input name="category" value=(category) size="30"; }
                label { "Service" input name="service" value=(service) size="14"; }
                label { "Rule" input name="rule_id" value=(rule_id) size="20"; }
                label { "Text" input name="text" size="14" placeholder="path, arg..."; }
                label { "For" select name="expires" { @for (v, l) in MUTE_FOR { option value=(v) selected[v == "7d"] { (l) } } } }
                label { "Note" input name="note" size="30"; }
                button type="submit" #m-apply { "Mute" }
            }
        }
    }
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

async fn form_post(
    app: Shared,
    headers: HeaderMap,
    kind: &str,
    id: String,
    form: Vec<(String, String)>,
) -> Response {
    if let Err(why) = csrf::check(&headers, field(&form, "csrf")) {
        return error_page(StatusCode::FORBIDDEN, why);
    }
    let who = match actor(&app, &headers).await {
        Ok(w) => w,
        Err(e) => return crate::api::auth_failure(&e, true),
    };
    let Some(state) = State::parse(field(&form, "state")) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "state: expected ACTIVE, ACKNOWLEDGED, RESOLVED or MUTED",
        );
    };
    match change_state(&app, kind, &id, state, &who, field(&form, "note")).await {
        Ok(Some(_)) => Redirect::to(&format!("/{kind}s/{}", encode_path(&id))).into_response(),
        Ok(None) => error_page(StatusCode::NOT_FOUND, &format!("No {kind} {id:?}.")),
        Err(e) => {
            tracing::error!(error = %e, "triage form failed");
            error_page(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later")
        }
    }
}

pub async fn finding_state(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    form_post(app, headers, "finding", id, form).await
}

pub async fn incident_state(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    form_post(app, headers, "incident", id, form).await
}

pub async fn add_mute(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(why) = csrf::check(&headers, field(&form, "csrf")) {
        return error_page(StatusCode::FORBIDDEN, why);
    }
    let who = match actor(&app, &headers).await {
        Ok(w) => w,
        Err(e) => return crate::api::auth_failure(&e, true),
    };
    let req = MuteRequest {
        category: field(&form, "category").into(),
        service: field(&form, "service").into(),
        rule_id: field(&form, "rule_id").into(),
        text: field(&form, "text").into(),
        expires: field(&form, "expires").into(),
        note: field(&form, "note").into(),
    };
    let rule = match req.into_rule(&who, model::now_us()) {
        Ok(r) => r,
        Err(reason) => return error_page(StatusCode::BAD_REQUEST, &reason),
    };
    match app.store.add_mute(&rule).await {
        Ok(()) => Redirect::to("/mutes").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "mute form failed");
            error_page(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later")
        }
    }
}

pub async fn end_mute(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(why) = csrf::check(&headers, field(&form, "csrf")) {
        return error_page(StatusCode::FORBIDDEN, why);
    }
    let who = match actor(&app, &headers).await {
        Ok(w) => w,
        Err(e) => return crate::api::auth_failure(&e, true),
    };
    match app.store.end_mute(&id, &who, model::now_us()).await {
        Ok(_) => Redirect::to("/mutes").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "end mute failed");
            error_page(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later")
        }
    }
}

pub async fn mutes_page(AxState(app): AxState<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    let list = match app.store.mutes().await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "mutes page failed");
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later");
        }
    };
    let csrf = Csrf::for_page(&headers);
    let now = model::now_us();
    let any = |v: &Option<String>| v.clone().unwrap_or_else(|| "any".to_string());
    let body = html! {
        h1 { "Mute rules" }
        p.muted { "A finding stored while a rule matches it (every condition given) arrives MUTED. Findings stored before a rule, or after it expires, are not changed." }
        table #mutes {
            thead { tr { th { "Category" } th { "Service" } th { "Rule" } th { "Text" } th { "Expires" }
                th { "By" } th { "Note" } th { "" } } }
            tbody {
                @for m in &list {
                    tr class={ "mute " @if m.expires_us > now { "mute-active" } @else { "mute-expired" } } {
                        td { (any(&m.category)) } td { (any(&m.service)) } td { (any(&m.rule_id)) } td { (any(&m.text)) }
                        td { (time(m.expires_us)) @if m.expires_us <= now { " (expired)" } }
                        td { (m.created_by) } td { (m.note) }
                        td { @if m.expires_us > now {
                            form method="post" action={ "/mutes/" (encode_path(&m.id)) "/end" } {
                                (csrf.field()) button.end type="submit" { "End now" }
                            }
                        } }
                    }
                }
                @if list.is_empty() { tr { td colspan="8" .muted { "No mute rules." } } }
            }
        }
        h2 { "New rule" }
        (mute_form("", "", "", &csrf))
    };
    csrf.apply(page("Mute rules", Nav::Mutes, body))
}
