//! Full-text search over logs and spans.
//!
//! Every logs or spans Parquet file has a tantivy index directory next to it
//! (`<file>.parquet.idx/`), built by the same write that builds the file (flush and
//! compaction) and listed with it in the manifest; every tail buffer has an in-memory index
//! that catches up with the buffer when searched. A search snapshots the files and tail
//! buffers under the state lock (as table scans do), so each acknowledged record is found
//! exactly once. Index documents store no text: each holds the ordinal of its row, and
//! answers read the rows back from Parquet (with a row selection) or from the tail.

pub(crate) mod document;
pub(crate) mod file_index;
pub(crate) mod tail_index;
mod translate;

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::UInt32Array;
use datafusion::arrow::compute::{concat_batches, take_record_batch};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection};
use lookout_model::search::SearchQuery;
use lookout_model::{Signal, TenantId};
use parking_lot::Mutex;
use tantivy::collector::{Collector, SegmentCollector, TopDocs};
use tantivy::columnar::Column;
use tantivy::query::Query;
use tantivy::{DocId, IndexReader, Order, Score, Searcher, SegmentOrdinal, SegmentReader};

use crate::engine::{Engine, Shared};
use crate::manifest::FileEntry;
use crate::rows::arrow_error;
use crate::schema::schema_for;
use crate::{StorageError, TimeRange};

pub(crate) use file_index::{index_path_for, write_file_index};
pub(crate) use tail_index::TailSearchIndex;

/// Most records one search answer may hold.
pub const MAX_SEARCH_LIMIT: usize = 10_000;

/// Most histogram buckets one answer may hold.
pub const MAX_HISTOGRAM_BUCKETS: usize = 10_000;

/// A search over one table (`logs` or `spans`).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// The parsed query.
    pub query: SearchQuery,
    /// Event-time range (inclusive).
    pub range: TimeRange,
    /// Records wanted (at most [`MAX_SEARCH_LIMIT`]).
    pub limit: usize,
    /// Continue after a previous page.
    pub after: Option<SearchCursor>,
}

/// Where a page ended: answers continue with records older than `timestamp_unix_nanos`,
/// or at that time but past the first `seen_at_timestamp` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchCursor {
    /// Event time of the last record of the previous page.
    pub timestamp_unix_nanos: i64,
    /// Records at exactly that time the previous pages returned.
    pub seen_at_timestamp: u64,
}

/// A page of search results.
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// The matching rows (the table's schema), newest first.
    pub rows: RecordBatch,
    /// Event time of each row.
    pub timestamps: Vec<i64>,
    /// Set when more records match: pass it back as [`SearchRequest::after`].
    pub next: Option<SearchCursor>,
}

/// Open readers of file indexes, by relative path of the Parquet file.
#[derive(Default)]
pub(crate) struct SearchIndexes {
    readers: Mutex<HashMap<String, IndexReader>>,
}

/// Where a hit lives.
enum Source {
    /// A Parquet file (absolute path) and its index.
    File {
        parquet: std::path::PathBuf,
        searcher: Searcher,
    },
    /// Tail batches and their index; rows at or past `rows` were appended after the
    /// snapshot and are ignored.
    Tail {
        batches: Vec<RecordBatch>,
        rows: u64,
        searcher: Searcher,
    },
}

impl Source {
    fn searcher(&self) -> &Searcher {
        match self {
            Source::File { searcher, .. } | Source::Tail { searcher, .. } => searcher,
        }
    }

    fn row_limit(&self) -> u64 {
        match self {
            Source::File { .. } => u64::MAX,
            Source::Tail { rows, .. } => *rows,
        }
    }
}

/// What a search reads, taken under the state lock.
struct SearchSnapshot {
    files: Vec<FileEntry>,
    tail: Vec<(Arc<TailSearchIndex>, Vec<RecordBatch>)>,
}

fn search_snapshot(
    shared: &Shared,
    tenant: &TenantId,
    signal: Signal,
    range: TimeRange,
) -> SearchSnapshot {
    let state = shared.state.lock();
    SearchSnapshot {
        files: state
            .manifest
            .files
            .iter()
            .filter(|file| file.signal == signal && &file.tenant == tenant)
            .filter(|file| {
                file.max_time_unix_nanos >= range.start_unix_nanos
                    && file.min_time_unix_nanos <= range.end_unix_nanos
            })
            .cloned()
            .collect(),
        tail: state.tail.search_sources(tenant, signal),
    }
}

