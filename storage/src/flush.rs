//! Flush: rotate the WAL and seal the tail (one critical section), write Parquet files,
//! replace the manifest (files + WAL checkpoint), then delete the covered WAL segments.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::record_batch::RecordBatch;

use crate::StorageError;
use crate::engine::Engine;
use crate::fault::CrashPoint;
use crate::manifest::FileEntry;
use crate::segments::{WrittenSegment, split_by_hour, write_segment};
use crate::tail::{TailGeneration, TailKey};
use crate::wal::list_segments;

impl Engine {
    /// Flushes everything buffered now.
    pub(crate) async fn flush_all(&self) -> Result<(), StorageError> {
        self.flush(None).await
    }

    /// Flushes, optionally stopping at `crash` as a crash there would.
    pub(crate) async fn flush(&self, crash: Option<CrashPoint>) -> Result<(), StorageError> {
        let _maintenance = self.maintenance.lock().await;
        let started = Instant::now();

        let Some(sealed) = self.wal.seal().await? else {
            return Ok(());
        };
        let (sealed_segment, generations) = (sealed.segment_id, sealed.generations);

        let written = {
            let data_dir = self.shared.data_dir.clone();
            let generations = generations.clone();
            tokio::task::spawn_blocking(move || write_generations(&data_dir, &generations))
                .await
                .map_err(|error| StorageError::Internal(format!("flush task failed: {error}")))?
        };
        let written = match written {
            Ok(written) => written,
            Err(error) => {
                tracing::warn!(%error, "flush failed; the records stay in memory and in the wal");
                return Err(error);
            }
        };
        if crash == Some(CrashPoint::AfterParquetWrite) {
            return Ok(());
        }

        let added: Vec<FileEntry> = written
            .iter()
            .map(|segment| segment.entry.clone())
            .collect();
        let mut manifest = self.shared.state.lock().manifest.with_changes(&[], &added);
        manifest.wal_checkpoint_segment = Some(sealed_segment);
        let stored = {
            let data_dir = self.shared.data_dir.clone();
            let manifest = manifest.clone();
            tokio::task::spawn_blocking(move || manifest.store(&data_dir))
                .await
                .map_err(|error| StorageError::Internal(format!("manifest task failed: {error}")))?
        };
        if let Err(error) = stored {
            // The new files stay on disk: if the rename did happen they are live after a
            // restart; otherwise the next open deletes them as unlisted.
            tracing::warn!(%error, "failed to replace the manifest; the flush will be retried");
            return Err(error);
        }
        if crash == Some(CrashPoint::AfterManifestReplace) {
            return Ok(());
        }

        let generation_ids: Vec<u64> = generations.iter().map(|generation| generation.id).collect();
        let indexes = written
            .into_iter()
            .filter_map(|segment| Some((segment.entry.path, segment.trace_index?)))
            .collect();
        self.install_manifest(manifest, &[], indexes, &generation_ids);
        self.delete_wal_segments_up_to(sealed_segment);
        self.metrics
            .parquet_flush_duration_seconds
            .observe(started.elapsed().as_secs_f64());
        tracing::debug!(
            files = added.len(),
            sealed_segment,
            "flushed the tail to parquet"
        );
        Ok(())
    }

    fn delete_wal_segments_up_to(&self, checkpoint: u64) {
        let wal_dir = self.shared.data_dir.join("wal");
        let segments = match list_segments(&wal_dir) {
            Ok(segments) => segments,
            Err(error) => {
                tracing::warn!(%error, "failed to list wal segments");
                return;
            }
        };
        for (id, path) in segments {
            if id <= checkpoint
                && let Err(error) = std::fs::remove_file(&path)
            {
                // Harmless: replay skips segments at or below the checkpoint and deletes them.
                tracing::warn!(%error, path = %path.display(), "failed to delete a flushed wal segment");
            }
        }
    }
}

/// Writes the sealed generations: one file per (tenant, signal, hour).
fn write_generations(
    data_dir: &std::path::Path,
    generations: &[Arc<TailGeneration>],
) -> Result<Vec<WrittenSegment>, StorageError> {
    let mut by_key: BTreeMap<&TailKey, Vec<RecordBatch>> = BTreeMap::new();
    for generation in generations {
        for (key, buffer) in &generation.buffers {
            by_key
                .entry(key)
                .or_default()
                .extend(buffer.batches.iter().cloned());
        }
    }
    let mut written = Vec::new();
    for ((tenant, signal), batches) in by_key {
        for (hour, batch) in split_by_hour(*signal, &batches)? {
            if batch.num_rows() == 0 {
                continue;
            }
            match write_segment(data_dir, tenant, *signal, hour, &batch) {
                Ok(segment) => written.push(segment),
                Err(error) => {
                    remove_written(data_dir, &written);
                    return Err(error);
                }
            }
        }
    }
    Ok(written)
}

/// Best-effort removal of files of a failed flush (open would delete them anyway).
fn remove_written(data_dir: &std::path::Path, written: &[WrittenSegment]) {
    for segment in written {
        let _ = std::fs::remove_file(data_dir.join(&segment.entry.path));
        if let Some(sidecar) = &segment.entry.trace_index_path {
            let _ = std::fs::remove_file(data_dir.join(sidecar));
        }
        if let Some(index) = &segment.entry.search_index_path {
            let _ = std::fs::remove_dir_all(data_dir.join(index));
        }
        if let Some(sidecar) = &segment.entry.span_rollups {
            let _ = std::fs::remove_file(data_dir.join(&sidecar.path));
        }
    }
}
