//! DataFusion tables `spans`, `logs` and `metrics`: each scan takes a consistent snapshot
//! (live Parquet files + tail batches, under one lock) and unions a Parquet scan over exactly
//! those files with a memory scan of the tail.

mod matches;
mod rollups;
mod time_filter;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::project_schema;
use datafusion::config::TableParquetOptions;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DataFusionResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::prelude::{SessionConfig, SessionContext, col, lit};
use lookout_model::{Signal, TenantId, TraceId};

use crate::StorageError;
use crate::engine::{Shared, Snapshot};
use crate::manifest::FileEntry;
use crate::schema::{event_time_column, schema_for, table_name};

pub use matches::SearchParser;
pub use time_filter::{TimeBounds, time_bounds};

/// The session settings every Lookout query runs with.
pub fn session_config() -> SessionConfig {
    SessionConfig::new()
        .with_information_schema(true)
        .with_parquet_pruning(true)
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        .set_bool("datafusion.execution.parquet.reorder_filters", true)
}

/// A session with the tenant's three tables registered.
pub(crate) fn session_context(
    shared: &Arc<Shared>,
    tenant: &TenantId,
) -> Result<SessionContext, StorageError> {
    session_context_with(shared, tenant, None)
}

/// A session with the tenant's three tables and, given a parser, the `matches()` function.
pub(crate) fn session_context_with(
    shared: &Arc<Shared>,
    tenant: &TenantId,
    parser: Option<SearchParser>,
) -> Result<SessionContext, StorageError> {
    let context = SessionContext::new_with_config(session_config());
    if parser.is_some() {
        context.register_udf(matches::matches_udf());
    }
    for signal in Signal::ALL {
        let table = SignalTable {
            shared: shared.clone(),
            tenant: tenant.clone(),
            signal,
            schema: schema_for(signal),
            fixed: None,
            parser,
        };
        context.register_table(table_name(signal), Arc::new(table))?;
    }
    context.register_table(
        crate::rollups::SPAN_ROLLUPS_TABLE,
        Arc::new(rollups::RollupsTable::new(shared.clone(), tenant.clone())),
    )?;
    Ok(context)
}

/// A session whose three tables are fixed at one snapshot, taken under one lock together
/// with the sequence number of the last append it holds.
pub(crate) fn pinned_session(
    shared: &Arc<Shared>,
    tenant: &TenantId,
) -> Result<crate::PinnedSession, StorageError> {
    let (seq, snapshots) = {
        let state = shared.state.lock();
        let snapshots: Vec<(Signal, Snapshot)> = Signal::ALL
            .into_iter()
            .map(|signal| (signal, state.snapshot(tenant, signal)))
            .collect();
        (state.append_seq, snapshots)
    };
    let context = SessionContext::new_with_config(session_config());
    for (signal, snapshot) in snapshots {
        let table = SignalTable {
            shared: shared.clone(),
            tenant: tenant.clone(),
            signal,
            schema: schema_for(signal),
            fixed: Some(snapshot),
            parser: None,
        };
        context.register_table(table_name(signal), Arc::new(table))?;
    }
    Ok(crate::PinnedSession { seq, context })
}

/// Reads the spans of one trace from a prepared snapshot, sorted by start time.
pub(crate) async fn read_trace(
    shared: &Arc<Shared>,
    snapshot: Snapshot,
    trace_id: &TraceId,
) -> Result<Vec<RecordBatch>, StorageError> {
    let context = SessionContext::new_with_config(session_config());
    let table = SignalTable {
        shared: shared.clone(),
        tenant: TenantId::default_tenant(),
        signal: Signal::Traces,
        schema: schema_for(Signal::Traces),
        fixed: Some(snapshot),
        parser: None,
    };
    let batches = context
        .read_table(Arc::new(table))?
        .filter(col("trace_id").eq(lit(trace_id.to_hex())))?
        .sort(vec![col("start_time").sort(true, false)])?
        .collect()
        .await?;
    Ok(batches
        .into_iter()
        .filter(|batch| batch.num_rows() > 0)
        .collect())
}

/// Reads the spans of several traces from a prepared snapshot (only `columns`, or every
/// column when empty).
pub(crate) async fn read_traces(
    shared: &Arc<Shared>,
    snapshot: Snapshot,
    trace_ids: &[TraceId],
    columns: &[&str],
) -> Result<Vec<RecordBatch>, StorageError> {
    let context = SessionContext::new_with_config(session_config());
    let table = SignalTable {
        shared: shared.clone(),
        tenant: TenantId::default_tenant(),
        signal: Signal::Traces,
        schema: schema_for(Signal::Traces),
        fixed: Some(snapshot),
        parser: None,
    };
    let wanted = trace_ids.iter().map(|id| lit(id.to_hex())).collect();
    let mut frame = context
        .read_table(Arc::new(table))?
        .filter(col("trace_id").in_list(wanted, false))?;
    if !columns.is_empty() {
        frame = frame.select_columns(columns)?;
    }
    let batches = frame.collect().await?;
    Ok(batches
        .into_iter()
        .filter(|batch| batch.num_rows() > 0)
        .collect())
}

