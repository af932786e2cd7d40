//! Lookout observing itself: structured logs, `/metrics`, `/health/live`, `/health/ready`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Sets up `tracing` with `RUST_LOG` (default `info`), written to standard error.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Process figures read from `/proc/self` at each scrape.
#[derive(Clone, Default)]
pub struct ProcessMetrics {
    cpu_seconds: Counter<f64, AtomicU64>,
    resident_bytes: Gauge,
    peak_resident_bytes: Gauge,
}

impl ProcessMetrics {
    /// Registers the process metrics.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "lookout_process_cpu_seconds",
            "User and system CPU time of the daemon",
            metrics.cpu_seconds.clone(),
        );
        registry.register(
            "lookout_process_resident_memory_bytes",
            "Resident set size of the daemon",
            metrics.resident_bytes.clone(),
        );
        registry.register(
            "lookout_process_peak_resident_memory_bytes",
            "Peak resident set size of the daemon since start",
            metrics.peak_resident_bytes.clone(),
        );
        metrics
    }

    fn refresh(&self) {
        if let Some(cpu_seconds) = read_cpu_seconds() {
            let previous = self.cpu_seconds.get();
            if cpu_seconds > previous {
                self.cpu_seconds.inc_by(cpu_seconds - previous);
            }
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            let field = |name: &str| -> Option<i64> {
                let line = status.lines().find(|line| line.starts_with(name))?;
                let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kib * 1024)
            };
            if let Some(bytes) = field("VmRSS:") {
                self.resident_bytes.set(bytes);
            }
            if let Some(bytes) = field("VmHWM:") {
                self.peak_resident_bytes.set(bytes);
            }
        }
    }
}

/// utime + stime of this process in seconds, from `/proc/self/stat`.
fn read_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name, which may itself contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let user_ticks: f64 = fields.get(11)?.parse().ok()?;
    let system_ticks: f64 = fields.get(12)?.parse().ok()?;
    Some((user_ticks + system_ticks) / USER_HZ)
}

/// `/proc` reports CPU time in USER_HZ ticks, which the Linux ABI fixes at 100.
const USER_HZ: f64 = 100.0;

/// Shared state of the operational endpoints.
#[derive(Clone)]
pub struct OpsState {
    registry: Arc<Registry>,
    process: ProcessMetrics,
    ready: Arc<AtomicBool>,
}

impl OpsState {
    /// Wraps the finished registry.
    pub fn new(registry: Registry, process: ProcessMetrics, ready: Arc<AtomicBool>) -> Self {
        Self {
            registry: Arc::new(registry),
            process,
            ready,
        }
    }
}

/// `/metrics`, `/health/live`, `/health/ready`.
pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/health/live", get(|| async { "ok\n" }))
        .route("/health/ready", get(ready_handler))
        .with_state(state)
}

async fn metrics_handler(State(state): State<OpsState>) -> impl IntoResponse {
    state.process.refresh();
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "failed to encode metrics\n".to_owned(),
        ),
    }
}

async fn ready_handler(State(state): State<OpsState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