/// Opens the sources of a snapshot (blocking: indexes the tail, opens file indexes).
fn open_sources(
    shared: &Shared,
    signal: Signal,
    snapshot: SearchSnapshot,
) -> Result<Vec<Source>, StorageError> {
    let mut sources = Vec::with_capacity(snapshot.files.len() + snapshot.tail.len());
    for file in &snapshot.files {
        let reader = shared.search_indexes.reader(&shared.data_dir, file)?;
        sources.push(Source::File {
            parquet: shared.data_dir.join(&file.path),
            searcher: reader.searcher(),
        });
    }
    for (index, batches) in snapshot.tail {
        let rows = batches.iter().map(|batch| batch.num_rows() as u64).sum();
        let searcher = index.searcher(signal, &batches)?;
        sources.push(Source::Tail {
            batches,
            rows,
            searcher,
        });
    }
    Ok(sources)
}

/// Every row of `signal`'s table of `tenant` matching `query` within `range`, in no
/// particular order (blocking). Used by SQL's `matches()`.
pub(crate) fn search_all_rows(
    shared: &Shared,
    tenant: &TenantId,
    signal: Signal,
    query: &SearchQuery,
    range: TimeRange,
) -> Result<Vec<RecordBatch>, StorageError> {
    let snapshot = search_snapshot(shared, tenant, signal, range);
    let sources = open_sources(shared, signal, snapshot)?;
    let tantivy_query = translate::to_tantivy(query, range);
    let schema = schema_for(signal);
    let mut out = Vec::new();
    for source in &sources {
        let searcher = source.searcher();
        let docs = searcher
            .search(tantivy_query.as_ref(), &tantivy::collector::DocSetCollector)
            .map_err(file_index::tantivy_error)?;
        let mut rows = Vec::with_capacity(docs.len());
        let mut columns: HashMap<SegmentOrdinal, Column<u64>> = HashMap::new();
        for address in docs {
            if let std::collections::hash_map::Entry::Vacant(entry) =
                columns.entry(address.segment_ord)
            {
                entry.insert(
                    searcher
                        .segment_reader(address.segment_ord)
                        .fast_fields()
                        .u64("row")
                        .map_err(file_index::tantivy_error)?,
                );
            }
            if let Some(row) = columns
                .get(&address.segment_ord)
                .and_then(|column| column.first(address.doc_id))
                && row < source.row_limit()
            {
                rows.push(row);
            }
        }
        if rows.is_empty() {
            continue;
        }
        rows.sort_unstable();
        rows.dedup();
        out.push(match source {
            Source::File { parquet, .. } => read_parquet_rows(parquet, &rows)?,
            Source::Tail { batches, .. } => take_tail_rows(&schema, batches, &rows)?,
        });
    }
    Ok(out)
}

impl Engine {
    /// Runs a search over `signal`'s table of `tenant`.
    pub(crate) async fn search(
        self: &Arc<Self>,
        tenant: &TenantId,
        signal: Signal,
        request: SearchRequest,
    ) -> Result<SearchPage, StorageError> {
        let mut range = request.range;
        if let Some(cursor) = request.after {
            range.end_unix_nanos = range.end_unix_nanos.min(cursor.timestamp_unix_nanos);
        }
        let snapshot = search_snapshot(&self.shared, tenant, signal, range);
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let sources = open_sources(&engine.shared, signal, snapshot)?;
            let page = run_search(signal, &sources, &request, range);
            engine
                .metrics
                .search_duration_seconds
                .observe(started.elapsed().as_secs_f64());
            page
        })
        .await
        .map_err(|error| StorageError::Internal(format!("search task failed: {error}")))?
    }

    /// Counts matching records per `step_nanos` bucket of `range` (oldest first).
    pub(crate) async fn search_histogram(
        self: &Arc<Self>,
        tenant: &TenantId,
        signal: Signal,
        query: SearchQuery,
        range: TimeRange,
        step_nanos: i64,
    ) -> Result<Vec<u64>, StorageError> {
        let span = i128::from(range.end_unix_nanos) - i128::from(range.start_unix_nanos) + 1;
        if step_nanos <= 0 || span <= 0 {
            return Err(StorageError::InvalidRequest(
                "histogram needs a positive step and start <= end".into(),
            ));
        }
        let buckets = (span + i128::from(step_nanos) - 1) / i128::from(step_nanos);
        if buckets > MAX_HISTOGRAM_BUCKETS as i128 {
            return Err(StorageError::InvalidRequest(format!(
                "histogram would have {buckets} buckets (at most {MAX_HISTOGRAM_BUCKETS})"
            )));
        }
        let snapshot = search_snapshot(&self.shared, tenant, signal, range);
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            let sources = open_sources(&engine.shared, signal, snapshot)?;
            let tantivy_query = translate::to_tantivy(&query, range);
            let mut counts = vec![0u64; buckets as usize];
            for source in &sources {
                let collector = HistogramCollector {
                    start: range.start_unix_nanos,
                    step: step_nanos,
                    buckets: counts.len(),
                    row_limit: source.row_limit(),
                };
                let partial = source
                    .searcher()
                    .search(tantivy_query.as_ref(), &collector)
                    .map_err(file_index::tantivy_error)?;
                for (total, add) in counts.iter_mut().zip(partial) {
                    *total += add;
                }
            }
            Ok(counts)
        })
        .await
        .map_err(|error| StorageError::Internal(format!("search task failed: {error}")))?
    }
}

