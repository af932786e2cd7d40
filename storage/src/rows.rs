//! Model records -> Arrow record batches (one row per span, log record or metric point).
//!
//! The builders here are shared by the three signals; the per-signal flattening lives in
//! `rows/spans.rs`, `rows/logs.rs` and `rows/metrics.rs`.

mod logs;
mod metrics;
mod spans;

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, ListArray, MapArray, StringBuilder, StructArray, TimestampNanosecondArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use lookout_model::KeyValue;

pub use logs::logs_to_batch;
pub use metrics::metrics_to_batch;
pub use spans::spans_to_batch;
pub(crate) use spans::trace_id_column as spans_trace_ids;

use crate::schema::map_entries_field;
use crate::{Payload, StorageError};

/// Converts a payload into one record batch of its signal's schema.
pub fn payload_to_batch(payload: &Payload) -> Result<RecordBatch, StorageError> {
    match payload {
        Payload::Spans(batch) => spans_to_batch(batch),
        Payload::Logs(batch) => logs_to_batch(batch),
        Payload::Metrics(batch) => metrics_to_batch(batch),
    }
}

/// Wraps an Arrow error as a storage error.
pub(crate) fn arrow_error(error: ArrowError) -> StorageError {
    StorageError::DataFusion(error.into())
}

/// Unix nanoseconds as Arrow's signed nanoseconds; times past year 2262 saturate.
pub(crate) fn nanos_i64(unix_nanos: u64) -> i64 {
    i64::try_from(unix_nanos).unwrap_or(i64::MAX)
}

/// A UTC nanosecond timestamp column.
pub(crate) fn timestamp_column(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(values).with_timezone("UTC"))
}

/// A nullable UTC nanosecond timestamp column.
pub(crate) fn optional_timestamp_column(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(values).with_timezone("UTC"))
}

/// Builds a `Map<Utf8, Utf8>` column of attributes, keeping keys in the order sent.
#[derive(Default)]
pub(crate) struct AttributeMapBuilder {
    keys: StringBuilder,
    values: StringBuilder,
    offsets: Vec<i32>,
}

impl AttributeMapBuilder {
    /// Appends one row's attributes.
    pub(crate) fn push(&mut self, attributes: &[KeyValue]) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        for attribute in attributes {
            self.keys.append_value(&attribute.key);
            self.values.append_value(attribute.value.to_text());
        }
        let last = self.offsets.last().copied().unwrap_or(0);
        self.offsets
            .push(last.saturating_add(i32::try_from(attributes.len()).unwrap_or(i32::MAX)));
    }

    /// The finished column.
    pub(crate) fn finish(mut self) -> Result<ArrayRef, StorageError> {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let DataType::Struct(entry_fields) = map_entries_field().data_type().clone() else {
            unreachable!("map entries are a struct by construction")
        };
        let entries = StructArray::try_new(
            entry_fields,
            vec![
                Arc::new(self.keys.finish()) as ArrayRef,
                Arc::new(self.values.finish()) as ArrayRef,
            ],
            None,
        )
        .map_err(arrow_error)?;
        let offsets = OffsetBuffer::new(self.offsets.into());
        let map = MapArray::try_new(map_entries_field(), offsets, entries, None, false)
            .map_err(arrow_error)?;
        Ok(Arc::new(map))
    }
}

/// Builds a `List<Struct{..}>` column from per-element child columns.
pub(crate) struct StructListBuilder {
    offsets: Vec<i32>,
    length: i32,
}

impl StructListBuilder {
    /// An empty list column.
    pub(crate) fn new() -> Self {
        Self {
            offsets: vec![0],
            length: 0,
        }
    }

    /// Records that the current row has `count` elements (already pushed to the children).
    pub(crate) fn push_row(&mut self, count: usize) {
        self.length = self
            .length
            .saturating_add(i32::try_from(count).unwrap_or(i32::MAX));
        self.offsets.push(self.length);
    }

    /// The finished column, given the element fields and the child columns.
    pub(crate) fn finish(
        self,
        fields: Fields,
        children: Vec<ArrayRef>,
    ) -> Result<ArrayRef, StorageError> {
        let values = StructArray::try_new(fields.clone(), children, None).map_err(arrow_error)?;
        let item = Arc::new(Field::new_list_field(DataType::Struct(fields), true));
        let list = ListArray::try_new(
            item,
            OffsetBuffer::new(self.offsets.into()),
            Arc::new(values),
            None,
        )
        .map_err(arrow_error)?;
        Ok(Arc::new(list))
    }
}

/// Builds a nullable `List<primitive>` column from optional vectors.
pub(crate) fn optional_list_column<T, I>(rows: I) -> ArrayRef
where
    T: datafusion::arrow::datatypes::ArrowPrimitiveType,
    I: IntoIterator<Item = Option<Vec<T::Native>>>,
{
    let iter = rows
        .into_iter()
        .map(|row| row.map(|values| values.into_iter().map(Some).collect::<Vec<_>>()));
    Arc::new(ListArray::from_iter_primitive::<T, _, _>(iter))
}

/// Sums a batch's in-memory size, used for backpressure accounting.
pub(crate) fn batch_size_bytes(batch: &RecordBatch) -> u64 {
    batch.get_array_memory_size() as u64
}
