//! One mapping from request failures to HTTP statuses and gRPC codes, and the
//! `google.rpc.Status` bodies both transports send.

use std::time::Duration;

use tonic::Code;
use tonic_types::{BadRequest, ErrorDetail, RetryInfo, StatusExt};

use crate::error::RequestError;

/// How long clients are asked to wait after `storage_unavailable`.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The HTTP status for a failed request.
pub(crate) fn http_status(error: &RequestError) -> http::StatusCode {
    match error {
        RequestError::Decode(_) => http::StatusCode::BAD_REQUEST,
        RequestError::TooLarge { .. } => http::StatusCode::PAYLOAD_TOO_LARGE,
        RequestError::UnsupportedMediaType(_) => http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        RequestError::Storage(_) | RequestError::Internal(_) => match grpc_code(error) {
            Code::Unavailable => http::StatusCode::SERVICE_UNAVAILABLE,
            Code::ResourceExhausted => http::StatusCode::TOO_MANY_REQUESTS,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        },
    }
}

/// The gRPC code for a failed request (also the `code` of HTTP `Status` bodies).
pub(crate) fn grpc_code(error: &RequestError) -> Code {
    match error {
        RequestError::Decode(_) | RequestError::UnsupportedMediaType(_) => Code::InvalidArgument,
        RequestError::TooLarge { .. } => Code::ResourceExhausted,
        RequestError::Storage(storage) => match storage.kind() {
            lookout_storage::ErrorKind::Unavailable => Code::Unavailable,
            lookout_storage::ErrorKind::ResourceExhausted => Code::ResourceExhausted,
            _ => Code::Internal,
        },
        RequestError::Internal(_) => Code::Internal,
    }
}

/// The full status of a failed request, with OTLP's recommended details: `RetryInfo` for
/// retryable failures, `BadRequest` for undecodable data.
pub(crate) fn status_for(error: &RequestError) -> tonic::Status {
    let code = grpc_code(error);
    let message = error.to_string();
    let details: Vec<ErrorDetail> = match code {
        Code::Unavailable => vec![RetryInfo::new(Some(RETRY_AFTER)).into()],
        Code::InvalidArgument => vec![BadRequest::with_violation("body", message.clone()).into()],
        _ => Vec::new(),
    };
    rich_status(code, message, details)
}

/// A status whose `details()` bytes are the encoded `google.rpc.Status` (code, message and
/// details), which is also what OTLP/HTTP error bodies carry.
pub(crate) fn rich_status(
    code: Code,
    message: impl Into<String>,
    details: Vec<ErrorDetail>,
) -> tonic::Status {
    tonic::Status::with_error_details_vec(code, message, details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use tonic_types::RpcStatusExt;

    #[test]
    fn details_bytes_are_a_google_rpc_status() {
        let status = status_for(&RequestError::Decode("bad wire type".into()));
        let decoded = tonic_types::Status::decode(status.details()).unwrap();
        assert_eq!(decoded.code, Code::InvalidArgument as i32);
        assert!(decoded.message.contains("bad wire type"));
        assert!(decoded.get_details_bad_request().is_some());

        let unavailable = status_for(&RequestError::Storage(
            lookout_storage::StorageError::Overloaded("tail full".into()),
        ));
        assert_eq!(unavailable.code(), Code::Unavailable);
        let decoded = tonic_types::Status::decode(unavailable.details()).unwrap();
        let retry = decoded.get_details_retry_info().unwrap();
        assert_eq!(retry.retry_delay, Some(RETRY_AFTER));
    }

    #[test]
    fn one_mapping_per_transport() {
        let cases = [
            (RequestError::Decode("x".into()), 400, Code::InvalidArgument),
            (
                RequestError::TooLarge { limit_bytes: 1 },
                413,
                Code::ResourceExhausted,
            ),
            (
                RequestError::UnsupportedMediaType("x".into()),
                415,
                Code::InvalidArgument,
            ),
            (
                RequestError::Storage(lookout_storage::StorageError::ShuttingDown),
                503,
                Code::Unavailable,
            ),
            (RequestError::Internal("x".into()), 500, Code::Internal),
        ];
        for (error, http_code, grpc) in cases {
            assert_eq!(http_status(&error).as_u16(), http_code, "{error}");
            assert_eq!(grpc_code(&error), grpc, "{error}");
        }
    }
}
