//! The evidence behind a burn: the bad events of an SLO in a time range, grouped by their
//! most telling attributes, each group with recent example traces (and log records).

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{Int64Type, TimestampNanosecondType};
use lookout_model::TenantId;
use lookout_model::slo::{BadEventGroup, BadEventsResponse, ExampleLog, Indicator, SloSpec};
use lookout_storage::Reader;

use super::classify::IndicatorSql;
use crate::QueryError;

/// Examples fetched to fill the groups' example lists.
const EXAMPLE_ROWS: usize = 500;
/// Examples kept per group.
const EXAMPLES_PER_GROUP: usize = 5;

/// Grouping columns per table: (label, SQL expression).
fn group_columns(spans: bool) -> Vec<(&'static str, &'static str)> {
    let mut columns = vec![("service", "service_name")];
    if spans {
        columns.extend([
            ("operation", "name"),
            ("status", "status_code"),
            ("route", "coalesce(attributes['http.route'], '')"),
            (
                "http_status",
                "coalesce(attributes['http.response.status_code'], attributes['http.status_code'], '')",
            ),
        ]);
    } else {
        columns.extend([
            ("severity", "severity_text"),
            ("event", "event_name"),
            ("route", "coalesce(attributes['http.route'], '')"),
        ]);
    }
    columns.push((
        "version",
        "coalesce(resource_attributes['service.version'], '')",
    ));
    columns
}

/// The bad events of `spec` in `(start, end]` (Unix seconds).
pub async fn bad_events(
    reader: &Reader,
    tenant: &TenantId,
    spec: &SloSpec,
    start: i64,
    end: i64,
    limit: usize,
) -> Result<BadEventsResponse, QueryError> {
    if end <= start {
        return Err(QueryError::BadRequest("end must be after start".into()));
    }
    let (events, spans) = match &spec.indicator {
        Indicator::Spans(events) => (events, true),
        Indicator::Logs(events) => (events, false),
        Indicator::Metrics(_) => {
            return Err(QueryError::BadRequest(
                "metric SLIs have no individual events; look at the traces of the service".into(),
            ));
        }
    };
    let sql = IndicatorSql::new(events, spans).map_err(QueryError::BadRequest)?;
    let time = sql.time_column;
    let mut predicate = format!(
        "{time} > to_timestamp({start}) AND {time} <= to_timestamp({end}) \
         AND coalesce({total}, FALSE) AND NOT coalesce({good}, FALSE)",
        total = sql.total,
        good = sql.good,
    );
    if spans {
        predicate.push_str(&format!(" AND start_time <= to_timestamp({end})"));
    }
    let columns = group_columns(spans);
    let select: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| format!("CAST({expr} AS VARCHAR) AS g{i}"))
        .collect();
    let group_by: Vec<String> = (1..=columns.len()).map(|i| i.to_string()).collect();
    let group_query = format!(
        "SELECT {select}, CAST(count(*) AS BIGINT) AS bad, CAST(max({time}) AS BIGINT) AS last_seen \
         FROM {table} WHERE {predicate} GROUP BY {group_by} ORDER BY bad DESC, last_seen DESC",
        select = select.join(", "),
        table = sql.table,
        group_by = group_by.join(", "),
    );
    let pinned = reader.pinned_session(tenant)?;
    let run = |query: String| {
        let context = pinned.context.clone();
        async move {
            context
                .sql(&query)
                .await
                .map_err(QueryError::from_datafusion)?
                .collect()
                .await
                .map_err(QueryError::from_datafusion)
        }
    };
    let mut groups: Vec<BadEventGroup> = Vec::new();
    let mut total_bad = 0u64;
    for batch in run(group_query).await? {
        let bad = int_column(&batch, columns.len())?;
        let last_seen = int_column(&batch, columns.len() + 1)?;
        for row in 0..batch.num_rows() {
            total_bad += bad.value(row).max(0) as u64;
            if groups.len() >= limit {
                continue;
            }
            let labels = labels_of(&batch, &columns, row)?;
            groups.push(BadEventGroup {
                labels,
                bad: bad.value(row).max(0) as u64,
                last_seen_unix_nanos: last_seen.value(row),
                example_trace_ids: Vec::new(),
                example_logs: Vec::new(),
            });
        }
    }

    let example_columns = if spans {
        "trace_id, CAST(NULL AS VARCHAR) AS span_id, CAST(NULL AS VARCHAR) AS body"
    } else {
        "trace_id, span_id, body"
    };
    let example_query = format!(
        "SELECT {select}, {example_columns}, {time} AS t FROM {table} WHERE {predicate} \
         ORDER BY {time} DESC LIMIT {EXAMPLE_ROWS}",
        select = select.join(", "),
        table = sql.table,
    );
    let index: BTreeMap<BTreeMap<String, String>, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.labels.clone(), i))
        .collect();
    for batch in run(example_query).await? {
        let base = columns.len();
        let trace_ids = utf8(batch.column(base));
        let span_ids = utf8(batch.column(base + 1));
        let bodies = utf8(batch.column(base + 2));
        let times = batch
            .column(base + 3)
            .as_primitive_opt::<TimestampNanosecondType>()
            .cloned();
        for row in 0..batch.num_rows() {
            let labels = labels_of(&batch, &columns, row)?;
            let Some(&group_index) = index.get(&labels) else {
                continue;
            };
            let group = &mut groups[group_index];
            let text = |array: &Option<StringArray>| {
                array
                    .as_ref()
                    .filter(|a| a.is_valid(row))
                    .map(|a| a.value(row).to_owned())
                    .filter(|s| !s.is_empty())
            };
            let trace_id = text(&trace_ids);
            if let Some(trace_id) = &trace_id
                && group.example_trace_ids.len() < EXAMPLES_PER_GROUP
                && !group.example_trace_ids.contains(trace_id)
            {
                group.example_trace_ids.push(trace_id.clone());
            }
            if !spans && group.example_logs.len() < EXAMPLES_PER_GROUP {
                let body: String = text(&bodies)
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect();
                group.example_logs.push(ExampleLog {
                    timestamp_unix_nanos: times.as_ref().map_or(0, |t| t.value(row)),
                    trace_id,
                    span_id: text(&span_ids),
                    body,
                });
            }
        }
    }
    Ok(BadEventsResponse {
        id: spec.id.clone(),
        start,
        end,
        total_bad,
        groups,
    })
}

