//! Telemetry records as Lookout keeps them: everything OTLP carries, without protobuf.
//!
//! Batches keep OTLP's nesting (resource -> scope -> records) so a resource is stored once per
//! group rather than once per record; storage flattens them into rows.

use serde::{Deserialize, Serialize};

use crate::ids::{SpanId, TraceId};

/// The three telemetry signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// Spans.
    Traces,
    /// Log records.
    Logs,
    /// Metric data points.
    Metrics,
}

impl Signal {
    /// Every signal, in a fixed order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

    /// Lowercase name used in paths, labels and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }
}

/// An attribute value: every OTLP `AnyValue` variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AnyValue {
    /// UTF-8 text.
    String(String),
    /// Boolean.
    Bool(bool),
    /// Signed 64-bit integer.
    Int(i64),
    /// 64-bit float.
    Double(f64),
    /// Ordered list of values.
    Array(Vec<AnyValue>),
    /// Nested key/value list.
    KvList(Vec<KeyValue>),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

impl AnyValue {
    /// The value as text for indexing and SQL maps: strings as they are, numbers and booleans
    /// in their usual text form, bytes as lowercase hex, arrays and lists as JSON.
    pub fn to_text(&self) -> String {
        match self {
            AnyValue::String(text) => text.clone(),
            AnyValue::Bool(value) => value.to_string(),
            AnyValue::Int(value) => value.to_string(),
            AnyValue::Double(value) => value.to_string(),
            AnyValue::Bytes(bytes) => hex::encode(bytes),
            AnyValue::Array(_) | AnyValue::KvList(_) => self.to_json().to_string(),
        }
    }

    /// The value as natural JSON (what a person expects to read in an API answer).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            AnyValue::String(text) => Value::String(text.clone()),
            AnyValue::Bool(value) => Value::Bool(*value),
            AnyValue::Int(value) => Value::from(*value),
            AnyValue::Double(value) => serde_json::Number::from_f64(*value)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(value.to_string())),
            AnyValue::Bytes(bytes) => Value::String(hex::encode(bytes)),
            AnyValue::Array(values) => Value::Array(values.iter().map(AnyValue::to_json).collect()),
            AnyValue::KvList(pairs) => Value::Object(
                pairs
                    .iter()
                    .map(|kv| (kv.key.clone(), kv.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A key with its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// Attribute key, e.g. `http.route`.
    pub key: String,
    /// Attribute value.
    pub value: AnyValue,
}

impl KeyValue {
    /// Convenience constructor for string attributes.
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: AnyValue::String(value.into()),
        }
    }
}

/// Finds an attribute by key.
pub fn find_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

/// The entity producing telemetry (a service instance, a host...).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resource {
    /// Resource attributes, e.g. `service.name`.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Schema URL of the resource.
    pub schema_url: String,
}

impl Resource {
    /// Name used when a resource has no `service.name`, as the OTel SDKs do.
    pub const UNKNOWN_SERVICE: &'static str = "unknown_service";

    /// `service.name`, or `unknown_service` when absent.
    pub fn service_name(&self) -> String {
        match find_attribute(&self.attributes, "service.name") {
            Some(AnyValue::String(name)) if !name.is_empty() => name.clone(),
            Some(other @ (AnyValue::Int(_) | AnyValue::Double(_) | AnyValue::Bool(_))) => {
                other.to_text()
            }
            _ => Self::UNKNOWN_SERVICE.to_owned(),
        }
    }
}

/// The instrumentation scope (library) that produced records.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Scope {
    /// Scope name.
    pub name: String,
    /// Scope version.
    pub version: String,
    /// Scope attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Schema URL of the scope.
    pub schema_url: String,
}

/// Records grouped under their resource and scope, as OTLP sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch<T> {
    /// One group per resource.
    pub resources: Vec<ResourceGroup<T>>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Self {
            resources: Vec::new(),
        }
    }
}

impl<T> Batch<T> {
    /// Number of records (spans, log records, or metric data points for metrics).
    pub fn record_count(&self) -> usize
    where
        T: Countable,
    {
        self.resources
            .iter()
            .flat_map(|group| &group.scopes)
            .flat_map(|scope| &scope.records)
            .map(Countable::count)
            .sum()
    }

