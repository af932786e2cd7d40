//! Assembling a trace by id.

use datafusion::arrow::compute::{concat_batches, sort_to_indices, take};
use datafusion::arrow::record_batch::RecordBatch;
use lookout_model::api::TraceResponse;
use lookout_model::{TenantId, TraceId};
use lookout_storage::Reader;

use crate::QueryError;
use crate::json_rows::batches_to_json_rows;

/// Every span of a trace, ordered by start time; `NotFound` when no span is stored.
pub async fn get_trace(
    reader: &Reader,
    tenant: &TenantId,
    trace_id_hex: &str,
) -> Result<TraceResponse, QueryError> {
    let trace_id = TraceId::from_hex(trace_id_hex)
        .map_err(|error| QueryError::BadRequest(format!("invalid trace id: {error}")))?;
    let batches = reader.trace_spans(tenant, &trace_id).await?;
    if batches.iter().all(|batch| batch.num_rows() == 0) {
        return Err(QueryError::NotFound(format!(
            "trace `{trace_id}` not found"
        )));
    }
    let sorted = sort_by_start_time(&batches)?;
    let spans = batches_to_json_rows(&[sorted])?;
    let logs = crate::search::trace_logs(reader, tenant, &trace_id)
        .await
        .map_err(|error| match error {
            crate::search::SearchError::Query(error) => error,
            crate::search::SearchError::Parse(error) => QueryError::Execution(error.to_string()),
        })?;
    Ok(TraceResponse {
        trace_id: trace_id.to_hex(),
        spans: spans.into_iter().map(serde_json::Value::Object).collect(),
        logs,
    })
}

/// One batch with the rows of `batches` ordered by `start_time`.
fn sort_by_start_time(batches: &[RecordBatch]) -> Result<RecordBatch, QueryError> {
    let encode = |error: datafusion::arrow::error::ArrowError| {
        QueryError::Execution(format!("failed to order spans: {error}"))
    };
    let schema = batches[0].schema();
    let all = concat_batches(&schema, batches).map_err(encode)?;
    let Ok(column_index) = schema.index_of("start_time") else {
        return Ok(all);
    };
    let indices = sort_to_indices(all.column(column_index), None, None).map_err(encode)?;
    let columns = all
        .columns()
        .iter()
        .map(|column| take(column.as_ref(), &indices, None))
        .collect::<Result<Vec<_>, _>>()
        .map_err(encode)?;
    RecordBatch::try_new(schema, columns).map_err(encode)
}
