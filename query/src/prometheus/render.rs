//! Prometheus' JSON shapes, written straight into a string (range answers can hold millions
//! of points): values as `[unix_seconds, "text"]`, labels as objects.

use std::fmt::Write;

use crate::promql::eval_format::format_float;
use crate::promql::exemplars::SeriesExemplars;
use crate::promql::{Labels, Millis, QueryValue};

fn push_str(out: &mut String, text: &str) {
    // serde_json escapes exactly as JSON requires.
    out.push_str(&serde_json::Value::String(text.to_owned()).to_string());
}

fn push_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, name);
        out.push(':');
        push_str(out, value);
    }
    out.push('}');
}

/// `[1435781451.781, "1"]`.
fn push_point(out: &mut String, timestamp_ms: Millis, value: &str) {
    out.push('[');
    push_time(out, timestamp_ms);
    out.push(',');
    push_str(out, value);
    out.push(']');
}

fn push_time(out: &mut String, timestamp_ms: Millis) {
    // As Prometheus' `MarshalTimestamp`: seconds, then three digits of milliseconds if any.
    let mut t = timestamp_ms;
    if t < 0 {
        out.push('-');
        t = -t;
    }
    let _ = write!(out, "{}", t / 1000);
    let fraction = t % 1000;
    if fraction != 0 {
        let _ = write!(out, ".{fraction:03}");
    }
}

/// The `data` object of a query answer.
pub fn query_value(value: &QueryValue) -> String {
    let mut out = String::new();
    out.push_str("{\"resultType\":\"");
    out.push_str(value.result_type());
    out.push_str("\",\"result\":");
    match value {
        QueryValue::Scalar {
            timestamp_ms,
            value,
        } => push_point(&mut out, *timestamp_ms, &format_float(*value)),
        QueryValue::String {
            timestamp_ms,
            value,
        } => push_point(&mut out, *timestamp_ms, value),
        QueryValue::Vector(samples) => {
            out.push('[');
            for (i, sample) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(&mut out, &sample.labels);
                out.push_str(",\"value\":");
                push_point(&mut out, sample.timestamp_ms, &format_float(sample.value));
                out.push('}');
            }
            out.push(']');
        }
        QueryValue::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(&mut out, &s.labels);
                out.push_str(",\"values\":[");
                for (j, (t, v)) in s.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_point(&mut out, *t, &format_float(*v));
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
    out
}

/// The `data` array of a query_exemplars answer.
pub fn exemplars(found: &[SeriesExemplars]) -> String {
    let mut out = String::from("[");
    for (i, series) in found.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"seriesLabels\":");
        push_labels(&mut out, &series.series_labels);
        out.push_str(",\"exemplars\":[");
        for (j, exemplar) in series.exemplars.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str("{\"labels\":");
            push_labels(&mut out, &exemplar.labels);
            out.push_str(",\"value\":");
            push_str(&mut out, &format_float(exemplar.value));
            out.push_str(",\"timestamp\":");
            push_time(&mut out, exemplar.timestamp_ms);
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_render_as_prometheus_does() {
        let mut out = String::new();
        push_time(&mut out, 1_435_781_451_781);
        assert_eq!(out, "1435781451.781");
        out.clear();
        push_time(&mut out, 1_435_781_451_500);
        assert_eq!(out, "1435781451.500");
        out.clear();
        push_time(&mut out, 1_435_781_451_000);
        assert_eq!(out, "1435781451");
    }
}
