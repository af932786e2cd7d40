//! Attribute values, resources and scopes.

use lookout_model::{AnyValue, KeyValue, Resource, Scope};
use opentelemetry_proto::tonic::common::v1 as proto;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;

/// Converts an `AnyValue`; `None` for an empty value (no variant set) and for
/// `string_value_strindex`, which only means something inside a profiles dictionary.
///
/// Recursion is bounded by the decoders (prost and serde_json both limit nesting depth).
pub(crate) fn any_value(value: proto::AnyValue) -> Option<AnyValue> {
    Some(match value.value? {
        Value::StringValue(text) => AnyValue::String(text),
        Value::BoolValue(flag) => AnyValue::Bool(flag),
        Value::IntValue(number) => AnyValue::Int(number),
        Value::DoubleValue(number) => AnyValue::Double(number),
        Value::BytesValue(bytes) => AnyValue::Bytes(bytes),
        Value::ArrayValue(array) => {
            AnyValue::Array(array.values.into_iter().filter_map(any_value).collect())
        }
        Value::KvlistValue(list) => AnyValue::KvList(attributes(list.values).0),
        Value::StringValueStrindex(_) => return None,
    })
}

/// Converts attributes. The model has no "empty value", so attributes without a value are
/// left out; the second result says how many, to add to `dropped_attributes_count`.
pub(crate) fn attributes(pairs: Vec<proto::KeyValue>) -> (Vec<KeyValue>, u32) {
    let mut dropped = 0u32;
    let mut converted = Vec::with_capacity(pairs.len());
    for pair in pairs {
        match pair.value.and_then(any_value) {
            Some(value) => converted.push(KeyValue {
                key: pair.key,
                value,
            }),
            None => dropped = dropped.saturating_add(1),
        }
    }
    (converted, dropped)
}

/// Converts attributes and adds the ones left out to the sender's dropped count.
pub(crate) fn attributes_with_dropped(
    pairs: Vec<proto::KeyValue>,
    dropped_by_sender: u32,
) -> (Vec<KeyValue>, u32) {
    let (converted, dropped) = attributes(pairs);
    (converted, dropped_by_sender.saturating_add(dropped))
}

/// The resource of a `Resource*` group, with the group's schema URL.
pub(crate) fn resource(resource: Option<ProtoResource>, schema_url: String) -> Resource {
    let resource = resource.unwrap_or_default();
    let (attributes, dropped_attributes_count) =
        attributes_with_dropped(resource.attributes, resource.dropped_attributes_count);
    Resource {
        attributes,
        dropped_attributes_count,
        schema_url,
    }
}

/// The scope of a `Scope*` group, with the group's schema URL.
pub(crate) fn scope(scope: Option<proto::InstrumentationScope>, schema_url: String) -> Scope {
    let scope = scope.unwrap_or_default();
    let (attributes, dropped_attributes_count) =
        attributes_with_dropped(scope.attributes, scope.dropped_attributes_count);
    Scope {
        name: scope.name,
        version: scope.version,
        attributes,
        dropped_attributes_count,
        schema_url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(value: Value) -> proto::AnyValue {
        proto::AnyValue { value: Some(value) }
    }

    fn pair(key: &str, inner: Value) -> proto::KeyValue {
        proto::KeyValue {
            key: key.into(),
            value: Some(value(inner)),
            key_strindex: 0,
        }
    }

    #[test]
    fn every_any_value_type() {
        let cases: Vec<(Value, Option<AnyValue>)> = vec![
            (
                Value::StringValue("a".into()),
                Some(AnyValue::String("a".into())),
            ),
            (Value::BoolValue(true), Some(AnyValue::Bool(true))),
            (Value::IntValue(-7), Some(AnyValue::Int(-7))),
            (Value::DoubleValue(1.5), Some(AnyValue::Double(1.5))),
            (
                Value::BytesValue(vec![0, 255]),
                Some(AnyValue::Bytes(vec![0, 255])),
            ),
            (
                Value::ArrayValue(proto::ArrayValue {
                    values: vec![
                        value(Value::IntValue(1)),
                        value(Value::StringValue("x".into())),
                        value(Value::ArrayValue(proto::ArrayValue {
                            values: vec![value(Value::BoolValue(false))],
                        })),
                    ],
                }),
                Some(AnyValue::Array(vec![
                    AnyValue::Int(1),
                    AnyValue::String("x".into()),
                    AnyValue::Array(vec![AnyValue::Bool(false)]),
                ])),
            ),
            (
                Value::KvlistValue(proto::KeyValueList {
                    values: vec![
                        pair("k", Value::DoubleValue(2.0)),
                        pair(
                            "nested",
                            Value::KvlistValue(proto::KeyValueList {
                                values: vec![pair("b", Value::BytesValue(vec![1]))],
                            }),
                        ),
                    ],
                }),
                Some(AnyValue::KvList(vec![
                    KeyValue {
                        key: "k".into(),
                        value: AnyValue::Double(2.0),
                    },
                    KeyValue {
                        key: "nested".into(),
                        value: AnyValue::KvList(vec![KeyValue {
                            key: "b".into(),
                            value: AnyValue::Bytes(vec![1]),
                        }]),
                    },
                ])),
            ),
            (Value::StringValueStrindex(3), None),
        ];
        for (input, expected) in cases {
            assert_eq!(any_value(value(input.clone())), expected, "{input:?}");
        }
        assert_eq!(any_value(proto::AnyValue { value: None }), None);
    }

    #[test]
    fn empty_attribute_values_are_counted_as_dropped() {
        let pairs = vec![
            pair("kept", Value::IntValue(1)),
            proto::KeyValue {
                key: "empty".into(),
                value: None,
                key_strindex: 0,
            },
            proto::KeyValue {
                key: "unset".into(),
                value: Some(proto::AnyValue { value: None }),
                key_strindex: 0,
            },
        ];
        let (converted, dropped) = attributes_with_dropped(pairs, 2);
        assert_eq!(converted.len(), 1);
        assert_eq!(converted[0].key, "kept");
        assert_eq!(dropped, 4);
    }

    #[test]
    fn resource_and_scope_keep_everything() {
        let resource = resource(
            Some(ProtoResource {
                attributes: vec![pair("service.name", Value::StringValue("svc".into()))],
                dropped_attributes_count: 3,
                entity_refs: vec![],
            }),
            "https://schema/r".into(),
        );
        assert_eq!(resource.service_name(), "svc");
        assert_eq!(resource.dropped_attributes_count, 3);
        assert_eq!(resource.schema_url, "https://schema/r");
        let scope = scope(
            Some(proto::InstrumentationScope {
                name: "lib".into(),
                version: "1.2".into(),
                attributes: vec![pair("a", Value::BoolValue(true))],
                dropped_attributes_count: 1,
            }),
            "https://schema/s".into(),
        );
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("lib", "1.2")
        );
        assert_eq!(scope.attributes.len(), 1);
        assert_eq!(scope.dropped_attributes_count, 1);
        assert_eq!(scope.schema_url, "https://schema/s");
    }
}
