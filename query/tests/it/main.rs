//! Integration tests of the query crate over a real store.

mod alerting;
mod prometheus_api;
mod promql;
mod slo_math;
mod slo_metric;
mod sql;
