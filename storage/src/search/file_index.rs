//! The search index of one Parquet file: a tantivy index directory `<file>.parquet.idx/`,
//! written next to the file before the manifest lists it and deleted with it.

use std::fs;
use std::path::Path;

use datafusion::arrow::record_batch::RecordBatch;
use lookout_model::Signal;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument};

use super::document::{documents, fields};
use crate::StorageError;
use crate::wal::sync_dir;

/// Memory the indexer may use before it writes a segment part.
const WRITER_MEMORY_BYTES: usize = 64 * 1024 * 1024;

/// The index directory of a Parquet file (relative path in, relative path out).
pub(crate) fn index_path_for(parquet_relative: &str) -> String {
    format!("{parquet_relative}.idx")
}

pub(crate) fn tantivy_error(error: tantivy::TantivyError) -> StorageError {
    StorageError::Internal(format!("search index: {error}"))
}

/// Builds the index of `batch` (rows in file order) into `dir` durably: a temporary
/// directory, fsync of every file, rename, fsync of the parent.
pub(crate) fn write_file_index(
    dir: &Path,
    signal: Signal,
    batch: &RecordBatch,
) -> Result<(), StorageError> {
    let parent = dir
        .parent()
        .ok_or_else(|| StorageError::Internal("search index path has no parent".into()))?;
    let file_name = dir
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| StorageError::Internal("search index path has no name".into()))?;
    let tmp = parent.join(format!("{file_name}.tmp"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|error| StorageError::io(&tmp, error))?;
    }
    fs::create_dir_all(&tmp).map_err(|error| StorageError::io(&tmp, error))?;
    build_index_in(&tmp, signal, batch)?;
    for entry in fs::read_dir(&tmp).map_err(|error| StorageError::io(&tmp, error))? {
        let path = entry.map_err(|error| StorageError::io(&tmp, error))?.path();
        let file = fs::File::open(&path).map_err(|error| StorageError::io(&path, error))?;
        file.sync_all()
            .map_err(|error| StorageError::io(&path, error))?;
    }
    sync_dir(&tmp)?;
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|error| StorageError::io(dir, error))?;
    }
    fs::rename(&tmp, dir).map_err(|error| StorageError::io(dir, error))?;
    sync_dir(parent)
}

fn build_index_in(dir: &Path, signal: Signal, batch: &RecordBatch) -> Result<(), StorageError> {
    let index = Index::create_in_dir(dir, fields().schema.clone()).map_err(tantivy_error)?;
    let mut writer: IndexWriter<TantivyDocument> = index
        .writer_with_num_threads(1, WRITER_MEMORY_BYTES)
        .map_err(tantivy_error)?;
    documents(signal, batch, 0, &mut |doc| {
        writer.add_document(doc).map(|_| ()).map_err(tantivy_error)
    })?;
    writer.commit().map_err(tantivy_error)?;
    writer.wait_merging_threads().map_err(tantivy_error)?;
    Ok(())
}

/// Opens the index in `dir` for searching.
pub(crate) fn open_file_index(dir: &Path) -> Result<IndexReader, StorageError> {
    let index = Index::open_in_dir(dir).map_err(tantivy_error)?;
    index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(tantivy_error)
}
