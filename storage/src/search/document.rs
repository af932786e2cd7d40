//! The search index schema and the documents built from rows of the `logs` and `spans`
//! tables. Documents hold no stored fields: a document carries the ordinal of its row, and
//! answers read the rows back from Parquet or the tail.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use datafusion::arrow::array::{
    Array, AsArray, Int32Array, ListArray, MapArray, StringArray, StructArray,
    TimestampNanosecondArray,
};
use datafusion::arrow::record_batch::RecordBatch;
use lookout_model::Signal;
use tantivy::TantivyDocument;
use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, JsonObjectOptions, NumericOptions, OwnedValue, STRING,
    Schema, TextFieldIndexing, TextOptions,
};

use crate::StorageError;

/// Name of the tokenizer of text fields (tantivy's `default`: split on non-alphanumerics,
/// drop tokens over 40 bytes, lowercase).
pub(crate) const TOKENIZER: &str = "default";

/// Field handles of the one schema both signals use.
#[derive(Debug, Clone)]
pub(crate) struct IndexFields {
    pub(crate) schema: Schema,
    pub(crate) text: Field,
    pub(crate) name: Field,
    pub(crate) attributes: Field,
    pub(crate) resource: Field,
    pub(crate) body: Field,
    pub(crate) service: Field,
    pub(crate) trace_id: Field,
    pub(crate) span_id: Field,
    pub(crate) status: Field,
    pub(crate) severity: Field,
    pub(crate) timestamp: Field,
    pub(crate) row: Field,
}

/// The schema, built once.
pub(crate) fn fields() -> &'static IndexFields {
    static FIELDS: LazyLock<IndexFields> = LazyLock::new(build_fields);
    &FIELDS
}

fn build_fields() -> IndexFields {
    let mut builder = Schema::builder();
    // No scoring happens (answers are ordered by time), so no field norms; positions are
    // kept for phrases.
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(TOKENIZER)
        .set_fieldnorms(false)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let text_options = TextOptions::default().set_indexing_options(indexing.clone());
    let json_options = JsonObjectOptions::default()
        .set_indexing_options(indexing)
        .set_expand_dots_enabled();
    let exact = STRING;
    let numeric_fast = NumericOptions::from(INDEXED).set_fast();
    let text = builder.add_text_field("text", text_options.clone());
    let name = builder.add_text_field("name", text_options);
    let attributes = builder.add_json_field("attributes", json_options.clone());
    let resource = builder.add_json_field("resource", json_options.clone());
    let body = builder.add_json_field("body", json_options);
    let service = builder.add_text_field("service", exact.clone());
    let trace_id = builder.add_text_field("trace_id", exact.clone());
    let span_id = builder.add_text_field("span_id", exact.clone());
    let status = builder.add_text_field("status", exact);
    let severity = builder.add_u64_field("severity", numeric_fast.clone());
    let timestamp = builder.add_i64_field("timestamp", numeric_fast);
    let row = builder.add_u64_field("row", NumericOptions::default().set_fast());
    IndexFields {
        schema: builder.build(),
        text,
        name,
        attributes,
        resource,
        body,
        service,
        trace_id,
        span_id,
        status,
        severity,
        timestamp,
        row,
    }
}

