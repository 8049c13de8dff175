//! runwarden-collector: the central endpoint for runwarden's findings.
//!
//! Data flow: runwarden's HTTP sink `POST`s `{"findings": [...], "heartbeat": {...}}` (maybe gzipped) to
//! `/v1/findings` -> [`auth`] checks the bearer token or Google ID token -> [`ingest`] bounds, inflates
//! and parses the body into a checked [`model::Batch`] -> [`storage`] keeps it (SQLite or PostgreSQL,
//! idempotent by `findingId`, heartbeats folded into one row per instance) -> the query API ([`api`],
//! JSON and [`export`]ed CSV) and the server-rendered web UI ([`ui`]) read it back. A background task
//! deletes what is older than the retention.
//!
//! Modules, one noun each: [`config`] (environment), [`auth`], [`model`] (the wire contract),
//! [`ingest`], [`storage`], [`api`], [`export`], [`ui`], [`log`] (operator logs).
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod config;
pub mod export;
pub mod ingest;
pub mod log;
pub mod model;
pub mod storage;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

use config::Config;
use storage::Store;

/// What every handler shares.
pub struct App {
    pub config: Config,
    pub auth: auth::Auth,
    pub store: Store,
}

pub type Shared = Arc<App>;

/// Opens the store (migrating it) and builds the application.
pub async fn build(config: Config) -> Result<Shared, storage::StorageError> {
    let store = Store::open(&config.database_url).await?;
    let auth = auth::Auth::new(&config);
    Ok(Arc::new(App { config, auth, store }))
}

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/v1/findings", post(ingest::post_findings).get(api::list_findings))
        .route("/v1/findings/{id}", get(api::get_finding))
        .route("/v1/counts", get(api::counts))
        .route("/v1/instances", get(api::instances))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/", get(ui::root))
        .route("/findings", get(ui::list::page_route))
        .route("/findings/{id}", get(ui::finding::page_route))
        .route("/instances", get(ui::instances::page_route))
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
