//! Opening a store: load the manifest, delete files it does not list, load the trace-id
//! sidecars, and replay the WAL into the in-memory tail.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lookout_model::Signal;

use crate::dedup::DedupSet;
use crate::engine::{State, payload_record_count, payload_signal};
use crate::manifest::{FileEntry, Manifest, write_file_durably};
use crate::metrics::StorageMetrics;
use crate::rollups::SpanRollups;
use crate::rows::payload_to_batch;
use crate::segments::read_segment;
use crate::tail::Tail;
use crate::trace_index::FileTraceIndex;
use crate::wal::{replay, sync_dir};
use crate::{Payload, StorageConfig, StorageError};

/// Everything `Engine::open` needs from disk.
pub(crate) struct Recovered {
    pub(crate) data_dir: PathBuf,
    pub(crate) state: State,
    pub(crate) dedup: DedupSet,
    pub(crate) next_segment_id: u64,
    /// Held (flock) for the life of the engine so a second process cannot open the directory.
    pub(crate) directory_lock: fs::File,
}

/// Brings the data directory to a consistent state and rebuilds the in-memory state.
pub(crate) fn recover(
    config: &StorageConfig,
    metrics: &Arc<StorageMetrics>,
) -> Result<Recovered, StorageError> {
    fs::create_dir_all(&config.data_dir)
        .map_err(|error| StorageError::io(&config.data_dir, error))?;
    let data_dir = fs::canonicalize(&config.data_dir)
        .map_err(|error| StorageError::io(&config.data_dir, error))?;
    let directory_lock = lock_directory(&data_dir)?;
    let wal_dir = data_dir.join("wal");
    fs::create_dir_all(&wal_dir).map_err(|error| StorageError::io(&wal_dir, error))?;
    sync_dir(&data_dir)?;

    let mut manifest = Manifest::load(&data_dir)?;
    let missing: Vec<FileEntry> = manifest
        .files
        .iter()
        .filter(|file| !data_dir.join(&file.path).is_file())
        .cloned()
        .collect();
    if !missing.is_empty() {
        for file in &missing {
            tracing::error!(path = %file.path, rows = file.rows, "a file listed in the manifest is missing; dropping it from the catalog");
        }
        manifest = manifest.with_changes(&missing, &[]);
        manifest.store(&data_dir)?;
    }
    collect_garbage(&data_dir, &manifest)?;

    let mut trace_index = HashMap::new();
    for file in manifest
        .files
        .iter()
        .filter(|file| file.signal == Signal::Traces)
    {
        trace_index.insert(
            file.path.clone(),
            Arc::new(load_trace_index(&data_dir, file)?),
        );
    }

    let replayed = replay(&wal_dir, manifest.wal_checkpoint_segment, metrics)?;
    let mut tail = Tail::default();
    let mut dedup = DedupSet::default();
    let mut replayed_records = 0u64;
    for entry in replayed.entries {
        let mut payload = Payload::from(entry.payload);
        if let Payload::Metrics(batch) = &mut payload {
            // Seeds the set so re-sent points are still recognised after a restart.
            dedup.filter(&entry.tenant, batch);
        }
        let records = payload_record_count(&payload);
        if records == 0 {
            continue;
        }
        replayed_records += records as u64;
        let batch = payload_to_batch(&payload)?;
        let signal = payload_signal(&payload);
        if signal == Signal::Traces {
            tail.add_rollups(&entry.tenant, SpanRollups::from_spans_batch(&batch)?);
        }
        tail.insert(&entry.tenant, signal, batch);
    }
    metrics.wal_replayed_records.inc_by(replayed_records);
    if replayed_records > 0 {
        tracing::info!(replayed_records, "replayed the write-ahead log");
    }

    Ok(Recovered {
        data_dir,
        state: State {
            tail,
            manifest: Arc::new(manifest),
            trace_index,
            append_seq: 0,
        },
        dedup,
        next_segment_id: replayed.next_segment_id,
        directory_lock,
    })
}

