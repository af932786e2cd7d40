//! PromQL against values computed by hand: counter resets, window edges, extrapolation,
//! lookback and staleness, histogram quantiles, aggregations, vector matching, offset, `@`
//! and subqueries, over OTLP metrics stored in a real store.

use lookout_model::{
    Exemplar, HistogramPoint, KeyValue, Metric, MetricBatch, MetricData, NumberPoint, NumberValue,
    PointCommon, Resource, ResourceGroup, Scope, ScopeGroup, Temporality, TenantId, TraceId,
};
use lookout_query::promql::{Engine, PromqlConfig, PromqlError, QueryValue};
use lookout_storage::{Payload, StorageConfig, Store};

/// A minute-aligned origin; every sample time below is `T0 + seconds`.
const T0: i64 = 1_700_000_040_000;

fn at(seconds: f64) -> i64 {
    T0 + (seconds * 1000.0) as i64
}

fn common(seconds: f64, attributes: &[(&str, &str)]) -> PointCommon {
    PointCommon {
        attributes: attributes
            .iter()
            .map(|(k, v)| KeyValue::string(*k, *v))
            .collect(),
        start_time_unix_nano: 0,
        time_unix_nano: (at(seconds) as u64) * 1_000_000,
        flags: 0,
        exemplars: vec![],
    }
}

fn number_points(attributes: &[(&str, &str)], points: &[(f64, f64)]) -> Vec<NumberPoint> {
    points
        .iter()
        .map(|(seconds, value)| NumberPoint {
            common: common(*seconds, attributes),
            value: NumberValue::Double(*value),
        })
        .collect()
}

fn metric(name: &str, unit: &str, data: MetricData) -> Metric {
    Metric {
        name: name.into(),
        description: String::new(),
        unit: unit.into(),
        metadata: vec![],
        data,
    }
}

pub(crate) fn counter(name: &str, attributes: &[(&str, &str)], points: &[(f64, f64)]) -> Metric {
    metric(
        name,
        "",
        MetricData::Sum {
            points: number_points(attributes, points),
            temporality: Temporality::Cumulative,
            is_monotonic: true,
        },
    )
}

fn gauge(name: &str, attributes: &[(&str, &str)], points: &[(f64, f64)]) -> Metric {
    metric(
        name,
        "",
        MetricData::Gauge {
            points: number_points(attributes, points),
        },
    )
}

pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    _store: Store,
    pub(crate) engine: Engine,
}

pub(crate) async fn fixture(services: Vec<(&str, Vec<Metric>)>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    let store = Store::open(StorageConfig::new(dir.path()), &mut registry)
        .await
        .expect("open store");
    let batch = MetricBatch {
        resources: services
            .into_iter()
            .map(|(service, metrics)| ResourceGroup {
                resource: Resource {
                    attributes: vec![
                        KeyValue::string("service.name", service),
                        KeyValue::string("service.instance.id", format!("{service}-1")),
                        KeyValue::string("host.name", "box"),
                    ],
                    ..Resource::default()
                },
                scopes: vec![ScopeGroup {
                    scope: Scope::default(),
                    records: metrics,
                }],
            })
            .collect(),
    };
    store
        .writer()
        .append(&TenantId::default_tenant(), Payload::Metrics(batch))
        .await
        .expect("append");
    let engine = Engine::new(store.reader(), PromqlConfig::default());
    Fixture {
        _dir: dir,
        _store: store,
        engine,
    }
}

impl Fixture {
    async fn instant(&self, query: &str, seconds: f64) -> Vec<(String, f64)> {
        match self.try_instant(query, seconds).await.expect(query) {
            QueryValue::Vector(samples) => samples
                .into_iter()
                .map(|s| (s.labels.to_string(), s.value))
                .collect(),
            QueryValue::Scalar { value, .. } => vec![("scalar".into(), value)],
            other => panic!("unexpected answer {other:?}"),
        }
    }

    async fn try_instant(&self, query: &str, seconds: f64) -> Result<QueryValue, PromqlError> {
        self.engine
            .instant(&TenantId::default_tenant(), query, at(seconds))
            .await
    }

