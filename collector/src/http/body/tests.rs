//! Tests of body negotiation, limits, and OTLP/JSON compatibility of the serde types.

use super::*;
use http::HeaderValue;
use std::io::Write;

fn headers(name: http::header::HeaderName, value: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(name, HeaderValue::from_str(value).unwrap());
    map
}

#[test]
fn content_types() {
    let cases = [
        ("application/x-protobuf", Some(Encoding::Protobuf)),
        ("application/json", Some(Encoding::Json)),
        ("application/json; charset=utf-8", Some(Encoding::Json)),
        ("Application/X-Protobuf ; foo=bar", Some(Encoding::Protobuf)),
        ("text/plain", None),
        ("application/grpc", None),
        ("", None),
    ];
    for (value, expected) in cases {
        let got = content_type(&headers(CONTENT_TYPE, value)).ok();
        assert_eq!(got, expected, "{value:?}");
    }
    assert!(content_type(&HeaderMap::new()).is_err());
}

#[test]
fn content_encodings() {
    let cases = [
        ("gzip", Some(true)),
        ("GZIP", Some(true)),
        ("identity", Some(false)),
        ("br", None),
        ("deflate", None),
    ];
    for (value, expected) in cases {
        assert_eq!(
            is_gzip(&headers(CONTENT_ENCODING, value)).ok(),
            expected,
            "{value}"
        );
    }
    assert_eq!(is_gzip(&HeaderMap::new()).ok(), Some(false));
}

#[test]
fn inflate_stops_at_the_limit() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&[0u8; 10_000]).unwrap();
    let compressed = encoder.finish().unwrap();
    assert_eq!(inflate(&compressed, 10_000).unwrap().len(), 10_000);
    assert!(matches!(
        inflate(&compressed, 9_999),
        Err(RequestError::TooLarge { limit_bytes: 9_999 })
    ));
    assert!(matches!(
        inflate(b"not gzip", 100),
        Err(RequestError::Decode(_))
    ));
}

mod json {
    use super::*;
    use crate::convert;
    use lookout_model::{AnyValue, MetricData, NumberValue, SpanKind, StatusCode, Temporality};
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    fn decode_json<M>(text: &str) -> Result<M, RequestError>
    where
        M: prost::Message + Default + serde::de::DeserializeOwned,
    {
        decode(text.as_bytes(), Encoding::Json)
    }

