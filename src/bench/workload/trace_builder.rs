//! Builds one synthetic trace: a root request to the frontend fanning out into client/server
//! call pairs, database calls and message publishes, with children inside their parents.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use super::ServiceSpan;
use super::catalog::{FRONTEND, SERVER_ERRORS, SERVICES, Service};

/// Probability that a server span fails on its own (callers may fail with it).
const SERVER_ERROR_PROBABILITY: f64 = 0.015;
/// Probability that a database call fails.
const DATABASE_ERROR_PROBABILITY: f64 = 0.01;
const ROOT_MEDIAN_DURATION_MILLIS: f64 = 30.0;
const ROOT_DURATION_SIGMA: f64 = 1.0;
const NANOS_PER_MILLI: u64 = 1_000_000;

/// One trace of 3 to 12 spans that ended shortly before `now_unix_nanos`.
pub(super) fn build_trace(rng: &mut StdRng, now_unix_nanos: u64) -> Vec<ServiceSpan> {
    let target_span_count: usize = rng.random_range(3..=12);
    let duration_nanos = log_normal_nanos(rng, ROOT_MEDIAN_DURATION_MILLIS, ROOT_DURATION_SIGMA)
        .clamp(NANOS_PER_MILLI, 8_000 * NANOS_PER_MILLI);
    let end_unix_nanos =
        now_unix_nanos.saturating_sub(rng.random_range(0..2_000 * NANOS_PER_MILLI));
    let start_unix_nanos = end_unix_nanos.saturating_sub(duration_nanos);
    let route = *SERVICES[FRONTEND]
        .routes
        .choose(rng)
        .expect("every service has routes");
    let path = concrete_path(route.1, rng);
    let mut builder = TraceBuilder {
        trace_id: random_nonzero_id::<16>(rng).to_vec(),
        rng,
        spans_remaining: target_span_count - 1,
        spans: Vec::with_capacity(target_span_count),
    };
    let root_ids = (builder.span_id(), Vec::new());
    let window = (start_unix_nanos, end_unix_nanos);
    builder.server(FRONTEND, route, path, root_ids, window);
    builder.spans
}

/// What a child of a server span does.
#[derive(Debug, Clone, Copy)]
enum ChildKind {
    Call(usize),
    Database,
    Publish,
}

/// The trace under construction and how many more spans it may get.
struct TraceBuilder<'a> {
    rng: &'a mut StdRng,
    trace_id: Vec<u8>,
    spans_remaining: usize,
    spans: Vec<ServiceSpan>,
}

