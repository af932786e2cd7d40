//! Reading the samples of PromQL selectors from the `metrics` table.
//!
//! The time range, a literal prefix of the metric name and `job` equality matchers are pushed
//! into the DataFusion scan; the rows are then grouped into OTLP series, translated to
//! Prometheus series ([`super::naming`]) and filtered by every matcher exactly.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, MapArray, StringArray,
    TimestampNanosecondArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, UInt64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{Expr as DfExpr, col, lit};
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use lookout_model::TenantId;
use lookout_storage::Reader;
use promql_parser::label::{MatchOp, Matcher, Matchers};

use super::labels::{Labels, METRIC_NAME};
use super::naming::{
    PromKind, REMOTE_WRITE_SCOPE, format_le, job_label, prometheus_name, sanitize_label_name,
};
use super::selectors::Need;
use super::{Millis, PromqlConfig, PromqlError};

/// The bit pattern Prometheus uses for staleness markers; stored points flagged "no recorded
/// value" read back as this.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `value` is a staleness marker.
pub fn is_stale(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// A stored exemplar of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExemplar {
    /// Exemplar labels (`trace_id`, `span_id` and the filtered attributes).
    pub labels: Labels,
    /// The measurement.
    pub value: f64,
    /// When it was measured.
    pub timestamp_ms: Millis,
}

/// The samples of one Prometheus series as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawSeries {
    /// Labels, `__name__` included.
    pub labels: Labels,
    /// Samples in time order, one per timestamp; staleness markers are [`STALE_NAN_BITS`].
    pub samples: Vec<(Millis, f64)>,
    /// Exemplars, when asked for.
    pub exemplars: Vec<StoredExemplar>,
}

/// Reads the samples of every selector in `needs`, keyed by [`Need::key`].
pub async fn fetch_selectors(
    reader: &Reader,
    tenant: &TenantId,
    needs: &[Need],
    config: &PromqlConfig,
) -> Result<HashMap<usize, Vec<RawSeries>>, PromqlError> {
    let mut out = HashMap::new();
    let mut loaded = 0usize;
    for need in needs {
        let series =
            fetch_series(reader, tenant, &need.matchers, need.mint, need.maxt, false).await?;
        loaded += series.iter().map(|s| s.samples.len()).sum::<usize>();
        if loaded > config.max_samples {
            return Err(PromqlError::Execution(
                "query processing would load too many samples into memory in query execution"
                    .into(),
            ));
        }
        out.insert(need.key, series);
    }
    Ok(out)
}

/// The matchers of a selector, the name included as a `__name__` matcher.
pub fn selector_matchers(name: Option<&str>, matchers: &Matchers) -> Vec<Vec<Matcher>> {
    let mut sets: Vec<Vec<Matcher>> = if matchers.or_matchers.is_empty() {
        vec![matchers.matchers.clone()]
    } else {
        matchers.or_matchers.clone()
    };
    if let Some(name) = name {
        for set in &mut sets {
            if !set.iter().any(|m| m.name == METRIC_NAME) {
                set.push(Matcher::new(MatchOp::Equal, METRIC_NAME, name));
            }
        }
    }
    sets
}

/// Whether `labels` satisfy every matcher of one of the `sets`.
pub fn matches(sets: &[Vec<Matcher>], labels: &Labels) -> bool {
    sets.iter()
        .any(|set| set.iter().all(|m| m.is_match(labels.get(&m.name))))
}

/// Reads every series matching one of `sets` with samples in `(mint, maxt]`.
pub async fn fetch_series(
    reader: &Reader,
    tenant: &TenantId,
    sets: &[Vec<Matcher>],
    mint: Millis,
    maxt: Millis,
    with_exemplars: bool,
) -> Result<Vec<RawSeries>, PromqlError> {
    let context = reader.session_context(tenant)?;
    let frame = context
        .table(lookout_storage::schema::METRICS_TABLE)
        .await
        .map_err(df)?;
    let mut columns = vec![
        "service_name",
        "metric_name",
        "metric_type",
        "unit",
        "temporality",
        "is_monotonic",
        "timestamp",
        "value",
        "count",
        "sum",
        "bucket_bounds",
        "bucket_counts",
        "quantiles",
        "quantile_values",
        "flags",
        "attributes",
        "resource_attributes",
        "scope_name",
    ];
    if with_exemplars {
        columns.push("exemplars");
    }
    let mut filter = col("timestamp")
        .gt(timestamp_lit(mint))
        .and(col("timestamp").lt_eq(timestamp_lit(maxt)));
    if let Some(pushed) = pushdown(sets) {
        filter = filter.and(pushed);
    }
    let frame = frame
        .filter(filter)
        .map_err(df)?
        .select_columns(&columns)
        .map_err(df)?;
    let mut stream = frame.execute_stream().await.map_err(df)?;
    let mut grouper = Grouper::new(sets);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(df)?;
        grouper.add_batch(&batch, with_exemplars)?;
    }
    Ok(grouper.finish())
}