    /// Iterates `(resource, scope, record)`.
    pub fn iter(&self) -> impl Iterator<Item = (&Resource, &Scope, &T)> {
        self.resources.iter().flat_map(|group| {
            group.scopes.iter().flat_map(move |scope| {
                scope
                    .records
                    .iter()
                    .map(move |record| (&group.resource, &scope.scope, record))
            })
        })
    }
}

/// How many stored records one item stands for.
pub trait Countable {
    /// Record count: 1 for spans and logs, the number of data points for a metric.
    fn count(&self) -> usize;
}

/// The records of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceGroup<T> {
    /// The resource.
    pub resource: Resource,
    /// Records per scope.
    pub scopes: Vec<ScopeGroup<T>>,
}

/// The records of one scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeGroup<T> {
    /// The scope.
    pub scope: Scope,
    /// The records.
    pub records: Vec<T>,
}

/// Spans grouped by resource and scope.
pub type SpanBatch = Batch<Span>;
/// Log records grouped by resource and scope.
pub type LogBatch = Batch<LogRecord>;
/// Metrics grouped by resource and scope.
pub type MetricBatch = Batch<Metric>;

/// Span kind, with OTLP's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SpanKind {
    /// 0.
    #[default]
    Unspecified,
    /// 1.
    Internal,
    /// 2.
    Server,
    /// 3.
    Client,
    /// 4.
    Producer,
    /// 5.
    Consumer,
}

impl SpanKind {
    /// From OTLP's integer; unknown values become `Unspecified`.
    pub fn from_i32(value: i32) -> Self {
        match value {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// The name used in SQL and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }

    /// Inverse of [`Self::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [
            SpanKind::Unspecified,
            SpanKind::Internal,
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Producer,
            SpanKind::Consumer,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// Span status code, with OTLP's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum StatusCode {
    /// 0.
    #[default]
    Unset,
    /// 1.
    Ok,
    /// 2.
    Error,
}

impl StatusCode {
    /// From OTLP's integer; unknown values become `Unset`.
    pub fn from_i32(value: i32) -> Self {
        match value {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }

    /// The name used in SQL and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "unset",
            StatusCode::Ok => "ok",
            StatusCode::Error => "error",
        }
    }

    /// Inverse of [`Self::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [StatusCode::Unset, StatusCode::Ok, StatusCode::Error]
            .into_iter()
            .find(|code| code.as_str() == text)
    }
}

/// One span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Trace the span belongs to.
    pub trace_id: TraceId,
    /// The span's own id.
    pub span_id: SpanId,
    /// Parent span, absent for a root span.
    pub parent_span_id: Option<SpanId>,
    /// W3C trace state.
    pub trace_state: String,
    /// W3C trace flags and OTLP span flags.
    pub flags: u32,
    /// Operation name.
    pub name: String,
    /// Span kind.
    pub kind: SpanKind,
    /// Start, Unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// End, Unix nanoseconds.
    pub end_time_unix_nano: u64,
    /// Span attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Timed events.
    pub events: Vec<SpanEvent>,
    /// Events the sender dropped.
    pub dropped_events_count: u32,
    /// Links to other spans.
    pub links: Vec<SpanLink>,
    /// Links the sender dropped.
    pub dropped_links_count: u32,
    /// Final status.
    pub status_code: StatusCode,
    /// Status message (usually set with an error).
    pub status_message: String,
}

impl Countable for Span {
    fn count(&self) -> usize {
        1
    }
}

impl Span {
    /// Duration in nanoseconds; zero when the end precedes the start.
    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
    }
}

/// An event inside a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanEvent {
    /// When, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// Event name (`exception` for recorded errors).
    pub name: String,
    /// Event attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
}

