//! OTLP protobuf -> `lookout_model`, keeping everything OTLP carries.
//!
//! Bad records are refused one at a time: a span with an invalid id, or a metric data point
//! without a value, is counted and left out while its neighbours are kept. Resource and scope
//! groups left without records are dropped.

mod logs;
mod metrics;
mod traces;
mod values;

pub use logs::logs;
pub use metrics::metrics;
pub use traces::spans;

use lookout_model::{IdError, SpanId, TraceId};

use crate::error::RejectReason;

/// The result of converting one request: the records kept and what was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted<B> {
    /// The records kept, grouped by resource and scope.
    pub batch: B,
    /// Records refused (spans, log records, or metric data points).
    pub rejected: u64,
    /// Of those, refused for an invalid trace or span id.
    pub rejected_invalid_id: u64,
    /// Of those, metric data points refused for having no value.
    pub rejected_missing_value: u64,
    /// What was wrong with the first refused record, and where it was.
    pub first_error: Option<String>,
}

impl<B> Converted<B> {
    /// A human-readable explanation for OTLP's `partial_success.error_message`, or `None`
    /// when nothing was refused. `noun` names the records (`spans`, `log records`, ...).
    pub fn error_message(&self, noun: &str) -> Option<String> {
        if self.rejected == 0 {
            return None;
        }
        let mut parts = Vec::new();
        if self.rejected_invalid_id > 0 {
            parts.push(format!(
                "{} with an invalid trace or span id",
                self.rejected_invalid_id
            ));
        }
        if self.rejected_missing_value > 0 {
            parts.push(format!("{} without a value", self.rejected_missing_value));
        }
        let mut message = format!("rejected {} {noun}: {}", self.rejected, parts.join(", "));
        if let Some(first) = &self.first_error {
            message.push_str("; first: ");
            message.push_str(first);
        }
        Some(message)
    }

    /// Refused counts by reason, skipping zeros.
    pub fn rejected_by_reason(&self) -> impl Iterator<Item = (RejectReason, u64)> {
        [
            (RejectReason::InvalidId, self.rejected_invalid_id),
            (RejectReason::MissingValue, self.rejected_missing_value),
        ]
        .into_iter()
        .filter(|(_, count)| *count > 0)
    }
}

/// Why one record was refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rejection {
    reason: RejectReason,
    message: String,
}

impl Rejection {
    fn invalid_id(field: &str, error: IdError) -> Self {
        Self {
            reason: RejectReason::InvalidId,
            message: format!("{field}: {error}"),
        }
    }

    fn missing_value(message: impl Into<String>) -> Self {
        Self {
            reason: RejectReason::MissingValue,
            message: message.into(),
        }
    }
}

/// Accumulates refusals while a request is converted.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    rejected_invalid_id: u64,
    rejected_missing_value: u64,
    first_error: Option<String>,
}

impl Tally {
    /// Counts one refused record; `location` says where it was in the request.
    fn reject(&mut self, rejection: Rejection, location: impl FnOnce() -> String) {
        match rejection.reason {
            RejectReason::MissingValue => self.rejected_missing_value += 1,
            _ => self.rejected_invalid_id += 1,
        }
        if self.first_error.is_none() {
            self.first_error = Some(format!("{} ({})", rejection.message, location()));
        }
    }

    fn finish<B>(self, batch: B) -> Converted<B> {
        Converted {
            batch,
            rejected: self.rejected_invalid_id + self.rejected_missing_value,
            rejected_invalid_id: self.rejected_invalid_id,
            rejected_missing_value: self.rejected_missing_value,
            first_error: self.first_error,
        }
    }
}

/// A required trace id: wrong lengths and the all-zero id are refused.
fn required_trace_id(field: &str, bytes: &[u8]) -> Result<TraceId, Rejection> {
    TraceId::from_bytes(bytes).map_err(|error| Rejection::invalid_id(field, error))
}

/// A required span id: wrong lengths and the all-zero id are refused.
fn required_span_id(field: &str, bytes: &[u8]) -> Result<SpanId, Rejection> {
    SpanId::from_bytes(bytes).map_err(|error| Rejection::invalid_id(field, error))
}

/// Whether `bytes` means "no id": empty, or the all-zero id of the right length (which some
/// SDKs send instead of leaving the field out).
fn is_absent_id(bytes: &[u8], len: usize) -> bool {
    bytes.is_empty() || (bytes.len() == len && bytes.iter().all(|byte| *byte == 0))
}

/// An optional trace id: absent or all-zero is `None`, a wrong length is refused.
fn optional_trace_id(field: &str, bytes: &[u8]) -> Result<Option<TraceId>, Rejection> {
    if is_absent_id(bytes, TraceId::LEN) {
        return Ok(None);
    }
    required_trace_id(field, bytes).map(Some)
}

/// An optional span id: absent or all-zero is `None`, a wrong length is refused.
fn optional_span_id(field: &str, bytes: &[u8]) -> Result<Option<SpanId>, Rejection> {
    if is_absent_id(bytes, SpanId::LEN) {
        return Ok(None);
    }
    required_span_id(field, bytes).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_ids_accept_absent_and_zero_but_refuse_wrong_length() {
        assert_eq!(optional_span_id("span_id", &[]), Ok(None));
        assert_eq!(optional_span_id("span_id", &[0; 8]), Ok(None));
        assert!(optional_span_id("span_id", &[1; 8]).unwrap().is_some());
        assert!(optional_span_id("span_id", &[0; 3]).is_err());
        assert!(optional_trace_id("trace_id", &[1; 8]).is_err());
        assert!(required_trace_id("trace_id", &[0; 16]).is_err());
        assert!(required_trace_id("trace_id", &[]).is_err());
    }

    #[test]
    fn error_message_lists_reasons() {
        let mut tally = Tally::default();
        tally.reject(
            Rejection::invalid_id("span_id", IdError::AllZero { kind: "span_id" }),
            || "resource 0, scope 0, span 1".into(),
        );
        tally.reject(Rejection::missing_value("no value"), || "x".into());
        let converted = tally.finish(());
        assert_eq!(converted.rejected, 2);
        let message = converted.error_message("records").unwrap();
        assert!(
            message.starts_with("rejected 2 records: 1 with an invalid"),
            "{message}"
        );
        assert!(message.contains("resource 0, scope 0, span 1"), "{message}");
        assert_eq!(converted.rejected_by_reason().count(), 2);
    }
}
