//! Label sets: sorted `(name, value)` pairs, `__name__` included, empty values absent.

use std::collections::BTreeMap;

/// The metric-name label.
pub const METRIC_NAME: &str = "__name__";

/// A set of labels sorted by name; a label with an empty value is the same as no label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds a label set, dropping empty values; for repeated names the last wins.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let map: BTreeMap<String, String> = pairs
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .collect();
        Self(map.into_iter().collect())
    }

    /// The value of `name`, `""` when absent (as Prometheus treats absent labels).
    pub fn get(&self, name: &str) -> &str {
        match self.0.binary_search_by(|(key, _)| key.as_str().cmp(name)) {
            Ok(index) => &self.0[index].1,
            Err(_) => "",
        }
    }

    /// The metric name, `""` when absent.
    pub fn name(&self) -> &str {
        self.get(METRIC_NAME)
    }

    /// Iterates `(name, value)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set has no label.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets (or, with an empty value, removes) a label.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|(key, _)| key.as_str().cmp(name)) {
            Ok(index) if value.is_empty() => {
                self.0.remove(index);
            }
            Ok(index) => self.0[index].1 = value.to_owned(),
            Err(_) if value.is_empty() => {}
            Err(index) => self.0.insert(index, (name.to_owned(), value.to_owned())),
        }
    }

    /// The set without `__name__`.
    pub fn without_name(&self) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|(key, _)| key != METRIC_NAME)
                .cloned()
                .collect(),
        )
    }

    /// Only the labels named in `names`.
    pub fn keep(&self, names: &[String]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|(key, _)| names.iter().any(|name| name == key))
                .cloned()
                .collect(),
        )
    }

    /// All labels except those named in `names` (and `__name__`).
    pub fn drop_names(&self, names: &[String]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|(key, _)| key != METRIC_NAME && !names.iter().any(|name| name == key))
                .cloned()
                .collect(),
        )
    }

    /// The labels as a JSON object.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect()
    }
}

impl std::fmt::Display for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{{", self.name())?;
        let mut first = true;
        for (key, value) in self.iter().filter(|(key, _)| *key != METRIC_NAME) {
            if !first {
                write!(f, ", ")?;
            }
            first = false;
            write!(f, "{key}={value:?}")?;
        }
        write!(f, "}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_empty_values_dropped() {
        let labels = Labels::from_pairs([
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
            ("c".to_owned(), String::new()),
        ]);
        assert_eq!(
            labels.iter().collect::<Vec<_>>(),
            vec![("a", "1"), ("b", "2")]
        );
        assert_eq!(labels.get("c"), "");
        let mut labels = labels;
        labels.set("a", "");
        labels.set("0", "x");
        assert_eq!(
            labels.iter().collect::<Vec<_>>(),
            vec![("0", "x"), ("b", "2")]
        );
    }
}
