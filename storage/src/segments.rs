//! Parquet segment files: hour splitting, row ordering, durable writes and reads.
//!
//! Everything here blocks (file IO, zstd); callers run it in `spawn_blocking`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, TimestampNanosecondArray, UInt32Array};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use lookout_model::{Signal, TenantId};

use crate::StorageError;
use crate::manifest::{FileEntry, RollupSidecar, absolute, write_file_durably};
use crate::partition::{hour_start_unix_secs, partition_dir, unique_file_stem};
use crate::rollups::{SpanRollups, write_sidecar};
use crate::rows::arrow_error;
use crate::schema::{event_time_column, schema_for};
use crate::trace_index::FileTraceIndex;
use crate::wal::sync_dir;

/// Rows per Parquet row group: small enough for useful min/max pruning.
const ROW_GROUP_ROWS: usize = 64 * 1024;

/// A written segment: its catalog entry and, for spans, its trace-id index.
pub(crate) struct WrittenSegment {
    /// The catalog entry (not yet in the manifest).
    pub(crate) entry: FileEntry,
    /// The trace-id index of a spans file.
    pub(crate) trace_index: Option<Arc<FileTraceIndex>>,
}

/// The event-time column of a batch.
pub(crate) fn event_times(
    signal: Signal,
    batch: &RecordBatch,
) -> Option<&TimestampNanosecondArray> {
    batch
        .column_by_name(event_time_column(signal))
        .and_then(|column| column.as_any().downcast_ref::<TimestampNanosecondArray>())
}

/// Concatenates `batches` and splits the rows by hour of event time.
pub(crate) fn split_by_hour(
    signal: Signal,
    batches: &[RecordBatch],
) -> Result<Vec<(i64, RecordBatch)>, StorageError> {
    let schema = schema_for(signal);
    let all = concat_batches(&schema, batches).map_err(arrow_error)?;
    let times = event_times(signal, &all)
        .ok_or_else(|| StorageError::Internal("batch lacks its event time column".into()))?;
    let mut rows_by_hour: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for row in 0..all.num_rows() {
        let hour = hour_start_unix_secs(times.value(row));
        rows_by_hour
            .entry(hour)
            .or_default()
            .push(u32::try_from(row).unwrap_or(u32::MAX));
    }
    if rows_by_hour.len() == 1 {
        return Ok(rows_by_hour
            .into_keys()
            .map(|hour| (hour, all.clone()))
            .collect());
    }
    rows_by_hour
        .into_iter()
        .map(|(hour, rows)| {
            let batch = take_record_batch(&all, &UInt32Array::from(rows)).map_err(arrow_error)?;
            Ok((hour, batch))
        })
        .collect()
}

