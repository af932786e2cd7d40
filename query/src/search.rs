//! Log and span search for the JSON API: parameters, cursors, highlights, histograms, the
//! live tail, and the logs of a trace.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::record_batch::RecordBatch;
use lookout_model::api::ApiError;
use lookout_model::search::{
    HistogramBucket, HistogramResponse, LogHit, LogSearchResponse, SearchField, SearchQuery,
    SpanSearchResponse,
};
use lookout_model::{Signal, TenantId, TraceId};
use lookout_storage::{Reader, SearchCursor, SearchRequest, TimeRange};

use crate::QueryError;
use crate::json_rows::batches_to_json_rows;
use crate::search_parser::{SearchParseError, parse_search};

/// Records per page when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 100;
/// Buckets of a histogram when `step` is absent.
const DEFAULT_BUCKETS: i64 = 60;
/// Most log records a trace answer carries.
pub const MAX_TRACE_LOGS: usize = 10_000;

/// An error of a search endpoint: a query that does not parse (400 with its position), or
/// any other query error.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The `q` parameter does not parse.
    #[error(transparent)]
    Parse(#[from] SearchParseError),
    /// Anything else.
    #[error(transparent)]
    Query(#[from] QueryError),
}

impl From<lookout_storage::StorageError> for SearchError {
    fn from(error: lookout_storage::StorageError) -> Self {
        SearchError::Query(QueryError::Storage(error))
    }
}

impl SearchError {
    /// The metrics outcome label.
    pub fn outcome(&self) -> &'static str {
        match self {
            SearchError::Parse(_) => "bad_request",
            SearchError::Query(error) => error.status().1,
        }
    }
}

/// The JSON error body of a query that does not parse: [`ApiError`] plus the position.
#[derive(Debug, serde::Serialize)]
struct ParseErrorBody {
    #[serde(flatten)]
    error: ApiError,
    position: usize,
}

impl axum::response::IntoResponse for SearchError {
    fn into_response(self) -> axum::response::Response {
        match self {
            SearchError::Parse(error) => {
                let body = ParseErrorBody {
                    error: ApiError {
                        error: "bad_request".into(),
                        message: error.to_string(),
                    },
                    position: error.position,
                };
                (axum::http::StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
            }
            SearchError::Query(error) => error.into_response(),
        }
    }
}

/// Query-string parameters of the search endpoints, as received.
pub type Params = HashMap<String, String>;

fn bad(message: impl Into<String>) -> SearchError {
    SearchError::Query(QueryError::BadRequest(message.into()))
}

/// Now, Unix nanoseconds.
fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses a time: RFC 3339, `now`, `now-15m` (units s, m, h, d), or a Unix time whose unit
/// follows from its size (seconds, milliseconds, microseconds or nanoseconds).
pub fn parse_time(text: &str, now: i64) -> Result<i64, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Some(ago) = text.strip_prefix("now-") {
        return Ok(now.saturating_sub(parse_duration_nanos(ago)?));
    }
    if let Ok(number) = text.parse::<i64>() {
        let magnitude = number.unsigned_abs();
        let scale = if magnitude < 100_000_000_000 {
            1_000_000_000
        } else if magnitude < 100_000_000_000_000 {
            1_000_000
        } else if magnitude < 100_000_000_000_000_000 {
            1_000
        } else {
            1
        };
        return Ok(number.saturating_mul(scale));
    }
    datafusion::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(text).map_err(|_| {
        format!("invalid time `{text}`: use RFC 3339, Unix seconds/ms/ns, `now` or `now-1h`")
    })
}

/// Parses `90s`, `15m`, `1h`, `7d`, `250ms`, or plain seconds.
pub fn parse_duration_nanos(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: i64 = digits
        .parse()
        .map_err(|_| format!("invalid duration `{text}` (like 30s, 15m, 1h, 7d)"))?;
    let unit_nanos: i64 = match unit {
        "" | "s" => 1_000_000_000,
        "ms" => 1_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => {
            return Err(format!(
                "invalid duration unit in `{text}` (ms, s, m, h, d)"
            ));
        }
    };
    Ok(value.saturating_mul(unit_nanos))
}

fn time_range(params: &Params, default_span_nanos: Option<i64>) -> Result<TimeRange, SearchError> {
    let now = now_nanos();
    let end = match params.get("end") {
        Some(text) => parse_time(text, now).map_err(bad)?,
        None if default_span_nanos.is_some() => now,
        None => i64::MAX,
    };
    let start = match params.get("start") {
        Some(text) => parse_time(text, now).map_err(bad)?,
        None => default_span_nanos.map_or(i64::MIN, |span| end.saturating_sub(span)),
    };
    if start > end {
        return Err(bad("`start` is after `end`"));
    }
    Ok(TimeRange {
        start_unix_nanos: start,
        end_unix_nanos: end,
    })
}