impl TraceBuilder<'_> {
    fn span_id(&mut self) -> Vec<u8> {
        random_nonzero_id::<8>(self.rng).to_vec()
    }

    /// Appends a finished span; `failure` is an exception type and message.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        service_index: usize,
        (span_id, parent_span_id): (Vec<u8>, Vec<u8>),
        name: String,
        kind: SpanKind,
        (start_unix_nanos, end_unix_nanos): (u64, u64),
        attributes: Vec<KeyValue>,
        failure: Option<(&str, &str)>,
    ) {
        // W3C sampled flag, plus whether the parent context came from another process.
        let has_remote_parent = kind == SpanKind::Server && !parent_span_id.is_empty();
        let flags = 0x01 | 0x100 | if has_remote_parent { 0x200 } else { 0 };
        let mut span = Span {
            trace_id: self.trace_id.clone(),
            span_id,
            parent_span_id,
            flags,
            name,
            kind: kind as i32,
            start_time_unix_nano: start_unix_nanos,
            end_time_unix_nano: end_unix_nanos,
            attributes,
            ..Default::default()
        };
        if let Some((exception_type, message)) = failure {
            span.status = Some(Status {
                message: message.to_owned(),
                code: StatusCode::Error as i32,
            });
            if self.rng.random_bool(0.6) {
                span.events.push(Event {
                    time_unix_nano: end_unix_nanos
                        .saturating_sub((end_unix_nanos - start_unix_nanos) / 10),
                    name: "exception".to_owned(),
                    attributes: vec![
                        string("exception.type", exception_type),
                        string("exception.message", message),
                    ],
                    dropped_attributes_count: 0,
                });
            }
        }
        self.spans.push(ServiceSpan {
            service_index,
            span,
        });
    }

    /// Emits a server span of `service_index` handling `route` (children first) and returns
    /// its HTTP status code. `ids` are the span's own id and its parent's (empty for a root).
    fn server(
        &mut self,
        service_index: usize,
        (method, route): (&'static str, &'static str),
        path: String,
        (span_id, parent_span_id): (Vec<u8>, Vec<u8>),
        (start_unix_nanos, end_unix_nanos): (u64, u64),
    ) -> i64 {
        let service = &SERVICES[service_index];
        let is_root = parent_span_id.is_empty();
        let child_count: u64 = match (self.spans_remaining, is_root) {
            (0, _) => 0,
            // Services with dependencies nearly always use them, which makes traces deeper.
            (_, true) => self.rng.random_range(1..=3),
            (_, false) if !service.downstream.is_empty() => self.rng.random_range(1..=3),
            (_, false) => self.rng.random_range(0..=2),
        };
        let mut child_failed = false;
        // Children run one after another inside the middle 90% of the parent.
        let duration_nanos = end_unix_nanos - start_unix_nanos;
        if let Some(slot_nanos) = (duration_nanos - duration_nanos / 10).checked_div(child_count) {
            for child_index in 0..child_count {
                let Some(kind) = self.pick_child(service, is_root && child_index == 0) else {
                    break;
                };
                let slot_start = start_unix_nanos + duration_nanos / 20 + slot_nanos * child_index;
                let child_nanos =
                    ((slot_nanos as f64 * self.rng.random_range(0.5..0.9)) as u64).max(1);
                let child_start = slot_start
                    + self
                        .rng
                        .random_range(0..=slot_nanos.saturating_sub(child_nanos));
                let window = (child_start, (child_start + child_nanos).min(end_unix_nanos));
                let parent = span_id.clone();
                child_failed |= match kind {
                    ChildKind::Call(callee) => self.call(service_index, callee, parent, window),
                    ChildKind::Database => self.database(service_index, parent, window),
                    ChildKind::Publish => self.publish(service_index, parent, window),
                };
            }
        }
        let own_failure = self.rng.random_bool(SERVER_ERROR_PROBABILITY);
        let failed = own_failure || (child_failed && self.rng.random_bool(0.7));
        let status_code = match (failed, method) {
            (true, _) => 500,
            (false, "POST") => 201,
            (false, _) if self.rng.random_bool(0.02) => 404,
            (false, _) => 200,
        };
        let mut attributes = vec![
            string("http.request.method", method),
            string("http.route", route),
            string("url.path", path),
            string("url.scheme", "http"),
            string("server.address", service.name),
            int("server.port", 8080),
            int("http.response.status_code", status_code),
            string(
                service.id_attribute,
                hex::encode(self.rng.random::<[u8; 8]>()),
            ),
        ];
        if is_root {
            attributes.push(string(
                "user.id",
                format!("user-{}", self.rng.random_range(1..50_000)),
            ));
            attributes.push(string(
                "client.address",
                format!(
                    "10.0.{}.{}",
                    self.rng.random_range(0..255),
                    self.rng.random_range(1..255)
                ),
            ));
        }
        let failure = if own_failure {
            Some(
                *SERVER_ERRORS
                    .choose(self.rng)
                    .expect("the error list is not empty"),
            )
        } else if failed {
            Some(("UpstreamError", "upstream request failed"))
        } else {
            None
        };
        let name = format!("{method} {route}");
        let window = (start_unix_nanos, end_unix_nanos);
        self.push(
            service_index,
            (span_id, parent_span_id),
            name,
            SpanKind::Server,
            window,
            attributes,
            failure,
        );
        status_code
    }

    /// Chooses what the next child of a `service` server span does, within the span budget.
    fn pick_child(&mut self, service: &Service, force_call: bool) -> Option<ChildKind> {
        let mut choices = Vec::with_capacity(4);
        if self.spans_remaining >= 2 && !service.downstream.is_empty() {
            let callee = *service.downstream.choose(self.rng)?;
            if force_call {
                return Some(ChildKind::Call(callee));
            }
            // Listed twice so traces get deeper than one hop more often.
            choices.extend([ChildKind::Call(callee), ChildKind::Call(callee)]);
        }
        if self.spans_remaining >= 1 && service.database.is_some() {
            choices.push(ChildKind::Database);
        }
        if self.spans_remaining >= 1 && !service.topics.is_empty() {
            choices.push(ChildKind::Publish);
        }
        choices.choose(self.rng).copied()
    }

    /// A client span in the caller and a server span in the callee; returns whether it failed.
    fn call(
        &mut self,
        caller: usize,
        callee: usize,
        parent_span_id: Vec<u8>,
        (start, end): (u64, u64),
    ) -> bool {
        self.spans_remaining = self.spans_remaining.saturating_sub(2);
        let callee_service = &SERVICES[callee];
        let (method, route) = *callee_service
            .routes
            .choose(self.rng)
            .expect("every service has routes");
        let path = concrete_path(route, self.rng);
        let client_span_id = self.span_id();
        let server_span_id = self.span_id();
        let network_nanos = ((end - start) as f64 * self.rng.random_range(0.02..0.08)) as u64;
        let url = format!("http://{}:8080{path}", callee_service.name);
        let status_code = self.server(
            callee,
            (method, route),
            path,
            (server_span_id, client_span_id.clone()),
            (start + network_nanos, end - network_nanos),
        );
        let attributes = vec![
            string("http.request.method", method),
            string("url.full", url),
            string("server.address", callee_service.name),
            int("server.port", 8080),
            string("net.peer.name", callee_service.name),
            int("http.response.status_code", status_code),
        ];
        let failed = status_code >= 500;
        let failure = failed.then_some(("HttpError", "HTTP 500 Internal Server Error"));
        let name = format!("{method} {route}");
        self.push(
            caller,
            (client_span_id, parent_span_id),
            name,
            SpanKind::Client,
            (start, end),
            attributes,
            failure,
        );
        failed
    }

    fn database(
        &mut self,
        service_index: usize,
        parent_span_id: Vec<u8>,
        window: (u64, u64),
    ) -> bool {
        self.spans_remaining = self.spans_remaining.saturating_sub(1);
        let Some(database) = &SERVICES[service_index].database else {
            return false;
        };
        let (name, statement) = *database
            .operations
            .choose(self.rng)
            .expect("every database has operations");
        let attributes = vec![
            string("db.system", database.system),
            string("db.namespace", database.namespace),
            string("db.statement", statement),
            string("net.peer.name", database.peer_name),
            int("server.port", database.port),
        ];
        let failed = self.rng.random_bool(DATABASE_ERROR_PROBABILITY);
        let failure = failed.then_some(("ConnectionError", "connection reset by peer"));
        let span_id = self.span_id();
        self.push(
            service_index,
            (span_id, parent_span_id),
            name.to_owned(),
            SpanKind::Client,
            window,
            attributes,
            failure,
        );
        failed
    }

    fn publish(
        &mut self,
        service_index: usize,
        parent_span_id: Vec<u8>,
        window: (u64, u64),
    ) -> bool {
        self.spans_remaining = self.spans_remaining.saturating_sub(1);
        let Some(topic) = SERVICES[service_index].topics.choose(self.rng) else {
            return false;
        };
        let attributes = vec![
            string("messaging.system", "kafka"),
            string("messaging.destination.name", *topic),
            string("messaging.operation", "publish"),
            string(
                "messaging.message.id",
                hex::encode(self.rng.random::<[u8; 8]>()),
            ),
            string("net.peer.name", "kafka-0.kafka"),
        ];
        let span_id = self.span_id();
        let name = format!("publish {topic}");
        self.push(
            service_index,
            (span_id, parent_span_id),
            name,
            SpanKind::Producer,
            window,
            attributes,
            None,
        );
        false
    }
}

