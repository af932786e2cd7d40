//! Integration tests of the query crate over a real store.

mod sql;
