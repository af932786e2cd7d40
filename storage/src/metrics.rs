//! Self-telemetry of the storage engine, registered into the daemon's Prometheus registry.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Every storage metric. Counters get their `_total` suffix from the encoder.
#[derive(Debug)]
pub(crate) struct StorageMetrics {
    /// `lookout_wal_sync_duration_seconds`.
    pub(crate) wal_sync_duration_seconds: Histogram,
    /// `lookout_wal_syncs_total`.
    pub(crate) wal_syncs: Counter,
    /// `lookout_wal_replayed_records_total`.
    pub(crate) wal_replayed_records: Counter,
    /// `lookout_wal_truncated_bytes_total`.
    pub(crate) wal_truncated_bytes: Counter,
    /// `lookout_parquet_flush_duration_seconds`.
    pub(crate) parquet_flush_duration_seconds: Histogram,
    /// `lookout_parquet_files`.
    pub(crate) parquet_files: Gauge,
    /// `lookout_search_duration_seconds`.
    pub(crate) search_duration_seconds: Histogram,
    /// `lookout_storage_unflushed_bytes`.
    pub(crate) unflushed_bytes: Gauge,
    /// `lookout_storage_compactions_total`.
    pub(crate) compactions: Counter,
    /// `lookout_storage_retention_dropped_partitions_total`.
    pub(crate) retention_dropped_partitions: Counter,
    /// `lookout_storage_duplicate_points_dropped_total`.
    pub(crate) duplicate_points_dropped: Counter,
}

impl StorageMetrics {
    /// Creates the metrics and registers them.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            wal_sync_duration_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            wal_syncs: Counter::default(),
            wal_replayed_records: Counter::default(),
            wal_truncated_bytes: Counter::default(),
            parquet_flush_duration_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            parquet_files: Gauge::default(),
            search_duration_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            unflushed_bytes: Gauge::default(),
            compactions: Counter::default(),
            retention_dropped_partitions: Counter::default(),
            duplicate_points_dropped: Counter::default(),
        };
        registry.register(
            "lookout_wal_sync_duration_seconds",
            "Time spent in one WAL fdatasync (one group commit)",
            metrics.wal_sync_duration_seconds.clone(),
        );
        registry.register(
            "lookout_wal_syncs",
            "WAL group commits (fdatasync calls)",
            metrics.wal_syncs.clone(),
        );
        registry.register(
            "lookout_wal_replayed_records",
            "Records replayed from the WAL on open",
            metrics.wal_replayed_records.clone(),
        );
        registry.register(
            "lookout_wal_truncated_bytes",
            "Bytes of torn or corrupt WAL tails truncated on open or after a failed write",
            metrics.wal_truncated_bytes.clone(),
        );
        registry.register(
            "lookout_parquet_flush_duration_seconds",
            "Time to write the in-memory tail to Parquet and commit the manifest",
            metrics.parquet_flush_duration_seconds.clone(),
        );
        registry.register(
            "lookout_search_duration_seconds",
            "Time to run one full-text search (index lookups and row reads)",
            metrics.search_duration_seconds.clone(),
        );
        registry.register(
            "lookout_parquet_files",
            "Live Parquet files in the manifest",
            metrics.parquet_files.clone(),
        );
        registry.register(
            "lookout_storage_unflushed_bytes",
            "Bytes of records held in memory and not yet in Parquet",
            metrics.unflushed_bytes.clone(),
        );
        registry.register(
            "lookout_storage_compactions",
            "Partitions compacted into one file",
            metrics.compactions.clone(),
        );
        registry.register(
            "lookout_storage_retention_dropped_partitions",
            "Hour partitions dropped by retention",
            metrics.retention_dropped_partitions.clone(),
        );
        registry.register(
            "lookout_storage_duplicate_points_dropped",
            "Metric points dropped because an identical point was already stored",
            metrics.duplicate_points_dropped.clone(),
        );
        metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention() {
        let mut registry = Registry::default();
        let metrics = StorageMetrics::register(&mut registry);
        metrics.wal_syncs.inc();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for name in [
            "lookout_wal_sync_duration_seconds_bucket",
            "lookout_wal_syncs_total 1",
            "lookout_wal_replayed_records_total",
            "lookout_wal_truncated_bytes_total",
            "lookout_parquet_flush_duration_seconds_count",
            "lookout_parquet_files ",
            "lookout_storage_unflushed_bytes ",
            "lookout_storage_compactions_total",
            "lookout_storage_retention_dropped_partitions_total",
            "lookout_storage_duplicate_points_dropped_total",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }
}
