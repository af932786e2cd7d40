//! The search index of a tail buffer: an in-memory tantivy index that catches up with the
//! buffer's batches when a search needs it, so acknowledged records are searchable at once
//! and ingest never waits for indexing. It is rebuilt from the WAL replay after a restart,
//! because the tail itself is.

use std::fmt;

use datafusion::arrow::record_batch::RecordBatch;
use lookout_model::Signal;
use parking_lot::Mutex;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument};

use super::document::{documents, fields};
use super::file_index::tantivy_error;
use crate::StorageError;

/// Indexer memory of one tail index (tantivy's minimum is 15 MB per thread).
const TAIL_WRITER_MEMORY_BYTES: usize = 16 * 1024 * 1024;

/// The lazily built index of one tail buffer.
#[derive(Default)]
pub(crate) struct TailSearchIndex {
    state: Mutex<Option<TailIndexState>>,
}

struct TailIndexState {
    writer: IndexWriter<TantivyDocument>,
    reader: IndexReader,
    indexed_batches: usize,
    indexed_rows: u64,
}

impl fmt::Debug for TailSearchIndex {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("TailSearchIndex")
    }
}

impl TailSearchIndex {
    /// A searcher covering at least `batches` (the buffer's batches as snapshotted; the
    /// buffer only ever appends, so they are a prefix of what may already be indexed).
    /// Blocks: call from a blocking thread.
    pub(crate) fn searcher(
        &self,
        signal: Signal,
        batches: &[RecordBatch],
    ) -> Result<Searcher, StorageError> {
        let mut guard = self.state.lock();
        if guard.is_none() {
            let index = Index::create_in_ram(fields().schema.clone());
            let writer = index
                .writer_with_num_threads(1, TAIL_WRITER_MEMORY_BYTES)
                .map_err(tantivy_error)?;
            let reader = index
                .reader_builder()
                .reload_policy(ReloadPolicy::Manual)
                .try_into()
                .map_err(tantivy_error)?;
            *guard = Some(TailIndexState {
                writer,
                reader,
                indexed_batches: 0,
                indexed_rows: 0,
            });
        }
        let state = guard.as_mut().expect("initialised above");
        match catch_up(state, signal, batches) {
            Ok(()) => Ok(state.reader.searcher()),
            Err(error) => {
                // Start over next time rather than keep a half-indexed batch.
                *guard = None;
                Err(error)
            }
        }
    }
}

fn catch_up(
    state: &mut TailIndexState,
    signal: Signal,
    batches: &[RecordBatch],
) -> Result<(), StorageError> {
    if state.indexed_batches >= batches.len() {
        return Ok(());
    }
    for batch in &batches[state.indexed_batches..] {
        let writer = &state.writer;
        documents(signal, batch, state.indexed_rows, &mut |doc| {
            writer.add_document(doc).map(|_| ()).map_err(tantivy_error)
        })?;
        state.indexed_rows += batch.num_rows() as u64;
    }
    state.indexed_batches = batches.len();
    state.writer.commit().map_err(tantivy_error)?;
    state.reader.reload().map_err(tantivy_error)?;
    Ok(())
}
