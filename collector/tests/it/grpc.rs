//! OTLP/gRPC through `serve_grpc` on a real socket with the generated tonic clients.

use lookout_collector::serve_grpc;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tonic::Code;
use tonic::codec::CompressionEncoding;

use crate::support::{self, Harness};

const LIMIT_BYTES: usize = 256 * 1024;

/// A running gRPC receiver, stopped when dropped.
struct Server {
    address: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), lookout_collector::CollectorError>>,
}

impl Server {
    async fn start(harness: &Harness) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve_grpc(
            listener,
            harness.collector.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            address,
            stop: Some(stop),
            task,
        })
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await??;
        Ok(())
    }
}

#[tokio::test]
async fn exports_with_gzip_partial_success_and_limits() -> anyhow::Result<()> {
    let harness = Harness::new(LIMIT_BYTES).await?;
    let server = Server::start(&harness).await?;

    let mut traces = TraceServiceClient::connect(server.url())
        .await?
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    let mut bad = support::span(3);
    bad.trace_id = vec![0; 16];
    let response = traces
        .export(support::traces(vec![
            support::span(1),
            bad,
            support::span(2),
        ]))
        .await?
        .into_inner();
    let partial = response.partial_success.expect("one span was refused");
    assert_eq!(partial.rejected_spans, 1);
    assert!(partial.error_message.contains("trace_id"), "{partial:?}");

    let response = traces
        .export(support::traces(vec![support::span(4)]))
        .await?
        .into_inner();
    assert_eq!(response.partial_success, None);

    let mut logs = LogsServiceClient::connect(server.url()).await?;
    let response = logs.export(support::logs(3)).await?.into_inner();
    assert_eq!(response.partial_success, None);

    let mut metrics = MetricsServiceClient::connect(server.url())
        .await?
        .send_compressed(CompressionEncoding::Gzip);
    let response = metrics
        .export(support::metrics(vec![
            support::gauge_point(Some(1.0), 1),
            support::gauge_point(None, 2),
        ]))
        .await?
        .into_inner();
    assert_eq!(
        response.partial_success.map(|p| p.rejected_data_points),
        Some(1)
    );

    // Over the limit before decompression (tonic says OUT_OF_RANGE; OTLP wants this).
    let mut plain_traces = TraceServiceClient::connect(server.url()).await?;
    let mut huge = support::span(5);
    huge.name = "x".repeat(LIMIT_BYTES + 1);
    let error = plain_traces
        .export(support::traces(vec![huge.clone()]))
        .await
        .expect_err("the message is over the limit");
    assert_eq!(error.code(), Code::ResourceExhausted, "{error:?}");

    // Small on the wire, over the limit once inflated.
    let error = traces
        .export(support::traces(vec![huge]))
        .await
        .expect_err("the inflated message is over the limit");
    assert_eq!(error.code(), Code::ResourceExhausted, "{error:?}");

    // Neighbours of refused records are stored; oversized requests stored nothing.
    assert_eq!(harness.count("spans").await?, 3);
    assert_eq!(harness.count("logs").await?, 3);
    assert_eq!(harness.count("metrics").await?, 1);

    let text = harness.metrics_text();
    for expected in [
        r#"lookout_otlp_requests_total{signal="traces",transport="grpc",outcome="too_large"} 2"#,
        r#"lookout_otlp_requests_total{signal="traces",transport="grpc",outcome="partial_success"} 1"#,
        r#"lookout_otlp_rejected_records_total{signal="metrics",transport="grpc",reason="missing_value"} 1"#,
        r#"lookout_otlp_accepted_records_total{signal="traces",transport="grpc"} 3"#,
        r#"lookout_otlp_received_records_total{signal="traces",transport="grpc"} 4"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    server.shutdown().await
}

#[tokio::test]
async fn storage_backpressure_is_unavailable_with_retry_info() -> anyhow::Result<()> {
    use tonic_types::StatusExt;
    let harness =
        Harness::with_storage(LIMIT_BYTES, |config| config.max_unflushed_bytes = 0).await?;
    let server = Server::start(&harness).await?;
    let mut client = TraceServiceClient::connect(server.url()).await?;
    client
        .export(support::traces(vec![support::span(1)]))
        .await?;
    let error = client
        .export(support::traces(vec![support::span(2)]))
        .await
        .expect_err("the store is over its unflushed limit");
    assert_eq!(error.code(), Code::Unavailable, "{error:?}");
    let retry = error.get_details_retry_info().expect("a RetryInfo detail");
    assert_eq!(retry.retry_delay, Some(std::time::Duration::from_secs(1)));
    server.shutdown().await
}