    async fn one(&self, query: &str, seconds: f64) -> f64 {
        let answer = self.instant(query, seconds).await;
        assert_eq!(answer.len(), 1, "{query} answered {answer:?}");
        answer[0].1
    }
}

pub(crate) fn close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "expected {expected}, got {actual}"
    );
}

/// Samples every 15 s: 0, 10, 20, 30, 40, then a reset to 5, 15, 25, 35.
fn reset_counter() -> Metric {
    counter(
        "requests",
        &[("route", "/pay")],
        &[
            (0.0, 0.0),
            (15.0, 10.0),
            (30.0, 20.0),
            (45.0, 30.0),
            (60.0, 40.0),
            (75.0, 5.0),
            (90.0, 15.0),
            (105.0, 25.0),
            (120.0, 35.0),
        ],
    )
}

#[tokio::test]
async fn rate_and_increase_follow_extrapolated_rate() {
    let f = fixture(vec![("pay", vec![reset_counter()])]).await;
    // Window (30, 90]: 30@45, 40@60, 5@75, 15@90. Raw delta -15, the reset adds 40: 25.
    // Start gap 15 s < 1.1 x 15 s, so extrapolate to the start; the end has no gap.
    let expected_increase = 25.0 * (60.0 / 45.0);
    close(
        f.one("increase(requests_total[1m])", 90.0).await,
        expected_increase,
    );
    let mut factor = 60.0 / 45.0;
    factor /= 60.0;
    close(f.one("rate(requests_total[1m])", 90.0).await, 25.0 * factor);
    // resets() and changes() see the reset.
    close(f.one("resets(requests_total[1m])", 90.0).await, 1.0);
    close(f.one("changes(requests_total[1m])", 90.0).await, 3.0);
    // irate: last two samples 5 -> 15 over 15 s.
    close(f.one("irate(requests_total[1m])", 90.0).await, 10.0 / 15.0);
    // irate across the reset itself takes the post-reset value.
    close(f.one("irate(requests_total[1m])", 75.0).await, 5.0 / 15.0);
    // The answer keeps labels but drops the metric name.
    let answer = f.instant("rate(requests_total[1m])", 90.0).await;
    assert_eq!(
        answer[0].0,
        "{instance=\"pay-1\", job=\"pay\", route=\"/pay\"}"
    );
}

#[tokio::test]
async fn windows_are_left_open() {
    let f = fixture(vec![("pay", vec![reset_counter()])]).await;
    // (30, 60] holds the samples at 45 and 60, not the one at 30.
    close(
        f.one("count_over_time(requests_total[30s])", 60.0).await,
        2.0,
    );
    close(
        f.one("sum_over_time(requests_total[30s])", 60.0).await,
        70.0,
    );
    close(
        f.one("min_over_time(requests_total[30s])", 60.0).await,
        30.0,
    );
    close(
        f.one("max_over_time(requests_total[30s])", 60.0).await,
        40.0,
    );
    close(
        f.one("avg_over_time(requests_total[30s])", 60.0).await,
        35.0,
    );
    close(
        f.one("last_over_time(requests_total[30s])", 60.0).await,
        40.0,
    );
    close(f.one("delta(requests_total[30s])", 60.0).await, 20.0);
    close(f.one("idelta(requests_total[1m])", 75.0).await, -35.0);
}

#[tokio::test]
async fn extrapolation_stops_at_zero_and_at_half_an_interval() {
    let fresh = counter(
        "fresh",
        &[],
        &[
            (0.0, 0.0),
            (15.0, 10.0),
            (30.0, 20.0),
            (45.0, 30.0),
            (60.0, 40.0),
        ],
    );
    let old = counter(
        "old",
        &[],
        &[
            (0.0, 100.0),
            (15.0, 110.0),
            (30.0, 120.0),
            (45.0, 130.0),
            (60.0, 140.0),
        ],
    );
    let f = fixture(vec![("pay", vec![fresh, old])]).await;
    // Window (-240, 60]: the start gap is far above the threshold, so half an interval
    // (7.5 s) would be added, but the zero point of `fresh` is its first sample: no addition.
    close(f.one("increase(fresh_total[5m])", 60.0).await, 40.0);
    // `old` extrapolates by 7.5 s: 40 * 67.5 / 60.
    close(
        f.one("increase(old_total[5m])", 60.0).await,
        40.0 * (67.5 / 60.0),
    );
    // A single sample in the window gives nothing.
    assert!(f.instant("rate(old_total[10s])", 60.0).await.is_empty());
}

