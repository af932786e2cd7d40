//! OTLP/HTTP: `POST /v1/traces`, `/v1/logs`, `/v1/metrics` with protobuf or JSON bodies,
//! optionally gzipped.

mod body;
pub mod remote_write;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};
use prost::Message;
use tonic::Code;
use tracing::Instrument;

use crate::Collector;
use crate::error::RequestError;
use crate::ingest::{
    BLOCKING_THRESHOLD_BYTES, Logs, Metrics, OtlpSignal, PartialSuccess, Traces, response_json,
    run_cpu_bound,
};
use crate::status::{self, RETRY_AFTER as RETRY_AFTER_DELAY};
use crate::tenant::tenant_for_request;
use body::Encoding;

/// The OTLP/HTTP routes. Unknown paths answer 404 and other methods on the export paths 405,
/// both with a protobuf `google.rpc.Status` body as OTLP asks of every 4xx.
pub fn http_router(collector: Arc<Collector>) -> Router {
    Router::new()
        .route("/v1/traces", post(export::<Traces>))
        .route("/v1/logs", post(export::<Logs>))
        .route("/v1/metrics", post(export::<Metrics>))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(collector)
}

/// Serves OTLP/HTTP on an already-bound listener until `shutdown` resolves, then lets
/// in-flight requests finish.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    collector: Arc<Collector>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "otlp/http receiver listening");
    }
    axum::serve(listener, http_router(collector))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn export<S: OtlpSignal>(
    State(collector): State<Arc<Collector>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let span = tracing::info_span!(
        "otlp_http_export",
        signal = S::SIGNAL.as_str(),
        transport = tracing::field::Empty,
    );
    export_in_span::<S>(collector, headers, body)
        .instrument(span)
        .await
}

async fn export_in_span<S: OtlpSignal>(
    collector: Arc<Collector>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let signal = S::SIGNAL;
    let encoding = match body::content_type(&headers) {
        Ok(encoding) => encoding,
        Err(error) => {
            // Neither encoding is known: count under http_protobuf and answer in protobuf.
            collector.count_failure(signal, Encoding::Protobuf.transport(), &error);
            return error_response(Encoding::Protobuf, &error);
        }
    };
    let transport = encoding.transport();
    tracing::Span::current().record("transport", transport.as_str());
    match receive::<S>(&collector, &headers, body, encoding).await {
        Ok(partial) => success_response::<S>(encoding, partial.as_ref()),
        Err(error) => {
            if !matches!(error, RequestError::Storage(_)) {
                // Storage failures are counted by `ingest`, which knows the record count.
                collector.count_failure(signal, transport, &error);
            }
            error_response(encoding, &error)
        }
    }
}

/// Reads, inflates, decodes, converts and stores one request.
async fn receive<S: OtlpSignal>(
    collector: &Collector,
    headers: &HeaderMap,
    body: axum::body::Body,
    encoding: Encoding,
) -> Result<Option<PartialSuccess>, RequestError> {
    let gzip = body::is_gzip(headers)?;
    let tenant = tenant_for_request(headers);
    let limit_bytes = collector.config.max_request_bytes;
    let raw = body::read_limited(headers, body, limit_bytes).await?;
    let heavy = gzip || raw.len() >= BLOCKING_THRESHOLD_BYTES;
    let (size_bytes, converted) = run_cpu_bound(heavy, move || {
        let (size_bytes, request) = if gzip {
            let inflated = body::inflate(&raw, limit_bytes)?;
            (
                inflated.len(),
                body::decode::<S::Request>(&inflated, encoding)?,
            )
        } else {
            (raw.len(), body::decode::<S::Request>(&raw, encoding)?)
        };
        Ok::<_, RequestError>((size_bytes, S::convert(request)))
    })
    .await??;
    let transport = encoding.transport();
    collector.observe_request_size(S::SIGNAL, transport, size_bytes);
    collector.ingest::<S>(&tenant, transport, converted).await
}

fn success_response<S: OtlpSignal>(
    encoding: Encoding,
    partial: Option<&PartialSuccess>,
) -> Response {
    let body = match encoding {
        Encoding::Protobuf => S::response(partial.cloned()).encode_to_vec(),
        Encoding::Json => response_json::<S>(partial).to_string().into_bytes(),
    };
    (
        StatusCode::OK,
        [(CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

/// A 4xx/5xx answer with a `google.rpc.Status` body in the request's encoding.
fn error_response(encoding: Encoding, error: &RequestError) -> Response {
    let mut response = status_response(
        status::http_status(error),
        encoding,
        &status::status_for(error),
    );
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_DELAY.as_secs()));
    }
    response
}

fn status_response(
    http_status: StatusCode,
    encoding: Encoding,
    status: &tonic::Status,
) -> Response {
    let body = match encoding {
        // `details()` holds the whole encoded google.rpc.Status (see `status::rich_status`).
        Encoding::Protobuf => status.details().to_vec(),
        Encoding::Json => serde_json::json!({
            "code": status.code() as i32,
            "message": status.message(),
        })
        .to_string()
        .into_bytes(),
    };
    (http_status, [(CONTENT_TYPE, encoding.content_type())], body).into_response()
}

async fn not_found(uri: http::Uri) -> Response {
    let status = status::rich_status(
        Code::NotFound,
        format!(
            "no OTLP endpoint at `{}`; use /v1/traces, /v1/logs or /v1/metrics",
            uri.path()
        ),
        Vec::new(),
    );
    status_response(StatusCode::NOT_FOUND, Encoding::Protobuf, &status)
}

async fn method_not_allowed(method: http::Method) -> Response {
    let status = status::rich_status(
        Code::Unimplemented,
        format!("method {method} not allowed, OTLP exports use POST"),
        Vec::new(),
    );
    let mut response = status_response(StatusCode::METHOD_NOT_ALLOWED, Encoding::Protobuf, &status);
    response
        .headers_mut()
        .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
    response
}
