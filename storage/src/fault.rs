//! Fault injection for crash-consistency tests: stop a flush or a compaction part-way, as a
//! `kill -9` at that point would.

/// Where a maintenance step stops, leaving the disk exactly as a crash there would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// New Parquet files are written and synced, the manifest is not replaced yet.
    AfterParquetWrite,
    /// The manifest is replaced, old WAL segments or input files are not deleted yet.
    AfterManifestReplace,
}
