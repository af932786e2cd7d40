//! Spans -> rows of the `spans` table.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, StringBuilder, UInt32Array};
use datafusion::arrow::record_batch::RecordBatch;
use lookout_model::SpanBatch;

use super::{AttributeMapBuilder, StructListBuilder, arrow_error, nanos_i64, timestamp_column};
use crate::StorageError;
use crate::schema::{span_event_fields, span_link_fields, spans_schema};

/// Flattens a span batch into one record batch of [`spans_schema`].
pub fn spans_to_batch(batch: &SpanBatch) -> Result<RecordBatch, StorageError> {
    let rows = batch.record_count();
    let mut trace_id = StringBuilder::with_capacity(rows, rows * 32);
    let mut span_id = StringBuilder::with_capacity(rows, rows * 16);
    let mut parent_span_id = StringBuilder::with_capacity(rows, rows * 16);
    let mut trace_state = StringBuilder::new();
    let mut flags = Vec::with_capacity(rows);
    let mut service_name = StringBuilder::new();
    let mut name = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut start_time = Vec::with_capacity(rows);
    let mut end_time = Vec::with_capacity(rows);
    let mut duration_ns = Vec::with_capacity(rows);
    let mut status_code = StringBuilder::new();
    let mut status_message = StringBuilder::new();
    let mut attributes = AttributeMapBuilder::default();
    let mut resource_attributes = AttributeMapBuilder::default();
    let mut scope_name = StringBuilder::new();
    let mut scope_version = StringBuilder::new();
    let mut dropped_attributes_count = Vec::with_capacity(rows);
    let mut dropped_events_count = Vec::with_capacity(rows);
    let mut dropped_links_count = Vec::with_capacity(rows);

    let mut events = StructListBuilder::new();
    let mut event_time = Vec::new();
    let mut event_name = StringBuilder::new();
    let mut event_attributes = AttributeMapBuilder::default();
    let mut event_dropped = Vec::new();

    let mut links = StructListBuilder::new();
    let mut link_trace_id = StringBuilder::new();
    let mut link_span_id = StringBuilder::new();
    let mut link_trace_state = StringBuilder::new();
    let mut link_attributes = AttributeMapBuilder::default();
    let mut link_dropped = Vec::new();
    let mut link_flags = Vec::new();

    for group in &batch.resources {
        let service = group.resource.service_name();
        for scope_group in &group.scopes {
            for span in &scope_group.records {
                trace_id.append_value(span.trace_id.to_hex());
                span_id.append_value(span.span_id.to_hex());
                parent_span_id.append_option(span.parent_span_id.map(|id| id.to_hex()));
                trace_state.append_value(&span.trace_state);
                flags.push(span.flags);
                service_name.append_value(&service);
                name.append_value(&span.name);
                kind.append_value(span.kind.as_str());
                start_time.push(nanos_i64(span.start_time_unix_nano));
                end_time.push(nanos_i64(span.end_time_unix_nano));
                duration_ns.push(nanos_i64(span.duration_nanos()));
                status_code.append_value(span.status_code.as_str());
                status_message.append_value(&span.status_message);
                attributes.push(&span.attributes);
                resource_attributes.push(&group.resource.attributes);
                scope_name.append_value(&scope_group.scope.name);
                scope_version.append_value(&scope_group.scope.version);
                dropped_attributes_count.push(span.dropped_attributes_count);
                dropped_events_count.push(span.dropped_events_count);
                dropped_links_count.push(span.dropped_links_count);

                for event in &span.events {
                    event_time.push(nanos_i64(event.time_unix_nano));
                    event_name.append_value(&event.name);
                    event_attributes.push(&event.attributes);
                    event_dropped.push(event.dropped_attributes_count);
                }
                events.push_row(span.events.len());

                for link in &span.links {
                    link_trace_id.append_value(link.trace_id.to_hex());
                    link_span_id.append_value(link.span_id.to_hex());
                    link_trace_state.append_value(&link.trace_state);
                    link_attributes.push(&link.attributes);
                    link_dropped.push(link.dropped_attributes_count);
                    link_flags.push(link.flags);
                }
                links.push_row(span.links.len());
            }
        }
    }

    let events = events.finish(
        span_event_fields(),
        vec![
            timestamp_column(event_time),
            Arc::new(event_name.finish()),
            event_attributes.finish()?,
            Arc::new(UInt32Array::from(event_dropped)),
        ],
    )?;
    let links = links.finish(
        span_link_fields(),
        vec![
            Arc::new(link_trace_id.finish()),
            Arc::new(link_span_id.finish()),
            Arc::new(link_trace_state.finish()),
            link_attributes.finish()?,
            Arc::new(UInt32Array::from(link_dropped)),
            Arc::new(UInt32Array::from(link_flags)),
        ],
    )?;

    let columns: Vec<ArrayRef> = vec![
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(parent_span_id.finish()),
        Arc::new(trace_state.finish()),
        Arc::new(UInt32Array::from(flags)),
        Arc::new(service_name.finish()),
        Arc::new(name.finish()),
        Arc::new(kind.finish()),
        timestamp_column(start_time),
        timestamp_column(end_time),
        Arc::new(Int64Array::from(duration_ns)),
        Arc::new(status_code.finish()),
        Arc::new(status_message.finish()),
        attributes.finish()?,
        resource_attributes.finish()?,
        Arc::new(scope_name.finish()),
        Arc::new(scope_version.finish()),
        events,
        links,
        Arc::new(UInt32Array::from(dropped_attributes_count)),
        Arc::new(UInt32Array::from(dropped_events_count)),
        Arc::new(UInt32Array::from(dropped_links_count)),
    ];
    RecordBatch::try_new(spans_schema(), columns).map_err(arrow_error)
}

/// The `trace_id` column of a spans batch.
pub(crate) fn trace_id_column(batch: &RecordBatch) -> Option<&StringArray> {
    batch
        .column_by_name("trace_id")
        .and_then(|column| column.as_any().downcast_ref::<StringArray>())
}
