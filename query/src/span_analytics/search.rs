//! Trace search: `GET /api/v1/traces?service=&operation=&min_duration=&max_duration=
//! &status=&attr.KEY=VALUE&start=&end=&limit=`.
//!
//! A trace matches when one of its spans that starts within `[start, end]` satisfies every
//! condition at once (service, operation, span duration bounds, status, attributes; an
//! attribute matches on the span or on its resource). Candidates are chosen first, newest
//! first, by scanning time windows that grow backwards from `end` (15 minutes, then four
//! times longer each step) until `limit` traces are found, so a search for recent traces
//! reads only the newest files. Summaries are then built from the spans of just those
//! traces, read through the trace-id index.

use std::collections::{BTreeSet, HashMap, HashSet};

use datafusion::arrow::array::{Array, TimestampNanosecondArray};
use lookout_model::api::span_analytics::{TraceSearchResponse, TraceSummary};
use lookout_model::{StatusCode, TenantId, TraceId};
use lookout_storage::Reader;

use super::{column, for_each_batch, register_view, spans_between, sql_string, string_column};
use crate::QueryError;
use crate::params::Params;

/// Parameters `GET /api/v1/traces` accepts (besides `attr.KEY`).
pub const PARAMETERS: &[&str] = &[
    "service",
    "operation",
    "min_duration",
    "max_duration",
    "status",
    "start",
    "end",
    "limit",
];
/// Traces returned when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 20;
/// Largest accepted `limit`.
pub const MAX_LIMIT: usize = 1_000;
const FIRST_WINDOW_NANOS: i64 = 15 * 60 * 1_000_000_000;

/// A parsed trace search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceQuery {
    /// `service.name` of the matching span.
    pub service: Option<String>,
    /// Name of the matching span.
    pub operation: Option<String>,
    /// Smallest duration of the matching span, nanoseconds.
    pub min_duration_nanos: Option<i64>,
    /// Largest duration of the matching span, nanoseconds.
    pub max_duration_nanos: Option<i64>,
    /// Status code of the matching span.
    pub status: Option<StatusCode>,
    /// Attributes of the matching span (or its resource).
    pub attributes: Vec<(String, String)>,
    /// Inclusive start of span start times, Unix nanoseconds.
    pub start_unix_nanos: i64,
    /// Inclusive end of span start times, Unix nanoseconds.
    pub end_unix_nanos: i64,
    /// Most traces to return.
    pub limit: usize,
}

impl TraceQuery {
    /// Validates query-string pairs.
    pub fn from_pairs(
        pairs: Vec<(String, String)>,
        now_unix_nanos: i64,
    ) -> Result<Self, QueryError> {
        let params = Params::parse(pairs, PARAMETERS, true)?;
        let (start, end) = params.time_range(now_unix_nanos)?;
        let status = params
            .get("status")
            .map(|text| {
                StatusCode::parse(text).ok_or_else(|| {
                    QueryError::BadRequest(format!(
                        "invalid `status` {text:?}: expected error, ok or unset"
                    ))
                })
            })
            .transpose()?;
        let query = TraceQuery {
            service: params.get("service").map(str::to_owned),
            operation: params.get("operation").map(str::to_owned),
            min_duration_nanos: params.duration("min_duration")?,
            max_duration_nanos: params.duration("max_duration")?,
            status,
            attributes: params.attributes.clone(),
            start_unix_nanos: start,
            end_unix_nanos: end,
            limit: params.limit(DEFAULT_LIMIT, MAX_LIMIT)?,
        };
        if let (Some(min), Some(max)) = (query.min_duration_nanos, query.max_duration_nanos)
            && min > max
        {
            return Err(QueryError::BadRequest(
                "`min_duration` must not be larger than `max_duration`".into(),
            ));
        }
        Ok(query)
    }

