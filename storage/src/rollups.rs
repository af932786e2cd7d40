//! RED rollups of spans: per minute (of span end time) and per (service, operation, span
//! kind, status code), the call count, the error count and a mergeable latency sketch.
//!
//! Rollups follow the rows they summarise: the tail keeps the rollups of its unflushed spans
//! (computed off the WAL thread at append and at WAL replay), and every spans Parquet file
//! has a `span_rollups` sidecar written with it and listed in the same manifest entry. A span
//! is therefore counted exactly once: in the tail while its rows are there, in its file's
//! sidecar afterwards. Compaction rewrites the sidecar from the merged rows.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, Float64Array, Int64Array, StringArray, TimestampNanosecondArray,
    UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use sketches_ddsketch::{Config, DDSketch};

use crate::StorageError;
use crate::manifest::write_file_durably;
use crate::rows::{arrow_error, timestamp_column};
use crate::schema::timestamp_type;

/// Name of the SQL table of rollups.
pub const SPAN_ROLLUPS_TABLE: &str = "span_rollups";

/// Nanoseconds in a minute, the rollup resolution.
pub const MINUTE_NANOS: i64 = 60_000_000_000;

/// Relative accuracy of the latency sketch: a quantile is within 1 % of a true sample value.
pub const SKETCH_RELATIVE_ACCURACY: f64 = 0.01;

/// Start of the minute containing `unix_nanos`, in Unix nanoseconds.
pub fn minute_start_unix_nanos(unix_nanos: i64) -> i64 {
    unix_nanos.div_euclid(MINUTE_NANOS) * MINUTE_NANOS
}

/// What one rollup cell is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    /// Start of the minute that holds the spans' end times, Unix nanoseconds.
    pub minute_unix_nanos: i64,
    /// `service.name` of the spans' resource.
    pub service_name: String,
    /// The span name.
    pub operation: String,
    /// Span kind as in the `spans` table (`server`, `client`, ...).
    pub span_kind: String,
    /// Status code as in the `spans` table (`unset`, `ok`, `error`).
    pub status_code: String,
}

/// A latency distribution in seconds (DDSketch, 1 % relative accuracy), mergeable across
/// minutes, keys and files.
#[derive(Clone)]
pub struct DurationSketch(DDSketch);

impl std::fmt::Debug for DurationSketch {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DurationSketch")
            .field("count", &self.count())
            .field("sum_seconds", &self.sum_seconds())
            .finish()
    }
}

impl Default for DurationSketch {
    fn default() -> Self {
        Self(DDSketch::new(Config::new(
            SKETCH_RELATIVE_ACCURACY,
            2048,
            1.0e-9,
        )))
    }
}

impl DurationSketch {
    /// Records one duration.
    pub fn add_seconds(&mut self, seconds: f64) {
        self.0.add(seconds);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &DurationSketch) {
        // Both sides are built with the same configuration, the only case merge refuses.
        if let Err(error) = self.0.merge(&other.0) {
            tracing::error!(%error, "latency sketches with different configurations");
        }
    }

    /// The `q`-quantile (0 <= q <= 1) in seconds; `None` when empty or `q` is out of range.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.0.quantile(q).ok().flatten()
    }

    /// Number of recorded durations.
    pub fn count(&self) -> u64 {
        self.0.count() as u64
    }

    /// Sum of recorded durations in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.0.sum().unwrap_or(0.0)
    }

    /// Smallest recorded duration in seconds.
    pub fn min_seconds(&self) -> Option<f64> {
        self.0.min()
    }

    /// Largest recorded duration in seconds.
    pub fn max_seconds(&self) -> Option<f64> {
        self.0.max()
    }

    /// Stable binary form (postcard of the sketch's own serde representation).
    pub fn encode(&self) -> Result<Vec<u8>, StorageError> {
        postcard::to_allocvec(&self.0)
            .map_err(|error| StorageError::Internal(format!("failed to encode a sketch: {error}")))
    }

    /// Parses [`DurationSketch::encode`] output; `None` when damaged or of another
    /// configuration.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let sketch: DDSketch = postcard::from_bytes(bytes).ok()?;
        let mut fresh = DurationSketch::default();
        fresh.0.merge(&sketch).ok()?;
        Some(fresh)
    }
}

