//! Compaction: merge the small files of an hour partition into one sorted file.
//!
//! Order of effects: write the merged file, replace the manifest (inputs out, output in),
//! delete the inputs after a grace period. A crash anywhere leaves each row in exactly one
//! listed file; unlisted files are deleted on open.

use std::collections::BTreeMap;

use crate::StorageError;
use crate::engine::Engine;
use crate::fault::CrashPoint;
use crate::manifest::{FileEntry, PartitionKey};
use crate::rows::arrow_error;
use crate::schema::schema_for;
use crate::segments::{WrittenSegment, read_segment, row_count, write_segment};

/// Compressed input bytes merged at most in one compaction. The merge happens in memory and
/// Arrow string columns are limited to 2 GiB, so this stays far below either limit.
const MAX_COMPACTION_INPUT_BYTES: u64 = 64 * 1024 * 1024;

impl Engine {
    /// Compacts every partition with at least two files.
    pub(crate) async fn compact_all(&self) -> Result<(), StorageError> {
        self.compact(2, None).await.map(|_| ())
    }

    /// Compacts partitions with at least `min_files` files; returns how many were compacted.
    /// With `crash`, stops the first compaction at that point.
    pub(crate) async fn compact(
        &self,
        min_files: usize,
        crash: Option<CrashPoint>,
    ) -> Result<usize, StorageError> {
        let _maintenance = self.maintenance.lock().await;
        let manifest = self.shared.state.lock().manifest.clone();
        let mut partitions: BTreeMap<PartitionKey, Vec<FileEntry>> = BTreeMap::new();
        for file in &manifest.files {
            partitions
                .entry(file.partition())
                .or_default()
                .push(file.clone());
        }
        let mut compacted = 0;
        for (partition, files) in partitions {
            if files.len() < min_files.max(2) {
                continue;
            }
            let inputs = select_inputs(files);
            if inputs.len() < 2 {
                continue;
            }
            self.compact_partition(&partition, inputs, crash).await?;
            compacted += 1;
            if crash.is_some() {
                break;
            }
        }
        Ok(compacted)
    }

    async fn compact_partition(
        &self,
        partition: &PartitionKey,
        inputs: Vec<FileEntry>,
        crash: Option<CrashPoint>,
    ) -> Result<(), StorageError> {
        let merged = {
            let data_dir = self.shared.data_dir.clone();
            let partition = partition.clone();
            let inputs = inputs.clone();
            tokio::task::spawn_blocking(move || merge_files(&data_dir, &partition, &inputs))
                .await
                .map_err(|error| {
                    StorageError::Internal(format!("compaction task failed: {error}"))
                })??
        };
        if crash == Some(CrashPoint::AfterParquetWrite) {
            return Ok(());
        }
        let manifest = self
            .shared
            .state
            .lock()
            .manifest
            .with_changes(&inputs, std::slice::from_ref(&merged.entry));
        {
            let data_dir = self.shared.data_dir.clone();
            let manifest = manifest.clone();
            tokio::task::spawn_blocking(move || manifest.store(&data_dir))
                .await
                .map_err(|error| {
                    StorageError::Internal(format!("manifest task failed: {error}"))
                })??;
        }
        if crash == Some(CrashPoint::AfterManifestReplace) {
            return Ok(());
        }
        let indexes = merged
            .trace_index
            .map(|index| vec![(merged.entry.path.clone(), index)])
            .unwrap_or_default();
        self.install_manifest(manifest, &inputs, indexes, &[]);
        self.schedule_deletion(&inputs);
        self.metrics.compactions.inc();
        tracing::debug!(
            tenant = %partition.tenant,
            signal = partition.signal.as_str(),
            hour_unix_secs = partition.hour_unix_secs,
            inputs = inputs.len(),
            rows = merged.entry.rows,
            "compacted a partition"
        );
        Ok(())
    }
}

/// The smallest files of a partition that fit the memory bound.
fn select_inputs(mut files: Vec<FileEntry>) -> Vec<FileEntry> {
    files.sort_by_key(|file| file.size_bytes);
    let mut total = 0u64;
    files
        .into_iter()
        .take_while(|file| {
            total = total.saturating_add(file.size_bytes);
            total <= MAX_COMPACTION_INPUT_BYTES
        })
        .collect()
}

fn merge_files(
    data_dir: &std::path::Path,
    partition: &PartitionKey,
    inputs: &[FileEntry],
) -> Result<WrittenSegment, StorageError> {
    let mut batches = Vec::new();
    for input in inputs {
        batches.extend(read_segment(&data_dir.join(&input.path))?);
    }
    let expected_rows: u64 = inputs.iter().map(|input| input.rows).sum();
    if row_count(&batches) as u64 != expected_rows {
        return Err(StorageError::Corrupt {
            path: data_dir.join(&inputs[0].path),
            reason: format!(
                "partition files hold {} rows, the manifest says {expected_rows}",
                row_count(&batches)
            ),
        });
    }
    let schema = schema_for(partition.signal);
    let merged =
        datafusion::arrow::compute::concat_batches(&schema, &batches).map_err(arrow_error)?;
    write_segment(
        data_dir,
        &partition.tenant,
        partition.signal,
        partition.hour_unix_secs,
        &merged,
    )
}

#[cfg(test)]
mod tests {
    use lookout_model::{Signal, TenantId};

    use super::*;

    fn file(size_bytes: u64) -> FileEntry {
        FileEntry {
            tenant: TenantId::default_tenant(),
            signal: Signal::Logs,
            hour_unix_secs: 0,
            path: format!("f{size_bytes}"),
            rows: 1,
            size_bytes,
            min_time_unix_nanos: 0,
            max_time_unix_nanos: 0,
            trace_index_path: None,
            span_rollups: None,
            search_index_path: None,
        }
    }

    #[test]
    fn selects_smallest_files_within_the_bound() {
        let chosen = select_inputs(vec![file(MAX_COMPACTION_INPUT_BYTES), file(10), file(20)]);
        let sizes: Vec<u64> = chosen.iter().map(|f| f.size_bytes).collect();
        assert_eq!(sizes, vec![10, 20]);
    }
}