#[tokio::test]
async fn lookback_and_staleness() {
    let value = gauge("temperature", &[], &[(0.0, 21.5)]);
    let f = fixture(vec![("pay", vec![value])]).await;
    close(f.one("temperature", 0.0).await, 21.5);
    close(f.one("temperature", 299.0).await, 21.5);
    // The lookback window (t - 5m, t] is left-open too.
    assert!(f.instant("temperature", 300.0).await.is_empty());
    assert!(f.instant("temperature", -1.0).await.is_empty());
    // Offset and @ move the evaluation time.
    close(f.one("temperature offset 5m", 400.0).await, 21.5);
    close(
        f.one(
            &format!("temperature @ {}", at(0.0) as f64 / 1000.0),
            10_000.0,
        )
        .await,
        21.5,
    );
    close(f.one("absent(nothing_here{job=\"x\"})", 0.0).await, 1.0);
    assert!(f.instant("absent(temperature)", 0.0).await.is_empty());
}

#[tokio::test]
async fn histogram_quantile_over_otlp_buckets() {
    let histogram = metric(
        "http.server.duration",
        "s",
        MetricData::Histogram {
            points: vec![HistogramPoint {
                common: PointCommon {
                    exemplars: vec![Exemplar {
                        filtered_attributes: vec![],
                        time_unix_nano: (at(0.0) as u64) * 1_000_000,
                        value: NumberValue::Double(0.3),
                        span_id: None,
                        trace_id: Some(TraceId([7; 16])),
                    }],
                    ..common(0.0, &[("http.route", "/pay")])
                },
                count: 40,
                sum: Some(12.0),
                bucket_counts: vec![10, 20, 10, 0],
                explicit_bounds: vec![0.1, 0.5, 1.0],
                min: None,
                max: None,
            }],
            temporality: Temporality::Cumulative,
        },
    );
    let f = fixture(vec![("pay", vec![histogram])]).await;
    let buckets = f.instant("http_server_duration_seconds_bucket", 0.0).await;
    let le: Vec<(String, f64)> = buckets;
    assert_eq!(le.len(), 4, "{le:?}");
    assert!(
        le.iter()
            .any(|(l, v)| l.contains("le=\"0.5\"") && *v == 30.0)
    );
    assert!(
        le.iter()
            .any(|(l, v)| l.contains("le=\"+Inf\"") && *v == 40.0)
    );
    close(f.one("http_server_duration_seconds_count", 0.0).await, 40.0);
    close(f.one("http_server_duration_seconds_sum", 0.0).await, 12.0);
    // rank 20 falls in (0.1, 0.5] holding 20: 0.1 + 0.4 * 10/20.
    close(
        f.one(
            "histogram_quantile(0.5, http_server_duration_seconds_bucket)",
            0.0,
        )
        .await,
        0.3,
    );
    // rank 39.6 falls in (0.5, 1] holding 10: 0.5 + 0.5 * 9.6/10.
    close(
        f.one(
            "histogram_quantile(0.99, http_server_duration_seconds_bucket)",
            0.0,
        )
        .await,
        0.98,
    );
    // Above every finite bucket the answer is the highest finite bound.
    close(
        f.one(
            "histogram_quantile(1, http_server_duration_seconds_bucket)",
            0.0,
        )
        .await,
        1.0,
    );
    let answer = f
        .instant(
            "histogram_quantile(0.5, sum by (le, http_route) (http_server_duration_seconds_bucket))",
            0.0,
        )
        .await;
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].0, "{http_route=\"/pay\"}");
    close(answer[0].1, 0.3);
    // The exemplar went to the bucket holding its value.
    let exemplars = lookout_query::promql::exemplars::query_exemplars(
        f.engine.reader(),
        &TenantId::default_tenant(),
        "http_server_duration_seconds_bucket",
        at(-10.0),
        at(10.0),
    )
    .await
    .unwrap();
    assert_eq!(exemplars.len(), 1);
    assert_eq!(exemplars[0].series_labels.get("le"), "0.5");
    assert_eq!(
        exemplars[0].exemplars[0].labels.get("trace_id"),
        TraceId([7; 16]).to_hex()
    );
}

