//! The background loop: periodic and size-triggered flushes, compaction, retention and
//! deferred file deletion; a final flush on shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::StorageError;
use crate::engine::Engine;

/// How often compaction, retention and deferred deletes run at most.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);

impl Engine {
    pub(crate) async fn run_background(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), StorageError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut flush_timer = tokio::time::interval(self.config.flush_interval);
        flush_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        flush_timer.tick().await;
        let mut maintenance_timer =
            tokio::time::interval(MAINTENANCE_INTERVAL.min(self.config.flush_interval * 6));
        maintenance_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = flush_timer.tick() => self.flush_logged().await,
                () = self.flush_wanted.notified() => {
                    self.flush_logged().await;
                    flush_timer.reset();
                }
                _ = maintenance_timer.tick() => self.maintain().await,
            }
        }
        tracing::info!("storage shutting down; flushing the in-memory tail");
        self.flush_all().await
    }

    async fn flush_logged(&self) {
        if let Err(error) = self.flush_all().await {
            tracing::warn!(%error, "background flush failed");
        }
    }

    async fn maintain(&self) {
        if let Err(error) = self.compact(self.config.compaction_min_files, None).await {
            tracing::warn!(%error, "background compaction failed");
        }
        if let Err(error) = self.enforce_retention().await {
            tracing::warn!(%error, "retention failed");
        }
        self.delete_expired_files();
    }
}
