//! Durable storage: write-ahead log, in-memory tail, Parquet segments, compaction,
//! retention, the trace-id index, and the DataFusion tables over all of it.
//!
//! Writers and readers are separate types: [`Writer`] appends (and acknowledges only after
//! fdatasync), [`Reader`] answers queries over a consistent snapshot of Parquet files plus the
//! not-yet-flushed tail.
//!
//! On disk, `<data_dir>/manifest.json` is the catalog of what exists: the live Parquet files
//! (`tenants/<tenant>/<signal>/<YYYY-MM-DD>/<HH>/<unique>.parquet`, spans with a `.tid`
//! trace-id sidecar) and the highest WAL segment (`wal/<id>.wal`) already contained in them.
//! Every change is "write new files, atomically replace the manifest, then delete what it no
//! longer lists", and open deletes unlisted files and replays only segments past the
//! checkpoint, so a crash at any point leaves each acknowledged record present exactly once.

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod fault;
pub mod manifest;
pub mod rollups;
pub mod rows;
pub mod schema;
pub mod table;

mod background;
mod compaction;
mod dedup;
mod flush;
mod metrics;
mod partition;
mod recovery;
mod retention;
mod search;
mod segments;
mod tail;
mod trace_index;
mod wal;

pub use config::StorageConfig;
pub use error::{ErrorKind, StorageError};
pub use fault::CrashPoint;
pub use manifest::{FileEntry, Manifest, PartitionKey, RollupSidecar};
pub use rollups::{DurationSketch, RollupCell, RollupKey, SpanRollups};
pub use schema::{logs_schema, metrics_schema, spans_schema};
pub use search::{
    MAX_HISTOGRAM_BUCKETS, MAX_SEARCH_LIMIT, SearchCursor, SearchPage, SearchRequest,
};

use std::sync::Arc;

use lookout_model::{LogBatch, MetricBatch, SpanBatch, TenantId, TraceId};

/// One append: the records of one signal from one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Spans.
    Spans(SpanBatch),
    /// Log records.
    Logs(LogBatch),
    /// Metric points.
    Metrics(MetricBatch),
}

/// One acknowledged append, as subscribers of [`Store::subscribe_appends`] receive it.
#[derive(Debug, Clone)]
pub struct Appended {
    /// Sequence number: appends numbered up to [`PinnedSession::seq`] are in that session's
    /// tables, later ones are not.
    pub seq: u64,
    /// Tenant.
    pub tenant: TenantId,
    /// Signal.
    pub signal: lookout_model::Signal,
    /// The rows, in the signal's table schema.
    pub batch: datafusion::arrow::record_batch::RecordBatch,
}

/// A DataFusion session whose tables are fixed at one consistent snapshot.
pub struct PinnedSession {
    /// Appends numbered up to this are in the tables; later ones are not.
    pub seq: u64,
    /// The session with `spans`, `logs` and `metrics` of one tenant.
    pub context: datafusion::prelude::SessionContext,
}

/// Time range `[start, end]` in Unix nanoseconds, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start, Unix nanoseconds.
    pub start_unix_nanos: i64,
    /// Inclusive end, Unix nanoseconds.
    pub end_unix_nanos: i64,
}

/// The storage engine. Open once per process; hand out [`Writer`]s and [`Reader`]s.
pub struct Store {
    inner: Arc<engine::Engine>,
}

mod engine;

/// Appends records; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    inner: Arc<engine::Engine>,
}

/// Reads records; cheap to clone.
#[derive(Clone)]
pub struct Reader {
    inner: Arc<engine::Engine>,
}

