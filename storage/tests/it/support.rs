//! Fixtures shared by the integration tests: stores, records and SQL helpers.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use lookout_model::{
    AnyValue, KeyValue, LogBatch, LogRecord, Metric, MetricBatch, MetricData, NumberPoint,
    NumberValue, PointCommon, Resource, ResourceGroup, Scope, ScopeGroup, Span, SpanBatch, SpanId,
    SpanKind, StatusCode, Temporality, TenantId, TraceId,
};
use lookout_storage::{Reader, StorageConfig, Store};
use prometheus_client::registry::Registry;

/// The tenant used by most tests.
pub fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

/// Wall clock in Unix nanoseconds.
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A fixed time in the middle of the previous hour, the same for the whole test process,
/// so records of one test never straddle an hour boundary.
pub fn recent_time() -> u64 {
    static BASE: std::sync::LazyLock<u64> =
        std::sync::LazyLock::new(|| (now_nanos() / HOUR_NANOS - 1) * HOUR_NANOS + HOUR_NANOS / 2);
    *BASE
}

/// One hour in nanoseconds.
pub const HOUR_NANOS: u64 = 3_600_000_000_000;
/// One day in nanoseconds.
pub const DAY_NANOS: u64 = 24 * HOUR_NANOS;

/// A config that never flushes on its own during a test.
pub fn config(dir: &Path) -> StorageConfig {
    let mut config = StorageConfig::new(dir);
    config.flush_interval = std::time::Duration::from_secs(3600);
    config
}

/// Opens a store with a fresh registry.
pub async fn open(dir: &Path) -> Store {
    open_with(config(dir)).await
}

/// Opens a store with `config` and a fresh registry.
pub async fn open_with(config: StorageConfig) -> Store {
    let mut registry = Registry::default();
    Store::open(config, &mut registry).await.unwrap()
}

/// Opens a store and returns its metrics registry too.
pub async fn open_with_registry(dir: &Path) -> (Store, Registry) {
    let mut registry = Registry::default();
    let store = Store::open(config(dir), &mut registry).await.unwrap();
    (store, registry)
}

/// The Prometheus text of a registry.
pub fn metrics_text(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text
}

/// The value of one sample line of `metrics_text`.
pub fn metric_value(registry: &Registry, name: &str) -> f64 {
    let text = metrics_text(registry);
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} not in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// A resource named `service`.
pub fn resource(service: &str) -> Resource {
    Resource {
        attributes: vec![KeyValue::string("service.name", service)],
        dropped_attributes_count: 0,
        schema_url: String::new(),
    }
}

/// Wraps records in one resource and scope.
pub fn batch_of<T>(service: &str, records: Vec<T>) -> lookout_model::Batch<T> {
    lookout_model::Batch {
        resources: vec![ResourceGroup {
            resource: resource(service),
            scopes: vec![ScopeGroup {
                scope: Scope {
                    name: "lib".into(),
                    version: "1.0".into(),
                    ..Scope::default()
                },
                records,
            }],
        }],
    }
}

/// A trace id from a number.
pub fn trace_id(n: u128) -> TraceId {
    TraceId((n + 1).to_be_bytes())
}

/// A span id from a number.
pub fn span_id(n: u64) -> SpanId {
    SpanId((n + 1).to_be_bytes())
}

/// A plain span.
pub fn span(trace: u128, id: u64, start_nanos: u64) -> Span {
    Span {
        trace_id: trace_id(trace),
        span_id: span_id(id),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 1,
        name: format!("op-{id}"),
        kind: SpanKind::Server,
        start_time_unix_nano: start_nanos,
        end_time_unix_nano: start_nanos + 1_000,
        attributes: vec![KeyValue::string("n", id.to_string())],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status_code: StatusCode::Unset,
        status_message: String::new(),
    }
}

/// Spans as a batch of service `checkout`.
pub fn spans(spans: Vec<Span>) -> SpanBatch {
    batch_of("checkout", spans)
}