/// Orders rows as the signal's files are sorted: spans by (trace_id, start_time), logs by
/// (service_name, timestamp), metrics by (metric_name, timestamp).
pub(crate) fn sort_rows(signal: Signal, batch: &RecordBatch) -> Result<RecordBatch, StorageError> {
    let key_columns = match signal {
        Signal::Traces => ["trace_id", "start_time"],
        Signal::Logs => ["service_name", "timestamp"],
        Signal::Metrics => ["metric_name", "timestamp"],
    };
    let sort_columns = key_columns
        .iter()
        .map(|name| {
            let values = batch
                .column_by_name(name)
                .ok_or_else(|| StorageError::Internal(format!("sort column `{name}` missing")))?
                .clone();
            Ok(SortColumn {
                values,
                options: None,
            })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    let indices = lexsort_to_indices(&sort_columns, None).map_err(arrow_error)?;
    take_record_batch(batch, &indices).map_err(arrow_error)
}

fn writer_properties(signal: Signal) -> WriterProperties {
    let zstd = ZstdLevel::try_new(3).unwrap_or_default();
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    if signal == Signal::Traces {
        builder = builder.set_column_bloom_filter_enabled(ColumnPath::from("trace_id"), true);
    }
    builder.build()
}

/// Writes one sorted hour of rows as a new Parquet file (and its trace sidecar), durably:
/// temporary file, fsync, rename, fsync of the directories. The file is not yet live.
pub(crate) fn write_segment(
    data_dir: &Path,
    tenant: &TenantId,
    signal: Signal,
    hour_unix_secs: i64,
    batch: &RecordBatch,
) -> Result<WrittenSegment, StorageError> {
    let sorted = sort_rows(signal, batch)?;
    let relative_dir = partition_dir(tenant, signal, hour_unix_secs);
    let dir = absolute(data_dir, &relative_dir);
    create_dir_durably(data_dir, &dir)?;
    let stem = unique_file_stem();
    let relative_path = format!("{relative_dir}/{stem}.parquet");
    let path = absolute(data_dir, &relative_path);
    let tmp_path = dir.join(format!("{stem}.parquet.tmp"));

    let file = fs::File::create(&tmp_path).map_err(|error| StorageError::io(&tmp_path, error))?;
    let mut writer = ArrowWriter::try_new(file, sorted.schema(), Some(writer_properties(signal)))
        .map_err(|error| StorageError::DataFusion(error.into()))?;
    writer
        .write(&sorted)
        .map_err(|error| parquet_write_error(&tmp_path, error))?;
    let file = writer
        .into_inner()
        .map_err(|error| parquet_write_error(&tmp_path, error))?;
    file.sync_all()
        .map_err(|error| StorageError::io(&tmp_path, error))?;
    let size_bytes = file
        .metadata()
        .map_err(|error| StorageError::io(&tmp_path, error))?
        .len();
    drop(file);
    fs::rename(&tmp_path, &path).map_err(|error| StorageError::io(&path, error))?;

    let trace_index = if signal == Signal::Traces {
        let index = FileTraceIndex::from_batches(std::slice::from_ref(&sorted));
        let sidecar_relative = format!("{relative_path}.tid");
        let sidecar = absolute(data_dir, &sidecar_relative);
        let sidecar_tmp = dir.join(format!("{stem}.parquet.tid.tmp"));
        write_file_durably(&sidecar_tmp, &index.encode())?;
        fs::rename(&sidecar_tmp, &sidecar).map_err(|error| StorageError::io(&sidecar, error))?;
        Some((sidecar_relative, Arc::new(index)))
    } else {
        None
    };
    let search_index_path = if signal == Signal::Metrics {
        None
    } else {
        let relative = crate::search::index_path_for(&relative_path);
        crate::search::write_file_index(&absolute(data_dir, &relative), signal, &sorted)?;
        Some(relative)
    };
    let span_rollups = if signal == Signal::Traces {
        let rollups = SpanRollups::from_spans_batch(&sorted)?;
        let (min_minute, max_minute) = rollups.minute_bounds().unwrap_or((0, 0));
        let relative = format!("{relative_path}.rollups");
        write_sidecar(&absolute(data_dir, &relative), &rollups)?;
        Some(RollupSidecar {
            path: relative,
            min_minute_unix_nanos: min_minute,
            max_minute_unix_nanos: max_minute,
        })
    } else {
        None
    };
    sync_dir(&dir)?;

    let (min_time, max_time) = time_bounds(signal, &sorted);
    let (trace_index_path, trace_index) = trace_index.unzip();
    Ok(WrittenSegment {
        entry: FileEntry {
            tenant: tenant.clone(),
            signal,
            hour_unix_secs,
            path: relative_path,
            rows: sorted.num_rows() as u64,
            size_bytes,
            min_time_unix_nanos: min_time,
            max_time_unix_nanos: max_time,
            trace_index_path,
            search_index_path,
            span_rollups,
        },
        trace_index,
    })
}

/// Smallest and largest event time of a batch (`(0, 0)` when empty).
fn time_bounds(signal: Signal, batch: &RecordBatch) -> (i64, i64) {
    let Some(times) = event_times(signal, batch) else {
        return (0, 0);
    };
    let min = datafusion::arrow::compute::min(times).unwrap_or(0);
    let max = datafusion::arrow::compute::max(times).unwrap_or(0);
    (min, max)
}

fn parquet_write_error(
    path: &Path,
    error: datafusion::parquet::errors::ParquetError,
) -> StorageError {
    match error {
        datafusion::parquet::errors::ParquetError::External(inner) => {
            match inner.downcast::<std::io::Error>() {
                Ok(io) => StorageError::io(path, *io),
                Err(other) => StorageError::DataFusion(
                    datafusion::parquet::errors::ParquetError::External(other).into(),
                ),
            }
        }
        other => StorageError::DataFusion(other.into()),
    }
}

/// Creates `dir` and makes every new level durable up to `data_dir`.
fn create_dir_durably(data_dir: &Path, dir: &Path) -> Result<(), StorageError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|error| StorageError::io(dir, error))?;
    let mut current = dir.parent();
    while let Some(parent) = current {
        sync_dir(parent)?;
        if parent == data_dir || !parent.starts_with(data_dir) {
            break;
        }
        current = parent.parent();
    }
    Ok(())
}

/// Reads a whole Parquet segment.
pub(crate) fn read_segment(path: &Path) -> Result<Vec<RecordBatch>, StorageError> {
    let file = fs::File::open(path).map_err(|error| StorageError::io(path, error))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| builder.build())
        .map_err(|error| StorageError::DataFusion(error.into()))?;
    reader.map(|batch| batch.map_err(arrow_error)).collect()
}

/// Total rows in `batches`.
pub(crate) fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}