/// Counts and latency of one rollup cell.
#[derive(Clone, Debug, Default)]
pub struct RollupCell {
    /// Spans.
    pub calls: u64,
    /// Spans whose status is `error`.
    pub errors: u64,
    /// Their durations.
    pub duration: DurationSketch,
}

impl RollupCell {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &RollupCell) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.duration.merge(&other.duration);
    }

    fn add_span(&mut self, duration_ns: i64, is_error: bool) {
        self.calls += 1;
        self.errors += u64::from(is_error);
        self.duration.add_seconds(duration_ns.max(0) as f64 / 1e9);
    }
}

/// A set of rollup cells.
#[derive(Clone, Debug, Default)]
pub struct SpanRollups {
    cells: HashMap<RollupKey, RollupCell>,
}

impl SpanRollups {
    /// Whether there is no cell.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Every cell, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&RollupKey, &RollupCell)> {
        self.cells.iter()
    }

    /// Every cell ordered by key (minute first).
    pub fn sorted(&self) -> Vec<(&RollupKey, &RollupCell)> {
        let mut cells: Vec<_> = self.cells.iter().collect();
        cells.sort_by(|a, b| a.0.cmp(b.0));
        cells
    }

    /// Adds one cell.
    pub fn add_cell(&mut self, key: RollupKey, cell: &RollupCell) {
        match self.cells.get_mut(&key) {
            Some(known) => known.merge(cell),
            None => {
                self.cells.insert(key, cell.clone());
            }
        }
    }

    /// Adds every cell of `other`.
    pub fn merge(&mut self, other: &SpanRollups) {
        for (key, cell) in &other.cells {
            self.add_cell(key.clone(), cell);
        }
    }

    /// Adds the cells of `other` whose minute starts within `[start, end]` (Unix nanoseconds).
    pub fn merge_range(&mut self, other: &SpanRollups, start_unix_nanos: i64, end_unix_nanos: i64) {
        for (key, cell) in &other.cells {
            if (start_unix_nanos..=end_unix_nanos).contains(&key.minute_unix_nanos) {
                self.add_cell(key.clone(), cell);
            }
        }
    }

    /// Smallest and largest minute, `None` when empty.
    pub fn minute_bounds(&self) -> Option<(i64, i64)> {
        let minutes = self.cells.keys().map(|key| key.minute_unix_nanos);
        Some((minutes.clone().min()?, minutes.max()?))
    }

    /// The rollups of a batch of the `spans` schema. Strings are borrowed while counting and
    /// copied once per distinct key, so the cost per span is one hash lookup and one sketch
    /// insert.
    pub fn from_spans_batch(batch: &RecordBatch) -> Result<Self, StorageError> {
        let strings = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|column| column.as_any().downcast_ref::<StringArray>())
                .ok_or_else(|| StorageError::Internal(format!("spans batch lacks `{name}`")))
        };
        let (services, names, kinds, statuses) = (
            strings("service_name")?,
            strings("name")?,
            strings("kind")?,
            strings("status_code")?,
        );
        let ends = batch
            .column_by_name("end_time")
            .and_then(|column| column.as_any().downcast_ref::<TimestampNanosecondArray>())
            .ok_or_else(|| StorageError::Internal("spans batch lacks `end_time`".into()))?;
        let durations = batch
            .column_by_name("duration_ns")
            .and_then(|column| column.as_any().downcast_ref::<Int64Array>())
            .ok_or_else(|| StorageError::Internal("spans batch lacks `duration_ns`".into()))?;
        let mut borrowed: HashMap<(i64, &str, &str, &str, &str), RollupCell> = HashMap::new();
        for row in 0..batch.num_rows() {
            let status = statuses.value(row);
            let key = (
                minute_start_unix_nanos(ends.value(row)),
                services.value(row),
                names.value(row),
                kinds.value(row),
                status,
            );
            borrowed
                .entry(key)
                .or_default()
                .add_span(durations.value(row), status == "error");
        }
        let cells = borrowed
            .into_iter()
            .map(|((minute, service, operation, kind, status), cell)| {
                let key = RollupKey {
                    minute_unix_nanos: minute,
                    service_name: service.to_owned(),
                    operation: operation.to_owned(),
                    span_kind: kind.to_owned(),
                    status_code: status.to_owned(),
                };
                (key, cell)
            })
            .collect();
        Ok(Self { cells })
    }

    /// The cells as one batch of [`sidecar_schema`].
    pub fn to_sidecar_batch(&self) -> Result<RecordBatch, StorageError> {
        let cells = self.sorted();
        let text = |pick: fn(&RollupKey) -> &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(
                cells.iter().map(|(key, _)| pick(key)),
            ))
        };
        let sketches = cells
            .iter()
            .map(|(_, cell)| cell.duration.encode())
            .collect::<Result<Vec<_>, _>>()?;
        let columns: Vec<ArrayRef> = vec![
            timestamp_column(cells.iter().map(|(key, _)| key.minute_unix_nanos).collect()),
            text(|key| &key.service_name),
            text(|key| &key.operation),
            text(|key| &key.span_kind),
            text(|key| &key.status_code),
            Arc::new(UInt64Array::from_iter_values(
                cells.iter().map(|(_, cell)| cell.calls),
            )),
            Arc::new(UInt64Array::from_iter_values(
                cells.iter().map(|(_, cell)| cell.errors),
            )),
            Arc::new(BinaryArray::from_iter_values(sketches.iter())),
        ];
        RecordBatch::try_new(sidecar_schema(), columns).map_err(arrow_error)
    }

    /// Adds the rows of a sidecar batch whose minute is within `[start, end]`.
    pub(crate) fn add_sidecar_batch(
        &mut self,
        batch: &RecordBatch,
        start_unix_nanos: i64,
        end_unix_nanos: i64,
    ) -> Result<(), String> {
        let column = |index: usize| batch.column(index).as_any();
        let (
            Some(minutes),
            Some(services),
            Some(operations),
            Some(kinds),
            Some(statuses),
            Some(calls),
            Some(errors),
            Some(sketches),
        ) = (
            column(0).downcast_ref::<TimestampNanosecondArray>(),
            column(1).downcast_ref::<StringArray>(),
            column(2).downcast_ref::<StringArray>(),
            column(3).downcast_ref::<StringArray>(),
            column(4).downcast_ref::<StringArray>(),
            column(5).downcast_ref::<UInt64Array>(),
            column(6).downcast_ref::<UInt64Array>(),
            column(7).downcast_ref::<BinaryArray>(),
        )
        else {
            return Err("unexpected column types".into());
        };
        for row in 0..batch.num_rows() {
            let minute = minutes.value(row);
            if !(start_unix_nanos..=end_unix_nanos).contains(&minute) {
                continue;
            }
            let duration = DurationSketch::decode(sketches.value(row))
                .ok_or_else(|| format!("latency sketch of row {row} is damaged"))?;
            let key = RollupKey {
                minute_unix_nanos: minute,
                service_name: services.value(row).to_owned(),
                operation: operations.value(row).to_owned(),
                span_kind: kinds.value(row).to_owned(),
                status_code: statuses.value(row).to_owned(),
            };
            let cell = RollupCell {
                calls: calls.value(row),
                errors: errors.value(row),
                duration,
            };
            self.add_cell(key, &cell);
        }
        Ok(())
    }

    /// The cells as one batch of [`span_rollups_schema`] (the SQL table).
    pub fn to_table_batch(&self) -> Result<RecordBatch, StorageError> {
        let sidecar = self.to_sidecar_batch()?;
        let cells = self.sorted();
        let float = |value: fn(&DurationSketch) -> Option<f64>| -> ArrayRef {
            Arc::new(Float64Array::from_iter(
                cells.iter().map(|(_, cell)| value(&cell.duration)),
            ))
        };
        let mut columns: Vec<ArrayRef> = sidecar.columns()[..7].to_vec();
        columns.extend([
            float(|sketch| Some(sketch.sum_seconds())),
            float(DurationSketch::min_seconds),
            float(DurationSketch::max_seconds),
            float(|sketch| sketch.quantile(0.5)),
            float(|sketch| sketch.quantile(0.9)),
            float(|sketch| sketch.quantile(0.99)),
            sidecar.column(7).clone(),
        ]);
        RecordBatch::try_new(span_rollups_schema(), columns).map_err(arrow_error)
    }
}