    /// The span conditions as an SQL predicate over the `spans` columns.
    fn predicate(&self) -> String {
        let mut conditions = vec!["TRUE".to_owned()];
        if let Some(service) = &self.service {
            conditions.push(format!("service_name = {}", sql_string(service)));
        }
        if let Some(operation) = &self.operation {
            conditions.push(format!("name = {}", sql_string(operation)));
        }
        if let Some(min) = self.min_duration_nanos {
            conditions.push(format!("duration_ns >= {min}"));
        }
        if let Some(max) = self.max_duration_nanos {
            conditions.push(format!("duration_ns <= {max}"));
        }
        if let Some(status) = self.status {
            conditions.push(format!("status_code = {}", sql_string(status.as_str())));
        }
        for (key, value) in &self.attributes {
            let (key, value) = (sql_string(key), sql_string(value));
            conditions.push(format!(
                "(attributes[{key}] = {value} OR resource_attributes[{key}] = {value})"
            ));
        }
        conditions.join(" AND ")
    }
}

/// Runs a search for `tenant`.
pub async fn search_traces(
    reader: &Reader,
    tenant: &TenantId,
    query: &TraceQuery,
) -> Result<TraceSearchResponse, QueryError> {
    let candidates = candidate_traces(reader, tenant, query).await?;
    let truncated = candidates.len() > query.limit;
    let ids: Vec<TraceId> = candidates.into_iter().take(query.limit).collect();
    let mut traces = summarize(reader, tenant, &ids).await?;
    traces.sort_by(|a, b| {
        b.start_unix_nanos
            .cmp(&a.start_unix_nanos)
            .then_with(|| a.trace_id.cmp(&b.trace_id))
    });
    Ok(TraceSearchResponse { traces, truncated })
}

/// Up to `limit + 1` matching trace ids, newest matching span first.
async fn candidate_traces(
    reader: &Reader,
    tenant: &TenantId,
    query: &TraceQuery,
) -> Result<Vec<TraceId>, QueryError> {
    let wanted = query.limit + 1;
    let predicate = query.predicate();
    let mut found: Vec<TraceId> = Vec::new();
    let mut seen: HashSet<TraceId> = HashSet::new();
    let mut window_end = query.end_unix_nanos;
    let mut window_len = FIRST_WINDOW_NANOS;
    loop {
        let window_start = window_end
            .saturating_sub(window_len)
            .saturating_add(1)
            .max(query.start_unix_nanos);
        let context = reader.session_context(tenant)?;
        let window = spans_between(&context, window_start, window_end).await?;
        register_view(&context, "window_spans", window)?;
        // Traces already found can come back (they cross windows): ask for that many more.
        let sql = format!(
            "SELECT trace_id, max(start_time) AS latest FROM window_spans WHERE {predicate} \
             GROUP BY trace_id ORDER BY latest DESC, trace_id LIMIT {}",
            wanted + found.len()
        );
        for_each_batch(&context, &sql, |batch| {
            let ids = string_column(batch, "trace_id")?;
            for row in 0..batch.num_rows() {
                if ids.is_null(row) {
                    continue;
                }
                if let Ok(id) = TraceId::from_hex(ids.value(row))
                    && seen.insert(id)
                {
                    found.push(id);
                }
            }
            Ok(())
        })
        .await?;
        if found.len() >= wanted || window_start <= query.start_unix_nanos {
            break;
        }
        window_end = window_start - 1;
        window_len = window_len.saturating_mul(4);
    }
    found.truncate(wanted);
    Ok(found)
}

#[derive(Default)]
struct Accumulator {
    start: i64,
    end: i64,
    spans: u64,
    errors: u64,
    services: BTreeSet<String>,
    /// (is a root, start, service, name) of the best root candidate.
    root: Option<(bool, i64, String, String)>,
}

