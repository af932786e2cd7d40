//! Log records -> rows of the `logs` table.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, StringBuilder, UInt32Array};
use datafusion::arrow::record_batch::RecordBatch;
use lookout_model::LogBatch;

use super::{AttributeMapBuilder, arrow_error, nanos_i64, timestamp_column};
use crate::StorageError;
use crate::schema::logs_schema;

/// Flattens a log batch into one record batch of [`logs_schema`].
pub fn logs_to_batch(batch: &LogBatch) -> Result<RecordBatch, StorageError> {
    let rows = batch.record_count();
    let mut timestamp = Vec::with_capacity(rows);
    let mut observed_timestamp = Vec::with_capacity(rows);
    let mut trace_id = StringBuilder::new();
    let mut span_id = StringBuilder::new();
    let mut service_name = StringBuilder::new();
    let mut severity_number = Vec::with_capacity(rows);
    let mut severity_text = StringBuilder::new();
    let mut body = StringBuilder::new();
    let mut event_name = StringBuilder::new();
    let mut flags = Vec::with_capacity(rows);
    let mut attributes = AttributeMapBuilder::default();
    let mut resource_attributes = AttributeMapBuilder::default();
    let mut scope_name = StringBuilder::new();
    let mut scope_version = StringBuilder::new();
    let mut dropped_attributes_count = Vec::with_capacity(rows);

    for group in &batch.resources {
        let service = group.resource.service_name();
        for scope_group in &group.scopes {
            for record in &scope_group.records {
                timestamp.push(nanos_i64(record.effective_time_unix_nano()));
                observed_timestamp.push(nanos_i64(record.observed_time_unix_nano));
                trace_id.append_option(record.trace_id.map(|id| id.to_hex()));
                span_id.append_option(record.span_id.map(|id| id.to_hex()));
                service_name.append_value(&service);
                severity_number.push(record.severity_number);
                severity_text.append_value(&record.severity_text);
                body.append_option(record.body.as_ref().map(|value| value.to_text()));
                event_name.append_value(&record.event_name);
                flags.push(record.flags);
                attributes.push(&record.attributes);
                resource_attributes.push(&group.resource.attributes);
                scope_name.append_value(&scope_group.scope.name);
                scope_version.append_value(&scope_group.scope.version);
                dropped_attributes_count.push(record.dropped_attributes_count);
            }
        }
    }

    let columns: Vec<ArrayRef> = vec![
        timestamp_column(timestamp),
        timestamp_column(observed_timestamp),
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(service_name.finish()),
        Arc::new(Int32Array::from(severity_number)),
        Arc::new(severity_text.finish()),
        Arc::new(body.finish()),
        Arc::new(event_name.finish()),
        Arc::new(UInt32Array::from(flags)),
        attributes.finish()?,
        resource_attributes.finish()?,
        Arc::new(scope_name.finish()),
        Arc::new(scope_version.finish()),
        Arc::new(UInt32Array::from(dropped_attributes_count)),
    ];
    RecordBatch::try_new(logs_schema(), columns).map_err(arrow_error)
}
