//! Model -> Arrow -> Parquet -> SQL round trips of every field of every table.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, AsArray, ListArray, MapArray, RecordBatch, StructArray, TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::{Int64Type, TimestampNanosecondType, UInt32Type};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use lookout_model::{
    AnyValue, Exemplar, ExponentialBuckets, ExponentialHistogramPoint, HistogramPoint, KeyValue,
    LogRecord, Metric, MetricData, NumberPoint, NumberValue, PointCommon, QuantileValue, Span,
    SpanEvent, SpanId, SpanKind, SpanLink, StatusCode, SummaryPoint, Temporality, TraceId,
};
use lookout_storage::Payload;
use lookout_storage::rows::{logs_to_batch, metrics_to_batch, spans_to_batch};
use proptest::prelude::*;

use crate::support::{batch_of, collect, open, recent_time, rows, span_id, tenant, trace_id};

fn rich_span(t: u64) -> Span {
    Span {
        trace_id: trace_id(42),
        span_id: span_id(2),
        parent_span_id: Some(span_id(1)),
        trace_state: "vendor=1".into(),
        flags: 257,
        name: "GET /cart".into(),
        kind: SpanKind::Client,
        start_time_unix_nano: t,
        end_time_unix_nano: t + 2_500,
        attributes: vec![
            KeyValue::string("http.route", "/cart"),
            KeyValue { key: "http.status_code".into(), value: AnyValue::Int(200) },
            KeyValue {
                key: "tags".into(),
                value: AnyValue::Array(vec![AnyValue::String("a".into()), AnyValue::Bool(true)]),
            },
        ],
        dropped_attributes_count: 1,
        events: vec![SpanEvent {
            time_unix_nano: t + 10,
            name: "exception".into(),
            attributes: vec![KeyValue::string("exception.type", "Boom")],
            dropped_attributes_count: 2,
        }],
        dropped_events_count: 3,
        links: vec![SpanLink {
            trace_id: trace_id(5),
            span_id: span_id(6),
            trace_state: "l=1".into(),
            attributes: vec![KeyValue { key: "w".into(), value: AnyValue::Double(0.5) }],
            dropped_attributes_count: 4,
            flags: 1,
        }],
        dropped_links_count: 5,
        status_code: StatusCode::Error,
        status_message: "boom".into(),
    }
}

fn rich_log(t: u64) -> LogRecord {
    LogRecord {
        time_unix_nano: 0,
        observed_time_unix_nano: t,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: Some(AnyValue::KvList(vec![KeyValue::string("msg", "failed")])),
        attributes: vec![KeyValue { key: "bytes".into(), value: AnyValue::Bytes(vec![0xab, 0x01]) }],
        dropped_attributes_count: 2,
        flags: 1,
        trace_id: Some(trace_id(42)),
        span_id: Some(span_id(2)),
        event_name: "checkout.failed".into(),
    }
}

fn common(t: u64, exemplars: Vec<Exemplar>) -> PointCommon {
    PointCommon {
        attributes: vec![KeyValue::string("route", "/cart")],
        start_time_unix_nano: t - 1_000,
        time_unix_nano: t,
        flags: 0,
        exemplars,
    }
}

