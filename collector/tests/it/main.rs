//! Integration tests of the OTLP receivers against a real store in a temporary directory.

mod grpc;
mod http;
mod support;
