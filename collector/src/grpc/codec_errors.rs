//! Gives tonic's own decode failures the codes OTLP asks for, and counts them.
//!
//! tonic refuses a message over `max_decoding_message_size` with `OUT_OF_RANGE` (before
//! inflating) or `RESOURCE_EXHAUSTED` (while inflating), and an undecodable one with
//! `INTERNAL`. OTLP wants `RESOURCE_EXHAUSTED` for the former and a non-retryable
//! `INVALID_ARGUMENT` for the latter. These failures happen before the handler runs, so the
//! answer is rewritten here, where the request path still names the signal.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use lookout_model::Signal;
use tonic::{Code, Status};

use crate::Collector;
use crate::error::RequestError;
use crate::status;
use crate::telemetry::Transport;

/// Wraps the tonic router with [`CodecErrors`].
#[derive(Clone)]
pub(crate) struct CodecErrorsLayer {
    collector: Arc<Collector>,
}

impl CodecErrorsLayer {
    /// A layer counting into `collector`'s metrics.
    pub(crate) fn new(collector: Arc<Collector>) -> Self {
        Self { collector }
    }
}

impl<S> tower::Layer<S> for CodecErrorsLayer {
    type Service = CodecErrors<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CodecErrors {
            inner,
            collector: self.collector.clone(),
        }
    }
}

/// The service rewriting codec failures; see the module documentation.
#[derive(Clone)]
pub(crate) struct CodecErrors<S> {
    inner: S,
    collector: Arc<Collector>,
}

impl<S, B> tower::Service<http::Request<B>> for CodecErrors<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let signal = signal_for_path(request.uri().path());
        let collector = self.collector.clone();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(rewrite(response, signal, &collector))
        })
    }
}

/// The signal of an OTLP gRPC method path.
fn signal_for_path(path: &str) -> Option<Signal> {
    match path {
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export" => Some(Signal::Traces),
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export" => Some(Signal::Logs),
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export" => Some(Signal::Metrics),
        _ => None,
    }
}

/// Classifies a status produced by tonic's codec; `None` for every other status (including
/// all statuses the handler returns, which are already counted).
fn codec_failure(status: &Status, limit_bytes: usize) -> Option<RequestError> {
    let message = status.message();
    match status.code() {
        Code::OutOfRange if message.starts_with("Error, decoded message length too large") => {
            Some(RequestError::TooLarge { limit_bytes })
        }
        Code::ResourceExhausted if message.starts_with("Error decompressing: size limit") => {
            Some(RequestError::TooLarge { limit_bytes })
        }
        Code::Internal
            if message.starts_with("failed to decode Protobuf message")
                || message.starts_with("Error decompressing")
                || message.starts_with("Unexpected EOF decoding stream") =>
        {
            Some(RequestError::Decode(message.to_owned()))
        }
        _ => None,
    }
}

fn rewrite(
    response: http::Response<tonic::body::Body>,
    signal: Option<Signal>,
    collector: &Collector,
) -> http::Response<tonic::body::Body> {
    let Some(failure) = response
        .extensions()
        .get::<Status>()
        .and_then(|status| codec_failure(status, collector.config.max_request_bytes))
    else {
        return response;
    };
    if let Some(signal) = signal {
        collector.count_failure(signal, Transport::Grpc, &failure);
    }
    status::status_for(&failure).into_http()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_only_codec_statuses() {
        let cases = [
            (
                Status::out_of_range("Error, decoded message length too large: found 9 bytes"),
                Some(Code::ResourceExhausted),
            ),
            (
                Status::resource_exhausted("Error decompressing: size limit, of 4 bytes"),
                Some(Code::ResourceExhausted),
            ),
            (
                Status::internal("failed to decode Protobuf message: invalid wire type"),
                Some(Code::InvalidArgument),
            ),
            (Status::internal("failed to store records: io"), None),
            (Status::unavailable("storage is overloaded"), None),
        ];
        for (status, expected) in cases {
            let got = codec_failure(&status, 4).map(|failure| status::grpc_code(&failure));
            assert_eq!(got, expected, "{status:?}");
        }
        assert_eq!(
            signal_for_path("/opentelemetry.proto.collector.logs.v1.LogsService/Export"),
            Some(Signal::Logs)
        );
        assert_eq!(signal_for_path("/other/Export"), None);
    }
}
