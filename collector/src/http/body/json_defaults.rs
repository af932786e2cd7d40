//! OTLP/JSON leniency the `opentelemetry-proto` serde types lack.
//!
//! The proto3 JSON mapping treats a missing field, or `null`, as the field's default, and
//! protobuf's own JSON printers omit empty repeated fields: an empty list attribute is sent
//! as `{"arrayValue": {}}`. A few generated types (`ArrayValue`, `KeyValueList`, `KeyValue`,
//! `EntityRef`) have no `#[serde(default)]`, so serde refuses such bodies with "missing
//! field". When that happens the body is parsed again as a JSON tree, the defaults are filled
//! in, and the tree is deserialized; well-formed bodies never pay for this.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Deserializes `bytes`; on a data error, retries once with proto3 defaults filled in.
/// Returns the first error when the retry does not help.
pub(crate) fn from_slice<M: DeserializeOwned>(bytes: &[u8]) -> Result<M, serde_json::Error> {
    let first_error = match serde_json::from_slice::<M>(bytes) {
        Ok(message) => return Ok(message),
        Err(error) => error,
    };
    if first_error.classify() != serde_json::error::Category::Data {
        return Err(first_error);
    }
    let Ok(mut tree) = serde_json::from_slice::<Value>(bytes) else {
        return Err(first_error);
    };
    if !fill_defaults(&mut tree, "") {
        return Err(first_error);
    }
    serde_json::from_value(tree).map_err(|_| first_error)
}

/// Fields holding lists of `KeyValue` messages.
const KEY_VALUE_LISTS: [&str; 3] = ["attributes", "filteredAttributes", "metadata"];

/// Removes `null` fields and adds the required-by-serde fields OTLP/JSON may omit. `field` is
/// the name of the field holding `value` (array elements inherit it). Returns whether
/// anything changed.
fn fill_defaults(value: &mut Value, field: &str) -> bool {
    match value {
        Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= fill_defaults(item, field);
            }
            changed
        }
        Value::Object(object) => {
            let mut changed = remove_nulls(object);
            if KEY_VALUE_LISTS.contains(&field) {
                changed |= insert_missing(object, "key", || Value::String(String::new()));
            }
            if field == "entityRefs" {
                for name in ["schemaUrl", "type"] {
                    changed |= insert_missing(object, name, || Value::String(String::new()));
                }
                for name in ["idKeys", "descriptionKeys"] {
                    changed |= insert_missing(object, name, || Value::Array(Vec::new()));
                }
            }
            if matches!(field, "arrayValue" | "kvlistValue") {
                changed |= insert_missing(object, "values", || Value::Array(Vec::new()));
            }
            for (name, child) in object.iter_mut() {
                // The `values` of a `kvlistValue` are key/value pairs.
                let child_field = if field == "kvlistValue" && name == "values" {
                    "attributes"
                } else {
                    name.as_str()
                };
                changed |= fill_defaults(child, child_field);
            }
            changed
        }
        _ => false,
    }
}

fn remove_nulls(object: &mut Map<String, Value>) -> bool {
    let before = object.len();
    object.retain(|_, value| !value.is_null());
    object.len() != before
}

fn insert_missing(object: &mut Map<String, Value>, name: &str, default: fn() -> Value) -> bool {
    if object.contains_key(name) {
        return false;
    }
    object.insert(name.to_owned(), default());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as ProtoValue;

    #[test]
    fn omitted_and_null_fields_take_their_defaults() {
        let text = r#"{"resourceSpans":[{"resource":{"attributes":[
            {"key":"empty_list","value":{"arrayValue":{}}},
            {"key":"empty_map","value":{"kvlistValue":{"values":[{"value":{"boolValue":true}}]}}},
            {"value":{"intValue":"1"}},
            {"key":"nulls","value":{"arrayValue":{"values":null}}}
          ],"entityRefs":[{"type":"service"}],"droppedAttributesCount":null},
          "scopeSpans":null}]}"#;
        let request: ExportTraceServiceRequest = from_slice(text.as_bytes()).unwrap();
        let resource = request.resource_spans[0].resource.clone().unwrap();
        let keys: Vec<_> = resource
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(keys, vec!["empty_list", "empty_map", "", "nulls"]);
        let Some(ProtoValue::KvlistValue(list)) = resource.attributes[1]
            .value
            .clone()
            .and_then(|value| value.value)
        else {
            panic!("expected a kvlist");
        };
        assert_eq!(list.values[0].key, "");
        assert_eq!(resource.entity_refs[0].r#type, "service");
    }

    #[test]
    fn other_errors_are_reported_as_they_were() {
        let error = from_slice::<ExportTraceServiceRequest>(
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"xyz"}]}]}]}"#,
        )
        .unwrap_err();
        assert!(error.is_data(), "{error}");
        assert!(!error.to_string().contains("missing field"), "{error}");
    }
}
