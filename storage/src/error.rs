//! Storage errors, classified once so every transport maps them the same way.

/// Error classes shared by every crate's transport mapping (HTTP status, gRPC code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller sent something invalid (400 / INVALID_ARGUMENT).
    BadRequest,
    /// The thing asked for does not exist (404 / NOT_FOUND).
    NotFound,
    /// Try again later: backpressure, full disk (503 / UNAVAILABLE).
    Unavailable,
    /// Over a size or rate limit (413 or 429 / RESOURCE_EXHAUSTED).
    ResourceExhausted,
    /// Missing or bad credentials (401 / UNAUTHENTICATED).
    Unauthenticated,
    /// A bug or an unexpected IO failure (500 / INTERNAL).
    Internal,
}

/// An error from the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Filesystem failure on a path.
    #[error("io error on `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The in-memory tail or WAL cannot take more right now.
    #[error("storage is overloaded: {0}")]
    Overloaded(String),
    /// The disk is full.
    #[error("disk full while writing `{path}`")]
    DiskFull {
        /// The file being written.
        path: std::path::PathBuf,
    },
    /// A WAL record or segment could not be decoded.
    #[error("corrupt data in `{path}`: {reason}")]
    Corrupt {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Arrow, Parquet or DataFusion failed.
    #[error("datafusion error: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Configuration is invalid.
    #[error("invalid storage configuration: {0}")]
    Config(String),
    /// The store is shutting down.
    #[error("storage is shutting down")]
    ShuttingDown,
    /// One append is larger than the storage engine accepts.
    #[error("append too large: {0}")]
    TooLarge(String),
    /// An internal invariant failed (a bug, not an input problem).
    #[error("internal storage error: {0}")]
    Internal(String),
    /// A search or read request is invalid (bad range, too many buckets).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Another process holds the data directory.
    #[error("data directory is in use by another process (lock `{path}` is held)")]
    Locked {
        /// The lock file.
        path: std::path::PathBuf,
    },
}

impl StorageError {
    /// Wraps an IO error with its path, recognising a full disk.
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::StorageFull {
            StorageError::DiskFull { path }
        } else {
            StorageError::Io { path, source }
        }
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StorageError::Overloaded(_)
            | StorageError::DiskFull { .. }
            | StorageError::ShuttingDown => ErrorKind::Unavailable,
            StorageError::Config(_) | StorageError::InvalidRequest(_) => ErrorKind::BadRequest,
            StorageError::TooLarge(_) => ErrorKind::ResourceExhausted,
            StorageError::Io { .. }
            | StorageError::Corrupt { .. }
            | StorageError::DataFusion(_)
            | StorageError::Internal(_)
            | StorageError::Locked { .. } => ErrorKind::Internal,
        }
    }
}
