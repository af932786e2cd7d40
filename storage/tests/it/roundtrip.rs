//! Model -> Arrow -> Parquet -> SQL round trips of every field of every table.

use datafusion::arrow::array::RecordBatch;
use lookout_model::{
    AnyValue, Exemplar, ExponentialBuckets, ExponentialHistogramPoint, HistogramPoint, KeyValue,
    LogRecord, Metric, MetricData, NumberPoint, NumberValue, PointCommon, QuantileValue, Span,
    SpanEvent, SpanKind, SpanLink, StatusCode, SummaryPoint, Temporality,
};
use lookout_storage::Payload;
use lookout_storage::rows::{logs_to_batch, metrics_to_batch, spans_to_batch};

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
            KeyValue {
                key: "http.status_code".into(),
                value: AnyValue::Int(200),
            },
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
            attributes: vec![KeyValue {
                key: "w".into(),
                value: AnyValue::Double(0.5),
            }],
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
        attributes: vec![KeyValue {
            key: "bytes".into(),
            value: AnyValue::Bytes(vec![0xab, 0x01]),
        }],
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
        metric(
            "g",
            MetricData::Gauge {
                points: vec![NumberPoint {
                    common: common(t, vec![exemplar]),
                    value: NumberValue::Double(2.5),
                }],
            },
        ),
        metric(
            "s",
            MetricData::Sum {
                points: vec![NumberPoint {
                    common: common(t, vec![]),
                    value: NumberValue::Int(7),
                }],
                temporality: Temporality::Delta,
                is_monotonic: true,
            },
        ),
        metric(
            "h",
            MetricData::Histogram {
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
            },
        ),
        metric(
            "e",
            MetricData::ExponentialHistogram {
                points: vec![ExponentialHistogramPoint {
                    common: common(t, vec![]),
                    count: 4,
                    sum: None,
                    scale: 2,
                    zero_count: 1,
                    positive: ExponentialBuckets {
                        offset: -1,
                        bucket_counts: vec![1, 2],
                    },
                    negative: ExponentialBuckets {
                        offset: 3,
                        bucket_counts: vec![1],
                    },
                    min: None,
                    max: None,
                    zero_threshold: 0.001,
                }],
                temporality: Temporality::Delta,
            },
        ),
        metric(
            "q",
            MetricData::Summary {
                points: vec![SummaryPoint {
                    common: common(t, vec![]),
                    count: 10,
                    sum: 55.0,
                    quantile_values: vec![
                        QuantileValue {
                            quantile: 0.5,
                            value: 5.0,
                        },
                        QuantileValue {
                            quantile: 0.99,
                            value: 9.9,
                        },
                    ],
                }],
            },
        ),
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
    writer
        .append(&tenant(), Payload::Spans(span_batch.clone()))
        .await
        .unwrap();
    writer
        .append(&tenant(), Payload::Logs(log_batch.clone()))
        .await
        .unwrap();
    writer
        .append(&tenant(), Payload::Metrics(metric_batch.clone()))
        .await
        .unwrap();
    store.flush().await.unwrap();
    assert_eq!(store.manifest().files.len(), 3);
    let reader = store.reader();

    assert_same_rows(
        &collect(&reader, "SELECT * FROM spans").await,
        &spans_to_batch(&span_batch).unwrap(),
    );
    assert_same_rows(
        &collect(&reader, "SELECT * FROM logs").await,
        &logs_to_batch(&log_batch).unwrap(),
    );
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
        trace_id(42).to_hex(),
        span_id(2).to_hex(),
        span_id(1).to_hex(),
        "vendor=1".into(),
        "257".into(),
        "checkout".into(),
        "GET /cart".into(),
        "client".into(),
        "2500".into(),
        "error".into(),
        "boom".into(),
        "200".into(),
        "[\"a\",true]".into(),
        "checkout".into(),
        "lib".into(),
        "1.0".into(),
        "exception".into(),
        "Boom".into(),
        trace_id(5).to_hex(),
        "0.5".into(),
        "1".into(),
        "3".into(),
        "5".into(),
        "Timestamp(ns, \"UTC\")".to_owned(),
    ];
    assert_eq!(rows(&reader, sql).await, vec![expected.to_vec()]);

    let sql = "SELECT timestamp = observed_timestamp, trace_id, span_id, severity_number, \
        severity_text, body, event_name, flags, attributes['bytes'], dropped_attributes_count \
        FROM logs";
    let expected = [
        "true".to_owned(),
        trace_id(42).to_hex(),
        span_id(2).to_hex(),
        "17".into(),
        "ERROR".into(),
        "{\"msg\":\"failed\"}".into(),
        "checkout.failed".into(),
        "1".into(),
        "ab01".into(),
        "2".into(),
    ];
    assert_eq!(rows(&reader, sql).await, vec![expected.to_vec()]);

    let sql = "SELECT metric_name, metric_type, temporality, is_monotonic, value, count, sum, \
        bucket_bounds, bucket_counts, exp_scale, exp_positive_offset, exp_positive_bucket_counts, \
        exp_negative_bucket_counts, quantiles, quantile_values, cardinality(exemplars), \
        start_timestamp IS NULL, unit FROM metrics ORDER BY metric_name";
    let expected = vec![
        vec![
            "e",
            "exponential_histogram",
            "delta",
            "NULL",
            "NULL",
            "4",
            "NULL",
            "NULL",
            "NULL",
            "2",
            "-1",
            "[1, 2]",
            "[1]",
            "NULL",
            "NULL",
            "0",
            "false",
            "ms",
        ],
        vec![
            "g",
            "gauge",
            "unspecified",
            "NULL",
            "2.5",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "1",
            "false",
            "ms",
        ],
        vec![
            "h",
            "histogram",
            "cumulative",
            "NULL",
            "NULL",
            "3",
            "6.0",
            "[1.0, 5.0]",
            "[1, 2, 0]",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "0",
            "false",
            "ms",
        ],
        vec![
            "q",
            "summary",
            "unspecified",
            "NULL",
            "NULL",
            "10",
            "55.0",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "[0.5, 0.99]",
            "[5.0, 9.9]",
            "0",
            "false",
            "ms",
        ],
        vec![
            "s", "sum", "delta", "true", "7.0", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL",
            "NULL", "NULL", "NULL", "NULL", "0", "false", "ms",
        ],
    ];
    assert_eq!(rows(&reader, sql).await, expected);
    let sql = "SELECT exemplars[1]['value'], exemplars[1]['trace_id'], \
        exemplars[1]['filtered_attributes']['user'] FROM metrics WHERE metric_name = 'g'";
    assert_eq!(
        rows(&reader, sql).await,
        vec![vec!["1.5".to_owned(), trace_id(42).to_hex(), "u1".into()]]
    );
}
