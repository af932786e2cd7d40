//! OTLP/HTTP against `http_router` with a real store: a table of good and bad requests, then a
//! check that every good record is still there.

use axum::body::Body;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use lookout_collector::http_router;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tower::ServiceExt;

use crate::support::{self, Harness};

const LIMIT_BYTES: usize = 1024 * 1024;
const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// What the answer must look like.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// 200, protobuf `ExportTraceServiceResponse` with this many rejected (None: unset).
    TracesOk(Option<i64>),
    /// 200, protobuf `ExportLogsServiceResponse`, nothing rejected.
    LogsOk,
    /// 200, protobuf `ExportMetricsServiceResponse` with this many rejected.
    MetricsOk(Option<i64>),
    /// 200, a JSON response with this partial success (`{}` when None).
    JsonOk(Option<(&'static str, &'static str)>),
    /// This status with a protobuf `google.rpc.Status` of this gRPC code.
    ProtobufStatus(u16, i32),
    /// This status with a JSON `google.rpc.Status` of this gRPC code.
    JsonStatus(u16, i32),
}

struct Case {
    name: &'static str,
    method: Method,
    path: &'static str,
    content_type: Option<&'static str>,
    content_encoding: Option<&'static str>,
    body: Vec<u8>,
    /// Send without Content-Length, in several chunks.
    chunked: bool,
    expect: Expect,
    /// Records this request adds to (spans, logs, metrics).
    stored: (i64, i64, i64),
}

impl Case {
    fn post(name: &'static str, path: &'static str, content_type: &'static str) -> Self {
        Self {
            name,
            method: Method::POST,
            path,
            content_type: Some(content_type),
            content_encoding: None,
            body: Vec::new(),
            chunked: false,
            expect: Expect::ProtobufStatus(500, 0),
            stored: (0, 0, 0),
        }
    }
    fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
    fn encoding(mut self, encoding: &'static str) -> Self {
        self.content_encoding = Some(encoding);
        self
    }
    fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }
    fn expect(mut self, expect: Expect, stored: (i64, i64, i64)) -> Self {
        self.expect = expect;
        self.stored = stored;
        self
    }

    fn request(&self) -> Request<Body> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path);
        if let Some(content_type) = self.content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        if let Some(encoding) = self.content_encoding {
            builder = builder.header(header::CONTENT_ENCODING, encoding);
        }
        let body = if self.chunked {
            let chunks: Vec<Result<Bytes, std::io::Error>> = self
                .body
                .chunks(self.body.len().div_ceil(3).max(1))
                .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
                .collect();
            Body::from_stream(futures::stream::iter(chunks))
        } else {
            builder = builder.header(header::CONTENT_LENGTH, self.body.len());
            Body::from(self.body.clone())
        };
        builder.body(body).expect("valid request")
    }
}

fn span_with_bad_id() -> opentelemetry_proto::tonic::trace::v1::Span {
    let mut bad = support::span(999);
    bad.span_id = vec![1, 2, 3];
    bad
}

fn invalid_utf8_body() -> Vec<u8> {
    let mut request = support::traces(vec![support::span(50)]);
    request.resource_spans[0].schema_url = "zzzz".into();
    let mut bytes = request.encode_to_vec();
    let at = bytes
        .windows(4)
        .position(|window| window == b"zzzz")
        .expect("the marker is in the encoding");
    bytes[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0xfd, 0xfc]);
    bytes
}

fn gzip_bomb() -> Vec<u8> {
    // 100 MiB of zeros, about 100 KiB compressed.
    use std::io::Write;
    let zeros = vec![0u8; 1024 * 1024];
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..100 {
        encoder.write_all(&zeros).expect("writing into a Vec");
    }
    encoder.finish().expect("writing into a Vec")
}

const JSON_SPANS: &str = r#"{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}], "futureField": 1},
    "scopeSpans": [{"scope": {"name": "node"}, "spans": [
      {"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174", "name": "a",
       "kind": 2, "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000100000000",
       "futureSpanField": {"x": [1, 2]}},
      {"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B175", "name": "b",
       "parentSpanId": "EEE19B7EC3C1B174", "startTimeUnixNano": 1700000000000000000,
       "endTimeUnixNano": 1700000000100000000, "attributes": [{"key": "empty", "value": {"arrayValue": {}}}]}
    ]}]
  }],
  "futureTopLevel": true
}"#;

