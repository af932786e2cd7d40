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
}
