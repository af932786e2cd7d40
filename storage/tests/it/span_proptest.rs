//! Property test: random spans -> Arrow -> Parquet -> rows equal to the model's.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, AsArray, ListArray, MapArray, RecordBatch, StructArray, TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::{Int64Type, TimestampNanosecondType, UInt32Type};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use lookout_model::{
    AnyValue, KeyValue, Span, SpanEvent, SpanId, SpanKind, SpanLink, StatusCode, TraceId,
};
use lookout_storage::rows::spans_to_batch;
use proptest::prelude::*;

use crate::support::batch_of;

type Pairs = Vec<(String, String)>;
type EventRow = (i64, String, Pairs, u32);
type LinkRow = (String, String, String, Pairs, u32, u32);

/// A span as the `spans` table shows it, rebuilt from a row.
#[derive(Debug, PartialEq)]
struct SpanRow {
    trace_id: String,
    span_id: String,
    parent_span_id: Option<String>,
    trace_state: String,
    flags: u32,
    name: String,
    kind: String,
    start: i64,
    end: i64,
    duration: i64,
    status: (String, String),
    attributes: Vec<(String, String)>,
    events: Vec<EventRow>,
    links: Vec<LinkRow>,
    dropped: (u32, u32, u32),
}

fn text_pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.to_text()))
        .collect()
}

fn expected_row(span: &Span) -> SpanRow {
    SpanRow {
        trace_id: span.trace_id.to_hex(),
        span_id: span.span_id.to_hex(),
        parent_span_id: span.parent_span_id.map(|id| id.to_hex()),
        trace_state: span.trace_state.clone(),
        flags: span.flags,
        name: span.name.clone(),
        kind: span.kind.as_str().into(),
        start: span.start_time_unix_nano as i64,
        end: span.end_time_unix_nano as i64,
        duration: span.duration_nanos() as i64,
        status: (
            span.status_code.as_str().into(),
            span.status_message.clone(),
        ),
        attributes: text_pairs(&span.attributes),
        events: span
            .events
            .iter()
            .map(|e| {
                (
                    e.time_unix_nano as i64,
                    e.name.clone(),
                    text_pairs(&e.attributes),
                    e.dropped_attributes_count,
                )
            })
            .collect(),
        links: span
            .links
            .iter()
            .map(|l| {
                (
                    l.trace_id.to_hex(),
                    l.span_id.to_hex(),
                    l.trace_state.clone(),
                    text_pairs(&l.attributes),
                    l.dropped_attributes_count,
                    l.flags,
                )
            })
            .collect(),
        dropped: (
            span.dropped_attributes_count,
            span.dropped_events_count,
            span.dropped_links_count,
        ),
    }
}

fn map_pairs(map: &MapArray, row: usize) -> Vec<(String, String)> {
    let entries = map.value(row);
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    (0..entries.len())
        .map(|i| (keys.value(i).to_owned(), values.value(i).to_owned()))
        .collect()
}

fn read_rows(batch: &RecordBatch) -> Vec<SpanRow> {
    let text = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap()
            .as_string::<i32>()
            .clone()
    };
    let u32s = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap()
            .as_primitive::<UInt32Type>()
            .clone()
    };
    let time = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap()
            .as_primitive::<TimestampNanosecondType>()
            .clone()
    };
    let (trace, span, parent, state, name, kind) = (
        text("trace_id"),
        text("span_id"),
        text("parent_span_id"),
        text("trace_state"),
        text("name"),
        text("kind"),
    );
    let (status, message) = (text("status_code"), text("status_message"));
    let (flags, dropped_a, dropped_e, dropped_l) = (
        u32s("flags"),
        u32s("dropped_attributes_count"),
        u32s("dropped_events_count"),
        u32s("dropped_links_count"),
    );
    let (start, end) = (time("start_time"), time("end_time"));
    let duration = batch
        .column_by_name("duration_ns")
        .unwrap()
        .as_primitive::<Int64Type>()
        .clone();
    let attributes = batch.column_by_name("attributes").unwrap().as_map().clone();
    let events = batch
        .column_by_name("events")
        .unwrap()
        .as_list::<i32>()
        .clone();
    let links = batch
        .column_by_name("links")
        .unwrap()
        .as_list::<i32>()
        .clone();
    (0..batch.num_rows())
        .map(|row| SpanRow {
            trace_id: trace.value(row).into(),
            span_id: span.value(row).into(),
            parent_span_id: (!parent.is_null(row)).then(|| parent.value(row).to_owned()),
            trace_state: state.value(row).into(),
            flags: flags.value(row),
            name: name.value(row).into(),
            kind: kind.value(row).into(),
            start: start.value(row),
            end: end.value(row),
            duration: duration.value(row),
            status: (status.value(row).into(), message.value(row).into()),
            attributes: map_pairs(&attributes, row),
            events: struct_rows(&events, row, |s, i| {
                let time = s
                    .column(0)
                    .as_any()
                    .downcast_ref::<TimestampNanosecondArray>()
                    .unwrap()
                    .value(i);
                let name = s.column(1).as_string::<i32>().value(i).to_owned();
                let attributes = map_pairs(s.column(2).as_map(), i);
                let dropped = s.column(3).as_primitive::<UInt32Type>().value(i);
                (time, name, attributes, dropped)
            }),
            links: struct_rows(&links, row, |s, i| {
                (
                    s.column(0).as_string::<i32>().value(i).to_owned(),
                    s.column(1).as_string::<i32>().value(i).to_owned(),
                    s.column(2).as_string::<i32>().value(i).to_owned(),
                    map_pairs(s.column(3).as_map(), i),
                    s.column(4).as_primitive::<UInt32Type>().value(i),
                    s.column(5).as_primitive::<UInt32Type>().value(i),
                )
            }),
            dropped: (
                dropped_a.value(row),
                dropped_e.value(row),
                dropped_l.value(row),
            ),
        })
        .collect()
}

