//! Span analytics: trace search, RED metrics per service and operation (from the RED
//! rollups, never from spans) and the service graph.
//!
//! Searches and the graph run DataFusion over the `spans` table restricted to a time window
//! by typed timestamp literals, so the scan skips Parquet files by their time range and
//! row groups by their statistics.

pub mod graph;
pub mod red;
pub mod search;

use datafusion::common::ScalarValue;
use datafusion::prelude::{DataFrame, Expr, SessionContext, col, lit};
use futures::StreamExt;

use crate::QueryError;

/// A `Timestamp(ns, UTC)` literal, the type of the time columns, so that the storage layer
/// recognises it for file pruning.
pub(crate) fn timestamp(unix_nanos: i64) -> Expr {
    lit(ScalarValue::TimestampNanosecond(
        Some(unix_nanos),
        Some("UTC".into()),
    ))
}

/// SQL string literal with quotes doubled.
pub(crate) fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The `spans` table restricted to spans that start within `[start, end]`.
pub(crate) async fn spans_between(
    context: &SessionContext,
    start: i64,
    end: i64,
) -> Result<DataFrame, QueryError> {
    context
        .table("spans")
        .await
        .and_then(|frame| {
            frame.filter(
                col("start_time")
                    .gt_eq(timestamp(start))
                    .and(col("start_time").lt_eq(timestamp(end))),
            )
        })
        .map_err(QueryError::from_datafusion)
}

/// Registers `frame` as the view `name` of `context`.
pub(crate) fn register_view(
    context: &SessionContext,
    name: &str,
    frame: DataFrame,
) -> Result<(), QueryError> {
    context
        .register_table(name, frame.into_view())
        .map(|_| ())
        .map_err(QueryError::from_datafusion)
}

/// Runs `sql` and hands every batch to `each`.
pub(crate) async fn for_each_batch(
    context: &SessionContext,
    sql: &str,
    mut each: impl FnMut(&datafusion::arrow::record_batch::RecordBatch) -> Result<(), QueryError>,
) -> Result<(), QueryError> {
    let frame = context
        .sql(sql)
        .await
        .map_err(QueryError::from_datafusion)?;
    let mut stream = frame
        .execute_stream()
        .await
        .map_err(QueryError::from_datafusion)?;
    while let Some(batch) = stream.next().await {
        each(&batch.map_err(QueryError::from_datafusion)?)?;
    }
    Ok(())
}

/// Typed access to a batch's columns, with a clear error when the shape is unexpected.
pub(crate) fn column<'a, T: 'static>(
    batch: &'a datafusion::arrow::record_batch::RecordBatch,
    name: &str,
) -> Result<&'a T, QueryError> {
    batch
        .column_by_name(name)
        .and_then(|column| column.as_any().downcast_ref::<T>())
        .ok_or_else(|| QueryError::Execution(format!("column `{name}` has an unexpected type")))
}

/// A text column as `Utf8` whatever string encoding the plan produced.
pub(crate) fn string_column(
    batch: &datafusion::arrow::record_batch::RecordBatch,
    name: &str,
) -> Result<datafusion::arrow::array::StringArray, QueryError> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| QueryError::Execution(format!("column `{name}` is missing")))?;
    let cast =
        datafusion::arrow::compute::cast(array, &datafusion::arrow::datatypes::DataType::Utf8)
            .map_err(|error| QueryError::Execution(format!("column `{name}`: {error}")))?;
    cast.as_any()
        .downcast_ref::<datafusion::arrow::array::StringArray>()
        .cloned()
        .ok_or_else(|| QueryError::Execution(format!("column `{name}` is not text")))
}
