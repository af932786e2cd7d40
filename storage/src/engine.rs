//! The storage engine: owns the WAL, the in-memory tail and the catalog, and ties the write
//! path (append), the read path (snapshots) and maintenance (flush, compaction, retention).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use lookout_model::{Signal, TenantId, TraceId};
use parking_lot::Mutex;

use crate::dedup::DedupSet;
use crate::manifest::{FileEntry, Manifest};
use crate::metrics::StorageMetrics;
use crate::recovery::recover;
use crate::rollups::SpanRollups;
use crate::rows::payload_to_batch;
use crate::tail::Tail;
use crate::trace_index::{FileTraceIndex, TraceSpan};
use crate::wal::{PendingAppend, Wal, encode_frame};
use crate::{Payload, StorageConfig, StorageError, TimeRange};

/// Files dropped from the manifest are deleted this long afterwards, so queries that
/// snapshotted them can finish.
pub(crate) const DELETE_GRACE: Duration = Duration::from_secs(60);

/// Appends a live tail may lag behind before it is told it missed some.
const APPENDED_CHANNEL_CAPACITY: usize = 256;

/// What readers snapshot and maintenance replaces, under one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Acknowledged records not yet in Parquet.
    pub(crate) tail: Tail,
    /// The catalog as last stored.
    pub(crate) manifest: Arc<Manifest>,
    /// Trace-id index of every live spans file, by file path.
    pub(crate) trace_index: HashMap<String, Arc<FileTraceIndex>>,
    /// Sequence number of the last append added to the tail (0 after open: replayed records
    /// are part of every snapshot). A snapshot taken under this lock holds exactly the
    /// appends numbered up to this value.
    pub(crate) append_seq: u64,
}

/// A consistent view of one table: live files plus tail batches.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// Parquet files of the table.
    pub(crate) files: Vec<FileEntry>,
    /// Tail batches of the table.
    pub(crate) tail: Vec<RecordBatch>,
}

/// State shared with table providers (which must not keep the WAL thread alive).
#[derive(Debug)]
pub(crate) struct Shared {
    /// Canonical data directory.
    pub(crate) data_dir: PathBuf,
    /// Catalog, tail and index.
    pub(crate) state: Mutex<State>,
    /// Open readers of the files' search indexes.
    pub(crate) search_indexes: crate::search::SearchIndexes,
}

impl Shared {
    /// The rollups of `tenant` whose minute starts within `[start, end]` (Unix nanoseconds),
    /// from the sidecars of live spans files and the tail, taken under one lock.
    pub(crate) async fn span_rollups(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
    ) -> Result<SpanRollups, StorageError> {
        let (sidecars, mut rollups) = {
            let state = self.state.lock();
            let sidecars: Vec<PathBuf> = state
                .manifest
                .files
                .iter()
                .filter(|file| file.signal == Signal::Traces && &file.tenant == tenant)
                .filter_map(|file| file.span_rollups.as_ref())
                .filter(|sidecar| {
                    sidecar.max_minute_unix_nanos >= start && sidecar.min_minute_unix_nanos <= end
                })
                .map(|sidecar| self.data_dir.join(&sidecar.path))
                .collect();
            (sidecars, state.tail.rollups(tenant, start, end))
        };
        if sidecars.is_empty() {
            return Ok(rollups);
        }
        tokio::task::spawn_blocking(move || {
            for path in sidecars {
                crate::rollups::read_sidecar(&path, start, end, &mut rollups)?;
            }
            Ok(rollups)
        })
        .await
        .map_err(|error| StorageError::Internal(format!("rollup read task failed: {error}")))?
    }

    /// The files and tail batches of `(tenant, signal)`, taken under one lock.
    pub(crate) fn snapshot(&self, tenant: &TenantId, signal: Signal) -> Snapshot {
        self.state.lock().snapshot(tenant, signal)
    }
}

impl State {
    /// The files and tail batches of `(tenant, signal)`.
    pub(crate) fn snapshot(&self, tenant: &TenantId, signal: Signal) -> Snapshot {
        let state = self;
        Snapshot {
            files: state
                .manifest
                .files
                .iter()
                .filter(|file| file.signal == signal && &file.tenant == tenant)
                .cloned()
                .collect(),
            tail: state.tail.batches(tenant, signal),
        }
    }
}

