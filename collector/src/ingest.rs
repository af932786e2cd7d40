//! The pipeline every export request goes through, whatever its transport: convert, append,
//! count, answer. Transports only decode bodies and encode answers.

use lookout_model::{Batch, Countable, Signal, TenantId};
use lookout_storage::Payload;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tracing::{error, warn};

use crate::Collector;
use crate::convert::{self, Converted};
use crate::error::{RejectReason, RequestError};
use crate::telemetry::{Outcome, Transport};

/// Requests at least this large are decoded and converted on the blocking pool, so that the
/// async workers are not held for more than a fraction of a millisecond.
pub(crate) const BLOCKING_THRESHOLD_BYTES: usize = 64 * 1024;

/// What was refused in an otherwise successful request (OTLP `partial_success`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartialSuccess {
    /// Records refused.
    pub(crate) rejected: i64,
    /// Why, for people.
    pub(crate) message: String,
}

/// One OTLP signal: its request and response messages and how they map to the model.
pub(crate) trait OtlpSignal: Send + Sync + 'static {
    /// `Export*ServiceRequest`.
    type Request: prost::Message + Default + serde::de::DeserializeOwned + Send + 'static;
    /// `Export*ServiceResponse`.
    type Response: prost::Message + Send + 'static;
    /// Model record type.
    type Record: Countable + Send + 'static;

    /// The signal.
    const SIGNAL: Signal;
    /// Plural record noun for messages.
    const NOUN: &'static str;
    /// OTLP/JSON name of the `rejected_*` field of the partial success message.
    const REJECTED_JSON_FIELD: &'static str;

    /// Proto -> model.
    fn convert(request: Self::Request) -> Converted<Batch<Self::Record>>;
    /// Wraps a batch for storage.
    fn payload(batch: Batch<Self::Record>) -> Payload;
    /// The response message; `partial_success` is set only when records were refused.
    fn response(partial: Option<PartialSuccess>) -> Self::Response;
}

/// Spans.
pub(crate) struct Traces;
/// Log records.
pub(crate) struct Logs;
/// Metric data points.
pub(crate) struct Metrics;

impl OtlpSignal for Traces {
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    type Record = lookout_model::Span;
    const SIGNAL: Signal = Signal::Traces;
    const NOUN: &'static str = "spans";
    const REJECTED_JSON_FIELD: &'static str = "rejectedSpans";

    fn convert(request: Self::Request) -> Converted<Batch<Self::Record>> {
        convert::spans(request)
    }
    fn payload(batch: Batch<Self::Record>) -> Payload {
        Payload::Spans(batch)
    }
    fn response(partial: Option<PartialSuccess>) -> Self::Response {
        ExportTraceServiceResponse {
            partial_success: partial.map(|partial| ExportTracePartialSuccess {
                rejected_spans: partial.rejected,
                error_message: partial.message,
            }),
        }
    }
}

impl OtlpSignal for Logs {
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    type Record = lookout_model::LogRecord;
    const SIGNAL: Signal = Signal::Logs;
    const NOUN: &'static str = "log records";
    const REJECTED_JSON_FIELD: &'static str = "rejectedLogRecords";

    fn convert(request: Self::Request) -> Converted<Batch<Self::Record>> {
        convert::logs(request)
    }
    fn payload(batch: Batch<Self::Record>) -> Payload {
        Payload::Logs(batch)
    }
    fn response(partial: Option<PartialSuccess>) -> Self::Response {
        ExportLogsServiceResponse {
            partial_success: partial.map(|partial| ExportLogsPartialSuccess {
                rejected_log_records: partial.rejected,
                error_message: partial.message,
            }),
        }
    }
}

impl OtlpSignal for Metrics {
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;
    type Record = lookout_model::Metric;
    const SIGNAL: Signal = Signal::Metrics;
    const NOUN: &'static str = "data points";
    const REJECTED_JSON_FIELD: &'static str = "rejectedDataPoints";

