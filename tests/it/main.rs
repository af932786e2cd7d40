//! End-to-end tests of the `lookout` binary with real OTLP clients.

mod alerting;
mod cli;
mod crash;
mod depcheck;
mod otel_python;
mod otel_rust;
mod prometheus;
mod search;
mod slo;
mod span_analytics;
mod support;
