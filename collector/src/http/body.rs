//! Reading OTLP/HTTP bodies: content negotiation, size limits enforced while reading and
//! inflating, and protobuf/JSON decoding.

mod json_defaults;

use std::io::Read;

use bytes::Bytes;
use flate2::read::MultiGzDecoder;
use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::RequestError;
use crate::telemetry::Transport;

/// `Content-Type` of binary protobuf bodies.
pub(crate) const PROTOBUF: &str = "application/x-protobuf";
/// `Content-Type` of JSON bodies.
pub(crate) const JSON: &str = "application/json";

/// How a body is encoded; answers use the same encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Binary protobuf.
    Protobuf,
    /// OTLP/JSON.
    Json,
}

impl Encoding {
    /// The transport label of requests in this encoding.
    pub(crate) fn transport(self) -> Transport {
        match self {
            Encoding::Protobuf => Transport::HttpProtobuf,
            Encoding::Json => Transport::HttpJson,
        }
    }

    /// The `Content-Type` of answers.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => PROTOBUF,
            Encoding::Json => JSON,
        }
    }
}

/// The body encoding named by `Content-Type`, ignoring parameters such as `charset`.
pub(crate) fn content_type(headers: &HeaderMap) -> Result<Encoding, RequestError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Err(RequestError::UnsupportedMediaType(format!(
            "missing content-type, expected `{PROTOBUF}` or `{JSON}`"
        )));
    };
    let text = value.to_str().unwrap_or_default();
    let media_type = text.split(';').next().unwrap_or_default().trim();
    if media_type.eq_ignore_ascii_case(PROTOBUF) {
        Ok(Encoding::Protobuf)
    } else if media_type.eq_ignore_ascii_case(JSON) {
        Ok(Encoding::Json)
    } else {
        Err(RequestError::UnsupportedMediaType(format!(
            "unsupported content-type `{}`, expected `{PROTOBUF}` or `{JSON}`",
            text.escape_debug()
        )))
    }
}

/// Whether the body is gzipped; `identity` or no `Content-Encoding` means plain.
pub(crate) fn is_gzip(headers: &HeaderMap) -> Result<bool, RequestError> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(false);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text.is_empty() || text.eq_ignore_ascii_case("identity") {
        Ok(false)
    } else if text.eq_ignore_ascii_case("gzip") || text.eq_ignore_ascii_case("x-gzip") {
        Ok(true)
    } else {
        Err(RequestError::UnsupportedMediaType(format!(
            "unsupported content-encoding `{}`, expected `gzip` or `identity`",
            text.escape_debug()
        )))
    }
}

/// Reads the whole body, refusing it as soon as it exceeds `limit_bytes` (announced by
/// `Content-Length` or counted while reading chunks).
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    body: axum::body::Body,
    limit_bytes: usize,
) -> Result<Bytes, RequestError> {
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit_bytes as u64) {
        return Err(RequestError::TooLarge { limit_bytes });
    }
    match Limited::new(body, limit_bytes).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(RequestError::TooLarge { limit_bytes }),
        Err(error) => Err(RequestError::Decode(format!(
            "failed to read request body: {error}"
        ))),
    }
}

/// Inflates a gzip body, reading at most one byte past `limit_bytes` so a gzip bomb is
/// refused without being inflated.
pub(crate) fn inflate(compressed: &[u8], limit_bytes: usize) -> Result<Vec<u8>, RequestError> {
    let capacity = compressed.len().saturating_mul(4).min(limit_bytes);
    let mut inflated = Vec::with_capacity(capacity);
    MultiGzDecoder::new(compressed)
        .take(limit_bytes as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|error| RequestError::Decode(format!("invalid gzip body: {error}")))?;
    if inflated.len() > limit_bytes {
        return Err(RequestError::TooLarge { limit_bytes });
    }
    Ok(inflated)
}

/// Decodes an `Export*ServiceRequest`. An empty body is an empty request in both encodings.
pub(crate) fn decode<M>(bytes: &[u8], encoding: Encoding) -> Result<M, RequestError>
where
    M: prost::Message + Default + serde::de::DeserializeOwned,
{
    match encoding {
        Encoding::Protobuf => M::decode(bytes)
            .map_err(|error| RequestError::Decode(format!("invalid protobuf: {error}"))),
        Encoding::Json => match bytes.iter().find(|byte| !byte.is_ascii_whitespace()) {
            None => Ok(M::default()),
            // serde would also take a JSON array for a message; the proto3 JSON mapping does not.
            Some(b'{') => json_defaults::from_slice(bytes)
                .map_err(|error| RequestError::Decode(format!("invalid OTLP/JSON: {error}"))),
            Some(_) => Err(RequestError::Decode(
                "invalid OTLP/JSON: the body must be a JSON object".into(),
            )),
        },
    }
}

#[cfg(test)]
mod tests;
