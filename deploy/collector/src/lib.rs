//! runwarden-collector: the central endpoint for runwarden's findings.
//!
//! Data flow: runwarden's HTTP sink `POST`s `{"findings": [...], "heartbeat": {...}}` (maybe gzipped) to
//! `/v1/findings` -> [`auth`] checks the bearer token or Google ID token -> [`ingest`] bounds, inflates
//! and parses the body into a checked [`model::DecodedBatch`] -> [`storage`] keeps it (SQLite or PostgreSQL,
//! idempotent by `findingId`, heartbeats folded into one row per instance) -> the query API ([`api`],
//! JSON and [`export`]ed CSV) and the server-rendered web UI ([`ui`]) read it back. A background task
//! deletes what is older than the retention.
//!
//! Each stored finding is placed in an [`incidents`] group (instance, process lineage, time) in the same
//! transaction.
//!
//! Modules, one noun each: [`config`] (environment), [`auth`], [`model`] (the wire contract),
//! [`ingest`], [`storage`], [`incidents`], [`triage`] (states, mute rules, audit), [`trends`], [`scc`] (Security Command Center export), [`api`], [`export`], [`ui`], [`log`] (operator logs).
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod config;
pub mod export;
pub mod incidents;
pub mod ingest;
pub mod log;
pub mod model;
pub mod scc;
pub mod storage;
pub mod trends;
pub mod triage;
pub mod ui;

#[cfg(test)]
mod props;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

use config::CollectorConfig;
use storage::Store;

/// What every handler shares.
pub struct App {
    pub config: CollectorConfig,
    pub auth: auth::Auth,
    pub store: Store,
}

pub type Shared = Arc<App>;

/// Opens the store (migrating it) and builds the application.
pub async fn build(config: CollectorConfig) -> Result<Shared, storage::StorageError> {
    let mut store = Store::open(&config.database_url).await?;
    if config.scc.is_some() {
        store = store.with_scc_export();
    }
    let auth = auth::Auth::new(&config);
    Ok(Arc::new(App { config, auth, store }))
}

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/v1/findings", post(ingest::post_findings).get(api::list_findings))
        .route("/v1/findings/{id}", get(api::get_finding))
        .route("/v1/counts", get(api::counts))
        .route("/v1/instances", get(api::instances))
        .route("/v1/incidents", get(incidents::api::list))
        .route("/v1/incidents/{id}", get(incidents::api::get))
        .route("/v1/findings/{id}/state", post(triage::api::finding_state))
        .route("/v1/incidents/{id}/state", post(triage::api::incident_state))
        .route("/v1/audit", get(triage::api::audit))
        .route("/v1/trends", get(trends::api))
        .route("/v1/mutes", get(triage::api::mutes).post(triage::api::add_mute))
        .route("/v1/mutes/{id}/end", post(triage::api::end_mute))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/", get(ui::root))
        .route("/findings", get(ui::list::page_route))
        .route("/findings/{id}", get(ui::finding::page_route))
        .route("/instances", get(ui::instances::page_route))
        .route("/incidents", get(ui::incidents::list_route))
        .route("/incidents/{id}", get(ui::incidents::page_route))
        .route("/findings/{id}/state", post(ui::triage::finding_state))
        .route("/incidents/{id}/state", post(ui::triage::incident_state))
        .route("/trends", get(ui::trends::page_route))
        .route("/mutes", get(ui::triage::mutes_page).post(ui::triage::add_mute))
        .route("/mutes/{id}/end", post(ui::triage::end_mute))
        .fallback(api::not_found)
        .with_state(app)
}

/// Serves on `listener` until `shutdown` resolves, with the retention task running beside.
pub async fn serve(
    app: Shared,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Some(retention) = app.config.retention {
        tokio::spawn(retention_task(app.store.clone(), retention));
    }
    if let Some(scc) = app.config.scc.clone() {
        tokio::spawn(scc::worker::run(app.store.clone(), scc));
    }
    axum::serve(listener, router(app)).with_graceful_shutdown(shutdown).await
}

/// Sweeps every tenth of the retention (at most hourly), so nothing outlives it by more than that.
async fn retention_task(store: Store, retention: Duration) {
    let every = (retention / 10).min(Duration::from_secs(3600));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let cutoff = model::now_us() - i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
        match store.purge(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "retention: deleted old findings"),
            Err(e) => tracing::error!(error = %e, "retention sweep failed"),
        }
    }
}
