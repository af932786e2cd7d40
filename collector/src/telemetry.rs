//! The collector's own Prometheus metrics (`lookout_otlp_*`), with bounded labels only.

use lookout_model::Signal;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::error::RejectReason;

/// How a request arrived: the `transport` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with a binary protobuf body.
    HttpProtobuf,
    /// OTLP/HTTP with a JSON body.
    HttpJson,
    /// Prometheus remote write (snappy protobuf).
    PrometheusRemoteWrite,
}

impl Transport {
    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::HttpProtobuf => "http_protobuf",
            Transport::HttpJson => "http_json",
            Transport::PrometheusRemoteWrite => "prometheus_remote_write",
        }
    }
}

/// How a request ended: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every record stored.
    Success,
    /// Some records refused, the rest stored.
    PartialSuccess,
    /// The whole request refused.
    Failed(RejectReason),
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::PartialSuccess => "partial_success",
            Outcome::Failed(reason) => reason.as_str(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RecordLabels {
    signal: &'static str,
    transport: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RejectedLabels {
    signal: &'static str,
    transport: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    signal: &'static str,
    transport: &'static str,
    outcome: &'static str,
}

fn size_histogram() -> Histogram {
    // 256 B .. 64 MiB, x4 per bucket.
    Histogram::new(exponential_buckets(256.0, 4.0, 10))
}

/// Counters and histograms of the OTLP receivers.
#[derive(Debug, Clone)]
pub(crate) struct IngestMetrics {
    received_records: Family<RecordLabels, Counter>,
    accepted_records: Family<RecordLabels, Counter>,
    rejected_records: Family<RejectedLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    request_size_bytes: Family<RecordLabels, Histogram, fn() -> Histogram>,
}

impl IngestMetrics {
    /// Creates the metrics and registers them.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            received_records: Family::default(),
            accepted_records: Family::default(),
            rejected_records: Family::default(),
            requests: Family::default(),
            request_size_bytes: Family::new_with_constructor(size_histogram),
        };
        // prometheus-client appends `_total` to counters and the unit to the histogram.
        registry.register(
            "lookout_otlp_received_records",
            "OTLP records received (spans, log records, metric data points)",
            metrics.received_records.clone(),
        );
        registry.register(
            "lookout_otlp_accepted_records",
            "OTLP records stored",
            metrics.accepted_records.clone(),
        );
        registry.register(
            "lookout_otlp_rejected_records",
            "OTLP records refused, by reason",
            metrics.rejected_records.clone(),
        );
        registry.register(
            "lookout_otlp_requests",
            "OTLP export requests, by outcome",
            metrics.requests.clone(),
        );
        registry.register_with_unit(
            "lookout_otlp_request_size",
            "Size of OTLP request bodies after decompression",
            Unit::Bytes,
            metrics.request_size_bytes.clone(),
        );
        metrics
    }

    /// Observes the decompressed size of one request.
    pub(crate) fn observe_request_size(&self, signal: Signal, transport: Transport, bytes: usize) {
        self.request_size_bytes
            .get_or_create(&record_labels(signal, transport))
            .observe(bytes as f64);
    }

    /// Counts records that were received, whatever became of them.
    pub(crate) fn count_received(&self, signal: Signal, transport: Transport, records: u64) {
        if records > 0 {
            self.received_records
                .get_or_create(&record_labels(signal, transport))
                .inc_by(records);
        }
    }

    /// Counts stored records.
    pub(crate) fn count_accepted(&self, signal: Signal, transport: Transport, records: u64) {
        if records > 0 {
            self.accepted_records
                .get_or_create(&record_labels(signal, transport))
                .inc_by(records);
        }
    }

    /// Counts refused records with their reason.
    pub(crate) fn count_rejected(
        &self,
        signal: Signal,
        transport: Transport,
        reason: RejectReason,
        records: u64,
    ) {
        if records > 0 {
            self.rejected_records
                .get_or_create(&RejectedLabels {
                    signal: signal.as_str(),
                    transport: transport.as_str(),
                    reason: reason.as_str(),
                })
                .inc_by(records);
        }
    }

    /// Counts one finished request.
    pub(crate) fn count_request(&self, signal: Signal, transport: Transport, outcome: Outcome) {
        self.requests
            .get_or_create(&RequestLabels {
                signal: signal.as_str(),
                transport: transport.as_str(),
                outcome: outcome.as_str(),
            })
            .inc();
    }
}

fn record_labels(signal: Signal, transport: Transport) -> RecordLabels {
    RecordLabels {
        signal: signal.as_str(),
        transport: transport.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_the_documented_names() {
        let mut registry = Registry::default();
        let metrics = IngestMetrics::register(&mut registry);
        metrics.count_received(Signal::Traces, Transport::Grpc, 3);
        metrics.count_accepted(Signal::Traces, Transport::Grpc, 2);
        metrics.count_rejected(Signal::Traces, Transport::Grpc, RejectReason::InvalidId, 1);
        metrics.count_request(Signal::Traces, Transport::Grpc, Outcome::PartialSuccess);
        metrics.observe_request_size(Signal::Logs, Transport::HttpJson, 1000);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for expected in [
            r#"lookout_otlp_received_records_total{signal="traces",transport="grpc"} 3"#,
            r#"lookout_otlp_accepted_records_total{signal="traces",transport="grpc"} 2"#,
            r#"lookout_otlp_rejected_records_total{signal="traces",transport="grpc",reason="invalid_id"} 1"#,
            r#"lookout_otlp_requests_total{signal="traces",transport="grpc",outcome="partial_success"} 1"#,
            r#"lookout_otlp_request_size_bytes_count{signal="logs",transport="http_json"} 1"#,
        ] {
            assert!(text.contains(expected), "missing {expected} in\n{text}");
        }
    }
}
