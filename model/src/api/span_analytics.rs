//! JSON types of the span analytics endpoints: trace search (`GET /api/v1/traces`), RED
//! metrics per service and operation (`GET /api/v1/services`) and the service graph
//! (`GET /api/v1/service-graph`).

use serde::{Deserialize, Serialize};

/// One trace found by a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// Lowercase hex trace id.
    pub trace_id: String,
    /// Service of the root span (the earliest span when the root was not received).
    pub root_service: String,
    /// Name of the root span.
    pub root_operation: String,
    /// Earliest span start, Unix nanoseconds.
    pub start_unix_nanos: i64,
    /// Latest span end minus earliest span start, nanoseconds.
    pub duration_nanos: i64,
    /// Spans stored for the trace.
    pub span_count: u64,
    /// Spans with status `error`.
    pub error_count: u64,
    /// Every service with a span in the trace, sorted.
    pub services: Vec<String>,
}

/// Answer of `GET /api/v1/traces`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSearchResponse {
    /// Matching traces, newest first.
    pub traces: Vec<TraceSummary>,
    /// Whether more traces matched than `limit`.
    pub truncated: bool,
}

/// RED numbers of one service operation over a time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationStats {
    /// `service.name`.
    pub service: String,
    /// Span name.
    pub operation: String,
    /// Span kinds seen for this operation, sorted.
    pub span_kinds: Vec<String>,
    /// Spans.
    pub calls: u64,
    /// Spans with status `error`.
    pub errors: u64,
    /// Calls per second over the (minute-aligned) range.
    pub rate_per_second: f64,
    /// `errors / calls` (0 when there was no call).
    pub error_ratio: f64,
    /// Median duration, seconds (within 1 %).
    pub p50_seconds: Option<f64>,
    /// 90th percentile duration, seconds (within 1 %).
    pub p90_seconds: Option<f64>,
    /// 99th percentile duration, seconds (within 1 %).
    pub p99_seconds: Option<f64>,
}

/// Answer of `GET /api/v1/services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServicesResponse {
    /// Range start after alignment to the minute, Unix nanoseconds.
    pub start_unix_nanos: i64,
    /// Range end (exclusive) after alignment to the minute, Unix nanoseconds.
    pub end_unix_nanos: i64,
    /// One entry per service and operation, by service then operation.
    pub operations: Vec<OperationStats>,
}

/// A service in the service graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceNode {
    /// `service.name`.
    pub service: String,
    /// Spans of the service in the range (from the RED rollups).
    pub calls: u64,
    /// Of which with status `error`.
    pub errors: u64,
}

/// Calls from one service to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceEdge {
    /// The calling service (parent span, or the producer of a message).
    pub client: String,
    /// The called service (child span, or the consumer of a message).
    pub server: String,
    /// `request` (parent/child spans) or `messaging` (a consumer span linked to a producer).
    pub connection: String,
    /// Calls seen.
    pub calls: u64,
    /// Calls whose server-side span has status `error`.
    pub errors: u64,
    /// 95th percentile of the server-side span duration, seconds (within 1 %).
    pub p95_seconds: Option<f64>,
}

/// Answer of `GET /api/v1/service-graph`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceGraphResponse {
    /// Services, sorted by name.
    pub nodes: Vec<ServiceNode>,
    /// Edges, sorted by client then server.
    pub edges: Vec<ServiceEdge>,
}