fn key_fields() -> Vec<Field> {
    vec![
        Field::new("minute", timestamp_type(), false),
        Field::new("service_name", DataType::Utf8, false),
        Field::new("operation", DataType::Utf8, false),
        Field::new("span_kind", DataType::Utf8, false),
        Field::new("status_code", DataType::Utf8, false),
        Field::new("calls", DataType::UInt64, false),
        Field::new("errors", DataType::UInt64, false),
    ]
}

/// Schema of a `span_rollups` sidecar file: the key, the counts and the encoded sketch.
pub fn sidecar_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields = key_fields();
        fields.push(Field::new("duration_sketch", DataType::Binary, false));
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

/// Schema of the SQL table `span_rollups`: one row per merged cell, with latency summaries
/// of that cell (quantiles of different rows must not be averaged; merge the sketches).
pub fn span_rollups_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields = key_fields();
        fields.extend([
            Field::new("duration_sum_seconds", DataType::Float64, true),
            Field::new("duration_min_seconds", DataType::Float64, true),
            Field::new("duration_max_seconds", DataType::Float64, true),
            Field::new("duration_p50_seconds", DataType::Float64, true),
            Field::new("duration_p90_seconds", DataType::Float64, true),
            Field::new("duration_p99_seconds", DataType::Float64, true),
            Field::new("duration_sketch", DataType::Binary, false),
        ]);
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