const JSON_METRICS_ONE_MISSING: &str = r#"{"resourceMetrics": [{"scopeMetrics": [{"metrics": [
  {"name": "temperature", "gauge": {"dataPoints": [
    {"asDouble": 21.5, "timeUnixNano": "1700000000000000100", "attributes": [{"key": "room", "value": {"stringValue": "a"}}]},
    {"timeUnixNano": "1700000000000000101", "attributes": [{"key": "room", "value": {"stringValue": "b"}}]},
    {"asInt": "20", "timeUnixNano": "1700000000000000102", "attributes": [{"key": "room", "value": {"stringValue": "c"}}]}
  ]}}
]}]}]}"#;

fn cases() -> Vec<Case> {
    let traces = |spans| support::traces(spans).encode_to_vec();
    vec![
        Case::post("protobuf spans", "/v1/traces", PROTOBUF)
            .body(traces((1..=3).map(support::span).collect()))
            .expect(Expect::TracesOk(None), (3, 0, 0)),
        Case::post("one bad span id among good ones", "/v1/traces", PROTOBUF)
            .body(traces(vec![support::span(4), span_with_bad_id(), support::span(5)]))
            .expect(Expect::TracesOk(Some(1)), (2, 0, 0)),
        Case::post("json with unknown fields", "/v1/traces", "application/json; charset=utf-8")
            .body(JSON_SPANS.into())
            .expect(Expect::JsonOk(None), (2, 0, 0)),
        Case::post("json point without value", "/v1/metrics", JSON)
            .body(JSON_METRICS_ONE_MISSING.into())
            .expect(Expect::JsonOk(Some(("rejectedDataPoints", "1"))), (0, 0, 2)),
        Case::post("protobuf point without value", "/v1/metrics", PROTOBUF)
            .body(
                support::metrics(vec![
                    support::gauge_point(Some(1.0), 1),
                    support::gauge_point(None, 2),
                    support::gauge_point(Some(3.0), 3),
                ])
                .encode_to_vec(),
            )
            .expect(Expect::MetricsOk(Some(1)), (0, 0, 2)),
        Case::post("gzip protobuf logs", "/v1/logs", PROTOBUF)
            .body(support::gzip(&support::logs(4).encode_to_vec()))
            .encoding("gzip")
            .expect(Expect::LogsOk, (0, 4, 0)),
        Case::post("chunked protobuf logs", "/v1/logs", PROTOBUF)
            .body(support::logs(2).encode_to_vec())
            .chunked()
            .expect(Expect::LogsOk, (0, 2, 0)),
        Case::post("chunked gzip protobuf spans, identity is fine too", "/v1/traces", PROTOBUF)
            .body(support::gzip(&traces(vec![support::span(6)])))
            .encoding("gzip")
            .chunked()
            .expect(Expect::TracesOk(None), (1, 0, 0)),
        Case::post("identity encoding", "/v1/traces", PROTOBUF)
            .body(traces(vec![support::span(7)]))
            .encoding("identity")
            .expect(Expect::TracesOk(None), (1, 0, 0)),
        Case::post("empty protobuf body", "/v1/traces", PROTOBUF)
            .expect(Expect::TracesOk(None), (0, 0, 0)),
        Case::post("empty json body", "/v1/logs", JSON).expect(Expect::JsonOk(None), (0, 0, 0)),
        Case::post("truncated protobuf", "/v1/traces", PROTOBUF)
            .body({
                let bytes = traces(vec![support::span(8), support::span(9)]);
                bytes[..bytes.len() - 5].to_vec()
            })
            .expect(Expect::ProtobufStatus(400, 3), (0, 0, 0)),
        Case::post("invalid utf-8 in a string field", "/v1/traces", PROTOBUF)
            .body(invalid_utf8_body())
            .expect(Expect::ProtobufStatus(400, 3), (0, 0, 0)),
        Case::post("json with a bad hex id", "/v1/traces", JSON)
            .body(
                r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"not-hex","spanId":"eee19b7ec3c1b174"}]}]}]}"#
                    .into(),
            )
            .expect(Expect::JsonStatus(400, 3), (0, 0, 0)),
        Case::post("malformed json", "/v1/logs", JSON)
            .body(br#"{"resourceLogs": [{"#.to_vec())
            .expect(Expect::JsonStatus(400, 3), (0, 0, 0)),
        Case::post("corrupt gzip", "/v1/logs", PROTOBUF)
            .body(b"\x1f\x8b\x08\x00garbage".to_vec())
            .encoding("gzip")
            .expect(Expect::ProtobufStatus(400, 3), (0, 0, 0)),
        Case::post("wrong content type", "/v1/traces", "text/plain")
            .body(traces(vec![support::span(10)]))
            .expect(Expect::ProtobufStatus(415, 3), (0, 0, 0)),
        Case {
            content_type: None,
            ..Case::post("missing content type", "/v1/traces", PROTOBUF)
                .body(traces(vec![support::span(11)]))
                .expect(Expect::ProtobufStatus(415, 3), (0, 0, 0))
        },
        Case::post("unknown content encoding", "/v1/traces", PROTOBUF)
            .body(traces(vec![support::span(12)]))
            .encoding("br")
            .expect(Expect::ProtobufStatus(415, 3), (0, 0, 0)),
        Case::post("oversized body", "/v1/logs", PROTOBUF)
            .body(vec![0x0a; LIMIT_BYTES + 1])
            .expect(Expect::ProtobufStatus(413, 8), (0, 0, 0)),
        Case::post("oversized chunked body", "/v1/logs", JSON)
            .body(vec![b' '; LIMIT_BYTES * 2])
            .chunked()
            .expect(Expect::JsonStatus(413, 8), (0, 0, 0)),
        Case::post("gzip bomb", "/v1/metrics", PROTOBUF)
            .body(gzip_bomb())
            .encoding("gzip")
            .expect(Expect::ProtobufStatus(413, 8), (0, 0, 0)),
        Case::post("wrong path", "/v1/trace", PROTOBUF)
            .body(traces(vec![support::span(13)]))
            .expect(Expect::ProtobufStatus(404, 5), (0, 0, 0)),
        Case {
            method: Method::GET,
            ..Case::post("GET on an export path", "/v1/traces", PROTOBUF)
                .expect(Expect::ProtobufStatus(405, 12), (0, 0, 0))
        },
        Case {
            method: Method::PUT,
            ..Case::post("PUT on an export path", "/v1/metrics", PROTOBUF)
                .body(traces(vec![support::span(14)]))
                .expect(Expect::ProtobufStatus(405, 12), (0, 0, 0))
        },
    ]
}