/// A log record whose body is `body`.
pub fn log(body: &str, time_nanos: u64) -> LogRecord {
    LogRecord {
        time_unix_nano: time_nanos,
        observed_time_unix_nano: time_nanos,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: Some(AnyValue::String(body.into())),
        attributes: vec![],
        dropped_attributes_count: 0,
        flags: 0,
        trace_id: None,
        span_id: None,
        event_name: String::new(),
    }
}

/// Log records as a batch of service `checkout`.
pub fn logs(records: Vec<LogRecord>) -> LogBatch {
    batch_of("checkout", records)
}

/// A cumulative monotonic sum with points `(time, value)`.
pub fn cumulative_sum(name: &str, points: &[(u64, i64)]) -> MetricBatch {
    let points = points
        .iter()
        .map(|&(time, value)| NumberPoint {
            common: PointCommon {
                attributes: vec![KeyValue::string("route", "/cart")],
                start_time_unix_nano: time.saturating_sub(60_000_000_000),
                time_unix_nano: time,
                flags: 0,
                exemplars: vec![],
            },
            value: NumberValue::Int(value),
        })
        .collect();
    batch_of(
        "checkout",
        vec![Metric {
            name: name.into(),
            description: "requests served".into(),
            unit: "1".into(),
            metadata: vec![],
            data: MetricData::Sum {
                points,
                temporality: Temporality::Cumulative,
                is_monotonic: true,
            },
        }],
    )
}

/// Runs `sql` and returns the single Int64 value it yields.
pub async fn count(reader: &Reader, sql: &str) -> i64 {
    let batches = collect(reader, sql).await;
    let column = batches[0].column(0);
    column
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap_or_else(|| panic!("{sql} did not return an Int64"))
        .value(0)
}

/// Runs `sql` for the test tenant.
pub async fn collect(reader: &Reader, sql: &str) -> Vec<RecordBatch> {
    let context = reader.session_context(&tenant()).unwrap();
    context
        .sql(sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .collect()
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

/// Runs `sql` and renders every cell as text, row by row.
pub async fn rows(reader: &Reader, sql: &str) -> Vec<Vec<String>> {
    let batches = collect(reader, sql).await;
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in &batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out
}

/// Paths of every file with `extension` under `dir`.
pub fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(files_with_extension(&path, extension));
            } else if path.extension().is_some_and(|e| e == extension) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Total rows of `batches`.
pub fn total_rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|batch| batch.num_rows()).sum()
}

/// Asserts that what lies under `dir/tenants` is exactly what `manifest` lists: every
/// Parquet file with its trace-id sidecar and `span_rollups` sidecar (spans) and its search
/// index directory (logs and spans), nothing more, nothing missing.
pub fn assert_disk_matches_manifest(dir: &Path, manifest: &lookout_storage::Manifest) {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && path.extension().is_none_or(|ext| ext != "idx") {
                walk(&path, found);
            } else {
                found.push(path);
            }
        }
    }
    let mut on_disk = Vec::new();
    walk(&dir.join("tenants"), &mut on_disk);
    on_disk.sort();
    let mut listed = Vec::new();
    for file in &manifest.files {
        let spans = file.signal == lookout_model::Signal::Traces;
        let metrics = file.signal == lookout_model::Signal::Metrics;
        assert_eq!(file.trace_index_path.is_some(), spans, "{}", file.path);
        assert_eq!(file.span_rollups.is_some(), spans, "{}", file.path);
        assert_eq!(file.search_index_path.is_some(), !metrics, "{}", file.path);
        listed.push(dir.join(&file.path));
        listed.extend(file.trace_index_path.iter().map(|path| dir.join(path)));
        listed.extend(file.search_index_path.iter().map(|path| dir.join(path)));
        listed.extend(
            file.span_rollups
                .iter()
                .map(|sidecar| dir.join(&sidecar.path)),
        );
    }
    listed.sort();
    assert_eq!(on_disk, listed, "files on disk against the manifest");
}
