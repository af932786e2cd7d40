//! The WAL writer thread: drains pending appends, writes them, syncs once, inserts their
//! rows into the in-memory tail, then answers every waiter.
//!
//! A std thread rather than a tokio task because `fdatasync` blocks for milliseconds. The
//! thread also seals the tail when it rotates a segment for a flush: both happen at the same
//! point of the command order, so a sealed segment holds exactly the sealed tail's records
//! (plus older, already flushed ones), and a caller that gives up waiting cannot leave a
//! record in the WAL but not in the tail.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use datafusion::arrow::record_batch::RecordBatch;
use lookout_model::{Signal, TenantId};
use tokio::sync::oneshot;

use super::{MAX_SEGMENT_BYTES, segment_path, sync_dir};
use crate::StorageError;
use crate::engine::Shared;
use crate::metrics::StorageMetrics;
use crate::rollups::SpanRollups;
use crate::tail::TailGeneration;

/// Appends are grouped until a group holds this many bytes.
const MAX_GROUP_BYTES: usize = 16 * 1024 * 1024;

/// One append on its way to the WAL and the tail.
pub(crate) struct PendingAppend {
    /// The encoded WAL frame.
    pub(crate) frame: Vec<u8>,
    /// Owner of the records.
    pub(crate) tenant: TenantId,
    /// Table of the records.
    pub(crate) signal: Signal,
    /// The records as rows.
    pub(crate) batch: RecordBatch,
    /// For spans: their RED rollups, added to the tail with the rows.
    pub(crate) rollups: Option<SpanRollups>,
}

/// The tail after an append: what the caller needs to decide on a flush.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendOutcome {
    /// Rows buffered for the append's (tenant, signal).
    pub(crate) buffered_rows: usize,
    /// Bytes not yet in Parquet.
    pub(crate) unflushed_bytes: u64,
    /// The append's sequence number (see `State::append_seq`).
    pub(crate) seq: u64,
}

/// What a seal hands to the flush: the sealed segment and every sealed generation.
pub(crate) struct Sealed {
    /// Segments up to this id hold only records of `generations` or older flushed ones.
    pub(crate) segment_id: u64,
    /// The generations to write.
    pub(crate) generations: Vec<Arc<TailGeneration>>,
}

type AppendWaiter = oneshot::Sender<Result<AppendOutcome, StorageError>>;

enum Command {
    Append {
        append: PendingAppend,
        done: AppendWaiter,
    },
    Seal {
        done: oneshot::Sender<Result<Option<Sealed>, StorageError>>,
    },
}