/// Builds the documents of `batch` (rows of `signal`'s table), the first row having ordinal
/// `first_row`, and hands each to `add`.
pub(crate) fn documents(
    signal: Signal,
    batch: &RecordBatch,
    first_row: u64,
    add: &mut dyn FnMut(TantivyDocument) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    match signal {
        Signal::Logs => log_documents(batch, first_row, add),
        Signal::Traces => span_documents(batch, first_row, add),
        Signal::Metrics => Ok(()),
    }
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, StorageError> {
    batch
        .column_by_name(name)
        .and_then(|column| column.as_any().downcast_ref::<T>())
        .ok_or_else(|| StorageError::Internal(format!("search index: column `{name}` missing")))
}

fn log_documents(
    batch: &RecordBatch,
    first_row: u64,
    add: &mut dyn FnMut(TantivyDocument) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let f = fields();
    let timestamp = column::<TimestampNanosecondArray>(batch, "timestamp")?;
    let trace_id = column::<StringArray>(batch, "trace_id")?;
    let span_id = column::<StringArray>(batch, "span_id")?;
    let service = column::<StringArray>(batch, "service_name")?;
    let severity = column::<Int32Array>(batch, "severity_number")?;
    let body = column::<StringArray>(batch, "body")?;
    let attributes = column::<MapArray>(batch, "attributes")?;
    let resource = column::<MapArray>(batch, "resource_attributes")?;
    for row in 0..batch.num_rows() {
        let mut doc = TantivyDocument::new();
        doc.add_u64(f.row, first_row + row as u64);
        doc.add_i64(f.timestamp, timestamp.value(row));
        doc.add_u64(f.severity, u64::try_from(severity.value(row)).unwrap_or(0));
        doc.add_text(f.service, service.value(row));
        if trace_id.is_valid(row) {
            doc.add_text(f.trace_id, trace_id.value(row));
        }
        if span_id.is_valid(row) {
            doc.add_text(f.span_id, span_id.value(row));
        }
        if body.is_valid(row) {
            let text = body.value(row);
            doc.add_text(f.text, text);
            if text.starts_with('{')
                && let Ok(serde_json::Value::Object(object)) = serde_json::from_str(text)
            {
                doc.add_object(f.body, json_object(object));
            }
        }
        add_map(&mut doc, f.attributes, attributes, row);
        add_map(&mut doc, f.resource, resource, row);
        add(doc)?;
    }
    Ok(())
}

fn span_documents(
    batch: &RecordBatch,
    first_row: u64,
    add: &mut dyn FnMut(TantivyDocument) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let f = fields();
    let start = column::<TimestampNanosecondArray>(batch, "start_time")?;
    let trace_id = column::<StringArray>(batch, "trace_id")?;
    let span_id = column::<StringArray>(batch, "span_id")?;
    let service = column::<StringArray>(batch, "service_name")?;
    let name = column::<StringArray>(batch, "name")?;
    let status_code = column::<StringArray>(batch, "status_code")?;
    let status_message = column::<StringArray>(batch, "status_message")?;
    let attributes = column::<MapArray>(batch, "attributes")?;
    let resource = column::<MapArray>(batch, "resource_attributes")?;
    let events = column::<ListArray>(batch, "events")?;
    for row in 0..batch.num_rows() {
        let mut doc = TantivyDocument::new();
        doc.add_u64(f.row, first_row + row as u64);
        doc.add_i64(f.timestamp, start.value(row));
        doc.add_text(f.service, service.value(row));
        doc.add_text(f.trace_id, trace_id.value(row));
        doc.add_text(f.span_id, span_id.value(row));
        doc.add_text(f.status, status_code.value(row));
        doc.add_text(f.name, name.value(row));
        doc.add_text(f.text, name.value(row));
        if !status_message.value(row).is_empty() {
            doc.add_text(f.text, status_message.value(row));
        }
        for (_, value) in map_row(attributes, row) {
            doc.add_text(f.text, value);
        }
        if events.is_valid(row) {
            let list = events.value(row);
            let list: &StructArray = list.as_struct();
            if let (Some(names), Some(event_attributes)) = (
                list.column_by_name("name")
                    .and_then(|c| c.as_string_opt::<i32>()),
                list.column_by_name("attributes")
                    .and_then(|c| c.as_map_opt()),
            ) {
                for event in 0..list.len() {
                    doc.add_text(f.text, names.value(event));
                    for (_, value) in map_row(event_attributes, event) {
                        doc.add_text(f.text, value);
                    }
                }
            }
        }
        add_map(&mut doc, f.attributes, attributes, row);
        add_map(&mut doc, f.resource, resource, row);
        add(doc)?;
    }
    Ok(())
}

/// The `(key, value)` pairs of one row of a `Map<Utf8, Utf8>` column (null values skipped).
fn map_row(map: &MapArray, row: usize) -> impl Iterator<Item = (&str, &str)> {
    let offsets = map.value_offsets();
    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
    let keys = map.keys().as_string_opt::<i32>();
    let values = map.values().as_string_opt::<i32>();
    (start..end).filter_map(move |entry| {
        let (keys, values) = (keys?, values?);
        values
            .is_valid(entry)
            .then(|| (keys.value(entry), values.value(entry)))
    })
}

/// Adds a row of an attribute map as a JSON object whose leaves are text, so
/// `attributes.http.route:"/api/pay"` addresses the key `http.route`.
fn add_map(doc: &mut TantivyDocument, field: Field, map: &MapArray, row: usize) {
    let object: BTreeMap<String, OwnedValue> = map_row(map, row)
        .map(|(key, value)| (key.to_owned(), OwnedValue::Str(value.to_owned())))
        .collect();
    if !object.is_empty() {
        doc.add_object(field, object);
    }
}

/// A structured body as a JSON object whose leaves are text (numbers as written), so the
/// query text `body.code:42` finds `{"code": 42}`.
fn json_object(object: serde_json::Map<String, serde_json::Value>) -> BTreeMap<String, OwnedValue> {
    object
        .into_iter()
        .map(|(key, value)| (key, json_leaves_as_text(value)))
        .collect()
}

fn json_leaves_as_text(value: serde_json::Value) -> OwnedValue {
    use serde_json::Value;
    match value {
        Value::Null => OwnedValue::Null,
        Value::String(text) => OwnedValue::Str(text),
        Value::Bool(flag) => OwnedValue::Str(flag.to_string()),
        Value::Number(number) => OwnedValue::Str(number.to_string()),
        Value::Array(items) => {
            OwnedValue::Array(items.into_iter().map(json_leaves_as_text).collect())
        }
        Value::Object(object) => OwnedValue::Object(
            object
                .into_iter()
                .map(|(key, value)| (key, json_leaves_as_text(value)))
                .collect(),
        ),
    }
}
