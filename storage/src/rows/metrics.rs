//! Metrics -> rows of the `metrics` table, one row per data point.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, StringBuilder, UInt32Array, UInt64Array,
};
use datafusion::arrow::datatypes::{Float64Type, UInt64Type};
use datafusion::arrow::record_batch::RecordBatch;
use lookout_model::{Metric, MetricBatch, MetricData, PointCommon, Resource, Scope, Temporality};

use super::{
    AttributeMapBuilder, StructListBuilder, arrow_error, nanos_i64, optional_list_column,
    optional_timestamp_column, timestamp_column,
};
use crate::StorageError;
use crate::schema::{exemplar_fields, metrics_schema};

/// The per-type part of one row; everything not set stays null.
#[derive(Default)]
struct PointValues {
    value: Option<f64>,
    count: Option<u64>,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    bucket_bounds: Option<Vec<f64>>,
    bucket_counts: Option<Vec<u64>>,
    exp_scale: Option<i32>,
    exp_zero_count: Option<u64>,
    exp_zero_threshold: Option<f64>,
    exp_positive_offset: Option<i32>,
    exp_positive_bucket_counts: Option<Vec<u64>>,
    exp_negative_offset: Option<i32>,
    exp_negative_bucket_counts: Option<Vec<u64>>,
    quantiles: Option<Vec<f64>>,
    quantile_values: Option<Vec<f64>>,
}

/// Column buffers of the `metrics` table.
#[derive(Default)]
struct MetricColumns {
    service_name: StringBuilder,
    metric_name: StringBuilder,
    metric_type: StringBuilder,
    description: StringBuilder,
    unit: StringBuilder,
    temporality: StringBuilder,
    is_monotonic: Vec<Option<bool>>,
    start_timestamp: Vec<Option<i64>>,
    timestamp: Vec<i64>,
    values: Vec<PointValues>,
    exemplars: Option<StructListBuilder>,
    exemplar_time: Vec<i64>,
    exemplar_value: Vec<f64>,
    exemplar_trace_id: StringBuilder,
    exemplar_span_id: StringBuilder,
    exemplar_attributes: AttributeMapBuilder,
    flags: Vec<u32>,
    attributes: AttributeMapBuilder,
    resource_attributes: AttributeMapBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
}

/// What a row shares with the other points of its metric.
struct MetricContext<'a> {
    service_name: &'a str,
    resource: &'a Resource,
    scope: &'a Scope,
    metric: &'a Metric,
    temporality: Temporality,
    is_monotonic: Option<bool>,
}

impl MetricColumns {
    fn push(&mut self, context: &MetricContext<'_>, common: &PointCommon, values: PointValues) {
        self.service_name.append_value(context.service_name);
        self.metric_name.append_value(&context.metric.name);
        self.metric_type
            .append_value(context.metric.data.type_name());
        self.description.append_value(&context.metric.description);
        self.unit.append_value(&context.metric.unit);
        self.temporality.append_value(context.temporality.as_str());
        self.is_monotonic.push(context.is_monotonic);
        self.start_timestamp.push(
            (common.start_time_unix_nano != 0).then(|| nanos_i64(common.start_time_unix_nano)),
        );
        self.timestamp.push(nanos_i64(common.time_unix_nano));
        self.values.push(values);
        let exemplars = self.exemplars.get_or_insert_with(StructListBuilder::new);
        for exemplar in &common.exemplars {
            self.exemplar_time.push(nanos_i64(exemplar.time_unix_nano));
            self.exemplar_value.push(exemplar.value.as_f64());
            self.exemplar_trace_id
                .append_option(exemplar.trace_id.map(|id| id.to_hex()));
            self.exemplar_span_id
                .append_option(exemplar.span_id.map(|id| id.to_hex()));
            self.exemplar_attributes.push(&exemplar.filtered_attributes);
        }
        exemplars.push_row(common.exemplars.len());
        self.flags.push(common.flags);
        self.attributes.push(&common.attributes);
        self.resource_attributes.push(&context.resource.attributes);
        self.scope_name.append_value(&context.scope.name);
        self.scope_version.append_value(&context.scope.version);
    }

