//! Prometheus remote write 1.0: `POST /api/v1/write` with a snappy-compressed protobuf
//! `WriteRequest`. Series are stored in the `metrics` table as gauges under the
//! [`REMOTE_WRITE_SCOPE`] scope, every label (but `__name__`) as a point attribute, `job` and
//! `instance` also as `service.name` and `service.instance.id`, so PromQL answers them under
//! their original names and labels.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};
use lookout_model::prometheus::REMOTE_WRITE_SCOPE;
use lookout_model::{
    KeyValue, Metric, MetricBatch, MetricData, NumberPoint, NumberValue, PointCommon, Resource,
    ResourceGroup, Scope, ScopeGroup,
};
use prost::Message;

use super::body;
use crate::Collector;
use crate::convert::Converted;
use crate::error::RequestError;
use crate::ingest::{BLOCKING_THRESHOLD_BYTES, Metrics, run_cpu_bound};
use crate::status::{self, RETRY_AFTER as RETRY_AFTER_DELAY};
use crate::telemetry::Transport;
use crate::tenant::tenant_for_request;

/// The staleness marker Prometheus writes when a series disappears.
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// OTLP's "no recorded value" point flag, which the query side reads as a staleness marker.
const FLAG_NO_RECORDED_VALUE: u32 = 1;

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric metadata (type, help, unit); not stored.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    /// Labels, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples in time order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Exemplars.
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.Exemplar`.
#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    /// Exemplar labels (`trace_id`...).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// The value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    /// Metric type (Prometheus' enum).
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// Metric family name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// Help text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// Unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// The remote-write route, for the daemon's HTTP listener.
pub fn remote_write_router(collector: Arc<Collector>) -> Router {
    Router::new()
        .route("/api/v1/write", post(write))
        .with_state(collector)
}

async fn write(
    State(collector): State<Arc<Collector>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let transport = Transport::PrometheusRemoteWrite;
    match receive(&collector, &headers, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => {
            if !matches!(error, RequestError::Storage(_)) {
                collector.count_failure(lookout_model::Signal::Metrics, transport, &error);
            }
            let mut response = (
                status::http_status(&error),
                [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{error}\n"),
            )
                .into_response();
            if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_DELAY.as_secs()));
            }
            response
        }
    }
}

fn check_headers(headers: &HeaderMap) -> Result<(), RequestError> {
    let encoding = headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !encoding.eq_ignore_ascii_case("snappy") {
        return Err(RequestError::UnsupportedMediaType(format!(
            "unsupported content-encoding `{}`, remote write needs `snappy`",
            encoding.escape_debug()
        )));
    }
    if let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/x-protobuf") {
            return Err(RequestError::UnsupportedMediaType(format!(
                "unsupported content-type `{}`, remote write needs `application/x-protobuf`",
                content_type.escape_debug()
            )));
        }
        let proto = content_type
            .split(';')
            .skip(1)
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("proto"))
            .map(|(_, v)| v.trim().to_owned());
        if let Some(proto) = proto
            && proto != "prometheus.WriteRequest"
        {
            return Err(RequestError::UnsupportedMediaType(format!(
                "unsupported remote write protobuf message `{}`, only 1.0 (`prometheus.WriteRequest`) is accepted",
                proto.escape_debug()
            )));
        }
    }
    Ok(())
}

async fn receive(
    collector: &Collector,
    headers: &HeaderMap,
    request_body: axum::body::Body,
) -> Result<(), RequestError> {
    check_headers(headers)?;
    let tenant = tenant_for_request(headers);
    let limit_bytes = collector.config.max_request_bytes;
    let raw = body::read_limited(headers, request_body, limit_bytes).await?;
    let heavy = raw.len() >= BLOCKING_THRESHOLD_BYTES / 4;
    let (size_bytes, converted) = run_cpu_bound(heavy, move || {
        let length = snap::raw::decompress_len(&raw)
            .map_err(|error| RequestError::Decode(format!("invalid snappy body: {error}")))?;
        if length > limit_bytes {
            return Err(RequestError::TooLarge { limit_bytes });
        }
        let inflated = snap::raw::Decoder::new()
            .decompress_vec(&raw)
            .map_err(|error| RequestError::Decode(format!("invalid snappy body: {error}")))?;
        let request = WriteRequest::decode(inflated.as_slice())
            .map_err(|error| RequestError::Decode(error.to_string()))?;
        Ok::<_, RequestError>((inflated.len(), convert(request)))
    })
    .await??;
    let transport = Transport::PrometheusRemoteWrite;
    collector.observe_request_size(lookout_model::Signal::Metrics, transport, size_bytes);
    if let Some(partial) = collector
        .ingest::<Metrics>(&tenant, transport, converted)
        .await?
    {
        // Prometheus has no partial success: the good series are stored, the rest reported.
        return Err(RequestError::Decode(partial.message));
    }
    Ok(())
}

/// Remote-write series -> metric batch: one resource per (`job`, `instance`), one gauge per
/// series. A series without a metric name is refused (counted, reported).
pub fn convert(request: WriteRequest) -> Converted<MetricBatch> {
    let mut by_target: BTreeMap<(String, String), Vec<Metric>> = BTreeMap::new();
    let mut rejected = 0u64;
    let mut first_error = None;
    for series in request.timeseries {
        let mut name = None;
        let mut attributes = Vec::with_capacity(series.labels.len());
        let mut job = String::new();
        let mut instance = String::new();
        for label in series.labels {
            match label.name.as_str() {
                "__name__" => {
                    name = Some(label.value);
                    continue;
                }
                "job" => job.clone_from(&label.value),
                "instance" => instance.clone_from(&label.value),
                _ => {}
            }
            if !label.value.is_empty() {
                attributes.push(KeyValue::string(label.name, label.value));
            }
        }
        let name = match name {
            Some(name) if !name.is_empty() => name,
            _ => {
                if !series.samples.is_empty() {
                    rejected += series.samples.len() as u64;
                    first_error.get_or_insert_with(|| "a series has no __name__ label".to_owned());
                }
                continue;
            }
        };
        if series.samples.is_empty() {
            continue;
        }
        let points = series
            .samples
            .iter()
            .map(|sample| {
                let stale = sample.value.to_bits() == STALE_NAN_BITS;
                NumberPoint {
                    common: PointCommon {
                        attributes: attributes.clone(),
                        start_time_unix_nano: 0,
                        time_unix_nano: (sample.timestamp.max(0) as u64).saturating_mul(1_000_000),
                        flags: if stale { FLAG_NO_RECORDED_VALUE } else { 0 },
                        exemplars: Vec::new(),
                    },
                    value: NumberValue::Double(if stale { f64::NAN } else { sample.value }),
                }
            })
            .collect();
        by_target.entry((job, instance)).or_default().push(Metric {
            name,
            description: String::new(),
            unit: String::new(),
            metadata: Vec::new(),
            data: MetricData::Gauge { points },
        });
    }
    let resources = by_target
        .into_iter()
        .map(|((job, instance), metrics)| {
            let mut attributes = Vec::new();
            if !job.is_empty() {
                attributes.push(KeyValue::string("service.name", job));
            }
            if !instance.is_empty() {
                attributes.push(KeyValue::string("service.instance.id", instance));
            }
            ResourceGroup {
                resource: Resource {
                    attributes,
                    ..Resource::default()
                },
                scopes: vec![ScopeGroup {
                    scope: Scope {
                        name: REMOTE_WRITE_SCOPE.to_owned(),
                        ..Scope::default()
                    },
                    records: metrics,
                }],
            }
        })
        .collect();
    Converted {
        batch: MetricBatch { resources },
        rejected,
        rejected_invalid_id: 0,
        rejected_missing_value: 0,
        first_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(name: &str, value: &str) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn converts_series_and_staleness() {
        let request = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![
                        label("__name__", "up"),
                        label("job", "prometheus"),
                        label("instance", "localhost:9090"),
                    ],
                    samples: vec![
                        Sample {
                            value: 1.0,
                            timestamp: 1_000,
                        },
                        Sample {
                            value: f64::from_bits(STALE_NAN_BITS),
                            timestamp: 2_000,
                        },
                    ],
                    exemplars: vec![],
                },
                TimeSeries {
                    labels: vec![label("job", "x")],
                    samples: vec![Sample {
                        value: 1.0,
                        timestamp: 1_000,
                    }],
                    exemplars: vec![],
                },
            ],
            metadata: vec![],
        };
        let converted = convert(request);
        assert_eq!(converted.rejected, 1);
        assert_eq!(converted.batch.resources.len(), 1);
        let group = &converted.batch.resources[0];
        assert_eq!(group.resource.service_name(), "prometheus");
        assert_eq!(group.scopes[0].scope.name, REMOTE_WRITE_SCOPE);
        let metric = &group.scopes[0].records[0];
        assert_eq!(metric.name, "up");
        let MetricData::Gauge { points } = &metric.data else {
            panic!("remote-write series are gauges");
        };
        assert_eq!(points[0].common.time_unix_nano, 1_000_000_000);
        assert_eq!(points[0].common.attributes.len(), 2);
        assert_eq!(points[1].common.flags, FLAG_NO_RECORDED_VALUE);
    }
}