fn every_metric_type(t: u64) -> Vec<Metric> {
    let metric = |name: &str, data| Metric {
        name: name.into(),
        description: format!("{name} description"),
        unit: "ms".into(),
        metadata: vec![],
        data,
    };
    let exemplar = Exemplar {
        filtered_attributes: vec![KeyValue::string("user", "u1")],
        time_unix_nano: t - 5,
        value: NumberValue::Double(1.5),
        span_id: Some(span_id(2)),
        trace_id: Some(trace_id(42)),
    };
    vec![
        metric("g", MetricData::Gauge {
            points: vec![NumberPoint { common: common(t, vec![exemplar]), value: NumberValue::Double(2.5) }],
        }),
        metric("s", MetricData::Sum {
            points: vec![NumberPoint { common: common(t, vec![]), value: NumberValue::Int(7) }],
            temporality: Temporality::Delta,
            is_monotonic: true,
        }),
        metric("h", MetricData::Histogram {
            points: vec![HistogramPoint {
                common: common(t, vec![]),
                count: 3,
                sum: Some(6.0),
                bucket_counts: vec![1, 2, 0],
                explicit_bounds: vec![1.0, 5.0],
                min: Some(0.5),
                max: Some(4.0),
            }],
            temporality: Temporality::Cumulative,
        }),
        metric("e", MetricData::ExponentialHistogram {
            points: vec![ExponentialHistogramPoint {
                common: common(t, vec![]),
                count: 4,
                sum: None,
                scale: 2,
                zero_count: 1,
                positive: ExponentialBuckets { offset: -1, bucket_counts: vec![1, 2] },
                negative: ExponentialBuckets { offset: 3, bucket_counts: vec![1] },
                min: None,
                max: None,
                zero_threshold: 0.001,
            }],
            temporality: Temporality::Delta,
        }),
        metric("q", MetricData::Summary {
            points: vec![SummaryPoint {
                common: common(t, vec![]),
                count: 10,
                sum: 55.0,
                quantile_values: vec![
                    QuantileValue { quantile: 0.5, value: 5.0 },
                    QuantileValue { quantile: 0.99, value: 9.9 },
                ],
            }],
        }),
    ]
}

/// The SQL answer over Parquet must equal the direct conversion, column for column.
fn assert_same_rows(from_sql: &[RecordBatch], expected: &RecordBatch) {
    let schema = expected.schema();
    let merged = datafusion::arrow::compute::concat_batches(&schema, from_sql).unwrap();
    assert_eq!(merged.num_rows(), expected.num_rows());
    for (index, field) in schema.fields().iter().enumerate() {
        assert_eq!(
            merged.column(index).to_data(),
            expected.column(index).to_data(),
            "column {}",
            field.name()
        );
    }
}