/// Handle to the WAL writer thread. Dropping it stops the thread after pending work.
pub(crate) struct Wal {
    sender: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl Wal {
    /// Starts a new segment `first_segment_id` and the writer thread.
    pub(crate) fn start(
        wal_dir: PathBuf,
        first_segment_id: u64,
        shared: Arc<Shared>,
        metrics: Arc<StorageMetrics>,
    ) -> Result<Self, StorageError> {
        let segment = Segment::create(&wal_dir, first_segment_id)?;
        let (sender, receiver) = mpsc::channel();
        let mut writer = WriterThread {
            wal_dir,
            segment,
            poisoned: None,
            shared,
            metrics,
        };
        let thread = std::thread::Builder::new()
            .name("lookout-wal".into())
            .spawn(move || writer.run(&receiver))
            .map_err(|error| StorageError::io("wal writer thread", error))?;
        Ok(Self {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Writes and syncs one frame, then adds its rows to the tail; returns once both are
    /// done. Dropping the future early does not undo or skip either step.
    pub(crate) async fn append(
        &self,
        append: PendingAppend,
    ) -> Result<AppendOutcome, StorageError> {
        let (done, answer) = oneshot::channel();
        self.send(Command::Append { append, done })?;
        answer.await.map_err(|_| StorageError::ShuttingDown)?
    }

    /// Rotates to a new segment and seals the tail at the same point; `None` when nothing
    /// is buffered (no rotation then).
    pub(crate) async fn seal(&self) -> Result<Option<Sealed>, StorageError> {
        let (done, answer) = oneshot::channel();
        self.send(Command::Seal { done })?;
        answer.await.map_err(|_| StorageError::ShuttingDown)?
    }

    fn send(&self, command: Command) -> Result<(), StorageError> {
        self.sender
            .as_ref()
            .ok_or(StorageError::ShuttingDown)?
            .send(command)
            .map_err(|_| StorageError::ShuttingDown)
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("wal writer thread panicked");
        }
    }
}

struct Segment {
    id: u64,
    path: PathBuf,
    file: File,
    len_bytes: u64,
}

impl Segment {
    fn create(wal_dir: &Path, id: u64) -> Result<Self, StorageError> {
        let path = segment_path(wal_dir, id);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|error| StorageError::io(&path, error))?;
        let len_bytes = file
            .metadata()
            .map_err(|error| StorageError::io(&path, error))?
            .len();
        sync_dir(wal_dir)?;
        Ok(Self {
            id,
            path,
            file,
            len_bytes,
        })
    }
}

struct WriterThread {
    wal_dir: PathBuf,
    segment: Segment,
    /// Set when a failed write could not be rolled back: the file's end is unknown, so
    /// nothing more may be appended to it.
    poisoned: Option<String>,
    shared: Arc<Shared>,
    metrics: Arc<StorageMetrics>,
}

/// Appends written together.
#[derive(Default)]
struct Group {
    bytes: Vec<u8>,
    appends: Vec<(
        TenantId,
        Signal,
        RecordBatch,
        Option<SpanRollups>,
        AppendWaiter,
    )>,
}

impl WriterThread {
    fn run(&mut self, receiver: &mpsc::Receiver<Command>) {
        while let Ok(first) = receiver.recv() {
            let mut group = Group::default();
            let mut next = Some(first);
            while let Some(command) = next.take().or_else(|| receiver.try_recv().ok()) {
                match command {
                    Command::Append { append, done } => {
                        group.bytes.extend_from_slice(&append.frame);
                        group.appends.push((
                            append.tenant,
                            append.signal,
                            append.batch,
                            append.rollups,
                            done,
                        ));
                        if group.bytes.len() >= MAX_GROUP_BYTES {
                            self.commit(std::mem::take(&mut group));
                        }
                    }
                    Command::Seal { done } => {
                        self.commit(std::mem::take(&mut group));
                        // The waiter may have given up; the sealed generations then stay
                        // sealed and the next flush writes them.
                        let _ = done.send(self.seal());
                    }
                }
            }
            self.commit(group);
            if self.segment.len_bytes >= MAX_SEGMENT_BYTES
                && let Err(error) = self.rotate()
            {
                tracing::warn!(%error, "failed to rotate a full wal segment");
            }
        }
    }

    /// Writes the group, syncs once, adds the rows to the tail, answers every waiter.
    fn commit(&mut self, group: Group) {
        if group.appends.is_empty() {
            return;
        }
        if let Err(error) = self.write_and_sync(&group.bytes) {
            for (_, _, _, _, waiter) in group.appends {
                let _ = waiter.send(Err(clone_error(&self.segment.path, &error)));
            }
            return;
        }
        let mut answers = Vec::with_capacity(group.appends.len());
        let unflushed_bytes = {
            let mut state = self.shared.state.lock();
            for (tenant, signal, batch, rollups, waiter) in group.appends {
                if let Some(rollups) = rollups {
                    state.tail.add_rollups(&tenant, rollups);
                }
                let buffered_rows = state.tail.insert(&tenant, signal, batch);
                state.append_seq += 1;
                answers.push((waiter, buffered_rows, state.append_seq));
            }
            state.tail.unflushed_bytes()
        };
        self.metrics
            .unflushed_bytes
            .set(i64::try_from(unflushed_bytes).unwrap_or(i64::MAX));
        for (waiter, buffered_rows, seq) in answers {
            let _ = waiter.send(Ok(AppendOutcome {
                buffered_rows,
                unflushed_bytes,
                seq,
            }));
        }
    }

    /// Rotates and seals the tail, unless nothing is buffered.
    fn seal(&mut self) -> Result<Option<Sealed>, StorageError> {
        if self.shared.state.lock().tail.is_empty() {
            return Ok(None);
        }
        let segment_id = self.rotate()?;
        let generations = self.shared.state.lock().tail.seal();
        Ok(Some(Sealed {
            segment_id,
            generations,
        }))
    }

    fn write_and_sync(&mut self, bytes: &[u8]) -> Result<(), std::io::Error> {
        if let Some(reason) = &self.poisoned {
            return Err(std::io::Error::other(reason.clone()));
        }
        let start_len = self.segment.len_bytes;
        let started = Instant::now();
        let written = self
            .segment
            .file
            .write_all(bytes)
            .and_then(|()| self.segment.file.sync_data());
        match written {
            Ok(()) => {
                self.metrics
                    .wal_sync_duration_seconds
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.wal_syncs.inc();
                self.segment.len_bytes += bytes.len() as u64;
                Ok(())
            }
            Err(error) => {
                self.roll_back(start_len, &error);
                Err(error)
            }
        }
    }

    /// Cuts a partly written group off so later frames follow the last good one.
    fn roll_back(&mut self, good_len: u64, cause: &std::io::Error) {
        let current = self
            .segment
            .file
            .metadata()
            .map(|meta| meta.len())
            .unwrap_or(good_len);
        let result = self
            .segment
            .file
            .set_len(good_len)
            .and_then(|()| self.segment.file.sync_all());
        match result {
            Ok(()) => {
                self.metrics
                    .wal_truncated_bytes
                    .inc_by(current.saturating_sub(good_len));
                tracing::warn!(error = %cause, path = %self.segment.path.display(), "wal write failed; rolled back the partial group");
            }
            Err(error) => {
                tracing::error!(%error, path = %self.segment.path.display(), "failed to roll back a failed wal write; refusing further appends");
                self.poisoned = Some(format!(
                    "wal segment could not be rolled back after a failed write: {error}"
                ));
            }
        }
    }

    fn rotate(&mut self) -> Result<u64, StorageError> {
        let next = Segment::create(&self.wal_dir, self.segment.id + 1)?;
        let sealed = std::mem::replace(&mut self.segment, next);
        // A fresh segment has a known end, so appends may resume.
        self.poisoned = None;
        Ok(sealed.id)
    }
}

fn clone_error(path: &Path, error: &std::io::Error) -> StorageError {
    StorageError::io(path, std::io::Error::new(error.kind(), error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StorageError;

    #[test]
    fn queued_appends_share_one_sync() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Arc::new(StorageMetrics::register(&mut registry));
        let shared = Arc::new(Shared {
            data_dir: dir.path().to_owned(),
            state: Default::default(),
            search_indexes: Default::default(),
        });
        let tenant = TenantId::default_tenant();
        let batch = crate::rows::logs_to_batch(&Default::default()).unwrap();
        let (sender, receiver) = mpsc::channel();
        let mut answers = Vec::new();
        for i in 0..50u8 {
            let (done, answer) = oneshot::channel();
            let append = PendingAppend {
                frame: vec![i; 10],
                tenant: tenant.clone(),
                signal: Signal::Logs,
                batch: batch.clone(),
                rollups: None,
            };
            sender.send(Command::Append { append, done }).unwrap();
            answers.push(answer);
        }
        let (done, sealed) = oneshot::channel();
        sender.send(Command::Seal { done }).unwrap();
        drop(sender);
        let mut writer = WriterThread {
            wal_dir: dir.path().to_owned(),
            segment: Segment::create(dir.path(), 7).unwrap(),
            poisoned: None,
            shared: shared.clone(),
            metrics: metrics.clone(),
        };
        writer.run(&receiver);
        for mut answer in answers {
            assert!(matches!(answer.try_recv(), Ok(Ok(_))));
        }
        assert_eq!(metrics.wal_syncs.get(), 1);
        let sealed = sealed.blocking_recv().unwrap().unwrap().unwrap();
        assert_eq!(sealed.segment_id, 7);
        assert_eq!(sealed.generations.len(), 1);
        assert_eq!(sealed.generations[0].buffers.len(), 1);
        let first = std::fs::read(segment_path(dir.path(), 7)).unwrap();
        assert_eq!(first.len(), 500);
        assert_eq!(&first[490..], &[49u8; 10]);
        assert_eq!(writer.segment.id, 8);
    }

    #[test]
    fn a_full_disk_fails_the_append_and_a_new_segment_recovers() {
        let dev_full = std::path::Path::new("/dev/full");
        if !dev_full.exists() {
            return; // Only Linux offers a device that always reports a full disk.
        }
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(dev_full, segment_path(dir.path(), 1)).unwrap();
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Arc::new(StorageMetrics::register(&mut registry));
        let shared = Arc::new(Shared {
            data_dir: dir.path().to_owned(),
            state: Default::default(),
            search_indexes: Default::default(),
        });
        let mut writer = WriterThread {
            wal_dir: dir.path().to_owned(),
            segment: Segment::create(dir.path(), 1).unwrap(),
            poisoned: None,
            shared: shared.clone(),
            metrics,
        };
        let batch = crate::rows::logs_to_batch(&Default::default()).unwrap();
        let mut group = Group::default();
        let (done, mut answer) = oneshot::channel();
        group.bytes = vec![1; 64];
        group.appends.push((
            TenantId::default_tenant(),
            Signal::Logs,
            batch.clone(),
            None,
            done,
        ));
        writer.commit(group);
        let error = answer.try_recv().unwrap().unwrap_err();
        assert!(matches!(error, StorageError::DiskFull { .. }), "{error}");
        assert!(
            shared.state.lock().tail.is_empty(),
            "nothing reached the tail"
        );

        writer.rotate().unwrap();
        let mut group = Group::default();
        let (done, mut answer) = oneshot::channel();
        group.bytes = vec![2; 64];
        group
            .appends
            .push((TenantId::default_tenant(), Signal::Logs, batch, None, done));
        writer.commit(group);
        assert!(matches!(answer.try_recv(), Ok(Ok(_))));
        assert_eq!(
            std::fs::read(segment_path(dir.path(), 2)).unwrap(),
            vec![2; 64]
        );
    }
}
