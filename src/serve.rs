//! `lookout serve`: opens storage, binds the three listeners, runs until SIGINT/SIGTERM, then
//! drains the servers and flushes storage.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use crate::config::ServeConfig;
use crate::self_telemetry::{self, OpsState, ProcessMetrics};

/// Runs the daemon until a shutdown signal.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let (shutdown_sender, shutdown_receiver) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutdown requested, draining");
        let _ = shutdown_sender.send(true);
    });
    run_until(config, shutdown_receiver).await
}

/// Runs the daemon until `shutdown` turns true (tests drive this directly).
pub async fn run_until(config: ServeConfig, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let mut registry = Registry::default();
    let store = lookout_storage::Store::open(config.storage.clone(), &mut registry)
        .await
        .with_context(|| {
            format!(
                "failed to open storage in `{}`",
                config.storage.data_dir.display()
            )
        })?;
    let collector =
        lookout_collector::Collector::new(store.writer(), config.collector.clone(), &mut registry);
    let api_state =
        lookout_query::ApiState::new(store.reader(), config.query.clone(), &mut registry);
    let slo_engine = lookout_query::slo::SloEngine::new(
        store.reader(),
        lookout_model::TenantId::default_tenant(),
        config.slo.clone(),
        Arc::new(lookout_query::slo::SystemClock),
        &mut registry,
    );
    let alerting = lookout_query::alerting::Alerting::open(
        config.alerting.clone(),
        Arc::new(lookout_query::slo::SystemClock),
    )
    .context("failed to open the alerting state")?;
    alerting.register_metrics(&mut registry);
    // Subscribed before anything is appended, so the engine sees every record.
    let slo_appends = store.subscribe_appends(SLO_QUEUE_APPENDS);
    let prometheus_api = lookout_query::PrometheusApi::new(
        store.reader(),
        lookout_query::promql::PromqlConfig::default(),
        &mut registry,
    );
    let process = ProcessMetrics::register(&mut registry);
    let ready = Arc::new(AtomicBool::new(false));
    let ops = OpsState::new(registry, process, ready.clone());

    let grpc_listener = bind(config.otlp_grpc_addr, "OTLP/gRPC").await?;
    let otlp_http_listener = bind(config.otlp_http_addr, "OTLP/HTTP").await?;
    let http_listener = bind(config.http_addr, "HTTP API").await?;
    info!(
        otlp_grpc = %grpc_listener.local_addr()?,
        otlp_http = %otlp_http_listener.local_addr()?,
        http = %http_listener.local_addr()?,
        data_dir = %config.storage.data_dir.display(),
        "lookout is listening"
    );

    let app = lookout_query::router(api_state.clone())
        .merge(lookout_query::slo::api::router(
            api_state,
            slo_engine.clone(),
        ))
        .merge(lookout_query::alerting::api::router(alerting.clone()))
        .merge(self_telemetry::router(ops))
        .merge(lookout_query::prometheus_router(prometheus_api))
        .merge(lookout_collector::remote_write_router(collector.clone()));
    let slo_reload = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(forward_sighup(slo_reload.clone()));
    let slo = tokio::spawn(slo_engine.clone().run(
        slo_appends,
        slo_reload,
        signalled(shutdown.clone()),
    ));
    let alerts = tokio::spawn(alerting.run(
        slo_engine.clone(),
        ALERTING_POLL,
        signalled(shutdown.clone()),
    ));
    let grpc = tokio::spawn(lookout_collector::serve_grpc(
        grpc_listener,
        collector.clone(),
        signalled(shutdown.clone()),
    ));
    let otlp_http = tokio::spawn(lookout_collector::serve_http(
        otlp_http_listener,
        collector,
        signalled(shutdown.clone()),
    ));
    let api = tokio::spawn({
        let shutdown = signalled(shutdown.clone());
        async move {
            axum::serve(http_listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    });
    let (storage_stop_sender, storage_stop_receiver) = watch::channel(false);
    let background = {
        let store_shutdown = signalled(storage_stop_receiver);
        async move { store.run_background(store_shutdown).await }
    };
    let background = tokio::spawn(background);
    ready.store(true, Ordering::Release);

    // Servers stop taking requests and finish those in flight; only then does storage flush,
    // so every acknowledged record reaches Parquet.
    grpc.await
        .context("OTLP/gRPC server task failed")?
        .context("OTLP/gRPC server failed")?;
    otlp_http
        .await
        .context("OTLP/HTTP server task failed")?
        .context("OTLP/HTTP server failed")?;
    api.await
        .context("HTTP API task failed")?
        .context("HTTP API server failed")?;
    ready.store(false, Ordering::Release);
    slo.abort();
    alerts.abort();
    let _ = storage_stop_sender.send(true);
    background
        .await
        .context("storage task failed")?
        .context("storage failed to flush on shutdown")?;
    info!("lookout stopped");
    Ok(())
}

/// How often alerting reads the SLO engine's verdicts and flushes due groups.
const ALERTING_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Appends the SLO engine may fall behind before ingest waits for it.
const SLO_QUEUE_APPENDS: usize = 1024;

/// Turns every SIGHUP into a rules reload.
async fn forward_sighup(reload: Arc<tokio::sync::Notify>) {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(mut hangups) => {
            while hangups.recv().await.is_some() {
                reload.notify_one();
            }
        }
        Err(error) => {
            tracing::warn!(%error, "failed to listen for SIGHUP; rules reload on file change only")
        }
    }
}

async fn bind(address: std::net::SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("failed to bind {what} listener on {address}"))
}

/// Resolves once the watch value becomes true (or its sender is gone).
async fn signalled(mut receiver: watch::Receiver<bool>) {
    let _ = receiver.wait_for(|stop| *stop).await;
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::error!(%error, "failed to listen for SIGTERM; only SIGINT will stop lookout");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