fn request_gauges() -> Vec<(&'static str, Vec<Metric>)> {
    vec![
        (
            "pay",
            vec![
                gauge("errors", &[("code", "500")], &[(0.0, 2.0)]),
                gauge("errors", &[("code", "503")], &[(0.0, 4.0)]),
                gauge("total", &[], &[(0.0, 8.0)]),
            ],
        ),
        (
            "cart",
            vec![
                gauge("errors", &[("code", "500")], &[(0.0, 1.0)]),
                gauge("total", &[], &[(0.0, 10.0)]),
            ],
        ),
    ]
}

#[tokio::test]
async fn aggregations() {
    let f = fixture(request_gauges()).await;
    assert_eq!(
        f.instant("sum by (job) (errors)", 0.0).await,
        vec![
            ("{job=\"cart\"}".to_owned(), 1.0),
            ("{job=\"pay\"}".to_owned(), 6.0)
        ]
    );
    close(f.one("sum(errors)", 0.0).await, 7.0);
    close(f.one("avg(errors)", 0.0).await, 7.0 / 3.0);
    close(f.one("count(errors)", 0.0).await, 3.0);
    close(f.one("min(errors)", 0.0).await, 1.0);
    close(f.one("max(errors)", 0.0).await, 4.0);
    close(f.one("group(errors)", 0.0).await, 1.0);
    // Population variance of 2, 4, 1: mean 7/3, squared deviations 1/9 + 25/9 + 16/9 = 42/9.
    close(f.one("stdvar(errors)", 0.0).await, 14.0 / 9.0);
    close(f.one("stddev(errors)", 0.0).await, (14.0f64 / 9.0).sqrt());
    // quantile 0.5 of 1, 2, 4 is 2; 0.75 is between 2 and 4: 3.
    close(f.one("quantile(0.75, errors)", 0.0).await, 3.0);
    let top = f.instant("topk(1, errors)", 0.0).await;
    assert_eq!(top.len(), 1);
    assert!(top[0].0.contains("code=\"503\""));
    let bottom = f.instant("bottomk by (job) (1, errors)", 0.0).await;
    assert_eq!(bottom.len(), 2);
    let counted = f.instant("count_values(\"value\", errors)", 0.0).await;
    assert_eq!(counted.len(), 3);
    let without = f.instant("sum without (code) (errors)", 0.0).await;
    assert_eq!(
        without,
        vec![
            ("{instance=\"cart-1\", job=\"cart\"}".to_owned(), 1.0),
            ("{instance=\"pay-1\", job=\"pay\"}".to_owned(), 6.0)
        ]
    );
}

