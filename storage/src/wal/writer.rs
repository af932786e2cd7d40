//! The WAL writer thread: drains pending appends, writes them, syncs once, answers all.
//!
//! A std thread rather than a tokio task because `fdatasync` blocks for milliseconds.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use super::{MAX_SEGMENT_BYTES, segment_path, sync_dir};
use crate::StorageError;
use crate::metrics::StorageMetrics;

/// Appends are grouped until a group holds this many bytes.
const MAX_GROUP_BYTES: usize = 16 * 1024 * 1024;

enum Command {
    Append {
        frame: Vec<u8>,
        done: oneshot::Sender<Result<(), StorageError>>,
    },
    Rotate {
        done: oneshot::Sender<Result<u64, StorageError>>,
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
        metrics: Arc<StorageMetrics>,
    ) -> Result<Self, StorageError> {
        let segment = Segment::create(&wal_dir, first_segment_id)?;
        let (sender, receiver) = mpsc::channel();
        let mut writer = WriterThread {
            wal_dir,
            segment,
            poisoned: None,
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

    /// Writes and syncs one frame; returns once it is durable.
    pub(crate) async fn append(&self, frame: Vec<u8>) -> Result<(), StorageError> {
        let (done, answer) = oneshot::channel();
        self.send(Command::Append { frame, done })?;
        answer.await.map_err(|_| StorageError::ShuttingDown)?
    }

    /// Seals the current segment and starts the next; returns the sealed segment's id.
    pub(crate) async fn rotate(&self) -> Result<u64, StorageError> {
        let (done, answer) = oneshot::channel();
        self.send(Command::Rotate { done })?;
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
    metrics: Arc<StorageMetrics>,
}

type Waiter = oneshot::Sender<Result<(), StorageError>>;

impl WriterThread {
    fn run(&mut self, receiver: &mpsc::Receiver<Command>) {
        while let Ok(first) = receiver.recv() {
            let mut group_bytes = Vec::new();
            let mut waiters: Vec<Waiter> = Vec::new();
            let mut next = Some(first);
            while let Some(command) = next.take().or_else(|| receiver.try_recv().ok()) {
                match command {
                    Command::Append { frame, done } => {
                        group_bytes.extend_from_slice(&frame);
                        waiters.push(done);
                        if group_bytes.len() >= MAX_GROUP_BYTES {
                            self.commit(&mut group_bytes, &mut waiters);
                        }
                    }
                    Command::Rotate { done } => {
                        self.commit(&mut group_bytes, &mut waiters);
                        // The waiter may have given up; nothing to do then.
                        let _ = done.send(self.rotate());
                    }
                }
            }
            self.commit(&mut group_bytes, &mut waiters);
            if self.segment.len_bytes >= MAX_SEGMENT_BYTES
                && let Err(error) = self.rotate()
            {
                tracing::warn!(%error, "failed to rotate a full wal segment");
            }
        }
    }

    /// Writes the group, syncs once, answers every waiter with the same outcome.
    fn commit(&mut self, group_bytes: &mut Vec<u8>, waiters: &mut Vec<Waiter>) {
        if waiters.is_empty() {
            return;
        }
        let outcome = self.write_and_sync(group_bytes);
        for waiter in waiters.drain(..) {
            let answer = match &outcome {
                Ok(()) => Ok(()),
                Err(error) => Err(clone_error(&self.segment.path, error)),
            };
            let _ = waiter.send(answer);
        }
        group_bytes.clear();
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