impl Store {
    /// Opens (or creates) the store in `config.data_dir`, replaying the WAL.
    pub async fn open(
        config: StorageConfig,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Result<Self, StorageError> {
        let inner = engine::Engine::open(config, registry).await?;
        Ok(Self { inner })
    }

    /// A handle for appending.
    pub fn writer(&self) -> Writer {
        Writer {
            inner: self.inner.clone(),
        }
    }

    /// A handle for reading.
    pub fn reader(&self) -> Reader {
        Reader {
            inner: self.inner.clone(),
        }
    }

    /// Runs flushing, compaction and retention until `shutdown` resolves, then flushes the
    /// in-memory tail to Parquet and syncs the WAL.
    pub async fn run_background(
        &self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), StorageError> {
        self.inner.clone().run_background(shutdown).await
    }

    /// Every append acknowledged from now on (not necessarily in sequence order), through a
    /// bounded channel: when the receiver falls `capacity` appends behind, appends wait for
    /// it. Derived state (SLO buckets) combines this with [`Reader::pinned_session`] to count
    /// each record exactly once.
    pub fn subscribe_appends(&self, capacity: usize) -> tokio::sync::mpsc::Receiver<Appended> {
        self.inner.subscribe(capacity)
    }

    /// Flushes the in-memory tail to Parquet now (used by shutdown and tests).
    pub async fn flush(&self) -> Result<(), StorageError> {
        self.inner.flush_all().await
    }

    /// Compacts every partition now (used by tests and the benchmark).
    pub async fn compact(&self) -> Result<(), StorageError> {
        self.inner.compact_all().await
    }

    /// Drops every hour partition older than its signal's retention now; returns how many
    /// partitions were dropped (the background loop does this periodically).
    pub async fn enforce_retention(&self) -> Result<usize, StorageError> {
        self.inner.enforce_retention().await
    }

    /// A copy of the catalog: live Parquet files and the WAL checkpoint.
    pub fn manifest(&self) -> Manifest {
        self.inner.shared.state.lock().manifest.as_ref().clone()
    }

    /// Fault injection: flushes but stops at `crash` as a `kill -9` there would. The store
    /// must be dropped afterwards; reopening it shows what recovery makes of that state.
    pub async fn flush_until_crash(&self, crash: CrashPoint) -> Result<(), StorageError> {
        self.inner.flush(Some(crash)).await
    }

    /// Fault injection: compacts the first eligible partition (two files or more) but stops
    /// at `crash`. The store must be dropped afterwards.
    pub async fn compact_until_crash(&self, crash: CrashPoint) -> Result<(), StorageError> {
        self.inner.compact(2, Some(crash)).await.map(|_| ())
    }
}

impl Writer {
    /// Appends a payload for `tenant`. Returns only once the records are fdatasync'd in the
    /// WAL (group commit: concurrent appends share one sync) and visible to readers.
    ///
    /// Errors: [`ErrorKind::Unavailable`] when the in-memory tail is full or the disk is full
    /// (the caller answers 503 / UNAVAILABLE), [`ErrorKind::Internal`] otherwise.
    pub async fn append(&self, tenant: &TenantId, payload: Payload) -> Result<(), StorageError> {
        self.inner.append(tenant, payload).await
    }
}

impl Reader {
    /// A DataFusion session with the tables `spans`, `logs` and `metrics` of `tenant`
    /// registered, each covering Parquet segments plus the unflushed tail.
    pub fn session_context(
        &self,
        tenant: &TenantId,
    ) -> Result<datafusion::prelude::SessionContext, StorageError> {
        self.inner.session_context(tenant)
    }

    /// A session over one consistent snapshot of the tenant's tables, with the sequence
    /// number of the last append it contains.
    pub fn pinned_session(&self, tenant: &TenantId) -> Result<PinnedSession, StorageError> {
        crate::table::pinned_session(&self.inner.shared, tenant)
    }

    /// Like [`Reader::session_context`], plus the SQL function `matches(column, 'query')`:
    /// as a `WHERE` condition on `logs` or `spans` it is answered from the full-text index
    /// (only matching rows are read); `parser` turns its query text into a syntax tree.
    pub fn session_context_with_search(
        &self,
        tenant: &TenantId,
        parser: table::SearchParser,
    ) -> Result<datafusion::prelude::SessionContext, StorageError> {
        table::session_context_with(&self.inner.shared, tenant, Some(parser))
    }

    /// The time range that spans of `trace_id` cover, from the trace-id index, or `None` when
    /// the trace is unknown.
    pub fn trace_time_range(&self, tenant: &TenantId, trace_id: &TraceId) -> Option<TimeRange> {
        self.inner.trace_time_range(tenant, trace_id)
    }

    /// Every span of `trace_id` (rows of the `spans` schema), read only from the segments the
    /// trace-id index names plus the unflushed tail. Empty when the trace is unknown.
    pub async fn trace_spans(
        &self,
        tenant: &TenantId,
        trace_id: &TraceId,
    ) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>, StorageError> {
        self.inner.trace_spans(tenant, trace_id).await
    }