/// A link from a span to another span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanLink {
    /// Linked trace.
    pub trace_id: TraceId,
    /// Linked span.
    pub span_id: SpanId,
    /// W3C trace state of the link.
    pub trace_state: String,
    /// Link attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Link flags.
    pub flags: u32,
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Event time, Unix nanoseconds; 0 when the sender did not know it.
    pub time_unix_nano: u64,
    /// When the collector or SDK observed it, Unix nanoseconds.
    pub observed_time_unix_nano: u64,
    /// Severity 1..=24 (0 = unspecified).
    pub severity_number: i32,
    /// Severity as the source wrote it.
    pub severity_text: String,
    /// The body, of any value type.
    pub body: Option<AnyValue>,
    /// Log attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Trace flags.
    pub flags: u32,
    /// Trace this record belongs to.
    pub trace_id: Option<TraceId>,
    /// Span this record belongs to.
    pub span_id: Option<SpanId>,
    /// Event name, for log records that are events.
    pub event_name: String,
}

impl Countable for LogRecord {
    fn count(&self) -> usize {
        1
    }
}

impl LogRecord {
    /// The time used for partitioning and ordering: event time, or observed time when the
    /// event time is unknown.
    pub fn effective_time_unix_nano(&self) -> u64 {
        if self.time_unix_nano != 0 {
            self.time_unix_nano
        } else {
            self.observed_time_unix_nano
        }
    }
}

/// Aggregation temporality of sums and histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Temporality {
    /// Not given (gauges, summaries).
    #[default]
    Unspecified,
    /// Each point covers (previous point, this point].
    Delta,
    /// Each point covers (start, this point].
    Cumulative,
}

impl Temporality {
    /// From OTLP's integer.
    pub fn from_i32(value: i32) -> Self {
        match value {
            1 => Temporality::Delta,
            2 => Temporality::Cumulative,
            _ => Temporality::Unspecified,
        }
    }

    /// The name used in SQL and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Temporality::Unspecified => "unspecified",
            Temporality::Delta => "delta",
            Temporality::Cumulative => "cumulative",
        }
    }
}

/// A metric with its data points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Metric name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Unit (UCUM).
    pub unit: String,
    /// Metric-level metadata attributes.
    pub metadata: Vec<KeyValue>,
    /// The points.
    pub data: MetricData,
}

impl Countable for Metric {
    fn count(&self) -> usize {
        match &self.data {
            MetricData::Gauge { points } => points.len(),
            MetricData::Sum { points, .. } => points.len(),
            MetricData::Histogram { points, .. } => points.len(),
            MetricData::ExponentialHistogram { points, .. } => points.len(),
            MetricData::Summary { points } => points.len(),
        }
    }
}

/// The kind of metric and its points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MetricData {
    /// Instantaneous values.
    Gauge {
        /// Points.
        points: Vec<NumberPoint>,
    },
    /// Sums (counters and up-down counters).
    Sum {
        /// Points.
        points: Vec<NumberPoint>,
        /// Delta or cumulative.
        temporality: Temporality,
        /// Whether the sum only grows.
        is_monotonic: bool,
    },
    /// Explicit-bucket histograms.
    Histogram {
        /// Points.
        points: Vec<HistogramPoint>,
        /// Delta or cumulative.
        temporality: Temporality,
    },
    /// Base-2 exponential histograms.
    ExponentialHistogram {
        /// Points.
        points: Vec<ExponentialHistogramPoint>,
        /// Delta or cumulative.
        temporality: Temporality,
    },
    /// Quantile summaries.
    Summary {
        /// Points.
        points: Vec<SummaryPoint>,
    },
}

impl MetricData {
    /// Name of the metric type used in SQL: `gauge`, `sum`, `histogram`,
    /// `exponential_histogram`, `summary`.
    pub fn type_name(&self) -> &'static str {
        match self {
            MetricData::Gauge { .. } => "gauge",
            MetricData::Sum { .. } => "sum",
            MetricData::Histogram { .. } => "histogram",
            MetricData::ExponentialHistogram { .. } => "exponential_histogram",
            MetricData::Summary { .. } => "summary",
        }
    }
}

/// Fields every data point carries.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PointCommon {
    /// Point attributes (the series labels).
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation interval, Unix nanoseconds (0 when unknown).
    pub start_time_unix_nano: u64,
    /// Time of the point, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// Data point flags (bit 0: no recorded value).
    pub flags: u32,
    /// Exemplars attached to the point.
    pub exemplars: Vec<Exemplar>,
}

/// A gauge or sum point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumberPoint {
    /// Attributes, times, flags, exemplars.
    pub common: PointCommon,
    /// The value.
    pub value: NumberValue,
}