fn df(error: datafusion::error::DataFusionError) -> PromqlError {
    PromqlError::Read(error.to_string())
}

fn timestamp_lit(ms: Millis) -> DfExpr {
    let nanos = ms.saturating_mul(1_000_000);
    lit(ScalarValue::TimestampNanosecond(
        Some(nanos),
        Some(Arc::from("UTC")),
    ))
}

/// A filter every matching row satisfies, when one can be derived: the literal prefix of an
/// equality name matcher (characters `[a-zA-Z0-9:]` survive name translation unchanged) and
/// the `service_name` candidates of a `job` equality matcher.
fn pushdown(sets: &[Vec<Matcher>]) -> Option<DfExpr> {
    let mut per_set = Vec::new();
    for set in sets {
        let mut conditions = Vec::new();
        for matcher in set {
            if !matches!(matcher.op, MatchOp::Equal) {
                continue;
            }
            if matcher.name == METRIC_NAME {
                let prefix: String = matcher
                    .value
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
                    .collect();
                if !prefix.is_empty() && !matcher.value.starts_with(|c: char| c.is_ascii_digit()) {
                    conditions.push(datafusion::prelude::starts_with(
                        col("metric_name"),
                        lit(prefix),
                    ));
                }
            } else if matcher.name == "job" && !matcher.value.is_empty() {
                let mut candidates = vec![lit(matcher.value.clone())];
                for (index, _) in matcher.value.match_indices('/') {
                    candidates.push(lit(matcher.value[index + 1..].to_owned()));
                }
                conditions.push(col("service_name").in_list(candidates, false));
            }
        }
        per_set.push(conditions.into_iter().reduce(DfExpr::and)?);
    }
    per_set.into_iter().reduce(DfExpr::or)
}

fn strings(array: &ArrayRef) -> Result<StringArray, PromqlError> {
    let array = cast(array, &DataType::Utf8).map_err(|e| PromqlError::Read(e.to_string()))?;
    Ok(array.as_string::<i32>().clone())
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, PromqlError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| PromqlError::Read(format!("column `{name}` missing")))
}

/// A map column with its keys and values as plain strings.
struct MapColumn {
    offsets: Vec<usize>,
    keys: StringArray,
    values: StringArray,
}

impl MapColumn {
    fn new(array: &ArrayRef) -> Result<Self, PromqlError> {
        let map = array
            .as_any()
            .downcast_ref::<MapArray>()
            .ok_or_else(|| PromqlError::Read("attribute column is not a map".into()))?;
        Ok(Self {
            offsets: map.value_offsets().iter().map(|o| *o as usize).collect(),
            keys: strings(map.keys())?,
            values: strings(map.values())?,
        })
    }

    fn entries(&self, row: usize) -> impl Iterator<Item = (&str, &str)> {
        (self.offsets[row]..self.offsets[row + 1]).map(move |i| {
            let value = if self.values.is_null(i) {
                ""
            } else {
                self.values.value(i)
            };
            (self.keys.value(i), value)
        })
    }

    fn get(&self, row: usize, key: &str) -> Option<&str> {
        self.entries(row).find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// The identity of an OTLP series: everything its Prometheus names and labels derive from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    metric_name: String,
    metric_type: String,
    unit: String,
    temporality: String,
    is_monotonic: Option<bool>,
    remote_write: bool,
    service_name: String,
    service_namespace: Option<String>,
    instance: Option<String>,
    attributes: Vec<(String, String)>,
}

/// What a group's rows turn into.
struct Group {
    key: GroupKey,
    kind: PromKind,
    base_name: String,
    base_labels: Labels,
    delta: bool,
    /// Series index per derived series: `""` the value, `_sum`, `_count`, or `le`/`quantile`.
    derived: HashMap<String, Option<usize>>,
}

struct Grouper<'a> {
    sets: &'a [Vec<Matcher>],
    groups: Vec<Group>,
    by_hash: HashMap<u64, Vec<usize>>,
    series: Vec<RawSeries>,
    series_delta: Vec<bool>,
}

impl<'a> Grouper<'a> {
    fn new(sets: &'a [Vec<Matcher>]) -> Self {
        Self {
            sets,
            groups: Vec::new(),
            by_hash: HashMap::new(),
            series: Vec::new(),
            series_delta: Vec::new(),
        }
    }

