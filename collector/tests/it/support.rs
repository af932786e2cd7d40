//! Shared test setup: a real store, a collector over it, and OTLP request builders.

use std::sync::Arc;

use anyhow::Context;
use datafusion::arrow::array::{Array, Int64Array};
use lookout_collector::{Collector, CollectorConfig};
use lookout_model::TenantId;
use lookout_storage::{StorageConfig, Store};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prometheus_client::registry::Registry;

/// A store in a temporary directory with a collector writing to it.
pub struct Harness {
    /// The store (for reading back).
    pub store: Store,
    /// The collector under test.
    pub collector: Arc<Collector>,
    /// Where the collector's metrics are registered.
    pub registry: Registry,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Opens a fresh store; the collector refuses requests over `max_request_bytes`.
    pub async fn new(max_request_bytes: usize) -> anyhow::Result<Self> {
        Self::with_storage(max_request_bytes, |_| {}).await
    }

    /// Like [`Self::new`], with storage settings adjusted by `configure`.
    pub async fn with_storage(
        max_request_bytes: usize,
        configure: impl FnOnce(&mut StorageConfig),
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("failed to create a temporary directory")?;
        let mut registry = Registry::default();
        let mut config = StorageConfig::new(dir.path());
        configure(&mut config);
        let store = Store::open(config, &mut registry)
            .await
            .context("failed to open the store")?;
        let collector = Collector::new(
            store.writer(),
            CollectorConfig { max_request_bytes },
            &mut registry,
        );
        Ok(Self {
            store,
            collector,
            registry,
            _dir: dir,
        })
    }

    /// `select count(*) from {table}` for the default tenant.
    pub async fn count(&self, table: &str) -> anyhow::Result<i64> {
        self.query_i64(&format!("select count(*) from {table}"))
            .await
    }

    /// Runs a query returning one Int64 value.
    pub async fn query_i64(&self, sql: &str) -> anyhow::Result<i64> {
        let context = self
            .store
            .reader()
            .session_context(&TenantId::default_tenant())?;
        let batches = context.sql(sql).await?.collect().await?;
        let batch = batches.first().context("query returned no batch")?;
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .context("expected an Int64 column")?;
        anyhow::ensure!(column.len() == 1, "expected one row, got {}", column.len());
        Ok(column.value(0))
    }

    /// The Prometheus exposition of the registry.
    pub fn metrics_text(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("encoding metrics into a String cannot fail");
        text
    }
}

/// A string attribute.
pub fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        key_strindex: 0,
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![string_attribute("service.name", service)],
        ..Default::default()
    })
}

/// A valid span; `seed` makes its ids and name unique.
pub fn span(seed: u32) -> Span {
    let mut trace_id = [7u8; 16];
    trace_id[..4].copy_from_slice(&seed.to_be_bytes());
    let mut span_id = [9u8; 8];
    span_id[..4].copy_from_slice(&seed.to_be_bytes());
    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        name: format!("span-{seed}"),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(seed),
        end_time_unix_nano: 1_700_000_000_100_000_000 + u64::from(seed),
        ..Default::default()
    }
}

/// A trace request holding `spans` under one resource and scope.
pub fn traces(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource("checkout"),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A logs request with `count` valid records.
pub fn logs(count: u32) -> ExportLogsServiceRequest {
    let records = (0..count)
        .map(|index| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + u64::from(index),
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(format!("log {index}"))),
            }),
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("checkout"),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A gauge point; `None` leaves the value out (which the collector refuses).
pub fn gauge_point(value: Option<f64>, index: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![string_attribute("host", &format!("h{index}"))],
        time_unix_nano: 1_700_000_000_000_000_000 + index,
        value: value.map(number_data_point::Value::AsDouble),
        ..Default::default()
    }
}

/// A metrics request with one gauge holding `points`.
pub fn metrics(points: Vec<NumberDataPoint>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("checkout"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "queue_depth".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: points,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Gzips bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(bytes)
        .expect("writing into a Vec cannot fail");
    encoder.finish().expect("writing into a Vec cannot fail")
}
