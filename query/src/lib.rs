//! Reading Lookout's data: read-only SQL over the `spans`, `logs` and `metrics` tables, trace
//! assembly by id, and the JSON HTTP API that serves them.
//!
//! This crate does not know OTLP, Parquet files or tantivy: it sees tables and the trace-id
//! lookup that `lookout_storage::Reader` offers.

pub mod alerting;
pub mod api;
pub mod error;
pub mod json_rows;
pub mod params;
pub mod prometheus;
pub mod promql;
pub mod search;
pub mod search_parser;
pub mod search_tail;
pub mod slo;
pub mod span_analytics;
pub mod sql;
pub mod telemetry;
pub mod trace;

pub use api::{ApiState, router};
pub use error::QueryError;
pub use prometheus::{PrometheusApi, prometheus_router};
pub use sql::{QueryConfig, QueryFileConfig, SqlOutcome};
