//! The web UI (server-rendered pages) and the built-in dashboard definitions.
//!
//! Empty until the web UI work lands; it may depend on `lookout-model` and `lookout-query`
//! only (see ARCHITECTURE.md).
