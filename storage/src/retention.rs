//! Retention: drop whole hour partitions older than their signal's retention.

use std::collections::BTreeSet;
use std::time::Duration;

use lookout_model::Signal;

use crate::engine::Engine;
use crate::manifest::FileEntry;
use crate::partition::{HOUR_SECS, now_unix_nanos};
use crate::{StorageConfig, StorageError};

/// How long a signal's records are kept.
pub(crate) fn retention_for(config: &StorageConfig, signal: Signal) -> Duration {
    match signal {
        Signal::Traces => config.retention_traces,
        Signal::Logs => config.retention_logs,
        Signal::Metrics => config.retention_metrics,
    }
}

/// Whether a partition starting at `hour_unix_secs` ends before `now - retention`.
pub(crate) fn is_expired(hour_unix_secs: i64, retention: Duration, now_unix_secs: i64) -> bool {
    let retention_secs = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    hour_unix_secs.saturating_add(HOUR_SECS) <= now_unix_secs.saturating_sub(retention_secs)
}

impl Engine {
    /// Drops expired partitions; returns how many were dropped.
    pub(crate) async fn enforce_retention(&self) -> Result<usize, StorageError> {
        let _maintenance = self.maintenance.lock().await;
        let now_unix_secs = now_unix_nanos() / 1_000_000_000;
        let manifest = self.shared.state.lock().manifest.clone();
        let expired: Vec<FileEntry> = manifest
            .files
            .iter()
            .filter(|file| {
                is_expired(
                    file.hour_unix_secs,
                    retention_for(&self.config, file.signal),
                    now_unix_secs,
                )
            })
            .cloned()
            .collect();
        if expired.is_empty() {
            return Ok(0);
        }
        let partitions: BTreeSet<_> = expired.iter().map(FileEntry::partition).collect();
        let next = manifest.with_changes(&expired, &[]);
        {
            let data_dir = self.shared.data_dir.clone();
            let next = next.clone();
            tokio::task::spawn_blocking(move || next.store(&data_dir))
                .await
                .map_err(|error| {
                    StorageError::Internal(format!("manifest task failed: {error}"))
                })??;
        }
        self.install_manifest(next, &expired, Vec::new(), &[]);
        self.schedule_deletion(&expired);
        self.metrics
            .retention_dropped_partitions
            .inc_by(partitions.len() as u64);
        tracing::info!(
            partitions = partitions.len(),
            files = expired.len(),
            "dropped partitions past retention"
        );
        Ok(partitions.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_by_whole_hour() {
        let day = Duration::from_secs(86_400);
        let now = 10 * 86_400;
        let cases = [
            (now - 86_400 - HOUR_SECS, true),
            (now - 86_400 - HOUR_SECS + 1, false),
            (now - 3_600, false),
            (0, true),
        ];
        for (hour, expected) in cases {
            assert_eq!(is_expired(hour, day, now), expected, "hour {hour}");
        }
    }
}
