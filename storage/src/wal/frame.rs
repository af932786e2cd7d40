//! WAL frames: `[len u32 LE][crc32 u32 LE][postcard bytes of a WalEntry]`.

use lookout_model::{LogBatch, MetricBatch, SpanBatch, TenantId};
use serde::{Deserialize, Serialize};

use crate::{Payload, StorageError};

/// Bytes of the frame header (length + checksum).
pub(crate) const FRAME_HEADER_BYTES: usize = 8;
/// Frames longer than this are treated as corruption rather than allocated.
pub(crate) const MAX_FRAME_PAYLOAD_BYTES: usize = 1 << 30;

/// One logged append, as written.
#[derive(Serialize)]
struct WalEntryRef<'a> {
    tenant: &'a TenantId,
    payload: WalPayloadRef<'a>,
}

#[derive(Serialize)]
enum WalPayloadRef<'a> {
    Spans(&'a SpanBatch),
    Logs(&'a LogBatch),
    Metrics(&'a MetricBatch),
}

/// One logged append, as read back.
#[derive(Debug, Deserialize)]
pub(crate) struct WalEntry {
    /// The tenant the records belong to.
    pub(crate) tenant: TenantId,
    /// The records.
    pub(crate) payload: WalPayload,
}

/// The records of a WAL entry (same variant order as [`WalPayloadRef`]).
#[derive(Debug, Deserialize)]
pub(crate) enum WalPayload {
    Spans(SpanBatch),
    Logs(LogBatch),
    Metrics(MetricBatch),
}

impl From<WalPayload> for Payload {
    fn from(value: WalPayload) -> Self {
        match value {
            WalPayload::Spans(batch) => Payload::Spans(batch),
            WalPayload::Logs(batch) => Payload::Logs(batch),
            WalPayload::Metrics(batch) => Payload::Metrics(batch),
        }
    }
}

/// Encodes one append as a complete frame.
pub(crate) fn encode_frame(tenant: &TenantId, payload: &Payload) -> Result<Vec<u8>, StorageError> {
    let entry = WalEntryRef {
        tenant,
        payload: match payload {
            Payload::Spans(batch) => WalPayloadRef::Spans(batch),
            Payload::Logs(batch) => WalPayloadRef::Logs(batch),
            Payload::Metrics(batch) => WalPayloadRef::Metrics(batch),
        },
    };
    let mut frame = postcard::to_extend(&entry, vec![0u8; FRAME_HEADER_BYTES])
        .map_err(|error| StorageError::Internal(format!("failed to encode wal entry: {error}")))?;
    let payload_len = frame.len() - FRAME_HEADER_BYTES;
    if payload_len > MAX_FRAME_PAYLOAD_BYTES {
        return Err(StorageError::TooLarge(format!(
            "append of {payload_len} bytes exceeds the wal frame limit of {MAX_FRAME_PAYLOAD_BYTES} bytes"
        )));
    }
    let crc = crc32fast::hash(&frame[FRAME_HEADER_BYTES..]);
    let len = u32::try_from(payload_len).unwrap_or(u32::MAX);
    frame[0..4].copy_from_slice(&len.to_le_bytes());
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(frame)
}

/// The frames decoded from a segment, and where (if anywhere) decoding stopped early.
#[derive(Debug)]
pub(crate) struct DecodedSegment {
    /// Entries in write order.
    pub(crate) entries: Vec<WalEntry>,
    /// Length of the valid prefix.
    pub(crate) valid_bytes: usize,
    /// Why decoding stopped before the end, if it did.
    pub(crate) problem: Option<String>,
}

/// Decodes every complete, intact frame; stops at the first torn or corrupt one.
pub(crate) fn decode_segment(bytes: &[u8]) -> DecodedSegment {
    let mut entries = Vec::new();
    let mut offset = 0usize;
    let problem = loop {
        let rest = &bytes[offset..];
        if rest.is_empty() {
            break None;
        }
        if rest.len() < FRAME_HEADER_BYTES {
            break Some(format!("torn frame header at offset {offset}"));
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len > MAX_FRAME_PAYLOAD_BYTES {
            break Some(format!("implausible frame length {len} at offset {offset}"));
        }
        let Some(payload) = rest.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len) else {
            break Some(format!("torn frame of {len} bytes at offset {offset}"));
        };
        if crc32fast::hash(payload) != crc {
            break Some(format!("checksum mismatch at offset {offset}"));
        }
        match postcard::from_bytes::<WalEntry>(payload) {
            Ok(entry) => entries.push(entry),
            Err(error) => break Some(format!("undecodable frame at offset {offset}: {error}")),
        }
        offset += FRAME_HEADER_BYTES + len;
    };
    DecodedSegment {
        entries,
        valid_bytes: offset,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use lookout_model::{LogRecord, ResourceGroup, ScopeGroup};

    use super::*;

    fn log_payload(body: &str) -> Payload {
        Payload::Logs(LogBatch {
            resources: vec![ResourceGroup {
                resource: Default::default(),
                scopes: vec![ScopeGroup {
                    scope: Default::default(),
                    records: vec![LogRecord {
                        time_unix_nano: 1,
                        observed_time_unix_nano: 2,
                        severity_number: 9,
                        severity_text: "INFO".into(),
                        body: Some(lookout_model::AnyValue::String(body.into())),
                        attributes: vec![],
                        dropped_attributes_count: 0,
                        flags: 0,
                        trace_id: Some(lookout_model::TraceId([7; 16])),
                        span_id: None,
                        event_name: String::new(),
                    }],
                }],
            }],
        })
    }

    #[test]
    fn frames_round_trip_and_stop_at_damage() {
        let tenant = TenantId::default_tenant();
        let mut bytes = Vec::new();
        for body in ["a", "b", "c"] {
            bytes.extend(encode_frame(&tenant, &log_payload(body)).unwrap());
        }
        let decoded = decode_segment(&bytes);
        assert_eq!(decoded.entries.len(), 3);
        assert_eq!(decoded.valid_bytes, bytes.len());
        assert!(decoded.problem.is_none());
        let Payload::Logs(batch) =
            Payload::from(decoded.entries.into_iter().nth(1).unwrap().payload)
        else {
            panic!("expected logs")
        };
        assert_eq!(
            batch,
            match log_payload("b") {
                Payload::Logs(batch) => batch,
                _ => unreachable!(),
            }
        );

        let first_len = encode_frame(&tenant, &log_payload("a")).unwrap().len();
        let mut damaged = bytes.clone();
        damaged[first_len + FRAME_HEADER_BYTES + 2] ^= 0xff;
        let decoded = decode_segment(&damaged);
        assert_eq!(decoded.entries.len(), 1);
        assert_eq!(decoded.valid_bytes, first_len);
        assert!(decoded.problem.unwrap().contains("checksum"));
    }
}
