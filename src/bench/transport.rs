//! How `lookout bench ingest` delivers pre-encoded OTLP trace requests: gRPC or HTTP/protobuf.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use prost::bytes::{BufMut, Bytes};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Per-request timeout; a timed-out request counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One worker's way to the daemon's OTLP trace receiver.
#[derive(Debug, Clone)]
pub enum TraceSender {
    /// `TraceService/Export` over its own HTTP/2 connection.
    Grpc(tonic::client::Grpc<Channel>),
    /// `POST /v1/traces` with `application/x-protobuf` bodies.
    Http {
        /// Shared client with a connection pool.
        client: reqwest::Client,
        /// Full URL of the traces endpoint.
        traces_url: String,
        /// Whether to send `Content-Encoding: gzip` bodies.
        gzip: bool,
    },
}

impl TraceSender {
    /// Opens a gRPC connection to `url` (e.g. `http://127.0.0.1:4317`).
    pub async fn connect_grpc(url: &str, gzip: bool) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(url.to_owned())
            .with_context(|| format!("invalid otlp grpc url `{url}`"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .connect()
            .await
            .with_context(|| format!("failed to connect to the otlp grpc receiver at `{url}`"))?;
        let mut grpc = tonic::client::Grpc::new(channel);
        if gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        Ok(Self::Grpc(grpc))
    }

    /// Sends to `{base_url}/v1/traces` through `client`.
    pub fn http(client: reqwest::Client, base_url: &str, gzip: bool) -> Self {
        let traces_url = format!("{}/v1/traces", base_url.trim_end_matches('/'));
        Self::Http {
            client,
            traces_url,
            gzip,
        }
    }

    /// Sends one encoded `ExportTraceServiceRequest` and waits for the answer.
    ///
    /// Returns the number of spans the daemon rejected through `partial_success`, or on
    /// failure a short failure class for the report ("grpc Unavailable", "http 503").
    /// Client-side gzip, when enabled, is part of the call for both transports.
    pub async fn send(&mut self, body: Vec<u8>) -> Result<u64, String> {
        let response = match self {
            Self::Grpc(grpc) => {
                grpc.ready()
                    .await
                    .map_err(|_| "grpc transport error".to_owned())?;
                let path = PathAndQuery::from_static(EXPORT_PATH);
                let request = tonic::Request::new(Bytes::from(body));
                grpc.unary(request, path, PreEncodedCodec)
                    .await
                    .map_err(|status| format!("grpc {:?}", status.code()))?
                    .into_inner()
            }
            Self::Http {
                client,
                traces_url,
                gzip,
            } => {
                let mut request = client
                    .post(traces_url.as_str())
                    .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf");
                let body = if *gzip {
                    request = request.header(reqwest::header::CONTENT_ENCODING, "gzip");
                    gzip_compress(&body).map_err(|_| "gzip error".to_owned())?
                } else {
                    body
                };
                let response = request
                    .body(body)
                    .send()
                    .await
                    .map_err(|error| classify_http_error(&error))?;
                let status = response.status();
                let response_body = response
                    .bytes()
                    .await
                    .map_err(|error| classify_http_error(&error))?;
                if !status.is_success() {
                    return Err(format!("http {}", status.as_u16()));
                }
                // A collector may answer with an empty body or JSON; only protobuf carries a count.
                ExportTraceServiceResponse::decode(response_body).unwrap_or_default()
            }
        };
        let rejected_spans = response
            .partial_success
            .map_or(0, |partial| partial.rejected_spans.max(0));
        Ok(u64::try_from(rejected_spans).unwrap_or(0))
    }
}

fn classify_http_error(error: &reqwest::Error) -> String {
    let class = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect error"
    } else {
        "transport error"
    };
    format!("http {class}")
}

fn gzip_compress(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
    encoder.write_all(body)?;
    encoder.finish()
}

/// Sends bytes that already are an encoded `ExportTraceServiceRequest`, so the timed loop
/// does not pay for protobuf encoding, and decodes the response with prost.
#[derive(Debug, Clone, Copy, Default)]
struct PreEncodedCodec;

impl Codec for PreEncodedCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = PreEncodedCodec;
    type Decoder = PreEncodedCodec;

    fn encoder(&mut self) -> Self::Encoder {
        *self
    }

    fn decoder(&mut self) -> Self::Decoder {
        *self
    }
}

impl Encoder for PreEncodedCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Bytes,
        destination: &mut EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        destination.put_slice(&item);
        Ok(())
    }
}

impl Decoder for PreEncodedCodec {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;

    fn decode(&mut self, source: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, tonic::Status> {
        ExportTraceServiceResponse::decode(source)
            .map(Some)
            .map_err(|error| {
                tonic::Status::internal(format!("failed to decode the export response: {error}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn gzip_round_trips() {
        let body = b"spans spans spans spans spans".repeat(10);
        let compressed = gzip_compress(&body).expect("compression into memory succeeds");
        assert!(compressed.len() < body.len());
        let mut decompressed = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_end(&mut decompressed)
            .expect("valid gzip");
        assert_eq!(decompressed, body);
    }

    #[test]
    fn http_sender_targets_the_traces_path() {
        let sender = TraceSender::http(reqwest::Client::new(), "http://127.0.0.1:4318/", false);
        let TraceSender::Http { traces_url, .. } = sender else {
            panic!("expected an http sender")
        };
        assert_eq!(traces_url, "http://127.0.0.1:4318/v1/traces");
    }
}
