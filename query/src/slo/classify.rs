//! Event filters of span and log SLIs, compiled once into SQL predicates over the `spans` and
//! `logs` tables. The same predicates count events two ways that must agree exactly: as
//! DataFusion physical expressions over each appended Arrow batch (live), and inside an
//! aggregate SQL query over stored data (backfill and backtests).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, TimestampNanosecondArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use lookout_model::slo::{AttributeValues, EventFilter, EventIndicator};
use lookout_storage::{logs_schema, spans_schema};

use super::duration::parse_latency_nanos;
use super::series::bucket_of_nanos;

const SPAN_KINDS: [&str; 6] = [
    "unspecified",
    "internal",
    "server",
    "client",
    "producer",
    "consumer",
];
const SPAN_STATUSES: [&str; 3] = ["unset", "ok", "error"];

/// The severity number a name stands for (OTLP: TRACE=1, DEBUG=5, INFO=9, WARN=13, ERROR=17,
/// FATAL=21), or a number 1-24.
pub fn severity_number(text: &str) -> Result<i32, String> {
    let lower = text.trim().to_ascii_lowercase();
    let number = match lower.as_str() {
        "trace" => 1,
        "debug" => 5,
        "info" => 9,
        "warn" | "warning" => 13,
        "error" => 17,
        "fatal" => 21,
        other => other.parse().map_err(|_| {
            format!("invalid severity `{text}`: use trace, debug, info, warn, error, fatal or 1-24")
        })?,
    };
    if (1..=24).contains(&number) {
        Ok(number)
    } else {
        Err(format!("severity number {number} is outside 1-24"))
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn in_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|value| quote(value))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SQL predicate of `filter` over the `spans` (`spans = true`) or `logs` table.
pub fn filter_sql(filter: &EventFilter, spans: bool) -> Result<String, String> {
    let mut terms: Vec<String> = Vec::new();
    let span_only = |name: &str, set: bool| -> Result<(), String> {
        if set && !spans {
            Err(format!("`{name}` applies to spans, not to log records"))
        } else {
            Ok(())
        }
    };
    let log_only = |name: &str, set: bool| -> Result<(), String> {
        if set && spans {
            Err(format!("`{name}` applies to log records, not to spans"))
        } else {
            Ok(())
        }
    };
    span_only("operations", !filter.operations.is_empty())?;
    span_only("kinds", !filter.kinds.is_empty())?;
    span_only("status", !filter.status.is_empty())?;
    span_only("statusNot", !filter.status_not.is_empty())?;
    span_only("durationBelow", filter.duration_below.is_some())?;
    span_only("durationAtLeast", filter.duration_at_least.is_some())?;
    span_only("entryOnly", filter.entry_only)?;
    log_only("severityAtLeast", filter.severity_at_least.is_some())?;
    log_only("severityBelow", filter.severity_below.is_some())?;
    log_only("bodyContains", filter.body_contains.is_some())?;

    if let Some(service) = &filter.service {
        terms.push(format!("service_name = {}", quote(service)));
    }
    if !filter.operations.is_empty() {
        let names: Vec<&str> = filter.operations.iter().map(String::as_str).collect();
        terms.push(format!("name IN ({})", in_list(&names)));
    }
    let checked =
        |values: &[String], allowed: &[&str], what: &str| -> Result<Vec<String>, String> {
            values
                .iter()
                .map(|value| {
                    let lower = value.to_ascii_lowercase();
                    if allowed.contains(&lower.as_str()) {
                        Ok(lower)
                    } else {
                        Err(format!(
                            "unknown {what} `{value}`: use one of {}",
                            allowed.join(", ")
                        ))
                    }
                })
                .collect()
        };
    if !filter.kinds.is_empty() {
        let kinds = checked(&filter.kinds, &SPAN_KINDS, "span kind")?;
        let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
        terms.push(format!("kind IN ({})", in_list(&kinds)));
    }
    if !filter.status.is_empty() {
        let statuses = checked(&filter.status, &SPAN_STATUSES, "span status")?;
        let statuses: Vec<&str> = statuses.iter().map(String::as_str).collect();
        terms.push(format!("status_code IN ({})", in_list(&statuses)));
    }
    if !filter.status_not.is_empty() {
        let statuses = checked(&filter.status_not, &SPAN_STATUSES, "span status")?;
        let statuses: Vec<&str> = statuses.iter().map(String::as_str).collect();
        terms.push(format!("status_code NOT IN ({})", in_list(&statuses)));
    }
    if let Some(text) = &filter.duration_below {
        terms.push(format!("duration_ns < {}", parse_latency_nanos(text)?));
    }
    if let Some(text) = &filter.duration_at_least {
        terms.push(format!("duration_ns >= {}", parse_latency_nanos(text)?));
    }
    if filter.entry_only {
        terms.push("(parent_span_id IS NULL OR parent_span_id = '')".into());
    }
    if let Some(text) = &filter.severity_at_least {
        terms.push(format!("severity_number >= {}", severity_number(text)?));
    }
    if let Some(text) = &filter.severity_below {
        terms.push(format!("severity_number < {}", severity_number(text)?));
    }
    if let Some(text) = &filter.body_contains {
        if text.is_empty() {
            return Err("`bodyContains` must not be empty".into());
        }
        terms.push(format!("strpos(body, {}) > 0", quote(text)));
    }
    let attribute_terms = |column: &str,
                           map: &BTreeMap<String, AttributeValues>,
                           negate: bool,
                           terms: &mut Vec<String>|
     -> Result<(), String> {
        for (key, values) in map {
            if key.is_empty() {
                return Err("attribute keys must not be empty".into());
            }
            let values = values.values();
            if values.is_empty() {
                return Err(format!("attribute `{key}` needs at least one value"));
            }
            let access = format!("{column}[{}]", quote(key));
            terms.push(if negate {
                format!(
                    "({access} IS NULL OR {access} NOT IN ({}))",
                    in_list(&values)
                )
            } else {
                format!("{access} IN ({})", in_list(&values))
            });
        }
        Ok(())
    };
    attribute_terms("attributes", &filter.attributes, false, &mut terms)?;
    attribute_terms("attributes", &filter.attributes_not, true, &mut terms)?;
    attribute_terms(
        "resource_attributes",
        &filter.resource_attributes,
        false,
        &mut terms,
    )?;
    if let Some(sql) = &filter.where_sql {
        if sql.trim().is_empty() {
            return Err("`where` must not be empty".into());
        }
        terms.push(format!("({sql})"));
    }
    if terms.is_empty() {
        Ok("TRUE".into())
    } else {
        Ok(terms.join(" AND "))
    }
}

/// Checks that a filter compiles against its table's schema.
pub fn validate_filter(filter: &EventFilter, spans: bool) -> Result<(), String> {
    let schema = if spans { spans_schema() } else { logs_schema() };
    let sql = filter_sql(filter, spans)?;
    compile(&SessionContext::new(), &schema, &sql).map(|_| ())
}

fn compile(
    context: &SessionContext,
    schema: &SchemaRef,
    sql: &str,
) -> Result<Arc<dyn PhysicalExpr>, String> {
    let df_schema = DFSchema::try_from(schema.as_ref().clone()).map_err(|e| e.to_string())?;
    let expr = context
        .parse_sql_expr(sql, &df_schema)
        .map_err(|error| format!("invalid filter `{sql}`: {error}"))?;
    context
        .create_physical_expr(expr, &df_schema)
        .map_err(|error| format!("invalid filter `{sql}`: {error}"))
}

/// The predicates of an event SLI as SQL: eligible events, and good ones among them.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorSql {
    /// `spans` or `logs`.
    pub table: &'static str,
    /// Time column that keys buckets (`end_time` for spans, `timestamp` for logs).
    pub time_column: &'static str,
    /// Eligible events.
    pub total: String,
    /// Good events among the eligible ones.
    pub good: String,
}