fn int_column(
    batch: &datafusion::arrow::record_batch::RecordBatch,
    index: usize,
) -> Result<Int64Array, QueryError> {
    datafusion::arrow::compute::cast(
        batch.column(index),
        &datafusion::arrow::datatypes::DataType::Int64,
    )
    .ok()
    .and_then(|array| array.as_primitive_opt::<Int64Type>().cloned())
    .ok_or_else(|| QueryError::Execution("bad-event query returned unexpected types".into()))
}

fn labels_of(
    batch: &datafusion::arrow::record_batch::RecordBatch,
    columns: &[(&'static str, &'static str)],
    row: usize,
) -> Result<BTreeMap<String, String>, QueryError> {
    let mut labels = BTreeMap::new();
    for (i, (label, _)) in columns.iter().enumerate() {
        let array = utf8(batch.column(i)).ok_or_else(|| {
            QueryError::Execution("bad-event query returned unexpected types".into())
        })?;
        let value = if array.is_valid(row) {
            array.value(row)
        } else {
            ""
        };
        if !value.is_empty() {
            labels.insert((*label).to_owned(), value.to_owned());
        }
    }
    Ok(labels)
}

/// A string column as `Utf8`, whatever string type the plan produced (`Utf8View` by default).
fn utf8(array: &datafusion::arrow::array::ArrayRef) -> Option<StringArray> {
    datafusion::arrow::compute::cast(array, &datafusion::arrow::datatypes::DataType::Utf8)
        .ok()?
        .as_string_opt::<i32>()
        .cloned()
}