    fn add_batch(&mut self, batch: &RecordBatch, with_exemplars: bool) -> Result<(), PromqlError> {
        let service = strings(column(batch, "service_name")?)?;
        let name = strings(column(batch, "metric_name")?)?;
        let metric_type = strings(column(batch, "metric_type")?)?;
        let unit = strings(column(batch, "unit")?)?;
        let temporality = strings(column(batch, "temporality")?)?;
        let scope = strings(column(batch, "scope_name")?)?;
        let monotonic = column(batch, "is_monotonic")?
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| PromqlError::Read("is_monotonic is not boolean".into()))?
            .clone();
        let timestamp = cast(
            column(batch, "timestamp")?,
            &DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Nanosecond, None),
        )
        .map_err(|e| PromqlError::Read(e.to_string()))?;
        let timestamp = timestamp
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .ok_or_else(|| PromqlError::Read("timestamp has an unexpected type".into()))?
            .clone();
        let value = column(batch, "value")?
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| PromqlError::Read("value is not f64".into()))?
            .clone();
        let count = column(batch, "count")?
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| PromqlError::Read("count is not u64".into()))?
            .clone();
        let sum = column(batch, "sum")?
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| PromqlError::Read("sum is not f64".into()))?
            .clone();
        let flags = column(batch, "flags")?
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| PromqlError::Read("flags is not u32".into()))?
            .clone();
        let bounds = column(batch, "bucket_bounds")?.as_list::<i32>().clone();
        let bucket_counts = column(batch, "bucket_counts")?.as_list::<i32>().clone();
        let quantiles = column(batch, "quantiles")?.as_list::<i32>().clone();
        let quantile_values = column(batch, "quantile_values")?.as_list::<i32>().clone();
        let attributes = MapColumn::new(column(batch, "attributes")?)?;
        let resource = MapColumn::new(column(batch, "resource_attributes")?)?;
        let exemplars = if with_exemplars {
            Some(column(batch, "exemplars")?.as_list::<i32>().clone())
        } else {
            None
        };

        for row in 0..batch.num_rows() {
            let remote_write = scope.value(row) == REMOTE_WRITE_SCOPE;
            let mono = (!monotonic.is_null(row)).then(|| monotonic.value(row));
            let namespace = if remote_write {
                None
            } else {
                resource.get(row, "service.namespace")
            };
            let instance = if remote_write {
                None
            } else {
                resource.get(row, "service.instance.id")
            };
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            name.value(row).hash(&mut hasher);
            metric_type.value(row).hash(&mut hasher);
            unit.value(row).hash(&mut hasher);
            temporality.value(row).hash(&mut hasher);
            mono.hash(&mut hasher);
            remote_write.hash(&mut hasher);
            service.value(row).hash(&mut hasher);
            namespace.hash(&mut hasher);
            instance.hash(&mut hasher);
            for entry in attributes.entries(row) {
                entry.hash(&mut hasher);
            }
            let hash = hasher.finish();
            let candidates = self.by_hash.entry(hash).or_default();
            let found = candidates.iter().copied().find(|&index| {
                let key = &self.groups[index].key;
                key.metric_name == name.value(row)
                    && key.metric_type == metric_type.value(row)
                    && key.unit == unit.value(row)
                    && key.temporality == temporality.value(row)
                    && key.is_monotonic == mono
                    && key.remote_write == remote_write
                    && key.service_name == service.value(row)
                    && key.service_namespace.as_deref() == namespace
                    && key.instance.as_deref() == instance
                    && key
                        .attributes
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .eq(attributes.entries(row))
            });
            let group_index = match found {
                Some(index) => index,
                None => {
                    let key = GroupKey {
                        metric_name: name.value(row).to_owned(),
                        metric_type: metric_type.value(row).to_owned(),
                        unit: unit.value(row).to_owned(),
                        temporality: temporality.value(row).to_owned(),
                        is_monotonic: mono,
                        remote_write,
                        service_name: service.value(row).to_owned(),
                        service_namespace: namespace.map(str::to_owned),
                        instance: instance.map(str::to_owned),
                        attributes: attributes
                            .entries(row)
                            .map(|(k, v)| (k.to_owned(), v.to_owned()))
                            .collect(),
                    };
                    let index = self.groups.len();
                    self.groups.push(new_group(key));
                    self.by_hash.entry(hash).or_default().push(index);
                    index
                }
            };
            let t = timestamp.value(row).div_euclid(1_000_000);
            let no_value = flags.value(row) & 1 == 1;
            let kind = self.groups[group_index].kind;
            let row_exemplars = match &exemplars {
                Some(list) if !list.is_null(row) => read_exemplars(&list.value(row))?,
                _ => Vec::new(),
            };
            match kind {
                PromKind::Gauge | PromKind::Counter => {
                    let v = if no_value || value.is_null(row) {
                        f64::from_bits(STALE_NAN_BITS)
                    } else {
                        clean(value.value(row))
                    };
                    if let Some(index) = self.derived(group_index, "") {
                        self.series[index].samples.push((t, v));
                        self.series[index].exemplars.extend(row_exemplars);
                    }
                }
                PromKind::Histogram | PromKind::Summary | PromKind::Unsupported => {
                    let stale = f64::from_bits(STALE_NAN_BITS);
                    let total = if no_value || count.is_null(row) {
                        stale
                    } else {
                        count.value(row) as f64
                    };
                    if let Some(index) = self.derived(group_index, "_count") {
                        self.series[index].samples.push((t, total));
                    }
                    if !sum.is_null(row) || no_value {
                        let v = if no_value {
                            stale
                        } else {
                            clean(sum.value(row))
                        };
                        if let Some(index) = self.derived(group_index, "_sum") {
                            self.series[index].samples.push((t, v));
                        }
                    }
                    if kind == PromKind::Histogram && !bounds.is_null(row) {
                        let row_bounds = bounds.value(row);
                        let row_bounds = row_bounds.as_primitive::<Float64Type>();
                        let row_counts = bucket_counts.value(row);
                        let row_counts = row_counts.as_primitive::<UInt64Type>();
                        let mut cumulative = 0u64;
                        for i in 0..row_bounds.len() {
                            cumulative += if i < row_counts.len() {
                                row_counts.value(i)
                            } else {
                                0
                            };
                            let le = format_le(row_bounds.value(i));
                            let v = if no_value { stale } else { cumulative as f64 };
                            let bound = row_bounds.value(i);
                            if let Some(index) = self.derived(group_index, &format!("le={le}")) {
                                self.series[index].samples.push((t, v));
                                let (inside, rest): (Vec<_>, Vec<_>) = row_exemplars
                                    .iter()
                                    .cloned()
                                    .partition(|e| e.value <= bound);
                                let _ = rest;
                                if i == 0 {
                                    self.series[index].exemplars.extend(inside);
                                } else {
                                    let lower = row_bounds.value(i - 1);
                                    self.series[index]
                                        .exemplars
                                        .extend(inside.into_iter().filter(|e| e.value > lower));
                                }
                            }
                        }
                        if let Some(index) = self.derived(group_index, "le=+Inf") {
                            self.series[index].samples.push((t, total));
                            let lower = if row_bounds.is_empty() {
                                f64::NEG_INFINITY
                            } else {
                                row_bounds.value(row_bounds.len() - 1)
                            };
                            self.series[index]
                                .exemplars
                                .extend(row_exemplars.iter().filter(|e| e.value > lower).cloned());
                        }
                    }
                    if kind == PromKind::Summary && !quantiles.is_null(row) {
                        let qs = quantiles.value(row);
                        let qs = qs.as_primitive::<Float64Type>();
                        let vs = quantile_values.value(row);
                        let vs = vs.as_primitive::<Float64Type>();
                        for i in 0..qs.len().min(vs.len()) {
                            let q = format_le(qs.value(i));
                            let v = if no_value { stale } else { clean(vs.value(i)) };
                            if let Some(index) = self.derived(group_index, &format!("quantile={q}"))
                            {
                                self.series[index].samples.push((t, v));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The series index of one derived series of a group, created (and matched) on first use;
    /// `None` when the matchers reject it.
    fn derived(&mut self, group_index: usize, part: &str) -> Option<usize> {
        if let Some(found) = self.groups[group_index].derived.get(part) {
            return *found;
        }
        let group = &self.groups[group_index];
        let mut labels = group.base_labels.clone();
        let name = match part {
            "" => group.base_name.clone(),
            "_sum" | "_count" => format!("{}{}", group.base_name, part),
            other => {
                let (label, value) = other.split_once('=').unwrap_or((other, ""));
                labels.set(label, value);
                if label == "le" {
                    format!("{}_bucket", group.base_name)
                } else {
                    group.base_name.clone()
                }
            }
        };
        labels.set(METRIC_NAME, &name);
        let index = if matches(self.sets, &labels) {
            self.series.push(RawSeries {
                labels,
                samples: Vec::new(),
                exemplars: Vec::new(),
            });
            self.series_delta.push(group.delta);
            Some(self.series.len() - 1)
        } else {
            None
        };
        self.groups[group_index]
            .derived
            .insert(part.to_owned(), index);
        index
    }

    fn finish(self) -> Vec<RawSeries> {
        // Two OTLP series may translate to the same Prometheus series (attributes that differ
        // only in characters sanitising removes): their samples are merged.
        let mut merged: HashMap<Labels, RawSeries> = HashMap::new();
        for (mut series, delta) in self.series.into_iter().zip(self.series_delta) {
            series.samples.sort_by_key(|(t, _)| *t);
            series.samples.dedup_by(|later, earlier| {
                if later.0 == earlier.0 {
                    *earlier = *later;
                    true
                } else {
                    false
                }
            });
            if delta {
                accumulate(&mut series.samples);
            }
            match merged.get_mut(&series.labels) {
                Some(existing) => {
                    existing.samples.extend(series.samples);
                    existing.samples.sort_by_key(|(t, _)| *t);
                    existing.samples.dedup_by_key(|(t, _)| *t);
                    existing.exemplars.extend(series.exemplars);
                }
                None => {
                    merged.insert(series.labels.clone(), series);
                }
            }
        }
        let mut out: Vec<RawSeries> = merged
            .into_values()
            .filter(|s| !s.samples.is_empty())
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}

/// Delta points become a running total, so counters read as Prometheus counters.
fn accumulate(samples: &mut [(Millis, f64)]) {
    let mut total = 0.0;
    for (_, value) in samples.iter_mut() {
        if is_stale(*value) || value.is_nan() {
            continue;
        }
        total += *value;
        *value = total;
    }
}

/// Stored NaNs never carry the bit patterns the evaluator reserves.
fn clean(value: f64) -> f64 {
    if value.is_nan() { f64::NAN } else { value }
}

fn new_group(key: GroupKey) -> Group {
    let (kind, base_name, base_labels) = if key.remote_write {
        (
            PromKind::Gauge,
            key.metric_name.clone(),
            Labels::from_pairs(key.attributes.iter().cloned()),
        )
    } else {
        let kind = PromKind::of(&key.metric_type, key.is_monotonic);
        let name = prometheus_name(&key.metric_name, &key.unit, kind);
        // Attributes colliding after sanitising are joined with `;` in key order.
        let mut sanitized: std::collections::BTreeMap<String, Vec<(&str, &str)>> =
            std::collections::BTreeMap::new();
        for (k, v) in &key.attributes {
            sanitized
                .entry(sanitize_label_name(k))
                .or_default()
                .push((k.as_str(), v.as_str()));
        }
        let mut pairs: Vec<(String, String)> = sanitized
            .into_iter()
            .map(|(name, mut values)| {
                values.sort();
                let joined = values.iter().map(|(_, v)| *v).collect::<Vec<_>>().join(";");
                (name, joined)
            })
            .collect();
        pairs.push((
            "job".to_owned(),
            job_label(&key.service_name, key.service_namespace.as_deref()),
        ));
        if let Some(instance) = &key.instance {
            pairs.push(("instance".to_owned(), instance.clone()));
        }
        (kind, name, Labels::from_pairs(pairs))
    };
    let delta = key.temporality == "delta";
    Group {
        key,
        kind,
        base_name,
        base_labels,
        delta,
        derived: HashMap::new(),
    }
}

fn read_exemplars(list: &ArrayRef) -> Result<Vec<StoredExemplar>, PromqlError> {
    let items = list.as_struct();
    let time = cast(
        items.column(0),
        &DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Nanosecond, None),
    )
    .map_err(|e| PromqlError::Read(e.to_string()))?;
    let time = time
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()
        .ok_or_else(|| PromqlError::Read("exemplar time has an unexpected type".into()))?
        .clone();
    let value = items.column(1).as_primitive::<Float64Type>().clone();
    let trace_id = strings(items.column(2))?;
    let span_id = strings(items.column(3))?;
    let attributes = MapColumn::new(items.column(4))?;
    let mut out = Vec::with_capacity(items.len());
    for i in 0..items.len() {
        let mut pairs: Vec<(String, String)> = attributes
            .entries(i)
            .map(|(k, v)| (sanitize_label_name(k), v.to_owned()))
            .collect();
        if !trace_id.is_null(i) {
            pairs.push(("trace_id".into(), trace_id.value(i).to_owned()));
        }
        if !span_id.is_null(i) {
            pairs.push(("span_id".into(), span_id.value(i).to_owned()));
        }
        out.push(StoredExemplar {
            labels: Labels::from_pairs(pairs),
            value: value.value(i),
            timestamp_ms: time.value(i).div_euclid(1_000_000),
        });
    }
    Ok(out)
}
