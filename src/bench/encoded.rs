//! Pre-encoded OTLP export requests whose trace ids and timestamps are rewritten per send.

use std::collections::HashSet;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// Protobuf tags (field number and wire type) of the fields rewritten before each send.
const TRACE_ID_TAG: [u8; 2] = [0x0a, 16]; // Span.trace_id = 1, length-delimited, 16 bytes
const START_TIME_TAG: u8 = 0x39; // Span.start_time_unix_nano = 7, fixed64
const END_TIME_TAG: u8 = 0x41; // Span.end_time_unix_nano = 8, fixed64
const EVENT_TIME_TAG: u8 = 0x09; // Event.time_unix_nano = 1, fixed64

/// An export request encoded once, whose trace ids and timestamps are rewritten in the
/// encoded bytes before each send, so that repeated sends are new traces at the current time.
#[derive(Debug, Clone)]
pub struct EncodedRequest {
    body: Vec<u8>,
    span_count: usize,
    trace_id_offsets: Vec<usize>,
    timestamp_offsets: Vec<usize>,
    generated_at_unix_nanos: u64,
}

impl EncodedRequest {
    /// Encodes `request`, whose timestamps were generated relative to `generated_at_unix_nanos`.
    pub fn new(request: &ExportTraceServiceRequest, generated_at_unix_nanos: u64) -> Self {
        let spans = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans);
        let mut trace_ids = HashSet::new();
        let mut timestamps = HashSet::new();
        let mut span_count = 0;
        for span in spans {
            span_count += 1;
            trace_ids.insert(span.trace_id.as_slice());
            timestamps.extend([span.start_time_unix_nano, span.end_time_unix_nano]);
            timestamps.extend(span.events.iter().map(|event| event.time_unix_nano));
        }
        let body = request.encode_to_vec();
        // Tags followed by one of our random 16-byte ids or nanosecond timestamps do not occur
        // by chance, so a plain scan finds exactly the fields to rewrite.
        let mut trace_id_offsets = Vec::with_capacity(span_count);
        let mut timestamp_offsets = Vec::with_capacity(span_count * 2);
        let mut offset = 0;
        while offset < body.len() {
            let rest = &body[offset..];
            if rest.len() >= 18 && rest[..2] == TRACE_ID_TAG && trace_ids.contains(&rest[2..18]) {
                trace_id_offsets.push(offset + 2);
                offset += 18;
            } else if rest.len() >= 9
                && matches!(rest[0], START_TIME_TAG | END_TIME_TAG | EVENT_TIME_TAG)
                && timestamps.contains(&u64::from_le_bytes(
                    rest[1..9].try_into().expect("eight bytes"),
                ))
            {
                timestamp_offsets.push(offset + 1);
                offset += 9;
            } else {
                offset += 1;
            }
        }
        Self {
            body,
            span_count,
            trace_id_offsets,
            timestamp_offsets,
            generated_at_unix_nanos,
        }
    }

    /// Number of spans in the request.
    pub fn span_count(&self) -> usize {
        self.span_count
    }

    /// Size of the encoded, uncompressed request.
    pub fn size_bytes(&self) -> usize {
        self.body.len()
    }

    /// The encoded request with trace ids scrambled by `round` (distinct rounds give distinct
    /// trace ids, links within a trace stay intact) and timestamps moved forward by the time
    /// elapsed since generation.
    pub fn body_for_send(&self, round: u64, now_unix_nanos: u64) -> Vec<u8> {
        let mut body = self.body.clone();
        let trace_id_mask = splitmix64(round).to_le_bytes();
        for &offset in &self.trace_id_offsets {
            for (byte, mask) in body[offset..offset + 8].iter_mut().zip(trace_id_mask) {
                *byte ^= mask;
            }
        }
        let shift_nanos = now_unix_nanos.saturating_sub(self.generated_at_unix_nanos);
        for &offset in &self.timestamp_offsets {
            let field = &mut body[offset..offset + 8];
            let timestamp = u64::from_le_bytes((&*field).try_into().expect("eight bytes"));
            field.copy_from_slice(&timestamp.saturating_add(shift_nanos).to_le_bytes());
        }
        body
    }
}

/// A bijective mixer, so each round gets a different, well-spread mask.
fn splitmix64(value: u64) -> u64 {
    let mut mixed = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^ (mixed >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry_proto::tonic::trace::v1::Span;

    use super::super::workload::Workload;
    use super::*;

    const NOW_UNIX_NANOS: u64 = 1_750_000_000_000_000_000;

    fn all_spans(request: &ExportTraceServiceRequest) -> Vec<&Span> {
        request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect()
    }

    #[test]
    fn body_for_send_rewrites_trace_ids_and_shifts_times() {
        let request = Workload::new(5).request(300, NOW_UNIX_NANOS);
        let encoded = EncodedRequest::new(&request, NOW_UNIX_NANOS);
        assert_eq!(encoded.trace_id_offsets.len(), encoded.span_count());
        let shift_nanos = 5_000_000_000;
        let body = encoded.body_for_send(9, NOW_UNIX_NANOS + shift_nanos);
        let decoded =
            ExportTraceServiceRequest::decode(body.as_slice()).expect("patched body decodes");
        let mut new_id_by_old_id = HashMap::new();
        for (before, after) in all_spans(&request).into_iter().zip(all_spans(&decoded)) {
            assert_ne!(before.trace_id, after.trace_id);
            let new_id = new_id_by_old_id
                .entry(before.trace_id.clone())
                .or_insert_with(|| after.trace_id.clone());
            assert_eq!(
                *new_id, after.trace_id,
                "spans of one trace keep sharing a trace id"
            );
            assert_eq!(before.span_id, after.span_id);
            assert_eq!(
                before.start_time_unix_nano + shift_nanos,
                after.start_time_unix_nano
            );
            assert_eq!(
                before.end_time_unix_nano + shift_nanos,
                after.end_time_unix_nano
            );
            for (event_before, event_after) in before.events.iter().zip(&after.events) {
                assert_eq!(
                    event_before.time_unix_nano + shift_nanos,
                    event_after.time_unix_nano
                );
            }
            assert_eq!(before.attributes, after.attributes);
        }
        let other_round = encoded.body_for_send(10, NOW_UNIX_NANOS + shift_nanos);
        assert_ne!(body, other_round);
    }
}
