//! Decoding and converting OTLP trace requests: the CPU cost of ingest before storage.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// A request of `spans` spans in traces of 8, with HTTP server attributes and 2 % errors.
fn request(spans: usize) -> Vec<u8> {
    let start = 1_764_000_000_000_000_000u64;
    let records = (0..spans)
        .map(|index| {
            let trace = (index / 8) as u128 + 1;
            let error = index % 50 == 0;
            Span {
                trace_id: trace.to_be_bytes().to_vec(),
                span_id: (index as u64 + 1).to_be_bytes().to_vec(),
                parent_span_id: if index % 8 == 0 {
                    Vec::new()
                } else {
                    ((index - index % 8) as u64 + 1).to_be_bytes().to_vec()
                },
                name: format!("GET /api/items/{}", index % 12),
                kind: span::SpanKind::Server as i32,
                start_time_unix_nano: start + index as u64 * 1_000,
                end_time_unix_nano: start + index as u64 * 1_000 + 2_500_000,
                attributes: vec![
                    text("http.request.method", "GET"),
                    text("http.route", "/api/items/{id}"),
                    int("http.response.status_code", if error { 500 } else { 200 }),
                    text("user.id", &format!("user-{}", index % 997)),
                ],
                status: error.then(|| Status {
                    code: 2,
                    message: "upstream timeout".into(),
                }),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "checkout"),
                    text("host.name", "node-1"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn decode_and_convert(c: &mut Criterion) {
    let mut group = c.benchmark_group("otlp_traces");
    for spans in [100usize, 1_000] {
        let body = request(spans);
        group.throughput(Throughput::Elements(spans as u64));
        group.bench_with_input(
            BenchmarkId::new("decode_convert", spans),
            &body,
            |b, body| {
                b.iter(|| {
                    let decoded =
                        ExportTraceServiceRequest::decode(body.as_slice()).expect("valid request");
                    let converted = lookout_collector::convert::spans(decoded);
                    assert_eq!(converted.rejected, 0);
                    converted
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, decode_and_convert);
criterion_main!(benches);