fn limit(params: &Params) -> Result<usize, SearchError> {
    match params.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=lookout_storage::MAX_SEARCH_LIMIT).contains(&limit) => Ok(limit),
            _ => Err(bad(format!(
                "`limit` must be a number from 1 to {}",
                lookout_storage::MAX_SEARCH_LIMIT
            ))),
        },
    }
}

/// The opaque text of a cursor.
pub fn encode_cursor(cursor: &SearchCursor) -> String {
    let mut bytes = Vec::with_capacity(16);
    bytes.extend_from_slice(&cursor.timestamp_unix_nanos.to_be_bytes());
    bytes.extend_from_slice(&cursor.seen_at_timestamp.to_be_bytes());
    hex::encode(bytes)
}

/// Parses the text of [`encode_cursor`].
pub fn decode_cursor(text: &str) -> Result<SearchCursor, String> {
    let bytes = hex::decode(text).map_err(|_| "invalid cursor".to_owned())?;
    let (time, seen) = bytes
        .split_at_checked(8)
        .filter(|(_, seen)| seen.len() == 8)
        .ok_or_else(|| "invalid cursor".to_owned())?;
    Ok(SearchCursor {
        timestamp_unix_nanos: i64::from_be_bytes(time.try_into().map_err(|_| "invalid cursor")?),
        seen_at_timestamp: u64::from_be_bytes(seen.try_into().map_err(|_| "invalid cursor")?),
    })
}

fn request(params: &Params) -> Result<SearchRequest, SearchError> {
    let query = parse_search(params.get("q").map_or("", String::as_str))?;
    let after = params
        .get("cursor")
        .filter(|text| !text.is_empty())
        .map(|text| decode_cursor(text).map_err(bad))
        .transpose()?;
    Ok(SearchRequest {
        query,
        range: time_range(params, None)?,
        limit: limit(params)?,
        after,
    })
}

/// `GET /api/v1/logs`: matching log records, newest first.
pub async fn search_logs(
    reader: &Reader,
    tenant: &TenantId,
    params: &Params,
) -> Result<LogSearchResponse, SearchError> {
    let request = request(params)?;
    let query = request.query.clone();
    let page = reader.search(tenant, Signal::Logs, request).await?;
    Ok(LogSearchResponse {
        logs: log_hits(&page.rows, &query)?,
        next_cursor: page.next.as_ref().map(encode_cursor),
    })
}

/// `GET /api/v1/spans`: matching spans, newest start first.
pub async fn search_spans(
    reader: &Reader,
    tenant: &TenantId,
    params: &Params,
) -> Result<SpanSearchResponse, SearchError> {
    let request = request(params)?;
    let page = reader.search(tenant, Signal::Traces, request).await?;
    let spans = batches_to_json_rows(&[page.rows])?;
    Ok(SpanSearchResponse {
        spans: spans.into_iter().map(serde_json::Value::Object).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    })
}

/// `GET /api/v1/logs/histogram`: counts of matching records per `step` (default: the last
/// hour in 60 buckets).
pub async fn logs_histogram(
    reader: &Reader,
    tenant: &TenantId,
    params: &Params,
) -> Result<HistogramResponse, SearchError> {
    let query = parse_search(params.get("q").map_or("", String::as_str))?;
    let range = time_range(params, Some(3_600_000_000_000))?;
    if range.start_unix_nanos == i64::MIN || range.end_unix_nanos == i64::MAX {
        return Err(bad("a histogram needs a bounded range"));
    }
    let step_nanos = match params.get("step") {
        Some(text) => parse_duration_nanos(text).map_err(bad)?,
        None => {
            let span = range.end_unix_nanos.saturating_sub(range.start_unix_nanos);
            (span / DEFAULT_BUCKETS).max(1_000_000_000)
        }
    };
    if step_nanos <= 0 {
        return Err(bad("`step` must be positive"));
    }
    let counts = reader
        .search_histogram(tenant, Signal::Logs, query, range, step_nanos)
        .await?;
    let buckets = counts
        .into_iter()
        .enumerate()
        .map(|(index, count)| HistogramBucket {
            start_unix_nanos: range
                .start_unix_nanos
                .saturating_add(step_nanos.saturating_mul(index as i64)),
            count,
        })
        .collect();
    Ok(HistogramResponse {
        step_nanos,
        buckets,
    })
}

/// The log records of a trace, oldest first.
pub async fn trace_logs(
    reader: &Reader,
    tenant: &TenantId,
    trace_id: &TraceId,
) -> Result<Vec<LogHit>, SearchError> {
    let query = SearchQuery::Term {
        field: SearchField::TraceId,
        text: trace_id.to_hex(),
    };
    let page = reader
        .search(
            tenant,
            Signal::Logs,
            SearchRequest {
                query: query.clone(),
                range: TimeRange {
                    start_unix_nanos: i64::MIN,
                    end_unix_nanos: i64::MAX,
                },
                limit: MAX_TRACE_LOGS,
                after: None,
            },
        )
        .await?;
    let mut hits = log_hits(&page.rows, &SearchQuery::All)?;
    hits.reverse();
    Ok(hits)
}

