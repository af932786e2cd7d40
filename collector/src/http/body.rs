//! Reading OTLP/HTTP bodies: content negotiation, size limits enforced while reading and
//! inflating, and protobuf/JSON decoding.

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
        Encoding::Json if bytes.iter().all(u8::is_ascii_whitespace) => Ok(M::default()),
        Encoding::Json => serde_json::from_slice(bytes)
            .map_err(|error| RequestError::Decode(format!("invalid OTLP/JSON: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::io::Write;

    fn headers(name: http::header::HeaderName, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn content_types() {
        let cases = [
            ("application/x-protobuf", Some(Encoding::Protobuf)),
            ("application/json", Some(Encoding::Json)),
            ("application/json; charset=utf-8", Some(Encoding::Json)),
            ("Application/X-Protobuf ; foo=bar", Some(Encoding::Protobuf)),
            ("text/plain", None),
            ("application/grpc", None),
            ("", None),
        ];
        for (value, expected) in cases {
            let got = content_type(&headers(CONTENT_TYPE, value)).ok();
            assert_eq!(got, expected, "{value:?}");
        }
        assert!(content_type(&HeaderMap::new()).is_err());
    }

    #[test]
    fn content_encodings() {
        let cases = [
            ("gzip", Some(true)),
            ("GZIP", Some(true)),
            ("identity", Some(false)),
            ("br", None),
            ("deflate", None),
        ];
        for (value, expected) in cases {
            assert_eq!(is_gzip(&headers(CONTENT_ENCODING, value)).ok(), expected, "{value}");
        }
        assert_eq!(is_gzip(&HeaderMap::new()).ok(), Some(false));
    }

    #[test]
    fn inflate_stops_at_the_limit() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&[0u8; 10_000]).unwrap();
        let compressed = encoder.finish().unwrap();
        assert_eq!(inflate(&compressed, 10_000).unwrap().len(), 10_000);
        assert!(matches!(
            inflate(&compressed, 9_999),
            Err(RequestError::TooLarge { limit_bytes: 9_999 })
        ));
        assert!(matches!(inflate(b"not gzip", 100), Err(RequestError::Decode(_))));
    }
}