/// A number that was sent as an integer or a double.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum NumberValue {
    /// Integer value.
    Int(i64),
    /// Double value.
    Double(f64),
}

impl NumberValue {
    /// The value as f64.
    pub fn as_f64(self) -> f64 {
        match self {
            NumberValue::Int(value) => value as f64,
            NumberValue::Double(value) => value,
        }
    }
}

/// An explicit-bucket histogram point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramPoint {
    /// Attributes, times, flags, exemplars.
    pub common: PointCommon,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations, when known.
    pub sum: Option<f64>,
    /// Per-bucket counts (`explicit_bounds.len() + 1` of them).
    pub bucket_counts: Vec<u64>,
    /// Upper bounds of all buckets but the last.
    pub explicit_bounds: Vec<f64>,
    /// Smallest observation, when known.
    pub min: Option<f64>,
    /// Largest observation, when known.
    pub max: Option<f64>,
}

/// One side (positive or negative) of an exponential histogram.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExponentialBuckets {
    /// Index of the first bucket.
    pub offset: i32,
    /// Counts from `offset` on.
    pub bucket_counts: Vec<u64>,
}

/// A base-2 exponential histogram point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExponentialHistogramPoint {
    /// Attributes, times, flags, exemplars.
    pub common: PointCommon,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations, when known.
    pub sum: Option<f64>,
    /// Resolution: bucket boundaries are powers of `2^(2^-scale)`.
    pub scale: i32,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Buckets of positive observations.
    pub positive: ExponentialBuckets,
    /// Buckets of negative observations.
    pub negative: ExponentialBuckets,
    /// Smallest observation, when known.
    pub min: Option<f64>,
    /// Largest observation, when known.
    pub max: Option<f64>,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
}

/// A summary point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryPoint {
    /// Attributes, times, flags, exemplars (summaries carry none).
    pub common: PointCommon,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// `(quantile, value)` pairs.
    pub quantile_values: Vec<QuantileValue>,
}

/// One quantile of a summary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantileValue {
    /// Quantile in [0, 1].
    pub quantile: f64,
    /// Value at that quantile.
    pub value: f64,
}

/// A sample measurement attached to a metric point, possibly with its trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exemplar {
    /// Attributes not already on the point.
    pub filtered_attributes: Vec<KeyValue>,
    /// When, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// The measurement.
    pub value: NumberValue,
    /// Span that recorded it.
    pub span_id: Option<SpanId>,
    /// Trace that recorded it.
    pub trace_id: Option<TraceId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_name_defaults_and_text_forms() {
        let resource = Resource::default();
        assert_eq!(resource.service_name(), "unknown_service");
        let resource = Resource {
            attributes: vec![KeyValue::string("service.name", "checkout")],
            ..Resource::default()
        };
        assert_eq!(resource.service_name(), "checkout");
        let cases = [
            (AnyValue::Int(-3), "-3"),
            (AnyValue::Bool(true), "true"),
            (AnyValue::Bytes(vec![0xab, 0x01]), "ab01"),
            (
                AnyValue::Array(vec![AnyValue::Int(1), AnyValue::String("a".into())]),
                "[1,\"a\"]",
            ),
            (
                AnyValue::KvList(vec![KeyValue::string("k", "v")]),
                "{\"k\":\"v\"}",
            ),
        ];
        for (value, text) in cases {
            assert_eq!(value.to_text(), text);
        }
    }

    #[test]
    fn record_count_counts_points() {
        let point = NumberPoint {
            common: PointCommon::default(),
            value: NumberValue::Int(1),
        };
        let batch = MetricBatch {
            resources: vec![ResourceGroup {
                resource: Resource::default(),
                scopes: vec![ScopeGroup {
                    scope: Scope::default(),
                    records: vec![Metric {
                        name: "m".into(),
                        description: String::new(),
                        unit: String::new(),
                        metadata: vec![],
                        data: MetricData::Gauge {
                            points: vec![point.clone(), point],
                        },
                    }],
                }],
            }],
        };
        assert_eq!(batch.record_count(), 2);
        assert_eq!(batch.iter().count(), 1);
    }
}