pub(crate) struct Engine {
    pub(crate) config: StorageConfig,
    pub(crate) shared: Arc<Shared>,
    /// The WAL writer; it also inserts into and seals the tail (see `wal/writer.rs`).
    pub(crate) wal: Wal,
    /// One flush, compaction or retention pass at a time.
    pub(crate) maintenance: tokio::sync::Mutex<()>,
    pub(crate) dedup: Mutex<DedupSet>,
    pub(crate) metrics: Arc<StorageMetrics>,
    /// Woken when a tail grows past `flush_max_rows`.
    pub(crate) flush_wanted: tokio::sync::Notify,
    /// Files to delete once their grace period is over.
    pub(crate) pending_deletes: Mutex<Vec<(Instant, PathBuf)>>,
    /// Consumers of every acknowledged append (derived state such as SLO buckets).
    pub(crate) subscribers: Mutex<Vec<tokio::sync::mpsc::Sender<crate::Appended>>>,
    /// Every acknowledged append, for live tails (dropped when nobody listens).
    pub(crate) appended: tokio::sync::broadcast::Sender<Arc<crate::Appended>>,
    /// Released when the engine is dropped.
    _directory_lock: std::fs::File,
}

impl Engine {
    pub(crate) async fn open(
        config: StorageConfig,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Result<Arc<Self>, StorageError> {
        let metrics = Arc::new(StorageMetrics::register(registry));
        let recovered = {
            let config = config.clone();
            let metrics = metrics.clone();
            tokio::task::spawn_blocking(move || recover(&config, &metrics))
                .await
                .map_err(|error| {
                    StorageError::Internal(format!("recovery task failed: {error}"))
                })??
        };
        let mut config = config;
        config.data_dir = recovered.data_dir.clone();
        metrics
            .parquet_files
            .set(recovered.state.manifest.files.len() as i64);
        metrics
            .unflushed_bytes
            .set(recovered.state.tail.unflushed_bytes() as i64);
        let shared = Arc::new(Shared {
            data_dir: recovered.data_dir.clone(),
            state: Mutex::new(recovered.state),
            search_indexes: crate::search::SearchIndexes::default(),
        });
        let wal = Wal::start(
            recovered.data_dir.join("wal"),
            recovered.next_segment_id,
            shared.clone(),
            metrics.clone(),
        )?;
        Ok(Arc::new(Self {
            config,
            shared,
            wal,
            maintenance: tokio::sync::Mutex::new(()),
            dedup: Mutex::new(recovered.dedup),
            metrics,
            flush_wanted: tokio::sync::Notify::new(),
            pending_deletes: Mutex::new(Vec::new()),
            subscribers: Mutex::new(Vec::new()),
            appended: tokio::sync::broadcast::channel(APPENDED_CHANNEL_CAPACITY).0,
            _directory_lock: recovered.directory_lock,
        }))
    }

    pub(crate) async fn append(
        &self,
        tenant: &TenantId,
        mut payload: Payload,
    ) -> Result<(), StorageError> {
        let unflushed_bytes = self.shared.state.lock().tail.unflushed_bytes();
        if unflushed_bytes > self.config.max_unflushed_bytes {
            self.flush_wanted.notify_one();
            return Err(StorageError::Overloaded(format!(
                "{unflushed_bytes} bytes are waiting for a flush (limit {})",
                self.config.max_unflushed_bytes
            )));
        }
        let mut remembered = Vec::new();
        if let Payload::Metrics(batch) = &mut payload {
            let (inserted, dropped) = self.dedup.lock().filter(tenant, batch);
            self.metrics.duplicate_points_dropped.inc_by(dropped);
            remembered = inserted;
        }
        let signal = payload_signal(&payload);
        if payload_record_count(&payload) == 0 {
            return Ok(());
        }
        let result = self.append_durably(tenant, signal, payload).await;
        if result.is_err() && !remembered.is_empty() {
            self.dedup.lock().forget(&remembered);
        }
        result
    }

    async fn append_durably(
        &self,
        tenant: &TenantId,
        signal: Signal,
        payload: Payload,
    ) -> Result<(), StorageError> {
        let encoded = {
            let tenant = tenant.clone();
            tokio::task::spawn_blocking(move || {
                let frame = encode_frame(&tenant, &payload)?;
                let batch = payload_to_batch(&payload)?;
                let rollups = match &payload {
                    Payload::Spans(_) => Some(SpanRollups::from_spans_batch(&batch)?),
                    _ => None,
                };
                Ok::<_, StorageError>((frame, batch, rollups))
            })
            .await
            .map_err(|error| StorageError::Internal(format!("encoding task failed: {error}")))?
        };
        let (frame, batch, rollups) = encoded?;
        let observed = batch.clone();
        let published = (self.appended.receiver_count() > 0 && signal != Signal::Metrics)
            .then(|| batch.clone());
        let outcome = self
            .wal
            .append(PendingAppend {
                frame,
                tenant: tenant.clone(),
                signal,
                batch,
                rollups,
            })
            .await?;
        self.publish(crate::Appended {
            seq: outcome.seq,
            tenant: tenant.clone(),
            signal,
            batch: observed,
        })
        .await;
        if let Some(rows) = published {
            // No receiver left is not an error: nobody is tailing.
            let _ = self.appended.send(Arc::new(crate::Appended {
                tenant: tenant.clone(),
                signal,
                seq: outcome.seq,
                batch: rows,
            }));
        }
        if outcome.buffered_rows >= self.config.flush_max_rows
            || outcome.unflushed_bytes > self.config.max_unflushed_bytes / 2
        {
            self.flush_wanted.notify_one();
        }
        Ok(())
    }

    /// Hands an acknowledged append to every subscriber, waiting while one is full (so a
    /// slow consumer slows ingest instead of losing records); gone subscribers are dropped.
    async fn publish(&self, appended: crate::Appended) {
        let subscribers: Vec<_> = self.subscribers.lock().clone();
        if subscribers.is_empty() {
            return;
        }
        let mut gone = false;
        for subscriber in &subscribers {
            gone |= subscriber.send(appended.clone()).await.is_err();
        }
        if gone {
            self.subscribers.lock().retain(|s| !s.is_closed());
        }
    }

    pub(crate) fn subscribe(
        &self,
        capacity: usize,
    ) -> tokio::sync::mpsc::Receiver<crate::Appended> {
        let (sender, receiver) = tokio::sync::mpsc::channel(capacity.max(1));
        self.subscribers.lock().push(sender);
        receiver
    }

    pub(crate) fn session_context(
        &self,
        tenant: &TenantId,
    ) -> Result<SessionContext, StorageError> {
        crate::table::session_context(&self.shared, tenant)
    }

    pub(crate) fn trace_time_range(
        &self,
        tenant: &TenantId,
        trace_id: &TraceId,
    ) -> Option<TimeRange> {
        let state = self.shared.state.lock();
        let from_files = state
            .manifest
            .files
            .iter()
            .filter(|file| file.signal == Signal::Traces && &file.tenant == tenant)
            .filter_map(|file| state.trace_index.get(&file.path)?.lookup(trace_id));
        from_files
            .chain(state.tail.trace_range(tenant, trace_id))
            .reduce(TraceSpan::merge)
            .map(|span| TimeRange {
                start_unix_nanos: span.min_start,
                end_unix_nanos: span.max_end,
            })
    }

    pub(crate) async fn trace_spans(
        &self,
        tenant: &TenantId,
        trace_id: &TraceId,
    ) -> Result<Vec<RecordBatch>, StorageError> {
        let snapshot = {
            let state = self.shared.state.lock();
            let files = state
                .manifest
                .files
                .iter()
                .filter(|file| file.signal == Signal::Traces && &file.tenant == tenant)
                .filter(|file| {
                    state
                        .trace_index
                        .get(&file.path)
                        .is_none_or(|index| index.lookup(trace_id).is_some())
                })
                .cloned()
                .collect();
            crate::engine::Snapshot {
                files,
                tail: state.tail.trace_batches(tenant, trace_id)?,
            }
        };
        if snapshot.files.is_empty() && snapshot.tail.is_empty() {
            return Ok(Vec::new());
        }
        crate::table::read_trace(&self.shared, snapshot, trace_id).await
    }

    pub(crate) async fn span_rollups(
        &self,
        tenant: &TenantId,
        range: TimeRange,
    ) -> Result<SpanRollups, StorageError> {
        self.shared
            .span_rollups(tenant, range.start_unix_nanos, range.end_unix_nanos)
            .await
    }

    pub(crate) async fn spans_of_traces(
        &self,
        tenant: &TenantId,
        trace_ids: &[TraceId],
        columns: &[&str],
    ) -> Result<Vec<RecordBatch>, StorageError> {
        if trace_ids.is_empty() {
            return Ok(Vec::new());
        }
        let snapshot = {
            let state = self.shared.state.lock();
            let files = state
                .manifest
                .files
                .iter()
                .filter(|file| file.signal == Signal::Traces && &file.tenant == tenant)
                .filter(|file| {
                    state
                        .trace_index
                        .get(&file.path)
                        .is_none_or(|index| trace_ids.iter().any(|id| index.lookup(id).is_some()))
                })
                .cloned()
                .collect();
            Snapshot {
                files,
                tail: state.tail.batches_with_traces(tenant, trace_ids),
            }
        };
        if snapshot.files.is_empty() && snapshot.tail.is_empty() {
            return Ok(Vec::new());
        }
        crate::table::read_traces(&self.shared, snapshot, trace_ids, columns).await
    }

    /// Deletes files whose grace period is over.
    pub(crate) fn delete_expired_files(&self) {
        let now = Instant::now();
        let expired: Vec<PathBuf> = {
            let mut pending = self.pending_deletes.lock();
            let (expired, kept): (Vec<_>, Vec<_>) = pending
                .drain(..)
                .partition(|(deadline, _)| *deadline <= now);
            *pending = kept;
            expired.into_iter().map(|(_, path)| path).collect()
        };
        for path in expired {
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if let Err(error) = removed
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(%error, path = %path.display(), "failed to delete a dropped file");
            }
        }
    }

