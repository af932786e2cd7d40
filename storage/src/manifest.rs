//! The manifest: the catalog of live Parquet files and the WAL checkpoint.
//!
//! A file exists for readers if and only if the manifest lists it. The manifest is replaced
//! atomically (write a temporary file, fsync, rename, fsync the directory), so every crash
//! leaves either the old or the new catalog.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use lookout_model::{Signal, TenantId};
use serde::{Deserialize, Serialize};

use crate::StorageError;
use crate::wal::sync_dir;

/// Name of the manifest inside the data directory.
pub(crate) const MANIFEST_FILE: &str = "manifest.json";
const MANIFEST_VERSION: u32 = 1;

/// One live Parquet file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Owner of the rows.
    pub tenant: TenantId,
    /// Which table the rows belong to.
    pub signal: Signal,
    /// Start of the hour partition, Unix seconds.
    pub hour_unix_secs: i64,
    /// Path relative to the data directory, with `/` separators.
    pub path: String,
    /// Number of rows.
    pub rows: u64,
    /// Size of the file.
    pub size_bytes: u64,
    /// Smallest event time in the file, Unix nanoseconds.
    pub min_time_unix_nanos: i64,
    /// Largest event time in the file, Unix nanoseconds.
    pub max_time_unix_nanos: i64,
    /// The trace-id sidecar (spans only), relative to the data directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_index_path: Option<String>,
    /// The full-text index directory (logs and spans), relative to the data directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_index_path: Option<String>,
    /// The RED rollups of the file's spans (spans only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_rollups: Option<RollupSidecar>,
}

/// A spans file's `span_rollups` sidecar: the rollups of exactly the spans in that file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupSidecar {
    /// Path relative to the data directory.
    pub path: String,
    /// Earliest rollup minute in the sidecar, Unix nanoseconds.
    pub min_minute_unix_nanos: i64,
    /// Latest rollup minute in the sidecar, Unix nanoseconds.
    pub max_minute_unix_nanos: i64,
}

impl FileEntry {
    /// The partition this file belongs to.
    pub fn partition(&self) -> PartitionKey {
        PartitionKey {
            tenant: self.tenant.clone(),
            signal: self.signal,
            hour_unix_secs: self.hour_unix_secs,
        }
    }
}

/// Tenant, signal and hour: the unit of compaction and retention.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    /// Owner.
    pub tenant: TenantId,
    /// Table.
    pub signal: Signal,
    /// Start of the hour, Unix seconds.
    pub hour_unix_secs: i64,
}

/// The catalog.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// Every WAL segment with an id up to this one is fully contained in listed files.
    pub wal_checkpoint_segment: Option<u64>,
    /// Live files.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// Loads the manifest of `data_dir`; an absent manifest is an empty store.
    pub(crate) fn load(data_dir: &Path) -> Result<Self, StorageError> {
        let path = data_dir.join(MANIFEST_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    version: MANIFEST_VERSION,
                    ..Self::default()
                });
            }
            Err(error) => return Err(StorageError::io(&path, error)),
        };
        serde_json::from_slice(&bytes).map_err(|error| StorageError::Corrupt {
            path,
            reason: format!("manifest is not valid: {error}"),
        })
    }

    /// Atomically replaces the manifest of `data_dir` with `self`.
    pub(crate) fn store(&self, data_dir: &Path) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(self).map_err(|error| {
            StorageError::Internal(format!("failed to encode manifest: {error}"))
        })?;
        let final_path = data_dir.join(MANIFEST_FILE);
        let tmp_path = data_dir.join(format!("{MANIFEST_FILE}.tmp"));
        write_file_durably(&tmp_path, &bytes)?;
        fs::rename(&tmp_path, &final_path).map_err(|error| StorageError::io(&final_path, error))?;
        sync_dir(data_dir)
    }

    /// A copy with `removed` dropped and `added` appended.
    pub(crate) fn with_changes(&self, removed: &[FileEntry], added: &[FileEntry]) -> Self {
        let mut next = self.clone();
        next.version = MANIFEST_VERSION;
        next.files
            .retain(|file| !removed.iter().any(|gone| gone.path == file.path));
        next.files.extend(added.iter().cloned());
        next
    }
}

/// Writes `bytes` to `path` and fsyncs the file (not its directory).
pub(crate) fn write_file_durably(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let mut file = fs::File::create(path).map_err(|error| StorageError::io(path, error))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|error| StorageError::io(path, error))
}

/// Absolute path of a manifest-relative path.
pub(crate) fn absolute(data_dir: &Path, relative: &str) -> PathBuf {
    data_dir.join(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap().files.len(), 0);
        let entry = FileEntry {
            tenant: TenantId::default_tenant(),
            signal: Signal::Logs,
            hour_unix_secs: 3600,
            path: "tenants/default/logs/1970-01-01/01/a.parquet".into(),
            rows: 3,
            size_bytes: 100,
            min_time_unix_nanos: 1,
            max_time_unix_nanos: 2,
            trace_index_path: None,
            search_index_path: None,
            span_rollups: None,
        };
        let manifest = Manifest::default().with_changes(&[], std::slice::from_ref(&entry));
        manifest.store(dir.path()).unwrap();
        let loaded = Manifest::load(dir.path()).unwrap();
        assert_eq!(loaded, manifest);
        assert!(loaded.with_changes(&[entry], &[]).files.is_empty());
        fs::write(dir.path().join(MANIFEST_FILE), b"{not json").unwrap();
        assert!(matches!(
            Manifest::load(dir.path()),
            Err(StorageError::Corrupt { .. })
        ));
    }
}
