//! The write-ahead log: numbered segment files in `<data_dir>/wal/`, appended by one
//! dedicated thread that group-commits (many appends, one `fdatasync`).

mod frame;
mod writer;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use frame::{WalEntry, decode_segment, encode_frame};
pub(crate) use writer::{PendingAppend, Wal};

use crate::StorageError;
use crate::metrics::StorageMetrics;

/// A segment is rotated once it is larger than this.
pub(crate) const MAX_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Path of segment `id`.
pub(crate) fn segment_path(wal_dir: &Path, id: u64) -> PathBuf {
    wal_dir.join(format!("{id:020}.wal"))
}

/// Every segment in `wal_dir`, oldest first.
pub(crate) fn list_segments(wal_dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut segments = Vec::new();
    let entries = fs::read_dir(wal_dir).map_err(|error| StorageError::io(wal_dir, error))?;
    for entry in entries {
        let entry = entry.map_err(|error| StorageError::io(wal_dir, error))?;
        let path = entry.path();
        let id = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".wal"))
            .and_then(|stem| stem.parse::<u64>().ok());
        if let Some(id) = id {
            segments.push((id, path));
        }
    }
    segments.sort();
    Ok(segments)
}

/// What replay found.
pub(crate) struct Replay {
    /// Entries of every segment newer than the checkpoint, in write order.
    pub(crate) entries: Vec<WalEntry>,
    /// The id the next segment must get (greater than every existing one and the checkpoint).
    pub(crate) next_segment_id: u64,
}

/// Reads every segment newer than `checkpoint` (deleting older ones, already in Parquet),
/// truncating torn or corrupt tails to the last good frame.
pub(crate) fn replay(
    wal_dir: &Path,
    checkpoint: Option<u64>,
    metrics: &Arc<StorageMetrics>,
) -> Result<Replay, StorageError> {
    let mut entries = Vec::new();
    let mut highest = checkpoint.unwrap_or(0);
    for (id, path) in list_segments(wal_dir)? {
        highest = highest.max(id);
        if checkpoint.is_some_and(|checkpoint| id <= checkpoint) {
            fs::remove_file(&path).map_err(|error| StorageError::io(&path, error))?;
            continue;
        }
        let bytes = fs::read(&path).map_err(|error| StorageError::io(&path, error))?;
        let decoded = decode_segment(&bytes);
        if let Some(problem) = &decoded.problem {
            let truncated_bytes = (bytes.len() - decoded.valid_bytes) as u64;
            tracing::warn!(
                path = %path.display(),
                %problem,
                kept_bytes = decoded.valid_bytes,
                truncated_bytes,
                "truncating damaged wal segment to its last good frame"
            );
            let file = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|error| StorageError::io(&path, error))?;
            file.set_len(decoded.valid_bytes as u64)
                .and_then(|()| file.sync_all())
                .map_err(|error| StorageError::io(&path, error))?;
            metrics.wal_truncated_bytes.inc_by(truncated_bytes);
        }
        entries.extend(decoded.entries);
    }
    Ok(Replay {
        entries,
        next_segment_id: highest + 1,
    })
}

/// Makes a directory's entries (new or renamed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    fs::File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| StorageError::io(dir, error))
}