#[tokio::test]
async fn vector_matching() {
    let f = fixture(request_gauges()).await;
    assert_eq!(
        f.instant("sum by (job) (errors) / on (job) sum by (job) (total)", 0.0)
            .await,
        vec![
            ("{job=\"cart\"}".to_owned(), 0.1),
            ("{job=\"pay\"}".to_owned(), 0.75)
        ]
    );
    let ratio = f.instant("errors / on (job) group_left total", 0.0).await;
    assert_eq!(ratio.len(), 3);
    assert!(ratio.contains(&(
        "{code=\"503\", instance=\"pay-1\", job=\"pay\"}".to_owned(),
        0.5
    )));
    // Many-to-one needs group_left.
    let error = f
        .try_instant("errors / on (job) total", 0.0)
        .await
        .unwrap_err();
    assert!(matches!(error, PromqlError::Execution(_)), "{error}");
    // ignoring(code) matches on the remaining labels.
    assert_eq!(
        f.instant(
            "errors{code=\"500\"} + ignoring (code) errors{code=\"503\"}",
            0.0
        )
        .await,
        vec![("{instance=\"pay-1\", job=\"pay\"}".to_owned(), 6.0)]
    );
    // Comparisons filter, or answer 0/1 with bool.
    assert_eq!(f.instant("errors > 1", 0.0).await.len(), 2);
    assert_eq!(f.instant("errors > bool 1", 0.0).await.len(), 3);
    close(f.one("2 * 3 + 1", 0.0).await, 7.0);
    // Set operators.
    assert_eq!(
        f.instant("errors and on (job) (total > 9)", 0.0)
            .await
            .len(),
        1
    );
    assert_eq!(
        f.instant("errors unless on (job) (total > 9)", 0.0)
            .await
            .len(),
        2
    );
    assert_eq!(f.instant("total or errors", 0.0).await.len(), 5);
    assert_eq!(
        f.instant("errors{job=~\"ca.*\"} or on (job) errors", 0.0)
            .await
            .len(),
        3
    );
    // Matchers of every kind.
    assert_eq!(f.instant("errors{code!=\"500\"}", 0.0).await.len(), 1);
    assert_eq!(f.instant("errors{code!~\"5.0\"}", 0.0).await.len(), 1);
    assert_eq!(
        f.instant("{__name__=~\"err.*\", job=\"pay\"}", 0.0)
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn subqueries_offset_and_range_queries() {
    let f = fixture(vec![("pay", vec![reset_counter()])]).await;
    // Inner steps at 15 s over (0, 120]: 8 values, the maximum is 40.
    close(
        f.one("max_over_time(requests_total[2m:15s])", 120.0).await,
        40.0,
    );
    close(
        f.one("count_over_time(requests_total[2m:15s])", 120.0)
            .await,
        8.0,
    );
    // offset 1m at 120 reads the window of 60.
    close(
        f.one("count_over_time(requests_total[30s] offset 1m)", 120.0)
            .await,
        2.0,
    );
    let range = f
        .engine
        .range(
            &TenantId::default_tenant(),
            "requests_total",
            at(0.0),
            at(120.0),
            30_000,
        )
        .await
        .unwrap();
    let QueryValue::Matrix(series) = range else {
        panic!("range queries answer matrices");
    };
    assert_eq!(series.len(), 1);
    let values: Vec<f64> = series[0].points.iter().map(|(_, v)| *v).collect();
    assert_eq!(values, vec![0.0, 20.0, 40.0, 15.0, 35.0]);
    // A range query of a range vector is refused as bad data.
    let error = f
        .engine
        .range(
            &TenantId::default_tenant(),
            "requests_total[1m]",
            at(0.0),
            at(60.0),
            15_000,
        )
        .await
        .unwrap_err();
    assert!(matches!(error, PromqlError::BadData(_)));
    assert!(matches!(
        f.try_instant("rate(requests_total[1m]", 0.0).await,
        Err(PromqlError::BadData(_))
    ));
}

#[tokio::test]
async fn delta_sums_are_accumulated() {
    let delta = metric(
        "jobs.done",
        "{job}",
        MetricData::Sum {
            points: number_points(&[], &[(0.0, 1.0), (15.0, 2.0), (30.0, 3.0)]),
            temporality: Temporality::Delta,
            is_monotonic: true,
        },
    );
    let f = fixture(vec![("worker", vec![delta])]).await;
    close(f.one("jobs_done_total", 30.0).await, 6.0);
    // The query reads (0, 30]: the deltas 2 and 3 accumulate to 2 and 5. Raw increase 3;
    // the zero point lies 15 * 2/3 = 10 s before the first sample (closer than the window
    // start), so the extrapolated increase is 3 * 25/15 = 5, the sum of the deltas.
    close(f.one("increase(jobs_done_total[30s])", 30.0).await, 5.0);
}
