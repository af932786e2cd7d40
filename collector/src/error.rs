//! Errors of the collector and the reasons records are refused.

/// An error that stops a receiver.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// The gRPC server failed (accepting connections, HTTP/2).
    #[error("grpc server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    /// The HTTP server failed.
    #[error("http server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Why records or requests were refused; the `reason` label of
/// `lookout_otlp_rejected_records_total` and, with `success`/`partial_success`, of the
/// `outcome` label of `lookout_otlp_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// A trace or span id of the wrong length, or an all-zero required id.
    InvalidId,
    /// A metric data point (or its exemplar) without a value.
    MissingValue,
    /// The body could not be decoded (protobuf, JSON, gzip).
    DecodeError,
    /// The request was larger than `max_request_bytes`.
    TooLarge,
    /// A content type or content encoding the receiver does not speak.
    UnsupportedMediaType,
    /// Storage asked the client to retry later.
    StorageUnavailable,
    /// A storage failure or a bug.
    Internal,
}

impl RejectReason {
    /// Every reason, in a fixed order.
    pub const ALL: [RejectReason; 7] = [
        RejectReason::InvalidId,
        RejectReason::MissingValue,
        RejectReason::DecodeError,
        RejectReason::TooLarge,
        RejectReason::UnsupportedMediaType,
        RejectReason::StorageUnavailable,
        RejectReason::Internal,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidId => "invalid_id",
            RejectReason::MissingValue => "missing_value",
            RejectReason::DecodeError => "decode_error",
            RejectReason::TooLarge => "too_large",
            RejectReason::UnsupportedMediaType => "unsupported_media_type",
            RejectReason::StorageUnavailable => "storage_unavailable",
            RejectReason::Internal => "internal",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a whole request failed; mapped once per transport (HTTP status, gRPC code).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// The body could not be decoded.
    #[error("failed to decode request body: {0}")]
    Decode(String),
    /// The body, after decompression, is over the limit.
    #[error("request body exceeds the limit of {limit_bytes} bytes")]
    TooLarge {
        /// The configured limit.
        limit_bytes: usize,
    },
    /// Unknown content type or content encoding.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Storage refused the append.
    #[error("failed to store records: {0}")]
    Storage(#[from] lookout_storage::StorageError),
    /// A blocking task failed (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl RequestError {
    /// The reason label for counters.
    pub(crate) fn reason(&self) -> RejectReason {
        match self {
            RequestError::Decode(_) => RejectReason::DecodeError,
            RequestError::TooLarge { .. } => RejectReason::TooLarge,
            RequestError::UnsupportedMediaType(_) => RejectReason::UnsupportedMediaType,
            RequestError::Storage(error) => match error.kind() {
                lookout_storage::ErrorKind::Unavailable
                | lookout_storage::ErrorKind::ResourceExhausted => RejectReason::StorageUnavailable,
                _ => RejectReason::Internal,
            },
            RequestError::Internal(_) => RejectReason::Internal,
        }
    }
}
