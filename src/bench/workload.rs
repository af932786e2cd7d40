//! Synthetic OTLP traces for `lookout bench ingest`: a small web shop of six services.

use std::collections::HashSet;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

/// Probability that a server span fails on its own (callers may fail with it).
const SERVER_ERROR_PROBABILITY: f64 = 0.015;
/// Probability that a database call fails.
const DATABASE_ERROR_PROBABILITY: f64 = 0.01;
const ROOT_MEDIAN_DURATION_MILLIS: f64 = 30.0;
const ROOT_DURATION_SIGMA: f64 = 1.0;
const NANOS_PER_MILLI: u64 = 1_000_000;

struct Database {
    system: &'static str,
    namespace: &'static str,
    peer_name: &'static str,
    port: i64,
    /// Span name and a short statement.
    operations: &'static [(&'static str, &'static str)],
}

struct Service {
    name: &'static str,
    version: &'static str,
    sdk_language: &'static str,
    /// HTTP method and route of each endpoint the service serves.
    routes: &'static [(&'static str, &'static str)],
    downstream: &'static [usize],
    database: Option<Database>,
    topics: &'static [&'static str],
    /// A business id attribute the service puts on its server spans.
    id_attribute: &'static str,
}

const FRONTEND: usize = 0;
const CHECKOUT: usize = 1;
const PAYMENT: usize = 2;
const INVENTORY: usize = 3;
const SHIPPING: usize = 4;
const AUTH: usize = 5;

const POSTGRES_PORT: i64 = 5432;
const REDIS_PORT: i64 = 6379;

static SERVICES: [Service; 6] = [
    Service {
        name: "frontend",
        version: "2.14.1",
        sdk_language: "nodejs",
        routes: &[
            ("GET", "/"),
            ("GET", "/api/cart"),
            ("POST", "/api/cart/items"),
            ("POST", "/api/checkout"),
            ("GET", "/api/products/{id}"),
        ],
        downstream: &[CHECKOUT, INVENTORY, AUTH],
        database: None,
        topics: &[],
        id_attribute: "app.session.id",
    },
    Service {
        name: "checkout",
        version: "1.8.0",
        sdk_language: "go",
        routes: &[
            ("POST", "/checkout"),
            ("GET", "/checkout/{id}"),
            ("POST", "/checkout/{id}/confirm"),
        ],
        downstream: &[PAYMENT, INVENTORY, SHIPPING],
        database: Some(Database {
            system: "postgresql",
            namespace: "orders",
            peer_name: "orders-db",
            port: POSTGRES_PORT,
            operations: &[
                (
                    "SELECT orders",
                    "SELECT id, status, total FROM orders WHERE id = $1",
                ),
                (
                    "INSERT orders",
                    "INSERT INTO orders (id, user_id, total) VALUES ($1, $2, $3)",
                ),
                (
                    "UPDATE orders",
                    "UPDATE orders SET status = $1 WHERE id = $2",
                ),
            ],
        }),
        topics: &["order.created", "order.confirmed"],
        id_attribute: "app.order.id",
    },
    Service {
        name: "payment",
        version: "3.2.7",
        sdk_language: "java",
        routes: &[
            ("POST", "/charge"),
            ("POST", "/refund"),
            ("GET", "/payments/{id}"),
        ],
        downstream: &[AUTH],
        database: Some(Database {
            system: "postgresql",
            namespace: "payments",
            peer_name: "payments-db",
            port: POSTGRES_PORT,
            operations: &[
                (
                    "INSERT payments",
                    "INSERT INTO payments (id, order_id, amount) VALUES ($1, $2, $3)",
                ),
                (
                    "SELECT payments",
                    "SELECT id, state FROM payments WHERE order_id = $1",
                ),
            ],
        }),
        topics: &["payment.settled"],
        id_attribute: "app.payment.id",
    },
    Service {
        name: "inventory",
        version: "0.9.4",
        sdk_language: "rust",
        routes: &[
            ("GET", "/stock/{id}"),
            ("POST", "/reserve"),
            ("POST", "/release"),
        ],
        downstream: &[],
        database: Some(Database {
            system: "redis",
            namespace: "0",
            peer_name: "inventory-cache",
            port: REDIS_PORT,
            operations: &[
                ("HGET", "HGET stock:? available"),
                ("HINCRBY", "HINCRBY stock:? reserved ?"),
            ],
        }),
        topics: &[],
        id_attribute: "app.sku",
    },
    Service {
        name: "shipping",
        version: "1.1.2",
        sdk_language: "python",
        routes: &[
            ("POST", "/quote"),
            ("POST", "/shipments"),
            ("GET", "/shipments/{id}"),
        ],
        downstream: &[],
        database: Some(Database {
            system: "postgresql",
            namespace: "shipping",
            peer_name: "shipping-db",
            port: POSTGRES_PORT,
            operations: &[
                (
                    "SELECT rates",
                    "SELECT carrier, price FROM rates WHERE zone = $1",
                ),
                (
                    "INSERT shipments",
                    "INSERT INTO shipments (id, order_id) VALUES ($1, $2)",
                ),
            ],
        }),
        topics: &["shipment.created"],
        id_attribute: "app.shipment.id",
    },
    Service {
        name: "auth",
        version: "4.0.3",
        sdk_language: "go",
        routes: &[
            ("POST", "/token/verify"),
            ("GET", "/users/{id}"),
            ("POST", "/login"),
        ],
        downstream: &[],
        database: Some(Database {
            system: "redis",
            namespace: "1",
            peer_name: "sessions-cache",
            port: REDIS_PORT,
            operations: &[
                ("GET", "GET session:?"),
                ("SETEX", "SETEX session:? 3600 ?"),
            ],
        }),
        topics: &[],
        id_attribute: "app.session.id",
    },
];