#[tokio::test]
async fn every_field_survives_parquet_and_sql() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let t = recent_time();
    let span_batch = batch_of("checkout", vec![rich_span(t)]);
    let log_batch = batch_of("checkout", vec![rich_log(t)]);
    let metric_batch = batch_of("checkout", every_metric_type(t));
    let writer = store.writer();
    writer.append(&tenant(), Payload::Spans(span_batch.clone())).await.unwrap();
    writer.append(&tenant(), Payload::Logs(log_batch.clone())).await.unwrap();
    writer.append(&tenant(), Payload::Metrics(metric_batch.clone())).await.unwrap();
    store.flush().await.unwrap();
    assert_eq!(store.manifest().files.len(), 3);
    let reader = store.reader();

    assert_same_rows(&collect(&reader, "SELECT * FROM spans").await, &spans_to_batch(&span_batch).unwrap());
    assert_same_rows(&collect(&reader, "SELECT * FROM logs").await, &logs_to_batch(&log_batch).unwrap());
    assert_same_rows(
        &collect(&reader, "SELECT * FROM metrics ORDER BY metric_name").await,
        &datafusion::arrow::compute::take_record_batch(
            &metrics_to_batch(&metric_batch).unwrap(),
            &datafusion::arrow::array::UInt32Array::from(vec![3, 0, 2, 4, 1]),
        )
        .unwrap(),
    );

    // And the values are the ones users expect to read.
    let sql = "SELECT trace_id, span_id, parent_span_id, trace_state, flags, service_name, name, \
        kind, duration_ns, status_code, status_message, attributes['http.status_code'], \
        attributes['tags'], resource_attributes['service.name'], scope_name, scope_version, \
        events[1]['name'], events[1]['attributes']['exception.type'], links[1]['trace_id'], \
        links[1]['attributes']['w'], dropped_attributes_count, dropped_events_count, \
        dropped_links_count, arrow_typeof(start_time) FROM spans";
    let expected = [
        trace_id(42).to_hex(), span_id(2).to_hex(), span_id(1).to_hex(), "vendor=1".into(),
        "257".into(), "checkout".into(), "GET /cart".into(), "client".into(), "2500".into(),
        "error".into(), "boom".into(), "200".into(), "[\"a\",true]".into(), "checkout".into(),
        "lib".into(), "1.0".into(), "exception".into(), "Boom".into(), trace_id(5).to_hex(),
        "0.5".into(), "1".into(), "3".into(), "5".into(),
        "Timestamp(ns, \"UTC\")".to_owned(),
    ];
    assert_eq!(rows(&reader, sql).await, vec![expected.to_vec()]);

    let sql = "SELECT timestamp = observed_timestamp, trace_id, span_id, severity_number, \
        severity_text, body, event_name, flags, attributes['bytes'], dropped_attributes_count \
        FROM logs";
    let expected = [
        "true".to_owned(), trace_id(42).to_hex(), span_id(2).to_hex(), "17".into(),
        "ERROR".into(), "{\"msg\":\"failed\"}".into(), "checkout.failed".into(), "1".into(),
        "ab01".into(), "2".into(),
    ];
    assert_eq!(rows(&reader, sql).await, vec![expected.to_vec()]);

    let sql = "SELECT metric_name, metric_type, temporality, is_monotonic, value, count, sum, \
        bucket_bounds, bucket_counts, exp_scale, exp_positive_offset, exp_positive_bucket_counts, \
        exp_negative_bucket_counts, quantiles, quantile_values, cardinality(exemplars), \
        start_timestamp IS NULL, unit FROM metrics ORDER BY metric_name";
    let expected = vec![
        vec!["e", "exponential_histogram", "delta", "NULL", "NULL", "4", "NULL", "NULL", "NULL", "2", "-1", "[1, 2]", "[1]", "NULL", "NULL", "0", "false", "ms"],
        vec!["g", "gauge", "unspecified", "NULL", "2.5", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "1", "false", "ms"],
        vec!["h", "histogram", "cumulative", "NULL", "NULL", "3", "6.0", "[1.0, 5.0]", "[1, 2, 0]", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "0", "false", "ms"],
        vec!["q", "summary", "unspecified", "NULL", "NULL", "10", "55.0", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "[0.5, 0.99]", "[5.0, 9.9]", "0", "false", "ms"],
        vec!["s", "sum", "delta", "true", "7.0", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "0", "false", "ms"],
    ];
    assert_eq!(rows(&reader, sql).await, expected);
    let sql = "SELECT exemplars[1]['value'], exemplars[1]['trace_id'], \
        exemplars[1]['filtered_attributes']['user'] FROM metrics WHERE metric_name = 'g'";
    assert_eq!(rows(&reader, sql).await, vec![vec!["1.5".to_owned(), trace_id(42).to_hex(), "u1".into()]]);
}

/// A span as the `spans` table shows it, rebuilt from a row.
#[derive(Debug, PartialEq)]
struct SpanRow {
    trace_id: String,
    span_id: String,
    parent_span_id: Option<String>,
    trace_state: String,
    flags: u32,
    name: String,
    kind: String,
    start: i64,
    end: i64,
    duration: i64,
    status: (String, String),
    attributes: Vec<(String, String)>,
    events: Vec<(i64, String, Vec<(String, String)>, u32)>,
    links: Vec<(String, String, String, Vec<(String, String)>, u32, u32)>,
    dropped: (u32, u32, u32),
}

fn text_pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes.iter().map(|kv| (kv.key.clone(), kv.value.to_text())).collect()
}