/// Deletes every file under `tenants/` that the manifest does not list (leftovers of a crash
/// during a flush or compaction, and dropped files whose deletion was pending).
fn collect_garbage(data_dir: &Path, manifest: &Manifest) -> Result<(), StorageError> {
    let live: HashSet<PathBuf> = manifest
        .files
        .iter()
        .flat_map(|file| {
            std::iter::once(&file.path)
                .chain(file.trace_index_path.as_ref())
                .chain(file.search_index_path.as_ref())
                .chain(file.span_rollups.as_ref().map(|sidecar| &sidecar.path))
        })
        .map(|relative| data_dir.join(relative))
        .collect();
    let root = data_dir.join("tenants");
    if root.is_dir() {
        remove_unlisted(&root, &live)?;
    }
    let stale_manifest = data_dir.join(format!("{}.tmp", crate::manifest::MANIFEST_FILE));
    if stale_manifest.exists() {
        fs::remove_file(&stale_manifest)
            .map_err(|error| StorageError::io(&stale_manifest, error))?;
    }
    Ok(())
}

/// Returns whether `dir` is empty afterwards.
fn remove_unlisted(dir: &Path, live: &HashSet<PathBuf>) -> Result<bool, StorageError> {
    let mut empty = true;
    let entries = fs::read_dir(dir).map_err(|error| StorageError::io(dir, error))?;
    for entry in entries {
        let path = entry.map_err(|error| StorageError::io(dir, error))?.path();
        if live.contains(&path) {
            // A live file, or a live index directory (kept whole).
            empty = false;
        } else if path.is_dir()
            && path
                .extension()
                .is_some_and(|ext| ext == "idx" || ext == "tmp")
        {
            tracing::info!(path = %path.display(), "deleting an index directory the manifest does not list");
            fs::remove_dir_all(&path).map_err(|error| StorageError::io(&path, error))?;
        } else if path.is_dir() {
            if remove_unlisted(&path, live)? {
                if let Err(error) = fs::remove_dir(&path) {
                    tracing::debug!(%error, path = %path.display(), "could not remove an empty directory");
                    empty = false;
                }
            } else {
                empty = false;
            }
        } else {
            tracing::info!(path = %path.display(), "deleting a file the manifest does not list");
            fs::remove_file(&path).map_err(|error| StorageError::io(&path, error))?;
        }
    }
    Ok(empty)
}

/// Loads a spans file's sidecar, rebuilding it from the Parquet file when it is damaged.
fn load_trace_index(data_dir: &Path, file: &FileEntry) -> Result<FileTraceIndex, StorageError> {
    if let Some(relative) = &file.trace_index_path {
        let path = data_dir.join(relative);
        match fs::read(&path) {
            Ok(bytes) => {
                if let Some(index) = FileTraceIndex::decode(&bytes) {
                    return Ok(index);
                }
                tracing::warn!(path = %path.display(), "trace-id sidecar is damaged; rebuilding it");
            }
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "trace-id sidecar is unreadable; rebuilding it");
            }
        }
    }
    let batches = read_segment(&data_dir.join(&file.path))?;
    let index = FileTraceIndex::from_batches(&batches);
    if let Some(relative) = &file.trace_index_path {
        let path = data_dir.join(relative);
        let tmp = data_dir.join(format!("{relative}.tmp"));
        write_file_durably(&tmp, &index.encode())?;
        fs::rename(&tmp, &path).map_err(|error| StorageError::io(&path, error))?;
    }
    Ok(index)
}

/// Takes an exclusive lock on `<data_dir>/lock`; a second daemon on the same directory would
/// interleave WAL segments and manifests, so it is refused at start.
fn lock_directory(data_dir: &std::path::Path) -> Result<fs::File, StorageError> {
    let path = data_dir.join("lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| StorageError::io(&path, error))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StorageError::Locked { path }),
        Err(fs::TryLockError::Error(error)) => Err(StorageError::io(&path, error)),
    }
}
