//! Integration tests of the query crate over a real store.

mod slo_math;
mod sql;
