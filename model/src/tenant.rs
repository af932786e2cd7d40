//! Tenant identifiers. Every stored record and every read path carries one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a tenant id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantIdError {
    /// Empty or longer than [`TenantId::MAX_LEN`].
    #[error("tenant id must be 1 to {max} characters, got {actual}", max = TenantId::MAX_LEN)]
    BadLength {
        /// Length that was given.
        actual: usize,
    },
    /// A character outside `[A-Za-z0-9_-]`, or a leading `-`/`_`.
    #[error(
        "tenant id may only contain ASCII letters, digits, `-` and `_`, and must start with a letter or digit"
    )]
    BadCharacter,
}

/// A tenant: the unit of isolation for data, queries, SLOs and alerts.
///
/// Only `[A-Za-z0-9_-]` is allowed, so a tenant id is always a safe single path component
/// (no `.`, `/`, `%` or other encodings of traversal can appear).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Longest accepted tenant id.
    pub const MAX_LEN: usize = 64;
    /// The tenant used when authentication is off.
    pub const DEFAULT: &'static str = "default";

    /// Validates and wraps a tenant id.
    pub fn new(id: impl Into<String>) -> Result<Self, TenantIdError> {
        let id = id.into();
        if id.is_empty() || id.len() > Self::MAX_LEN {
            return Err(TenantIdError::BadLength { actual: id.len() });
        }
        let mut chars = id.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !(first_ok && rest_ok) {
            return Err(TenantIdError::BadCharacter);
        }
        Ok(Self(id))
    }

    /// The default tenant.
    pub fn default_tenant() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self::default_tenant()
    }
}

impl TryFrom<String> for TenantId {
    type Error = TenantIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses() {
        let too_long = "x".repeat(65);
        let cases = [
            ("default", true),
            ("team-a_1", true),
            ("", false),
            ("..", false),
            ("a/b", false),
            ("%2e%2e", false),
            ("%252e", false),
            ("-lead", false),
            (too_long.as_str(), false),
        ];
        for (input, ok) in cases {
            assert_eq!(TenantId::new(input).is_ok(), ok, "{input:?}");
        }
    }
}
