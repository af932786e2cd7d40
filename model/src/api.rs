//! JSON types of the HTTP API, shared by the daemon and its clients (CLI, TUI).

use serde::{Deserialize, Serialize};

/// Body of `POST /api/v1/sql`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlRequest {
    /// The query: one read-only `SELECT` (or `WITH`, `EXPLAIN`, `SHOW`, `DESCRIBE`).
    pub query: String,
}

/// Error body of every JSON API endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine-readable class: `bad_request`, `not_found`, `unavailable`, `internal`...
    pub error: String,
    /// Human-readable message.
    pub message: String,
}

/// Answer of `GET /api/v1/traces/{trace_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceResponse {
    /// The trace id, lowercase hex.
    pub trace_id: String,
    /// Every span of the trace, ordered by start time.
    pub spans: Vec<serde_json::Value>,
    /// The log records of the trace, oldest first; each names its span in `span_id`.
    #[serde(default)]
    pub logs: Vec<crate::search::LogHit>,
}

pub mod span_analytics;
