//! Read-only SQL over the tenant's tables, with a row limit and a time limit.

use std::time::Duration;

use datafusion::execution::context::SQLOptions;
use futures::StreamExt;
use lookout_model::TenantId;
use lookout_storage::Reader;
use serde::{Deserialize, Serialize};

use crate::QueryError;
use crate::json_rows::batches_to_json_rows;

/// Limits applied to every SQL query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryConfig {
    /// At most this many rows are returned; the answer says when it was truncated.
    pub max_rows: usize,
    /// A query running longer is cancelled and answered with 503.
    pub timeout: Duration,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            max_rows: 10_000,
            timeout: Duration::from_secs(30),
        }
    }
}

/// `[query]` as written in `lookout.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryFileConfig {
    /// Row limit of SQL answers.
    pub max_rows: Option<usize>,
    /// Time limit of a query, in seconds.
    pub timeout_secs: Option<u64>,
}

impl QueryFileConfig {
    /// Applies the file's values over the defaults.
    pub fn resolve(&self) -> Result<QueryConfig, String> {
        let mut config = QueryConfig::default();
        if let Some(rows) = self.max_rows {
            if rows == 0 {
                return Err("query.max_rows must be at least 1".into());
            }
            config.max_rows = rows;
        }
        if let Some(secs) = self.timeout_secs {
            if secs == 0 {
                return Err("query.timeout_secs must be at least 1".into());
            }
            config.timeout = Duration::from_secs(secs);
        }
        Ok(config)
    }
}

/// A column of an SQL answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Arrow data type, as text.
    pub data_type: String,
}

/// The answer of an SQL query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SqlOutcome {
    /// Columns in order.
    pub columns: Vec<Column>,
    /// Rows as JSON objects keyed by column name.
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Whether more rows existed than `max_rows`.
    pub truncated: bool,
}

/// What SQL may do here: read, nothing else. DDL (`CREATE EXTERNAL TABLE` and friends), DML
/// (`INSERT`, `COPY ... TO`) and statements (`SET`, transactions) are refused at planning.
fn read_only_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Runs one read-only query for `tenant`.
pub async fn run_sql(
    reader: &Reader,
    tenant: &TenantId,
    query: &str,
    config: &QueryConfig,
) -> Result<SqlOutcome, QueryError> {
    if query.trim().is_empty() {
        return Err(QueryError::BadRequest("query is empty".into()));
    }
    let work = async {
        let context = reader.session_context_with_search(tenant, parse_for_sql)?;
        let frame = context
            .sql_with_options(query, read_only_options())
            .await
            .map_err(QueryError::from_datafusion)?;
        let schema = frame.schema().as_arrow().clone();
        let mut stream = frame
            .execute_stream()
            .await
            .map_err(QueryError::from_datafusion)?;
        let mut batches = Vec::new();
        let mut row_count = 0usize;
        let mut truncated = false;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(QueryError::from_datafusion)?;
            let room = config.max_rows - row_count;
            if batch.num_rows() > room {
                batches.push(batch.slice(0, room));
                truncated = true;
                break;
            }
            row_count += batch.num_rows();
            batches.push(batch);
        }
        let columns = schema
            .fields()
            .iter()
            .map(|field| Column {
                name: field.name().clone(),
                data_type: field.data_type().to_string(),
            })
            .collect();
        Ok(SqlOutcome {
            columns,
            rows: batches_to_json_rows(&batches)?,
            truncated,
        })
    };
    tokio::time::timeout(config.timeout, work)
        .await
        .map_err(|_| QueryError::Timeout {
            timeout_secs: config.timeout.as_secs(),
        })?
}

/// The parser `matches(column, 'query')` uses in SQL.
fn parse_for_sql(text: &str) -> Result<lookout_model::search::SearchQuery, String> {
    crate::search_parser::parse_search(text).map_err(|error| error.to_string())
}
