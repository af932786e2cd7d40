//! `ExportTraceServiceRequest` -> [`SpanBatch`].

use lookout_model::{
    Batch, ResourceGroup, ScopeGroup, Span, SpanBatch, SpanEvent, SpanKind, SpanLink, StatusCode,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1 as proto;

use super::values::{attributes_with_dropped, resource, scope};
use super::{
    Converted, Rejection, Tally, optional_span_id, optional_trace_id, required_span_id,
    required_trace_id,
};

/// Converts a trace export request; spans with invalid ids are refused one by one.
pub fn spans(request: ExportTraceServiceRequest) -> Converted<SpanBatch> {
    let mut tally = Tally::default();
    let mut batch = Batch::default();
    for (resource_index, resource_spans) in request.resource_spans.into_iter().enumerate() {
        let mut scopes = Vec::new();
        for (scope_index, scope_spans) in resource_spans.scope_spans.into_iter().enumerate() {
            let mut records = Vec::with_capacity(scope_spans.spans.len());
            for (span_index, proto_span) in scope_spans.spans.into_iter().enumerate() {
                match span(proto_span) {
                    Ok(converted) => records.push(converted),
                    Err(rejection) => tally.reject(rejection, || {
                        format!("resource {resource_index}, scope {scope_index}, span {span_index}")
                    }),
                }
            }
            if !records.is_empty() {
                scopes.push(ScopeGroup {
                    scope: scope(scope_spans.scope, scope_spans.schema_url),
                    records,
                });
            }
        }
        if !scopes.is_empty() {
            batch.resources.push(ResourceGroup {
                resource: resource(resource_spans.resource, resource_spans.schema_url),
                scopes,
            });
        }
    }
    tally.finish(batch)
}

fn span(span: proto::Span) -> Result<Span, Rejection> {
    let trace_id = required_trace_id("trace_id", &span.trace_id)?;
    let span_id = required_span_id("span_id", &span.span_id)?;
    let parent_span_id = optional_span_id("parent_span_id", &span.parent_span_id)?;
    let links = span
        .links
        .into_iter()
        .map(link)
        .collect::<Result<Vec<_>, _>>()?;
    let events = span.events.into_iter().map(event).collect();
    let (attributes, dropped_attributes_count) =
        attributes_with_dropped(span.attributes, span.dropped_attributes_count);
    let status = span.status.unwrap_or_default();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: span.trace_state,
        flags: span.flags,
        name: span.name,
        kind: SpanKind::from_i32(span.kind),
        start_time_unix_nano: span.start_time_unix_nano,
        end_time_unix_nano: span.end_time_unix_nano,
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count: span.dropped_events_count,
        links,
        dropped_links_count: span.dropped_links_count,
        status_code: StatusCode::from_i32(status.code),
        status_message: status.message,
    })
}

fn event(event: proto::span::Event) -> SpanEvent {
    let (attributes, dropped_attributes_count) =
        attributes_with_dropped(event.attributes, event.dropped_attributes_count);
    SpanEvent {
        time_unix_nano: event.time_unix_nano,
        name: event.name,
        attributes,
        dropped_attributes_count,
    }
}

