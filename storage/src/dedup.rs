//! Metric idempotence: drops data points identical to one seen recently.
//!
//! Some SDKs (the Python one, for example) export the same cumulative points twice. A point
//! is identified by a 64-bit hash of tenant, metric name, resource attributes, scope, point
//! attributes, start time, time and value; the set of recent hashes is bounded by size and age.

use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use lookout_model::{
    AnyValue, Exemplar, KeyValue, MetricBatch, MetricData, NumberValue, PointCommon, Resource,
    Scope, TenantId,
};

/// Hashes remembered at most.
const MAX_REMEMBERED_POINTS: usize = 1 << 20;
/// Hashes are forgotten after this long.
const MAX_REMEMBERED_AGE: Duration = Duration::from_secs(30 * 60);

/// Recently seen point hashes.
#[derive(Debug)]
pub(crate) struct DedupSet {
    seen: HashSet<u64>,
    order: VecDeque<(Instant, u64)>,
    max_points: usize,
    max_age: Duration,
}

impl Default for DedupSet {
    fn default() -> Self {
        Self::new(MAX_REMEMBERED_POINTS, MAX_REMEMBERED_AGE)
    }
}

impl DedupSet {
    /// A set remembering at most `max_points` hashes for at most `max_age`.
    pub(crate) fn new(max_points: usize, max_age: Duration) -> Self {
        Self {
            seen: HashSet::new(),
            order: VecDeque::new(),
            max_points: max_points.max(1),
            max_age,
        }
    }

    /// Removes duplicates from `batch` (and metrics left without points); returns the
    /// hashes inserted, so a failed append can forget them, and the number dropped.
    pub(crate) fn filter(&mut self, tenant: &TenantId, batch: &mut MetricBatch) -> (Vec<u64>, u64) {
        let now = Instant::now();
        self.evict(now);
        let mut inserted = Vec::new();
        let mut dropped = 0u64;
        for group in &mut batch.resources {
            let resource = &group.resource;
            for scope_group in &mut group.scopes {
                let scope = &scope_group.scope;
                for metric in &mut scope_group.records {
                    let base = base_hasher(tenant, resource, scope, &metric.name);
                    let mut keep = |point_hash: u64| {
                        if self.seen.insert(point_hash) {
                            self.order.push_back((now, point_hash));
                            inserted.push(point_hash);
                            true
                        } else {
                            dropped += 1;
                            false
                        }
                    };
                    match &mut metric.data {
                        MetricData::Gauge { points } | MetricData::Sum { points, .. } => points
                            .retain(|p| {
                                keep(point_hash(&base, &p.common, |h| hash_number(h, p.value)))
                            }),
                        MetricData::Histogram { points, .. } => points.retain(|p| {
                            keep(point_hash(&base, &p.common, |h| {
                                p.count.hash(h);
                                hash_option_f64(h, p.sum);
                                hash_option_f64(h, p.min);
                                hash_option_f64(h, p.max);
                                p.bucket_counts.hash(h);
                                p.explicit_bounds.iter().for_each(|b| b.to_bits().hash(h));
                            }))
                        }),
                        MetricData::ExponentialHistogram { points, .. } => points.retain(|p| {
                            keep(point_hash(&base, &p.common, |h| {
                                p.count.hash(h);
                                hash_option_f64(h, p.sum);
                                hash_option_f64(h, p.min);
                                hash_option_f64(h, p.max);
                                p.scale.hash(h);
                                p.zero_count.hash(h);
                                p.zero_threshold.to_bits().hash(h);
                                p.positive.offset.hash(h);
                                p.positive.bucket_counts.hash(h);
                                p.negative.offset.hash(h);
                                p.negative.bucket_counts.hash(h);
                            }))
                        }),
                        MetricData::Summary { points } => points.retain(|p| {
                            keep(point_hash(&base, &p.common, |h| {
                                p.count.hash(h);
                                p.sum.to_bits().hash(h);
                                for q in &p.quantile_values {
                                    q.quantile.to_bits().hash(h);
                                    q.value.to_bits().hash(h);
                                }
                            }))
                        }),
                    }
                }
                scope_group
                    .records
                    .retain(|metric| lookout_model::Countable::count(metric) > 0);
            }
            group.scopes.retain(|scope| !scope.records.is_empty());
        }
        batch.resources.retain(|group| !group.scopes.is_empty());
        self.shrink_to_limit();
        (inserted, dropped)
    }

    /// Forgets hashes of an append that did not become durable.
    pub(crate) fn forget(&mut self, hashes: &[u64]) {
        for hash in hashes {
            self.seen.remove(hash);
        }
        // Stale queue entries are skipped by `evict` because they are no longer in `seen`.
    }

    fn evict(&mut self, now: Instant) {
        while let Some(&(inserted_at, hash)) = self.order.front() {
            if now.duration_since(inserted_at) <= self.max_age
                && self.order.len() <= self.max_points
            {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&hash);
        }
    }

    fn shrink_to_limit(&mut self) {
        while self.order.len() > self.max_points {
            if let Some((_, hash)) = self.order.pop_front() {
                self.seen.remove(&hash);
            }
        }
    }

    /// Number of remembered hashes.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.len()
    }
}

fn base_hasher(
    tenant: &TenantId,
    resource: &Resource,
    scope: &Scope,
    metric_name: &str,
) -> DefaultHasher {
    let mut hasher = DefaultHasher::new();
    tenant.as_str().hash(&mut hasher);
    metric_name.hash(&mut hasher);
    hash_attributes(&mut hasher, &resource.attributes);
    scope.name.hash(&mut hasher);
    scope.version.hash(&mut hasher);
    hash_attributes(&mut hasher, &scope.attributes);
    hasher
}

