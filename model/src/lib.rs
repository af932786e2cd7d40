//! The shared vocabulary of Lookout: telemetry records, ids, tenants and API types.
//!
//! This crate knows nothing about OTLP protobuf, storage formats, or transports. Every other
//! crate converts to and from these types at its edge.

pub mod alerting;
pub mod api;
pub mod ids;
pub mod prometheus;
pub mod search;
pub mod slo;
pub mod telemetry;
pub mod tenant;

pub use ids::{IdError, SpanId, TraceId};
pub use telemetry::*;
pub use tenant::{TenantId, TenantIdError};