/// A link. The OTel spec lets SDKs record links to an invalid (empty or all-zero) span context
/// when they carry attributes or trace state, so those are kept with the zero id; only ids of
/// a wrong length refuse the span.
fn link(link: proto::span::Link) -> Result<SpanLink, Rejection> {
    let trace_id = optional_trace_id("links.trace_id", &link.trace_id)?.unwrap_or_default();
    let span_id = optional_span_id("links.span_id", &link.span_id)?.unwrap_or_default();
    let (attributes, dropped_attributes_count) =
        attributes_with_dropped(link.attributes, link.dropped_attributes_count);
    Ok(SpanLink {
        trace_id,
        span_id,
        trace_state: link.trace_state,
        attributes,
        dropped_attributes_count,
        flags: link.flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_model::{AnyValue, SpanId, TraceId};
    use opentelemetry_proto::tonic::common::v1::{AnyValue as ProtoValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

    fn good_span(seed: u8) -> proto::Span {
        proto::Span {
            trace_id: vec![seed; 16],
            span_id: vec![seed; 8],
            name: format!("span-{seed}"),
            ..Default::default()
        }
    }

    fn request(groups: Vec<Vec<Vec<proto::Span>>>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: groups
                .into_iter()
                .map(|scopes| ResourceSpans {
                    scope_spans: scopes
                        .into_iter()
                        .map(|spans| ScopeSpans {
                            spans,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    fn attribute(key: &str, value: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(ProtoValue {
                value: Some(any_value::Value::IntValue(value)),
            }),
            key_strindex: 0,
        }
    }

    #[test]
    fn keeps_every_span_field_events_and_links() {
        let span = proto::Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            parent_span_id: vec![3; 8],
            trace_state: "k=v".into(),
            flags: 0x301,
            name: "GET /".into(),
            kind: 2,
            start_time_unix_nano: 10,
            end_time_unix_nano: 25,
            attributes: vec![attribute("http.status_code", 200)],
            dropped_attributes_count: 1,
            events: vec![proto::span::Event {
                time_unix_nano: 12,
                name: "exception".into(),
                attributes: vec![attribute("n", 1)],
                dropped_attributes_count: 2,
            }],
            dropped_events_count: 3,
            links: vec![proto::span::Link {
                trace_id: vec![4; 16],
                span_id: vec![5; 8],
                trace_state: "l=1".into(),
                attributes: vec![attribute("m", 2)],
                dropped_attributes_count: 4,
                flags: 0x101,
            }],
            dropped_links_count: 5,
            status: Some(proto::Status {
                message: "boom".into(),
                code: 2,
            }),
        };
        let converted = spans(request(vec![vec![vec![span]]]));
        assert_eq!(converted.rejected, 0);
        let (_, _, span) = converted.batch.iter().next().unwrap();
        let expected = Span {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([2; 8]),
            parent_span_id: Some(SpanId([3; 8])),
            trace_state: "k=v".into(),
            flags: 0x301,
            name: "GET /".into(),
            kind: SpanKind::Server,
            start_time_unix_nano: 10,
            end_time_unix_nano: 25,
            attributes: vec![lookout_model::KeyValue {
                key: "http.status_code".into(),
                value: AnyValue::Int(200),
            }],
            dropped_attributes_count: 1,
            events: vec![SpanEvent {
                time_unix_nano: 12,
                name: "exception".into(),
                attributes: vec![lookout_model::KeyValue {
                    key: "n".into(),
                    value: AnyValue::Int(1),
                }],
                dropped_attributes_count: 2,
            }],
            dropped_events_count: 3,
            links: vec![SpanLink {
                trace_id: TraceId([4; 16]),
                span_id: SpanId([5; 8]),
                trace_state: "l=1".into(),
                attributes: vec![lookout_model::KeyValue {
                    key: "m".into(),
                    value: AnyValue::Int(2),
                }],
                dropped_attributes_count: 4,
                flags: 0x101,
            }],
            dropped_links_count: 5,
            status_code: StatusCode::Error,
            status_message: "boom".into(),
        };
        assert_eq!(span, &expected);
    }

    #[test]
    fn invalid_ids_are_rejected_alone() {
        let with = |change: fn(&mut proto::Span)| {
            let mut span = good_span(9);
            change(&mut span);
            span
        };
        // (description, span, accepted)
        let cases: Vec<(&str, proto::Span, bool)> = vec![
            ("good", good_span(7), true),
            ("short trace id", with(|s| s.trace_id = vec![1; 15]), false),
            ("zero trace id", with(|s| s.trace_id = vec![0; 16]), false),
            ("empty span id", with(|s| s.span_id = vec![]), false),
            ("zero span id", with(|s| s.span_id = vec![0; 8]), false),
            (
                "long parent id",
                with(|s| s.parent_span_id = vec![1; 9]),
                false,
            ),
            (
                "zero parent id is root",
                with(|s| s.parent_span_id = vec![0; 8]),
                true,
            ),
            (
                "bad link id",
                with(|s| {
                    s.links = vec![proto::span::Link {
                        trace_id: vec![1; 4],
                        span_id: vec![1; 8],
                        ..Default::default()
                    }]
                }),
                false,
            ),
            (
                "empty link context kept",
                with(|s| {
                    s.links = vec![proto::span::Link {
                        trace_state: "t=1".into(),
                        ..Default::default()
                    }]
                }),
                true,
            ),
        ];
        for (description, bad, accepted) in cases {
            let converted = spans(request(vec![vec![vec![good_span(1), bad, good_span(2)]]]));
            let expected_kept = if accepted { 3 } else { 2 };
            assert_eq!(
                converted.batch.record_count(),
                expected_kept,
                "{description}"
            );
            assert_eq!(converted.rejected, u64::from(!accepted), "{description}");
            assert_eq!(
                converted.rejected_invalid_id, converted.rejected,
                "{description}"
            );
            let names: Vec<_> = converted
                .batch
                .iter()
                .map(|(_, _, s)| s.name.clone())
                .collect();
            assert!(names.contains(&"span-1".to_owned()), "{description}");
            assert!(names.contains(&"span-2".to_owned()), "{description}");
            if !accepted {
                let message = converted.error_message("spans").unwrap();
                assert!(message.contains("resource 0, scope 0, span 1"), "{message}");
            }
        }
    }

    #[test]
    fn empty_groups_are_dropped() {
        let mut bad = good_span(1);
        bad.span_id = vec![];
        let converted = spans(request(vec![
            vec![vec![bad], vec![]],
            vec![],
            vec![vec![good_span(3)]],
        ]));
        assert_eq!(converted.batch.resources.len(), 1);
        assert_eq!(converted.batch.resources[0].scopes.len(), 1);
        assert_eq!(converted.rejected, 1);
    }
}
