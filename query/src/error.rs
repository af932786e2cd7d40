//! Query errors and their single mapping to HTTP statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lookout_model::api::ApiError;
use lookout_storage::ErrorKind;

/// An error answering a query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query text is invalid or not allowed (DDL, DML, file access...).
    #[error("{0}")]
    BadRequest(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The query ran longer than its time limit.
    #[error("query timed out after {timeout_secs} s")]
    Timeout {
        /// The limit that was exceeded.
        timeout_secs: u64,
    },
    /// Storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] lookout_storage::StorageError),
    /// Not ready to answer yet (e.g. an SLO still counting stored data).
    #[error("{0}")]
    Unavailable(String),
    /// DataFusion failed while executing.
    #[error("query failed: {0}")]
    Execution(String),
}

impl QueryError {
    /// Classifies a DataFusion error: planning problems are the caller's, the rest ours.
    pub fn from_datafusion(error: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as E;
        match error.find_root() {
            E::SQL(..) | E::Plan(_) | E::SchemaError(..) | E::NotImplemented(_) => {
                QueryError::BadRequest(error.to_string())
            }
            E::ResourcesExhausted(_) => {
                QueryError::BadRequest(format!("query needs more memory than allowed: {error}"))
            }
            _ => QueryError::Execution(error.to_string()),
        }
    }

    /// The HTTP status and the machine-readable class of this error.
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            QueryError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            QueryError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            // As Prometheus does: a query that timed out answers 503.
            QueryError::Timeout { .. } => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            QueryError::Storage(error) => match error.kind() {
                ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                ErrorKind::BadRequest => (StatusCode::BAD_REQUEST, "bad_request"),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
            QueryError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            QueryError::Execution(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let (status, class) = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "query failed");
        }
        let body = ApiError {
            error: class.to_owned(),
            message: self.to_string(),
        };
        (status, axum::Json(body)).into_response()
    }
}