impl IndicatorSql {
    /// Compiles an event indicator.
    pub fn new(indicator: &EventIndicator, spans: bool) -> Result<Self, String> {
        let total = filter_sql(&indicator.total, spans)?;
        let good = match (&indicator.good, &indicator.bad) {
            (Some(good), None) => filter_sql(good, spans)?,
            (None, Some(bad)) => format!("NOT ({})", filter_sql(bad, spans)?),
            _ => return Err("an event SLI needs exactly one of `good` and `bad`".into()),
        };
        Ok(Self {
            table: if spans { "spans" } else { "logs" },
            time_column: if spans { "end_time" } else { "timestamp" },
            total,
            good,
        })
    }

    /// The aggregate query counting (bucket, good, total) over `(start, end]` Unix nanos.
    pub fn bucket_query(&self, start_unix_nanos: i64, end_unix_nanos: i64) -> String {
        let time = self.time_column;
        let mut range = format!(
            "{time} > to_timestamp_nanos({start_unix_nanos}) AND {time} <= to_timestamp_nanos({end_unix_nanos})"
        );
        if self.table == "spans" {
            // Spans end after they start: lets the scan prune partitions by start time.
            range.push_str(&format!(
                " AND start_time <= to_timestamp_nanos({end_unix_nanos})"
            ));
        }
        format!(
            "SELECT (CAST({time} AS BIGINT) + 59999999999) / 60000000000 AS bucket, \
             CAST(count(*) FILTER (WHERE coalesce({good}, FALSE)) AS BIGINT) AS good, \
             CAST(count(*) AS BIGINT) AS total \
             FROM {table} WHERE {range} AND coalesce({total}, FALSE) GROUP BY 1",
            good = self.good,
            total = self.total,
            table = self.table,
        )
    }
}

