//! `ExportLogsServiceRequest` -> [`LogBatch`].

use lookout_model::{Batch, LogBatch, LogRecord, ResourceGroup, ScopeGroup};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1 as proto;

use super::values::{any_value, attributes_with_dropped, resource, scope};
use super::{Converted, Rejection, Tally, optional_span_id, optional_trace_id};

/// Converts a logs export request; records with malformed ids are refused one by one.
pub fn logs(request: ExportLogsServiceRequest) -> Converted<LogBatch> {
    let mut tally = Tally::default();
    let mut batch = Batch::default();
    for (resource_index, resource_logs) in request.resource_logs.into_iter().enumerate() {
        let mut scopes = Vec::new();
        for (scope_index, scope_logs) in resource_logs.scope_logs.into_iter().enumerate() {
            let mut records = Vec::with_capacity(scope_logs.log_records.len());
            for (record_index, proto_record) in scope_logs.log_records.into_iter().enumerate() {
                match log_record(proto_record) {
                    Ok(converted) => records.push(converted),
                    Err(rejection) => tally.reject(rejection, || {
                        format!(
                            "resource {resource_index}, scope {scope_index}, log record {record_index}"
                        )
                    }),
                }
            }
            if !records.is_empty() {
                scopes.push(ScopeGroup {
                    scope: scope(scope_logs.scope, scope_logs.schema_url),
                    records,
                });
            }
        }
        if !scopes.is_empty() {
            batch.resources.push(ResourceGroup {
                resource: resource(resource_logs.resource, resource_logs.schema_url),
                scopes,
            });
        }
    }
    tally.finish(batch)
}

/// A log record. Trace and span ids are optional (empty or all-zero means none); a
/// present id of the wrong length refuses the record.
fn log_record(record: proto::LogRecord) -> Result<LogRecord, Rejection> {
    let trace_id = optional_trace_id("trace_id", &record.trace_id)?;
    let span_id = optional_span_id("span_id", &record.span_id)?;
    let (attributes, dropped_attributes_count) =
        attributes_with_dropped(record.attributes, record.dropped_attributes_count);
    Ok(LogRecord {
        time_unix_nano: record.time_unix_nano,
        observed_time_unix_nano: record.observed_time_unix_nano,
        severity_number: record.severity_number,
        severity_text: record.severity_text,
        body: record.body.and_then(any_value),
        attributes,
        dropped_attributes_count,
        flags: record.flags,
        trace_id,
        span_id,
        event_name: record.event_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_model::{AnyValue, KeyValue, SpanId, TraceId};
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue as ProtoValue, ArrayValue, KeyValue as ProtoKeyValue, KeyValueList, any_value,
    };
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};

    fn request(records: Vec<proto::LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn body(value: any_value::Value) -> Option<ProtoValue> {
        Some(ProtoValue { value: Some(value) })
    }

    #[test]
    fn keeps_every_field() {
        let record = proto::LogRecord {
            time_unix_nano: 5,
            observed_time_unix_nano: 6,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: body(any_value::Value::StringValue("failed".into())),
            attributes: vec![ProtoKeyValue {
                key: "k".into(),
                value: body(any_value::Value::BoolValue(true)),
                key_strindex: 0,
            }],
            dropped_attributes_count: 2,
            flags: 1,
            trace_id: vec![7; 16],
            span_id: vec![8; 8],
            event_name: "app.failure".into(),
        };
        let converted = logs(request(vec![record]));
        let (_, _, record) = converted.batch.iter().next().unwrap();
        let expected = LogRecord {
            time_unix_nano: 5,
            observed_time_unix_nano: 6,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(AnyValue::String("failed".into())),
            attributes: vec![KeyValue {
                key: "k".into(),
                value: AnyValue::Bool(true),
            }],
            dropped_attributes_count: 2,
            flags: 1,
            trace_id: Some(TraceId([7; 16])),
            span_id: Some(SpanId([8; 8])),
            event_name: "app.failure".into(),
        };
        assert_eq!(record, &expected);
    }

    #[test]
    fn body_of_every_value_type() {
        let cases = vec![
            (None, None),
            (
                body(any_value::Value::StringValue("s".into())),
                Some(AnyValue::String("s".into())),
            ),
            (
                body(any_value::Value::BoolValue(false)),
                Some(AnyValue::Bool(false)),
            ),
            (
                body(any_value::Value::IntValue(i64::MIN)),
                Some(AnyValue::Int(i64::MIN)),
            ),
            (
                body(any_value::Value::DoubleValue(-0.5)),
                Some(AnyValue::Double(-0.5)),
            ),
            (
                body(any_value::Value::BytesValue(vec![9])),
                Some(AnyValue::Bytes(vec![9])),
            ),
            (
                body(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![ProtoValue {
                        value: Some(any_value::Value::IntValue(1)),
                    }],
                })),
                Some(AnyValue::Array(vec![AnyValue::Int(1)])),
            ),
            (
                body(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![ProtoKeyValue {
                        key: "a".into(),
                        value: body(any_value::Value::StringValue("b".into())),
                        key_strindex: 0,
                    }],
                })),
                Some(AnyValue::KvList(vec![KeyValue::string("a", "b")])),
            ),
        ];
        for (input, expected) in cases {
            let converted = logs(request(vec![proto::LogRecord {
                body: input.clone(),
                ..Default::default()
            }]));
            let (_, _, record) = converted.batch.iter().next().unwrap();
            assert_eq!(record.body, expected, "{input:?}");
        }
    }

    #[test]
    fn malformed_ids_are_rejected_alone() {
        let cases: Vec<(Vec<u8>, Vec<u8>, bool)> = vec![
            (vec![], vec![], true),
            (vec![0; 16], vec![0; 8], true),
            (vec![1; 16], vec![1; 8], true),
            (vec![1; 3], vec![], false),
            (vec![], vec![1; 16], false),
        ];
        for (trace_id, span_id, accepted) in cases {
            let bad = proto::LogRecord {
                trace_id: trace_id.clone(),
                span_id: span_id.clone(),
                ..Default::default()
            };
            let converted = logs(request(vec![
                proto::LogRecord::default(),
                bad,
                proto::LogRecord::default(),
            ]));
            let kept = if accepted { 3 } else { 2 };
            assert_eq!(
                converted.batch.record_count(),
                kept,
                "{trace_id:?} {span_id:?}"
            );
            assert_eq!(converted.rejected_invalid_id, u64::from(!accepted));
        }
    }
}
