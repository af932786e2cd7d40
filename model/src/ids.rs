//! Trace and span identifiers: fixed-size byte arrays shown as lowercase hex.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an id could not be parsed or accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id had the wrong number of bytes.
    #[error("{kind} must be {expected} bytes, got {actual}")]
    WrongLength {
        /// `trace_id` or `span_id`.
        kind: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Length that was given.
        actual: usize,
    },
    /// The id was not valid hexadecimal.
    #[error("{kind} is not valid hex: {reason}")]
    NotHex {
        /// `trace_id` or `span_id`.
        kind: &'static str,
        /// What the hex decoder said.
        reason: String,
    },
    /// The all-zero id, which OTLP declares invalid.
    #[error("{kind} must not be all zeros")]
    AllZero {
        /// `trace_id` or `span_id`.
        kind: &'static str,
    },
}

macro_rules! byte_id {
    ($name:ident, $len:expr, $kind:expr) => {
        #[doc = concat!("A ", $kind, ": ", stringify!($len), " bytes, displayed as lowercase hex.")]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Builds an id from raw bytes; the all-zero id and wrong lengths are refused.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
                let array: [u8; $len] = bytes.try_into().map_err(|_| IdError::WrongLength {
                    kind: $kind,
                    expected: $len,
                    actual: bytes.len(),
                })?;
                if array == [0u8; $len] {
                    return Err(IdError::AllZero { kind: $kind });
                }
                Ok(Self(array))
            }

            /// Like [`Self::from_bytes`] but an empty slice means "no id".
            pub fn from_optional_bytes(bytes: &[u8]) -> Result<Option<Self>, IdError> {
                if bytes.is_empty() {
                    Ok(None)
                } else {
                    Self::from_bytes(bytes).map(Some)
                }
            }

            /// Parses lowercase or uppercase hex.
            pub fn from_hex(text: &str) -> Result<Self, IdError> {
                let bytes = hex::decode(text).map_err(|error| IdError::NotHex {
                    kind: $kind,
                    reason: error.to_string(),
                })?;
                Self::from_bytes(&bytes)
            }

            /// Lowercase hex form.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(&self.to_hex())
                } else {
                    serializer.serialize_bytes(&self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = String::deserialize(deserializer)?;
                    Self::from_hex(&text).map_err(serde::de::Error::custom)
                } else {
                    let bytes = <Vec<u8>>::deserialize(deserializer)?;
                    Self::from_bytes(&bytes).map_err(serde::de::Error::custom)
                }
            }
        }
    };
}

byte_id!(TraceId, 16, "trace_id");
byte_id!(SpanId, 8, "span_id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let id = TraceId::from_hex("0102030405060708090a0b0c0d0e0f10").unwrap();
        assert_eq!(id.to_hex(), "0102030405060708090a0b0c0d0e0f10");
        assert_eq!(
            TraceId::from_hex("00000000000000000000000000000000"),
            Err(IdError::AllZero { kind: "trace_id" })
        );
        assert!(matches!(
            SpanId::from_hex("0102"),
            Err(IdError::WrongLength { actual: 2, .. })
        ));
        assert!(matches!(
            SpanId::from_hex("zz02030405060708"),
            Err(IdError::NotHex { .. })
        ));
        assert_eq!(SpanId::from_optional_bytes(&[]), Ok(None));
    }

    #[test]
    fn serde_json_uses_hex() {
        let id = SpanId::from_hex("0102030405060708").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"0102030405060708\"");
        assert_eq!(serde_json::from_str::<SpanId>(&json).unwrap(), id);
    }
}