/// An event SLI compiled against the full table schema, for appended batches.
#[derive(Debug, Clone)]
pub struct Classifier {
    total: Arc<dyn PhysicalExpr>,
    good: Arc<dyn PhysicalExpr>,
    time_index: usize,
}

impl Classifier {
    /// Compiles `sql` against the table's schema.
    pub fn new(sql: &IndicatorSql) -> Result<Self, String> {
        let schema = if sql.table == "spans" {
            spans_schema()
        } else {
            logs_schema()
        };
        let context = SessionContext::new();
        let time_index = schema
            .index_of(sql.time_column)
            .map_err(|error| error.to_string())?;
        Ok(Self {
            total: compile(&context, &schema, &sql.total)?,
            good: compile(&context, &schema, &sql.good)?,
            time_index,
        })
    }

    /// Adds the batch's events to `buckets` as bucket -> (good, total).
    pub fn count(
        &self,
        batch: &RecordBatch,
        buckets: &mut BTreeMap<i64, (u64, u64)>,
    ) -> Result<(), String> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let evaluate = |expr: &Arc<dyn PhysicalExpr>| -> Result<BooleanArray, String> {
            let value = expr.evaluate(batch).map_err(|error| error.to_string())?;
            let array = value.into_array(rows).map_err(|error| error.to_string())?;
            array
                .as_any()
                .downcast_ref::<BooleanArray>()
                .cloned()
                .ok_or_else(|| "an SLI filter did not evaluate to a boolean".to_owned())
        };
        let total = evaluate(&self.total)?;
        let good = evaluate(&self.good)?;
        let times = batch
            .column(self.time_index)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .ok_or_else(|| "the SLI time column is not a nanosecond timestamp".to_owned())?;
        for row in 0..rows {
            if !(total.is_valid(row) && total.value(row)) {
                continue;
            }
            let entry = buckets
                .entry(bucket_of_nanos(times.value(row)))
                .or_insert((0, 0));
            entry.1 += 1;
            if good.is_valid(row) && good.value(row) {
                entry.0 += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span_filter(yaml: &str) -> EventFilter {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn filters_compile_to_sql() {
        let cases = [
            ("{}", Ok("TRUE".to_owned())),
            (
                "{service: checkout, kinds: [server]}",
                Ok("service_name = 'checkout' AND kind IN ('server')".to_owned()),
            ),
            (
                "{statusNot: [error], durationBelow: 300ms}",
                Ok("status_code NOT IN ('error') AND duration_ns < 300000000".to_owned()),
            ),
            (
                "{attributes: {http.route: [\"/a\", \"/b'c\"]}}",
                Ok("attributes['http.route'] IN ('/a', '/b''c')".to_owned()),
            ),
            ("{kinds: [sideways]}", Err(())),
            ("{durationBelow: fast}", Err(())),
            ("{severityAtLeast: error}", Err(())),
        ];
        for (yaml, expected) in cases {
            let result = filter_sql(&span_filter(yaml), true);
            match expected {
                Ok(sql) => assert_eq!(result.as_deref(), Ok(sql.as_str()), "{yaml}"),
                Err(()) => assert!(result.is_err(), "{yaml}: {result:?}"),
            }
        }
    }

    #[test]
    fn log_filters_check_their_keys() {
        let filter = span_filter("{severityAtLeast: warn, bodyContains: timeout}");
        assert_eq!(
            filter_sql(&filter, false).unwrap(),
            "severity_number >= 13 AND strpos(body, 'timeout') > 0"
        );
        assert!(filter_sql(&span_filter("{kinds: [server]}"), false).is_err());
    }

    #[test]
    fn where_clauses_are_validated_against_the_schema() {
        assert!(validate_filter(&span_filter("{where: \"duration_ns > 5\"}"), true).is_ok());
        assert!(validate_filter(&span_filter("{where: \"no_such_column = 1\"}"), true).is_err());
        assert!(validate_filter(&span_filter("{where: \"severity_number > 1\"}"), false).is_ok());
    }
}
