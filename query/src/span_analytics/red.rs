//! RED metrics per service and operation: `GET /api/v1/services?start=&end=&service=`,
//! computed from the RED rollups only (no span is read).
//!
//! The range is widened to whole minutes: every minute bucket whose start lies in
//! `[floor_minute(start), floor_minute(end)]` counts, and the rate divides the calls by the
//! length of those minutes.

use std::collections::{BTreeMap, BTreeSet};

use lookout_model::TenantId;
use lookout_model::api::span_analytics::{OperationStats, ServicesResponse};
use lookout_storage::rollups::{MINUTE_NANOS, minute_start_unix_nanos};
use lookout_storage::{DurationSketch, Reader, SpanRollups, TimeRange};

use crate::QueryError;
use crate::params::Params;

/// Parameters `GET /api/v1/services` accepts.
pub const PARAMETERS: &[&str] = &["start", "end", "service"];

/// A parsed services query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicesQuery {
    /// First minute, Unix nanoseconds.
    pub start_minute_unix_nanos: i64,
    /// Last minute (inclusive), Unix nanoseconds.
    pub end_minute_unix_nanos: i64,
    /// Only this service, when given.
    pub service: Option<String>,
}

impl ServicesQuery {
    /// Validates query-string pairs.
    pub fn from_pairs(
        pairs: Vec<(String, String)>,
        now_unix_nanos: i64,
    ) -> Result<Self, QueryError> {
        let params = Params::parse(pairs, PARAMETERS, false)?;
        let (start, end) = params.time_range(now_unix_nanos)?;
        Ok(Self {
            start_minute_unix_nanos: minute_start_unix_nanos(start),
            end_minute_unix_nanos: minute_start_unix_nanos(end),
            service: params.get("service").map(str::to_owned),
        })
    }

    /// The storage range of minute starts.
    pub fn range(&self) -> TimeRange {
        TimeRange {
            start_unix_nanos: self.start_minute_unix_nanos,
            end_unix_nanos: self.end_minute_unix_nanos,
        }
    }
}

#[derive(Default)]
struct Totals {
    calls: u64,
    errors: u64,
    kinds: BTreeSet<String>,
    duration: DurationSketch,
}

/// RED numbers per service and operation.
pub async fn services(
    reader: &Reader,
    tenant: &TenantId,
    query: &ServicesQuery,
) -> Result<ServicesResponse, QueryError> {
    let rollups = reader.span_rollups(tenant, query.range()).await?;
    Ok(summarize(&rollups, query))
}

/// Folds rollups into per-operation numbers.
pub fn summarize(rollups: &SpanRollups, query: &ServicesQuery) -> ServicesResponse {
    let mut totals: BTreeMap<(String, String), Totals> = BTreeMap::new();
    for (key, cell) in rollups.iter() {
        if query
            .service
            .as_ref()
            .is_some_and(|service| *service != key.service_name)
        {
            continue;
        }
        let entry = totals
            .entry((key.service_name.clone(), key.operation.clone()))
            .or_default();
        entry.calls += cell.calls;
        entry.errors += cell.errors;
        if !entry.kinds.contains(&key.span_kind) {
            entry.kinds.insert(key.span_kind.clone());
        }
        entry.duration.merge(&cell.duration);
    }
    let end_exclusive = query.end_minute_unix_nanos.saturating_add(MINUTE_NANOS);
    let seconds = (end_exclusive - query.start_minute_unix_nanos) as f64 / 1e9;
    let operations = totals
        .into_iter()
        .map(|((service, operation), totals)| OperationStats {
            service,
            operation,
            span_kinds: totals.kinds.into_iter().collect(),
            calls: totals.calls,
            errors: totals.errors,
            rate_per_second: totals.calls as f64 / seconds,
            error_ratio: if totals.calls == 0 {
                0.0
            } else {
                totals.errors as f64 / totals.calls as f64
            },
            p50_seconds: totals.duration.quantile(0.5),
            p90_seconds: totals.duration.quantile(0.9),
            p99_seconds: totals.duration.quantile(0.99),
        })
        .collect();
    ServicesResponse {
        start_unix_nanos: query.start_minute_unix_nanos,
        end_unix_nanos: end_exclusive,
        operations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_widened_to_whole_minutes() {
        let pairs = vec![
            ("start".to_owned(), "90".to_owned()),
            ("end".to_owned(), "150".to_owned()),
        ];
        let query = ServicesQuery::from_pairs(pairs, 0).unwrap();
        assert_eq!(query.start_minute_unix_nanos, 60_000_000_000);
        assert_eq!(query.end_minute_unix_nanos, 120_000_000_000);
        let answer = summarize(&SpanRollups::default(), &query);
        assert_eq!(answer.end_unix_nanos, 180_000_000_000);
        assert!(answer.operations.is_empty());
        assert!(ServicesQuery::from_pairs(vec![("attr.x".into(), "1".into())], 0).is_err());
    }
}