/// Summaries of `ids` from their spans (read through the trace-id index).
async fn summarize(
    reader: &Reader,
    tenant: &TenantId,
    ids: &[TraceId],
) -> Result<Vec<TraceSummary>, QueryError> {
    let columns = [
        "trace_id",
        "parent_span_id",
        "service_name",
        "name",
        "start_time",
        "end_time",
        "status_code",
    ];
    let batches = reader.spans_of_traces(tenant, ids, &columns).await?;
    let mut traces: HashMap<String, Accumulator> = HashMap::new();
    for batch in &batches {
        let trace_ids = string_column(batch, "trace_id")?;
        let parents = string_column(batch, "parent_span_id")?;
        let services = string_column(batch, "service_name")?;
        let names = string_column(batch, "name")?;
        let statuses = string_column(batch, "status_code")?;
        let starts = column::<TimestampNanosecondArray>(batch, "start_time")?;
        let ends = column::<TimestampNanosecondArray>(batch, "end_time")?;
        for row in 0..batch.num_rows() {
            let (start, end) = (starts.value(row), ends.value(row));
            let trace = traces
                .entry(trace_ids.value(row).to_owned())
                .or_insert_with(|| Accumulator {
                    start,
                    end,
                    ..Accumulator::default()
                });
            trace.start = trace.start.min(start);
            trace.end = trace.end.max(end);
            trace.spans += 1;
            trace.errors += u64::from(statuses.value(row) == "error");
            let service = services.value(row);
            if !trace.services.contains(service) {
                trace.services.insert(service.to_owned());
            }
            let is_root = parents.is_null(row) || parents.value(row).is_empty();
            let better = match &trace.root {
                None => true,
                Some((known_root, known_start, _, _)) => {
                    (is_root && !known_root) || (is_root == *known_root && start < *known_start)
                }
            };
            if better {
                trace.root = Some((
                    is_root,
                    start,
                    service.to_owned(),
                    names.value(row).to_owned(),
                ));
            }
        }
    }
    Ok(traces
        .into_iter()
        .map(|(trace_id, trace)| {
            let (_, _, root_service, root_operation) = trace.root.unwrap_or_default();
            TraceSummary {
                trace_id,
                root_service,
                root_operation,
                start_unix_nanos: trace.start,
                duration_nanos: trace.end.saturating_sub(trace.start).max(0),
                span_count: trace.spans,
                error_count: trace.errors,
                services: trace.services.into_iter().collect(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Result<TraceQuery, QueryError> {
        TraceQuery::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            7_200_000_000_000,
        )
    }

    #[test]
    fn parameters_are_validated() {
        let parsed = query(&[
            ("service", "checkout"),
            ("min_duration", "250ms"),
            ("max_duration", "1.5s"),
            ("status", "error"),
            ("attr.http.route", "/it's"),
            ("limit", "5"),
        ])
        .unwrap();
        assert_eq!(parsed.min_duration_nanos, Some(250_000_000));
        assert_eq!(parsed.max_duration_nanos, Some(1_500_000_000));
        assert_eq!(parsed.status, Some(StatusCode::Error));
        assert_eq!(parsed.limit, 5);
        assert_eq!(
            (parsed.start_unix_nanos, parsed.end_unix_nanos),
            (3_600_000_000_000, 7_200_000_000_000)
        );
        assert_eq!(
            parsed.predicate(),
            "TRUE AND service_name = 'checkout' AND duration_ns >= 250000000 AND \
             duration_ns <= 1500000000 AND status_code = 'error' AND \
             (attributes['http.route'] = '/it''s' OR resource_attributes['http.route'] = '/it''s')"
        );
        let refused: &[&[(&str, &str)]] = &[
            &[("status", "failed")],
            &[("min_duration", "fast")],
            &[("min_duration", "2s"), ("max_duration", "1s")],
            &[("limit", "0")],
            &[("limit", "1001")],
            &[("start", "tomorrow")],
            &[("servce", "x")],
        ];
        for pairs in refused {
            assert!(
                matches!(query(pairs), Err(QueryError::BadRequest(_))),
                "{pairs:?}"
            );
        }
    }
}