    fn convert(request: Self::Request) -> Converted<Batch<Self::Record>> {
        convert::metrics(request)
    }
    fn payload(batch: Batch<Self::Record>) -> Payload {
        Payload::Metrics(batch)
    }
    fn response(partial: Option<PartialSuccess>) -> Self::Response {
        ExportMetricsServiceResponse {
            partial_success: partial.map(|partial| ExportMetricsPartialSuccess {
                rejected_data_points: partial.rejected,
                error_message: partial.message,
            }),
        }
    }
}

/// The OTLP/JSON form of a response: `{}` when everything was stored, else
/// `{"partialSuccess": {...}}` with the 64-bit count as a string (proto3 JSON mapping).
pub(crate) fn response_json<S: OtlpSignal>(partial: Option<&PartialSuccess>) -> serde_json::Value {
    match partial {
        None => serde_json::json!({}),
        Some(partial) => {
            let mut inner = serde_json::Map::new();
            inner.insert(
                S::REJECTED_JSON_FIELD.to_owned(),
                serde_json::Value::String(partial.rejected.to_string()),
            );
            inner.insert(
                "errorMessage".to_owned(),
                serde_json::Value::String(partial.message.clone()),
            );
            serde_json::json!({ "partialSuccess": inner })
        }
    }
}

/// Runs CPU-heavy work (decode, inflate, convert) on the blocking pool when `heavy`, inline
/// otherwise (a hop costs more than decoding a small request).
pub(crate) async fn run_cpu_bound<T, F>(heavy: bool, work: F) -> Result<T, RequestError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if heavy {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|join_error| {
                RequestError::Internal(format!("decode task failed: {join_error}"))
            })
    } else {
        Ok(work())
    }
}

impl Collector {
    /// Stores the converted records of one request and counts everything. Returns the
    /// partial success to report, if records were refused.
    pub(crate) async fn ingest<S: OtlpSignal>(
        &self,
        tenant: &TenantId,
        transport: Transport,
        converted: Converted<Batch<S::Record>>,
    ) -> Result<Option<PartialSuccess>, RequestError> {
        let signal = S::SIGNAL;
        let accepted = converted.batch.record_count() as u64;
        let rejected = converted.rejected;
        let metrics = &self.metrics;
        metrics.count_received(signal, transport, accepted + rejected);
        for (reason, count) in converted.rejected_by_reason() {
            metrics.count_rejected(signal, transport, reason, count);
        }
        let message = converted.error_message(S::NOUN);
        if let Some(message) = &message {
            warn!(
                error = %message,
                rejected,
                accepted,
                signal = signal.as_str(),
                transport = transport.as_str(),
                "refused records of an export request"
            );
        }
        if accepted > 0
            && let Err(storage_error) = self
                .writer
                .append(tenant, S::payload(converted.batch))
                .await
        {
            let failure = RequestError::Storage(storage_error);
            metrics.count_rejected(signal, transport, failure.reason(), accepted);
            self.count_failure(signal, transport, &failure);
            return Err(failure);
        }
        metrics.count_accepted(signal, transport, accepted);
        let partial = message.map(|message| PartialSuccess {
            rejected: i64::try_from(rejected).unwrap_or(i64::MAX),
            message,
        });
        let outcome = if partial.is_some() {
            Outcome::PartialSuccess
        } else {
            Outcome::Success
        };
        metrics.count_request(signal, transport, outcome);
        Ok(partial)
    }

    /// Counts and logs a request that failed as a whole.
    pub(crate) fn count_failure(
        &self,
        signal: Signal,
        transport: Transport,
        failure: &RequestError,
    ) {
        let reason = failure.reason();
        self.metrics
            .count_request(signal, transport, Outcome::Failed(reason));
        match reason {
            RejectReason::Internal => error!(
                error = %failure,
                reason = reason.as_str(),
                signal = signal.as_str(),
                transport = transport.as_str(),
                "export request failed"
            ),
            _ => warn!(
                error = %failure,
                reason = reason.as_str(),
                signal = signal.as_str(),
                transport = transport.as_str(),
                "export request refused"
            ),
        }
    }

    /// Observes a request's decompressed size.
    pub(crate) fn observe_request_size(&self, signal: Signal, transport: Transport, bytes: usize) {
        self.metrics.observe_request_size(signal, transport, bytes);
    }
}