fn struct_rows<T>(list: &ListArray, row: usize, read: impl Fn(&StructArray, usize) -> T) -> Vec<T> {
    let values = list.value(row);
    let structs = values.as_struct();
    (0..structs.len()).map(|i| read(structs, i)).collect()
}

fn parquet_round_trip(batch: &RecordBatch) -> Vec<RecordBatch> {
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn any_text() -> impl Strategy<Value = String> {
    "[a-z0-9 ./_\u{e9}\u{4e2d}-]{0,12}"
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        any_text().prop_map(AnyValue::String),
        any::<bool>().prop_map(AnyValue::Bool),
        any::<i64>().prop_map(AnyValue::Int),
        any::<f64>().prop_map(AnyValue::Double),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(AnyValue::Bytes),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(AnyValue::Array),
            proptest::collection::vec((any_text(), inner), 0..3).prop_map(
                |pairs| AnyValue::KvList(
                    pairs
                        .into_iter()
                        .map(|(key, value)| KeyValue { key, value })
                        .collect()
                )
            ),
        ]
    })
}

fn any_attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec((any_text(), any_value()), 0..4).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect()
    })
}

fn any_trace_id() -> impl Strategy<Value = TraceId> {
    any::<[u8; 16]>().prop_map(|mut bytes| {
        bytes[0] |= 1;
        TraceId(bytes)
    })
}

fn any_span_id() -> impl Strategy<Value = SpanId> {
    any::<[u8; 8]>().prop_map(|mut bytes| {
        bytes[7] |= 1;
        SpanId(bytes)
    })
}

prop_compose! {
    fn any_span()(
        trace_id in any_trace_id(),
        span_id in any_span_id(),
        parent_span_id in proptest::option::of(any_span_id()),
        trace_state in any_text(),
        flags in any::<u32>(),
        name in any_text(),
        kind in 0..6i32,
        start in 0..u64::MAX / 2,
        length in 0..1_000_000_000u64,
        attributes in any_attributes(),
        counts in any::<(u32, u32, u32)>(),
        events in proptest::collection::vec((0..u64::MAX / 2, any_text(), any_attributes(), any::<u32>()), 0..3),
        links in proptest::collection::vec((any_trace_id(), any_span_id(), any_text(), any_attributes(), any::<(u32, u32)>()), 0..3),
        status in 0..3i32,
        status_message in any_text(),
    ) -> Span {
        Span {
            trace_id,
            span_id,
            parent_span_id,
            trace_state,
            flags,
            name,
            kind: SpanKind::from_i32(kind),
            start_time_unix_nano: start,
            end_time_unix_nano: start + length,
            attributes,
            dropped_attributes_count: counts.0,
            events: events.into_iter().map(|(time_unix_nano, name, attributes, dropped_attributes_count)| SpanEvent { time_unix_nano, name, attributes, dropped_attributes_count }).collect(),
            dropped_events_count: counts.1,
            links: links.into_iter().map(|(trace_id, span_id, trace_state, attributes, (dropped_attributes_count, flags))| SpanLink { trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags }).collect(),
            dropped_links_count: counts.2,
            status_code: StatusCode::from_i32(status),
            status_message,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn spans_round_trip_through_arrow_and_parquet(spans in proptest::collection::vec(any_span(), 0..6)) {
        let batch = spans_to_batch(&batch_of("svc", spans.clone())).unwrap();
        let read_back = parquet_round_trip(&batch);
        let rows: Vec<SpanRow> = read_back.iter().flat_map(read_rows).collect();
        let expected: Vec<SpanRow> = spans.iter().map(expected_row).collect();
        prop_assert_eq!(rows, expected);
        for batch in &read_back {
            prop_assert_eq!(batch.schema(), Arc::clone(&lookout_storage::spans_schema()));
        }
    }
}