/// One signal's table for one tenant.
#[derive(Debug)]
struct SignalTable {
    shared: Arc<Shared>,
    tenant: TenantId,
    signal: Signal,
    schema: SchemaRef,
    /// A snapshot taken in advance (trace reads); live tables snapshot at each scan.
    fixed: Option<Snapshot>,
    /// Parses `matches()` queries; without it `matches()` is not pushed down.
    parser: Option<SearchParser>,
}

#[async_trait]
impl TableProvider for SignalTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DataFusionResult<Vec<TableProviderFilterPushDown>> {
        // Used for file pruning and Parquet predicates, but always re-checked above the scan;
        // `matches()` is answered by the index alone.
        Ok(filters
            .iter()
            .map(|filter| {
                if self.parser.is_some()
                    && self.signal != Signal::Metrics
                    && matches::matches_text(filter).is_some()
                {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DataFusionResult<Arc<dyn ExecutionPlan>> {
        let snapshot = match &self.fixed {
            Some(snapshot) => snapshot.clone(),
            None => self.shared.snapshot(&self.tenant, self.signal),
        };
        let (lower, upper) = time_bounds(filters, event_time_column(self.signal));
        if let Some(parser) = self.parser.filter(|_| self.signal != Signal::Metrics) {
            let texts: Vec<&str> = filters.iter().filter_map(matches::matches_text).collect();
            if !texts.is_empty() {
                return self
                    .index_scan(parser, &texts, lower, upper, projection)
                    .await;
            }
        }
        let files: Vec<FileEntry> = snapshot
            .files
            .into_iter()
            .filter(|file| {
                lower.is_none_or(|lower| file.max_time_unix_nanos >= lower)
                    && upper.is_none_or(|upper| file.min_time_unix_nanos <= upper)
            })
            .collect();
        let partitions = state.config().target_partitions().max(1);

        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !files.is_empty() {
            inputs.push(
                self.parquet_scan(state, &files, partitions, projection, limit)
                    .await?,
            );
        }
        if !snapshot.tail.is_empty() {
            let count = partitions.min(snapshot.tail.len());
            let mut memory_partitions = vec![Vec::new(); count];
            for (index, batch) in snapshot.tail.into_iter().enumerate() {
                memory_partitions[index % count].push(batch);
            }
            inputs.push(MemorySourceConfig::try_new_exec(
                &memory_partitions,
                self.schema.clone(),
                projection.cloned(),
            )?);
        }
        if inputs.is_empty() {
            let projected = project_schema(&self.schema, projection)?;
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        UnionExec::try_new(inputs)
    }
}

impl SignalTable {
    /// Answers a scan with `matches()` filters from the full-text index: only matching rows
    /// are read.
    async fn index_scan(
        &self,
        parser: SearchParser,
        texts: &[&str],
        lower: Option<i64>,
        upper: Option<i64>,
        projection: Option<&Vec<usize>>,
    ) -> DataFusionResult<Arc<dyn ExecutionPlan>> {
        let mut queries = Vec::with_capacity(texts.len());
        for text in texts {
            let query = parser(text).map_err(|message| {
                datafusion::error::DataFusionError::Plan(format!("matches(): {message}"))
            })?;
            queries.push(query);
        }
        let query = if queries.len() == 1 {
            queries.pop().expect("one query")
        } else {
            lookout_model::search::SearchQuery::And(queries)
        };
        let range = crate::TimeRange {
            start_unix_nanos: lower.unwrap_or(i64::MIN),
            end_unix_nanos: upper.unwrap_or(i64::MAX),
        };
        let shared = self.shared.clone();
        let (tenant, signal) = (self.tenant.clone(), self.signal);
        let batches = tokio::task::spawn_blocking(move || {
            crate::search::search_all_rows(&shared, &tenant, signal, &query, range)
        })
        .await
        .map_err(|error| datafusion::error::DataFusionError::External(Box::new(error)))?
        .map_err(|error| datafusion::error::DataFusionError::External(Box::new(error)))?;
        if batches.is_empty() {
            let projected = project_schema(&self.schema, projection)?;
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let exec: Arc<dyn ExecutionPlan> =
            MemorySourceConfig::try_new_exec(&[batches], self.schema.clone(), projection.cloned())?;
        Ok(exec)
    }

    async fn parquet_scan(
        &self,
        state: &dyn Session,
        files: &[FileEntry],
        partitions: usize,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> DataFusionResult<Arc<dyn ExecutionPlan>> {
        let count = partitions.min(files.len());
        let mut groups = vec![Vec::new(); count];
        for (index, file) in files.iter().enumerate() {
            let path = self.shared.data_dir.join(&file.path);
            let object_path = path.to_string_lossy().trim_start_matches('/').to_owned();
            groups[index % count].push(PartitionedFile::new(object_path, file.size_bytes));
        }
        let options = TableParquetOptions {
            global: state.config_options().execution.parquet.clone(),
            ..TableParquetOptions::default()
        };
        let source =
            ParquetSource::new(self.schema.clone()).with_table_parquet_options(options.clone());
        let config =
            FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
                .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
        ParquetFormat::default()
            .with_options(options)
            .create_physical_plan(state, config)
            .await
    }
}