/// Writes `rollups` as a Parquet sidecar at `path` (temporary file, fsync, rename; the caller
/// syncs the directory).
pub(crate) fn write_sidecar(path: &Path, rollups: &SpanRollups) -> Result<(), StorageError> {
    let batch = rollups.to_sidecar_batch()?;
    let zstd = ZstdLevel::try_new(3).unwrap_or_default();
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties))
        .map_err(|error| StorageError::DataFusion(error.into()))?;
    writer
        .write(&batch)
        .and_then(|()| writer.close().map(|_| ()))
        .map_err(|error| StorageError::DataFusion(error.into()))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    write_file_durably(&tmp, &bytes)?;
    fs::rename(&tmp, path).map_err(|error| StorageError::io(path, error))
}

/// Reads the cells of a sidecar whose minute is within `[start, end]` into `into`.
pub(crate) fn read_sidecar(
    path: &Path,
    start_unix_nanos: i64,
    end_unix_nanos: i64,
    into: &mut SpanRollups,
) -> Result<(), StorageError> {
    for batch in crate::segments::read_segment(path)? {
        if batch.schema().fields() != sidecar_schema().fields() {
            return Err(StorageError::Corrupt {
                path: path.to_owned(),
                reason: "rollup sidecar has an unexpected schema".into(),
            });
        }
        into.add_sidecar_batch(&batch, start_unix_nanos, end_unix_nanos)
            .map_err(|reason| StorageError::Corrupt {
                path: path.to_owned(),
                reason,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use lookout_model::{
        AnyValue, KeyValue, Resource, ResourceGroup, Scope, ScopeGroup, Span, SpanBatch, SpanId,
        SpanKind, StatusCode, TraceId,
    };

    use super::*;

    fn span(name: &str, end_secs: u64, duration_ms: u64, error: bool) -> Span {
        let end = end_secs * 1_000_000_000;
        Span {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([2; 8]),
            parent_span_id: None,
            trace_state: String::new(),
            flags: 0,
            name: name.into(),
            kind: SpanKind::Server,
            start_time_unix_nano: end - duration_ms * 1_000_000,
            end_time_unix_nano: end,
            attributes: vec![],
            dropped_attributes_count: 0,
            events: vec![],
            dropped_events_count: 0,
            links: vec![],
            dropped_links_count: 0,
            status_code: if error {
                StatusCode::Error
            } else {
                StatusCode::Ok
            },
            status_message: String::new(),
        }
    }

    fn batch(spans: Vec<Span>) -> RecordBatch {
        let batch = SpanBatch {
            resources: vec![ResourceGroup {
                resource: Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: AnyValue::String("checkout".into()),
                    }],
                    ..Resource::default()
                },
                scopes: vec![ScopeGroup {
                    scope: Scope::default(),
                    records: spans,
                }],
            }],
        };
        crate::rows::spans_to_batch(&batch).unwrap()
    }

    #[test]
    fn counts_by_minute_and_key_and_survives_the_sidecar() {
        let spans = vec![
            span("GET /", 60, 10, false),
            span("GET /", 119, 20, true),
            span("GET /", 120, 30, false),
            span("POST /", 61, 40, false),
        ];
        let rollups = SpanRollups::from_spans_batch(&batch(spans)).unwrap();
        let cells: Vec<(i64, &str, &str, u64, u64)> = rollups
            .sorted()
            .into_iter()
            .map(|(key, cell)| {
                (
                    key.minute_unix_nanos / 1_000_000_000,
                    key.operation.as_str(),
                    key.status_code.as_str(),
                    cell.calls,
                    cell.errors,
                )
            })
            .collect();
        assert_eq!(
            cells,
            vec![
                (60, "GET /", "error", 1, 1),
                (60, "GET /", "ok", 1, 0),
                (60, "POST /", "ok", 1, 0),
                (120, "GET /", "ok", 1, 0),
            ]
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.parquet");
        write_sidecar(&path, &rollups).unwrap();
        let mut read = SpanRollups::default();
        read_sidecar(&path, 0, 60_000_000_000, &mut read).unwrap();
        assert_eq!(read.len(), 3, "the minute at 120 s is outside the range");
        let (_, cell) = read
            .iter()
            .find(|(key, _)| key.operation == "POST /")
            .unwrap();
        let p50 = cell.duration.quantile(0.5).unwrap();
        assert!(
            (p50 - 0.040).abs() <= 0.040 * SKETCH_RELATIVE_ACCURACY,
            "{p50}"
        );
        assert_eq!(rollups.to_table_batch().unwrap().num_rows(), 4);
    }

    #[test]
    fn merging_adds_counts_and_sketches() {
        let mut total = SpanRollups::default();
        for duration_ms in 1..=100 {
            let one = SpanRollups::from_spans_batch(&batch(vec![span(
                "GET /",
                600,
                duration_ms,
                duration_ms % 10 == 0,
            )]))
            .unwrap();
            total.merge(&one);
        }
        let mut ok = RollupCell::default();
        for (key, cell) in total.iter() {
            assert_eq!(key.minute_unix_nanos, 600_000_000_000);
            ok.merge(cell);
        }
        assert_eq!((ok.calls, ok.errors), (100, 10));
        let p99 = ok.duration.quantile(0.99).unwrap();
        assert!((0.099 * 0.99..=0.100 * 1.01).contains(&p99), "{p99}");
        assert!(DurationSketch::decode(b"junk").is_none());
    }
}
