//! Which tenant a request belongs to. Authentication is not built yet: this is the one place
//! the security work replaces.

use lookout_model::TenantId;

/// The tenant of a request, from its HTTP headers or gRPC metadata (as a header map).
///
/// Until authentication exists every request belongs to [`TenantId::default_tenant`]; headers
/// are deliberately ignored so that no unauthenticated header can pick a tenant.
pub fn tenant_for_request(_headers: &http::HeaderMap) -> TenantId {
    TenantId::default_tenant()
}
