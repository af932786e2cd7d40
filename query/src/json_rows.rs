//! Arrow record batches to JSON rows, the shape every API answer uses.

use datafusion::arrow::json::{ArrayWriter, WriterBuilder};
use datafusion::arrow::record_batch::RecordBatch;

use crate::QueryError;

/// Converts batches into a list of JSON objects, one per row, with explicit nulls so every row
/// has every column.
pub fn batches_to_json_rows(
    batches: &[RecordBatch],
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, QueryError> {
    let mut buffer = Vec::new();
    {
        let mut writer: ArrayWriter<&mut Vec<u8>> = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build(&mut buffer);
        for batch in batches {
            writer.write(batch).map_err(|error| {
                QueryError::Execution(format!("failed to encode rows: {error}"))
            })?;
        }
        writer
            .finish()
            .map_err(|error| QueryError::Execution(format!("failed to encode rows: {error}")))?;
    }
    if buffer.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&buffer)
        .map_err(|error| QueryError::Execution(format!("failed to encode rows: {error}")))
}