fn point_hash(
    base: &DefaultHasher,
    common: &PointCommon,
    value: impl FnOnce(&mut DefaultHasher),
) -> u64 {
    let mut hasher = base.clone();
    hash_attributes(&mut hasher, &common.attributes);
    common.start_time_unix_nano.hash(&mut hasher);
    common.time_unix_nano.hash(&mut hasher);
    common.flags.hash(&mut hasher);
    common.exemplars.len().hash(&mut hasher);
    for exemplar in &common.exemplars {
        hash_exemplar(&mut hasher, exemplar);
    }
    value(&mut hasher);
    hasher.finish()
}

fn hash_exemplar(hasher: &mut DefaultHasher, exemplar: &Exemplar) {
    exemplar.time_unix_nano.hash(hasher);
    hash_number(hasher, exemplar.value);
    exemplar.trace_id.hash(hasher);
    exemplar.span_id.hash(hasher);
    hash_attributes(hasher, &exemplar.filtered_attributes);
}

fn hash_number(hasher: &mut DefaultHasher, value: NumberValue) {
    match value {
        NumberValue::Int(value) => (0u8, value).hash(hasher),
        NumberValue::Double(value) => (1u8, value.to_bits()).hash(hasher),
    }
}

fn hash_option_f64(hasher: &mut DefaultHasher, value: Option<f64>) {
    value.map(f64::to_bits).hash(hasher);
}

fn hash_attributes(hasher: &mut DefaultHasher, attributes: &[KeyValue]) {
    attributes.len().hash(hasher);
    for attribute in attributes {
        attribute.key.hash(hasher);
        hash_value(hasher, &attribute.value);
    }
}

fn hash_value(hasher: &mut DefaultHasher, value: &AnyValue) {
    match value {
        AnyValue::String(text) => (0u8, text).hash(hasher),
        AnyValue::Bool(flag) => (1u8, flag).hash(hasher),
        AnyValue::Int(number) => (2u8, number).hash(hasher),
        AnyValue::Double(number) => (3u8, number.to_bits()).hash(hasher),
        AnyValue::Array(values) => {
            (4u8, values.len()).hash(hasher);
            values.iter().for_each(|value| hash_value(hasher, value));
        }
        AnyValue::KvList(pairs) => {
            5u8.hash(hasher);
            hash_attributes(hasher, pairs);
        }
        AnyValue::Bytes(bytes) => (6u8, bytes).hash(hasher),
    }
}

#[cfg(test)]
mod tests {
    use lookout_model::{Metric, NumberPoint, ResourceGroup, ScopeGroup, Temporality};

    use super::*;

    fn sum_batch(values: &[(u64, i64)]) -> MetricBatch {
        let points = values
            .iter()
            .map(|&(time, value)| NumberPoint {
                common: PointCommon {
                    attributes: vec![KeyValue::string("route", "/a")],
                    start_time_unix_nano: 1,
                    time_unix_nano: time,
                    flags: 0,
                    exemplars: vec![],
                },
                value: NumberValue::Int(value),
            })
            .collect();
        MetricBatch {
            resources: vec![ResourceGroup {
                resource: Resource::default(),
                scopes: vec![ScopeGroup {
                    scope: Scope::default(),
                    records: vec![Metric {
                        name: "requests".into(),
                        description: String::new(),
                        unit: String::new(),
                        metadata: vec![],
                        data: MetricData::Sum {
                            points,
                            temporality: Temporality::Cumulative,
                            is_monotonic: true,
                        },
                    }],
                }],
            }],
        }
    }

    #[test]
    fn drops_exact_repeats_only() {
        let tenant = TenantId::default_tenant();
        let mut set = DedupSet::default();
        let mut first = sum_batch(&[(10, 1), (20, 2)]);
        assert_eq!(set.filter(&tenant, &mut first).1, 0);
        assert_eq!(first.record_count(), 2);

        let mut again = sum_batch(&[(10, 1), (20, 2), (30, 3), (20, 5)]);
        let (inserted, dropped) = set.filter(&tenant, &mut again);
        assert_eq!(dropped, 2);
        assert_eq!(inserted.len(), 2);
        assert_eq!(again.record_count(), 2);

        let mut all_dupes = sum_batch(&[(10, 1)]);
        set.filter(&tenant, &mut all_dupes);
        assert!(all_dupes.resources.is_empty());

        let other = TenantId::new("other").unwrap();
        let mut other_tenant = sum_batch(&[(10, 1)]);
        assert_eq!(set.filter(&other, &mut other_tenant).1, 0);

        set.forget(&inserted);
        let mut retried = sum_batch(&[(30, 3)]);
        assert_eq!(set.filter(&tenant, &mut retried).1, 0);
    }

    #[test]
    fn bounded_by_size_and_age() {
        let tenant = TenantId::default_tenant();
        let mut set = DedupSet::new(3, Duration::from_secs(3600));
        let mut batch = sum_batch(&[(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]);
        set.filter(&tenant, &mut batch);
        assert_eq!(set.len(), 3);
        let mut oldest = sum_batch(&[(1, 1)]);
        assert_eq!(
            set.filter(&tenant, &mut oldest).1,
            0,
            "evicted hashes are forgotten"
        );

        let mut aged = DedupSet::new(100, Duration::ZERO);
        let mut batch = sum_batch(&[(1, 1)]);
        aged.filter(&tenant, &mut batch);
        std::thread::sleep(Duration::from_millis(2));
        let mut batch = sum_batch(&[(1, 1)]);
        assert_eq!(aged.filter(&tenant, &mut batch).1, 0);
    }
}
