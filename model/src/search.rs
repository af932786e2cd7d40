//! The log and span search language as a syntax tree, and the JSON answers of the search API.
//!
//! `query` parses text into a [`SearchQuery`]; `storage` translates it into index queries.
//! Neither the tree nor the answers know how the index is built.

use serde::{Deserialize, Serialize};

/// Which field a term applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum SearchField {
    /// The default field: a log's body (structured bodies included), or a span's name, status
    /// message, attribute values, event names and event attribute values.
    Text,
    /// The service name (`service.name` of the resource), matched exactly.
    Service,
    /// A trace id (lowercase hex), matched exactly.
    TraceId,
    /// A span id (lowercase hex), matched exactly.
    SpanId,
    /// A span's name (spans only).
    Name,
    /// A span's status code: `ok`, `error` or `unset` (spans only), matched exactly.
    Status,
    /// A record attribute by key (`attributes.http.route`).
    Attribute(String),
    /// A resource attribute by key (`resource.host.name`).
    Resource(String),
    /// A key of a structured (map) log body (`body.user.id`).
    Body(String),
}

impl SearchField {
    /// Whether values of this field are matched as one exact token (not tokenized).
    pub fn is_exact(&self) -> bool {
        matches!(
            self,
            SearchField::Service | SearchField::TraceId | SearchField::SpanId | SearchField::Status
        )
    }
}

/// A node of a parsed search query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum SearchQuery {
    /// Matches every record (the empty query).
    All,
    /// A word, or for tokenized fields, each of its tokens in order (`checkout`, `req-42`).
    Term {
        /// The field.
        field: SearchField,
        /// The text as written.
        text: String,
    },
    /// Tokens adjacent and in order (`"payment declined"`).
    Phrase {
        /// The field.
        field: SearchField,
        /// The text between the quotes.
        text: String,
    },
    /// Words starting with a prefix (`pay*`).
    Prefix {
        /// The field.
        field: SearchField,
        /// The text before the `*`.
        prefix: String,
    },
    /// Severity numbers in `[min, max]` (OpenTelemetry numbers: trace 1-4, debug 5-8, info
    /// 9-12, warn 13-16, error 17-20, fatal 21-24).
    Severity {
        /// Inclusive lower bound.
        min: i32,
        /// Inclusive upper bound.
        max: i32,
    },
    /// Every child matches.
    And(Vec<SearchQuery>),
    /// At least one child matches.
    Or(Vec<SearchQuery>),
    /// The child does not match.
    Not(Box<SearchQuery>),
}

impl SearchQuery {
    /// The words a match of this query may show (positive terms, phrases and prefixes), for
    /// highlighting; terms under a `NOT` are left out.
    pub fn positive_texts(&self) -> Vec<(&SearchField, &str, bool)> {
        let mut out = Vec::new();
        self.collect_positive(&mut out);
        out
    }

    fn collect_positive<'a>(&'a self, out: &mut Vec<(&'a SearchField, &'a str, bool)>) {
        match self {
            SearchQuery::Term { field, text } | SearchQuery::Phrase { field, text } => {
                out.push((field, text, false))
            }
            SearchQuery::Prefix { field, prefix } => out.push((field, prefix, true)),
            SearchQuery::And(children) | SearchQuery::Or(children) => {
                for child in children {
                    child.collect_positive(out);
                }
            }
            SearchQuery::All | SearchQuery::Severity { .. } | SearchQuery::Not(_) => {}
        }
    }
}

/// The lowest and highest severity number of a level name (`warn` -> 13..=16).
pub fn severity_level_range(name: &str) -> Option<(i32, i32)> {
    let lowest = match name.to_ascii_lowercase().as_str() {
        "trace" => 1,
        "debug" => 5,
        "info" | "information" => 9,
        "warn" | "warning" => 13,
        "error" | "err" => 17,
        "fatal" | "critical" => 21,
        _ => return None,
    };
    Some((lowest, lowest + 3))
}

/// One log record of a search answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogHit {
    /// Event time, RFC 3339 with nanoseconds.
    pub timestamp: String,
    /// Event time, Unix nanoseconds.
    pub timestamp_unix_nanos: i64,
    /// Service name.
    pub service_name: String,
    /// Severity number (0 when unset).
    pub severity_number: i32,
    /// Severity text as sent.
    pub severity_text: String,
    /// The body as text (structured bodies as JSON).
    pub body: Option<String>,
    /// Trace id, lowercase hex.
    pub trace_id: Option<String>,
    /// Span id, lowercase hex.
    pub span_id: Option<String>,
    /// Record attributes (values in text form).
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Resource attributes (values in text form).
    pub resource_attributes: serde_json::Map<String, serde_json::Value>,
    /// Byte ranges `[start, end)` of `body` that match the query.
    pub highlights: Vec<[usize; 2]>,
    /// `/api/v1/traces/{trace_id}` when the record belongs to a trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_link: Option<String>,
}

/// Answer of `GET /api/v1/logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogSearchResponse {
    /// Matching records, newest first.
    pub logs: Vec<LogHit>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Answer of `GET /api/v1/spans`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanSearchResponse {
    /// Matching spans (rows of the `spans` table), newest start first.
    pub spans: Vec<serde_json::Value>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One bucket of `GET /api/v1/logs/histogram`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramBucket {
    /// Start of the bucket, Unix nanoseconds.
    pub start_unix_nanos: i64,
    /// Matching records in `[start, start + step)`.
    pub count: u64,
}

/// Answer of `GET /api/v1/logs/histogram`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramResponse {
    /// Bucket width, nanoseconds.
    pub step_nanos: i64,
    /// Every bucket of the range, oldest first (empty buckets included).
    pub buckets: Vec<HistogramBucket>,
}
