//! Synthetic OTLP traces for `lookout bench ingest`: a small web shop of six services.

mod catalog;
mod trace_builder;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use catalog::{SERVICES, Service};
use trace_builder::{build_trace, string};

/// A generated span and the index of the service that emitted it.
#[derive(Debug, Clone)]
pub struct ServiceSpan {
    /// Index into the service catalog; spans of one service share a resource.
    pub service_index: usize,
    /// The span itself.
    pub span: Span,
}

/// Generates traces of the synthetic shop from a seeded random source.
pub struct Workload {
    rng: StdRng,
    resources: Vec<Resource>,
}

impl Workload {
    /// A generator whose output depends only on `seed` and the clock values passed in.
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let resources = SERVICES
            .iter()
            .map(|service| service_resource(service, &mut rng))
            .collect();
        Self { rng, resources }
    }

    /// One trace of 3 to 12 spans that ended shortly before `now_unix_nanos`.
    pub fn trace(&mut self, now_unix_nanos: u64) -> Vec<ServiceSpan> {
        build_trace(&mut self.rng, now_unix_nanos)
    }

    /// An export request of whole traces holding at least `min_span_count` spans, one
    /// `ResourceSpans` per service.
    pub fn request(
        &mut self,
        min_span_count: usize,
        now_unix_nanos: u64,
    ) -> ExportTraceServiceRequest {
        let mut spans_by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
        let mut span_count = 0;
        while span_count < min_span_count {
            for generated in self.trace(now_unix_nanos) {
                span_count += 1;
                spans_by_service[generated.service_index].push(generated.span);
            }
        }
        let resource_spans = spans_by_service
            .into_iter()
            .zip(&self.resources)
            .filter(|(spans, _)| !spans.is_empty())
            .map(|(spans, resource)| ResourceSpans {
                resource: Some(resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lookout.bench".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".to_owned(),
            })
            .collect();
        ExportTraceServiceRequest { resource_spans }
    }
}

fn service_resource(service: &Service, rng: &mut StdRng) -> Resource {
    let attributes = vec![
        string("service.name", service.name),
        string("service.version", service.version),
        string("service.instance.id", hex::encode(rng.random::<[u8; 8]>())),
        string(
            "host.name",
            format!("{}-{}", service.name, hex::encode(rng.random::<[u8; 3]>())),
        ),
        string("deployment.environment", "production"),
        string("telemetry.sdk.name", "opentelemetry"),
        string("telemetry.sdk.language", service.sdk_language),
        string("telemetry.sdk.version", "1.30.0"),
    ];
    Resource {
        attributes,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
    use rand::SeedableRng;

    use super::catalog::SERVICES;
    use super::trace_builder::concrete_path;
    use super::*;

    const NOW_UNIX_NANOS: u64 = 1_750_000_000_000_000_000;

    fn all_spans(request: &ExportTraceServiceRequest) -> Vec<&Span> {
        request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect()
    }

    #[test]
    fn traces_have_valid_links_and_nested_times() {
        let mut workload = Workload::new(7);
        for _ in 0..500 {
            let trace = workload.trace(NOW_UNIX_NANOS);
            assert!(
                (3..=12).contains(&trace.len()),
                "trace of {} spans",
                trace.len()
            );
            let by_id: HashMap<&[u8], &ServiceSpan> = trace
                .iter()
                .map(|s| (s.span.span_id.as_slice(), s))
                .collect();
            assert_eq!(by_id.len(), trace.len(), "span ids are unique");
            let roots = trace
                .iter()
                .filter(|s| s.span.parent_span_id.is_empty())
                .count();
            assert_eq!(roots, 1);
            for child in &trace {
                let span = &child.span;
                assert_eq!(span.trace_id, trace[0].span.trace_id);
                assert_eq!(span.trace_id.len(), 16);
                assert!(span.start_time_unix_nano <= span.end_time_unix_nano);
                assert!(span.end_time_unix_nano <= NOW_UNIX_NANOS);
                if span.parent_span_id.is_empty() {
                    assert_eq!(span.kind, SpanKind::Server as i32);
                    continue;
                }
                let parent = by_id[span.parent_span_id.as_slice()];
                assert!(
                    parent.span.start_time_unix_nano <= span.start_time_unix_nano,
                    "child starts inside parent"
                );
                assert!(
                    span.end_time_unix_nano <= parent.span.end_time_unix_nano,
                    "child ends inside parent"
                );
                if span.kind == SpanKind::Server as i32 {
                    assert_eq!(
                        parent.span.kind,
                        SpanKind::Client as i32,
                        "server spans answer a client span"
                    );
                    assert_ne!(
                        parent.service_index, child.service_index,
                        "calls cross services"
                    );
                } else {
                    assert_eq!(
                        parent.service_index, child.service_index,
                        "client spans run in the caller"
                    );
                }
            }
        }
    }

    #[test]
    fn error_rate_is_a_few_percent() {
        let mut workload = Workload::new(3);
        let request = workload.request(20_000, NOW_UNIX_NANOS);
        let spans = all_spans(&request);
        let errors = spans.iter().filter(|s| {
            s.status
                .as_ref()
                .is_some_and(|st| st.code == StatusCode::Error as i32)
        });
        let error_fraction = errors.count() as f64 / spans.len() as f64;
        assert!(
            (0.005..0.06).contains(&error_fraction),
            "error fraction {error_fraction}"
        );
        assert!(
            spans
                .iter()
                .any(|s| s.events.iter().any(|e| e.name == "exception"))
        );
    }

    #[test]
    fn requests_hold_whole_traces_grouped_by_service() {
        let request = Workload::new(1).request(1000, NOW_UNIX_NANOS);
        let span_count = all_spans(&request).len();
        assert!((1000..1012).contains(&span_count), "{span_count} spans");
        assert!(request.resource_spans.len() > 1 && request.resource_spans.len() <= SERVICES.len());
        for resource_spans in &request.resource_spans {
            let resource = resource_spans.resource.as_ref().expect("resource is set");
            assert!(
                resource
                    .attributes
                    .iter()
                    .any(|kv| kv.key == "service.name")
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_request() {
        let first = Workload::new(42).request(200, NOW_UNIX_NANOS);
        let second = Workload::new(42).request(200, NOW_UNIX_NANOS);
        assert_eq!(first, second);
    }

    #[test]
    fn concrete_paths_fill_placeholders() {
        let mut rng = StdRng::seed_from_u64(0);
        let path = concrete_path("/checkout/{id}/confirm", &mut rng);
        let segments: Vec<&str> = path.split('/').collect();
        assert_eq!(segments[1], "checkout");
        assert!(segments[2].parse::<u32>().is_ok(), "{path}");
        assert_eq!(segments[3], "confirm");
        assert_eq!(concrete_path("/", &mut rng), "/");
    }
}