impl std::fmt::Debug for SearchIndexes {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SearchIndexes")
    }
}

impl SearchIndexes {
    /// The reader of a file's index, opened on first use; a missing or damaged index is
    /// rebuilt from the Parquet file.
    fn reader(&self, data_dir: &Path, file: &FileEntry) -> Result<IndexReader, StorageError> {
        if let Some(reader) = self.readers.lock().get(&file.path) {
            return Ok(reader.clone());
        }
        let relative = file
            .search_index_path
            .clone()
            .unwrap_or_else(|| index_path_for(&file.path));
        let dir = data_dir.join(&relative);
        let reader = match file_index::open_file_index(&dir) {
            Ok(reader) => reader,
            Err(error) => {
                tracing::warn!(%error, path = %dir.display(), "search index is unreadable; rebuilding it");
                let batches = crate::segments::read_segment(&data_dir.join(&file.path))?;
                let batch =
                    concat_batches(&schema_for(file.signal), &batches).map_err(arrow_error)?;
                write_file_index(&dir, file.signal, &batch)?;
                file_index::open_file_index(&dir)?
            }
        };
        self.readers
            .lock()
            .insert(file.path.clone(), reader.clone());
        Ok(reader)
    }

    /// Forgets readers of files no longer live (their mmaps keep deleted files' space).
    pub(crate) fn retain_live(&self, live: &[FileEntry]) {
        let live: std::collections::HashSet<&str> =
            live.iter().map(|file| file.path.as_str()).collect();
        self.readers
            .lock()
            .retain(|path, _| live.contains(path.as_str()));
    }
}

/// One hit before its row is read.
#[derive(Debug, Clone, Copy)]
struct Hit {
    timestamp: i64,
    source: usize,
    row: u64,
}

fn run_search(
    signal: Signal,
    sources: &[Source],
    request: &SearchRequest,
    range: TimeRange,
) -> Result<SearchPage, StorageError> {
    let limit = request.limit.clamp(1, MAX_SEARCH_LIMIT);
    let skip = request
        .after
        .filter(|cursor| cursor.timestamp_unix_nanos <= range.end_unix_nanos)
        .map_or(0, |cursor| cursor.seen_at_timestamp);
    let skip_usize = usize::try_from(skip).unwrap_or(usize::MAX);
    // One more than needed tells whether another page exists.
    let wanted = limit.saturating_add(skip_usize).saturating_add(1);
    let query = translate::to_tantivy(&request.query, range);
    let mut hits = Vec::new();
    for (source_index, source) in sources.iter().enumerate() {
        hits.extend(top_hits(source, source_index, query.as_ref(), wanted)?);
    }
    // Newest first; ties in a fixed order of source and row.
    hits.sort_by(|a, b| {
        b.timestamp
            .cmp(&a.timestamp)
            .then(a.source.cmp(&b.source))
            .then(a.row.cmp(&b.row))
    });
    let cursor_time = request.after.map(|cursor| cursor.timestamp_unix_nanos);
    let mut skipped = 0u64;
    hits.retain(|hit| {
        if Some(hit.timestamp) == cursor_time && skipped < skip {
            skipped += 1;
            false
        } else {
            true
        }
    });
    let more = hits.len() > limit;
    hits.truncate(limit);
    let next = match (more, hits.last()) {
        (true, Some(last)) => {
            let mut seen = hits
                .iter()
                .filter(|hit| hit.timestamp == last.timestamp)
                .count() as u64;
            if Some(last.timestamp) == cursor_time {
                seen += skip;
            }
            Some(SearchCursor {
                timestamp_unix_nanos: last.timestamp,
                seen_at_timestamp: seen,
            })
        }
        _ => None,
    };
    let rows = fetch_rows(signal, sources, &hits)?;
    Ok(SearchPage {
        rows,
        timestamps: hits.iter().map(|hit| hit.timestamp).collect(),
        next,
    })
}