fn expected_row(span: &Span) -> SpanRow {
    SpanRow {
        trace_id: span.trace_id.to_hex(),
        span_id: span.span_id.to_hex(),
        parent_span_id: span.parent_span_id.map(|id| id.to_hex()),
        trace_state: span.trace_state.clone(),
        flags: span.flags,
        name: span.name.clone(),
        kind: span.kind.as_str().into(),
        start: span.start_time_unix_nano as i64,
        end: span.end_time_unix_nano as i64,
        duration: span.duration_nanos() as i64,
        status: (span.status_code.as_str().into(), span.status_message.clone()),
        attributes: text_pairs(&span.attributes),
        events: span
            .events
            .iter()
            .map(|e| (e.time_unix_nano as i64, e.name.clone(), text_pairs(&e.attributes), e.dropped_attributes_count))
            .collect(),
        links: span
            .links
            .iter()
            .map(|l| (l.trace_id.to_hex(), l.span_id.to_hex(), l.trace_state.clone(), text_pairs(&l.attributes), l.dropped_attributes_count, l.flags))
            .collect(),
        dropped: (span.dropped_attributes_count, span.dropped_events_count, span.dropped_links_count),
    }
}

fn map_pairs(map: &MapArray, row: usize) -> Vec<(String, String)> {
    let entries = map.value(row);
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    (0..entries.len()).map(|i| (keys.value(i).to_owned(), values.value(i).to_owned())).collect()
}

fn read_rows(batch: &RecordBatch) -> Vec<SpanRow> {
    let text = |name: &str| batch.column_by_name(name).unwrap().as_string::<i32>().clone();
    let u32s = |name: &str| batch.column_by_name(name).unwrap().as_primitive::<UInt32Type>().clone();
    let time = |name: &str| batch.column_by_name(name).unwrap().as_primitive::<TimestampNanosecondType>().clone();
    let (trace, span, parent, state, name, kind) =
        (text("trace_id"), text("span_id"), text("parent_span_id"), text("trace_state"), text("name"), text("kind"));
    let (status, message) = (text("status_code"), text("status_message"));
    let (flags, dropped_a, dropped_e, dropped_l) =
        (u32s("flags"), u32s("dropped_attributes_count"), u32s("dropped_events_count"), u32s("dropped_links_count"));
    let (start, end) = (time("start_time"), time("end_time"));
    let duration = batch.column_by_name("duration_ns").unwrap().as_primitive::<Int64Type>().clone();
    let attributes = batch.column_by_name("attributes").unwrap().as_map().clone();
    let events = batch.column_by_name("events").unwrap().as_list::<i32>().clone();
    let links = batch.column_by_name("links").unwrap().as_list::<i32>().clone();
    (0..batch.num_rows())
        .map(|row| SpanRow {
            trace_id: trace.value(row).into(),
            span_id: span.value(row).into(),
            parent_span_id: (!parent.is_null(row)).then(|| parent.value(row).to_owned()),
            trace_state: state.value(row).into(),
            flags: flags.value(row),
            name: name.value(row).into(),
            kind: kind.value(row).into(),
            start: start.value(row),
            end: end.value(row),
            duration: duration.value(row),
            status: (status.value(row).into(), message.value(row).into()),
            attributes: map_pairs(&attributes, row),
            events: struct_rows(&events, row, |s, i| {
                let time = s.column(0).as_any().downcast_ref::<TimestampNanosecondArray>().unwrap().value(i);
                let name = s.column(1).as_string::<i32>().value(i).to_owned();
                let attributes = map_pairs(s.column(2).as_map(), i);
                let dropped = s.column(3).as_primitive::<UInt32Type>().value(i);
                (time, name, attributes, dropped)
            }),
            links: struct_rows(&links, row, |s, i| {
                (
                    s.column(0).as_string::<i32>().value(i).to_owned(),
                    s.column(1).as_string::<i32>().value(i).to_owned(),
                    s.column(2).as_string::<i32>().value(i).to_owned(),
                    map_pairs(s.column(3).as_map(), i),
                    s.column(4).as_primitive::<UInt32Type>().value(i),
                    s.column(5).as_primitive::<UInt32Type>().value(i),
                )
            }),
            dropped: (dropped_a.value(row), dropped_e.value(row), dropped_l.value(row)),
        })
        .collect()
}

