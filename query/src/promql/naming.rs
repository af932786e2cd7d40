//! OTLP metric names and attributes -> Prometheus names and labels, as the OpenTelemetry
//! specification's "Prometheus and OpenMetrics compatibility" section describes.
//!
//! - Metric names: characters outside `[a-zA-Z0-9_:]` become `_`, runs of `_` collapse, a
//!   leading digit gets a `_` prefix; the unit is appended as a suffix (`s` -> `_seconds`,
//!   `By` -> `_bytes`, `1` on a gauge -> `_ratio`, `{request}` annotations dropped,
//!   `m/s` -> `_meters_per_second`) unless the name already ends with it; monotonic sums get
//!   `_total`; explicit-bucket histograms become `_bucket{le}`, `_sum` and `_count`.
//! - Labels: characters outside `[a-zA-Z0-9_]` become `_`, a leading digit gets a `key_`
//!   prefix; attributes that collide after sanitising are joined with `;` in key order.
//! - `service.namespace/service.name` (or `service.name` alone) -> `job`,
//!   `service.instance.id` -> `instance`.
//! - Series written through Prometheus remote write keep their names and labels verbatim.

pub use lookout_model::prometheus::REMOTE_WRITE_SCOPE;

/// What kind of Prometheus metric an OTLP metric becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromKind {
    /// A gauge or a non-monotonic sum.
    Gauge,
    /// A monotonic sum (`_total`).
    Counter,
    /// An explicit-bucket histogram (`_bucket`, `_sum`, `_count`).
    Histogram,
    /// A summary (`{quantile}`, `_sum`, `_count`).
    Summary,
    /// Not representable as classic series (exponential histograms).
    Unsupported,
}

impl PromKind {
    /// The kind of a stored metric from its `metric_type` and `is_monotonic` columns.
    pub fn of(metric_type: &str, is_monotonic: Option<bool>) -> PromKind {
        match metric_type {
            "gauge" => PromKind::Gauge,
            "sum" if is_monotonic == Some(true) => PromKind::Counter,
            "sum" => PromKind::Gauge,
            "histogram" => PromKind::Histogram,
            "summary" => PromKind::Summary,
            _ => PromKind::Unsupported,
        }
    }

    /// Prometheus' metadata type name.
    pub fn type_name(self) -> &'static str {
        match self {
            PromKind::Gauge => "gauge",
            PromKind::Counter => "counter",
            PromKind::Histogram => "histogram",
            PromKind::Summary => "summary",
            PromKind::Unsupported => "unknown",
        }
    }
}

/// Replaces characters outside `[a-zA-Z0-9_:]` with `_`, collapses runs of `_` and prefixes a
/// leading digit with `_`.
pub fn sanitize_metric_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            c
        } else {
            '_'
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Replaces characters outside `[a-zA-Z0-9_]` with `_`; a leading digit gets `key_` in front,
/// as the specification asks.
pub fn sanitize_label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    out
}

fn main_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// The suffix words a UCUM unit becomes (`ms` -> `milliseconds`, `m/s` -> `meters_per_second`);
/// empty for no unit, `1` and pure annotations like `{request}`.
pub fn unit_suffix(unit: &str) -> String {
    // Annotations in curly braces carry no unit.
    let mut stripped = String::with_capacity(unit.len());
    let mut depth = 0usize;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => stripped.push(c),
            _ => {}
        }
    }
    let stripped = stripped.trim();
    if stripped.is_empty() || stripped == "1" {
        return String::new();
    }
    let (main, per) = match stripped.split_once('/') {
        Some((main, per)) => (main.trim(), Some(per.trim())),
        None => (stripped, None),
    };
    let mut words = Vec::new();
    if !main.is_empty() && main != "1" {
        words.push(
            main_unit(main)
                .map(str::to_owned)
                .unwrap_or_else(|| main.to_owned()),
        );
    }
    if let Some(per) = per.filter(|per| !per.is_empty()) {
        words.push(format!(
            "per_{}",
            per_unit(per)
                .map(str::to_owned)
                .unwrap_or_else(|| per.to_owned())
        ));
    }
    let joined = words.join("_");
    sanitize_metric_name(&joined).trim_matches('_').to_owned()
}

/// The Prometheus base name of an OTLP metric (what `_bucket`, `_sum` and `_count` attach to
/// for histograms and summaries; the whole name for gauges and counters).
pub fn prometheus_name(otlp_name: &str, unit: &str, kind: PromKind) -> String {
    let mut name = sanitize_metric_name(otlp_name);
    let mut had_total = false;
    if kind == PromKind::Counter && name.ends_with("_total") {
        name.truncate(name.len() - "_total".len());
        had_total = true;
    }
    let suffix = unit_suffix(unit);
    if !suffix.is_empty() && !name.ends_with(&format!("_{suffix}")) && name != suffix {
        name.push('_');
        name.push_str(&suffix);
    }
    if kind == PromKind::Gauge && unit.trim() == "1" && !name.ends_with("_ratio") {
        name.push_str("_ratio");
    }
    if kind == PromKind::Counter || had_total {
        name.push_str("_total");
    }
    name
}

/// The `job` label: `service.namespace/service.name`, or `service.name` alone.
pub fn job_label(service_name: &str, service_namespace: Option<&str>) -> String {
    match service_namespace.filter(|namespace| !namespace.is_empty()) {
        Some(namespace) => format!("{namespace}/{service_name}"),
        None => service_name.to_owned(),
    }
}

/// Formats a bucket bound as Prometheus formats `le` values (`0.5`, `1`, `+Inf`).
pub fn format_le(bound: f64) -> String {
    crate::promql::eval::format_float(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, unit: &str, kind: PromKind, expected: &str) {
        assert_eq!(
            prometheus_name(name, unit, kind),
            expected,
            "{name} [{unit}]"
        );
    }

    #[test]
    fn names_follow_the_specification() {
        check(
            "http.server.request.duration",
            "s",
            PromKind::Histogram,
            "http_server_request_duration_seconds",
        );
        check(
            "system.memory.usage",
            "By",
            PromKind::Gauge,
            "system_memory_usage_bytes",
        );
        check(
            "http.server.requests",
            "{request}",
            PromKind::Counter,
            "http_server_requests_total",
        );
        check(
            "cpu.utilization",
            "1",
            PromKind::Gauge,
            "cpu_utilization_ratio",
        );
        check("requests_total", "1", PromKind::Counter, "requests_total");
        check("latency_seconds", "s", PromKind::Gauge, "latency_seconds");
        check("speed", "m/s", PromKind::Gauge, "speed_meters_per_second");
        check("queue..depth", "", PromKind::Gauge, "queue_depth");
        check("rate", "{packet}/s", PromKind::Gauge, "rate_per_second");
        check("2xx", "", PromKind::Counter, "_2xx_total");
    }

    #[test]
    fn labels_and_job() {
        assert_eq!(
            sanitize_label_name("http.request.method"),
            "http_request_method"
        );
        assert_eq!(sanitize_label_name("0abc"), "key_0abc");
        assert_eq!(job_label("checkout", Some("shop")), "shop/checkout");
        assert_eq!(job_label("checkout", None), "checkout");
        assert_eq!(format_le(f64::INFINITY), "+Inf");
        assert_eq!(format_le(0.25), "0.25");
        assert_eq!(format_le(10.0), "10");
    }
}
