//! The trace-id index: for every spans Parquet file, a sidecar `<file>.tid` listing the
//! sorted unique trace ids it holds with their min start and max end time.
//!
//! Sidecar layout: `b"LKTID001"`, entry count (u64 LE), entries of
//! `[trace_id 16 bytes][min_start i64 LE][max_end i64 LE]` sorted by trace id, then a CRC32
//! (u32 LE) of everything before it.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, StringArray, TimestampNanosecondArray};
use datafusion::arrow::record_batch::RecordBatch;
use lookout_model::TraceId;

const MAGIC: &[u8; 8] = b"LKTID001";
const ENTRY_BYTES: usize = 32;

/// Time covered by one trace, Unix nanoseconds (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceSpan {
    /// Earliest span start.
    pub(crate) min_start: i64,
    /// Latest span end.
    pub(crate) max_end: i64,
}

impl TraceSpan {
    /// The union of two ranges.
    pub(crate) fn merge(self, other: TraceSpan) -> TraceSpan {
        TraceSpan {
            min_start: self.min_start.min(other.min_start),
            max_end: self.max_end.max(other.max_end),
        }
    }
}

/// The trace ids of one file, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FileTraceIndex {
    entries: Vec<([u8; 16], TraceSpan)>,
}

impl FileTraceIndex {
    /// Builds the index of the spans in `batches`.
    pub(crate) fn from_batches(batches: &[RecordBatch]) -> Self {
        let mut ranges = HashMap::new();
        for batch in batches {
            collect_trace_ranges(batch, &mut ranges);
        }
        let mut entries: Vec<_> = ranges.into_iter().map(|(id, span)| (id.0, span)).collect();
        entries.sort_unstable_by_key(|(id, _)| *id);
        Self { entries }
    }

    /// The range of `trace_id` in this file, if present.
    pub(crate) fn lookup(&self, trace_id: &TraceId) -> Option<TraceSpan> {
        self.entries
            .binary_search_by_key(&trace_id.0, |(id, _)| *id)
            .ok()
            .map(|index| self.entries[index].1)
    }

    /// The sidecar bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(20 + self.entries.len() * ENTRY_BYTES);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for (id, span) in &self.entries {
            bytes.extend_from_slice(id);
            bytes.extend_from_slice(&span.min_start.to_le_bytes());
            bytes.extend_from_slice(&span.max_end.to_le_bytes());
        }
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Parses sidecar bytes; `None` when they are damaged.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
            return None;
        }
        let rest = body.strip_prefix(MAGIC)?;
        let (count, rest) = rest.split_at_checked(8)?;
        let count = usize::try_from(u64::from_le_bytes(count.try_into().ok()?)).ok()?;
        if rest.len() != count.checked_mul(ENTRY_BYTES)? {
            return None;
        }
        let entries = rest
            .chunks_exact(ENTRY_BYTES)
            .map(|chunk| {
                let mut id = [0u8; 16];
                id.copy_from_slice(&chunk[..16]);
                let min_start = i64::from_le_bytes(chunk[16..24].try_into().unwrap_or_default());
                let max_end = i64::from_le_bytes(chunk[24..32].try_into().unwrap_or_default());
                (id, TraceSpan { min_start, max_end })
            })
            .collect();
        Some(Self { entries })
    }
}

/// Adds every trace of a spans batch to `ranges`.
pub(crate) fn collect_trace_ranges(batch: &RecordBatch, ranges: &mut HashMap<TraceId, TraceSpan>) {
    let column = |name: &str| batch.column_by_name(name).map(|column| column.as_any());
    let (Some(trace_ids), Some(starts), Some(ends)) = (
        column("trace_id").and_then(|c| c.downcast_ref::<StringArray>()),
        column("start_time").and_then(|c| c.downcast_ref::<TimestampNanosecondArray>()),
        column("end_time").and_then(|c| c.downcast_ref::<TimestampNanosecondArray>()),
    ) else {
        return;
    };
    for row in 0..batch.num_rows() {
        if trace_ids.is_null(row) {
            continue;
        }
        let Ok(trace_id) = TraceId::from_hex(trace_ids.value(row)) else {
            continue;
        };
        let span = TraceSpan {
            min_start: starts.value(row),
            max_end: ends.value(row).max(starts.value(row)),
        };
        ranges
            .entry(trace_id)
            .and_modify(|known| *known = known.merge(span))
            .or_insert(span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_and_lookup() {
        let index = FileTraceIndex {
            entries: vec![
                (
                    [1; 16],
                    TraceSpan {
                        min_start: 5,
                        max_end: 9,
                    },
                ),
                (
                    [3; 16],
                    TraceSpan {
                        min_start: -2,
                        max_end: 4,
                    },
                ),
            ],
        };
        let bytes = index.encode();
        let decoded = FileTraceIndex::decode(&bytes).unwrap();
        assert_eq!(decoded, index);
        assert_eq!(
            decoded.lookup(&TraceId([3; 16])),
            Some(TraceSpan {
                min_start: -2,
                max_end: 4
            })
        );
        assert_eq!(decoded.lookup(&TraceId([2; 16])), None);
        for cut in 0..bytes.len() {
            assert!(
                FileTraceIndex::decode(&bytes[..cut]).is_none(),
                "cut at {cut}"
            );
        }
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(FileTraceIndex::decode(&flipped).is_none());
    }
}
