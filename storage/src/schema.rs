//! The Arrow schemas of the SQL tables `spans`, `logs` and `metrics`.
//!
//! These are a public contract: users write SQL against these column names and types, and
//! every Parquet file stores exactly these schemas.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit,
};
use lookout_model::Signal;

/// Name of the SQL table holding spans.
pub const SPANS_TABLE: &str = "spans";
/// Name of the SQL table holding log records.
pub const LOGS_TABLE: &str = "logs";
/// Name of the SQL table holding metric data points.
pub const METRICS_TABLE: &str = "metrics";

/// The SQL table name of a signal.
pub fn table_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => SPANS_TABLE,
        Signal::Logs => LOGS_TABLE,
        Signal::Metrics => METRICS_TABLE,
    }
}

/// The column that holds a signal's event time (used for partitioning and pruning).
pub fn event_time_column(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "start_time",
        Signal::Logs | Signal::Metrics => "timestamp",
    }
}

/// The schema of a signal's table.
pub fn schema_for(signal: Signal) -> SchemaRef {
    match signal {
        Signal::Traces => spans_schema(),
        Signal::Logs => logs_schema(),
        Signal::Metrics => metrics_schema(),
    }
}

/// `Timestamp(Nanosecond, "UTC")`, the type of every time column.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// The entries field of an attribute map: `Struct{keys: Utf8 not null, values: Utf8}`.
pub(crate) fn map_entries_field() -> FieldRef {
    static FIELD: LazyLock<FieldRef> = LazyLock::new(|| {
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Utf8, true),
            ])),
            false,
        ))
    });
    FIELD.clone()
}

/// `Map<Utf8, Utf8>`, the type of every attribute column.
pub fn attribute_map_type() -> DataType {
    DataType::Map(map_entries_field(), false)
}

fn time(name: &str, nullable: bool) -> Field {
    Field::new(name, timestamp_type(), nullable)
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn attributes(name: &str) -> Field {
    Field::new(name, attribute_map_type(), false)
}

/// `List<item>` with a nullable `item` field, as Arrow's list builders produce.
pub(crate) fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

/// Fields of one element of `spans.events`.
pub(crate) fn span_event_fields() -> Fields {
    Fields::from(vec![
        time("time", false),
        utf8("name", false),
        attributes("attributes"),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
    ])
}

/// Fields of one element of `spans.links`.
pub(crate) fn span_link_fields() -> Fields {
    Fields::from(vec![
        utf8("trace_id", false),
        utf8("span_id", false),
        utf8("trace_state", false),
        attributes("attributes"),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
        Field::new("flags", DataType::UInt32, false),
    ])
}

/// Fields of one element of `metrics.exemplars`.
pub(crate) fn exemplar_fields() -> Fields {
    Fields::from(vec![
        time("time", false),
        Field::new("value", DataType::Float64, false),
        utf8("trace_id", true),
        utf8("span_id", true),
        attributes("filtered_attributes"),
    ])
}

/// The `spans` table: one row per span.
pub fn spans_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            utf8("trace_id", false),
            utf8("span_id", false),
            utf8("parent_span_id", true),
            utf8("trace_state", false),
            Field::new("flags", DataType::UInt32, false),
            utf8("service_name", false),
            utf8("name", false),
            utf8("kind", false),
            time("start_time", false),
            time("end_time", false),
            Field::new("duration_ns", DataType::Int64, false),
            utf8("status_code", false),
            utf8("status_message", false),
            attributes("attributes"),
            attributes("resource_attributes"),
            utf8("scope_name", false),
            utf8("scope_version", false),
            Field::new(
                "events",
                list_of(DataType::Struct(span_event_fields())),
                false,
            ),
            Field::new(
                "links",
                list_of(DataType::Struct(span_link_fields())),
                false,
            ),
            Field::new("dropped_attributes_count", DataType::UInt32, false),
            Field::new("dropped_events_count", DataType::UInt32, false),
            Field::new("dropped_links_count", DataType::UInt32, false),
        ]))
    });
    SCHEMA.clone()
}

/// The `logs` table: one row per log record.
pub fn logs_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            time("timestamp", false),
            time("observed_timestamp", false),
            utf8("trace_id", true),
            utf8("span_id", true),
            utf8("service_name", false),
            Field::new("severity_number", DataType::Int32, false),
            utf8("severity_text", false),
            utf8("body", true),
            utf8("event_name", false),
            Field::new("flags", DataType::UInt32, false),
            attributes("attributes"),
            attributes("resource_attributes"),
            utf8("scope_name", false),
            utf8("scope_version", false),
            Field::new("dropped_attributes_count", DataType::UInt32, false),
        ]))
    });
    SCHEMA.clone()
}

/// The `metrics` table: one row per data point.
pub fn metrics_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            utf8("service_name", false),
            utf8("metric_name", false),
            utf8("metric_type", false),
            utf8("description", false),
            utf8("unit", false),
            utf8("temporality", false),
            Field::new("is_monotonic", DataType::Boolean, true),
            time("start_timestamp", true),
            time("timestamp", false),
            Field::new("value", DataType::Float64, true),
            Field::new("count", DataType::UInt64, true),
            Field::new("sum", DataType::Float64, true),
            Field::new("min", DataType::Float64, true),
            Field::new("max", DataType::Float64, true),
            Field::new("bucket_bounds", list_of(DataType::Float64), true),
            Field::new("bucket_counts", list_of(DataType::UInt64), true),
            Field::new("exp_scale", DataType::Int32, true),
            Field::new("exp_zero_count", DataType::UInt64, true),
            Field::new("exp_zero_threshold", DataType::Float64, true),
            Field::new("exp_positive_offset", DataType::Int32, true),
            Field::new(
                "exp_positive_bucket_counts",
                list_of(DataType::UInt64),
                true,
            ),
            Field::new("exp_negative_offset", DataType::Int32, true),
            Field::new(
                "exp_negative_bucket_counts",
                list_of(DataType::UInt64),
                true,
            ),
            Field::new("quantiles", list_of(DataType::Float64), true),
            Field::new("quantile_values", list_of(DataType::Float64), true),
            Field::new(
                "exemplars",
                list_of(DataType::Struct(exemplar_fields())),
                false,
            ),
            Field::new("flags", DataType::UInt32, false),
            attributes("attributes"),
            attributes("resource_attributes"),
            utf8("scope_name", false),
            utf8("scope_version", false),
        ]))
    });
    SCHEMA.clone()
}
