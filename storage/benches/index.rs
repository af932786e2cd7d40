//! Full-text indexing of log records (documents per second of one indexing thread, and the
//! index size against the raw body bytes, printed once) and a needle search through the store
//! (index lookup plus reading the matching row back from Parquet).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lookout_model::{
    AnyValue, Batch, KeyValue, LogRecord, Resource, ResourceGroup, Scope, ScopeGroup, Signal,
};
use lookout_storage::build_search_index;
use lookout_storage::rows::logs_to_batch;

const RECORDS: usize = 100_000;

/// Access-log-like records: routes, status codes, latencies, user and request ids.
fn records() -> Batch<LogRecord> {
    let start = 1_764_000_000_000_000_000u64;
    let routes = [
        "/api/orders",
        "/api/cart",
        "/api/pay",
        "/api/users",
        "/health",
    ];
    let verbs = ["GET", "POST", "PUT"];
    let records = (0..RECORDS)
        .map(|index| {
            let route = routes[index % routes.len()];
            let status = if index % 50 == 0 { 500 } else { 200 };
            let body = format!(
                "{} {route}/{} {status} in {}ms user=u{} request_id={:016x}",
                verbs[index % verbs.len()],
                index % 997,
                (index * 7) % 900,
                index % 5_000,
                (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            );
            LogRecord {
                time_unix_nano: start + index as u64 * 1_000,
                observed_time_unix_nano: start + index as u64 * 1_000,
                severity_number: if status == 500 { 17 } else { 9 },
                severity_text: if status == 500 {
                    "ERROR".into()
                } else {
                    "INFO".into()
                },
                body: Some(AnyValue::String(body)),
                attributes: vec![
                    KeyValue::string("http.route", route),
                    KeyValue::string("http.method", verbs[index % verbs.len()]),
                ],
                dropped_attributes_count: 0,
                flags: 0,
                trace_id: None,
                span_id: None,
                event_name: String::new(),
            }
        })
        .collect();
    Batch {
        resources: vec![ResourceGroup {
            resource: Resource {
                attributes: vec![KeyValue::string("service.name", "frontend")],
                dropped_attributes_count: 0,
                schema_url: String::new(),
            },
            scopes: vec![ScopeGroup {
                scope: Scope::default(),
                records,
            }],
        }],
    }
}

fn indexing(c: &mut Criterion) {
    let batch = records();
    let raw_body_bytes: usize = batch.resources[0].scopes[0]
        .records
        .iter()
        .map(|record| record.body.as_ref().map_or(0, |body| body.to_text().len()))
        .sum();
    let rows = logs_to_batch(&batch).expect("rows");
    let dir = tempfile::tempdir().expect("temporary directory");
    let size =
        build_search_index(&dir.path().join("probe.idx"), Signal::Logs, &rows).expect("index");
    eprintln!(
        "index of {RECORDS} log records: {size} bytes, raw bodies {raw_body_bytes} bytes, ratio {:.2}",
        size as f64 / raw_body_bytes as f64
    );
    let mut group = c.benchmark_group("search_index");
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECORDS as u64));
    let mut run = 0u64;
    group.bench_function("logs_100k", |b| {
        b.iter(|| {
            run += 1;
            build_search_index(
                &dir.path().join(format!("run-{run}.idx")),
                Signal::Logs,
                &rows,
            )
            .expect("index")
        })
    });
    group.finish();
}

/// Records in the store of the needle search.
const SEARCH_RECORDS: usize = 1_000_000;

fn needle_search(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = runtime.block_on(async {
        let mut config = lookout_storage::StorageConfig::new(dir.path());
        config.flush_interval = std::time::Duration::from_secs(3600);
        let mut registry = prometheus_client::registry::Registry::default();
        let store = lookout_storage::Store::open(config, &mut registry)
            .await
            .expect("store");
        for _ in 0..SEARCH_RECORDS / RECORDS {
            store
                .writer()
                .append(
                    &lookout_model::TenantId::default_tenant(),
                    lookout_storage::Payload::Logs(records()),
                )
                .await
                .expect("append");
            store.flush().await.expect("flush");
        }
        store
    });
    let reader = store.reader();
    // One request id occurs in exactly one record of each batch of `records()`.
    let needle = format!("{:016x}", 4_242u64.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let query = lookout_model::search::SearchQuery::Term {
        field: lookout_model::search::SearchField::Text,
        text: needle,
    };
    let mut group = c.benchmark_group("search");
    group.sample_size(50);
    group.bench_function("needle_1m_logs", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let page = reader
                    .search(
                        &lookout_model::TenantId::default_tenant(),
                        Signal::Logs,
                        lookout_storage::SearchRequest {
                            query: query.clone(),
                            range: lookout_storage::TimeRange {
                                start_unix_nanos: i64::MIN,
                                end_unix_nanos: i64::MAX,
                            },
                            limit: 100,
                            after: None,
                        },
                    )
                    .await
                    .expect("search");
                assert_eq!(page.rows.num_rows(), SEARCH_RECORDS / RECORDS);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, indexing, needle_search);
criterion_main!(benches);