/// The newest `wanted` hits of one source.
fn top_hits(
    source: &Source,
    source_index: usize,
    query: &dyn Query,
    wanted: usize,
) -> Result<Vec<Hit>, StorageError> {
    let searcher = source.searcher();
    let collector =
        TopDocs::with_limit(wanted).order_by_fast_field::<i64>("timestamp", Order::Desc);
    let docs = searcher
        .search(query, &collector)
        .map_err(file_index::tantivy_error)?;
    let mut row_columns: HashMap<SegmentOrdinal, Column<u64>> = HashMap::new();
    let mut hits = Vec::with_capacity(docs.len());
    for (timestamp, address) in docs {
        let column = match row_columns.get(&address.segment_ord) {
            Some(column) => column,
            None => {
                let column = searcher
                    .segment_reader(address.segment_ord)
                    .fast_fields()
                    .u64("row")
                    .map_err(file_index::tantivy_error)?;
                row_columns.entry(address.segment_ord).or_insert(column)
            }
        };
        let Some(row) = column.first(address.doc_id) else {
            continue;
        };
        if row >= source.row_limit() {
            continue;
        }
        hits.push(Hit {
            timestamp: timestamp.unwrap_or(i64::MIN),
            source: source_index,
            row,
        });
    }
    Ok(hits)
}

/// Reads the rows of `hits` and returns them in the order of `hits`.
fn fetch_rows(
    signal: Signal,
    sources: &[Source],
    hits: &[Hit],
) -> Result<RecordBatch, StorageError> {
    let schema = schema_for(signal);
    let mut by_source: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for hit in hits {
        by_source.entry(hit.source).or_default().push(hit.row);
    }
    let mut parts = Vec::new();
    // Position of (source, row) in the concatenation of `parts`.
    let mut position: HashMap<(usize, u64), u32> = HashMap::new();
    let mut offset = 0u32;
    for (source_index, mut rows) in by_source {
        rows.sort_unstable();
        rows.dedup();
        let batch = match &sources[source_index] {
            Source::File { parquet, .. } => read_parquet_rows(parquet, &rows)?,
            Source::Tail { batches, .. } => take_tail_rows(&schema, batches, &rows)?,
        };
        if batch.num_rows() != rows.len() {
            return Err(StorageError::Internal(format!(
                "search index names {} rows, {} were read",
                rows.len(),
                batch.num_rows()
            )));
        }
        for (index, row) in rows.iter().enumerate() {
            position.insert((source_index, *row), offset + index as u32);
        }
        offset += batch.num_rows() as u32;
        parts.push(batch);
    }
    let all = concat_batches(&schema, &parts).map_err(arrow_error)?;
    let order: UInt32Array = hits
        .iter()
        .map(|hit| position.get(&(hit.source, hit.row)).copied())
        .collect();
    take_record_batch(&all, &order).map_err(arrow_error)
}

/// Reads the rows with the given (sorted, unique) ordinals of a Parquet file.
fn read_parquet_rows(path: &Path, rows: &[u64]) -> Result<RecordBatch, StorageError> {
    let file = std::fs::File::open(path).map_err(|error| StorageError::io(path, error))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|error| StorageError::DataFusion(error.into()))?;
    let total_rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let ranges = consecutive_ranges(rows);
    if ranges.last().is_some_and(|range| range.end > total_rows) {
        return Err(StorageError::Corrupt {
            path: path.to_path_buf(),
            reason: "search index names rows past the end of the file".into(),
        });
    }
    let selection = RowSelection::from_consecutive_ranges(ranges.into_iter(), total_rows);
    let schema = builder.schema().clone();
    let reader = builder
        .with_row_selection(selection)
        .build()
        .map_err(|error| StorageError::DataFusion(error.into()))?;
    let batches = reader
        .map(|batch| batch.map_err(arrow_error))
        .collect::<Result<Vec<_>, _>>()?;
    concat_batches(&schema, &batches).map_err(arrow_error)
}

fn consecutive_ranges(rows: &[u64]) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    for &row in rows {
        let row = usize::try_from(row).unwrap_or(usize::MAX);
        match ranges.last_mut() {
            Some(last) if last.end == row => last.end += 1,
            _ => ranges.push(row..row.saturating_add(1)),
        }
    }
    ranges
}

