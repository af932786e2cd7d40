//! The terminal UI: a ratatui client of a running daemon that talks to it over the HTTP API.
//!
//! Empty until the terminal UI work lands; it may depend on `lookout-model` only (see
//! ARCHITECTURE.md).