/// Converts rows of the `logs` table into answers with highlights and trace links.
pub fn log_hits(rows: &RecordBatch, query: &SearchQuery) -> Result<Vec<LogHit>, QueryError> {
    let objects = batches_to_json_rows(std::slice::from_ref(rows))?;
    let times = rows
        .column_by_name("timestamp")
        .and_then(|column| {
            column
                .as_any()
                .downcast_ref::<datafusion::arrow::array::TimestampNanosecondArray>()
        })
        .ok_or_else(|| QueryError::Execution("log rows lack `timestamp`".into()))?;
    let words = highlight_words(query);
    Ok(objects
        .into_iter()
        .enumerate()
        .map(|(row, object)| {
            let text = |name: &str| {
                object
                    .get(name)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            };
            let map = |name: &str| match object.get(name) {
                Some(serde_json::Value::Object(map)) => map.clone(),
                _ => serde_json::Map::new(),
            };
            let body = text("body");
            let trace_id = text("trace_id");
            LogHit {
                timestamp: text("timestamp").unwrap_or_default(),
                timestamp_unix_nanos: times.value(row),
                service_name: text("service_name").unwrap_or_default(),
                severity_number: object
                    .get("severity_number")
                    .and_then(serde_json::Value::as_i64)
                    .and_then(|n| i32::try_from(n).ok())
                    .unwrap_or(0),
                severity_text: text("severity_text").unwrap_or_default(),
                highlights: body
                    .as_deref()
                    .map(|body| highlights(body, &words))
                    .unwrap_or_default(),
                body,
                trace_link: trace_id
                    .as_ref()
                    .map(|trace_id| format!("/api/v1/traces/{trace_id}")),
                trace_id,
                span_id: text("span_id"),
                attributes: map("attributes"),
                resource_attributes: map("resource_attributes"),
            }
        })
        .collect())
}

/// Lowercased words to highlight in bodies, each with whether it is a prefix.
fn highlight_words(query: &SearchQuery) -> Vec<(String, bool)> {
    let mut words = Vec::new();
    for (field, text, prefix) in query.positive_texts() {
        if *field != SearchField::Text {
            continue;
        }
        let tokens: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|token| !token.is_empty())
            .collect();
        let count = tokens.len();
        for (index, token) in tokens.into_iter().enumerate() {
            words.push((token.to_lowercase(), prefix && index + 1 == count));
        }
    }
    words
}

/// Byte ranges of `body` whose words (alphanumeric runs, case-insensitive) match `words`.
pub fn highlights(body: &str, words: &[(String, bool)]) -> Vec<[usize; 2]> {
    if words.is_empty() {
        return Vec::new();
    }
    let mut ranges = Vec::new();
    let mut start = None;
    for (index, c) in body
        .char_indices()
        .chain(std::iter::once((body.len(), ' ')))
    {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(index),
            (false, Some(begin)) => {
                let word = body[begin..index].to_lowercase();
                if words.iter().any(|(wanted, prefix)| {
                    if *prefix {
                        word.starts_with(wanted.as_str())
                    } else {
                        word == *wanted
                    }
                }) {
                    ranges.push([begin, index]);
                }
                start = None;
            }
            _ => {}
        }
    }
    ranges
}

/// Parses the `q` of a live tail.
pub fn tail_query(params: &Params) -> Result<SearchQuery, SearchError> {
    Ok(parse_search(params.get("q").map_or("", String::as_str))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_durations_and_cursors() {
        let now = 10_000_000_000_000_000;
        assert_eq!(parse_time("now", now), Ok(now));
        assert_eq!(parse_time("now-1m", now), Ok(now - 60_000_000_000));
        assert_eq!(parse_time("1700000000", now), Ok(1_700_000_000_000_000_000));
        assert_eq!(
            parse_time("1700000000000", now),
            Ok(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_time("1700000000000000000", now),
            Ok(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", now),
            Ok(1_700_000_000_000_000_000)
        );
        assert!(parse_time("yesterday", now).is_err());
        assert_eq!(parse_duration_nanos("250ms"), Ok(250_000_000));
        assert!(parse_duration_nanos("5y").is_err());
        let cursor = SearchCursor {
            timestamp_unix_nanos: -5,
            seen_at_timestamp: 3,
        };
        assert_eq!(decode_cursor(&encode_cursor(&cursor)), Ok(cursor));
        assert!(decode_cursor("zz").is_err());
        assert!(decode_cursor("00").is_err());
    }

    #[test]
    fn highlights_match_words_and_prefixes() {
        let words = highlight_words(&parse_search("Payment decl* NOT card").unwrap());
        let body = "payment DECLINED: card-payment";
        let ranges = highlights(body, &words);
        let texts: Vec<&str> = ranges.iter().map(|[a, b]| &body[*a..*b]).collect();
        assert_eq!(texts, vec!["payment", "DECLINED", "payment"]);
    }
}