const SERVER_ERRORS: [(&str, &str); 4] = [
    ("TimeoutError", "deadline exceeded waiting for upstream"),
    ("IllegalStateException", "order is already confirmed"),
    ("PoolExhaustedError", "connection pool exhausted"),
    ("ValueError", "invalid cart item quantity"),
];

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
        let target_span_count: usize = self.rng.random_range(3..=12);
        let duration_nanos = log_normal_nanos(
            &mut self.rng,
            ROOT_MEDIAN_DURATION_MILLIS,
            ROOT_DURATION_SIGMA,
        )
        .clamp(NANOS_PER_MILLI, 8_000 * NANOS_PER_MILLI);
        let end_unix_nanos =
            now_unix_nanos.saturating_sub(self.rng.random_range(0..2_000 * NANOS_PER_MILLI));
        let start_unix_nanos = end_unix_nanos.saturating_sub(duration_nanos);
        let mut builder = TraceBuilder {
            trace_id: random_nonzero_id::<16>(&mut self.rng).to_vec(),
            rng: &mut self.rng,
            spans_remaining: target_span_count - 1,
            spans: Vec::with_capacity(target_span_count),
        };
        let frontend = &SERVICES[FRONTEND];
        let route = *frontend
            .routes
            .choose(builder.rng)
            .expect("every service has routes");
        let path = concrete_path(route.1, builder.rng);
        let root_span_id = builder.span_id();
        builder.server(
            FRONTEND,
            route,
            path,
            root_span_id,
            Vec::new(),
            start_unix_nanos,
            end_unix_nanos,
        );
        builder.spans
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