    /// Shaped like what the Python and Node exporters send, plus unknown fields at every
    /// level (which OTLP/JSON receivers must ignore).
    const TRACES: &str = r#"{
      "futureTopLevel": {"x": 1},
      "resourceSpans": [{
        "resource": {
          "attributes": [
            {"key": "service.name", "value": {"stringValue": "checkout", "futureValueField": 3}},
            {"key": "pid", "value": {"intValue": "4242"}},
            {"key": "n", "value": {"intValue": 7}},
            {"key": "ratio", "value": {"doubleValue": 0.5}},
            {"key": "ok", "value": {"boolValue": true}},
            {"key": "raw", "value": {"bytesValue": "AQID"}},
            {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}]}}},
            {"key": "map", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"stringValue": "v"}}]}}},
            {"key": "emptyList", "value": {"arrayValue": {}}},
            {"key": "emptyMap", "value": {"kvlistValue": {}}},
            {"key": "empty", "value": {}},
            {"key": "missing"}
          ],
          "droppedAttributesCount": 1,
          "futureResourceField": "x"
        },
        "schemaUrl": "https://opentelemetry.io/schemas/1.21.0",
        "scopeSpans": [{
          "scope": {"name": "lib", "version": "1.0", "futureScopeField": []},
          "spans": [{
            "traceId": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "eee19b7ec3c1b174",
            "parentSpanId": "",
            "name": "GET /cart",
            "kind": 2,
            "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": 1544712661000000000,
            "flags": 257,
            "traceState": "k=v",
            "attributes": [],
            "events": [{"timeUnixNano": "1544712660500000000", "name": "exception", "futureEventField": 1}],
            "links": [{"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708", "flags": 1}],
            "status": {"code": 2, "message": "boom", "futureStatusField": true},
            "futureSpanField": {"nested": [1, 2, 3]}
          }]
        }]
      }]
    }"#;

    #[test]
    fn traces_with_unknown_fields_decode_and_convert() {
        let request: ExportTraceServiceRequest = decode_json(TRACES).unwrap();
        let converted = convert::spans(request);
        assert_eq!(converted.rejected, 0);
        let (resource, scope, span) = converted.batch.iter().next().unwrap();
        assert_eq!(resource.service_name(), "checkout");
        let values: Vec<_> = resource
            .attributes
            .iter()
            .map(|kv| kv.value.clone())
            .collect();
        assert_eq!(
            values,
            vec![
                AnyValue::String("checkout".into()),
                AnyValue::Int(4242),
                AnyValue::Int(7),
                AnyValue::Double(0.5),
                AnyValue::Bool(true),
                AnyValue::Bytes(vec![1, 2, 3]),
                AnyValue::Array(vec![AnyValue::String("a".into()), AnyValue::Int(1)]),
                AnyValue::KvList(vec![lookout_model::KeyValue::string("k", "v")]),
                AnyValue::Array(vec![]),
                AnyValue::KvList(vec![]),
            ]
        );
        // The two attributes without a value are counted as dropped.
        assert_eq!(resource.dropped_attributes_count, 3);
        assert_eq!(
            resource.schema_url,
            "https://opentelemetry.io/schemas/1.21.0"
        );
        assert_eq!(scope.name, "lib");
        assert_eq!(span.trace_id.to_hex(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(span.span_id.to_hex(), "eee19b7ec3c1b174");
        assert_eq!(span.parent_span_id, None);
        assert_eq!(span.kind, SpanKind::Server);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(span.flags, 257);
        assert_eq!(span.events[0].name, "exception");
        assert_eq!(span.links[0].span_id.to_hex(), "0102030405060708");
        assert_eq!(span.status_code, StatusCode::Error);
        assert_eq!(span.status_message, "boom");
    }

    #[test]
    fn logs_and_metrics_with_unknown_fields_decode_and_convert() {
        let logs: ExportLogsServiceRequest = decode_json(
            r#"{"resourceLogs":[{"resource":{},"scopeLogs":[{"scope":{},"logRecords":[{
                "timeUnixNano":"1","observedTimeUnixNano":"2","severityNumber":9,
                "severityText":"INFO","body":{"kvlistValue":{"values":[{"key":"msg","value":{"stringValue":"hi"}}]}},
                "traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",
                "eventName":"e","flags":1,"futureLogField":"x"}]}]}]}"#,
        )
        .unwrap();
        let converted = convert::logs(logs);
        let (_, _, record) = converted.batch.iter().next().unwrap();
        assert_eq!(record.severity_number, 9);
        assert_eq!(record.event_name, "e");
        assert_eq!(
            record.body,
            Some(AnyValue::KvList(vec![lookout_model::KeyValue::string(
                "msg", "hi"
            )]))
        );
        assert!(record.trace_id.is_some() && record.span_id.is_some());

        let metrics: ExportMetricsServiceRequest = decode_json(
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
              {"name":"g","futureMetricField":1,"gauge":{"dataPoints":[{"asInt":"5","timeUnixNano":"3","futurePointField":2}]}},
              {"name":"s","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"asDouble":1.5,
                "exemplars":[{"asInt":"1","spanId":"0102030405060708","traceId":"0102030405060708090a0b0c0d0e0f10","timeUnixNano":"1"}]}]}},
              {"name":"h","histogram":{"aggregationTemporality":1,"dataPoints":[{"count":"3","sum":6,"bucketCounts":["1","2"],"explicitBounds":[1.0],"min":1,"max":3}]}},
              {"name":"e","exponentialHistogram":{"aggregationTemporality":2,"dataPoints":[{"count":"2","scale":3,"zeroCount":"1","zeroThreshold":0.1,"positive":{"offset":-1,"bucketCounts":["1"]}}]}},
              {"name":"q","summary":{"dataPoints":[{"count":"4","sum":8,"quantileValues":[{"quantile":0.5,"value":2}]}]}}
            ]}]}]}"#,
        )
        .unwrap();
        let converted = convert::metrics(metrics);
        assert_eq!(converted.rejected, 0);
        let kinds: Vec<_> = converted
            .batch
            .iter()
            .map(|(_, _, metric)| metric.data.type_name())
            .collect();
        assert_eq!(
            kinds,
            vec![
                "gauge",
                "sum",
                "histogram",
                "exponential_histogram",
                "summary"
            ]
        );
        let (_, _, gauge) = converted.batch.iter().next().unwrap();
        let MetricData::Gauge { points } = &gauge.data else {
            panic!("expected a gauge, got {:?}", gauge.data);
        };
        assert_eq!(points[0].value, NumberValue::Int(5));
        let (_, _, sum) = converted.batch.iter().nth(1).unwrap();
        let MetricData::Sum {
            points,
            temporality,
            is_monotonic,
        } = &sum.data
        else {
            panic!("expected a sum, got {:?}", sum.data);
        };
        assert_eq!(
            (*temporality, *is_monotonic),
            (Temporality::Cumulative, true)
        );
        assert_eq!(points[0].common.exemplars[0].value, NumberValue::Int(1));
    }

    #[test]
    fn undecodable_json_is_refused() {
        let cases = [
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#,
            r#"{"resourceSpans":"#,
            "[]",
        ];
        for text in cases {
            let result = decode_json::<ExportTraceServiceRequest>(text);
            assert!(matches!(result, Err(RequestError::Decode(_))), "{text}");
        }
    }

    #[test]
    fn empty_bodies_are_empty_requests() {
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            let request: ExportTraceServiceRequest = decode(b"", encoding).unwrap();
            assert!(request.resource_spans.is_empty());
        }
        let request: ExportTraceServiceRequest = decode_json("{}").unwrap();
        assert!(request.resource_spans.is_empty());
    }

    #[test]
    fn invalid_utf8_in_protobuf_string_is_refused() {
        use prost::Message;
        let request = ExportTraceServiceRequest {
            resource_spans: vec![opentelemetry_proto::tonic::trace::v1::ResourceSpans {
                schema_url: "zzzz".into(),
                ..Default::default()
            }],
        };
        let mut bytes = request.encode_to_vec();
        let at = bytes.windows(4).position(|w| w == b"zzzz").unwrap();
        bytes[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0xfd, 0xfc]);
        let result = decode::<ExportTraceServiceRequest>(&bytes, Encoding::Protobuf);
        assert!(matches!(result, Err(RequestError::Decode(_))));
    }
}
