//! OTLP/gRPC: the trace, logs and metrics services, gzip in both directions.

mod codec_errors;

use std::future::Future;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::error::CollectorError;
use crate::ingest::{BLOCKING_THRESHOLD_BYTES, Logs, Metrics, OtlpSignal, Traces, run_cpu_bound};
use crate::telemetry::Transport;
use crate::tenant::tenant_for_request;
use crate::{Collector, status};

/// Serves OTLP/gRPC on an already-bound listener until `shutdown` resolves.
///
/// Messages larger than `max_request_bytes` (before or after gzip) are refused with
/// `RESOURCE_EXHAUSTED`, undecodable ones with `INVALID_ARGUMENT`.
pub async fn serve_grpc(
    listener: tokio::net::TcpListener,
    collector: Arc<Collector>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CollectorError> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "otlp/grpc receiver listening");
    }
    let limit_bytes = collector.config.max_request_bytes;
    let handler = Arc::new(GrpcHandler {
        collector: collector.clone(),
    });
    let traces = TraceServiceServer::from_arc(handler.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit_bytes);
    let logs = LogsServiceServer::from_arc(handler.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit_bytes);
    let metrics = MetricsServiceServer::from_arc(handler)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit_bytes);
    tonic::transport::Server::builder()
        .layer(codec_errors::CodecErrorsLayer::new(collector))
        .add_service(traces)
        .add_service(logs)
        .add_service(metrics)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await?;
    Ok(())
}

/// Implements the three generated service traits over one collector.
struct GrpcHandler {
    collector: Arc<Collector>,
}

impl GrpcHandler {
    async fn export<S: OtlpSignal>(
        &self,
        request: Request<S::Request>,
    ) -> Result<Response<S::Response>, Status> {
        let span = tracing::info_span!(
            "otlp_grpc_export",
            signal = S::SIGNAL.as_str(),
            transport = Transport::Grpc.as_str(),
        );
        self.export_in_span::<S>(request).instrument(span).await
    }

    async fn export_in_span<S: OtlpSignal>(
        &self,
        request: Request<S::Request>,
    ) -> Result<Response<S::Response>, Status> {
        let collector = &self.collector;
        let tenant = tenant_for_request(&request.metadata().clone().into_headers());
        let message = request.into_inner();
        let size_bytes = message.encoded_len();
        collector.observe_request_size(S::SIGNAL, Transport::Grpc, size_bytes);
        let heavy = size_bytes >= BLOCKING_THRESHOLD_BYTES;
        let converted = match run_cpu_bound(heavy, move || S::convert(message)).await {
            Ok(converted) => converted,
            Err(error) => {
                collector.count_failure(S::SIGNAL, Transport::Grpc, &error);
                return Err(status::status_for(&error));
            }
        };
        // Failures are counted inside `ingest`.
        match collector
            .ingest::<S>(&tenant, Transport::Grpc, converted)
            .await
        {
            Ok(partial) => Ok(Response::new(S::response(partial))),
            Err(error) => Err(status::status_for(&error)),
        }
    }
}

#[tonic::async_trait]
impl TraceService for GrpcHandler {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        GrpcHandler::export::<Traces>(self, request).await
    }
}

#[tonic::async_trait]
impl LogsService for GrpcHandler {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        GrpcHandler::export::<Logs>(self, request).await
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcHandler {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        GrpcHandler::export::<Metrics>(self, request).await
    }
}
