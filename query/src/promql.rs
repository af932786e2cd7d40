//! PromQL over the `metrics` table: `promql-parser` parses, [`fetch`] reads the samples of
//! every selector through DataFusion (time range, metric name and `job` pushed down), and the
//! evaluator computes the expression in memory with Prometheus 3.x semantics.
//!
//! The SLO engine and the Prometheus HTTP API both call [`Engine::instant`] and
//! [`Engine::range`].

mod aggregate;
mod binary;
mod eval;
/// Prometheus' float formatting, shared with the HTTP API.
pub mod eval_format {
    pub use super::eval::format_float;
}
pub mod exemplars;
pub mod fetch;
mod functions;
pub mod labels;
pub mod naming;
mod selectors;

use std::time::Duration;

use lookout_model::TenantId;
use lookout_storage::Reader;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, Expr};

pub use labels::Labels;

/// Unix milliseconds, the time unit of PromQL.
pub type Millis = i64;

/// An error evaluating PromQL, classified as the Prometheus API classifies it.
#[derive(Debug, thiserror::Error)]
pub enum PromqlError {
    /// The query or a parameter is malformed (`bad_data`, 400).
    #[error("{0}")]
    BadData(String),
    /// The query is valid but cannot be evaluated (`execution`, 422).
    #[error("{0}")]
    Execution(String),
    /// The query ran longer than allowed (`timeout`, 503).
    #[error("query timed out after {timeout_secs} s")]
    Timeout {
        /// The limit that was exceeded.
        timeout_secs: u64,
    },
    /// Reading samples failed (`internal` 500, or `unavailable` 503).
    #[error("storage error: {0}")]
    Storage(#[from] lookout_storage::StorageError),
    /// DataFusion failed while reading samples (`internal`, 500).
    #[error("failed to read samples: {0}")]
    Read(String),
}

/// Limits and defaults of the PromQL engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromqlConfig {
    /// How far back an instant selector looks for a sample (Prometheus: 5m).
    pub lookback_delta: Duration,
    /// Step of a subquery that names none (Prometheus: the global evaluation interval, 1m).
    pub default_subquery_step: Duration,
    /// A query running longer is cancelled and answered with 503.
    pub timeout: Duration,
    /// At most this many samples are loaded for one query (Prometheus: 50 million).
    pub max_samples: usize,
    /// A range query may have at most this many steps (Prometheus: 11,000).
    pub max_steps: usize,
}

impl Default for PromqlConfig {
    fn default() -> Self {
        Self {
            lookback_delta: Duration::from_secs(300),
            default_subquery_step: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            max_samples: 50_000_000,
            max_steps: 11_000,
        }
    }
}

/// One value of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series labels, `__name__` included when the expression keeps it.
    pub labels: Labels,
    /// Evaluation time.
    pub timestamp_ms: Millis,
    /// The value.
    pub value: f64,
}

/// One series of a range vector or of a range query answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series labels.
    pub labels: Labels,
    /// `(timestamp, value)` in time order.
    pub points: Vec<(Millis, f64)>,
}

/// The answer of a query, typed as Prometheus types it.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    /// A number at a time.
    Scalar {
        /// Evaluation time.
        timestamp_ms: Millis,
        /// The number.
        value: f64,
    },
    /// A string at a time.
    String {
        /// Evaluation time.
        timestamp_ms: Millis,
        /// The string.
        value: String,
    },
    /// An instant vector.
    Vector(Vec<Sample>),
    /// A range vector (instant query of a range selector) or the answer of a range query.
    Matrix(Vec<Series>),
}

impl QueryValue {
    /// Prometheus' name of the value type: `scalar`, `string`, `vector` or `matrix`.
    pub fn result_type(&self) -> &'static str {
        match self {
            QueryValue::Scalar { .. } => "scalar",
            QueryValue::String { .. } => "string",
            QueryValue::Vector(_) => "vector",
            QueryValue::Matrix(_) => "matrix",
        }
    }
}

/// Evaluates PromQL for a tenant.
#[derive(Clone)]
pub struct Engine {
    reader: Reader,
    config: PromqlConfig,
}

impl Engine {
    /// An engine reading through `reader`.
    pub fn new(reader: Reader, config: PromqlConfig) -> Self {
        Self { reader, config }
    }

    /// The engine's limits.
    pub fn config(&self) -> &PromqlConfig {
        &self.config
    }

    /// The reader samples come from.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// Evaluates `query` at `time_ms` (an instant query).
    pub async fn instant(
        &self,
        tenant: &TenantId,
        query: &str,
        time_ms: Millis,
    ) -> Result<QueryValue, PromqlError> {
        let expr = parse(query)?;
        let grid = eval::Grid {
            start: time_ms,
            end: time_ms,
            step: 1,
        };
        let value = self.run(tenant, expr, grid, true).await?;
        Ok(value)
    }

    /// Evaluates `query` at every step from `start_ms` to `end_ms` (a range query); the answer
    /// is always a matrix.
    pub async fn range(
        &self,
        tenant: &TenantId,
        query: &str,
        start_ms: Millis,
        end_ms: Millis,
        step_ms: Millis,
    ) -> Result<QueryValue, PromqlError> {
        if step_ms <= 0 {
            return Err(PromqlError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(PromqlError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        let steps = (end_ms - start_ms) / step_ms + 1;
        if steps as u128 > self.config.max_steps as u128 {
            return Err(PromqlError::BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        let expr = parse(query)?;
        match expr.value_type() {
            ValueType::Vector | ValueType::Scalar => {}
            other => {
                return Err(PromqlError::BadData(format!(
                    "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                    type_name(other)
                )));
            }
        }
        let grid = eval::Grid {
            start: start_ms,
            end: end_ms,
            step: step_ms,
        };
        self.run(tenant, expr, grid, false).await
    }

    async fn run(
        &self,
        tenant: &TenantId,
        expr: Expr,
        grid: eval::Grid,
        instant: bool,
    ) -> Result<QueryValue, PromqlError> {
        let timeout = self.config.timeout;
        // Selector nodes are identified by address: the tree must not move from here on.
        let expr = Box::new(expr);
        let work = async {
            let needs = selectors::collect(&expr, grid, &self.config);
            let data = fetch::fetch_selectors(&self.reader, tenant, &needs, &self.config).await?;
            let config = self.config.clone();
            tokio::task::spawn_blocking(move || {
                eval::evaluate(&expr, grid, &config, &data, instant)
            })
            .await
            .map_err(|error| PromqlError::Execution(format!("evaluation failed: {error}")))?
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| PromqlError::Timeout {
                timeout_secs: timeout.as_secs(),
            })?
    }
}

/// Parses PromQL, mapping the parser's message to `bad_data`.
pub fn parse(query: &str) -> Result<Expr, PromqlError> {
    if query.trim().is_empty() {
        return Err(PromqlError::BadData("query is empty".into()));
    }
    parser::parse(query).map_err(|error| PromqlError::BadData(format!("parse error: {error}")))
}

fn type_name(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::Vector => "instant vector",
        ValueType::Scalar => "scalar",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}