/// What a child of a server span does.
#[derive(Debug, Clone, Copy)]
enum ChildKind {
    Call(usize),
    Database,
    Publish,
}

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

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        service_index: usize,
        span_id: Vec<u8>,
        parent_span_id: Vec<u8>,
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
    /// its HTTP status code.
    #[allow(clippy::too_many_arguments)]
    fn server(
        &mut self,
        service_index: usize,
        (method, route): (&'static str, &'static str),
        path: String,
        span_id: Vec<u8>,
        parent_span_id: Vec<u8>,
        start_unix_nanos: u64,
        end_unix_nanos: u64,
    ) -> i64 {
        let service = &SERVICES[service_index];
        let is_root = parent_span_id.is_empty();
        let child_count: u64 = match (self.spans_remaining, is_root) {
            (0, _) => 0,
            (_, true) => self.rng.random_range(1..=3),
            (_, false) => self.rng.random_range(0..=2),
        };
        let mut child_failed = false;
        if child_count > 0 {
            // Children run one after another inside the middle 90% of the parent.
            let duration_nanos = end_unix_nanos - start_unix_nanos;
            let slot_nanos = (duration_nanos - duration_nanos / 10) / child_count;
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
            span_id,
            parent_span_id,
            name,
            SpanKind::Server,
            window,
            attributes,
            failure,
        );
        status_code
    }

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
            server_span_id,
            client_span_id.clone(),
            start + network_nanos,
            end - network_nanos,
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
            client_span_id,
            parent_span_id,
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
            span_id,
            parent_span_id,
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
            span_id,
            parent_span_id,
            name,
            SpanKind::Producer,
            window,
            attributes,
            None,
        );
        false
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
fn concrete_path(route: &str, rng: &mut StdRng) -> String {
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

fn random_nonzero_id<const LEN: usize>(rng: &mut StdRng) -> [u8; LEN] {
    loop {
        let id: [u8; LEN] = rng.random();
        if id.iter().any(|byte| *byte != 0) {
            return id;
        }
    }
}

fn string(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// Protobuf tags (field number and wire type) of the fields rewritten before each send.
const TRACE_ID_TAG: [u8; 2] = [0x0a, 16]; // Span.trace_id = 1, length-delimited, 16 bytes
const START_TIME_TAG: u8 = 0x39; // Span.start_time_unix_nano = 7, fixed64
const END_TIME_TAG: u8 = 0x41; // Span.end_time_unix_nano = 8, fixed64
const EVENT_TIME_TAG: u8 = 0x09; // Event.time_unix_nano = 1, fixed64

/// An export request encoded once, whose trace ids and timestamps are rewritten in the
/// encoded bytes before each send, so that repeated sends are new traces at the current time.
#[derive(Debug, Clone)]
pub struct EncodedRequest {
    body: Vec<u8>,
    span_count: usize,
    trace_id_offsets: Vec<usize>,
    timestamp_offsets: Vec<usize>,
    generated_at_unix_nanos: u64,
}

impl EncodedRequest {
    /// Encodes `request`, whose timestamps were generated relative to `generated_at_unix_nanos`.
    pub fn new(request: &ExportTraceServiceRequest, generated_at_unix_nanos: u64) -> Self {
        let spans = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans);
        let mut trace_ids = HashSet::new();
        let mut timestamps = HashSet::new();
        let mut span_count = 0;
        for span in spans {
            span_count += 1;
            trace_ids.insert(span.trace_id.as_slice());
            timestamps.extend([span.start_time_unix_nano, span.end_time_unix_nano]);
            timestamps.extend(span.events.iter().map(|event| event.time_unix_nano));
        }
        let body = request.encode_to_vec();
        // Tags followed by one of our random 16-byte ids or nanosecond timestamps do not occur
        // by chance, so a plain scan finds exactly the fields to rewrite.
        let mut trace_id_offsets = Vec::with_capacity(span_count);
        let mut timestamp_offsets = Vec::with_capacity(span_count * 2);
        let mut offset = 0;
        while offset < body.len() {
            let rest = &body[offset..];
            if rest.len() >= 18 && rest[..2] == TRACE_ID_TAG && trace_ids.contains(&rest[2..18]) {
                trace_id_offsets.push(offset + 2);
                offset += 18;
            } else if rest.len() >= 9
                && matches!(rest[0], START_TIME_TAG | END_TIME_TAG | EVENT_TIME_TAG)
                && timestamps.contains(&u64::from_le_bytes(
                    rest[1..9].try_into().expect("eight bytes"),
                ))
            {
                timestamp_offsets.push(offset + 1);
                offset += 9;
            } else {
                offset += 1;
            }
        }
        Self {
            body,
            span_count,
            trace_id_offsets,
            timestamp_offsets,
            generated_at_unix_nanos,
        }
    }

    /// Number of spans in the request.
    pub fn span_count(&self) -> usize {
        self.span_count
    }

    /// Size of the encoded, uncompressed request.
    pub fn size_bytes(&self) -> usize {
        self.body.len()
    }

    /// The encoded request with trace ids scrambled by `round` (distinct rounds give distinct
    /// trace ids, links within a trace stay intact) and timestamps moved forward by the time
    /// elapsed since generation.
    pub fn body_for_send(&self, round: u64, now_unix_nanos: u64) -> Vec<u8> {
        let mut body = self.body.clone();
        let trace_id_mask = splitmix64(round).to_le_bytes();
        for &offset in &self.trace_id_offsets {
            for (byte, mask) in body[offset..offset + 8].iter_mut().zip(trace_id_mask) {
                *byte ^= mask;
            }
        }
        let shift_nanos = now_unix_nanos.saturating_sub(self.generated_at_unix_nanos);
        for &offset in &self.timestamp_offsets {
            let field = &mut body[offset..offset + 8];
            let timestamp = u64::from_le_bytes((&*field).try_into().expect("eight bytes"));
            field.copy_from_slice(&timestamp.saturating_add(shift_nanos).to_le_bytes());
        }
        body
    }
}

/// A bijective mixer, so each round gets a different, well-spread mask.
fn splitmix64(value: u64) -> u64 {
    let mut mixed = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^ (mixed >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

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
    fn body_for_send_rewrites_trace_ids_and_shifts_times() {
        let request = Workload::new(5).request(300, NOW_UNIX_NANOS);
        let encoded = EncodedRequest::new(&request, NOW_UNIX_NANOS);
        assert_eq!(encoded.trace_id_offsets.len(), encoded.span_count());
        let shift_nanos = 5_000_000_000;
        let body = encoded.body_for_send(9, NOW_UNIX_NANOS + shift_nanos);
        let decoded =
            ExportTraceServiceRequest::decode(body.as_slice()).expect("patched body decodes");
        let mut new_id_by_old_id = HashMap::new();
        for (before, after) in all_spans(&request).into_iter().zip(all_spans(&decoded)) {
            assert_ne!(before.trace_id, after.trace_id);
            let new_id = new_id_by_old_id
                .entry(before.trace_id.clone())
                .or_insert_with(|| after.trace_id.clone());
            assert_eq!(
                *new_id, after.trace_id,
                "spans of one trace keep sharing a trace id"
            );
            assert_eq!(before.span_id, after.span_id);
            assert_eq!(
                before.start_time_unix_nano + shift_nanos,
                after.start_time_unix_nano
            );
            assert_eq!(
                before.end_time_unix_nano + shift_nanos,
                after.end_time_unix_nano
            );
            for (event_before, event_after) in before.events.iter().zip(&after.events) {
                assert_eq!(
                    event_before.time_unix_nano + shift_nanos,
                    event_after.time_unix_nano
                );
            }
            assert_eq!(before.attributes, after.attributes);
        }
        let other_round = encoded.body_for_send(10, NOW_UNIX_NANOS + shift_nanos);
        assert_ne!(body, other_round);
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