/// A log-normal duration: `median_millis * e^(sigma * z)` with a standard normal `z`.
fn log_normal_nanos(rng: &mut StdRng, median_millis: f64, sigma: f64) -> u64 {
    // Box-Muller; 1 - u keeps the logarithm finite.
    let uniform_a = 1.0 - rng.random::<f64>();
    let uniform_b = rng.random::<f64>();
    let standard_normal =
        (-2.0 * uniform_a.ln()).sqrt() * (std::f64::consts::TAU * uniform_b).cos();
    (median_millis * (sigma * standard_normal).exp() * NANOS_PER_MILLI as f64) as u64
}

/// The route with its `{placeholder}` segments replaced by random ids.
pub(super) fn concrete_path(route: &str, rng: &mut StdRng) -> String {
    route
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                rng.random_range(1_000..100_000u32).to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Random bytes, never all zero (an invalid OTLP id).
pub(super) fn random_nonzero_id<const LEN: usize>(rng: &mut StdRng) -> [u8; LEN] {
    loop {
        let id: [u8; LEN] = rng.random();
        if id.iter().any(|byte| *byte != 0) {
            return id;
        }
    }
}

/// A string attribute.
pub(super) fn string(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// An integer attribute.
pub(super) fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(value)),
        }),
        ..Default::default()
    }
}
