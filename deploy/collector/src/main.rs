//! `runwarden-collector`: reads the configuration from the environment (README "Collector"), opens the
//! database and serves until SIGTERM (Cloud Run's stop) or Ctrl-C.
#![forbid(unsafe_code)]

use anyhow::Context as _;
use runwarden_collector::config::CollectorConfig;

fn main() {
    if let Err(e) = run() {
        eprintln!("runwarden-collector: {e:#}");
        std::process::exit(2);
    }
}

fn run() -> anyhow::Result<()> {
    let config = CollectorConfig::from_env().context("configuration")?;
    runwarden_collector::log::init(config.log_level);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("tokio runtime")?;
    rt.block_on(async move {
        let addr = config.addr;
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let app = runwarden_collector::build(config).await?;
        tracing::info!(
            addr = %listener.local_addr()?,
            database = app.store.backend().name(),
            auth = if app.auth.is_open() { "none (loopback)" } else { "required" },
            "runwarden-collector listening"
        );
        runwarden_collector::serve(app.clone(), listener, shutdown_signal()).await.context("serving")?;
        app.store.close().await;
        Ok(())
    })
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}
