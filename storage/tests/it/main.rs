//! Integration tests of the storage engine, one module per area.

mod crash;
mod reads;
mod roundtrip;
mod search;
mod span_proptest;
mod support;
mod wal;