    /// The RED rollups of `tenant` whose minute starts within `range`, merged per key: the
    /// sidecars of the spans files that can hold such minutes plus the unflushed tail. Each
    /// acknowledged span is counted exactly once. No span is read.
    pub async fn span_rollups(
        &self,
        tenant: &TenantId,
        range: TimeRange,
    ) -> Result<SpanRollups, StorageError> {
        self.inner.span_rollups(tenant, range).await
    }

    /// Every span of the given traces (rows of the `spans` schema, only the columns named in
    /// `columns`, every column when empty), read only from the segments the trace-id index
    /// names for these traces plus the unflushed tail.
    pub async fn spans_of_traces(
        &self,
        tenant: &TenantId,
        trace_ids: &[TraceId],
        columns: &[&str],
    ) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>, StorageError> {
        self.inner.spans_of_traces(tenant, trace_ids, columns).await
    }

    /// Full-text search over `signal`'s table (`Logs` or `Traces`), newest first, over the
    /// Parquet files' indexes and the unflushed tail (acknowledged records are found at once).
    ///
    /// Errors: [`ErrorKind::BadRequest`] for a metrics search.
    pub async fn search(
        &self,
        tenant: &TenantId,
        signal: lookout_model::Signal,
        request: SearchRequest,
    ) -> Result<SearchPage, StorageError> {
        if signal == lookout_model::Signal::Metrics {
            return Err(StorageError::InvalidRequest(
                "metrics are not full-text indexed".into(),
            ));
        }
        self.inner.search(tenant, signal, request).await
    }

    /// Counts of records matching `query` per `step_nanos` bucket of `range`, oldest first.
    ///
    /// Errors: [`ErrorKind::BadRequest`] for a non-positive step, an empty range or more than
    /// [`MAX_HISTOGRAM_BUCKETS`] buckets.
    pub async fn search_histogram(
        &self,
        tenant: &TenantId,
        signal: lookout_model::Signal,
        query: lookout_model::search::SearchQuery,
        range: TimeRange,
        step_nanos: i64,
    ) -> Result<Vec<u64>, StorageError> {
        if signal == lookout_model::Signal::Metrics {
            return Err(StorageError::InvalidRequest(
                "metrics are not full-text indexed".into(),
            ));
        }
        self.inner
            .search_histogram(tenant, signal, query, range, step_nanos)
            .await
    }

    /// Every acknowledged append of logs and spans from now on (all tenants: filter on
    /// [`Appended::tenant`]). A receiver that falls behind gets `Lagged` and misses appends.
    pub fn subscribe_appends(&self) -> tokio::sync::broadcast::Receiver<Arc<Appended>> {
        self.inner.appended.subscribe()
    }

    /// The rows of `rows` (a table of `signal`) matching `query`, in order; for live tails.
    pub async fn filter_rows(
        &self,
        signal: lookout_model::Signal,
        rows: datafusion::arrow::record_batch::RecordBatch,
        query: lookout_model::search::SearchQuery,
    ) -> Result<datafusion::arrow::record_batch::RecordBatch, StorageError> {
        tokio::task::spawn_blocking(move || search::filter_batch(signal, &rows, &query))
            .await
            .map_err(|error| StorageError::Internal(format!("filter task failed: {error}")))?
    }
}

/// Builds a standalone full-text index of `rows` (a batch of `signal`'s table) in the empty
/// or absent directory `dir`, as a flush does for each Parquet file; returns the index's size
/// in bytes. For benchmarks and tools: the store builds its own indexes.
pub fn build_search_index(
    dir: &std::path::Path,
    signal: lookout_model::Signal,
    rows: &datafusion::arrow::record_batch::RecordBatch,
) -> Result<u64, StorageError> {
    search::write_file_index(dir, signal, rows)?;
    let mut size_bytes = 0;
    for entry in std::fs::read_dir(dir).map_err(|error| StorageError::io(dir, error))? {
        let entry = entry.map_err(|error| StorageError::io(dir, error))?;
        size_bytes += entry
            .metadata()
            .map_err(|error| StorageError::io(entry.path(), error))?
            .len();
    }
    Ok(size_bytes)
}