fn struct_rows<T>(list: &ListArray, row: usize, read: impl Fn(&StructArray, usize) -> T) -> Vec<T> {
    let values = list.value(row);
    let structs = values.as_struct();
    (0..structs.len()).map(|i| read(structs, i)).collect()
}

fn parquet_round_trip(batch: &RecordBatch) -> Vec<RecordBatch> {
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn any_text() -> impl Strategy<Value = String> {
    "[a-z0-9 ./_\u{e9}\u{4e2d}-]{0,12}"
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        any_text().prop_map(AnyValue::String),
        any::<bool>().prop_map(AnyValue::Bool),
        any::<i64>().prop_map(AnyValue::Int),
        any::<f64>().prop_map(AnyValue::Double),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(AnyValue::Bytes),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(AnyValue::Array),
            proptest::collection::vec((any_text(), inner), 0..3)
                .prop_map(|pairs| AnyValue::KvList(pairs.into_iter().map(|(key, value)| KeyValue { key, value }).collect())),
        ]
    })
}

fn any_attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec((any_text(), any_value()), 0..4)
        .prop_map(|pairs| pairs.into_iter().map(|(key, value)| KeyValue { key, value }).collect())
}

fn any_trace_id() -> impl Strategy<Value = TraceId> {
    any::<[u8; 16]>().prop_map(|mut bytes| {
        bytes[0] |= 1;
        TraceId(bytes)
    })
}

fn any_span_id() -> impl Strategy<Value = SpanId> {
    any::<[u8; 8]>().prop_map(|mut bytes| {
        bytes[7] |= 1;
        SpanId(bytes)
    })
}

prop_compose! {
    fn any_span()(
        trace_id in any_trace_id(),
        span_id in any_span_id(),
        parent_span_id in proptest::option::of(any_span_id()),
        trace_state in any_text(),
        flags in any::<u32>(),
        name in any_text(),
        kind in 0..6i32,
        start in 0..u64::MAX / 2,
        length in 0..1_000_000_000u64,
        attributes in any_attributes(),
        counts in any::<(u32, u32, u32)>(),
        events in proptest::collection::vec((0..u64::MAX / 2, any_text(), any_attributes(), any::<u32>()), 0..3),
        links in proptest::collection::vec((any_trace_id(), any_span_id(), any_text(), any_attributes(), any::<(u32, u32)>()), 0..3),
        status in 0..3i32,
        status_message in any_text(),
    ) -> Span {
        Span {
            trace_id,
            span_id,
            parent_span_id,
            trace_state,
            flags,
            name,
            kind: SpanKind::from_i32(kind),
            start_time_unix_nano: start,
            end_time_unix_nano: start + length,
            attributes,
            dropped_attributes_count: counts.0,
            events: events.into_iter().map(|(time_unix_nano, name, attributes, dropped_attributes_count)| SpanEvent { time_unix_nano, name, attributes, dropped_attributes_count }).collect(),
            dropped_events_count: counts.1,
            links: links.into_iter().map(|(trace_id, span_id, trace_state, attributes, (dropped_attributes_count, flags))| SpanLink { trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags }).collect(),
            dropped_links_count: counts.2,
            status_code: StatusCode::from_i32(status),
            status_message,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn spans_round_trip_through_arrow_and_parquet(spans in proptest::collection::vec(any_span(), 0..6)) {
        let batch = spans_to_batch(&batch_of("svc", spans.clone())).unwrap();
        let read_back = parquet_round_trip(&batch);
        let rows: Vec<SpanRow> = read_back.iter().flat_map(read_rows).collect();
        let expected: Vec<SpanRow> = spans.iter().map(expected_row).collect();
        prop_assert_eq!(rows, expected);
        for batch in &read_back {
            prop_assert_eq!(batch.schema(), Arc::clone(&lookout_storage::spans_schema()));
        }
    }
}
