//! The CPU cost of RED rollups at ingest: computing the rollups of a 1 000-span request
//! (what the append path adds per request) next to building that request's Arrow rows
//! (which the append path already does), plus merging them into the tail's rollups.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lookout_model::{
    AnyValue, KeyValue, Resource, ResourceGroup, Scope, ScopeGroup, Span, SpanBatch, SpanId,
    SpanKind, StatusCode, TraceId,
};
use lookout_storage::SpanRollups;
use lookout_storage::rows::spans_to_batch;

const SPANS: usize = 1_000;
const SERVICES: [&str; 6] = [
    "frontend",
    "checkout",
    "payments",
    "inventory",
    "email",
    "ads",
];

/// A request like the ingest benchmark's: 6 services, 5 operations each, traces of 8 spans
/// with HTTP attributes, 2 % errors, durations spread from 0.1 to 500 ms, end times within
/// one minute.
fn request() -> SpanBatch {
    let start = 1_764_000_000_000_000_000u64;
    let resources = SERVICES
        .iter()
        .enumerate()
        .map(|(service_index, service)| {
            let records = (0..SPANS / SERVICES.len())
                .map(|index| {
                    let n = (service_index * SPANS + index) as u64;
                    let duration = 100_000 + (n * 7_919 % 5_000) * 100_000;
                    Span {
                        trace_id: TraceId(((n / 8) as u128 + 1).to_be_bytes()),
                        span_id: SpanId((n + 1).to_be_bytes()),
                        parent_span_id: (!n.is_multiple_of(8))
                            .then(|| SpanId((n / 8 * 8 + 1).to_be_bytes())),
                        trace_state: String::new(),
                        flags: 1,
                        name: format!("GET /api/v{}/items", n % 5),
                        kind: if n.is_multiple_of(8) {
                            SpanKind::Server
                        } else {
                            SpanKind::Client
                        },
                        start_time_unix_nano: start + n * 10_000_000,
                        end_time_unix_nano: start + n * 10_000_000 + duration,
                        attributes: vec![
                            KeyValue::string("http.request.method", "GET"),
                            KeyValue::string("http.route", format!("/api/v{}/items", n % 5)),
                            KeyValue {
                                key: "http.response.status_code".into(),
                                value: AnyValue::Int(if n.is_multiple_of(50) { 500 } else { 200 }),
                            },
                        ],
                        dropped_attributes_count: 0,
                        events: vec![],
                        dropped_events_count: 0,
                        links: vec![],
                        dropped_links_count: 0,
                        status_code: if n.is_multiple_of(50) {
                            StatusCode::Error
                        } else {
                            StatusCode::Unset
                        },
                        status_message: String::new(),
                    }
                })
                .collect();
            ResourceGroup {
                resource: Resource {
                    attributes: vec![KeyValue::string("service.name", *service)],
                    ..Resource::default()
                },
                scopes: vec![ScopeGroup {
                    scope: Scope::default(),
                    records,
                }],
            }
        })
        .collect();
    SpanBatch { resources }
}

fn bench(criterion: &mut Criterion) {
    let request = request();
    let batch = spans_to_batch(&request).expect("rows");
    let mut group = criterion.benchmark_group("rollups");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.bench_function("arrow_rows_1000_spans", |bencher| {
        bencher.iter(|| spans_to_batch(&request).expect("rows"))
    });
    group.bench_function("rollups_1000_spans", |bencher| {
        bencher.iter(|| SpanRollups::from_spans_batch(&batch).expect("rollups"))
    });
    let one = SpanRollups::from_spans_batch(&batch).expect("rollups");
    let mut tail = SpanRollups::default();
    tail.merge(&one);
    group.bench_function("merge_into_tail_1000_spans", |bencher| {
        bencher.iter(|| tail.merge(&one))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