    fn finish(mut self) -> Result<RecordBatch, StorageError> {
        let values = std::mem::take(&mut self.values);
        macro_rules! column {
            ($field:ident, $array:ty) => {
                Arc::new(<$array>::from(
                    values.iter().map(|row| row.$field).collect::<Vec<_>>(),
                )) as ArrayRef
            };
        }
        macro_rules! list {
            ($field:ident, $type:ty) => {
                optional_list_column::<$type, _>(values.iter().map(|row| row.$field.clone()))
            };
        }
        let exemplars = self
            .exemplars
            .take()
            .unwrap_or_else(StructListBuilder::new)
            .finish(
                exemplar_fields(),
                vec![
                    timestamp_column(std::mem::take(&mut self.exemplar_time)),
                    Arc::new(Float64Array::from(std::mem::take(&mut self.exemplar_value))),
                    Arc::new(self.exemplar_trace_id.finish()),
                    Arc::new(self.exemplar_span_id.finish()),
                    std::mem::take(&mut self.exemplar_attributes).finish()?,
                ],
            )?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.service_name.finish()),
            Arc::new(self.metric_name.finish()),
            Arc::new(self.metric_type.finish()),
            Arc::new(self.description.finish()),
            Arc::new(self.unit.finish()),
            Arc::new(self.temporality.finish()),
            Arc::new(BooleanArray::from(std::mem::take(&mut self.is_monotonic))),
            optional_timestamp_column(std::mem::take(&mut self.start_timestamp)),
            timestamp_column(std::mem::take(&mut self.timestamp)),
            column!(value, Float64Array),
            column!(count, UInt64Array),
            column!(sum, Float64Array),
            column!(min, Float64Array),
            column!(max, Float64Array),
            list!(bucket_bounds, Float64Type),
            list!(bucket_counts, UInt64Type),
            column!(exp_scale, Int32Array),
            column!(exp_zero_count, UInt64Array),
            column!(exp_zero_threshold, Float64Array),
            column!(exp_positive_offset, Int32Array),
            list!(exp_positive_bucket_counts, UInt64Type),
            column!(exp_negative_offset, Int32Array),
            list!(exp_negative_bucket_counts, UInt64Type),
            list!(quantiles, Float64Type),
            list!(quantile_values, Float64Type),
            exemplars,
            Arc::new(UInt32Array::from(std::mem::take(&mut self.flags))),
            std::mem::take(&mut self.attributes).finish()?,
            std::mem::take(&mut self.resource_attributes).finish()?,
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
        ];
        RecordBatch::try_new(metrics_schema(), columns).map_err(arrow_error)
    }
}

/// Flattens a metric batch into one record batch of [`metrics_schema`].
pub fn metrics_to_batch(batch: &MetricBatch) -> Result<RecordBatch, StorageError> {
    let mut columns = MetricColumns::default();
    for group in &batch.resources {
        let service_name = group.resource.service_name();
        for scope_group in &group.scopes {
            for metric in &scope_group.records {
                let mut context = MetricContext {
                    service_name: &service_name,
                    resource: &group.resource,
                    scope: &scope_group.scope,
                    metric,
                    temporality: Temporality::Unspecified,
                    is_monotonic: None,
                };
                push_metric(&mut columns, &mut context);
            }
        }
    }
    columns.finish()
}

fn push_metric(columns: &mut MetricColumns, context: &mut MetricContext<'_>) {
    match &context.metric.data {
        MetricData::Gauge { points } => {
            for point in points {
                let values = PointValues {
                    value: Some(point.value.as_f64()),
                    ..PointValues::default()
                };
                columns.push(context, &point.common, values);
            }
        }
        MetricData::Sum {
            points,
            temporality,
            is_monotonic,
        } => {
            context.temporality = *temporality;
            context.is_monotonic = Some(*is_monotonic);
            for point in points {
                let values = PointValues {
                    value: Some(point.value.as_f64()),
                    ..PointValues::default()
                };
                columns.push(context, &point.common, values);
            }
        }
        MetricData::Histogram {
            points,
            temporality,
        } => {
            context.temporality = *temporality;
            for point in points {
                let values = PointValues {
                    count: Some(point.count),
                    sum: point.sum,
                    min: point.min,
                    max: point.max,
                    bucket_bounds: Some(point.explicit_bounds.clone()),
                    bucket_counts: Some(point.bucket_counts.clone()),
                    ..PointValues::default()
                };
                columns.push(context, &point.common, values);
            }
        }
        MetricData::ExponentialHistogram {
            points,
            temporality,
        } => {
            context.temporality = *temporality;
            for point in points {
                let values = PointValues {
                    count: Some(point.count),
                    sum: point.sum,
                    min: point.min,
                    max: point.max,
                    exp_scale: Some(point.scale),
                    exp_zero_count: Some(point.zero_count),
                    exp_zero_threshold: Some(point.zero_threshold),
                    exp_positive_offset: Some(point.positive.offset),
                    exp_positive_bucket_counts: Some(point.positive.bucket_counts.clone()),
                    exp_negative_offset: Some(point.negative.offset),
                    exp_negative_bucket_counts: Some(point.negative.bucket_counts.clone()),
                    ..PointValues::default()
                };
                columns.push(context, &point.common, values);
            }
        }
        MetricData::Summary { points } => {
            for point in points {
                let values = PointValues {
                    count: Some(point.count),
                    sum: Some(point.sum),
                    quantiles: Some(point.quantile_values.iter().map(|q| q.quantile).collect()),
                    quantile_values: Some(point.quantile_values.iter().map(|q| q.value).collect()),
                    ..PointValues::default()
                };
                columns.push(context, &point.common, values);
            }
        }
    }
}
