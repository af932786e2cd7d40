//! The `[storage]` table of `lookout.toml`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Storage settings, resolved into typed values.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    /// Root of everything on disk (WAL, Parquet, indexes).
    pub data_dir: PathBuf,
    /// How long spans are kept.
    pub retention_traces: Duration,
    /// How long log records are kept.
    pub retention_logs: Duration,
    /// How long metric points are kept.
    pub retention_metrics: Duration,
    /// The in-memory tail is written to Parquet at least this often.
    pub flush_interval: Duration,
    /// ... or as soon as it holds this many rows for one signal.
    pub flush_max_rows: usize,
    /// Appends are refused (503) while the unflushed tail holds more than this many bytes.
    pub max_unflushed_bytes: u64,
    /// Small Parquet files of a partition are merged once there are at least this many.
    pub compaction_min_files: usize,
}

impl StorageConfig {
    /// Defaults with the given data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let week = Duration::from_secs(7 * 24 * 3600);
        Self {
            data_dir: data_dir.into(),
            retention_traces: week,
            retention_logs: week,
            retention_metrics: week,
            flush_interval: Duration::from_secs(10),
            flush_max_rows: 200_000,
            max_unflushed_bytes: 256 * 1024 * 1024,
            compaction_min_files: 4,
        }
    }
}

/// `[storage]` as written in `lookout.toml`; every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageFileConfig {
    /// Days to keep spans.
    pub retention_traces_days: Option<u64>,
    /// Days to keep log records.
    pub retention_logs_days: Option<u64>,
    /// Days to keep metric points.
    pub retention_metrics_days: Option<u64>,
    /// Seconds between flushes of the in-memory tail.
    pub flush_interval_secs: Option<u64>,
    /// Rows per signal that trigger a flush.
    pub flush_max_rows: Option<usize>,
    /// Unflushed bytes above which appends are refused.
    pub max_unflushed_bytes: Option<u64>,
    /// Files per partition that trigger compaction.
    pub compaction_min_files: Option<usize>,
}

impl StorageFileConfig {
    /// Applies the file's values over the defaults for `data_dir`.
    pub fn resolve(&self, data_dir: PathBuf) -> Result<StorageConfig, String> {
        let mut config = StorageConfig::new(data_dir);
        let days = |d: u64| Duration::from_secs(d * 24 * 3600);
        if let Some(d) = self.retention_traces_days {
            config.retention_traces = days(d);
        }
        if let Some(d) = self.retention_logs_days {
            config.retention_logs = days(d);
        }
        if let Some(d) = self.retention_metrics_days {
            config.retention_metrics = days(d);
        }
        if let Some(s) = self.flush_interval_secs {
            if s == 0 {
                return Err("storage.flush_interval_secs must be at least 1".into());
            }
            config.flush_interval = Duration::from_secs(s);
        }
        if let Some(rows) = self.flush_max_rows {
            config.flush_max_rows = rows.max(1);
        }
        if let Some(bytes) = self.max_unflushed_bytes {
            config.max_unflushed_bytes = bytes;
        }
        if let Some(files) = self.compaction_min_files {
            config.compaction_min_files = files.max(2);
        }
        Ok(config)
    }
}
