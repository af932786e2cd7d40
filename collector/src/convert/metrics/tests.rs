//! Table-driven tests of metric conversion: every metric type, exemplars, refused points.

use super::*;
use lookout_model::{KeyValue, SpanId, TraceId};
use opentelemetry_proto::tonic::common::v1::{AnyValue as ProtoValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberProtoValue;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};

fn request(metrics_in: Vec<proto::Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: metrics_in,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn label(key: &str, value: &str) -> ProtoKeyValue {
    ProtoKeyValue {
        key: key.into(),
        value: Some(ProtoValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        key_strindex: 0,
    }
}

fn proto_exemplar() -> proto::Exemplar {
    proto::Exemplar {
        filtered_attributes: vec![label("user", "u1")],
        time_unix_nano: 77,
        span_id: vec![2; 8],
        trace_id: vec![1; 16],
        value: Some(proto::exemplar::Value::AsDouble(0.25)),
    }
}

fn model_exemplar() -> Exemplar {
    Exemplar {
        filtered_attributes: vec![KeyValue::string("user", "u1")],
        time_unix_nano: 77,
        value: NumberValue::Double(0.25),
        span_id: Some(SpanId([2; 8])),
        trace_id: Some(TraceId([1; 16])),
    }
}

fn number(value: Option<NumberProtoValue>) -> proto::NumberDataPoint {
    proto::NumberDataPoint {
        attributes: vec![label("host", "a")],
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        exemplars: vec![proto_exemplar()],
        flags: 0,
        value,
    }
}

fn model_common(exemplars: Vec<Exemplar>) -> PointCommon {
    PointCommon {
        attributes: vec![KeyValue::string("host", "a")],
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        flags: 0,
        exemplars,
    }
}

fn named(name: &str, data: Data) -> proto::Metric {
    proto::Metric {
        name: name.into(),
        description: "d".into(),
        unit: "ms".into(),
        metadata: vec![label("m", "1")],
        data: Some(data),
    }
}

#[test]
fn every_metric_type() {
    let histogram_point = proto::HistogramDataPoint {
        attributes: vec![label("host", "a")],
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        count: 3,
        sum: Some(4.5),
        bucket_counts: vec![1, 2, 0],
        explicit_bounds: vec![1.0, 5.0],
        exemplars: vec![proto_exemplar()],
        flags: 0,
        min: Some(0.5),
        max: None,
    };
    let exponential_point = proto::ExponentialHistogramDataPoint {
        attributes: vec![label("host", "a")],
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        count: 10,
        sum: None,
        scale: -2,
        zero_count: 1,
        positive: Some(Buckets {
            offset: -3,
            bucket_counts: vec![4, 5],
        }),
        negative: None,
        flags: 0,
        exemplars: vec![],
        min: Some(-1.0),
        max: Some(9.0),
        zero_threshold: 0.001,
    };
    let summary_point = proto::SummaryDataPoint {
        attributes: vec![label("host", "a")],
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        count: 8,
        sum: 16.0,
        quantile_values: vec![ValueAtQuantile {
            quantile: 0.99,
            value: 3.0,
        }],
        flags: 0,
    };
    let cases: Vec<(proto::Metric, MetricData)> = vec![
        (
            named(
                "gauge",
                Data::Gauge(proto::Gauge {
                    data_points: vec![number(Some(NumberProtoValue::AsDouble(1.5)))],
                }),
            ),
            MetricData::Gauge {
                points: vec![NumberPoint {
                    common: model_common(vec![model_exemplar()]),
                    value: NumberValue::Double(1.5),
                }],
            },
        ),
        (
            named(
                "sum",
                Data::Sum(proto::Sum {
                    data_points: vec![number(Some(NumberProtoValue::AsInt(-4)))],
                    aggregation_temporality: 2,
                    is_monotonic: true,
                }),
            ),
            MetricData::Sum {
                points: vec![NumberPoint {
                    common: model_common(vec![model_exemplar()]),
                    value: NumberValue::Int(-4),
                }],
                temporality: Temporality::Cumulative,
                is_monotonic: true,
            },
        ),
        (
            named(
                "histogram",
                Data::Histogram(proto::Histogram {
                    data_points: vec![histogram_point],
                    aggregation_temporality: 1,
                }),
            ),
            MetricData::Histogram {
                points: vec![HistogramPoint {
                    common: model_common(vec![model_exemplar()]),
                    count: 3,
                    sum: Some(4.5),
                    bucket_counts: vec![1, 2, 0],
                    explicit_bounds: vec![1.0, 5.0],
                    min: Some(0.5),
                    max: None,
                }],
                temporality: Temporality::Delta,
            },
        ),
        (
            named(
                "exponential",
                Data::ExponentialHistogram(proto::ExponentialHistogram {
                    data_points: vec![exponential_point],
                    aggregation_temporality: 2,
                }),
            ),
            MetricData::ExponentialHistogram {
                points: vec![ExponentialHistogramPoint {
                    common: model_common(vec![]),
                    count: 10,
                    sum: None,
                    scale: -2,
                    zero_count: 1,
                    positive: ExponentialBuckets {
                        offset: -3,
                        bucket_counts: vec![4, 5],
                    },
                    negative: ExponentialBuckets::default(),
                    min: Some(-1.0),
                    max: Some(9.0),
                    zero_threshold: 0.001,
                }],
                temporality: Temporality::Cumulative,
            },
        ),
        (
            named(
                "summary",
                Data::Summary(proto::Summary {
                    data_points: vec![summary_point],
                }),
            ),
            MetricData::Summary {
                points: vec![SummaryPoint {
                    common: model_common(vec![]),
                    count: 8,
                    sum: 16.0,
                    quantile_values: vec![QuantileValue {
                        quantile: 0.99,
                        value: 3.0,
                    }],
                }],
            },
        ),
    ];
    for (input, expected) in cases {
        let name = input.name.clone();
        let converted = metrics(request(vec![input]));
        assert_eq!(converted.rejected, 0, "{name}");
        let (_, _, metric) = converted.batch.iter().next().unwrap();
        assert_eq!(metric.name, name);
        assert_eq!(
            (metric.description.as_str(), metric.unit.as_str()),
            ("d", "ms")
        );
        assert_eq!(metric.metadata, vec![KeyValue::string("m", "1")]);
        assert_eq!(metric.data, expected, "{name}");
    }
}

#[test]
fn bad_points_are_rejected_alone() {
    let good = || number(Some(NumberProtoValue::AsInt(1)));
    let with = |change: fn(&mut proto::NumberDataPoint)| {
        let mut point = good();
        change(&mut point);
        point
    };
    // (description, point, accepted, rejected for invalid id)
    let cases: Vec<(&str, proto::NumberDataPoint, bool, bool)> = vec![
        ("good", good(), true, false),
        ("no value", number(None), false, false),
        (
            "no recorded value flag",
            with(|p| {
                p.value = None;
                p.flags = FLAG_NO_RECORDED_VALUE;
            }),
            true,
            false,
        ),
        (
            "exemplar without value",
            with(|p| p.exemplars[0].value = None),
            false,
            false,
        ),
        (
            "exemplar short trace id",
            with(|p| p.exemplars[0].trace_id = vec![1; 5]),
            false,
            true,
        ),
        (
            "exemplar long span id",
            with(|p| p.exemplars[0].span_id = vec![1; 9]),
            false,
            true,
        ),
        (
            "exemplar without ids",
            with(|p| {
                p.exemplars[0].trace_id = vec![];
                p.exemplars[0].span_id = vec![];
            }),
            true,
            false,
        ),
    ];
    for (description, point, accepted, invalid_id) in cases {
        let gauge = named(
            "g",
            Data::Gauge(proto::Gauge {
                data_points: vec![good(), point, good()],
            }),
        );
        let converted = metrics(request(vec![gauge]));
        let kept = if accepted { 3 } else { 2 };
        assert_eq!(converted.batch.record_count(), kept, "{description}");
        assert_eq!(converted.rejected, u64::from(!accepted), "{description}");
        assert_eq!(
            converted.rejected_invalid_id,
            u64::from(invalid_id),
            "{description}"
        );
        if !accepted {
            let message = converted.error_message("data points").unwrap();
            assert!(message.contains("metric 0, data point 1"), "{message}");
        }
    }
}

#[test]
fn no_recorded_value_is_kept_as_nan() {
    let mut point = number(None);
    point.flags = FLAG_NO_RECORDED_VALUE;
    let converted = metrics(request(vec![named(
        "g",
        Data::Gauge(proto::Gauge {
            data_points: vec![point],
        }),
    )]));
    let (_, _, metric) = converted.batch.iter().next().unwrap();
    let MetricData::Gauge { points } = &metric.data else {
        panic!("expected a gauge, got {:?}", metric.data);
    };
    assert!(points[0].value.as_f64().is_nan());
    assert_eq!(points[0].common.flags, FLAG_NO_RECORDED_VALUE);
}

#[test]
fn metrics_without_points_and_empty_groups_are_dropped() {
    let no_data = proto::Metric {
        name: "nothing".into(),
        ..Default::default()
    };
    let all_bad = named(
        "bad",
        Data::Sum(proto::Sum {
            data_points: vec![number(None), number(None)],
            ..Default::default()
        }),
    );
    let converted = metrics(request(vec![no_data, all_bad]));
    assert!(converted.batch.resources.is_empty());
    assert_eq!(converted.rejected, 2);
    assert_eq!(converted.rejected_missing_value, 2);
}