fn check_response(case: &Case, status: StatusCode, headers: &http::HeaderMap, body: &[u8]) {
    let name = case.name;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    match case.expect {
        Expect::TracesOk(rejected) => {
            assert_eq!(status, StatusCode::OK, "{name}");
            assert_eq!(content_type, PROTOBUF, "{name}");
            let response = ExportTraceServiceResponse::decode(body).expect(name);
            let partial = response.partial_success;
            assert_eq!(
                partial.as_ref().map(|p| p.rejected_spans),
                rejected,
                "{name}"
            );
            if let Some(partial) = partial {
                assert!(
                    partial.error_message.contains("invalid"),
                    "{name}: {partial:?}"
                );
            }
        }
        Expect::LogsOk => {
            assert_eq!(status, StatusCode::OK, "{name}");
            let response = ExportLogsServiceResponse::decode(body).expect(name);
            assert_eq!(response.partial_success, None, "{name}");
        }
        Expect::MetricsOk(rejected) => {
            assert_eq!(status, StatusCode::OK, "{name}");
            let response = ExportMetricsServiceResponse::decode(body).expect(name);
            let partial = response.partial_success;
            assert_eq!(
                partial.as_ref().map(|p| p.rejected_data_points),
                rejected,
                "{name}"
            );
            if let Some(partial) = partial {
                assert!(
                    partial.error_message.contains("without a value"),
                    "{name}: {partial:?}"
                );
            }
        }
        Expect::JsonOk(partial) => {
            assert_eq!(
                status,
                StatusCode::OK,
                "{name}: {}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(content_type, JSON, "{name}");
            let json: serde_json::Value = serde_json::from_slice(body).expect(name);
            match partial {
                None => assert_eq!(json, serde_json::json!({}), "{name}"),
                Some((field, count)) => {
                    assert_eq!(json["partialSuccess"][field], count, "{name}: {json}");
                    assert!(json["partialSuccess"]["errorMessage"].is_string(), "{name}");
                }
            }
        }
        Expect::ProtobufStatus(http_code, grpc_code) => {
            assert_eq!(status.as_u16(), http_code, "{name}");
            assert_eq!(content_type, PROTOBUF, "{name}");
            let rpc_status = tonic_types::Status::decode(body).expect(name);
            assert_eq!(rpc_status.code, grpc_code, "{name}: {rpc_status:?}");
            assert!(!rpc_status.message.is_empty(), "{name}");
        }
        Expect::JsonStatus(http_code, grpc_code) => {
            assert_eq!(status.as_u16(), http_code, "{name}");
            assert_eq!(content_type, JSON, "{name}");
            let json: serde_json::Value = serde_json::from_slice(body).expect(name);
            assert_eq!(json["code"], grpc_code, "{name}: {json}");
            assert!(json["message"].is_string(), "{name}");
        }
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        assert_eq!(
            headers.get(header::ALLOW).map(|v| v.as_bytes()),
            Some(&b"POST"[..]),
            "{name}"
        );
    }
}

#[tokio::test]
async fn table_of_good_and_bad_requests() -> anyhow::Result<()> {
    let harness = Harness::new(LIMIT_BYTES).await?;
    let router = http_router(harness.collector.clone());
    let mut expected = (0i64, 0i64, 0i64);
    for case in cases() {
        let response = router.clone().oneshot(case.request()).await?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::BodyExt::collect(body).await?.to_bytes();
        check_response(&case, parts.status, &parts.headers, &body);
        expected.0 += case.stored.0;
        expected.1 += case.stored.1;
        expected.2 += case.stored.2;
        let stored = (
            harness.count("spans").await?,
            harness.count("logs").await?,
            harness.count("metrics").await?,
        );
        assert_eq!(stored, expected, "records stored after `{}`", case.name);
    }
    // No neighbour of a refused record was lost, and every good record is still there.
    assert_eq!(harness.count("spans").await?, 9);
    assert_eq!(harness.count("logs").await?, 6);
    assert_eq!(harness.count("metrics").await?, 4);
    let good_names = "'span-1','span-2','span-3','span-4','span-5','span-6','span-7','a','b'";
    let sql = format!("select count(*) from spans where name in ({good_names})");
    assert_eq!(harness.query_i64(&sql).await?, 9);
    let sql = "select count(*) from spans where name = 'span-999'";
    assert_eq!(
        harness.query_i64(sql).await?,
        0,
        "the refused span was not stored"
    );

    let text = harness.metrics_text();
    for expected in [
        r#"lookout_otlp_rejected_records_total{signal="traces",transport="http_protobuf",reason="invalid_id"} 1"#,
        r#"lookout_otlp_rejected_records_total{signal="metrics",transport="http_json",reason="missing_value"} 1"#,
        r#"lookout_otlp_requests_total{signal="metrics",transport="http_protobuf",outcome="too_large"} 1"#,
        r#"lookout_otlp_requests_total{signal="traces",transport="http_protobuf",outcome="unsupported_media_type"} 3"#,
        r#"lookout_otlp_accepted_records_total{signal="logs",transport="http_protobuf"} 6"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    Ok(())
}

#[tokio::test]
async fn storage_backpressure_answers_503_with_retry_after() -> anyhow::Result<()> {
    // Any unflushed byte makes the store refuse further appends until it flushes.
    let harness =
        Harness::with_storage(LIMIT_BYTES, |config| config.max_unflushed_bytes = 0).await?;
    let router = http_router(harness.collector.clone());
    let send = |seed: u32| {
        Request::post("/v1/traces")
            .header(header::CONTENT_TYPE, JSON)
            .body(Body::from(
                serde_json::to_vec(&support::traces(vec![support::span(seed)]))
                    .expect("requests serialize"),
            ))
            .expect("valid request")
    };
    let first = router.clone().oneshot(send(1)).await?;
    assert_eq!(first.status(), StatusCode::OK);
    let second = router.clone().oneshot(send(2)).await?;
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        second
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let body = http_body_util::BodyExt::collect(second.into_body())
        .await?
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body)?;
    assert_eq!(json["code"], 14, "{json}");
    assert_eq!(harness.count("spans").await?, 1);
    let text = harness.metrics_text();
    let expected = r#"lookout_otlp_rejected_records_total{signal="traces",transport="http_json",reason="storage_unavailable"} 1"#;
    assert!(text.contains(expected), "missing {expected} in\n{text}");
    Ok(())
}
