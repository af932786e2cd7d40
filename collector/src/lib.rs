//! OTLP receivers: gRPC (tonic) and HTTP protobuf/JSON (axum), converting to `lookout_model`
//! at the edge and appending to the storage [`Writer`](lookout_storage::Writer).
//!
//! This is the only crate that knows OTLP protobuf. Every request goes through one pipeline
//! (the private `ingest` module): decode, convert (rejecting bad records one by one), append,
//! count, answer.

pub mod config;
pub mod convert;
pub mod error;
mod grpc;
mod http;
mod ingest;
mod status;
mod telemetry;
mod tenant;

use std::sync::Arc;

pub use config::{CollectorConfig, CollectorFileConfig};
pub use convert::Converted;
pub use error::{CollectorError, RejectReason};
pub use grpc::serve_grpc;
pub use http::remote_write::remote_write_router;
pub use http::{http_router, serve_http};
pub use tenant::tenant_for_request;

use lookout_storage::Writer;

/// The OTLP receiver state shared by the gRPC and HTTP transports.
pub struct Collector {
    writer: Writer,
    config: CollectorConfig,
    metrics: telemetry::IngestMetrics,
}

impl Collector {
    /// Builds a collector appending to `writer` and registers its self-telemetry
    /// (`lookout_otlp_*`) in `registry`.
    pub fn new(
        writer: Writer,
        config: CollectorConfig,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Arc<Self> {
        let metrics = telemetry::IngestMetrics::register(registry);
        Arc::new(Self {
            writer,
            config,
            metrics,
        })
    }

    /// The configuration this collector runs with.
    pub fn config(&self) -> &CollectorConfig {
        &self.config
    }
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
