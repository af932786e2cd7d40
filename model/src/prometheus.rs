//! Names shared by the Prometheus remote-write receiver and the PromQL engine.

/// The instrumentation scope name of series received through Prometheus remote write. PromQL
/// keeps their metric names and labels verbatim instead of translating OTLP names.
pub const REMOTE_WRITE_SCOPE: &str = "lookout.prometheus.remote_write";