    /// Schedules the files of `entries` (and their sidecars) for deletion after the grace.
    pub(crate) fn schedule_deletion(&self, entries: &[FileEntry]) {
        let deadline = Instant::now() + DELETE_GRACE;
        let mut pending = self.pending_deletes.lock();
        for entry in entries {
            pending.push((deadline, self.shared.data_dir.join(&entry.path)));
            if let Some(sidecar) = &entry.trace_index_path {
                pending.push((deadline, self.shared.data_dir.join(sidecar)));
            }
            if let Some(index) = &entry.search_index_path {
                pending.push((deadline, self.shared.data_dir.join(index)));
            }
            if let Some(sidecar) = &entry.span_rollups {
                pending.push((deadline, self.shared.data_dir.join(&sidecar.path)));
            }
        }
    }

    /// Installs a stored manifest and its index changes; returns nothing, updates gauges.
    pub(crate) fn install_manifest(
        &self,
        manifest: Manifest,
        removed: &[FileEntry],
        added_indexes: Vec<(String, Arc<FileTraceIndex>)>,
        released_generations: &[u64],
    ) {
        let (files, unflushed_bytes) = {
            let mut state = self.shared.state.lock();
            for entry in removed {
                state.trace_index.remove(&entry.path);
            }
            state.trace_index.extend(added_indexes);
            state.manifest = Arc::new(manifest);
            state.tail.release(released_generations);
            (state.manifest.files.len(), state.tail.unflushed_bytes())
        };
        if !removed.is_empty() {
            let live = self.shared.state.lock().manifest.files.clone();
            self.shared.search_indexes.retain_live(&live);
        }
        self.metrics.parquet_files.set(files as i64);
        self.metrics.unflushed_bytes.set(unflushed_bytes as i64);
    }
}

/// The signal of a payload.
pub(crate) fn payload_signal(payload: &Payload) -> Signal {
    match payload {
        Payload::Spans(_) => Signal::Traces,
        Payload::Logs(_) => Signal::Logs,
        Payload::Metrics(_) => Signal::Metrics,
    }
}

/// Records (spans, log records, metric points) in a payload.
pub(crate) fn payload_record_count(payload: &Payload) -> usize {
    match payload {
        Payload::Spans(batch) => batch.record_count(),
        Payload::Logs(batch) => batch.record_count(),
        Payload::Metrics(batch) => batch.record_count(),
    }
}
