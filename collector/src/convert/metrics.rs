//! `ExportMetricsServiceRequest` -> [`MetricBatch`]. Records are data points: a point without
//! a value, or with a malformed exemplar, is refused alone.

use lookout_model::{
    Batch, Exemplar, ExponentialBuckets, ExponentialHistogramPoint, HistogramPoint, Metric,
    MetricBatch, MetricData, NumberPoint, NumberValue, PointCommon, QuantileValue, ResourceGroup,
    ScopeGroup, SummaryPoint, Temporality,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue as ProtoKeyValue;
use opentelemetry_proto::tonic::metrics::v1 as proto;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

use super::values::{attributes, resource, scope};
use super::{Converted, Rejection, Tally, optional_span_id, optional_trace_id};

/// OTLP `DataPointFlags.FLAG_NO_RECORDED_VALUE`: the point marks a gap (like a Prometheus
/// staleness marker) and its value fields are to be ignored.
const FLAG_NO_RECORDED_VALUE: u32 = 1;

/// Converts a metrics export request; bad data points are refused one by one and metrics
/// left without points are dropped.
pub fn metrics(request: ExportMetricsServiceRequest) -> Converted<MetricBatch> {
    let mut tally = Tally::default();
    let mut batch = Batch::default();
    for (resource_index, resource_metrics) in request.resource_metrics.into_iter().enumerate() {
        let mut scopes = Vec::new();
        for (scope_index, scope_metrics) in resource_metrics.scope_metrics.into_iter().enumerate() {
            let mut records = Vec::with_capacity(scope_metrics.metrics.len());
            for (metric_index, proto_metric) in scope_metrics.metrics.into_iter().enumerate() {
                let mut reject = |point_index: usize, rejection: Rejection| {
                    tally.reject(rejection, || {
                        format!(
                            "resource {resource_index}, scope {scope_index}, metric {metric_index}, data point {point_index}"
                        )
                    })
                };
                if let Some(converted) = metric(proto_metric, &mut reject) {
                    records.push(converted);
                }
            }
            if !records.is_empty() {
                scopes.push(ScopeGroup {
                    scope: scope(scope_metrics.scope, scope_metrics.schema_url),
                    records,
                });
            }
        }
        if !scopes.is_empty() {
            batch.resources.push(ResourceGroup {
                resource: resource(resource_metrics.resource, resource_metrics.schema_url),
                scopes,
            });
        }
    }
    tally.finish(batch)
}

/// Converts one metric; `None` when no point is left (or the metric had no data at all,
/// which carries no data point to count).
fn metric(metric: proto::Metric, reject: &mut impl FnMut(usize, Rejection)) -> Option<Metric> {
    let data = match metric.data? {
        Data::Gauge(gauge) => MetricData::Gauge {
            points: keep(gauge.data_points, number_point, reject),
        },
        Data::Sum(sum) => MetricData::Sum {
            points: keep(sum.data_points, number_point, reject),
            temporality: Temporality::from_i32(sum.aggregation_temporality),
            is_monotonic: sum.is_monotonic,
        },
        Data::Histogram(histogram) => MetricData::Histogram {
            points: keep(histogram.data_points, histogram_point, reject),
            temporality: Temporality::from_i32(histogram.aggregation_temporality),
        },
        Data::ExponentialHistogram(histogram) => MetricData::ExponentialHistogram {
            points: keep(histogram.data_points, exponential_histogram_point, reject),
            temporality: Temporality::from_i32(histogram.aggregation_temporality),
        },
        Data::Summary(summary) => MetricData::Summary {
            points: keep(summary.data_points, summary_point, reject),
        },
    };
    let converted = Metric {
        name: metric.name,
        description: metric.description,
        unit: metric.unit,
        // Metadata has no dropped count to report empty values in.
        metadata: attributes(metric.metadata).0,
        data,
    };
    (lookout_model::Countable::count(&converted) > 0).then_some(converted)
}

/// Converts points, reporting each refused one by its index.
fn keep<P, T>(
    points: Vec<P>,
    convert: fn(P) -> Result<T, Rejection>,
    reject: &mut impl FnMut(usize, Rejection),
) -> Vec<T> {
    let mut kept = Vec::with_capacity(points.len());
    for (index, point) in points.into_iter().enumerate() {
        match convert(point) {
            Ok(converted) => kept.push(converted),
            Err(rejection) => reject(index, rejection),
        }
    }
    kept
}

fn common(
    attributes_in: Vec<ProtoKeyValue>,
    start_time_unix_nano: u64,
    time_unix_nano: u64,
    flags: u32,
    exemplars: Vec<proto::Exemplar>,
) -> Result<PointCommon, Rejection> {
    Ok(PointCommon {
        // Points have no dropped count to report empty values in.
        attributes: attributes(attributes_in).0,
        start_time_unix_nano,
        time_unix_nano,
        flags,
        exemplars: exemplars
            .into_iter()
            .map(exemplar)
            .collect::<Result<_, _>>()?,
    })
}

fn number_value(value: proto::number_data_point::Value) -> NumberValue {
    match value {
        proto::number_data_point::Value::AsInt(number) => NumberValue::Int(number),
        proto::number_data_point::Value::AsDouble(number) => NumberValue::Double(number),
    }
}

fn number_point(point: proto::NumberDataPoint) -> Result<NumberPoint, Rejection> {
    let value = match point.value {
        Some(value) => number_value(value),
        // A point flagged "no recorded value" is a valid gap marker: kept, value NaN.
        None if point.flags & FLAG_NO_RECORDED_VALUE != 0 => NumberValue::Double(f64::NAN),
        None => {
            return Err(Rejection::missing_value(
                "number data point has neither as_int nor as_double",
            ));
        }
    };
    Ok(NumberPoint {
        common: common(
            point.attributes,
            point.start_time_unix_nano,
            point.time_unix_nano,
            point.flags,
            point.exemplars,
        )?,
        value,
    })
}

fn exemplar(exemplar: proto::Exemplar) -> Result<Exemplar, Rejection> {
    let value = exemplar
        .value
        .map(|value| match value {
            proto::exemplar::Value::AsInt(number) => NumberValue::Int(number),
            proto::exemplar::Value::AsDouble(number) => NumberValue::Double(number),
        })
        .ok_or_else(|| Rejection::missing_value("exemplar has neither as_int nor as_double"))?;
    Ok(Exemplar {
        trace_id: optional_trace_id("exemplars.trace_id", &exemplar.trace_id)?,
        span_id: optional_span_id("exemplars.span_id", &exemplar.span_id)?,
        filtered_attributes: attributes(exemplar.filtered_attributes).0,
        time_unix_nano: exemplar.time_unix_nano,
        value,
    })
}

fn histogram_point(point: proto::HistogramDataPoint) -> Result<HistogramPoint, Rejection> {
    Ok(HistogramPoint {
        common: common(
            point.attributes,
            point.start_time_unix_nano,
            point.time_unix_nano,
            point.flags,
            point.exemplars,
        )?,
        count: point.count,
        sum: point.sum,
        bucket_counts: point.bucket_counts,
        explicit_bounds: point.explicit_bounds,
        min: point.min,
        max: point.max,
    })
}

fn buckets(
    buckets: Option<proto::exponential_histogram_data_point::Buckets>,
) -> ExponentialBuckets {
    let buckets = buckets.unwrap_or_default();
    ExponentialBuckets {
        offset: buckets.offset,
        bucket_counts: buckets.bucket_counts,
    }
}

fn exponential_histogram_point(
    point: proto::ExponentialHistogramDataPoint,
) -> Result<ExponentialHistogramPoint, Rejection> {
    Ok(ExponentialHistogramPoint {
        common: common(
            point.attributes,
            point.start_time_unix_nano,
            point.time_unix_nano,
            point.flags,
            point.exemplars,
        )?,
        count: point.count,
        sum: point.sum,
        scale: point.scale,
        zero_count: point.zero_count,
        positive: buckets(point.positive),
        negative: buckets(point.negative),
        min: point.min,
        max: point.max,
        zero_threshold: point.zero_threshold,
    })
}

fn summary_point(point: proto::SummaryDataPoint) -> Result<SummaryPoint, Rejection> {
    Ok(SummaryPoint {
        common: common(
            point.attributes,
            point.start_time_unix_nano,
            point.time_unix_nano,
            point.flags,
            Vec::new(),
        )?,
        count: point.count,
        sum: point.sum,
        quantile_values: point
            .quantile_values
            .into_iter()
            .map(|quantile| QuantileValue {
                quantile: quantile.quantile,
                value: quantile.value,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests;