/// The rows with the given (sorted, unique) ordinals of a tail buffer's batches.
fn take_tail_rows(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
    rows: &[u64],
) -> Result<RecordBatch, StorageError> {
    let mut parts = Vec::new();
    let mut first = 0u64;
    let mut wanted = rows.iter().peekable();
    for batch in batches {
        let end = first + batch.num_rows() as u64;
        let mut indices = Vec::new();
        while let Some(&&row) = wanted.peek() {
            if row >= end {
                break;
            }
            indices.push(u32::try_from(row - first).unwrap_or(u32::MAX));
            wanted.next();
        }
        if !indices.is_empty() {
            parts.push(take_record_batch(batch, &UInt32Array::from(indices)).map_err(arrow_error)?);
        }
        first = end;
    }
    concat_batches(schema, &parts).map_err(arrow_error)
}

/// Counts matching documents per time bucket.
struct HistogramCollector {
    start: i64,
    step: i64,
    buckets: usize,
    row_limit: u64,
}

struct HistogramSegmentCollector {
    start: i64,
    step: i64,
    counts: Vec<u64>,
    timestamps: Column<i64>,
    rows: Column<u64>,
    row_limit: u64,
}

impl Collector for HistogramCollector {
    type Fruit = Vec<u64>;
    type Child = HistogramSegmentCollector;

    fn for_segment(
        &self,
        _segment_local_id: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        Ok(HistogramSegmentCollector {
            start: self.start,
            step: self.step,
            counts: vec![0; self.buckets],
            timestamps: segment.fast_fields().i64("timestamp")?,
            rows: segment.fast_fields().u64("row")?,
            row_limit: self.row_limit,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<u64>>) -> tantivy::Result<Vec<u64>> {
        let mut total = vec![0; self.buckets];
        for fruit in fruits {
            for (sum, add) in total.iter_mut().zip(fruit) {
                *sum += add;
            }
        }
        Ok(total)
    }
}

impl SegmentCollector for HistogramSegmentCollector {
    type Fruit = Vec<u64>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.rows.first(doc).is_none_or(|row| row >= self.row_limit) {
            return;
        }
        let Some(timestamp) = self.timestamps.first(doc) else {
            return;
        };
        let bucket = (i128::from(timestamp) - i128::from(self.start)) / i128::from(self.step);
        if let Ok(bucket) = usize::try_from(bucket)
            && let Some(count) = self.counts.get_mut(bucket)
        {
            *count += 1;
        }
    }

    fn harvest(self) -> Vec<u64> {
        self.counts
    }
}

/// The rows of `batch` (of `signal`'s table) that match `query`, in their order. Builds a
/// throw-away in-memory index: meant for the small batches of one append (live tail).
pub(crate) fn filter_batch(
    signal: Signal,
    batch: &RecordBatch,
    query: &SearchQuery,
) -> Result<RecordBatch, StorageError> {
    let index = tantivy::Index::create_in_ram(document::fields().schema.clone());
    let mut writer: tantivy::IndexWriter<tantivy::TantivyDocument> = index
        .writer_with_num_threads(1, 16 * 1024 * 1024)
        .map_err(file_index::tantivy_error)?;
    document::documents(signal, batch, 0, &mut |doc| {
        writer
            .add_document(doc)
            .map(|_| ())
            .map_err(file_index::tantivy_error)
    })?;
    writer.commit().map_err(file_index::tantivy_error)?;
    let reader = index.reader().map_err(file_index::tantivy_error)?;
    let searcher = reader.searcher();
    let tantivy_query = translate::to_tantivy(
        query,
        TimeRange {
            start_unix_nanos: i64::MIN,
            end_unix_nanos: i64::MAX,
        },
    );
    let docs = searcher
        .search(tantivy_query.as_ref(), &tantivy::collector::DocSetCollector)
        .map_err(file_index::tantivy_error)?;
    let mut rows = Vec::with_capacity(docs.len());
    for address in docs {
        let column = searcher
            .segment_reader(address.segment_ord)
            .fast_fields()
            .u64("row")
            .map_err(file_index::tantivy_error)?;
        if let Some(row) = column.first(address.doc_id) {
            rows.push(u32::try_from(row).unwrap_or(u32::MAX));
        }
    }
    rows.sort_unstable();
    take_record_batch(batch, &UInt32Array::from(rows)).map_err(arrow_error)
}
