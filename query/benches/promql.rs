//! PromQL range queries over a day of one-minute samples of 10 000 counter series (the issue's
//! target: under 200 ms at a one-minute step). `LOOKOUT_BENCH_PROMQL_SERIES` and
//! `LOOKOUT_BENCH_PROMQL_HOURS` shrink or grow the data set.

use criterion::{Criterion, criterion_group, criterion_main};
use lookout_model::{
    KeyValue, Metric, MetricBatch, MetricData, NumberPoint, NumberValue, PointCommon, Resource,
    ResourceGroup, Scope, ScopeGroup, Temporality, TenantId,
};
use lookout_query::promql::{Engine, PromqlConfig, QueryValue};
use lookout_storage::{Payload, StorageConfig, Store};

const START_MS: i64 = 1_700_000_040_000;
const STEP_MS: i64 = 60_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn series_batch(first: usize, count: usize, points: usize) -> MetricBatch {
    let metrics = (first..first + count)
        .map(|i| Metric {
            name: "http.server.requests".into(),
            description: String::new(),
            unit: "{request}".into(),
            metadata: vec![],
            data: MetricData::Sum {
                points: (0..points)
                    .map(|p| NumberPoint {
                        common: PointCommon {
                            attributes: vec![
                                KeyValue::string("http.route", format!("/r{}", i % 100)),
                                KeyValue::string("pod", format!("pod-{}", i / 100)),
                            ],
                            start_time_unix_nano: 0,
                            time_unix_nano: ((START_MS + p as i64 * STEP_MS) as u64) * 1_000_000,
                            flags: 0,
                            exemplars: vec![],
                        },
                        value: NumberValue::Double((p * (1 + i % 7)) as f64),
                    })
                    .collect(),
                temporality: Temporality::Cumulative,
                is_monotonic: true,
            },
        })
        .collect();
    MetricBatch {
        resources: vec![ResourceGroup {
            resource: Resource {
                attributes: vec![KeyValue::string("service.name", "bench")],
                ..Resource::default()
            },
            scopes: vec![ScopeGroup {
                scope: Scope::default(),
                records: metrics,
            }],
        }],
    }
}

fn promql(c: &mut Criterion) {
    let series = env_usize("LOOKOUT_BENCH_PROMQL_SERIES", 10_000);
    let hours = env_usize("LOOKOUT_BENCH_PROMQL_HOURS", 24);
    let points = hours * 60;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut registry = prometheus_client::registry::Registry::default();
    let mut config = StorageConfig::new(dir.path());
    config.max_unflushed_bytes = 4 * 1024 * 1024 * 1024;
    let store = runtime
        .block_on(Store::open(config, &mut registry))
        .expect("open store");
    let tenant = TenantId::default_tenant();
    let chunk = 50;
    for first in (0..series).step_by(chunk) {
        let batch = series_batch(first, chunk.min(series - first), points);
        runtime
            .block_on(store.writer().append(&tenant, Payload::Metrics(batch)))
            .expect("append");
        if first % 1000 == 0 {
            runtime.block_on(store.flush()).expect("flush");
        }
    }
    runtime.block_on(store.flush()).expect("flush");
    let engine = Engine::new(store.reader(), PromqlConfig::default());
    let end = START_MS + (points as i64 - 1) * STEP_MS;
    let mut group = c.benchmark_group("promql_range");
    group.sample_size(10);
    for (name, query) in [
        (
            "sum_by_route_rate_5m",
            "sum by (http_route) (rate(http_server_requests_total[5m]))",
        ),
        (
            "rate_5m_every_series",
            "rate(http_server_requests_total[5m])",
        ),
    ] {
        group.bench_function(format!("{name}/{series}x{hours}h_step1m"), |b| {
            b.iter(|| {
                let answer = runtime
                    .block_on(engine.range(&tenant, query, START_MS, end, STEP_MS))
                    .expect("query");
                let QueryValue::Matrix(result) = answer else {
                    panic!("range queries answer matrices");
                };
                assert!(!result.is_empty());
                result.len()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, promql);
criterion_main!(benches);
