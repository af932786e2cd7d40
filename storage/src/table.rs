//! DataFusion tables `spans`, `logs` and `metrics`: each scan takes a consistent snapshot
//! (live Parquet files + tail batches, under one lock) and unions a Parquet scan over exactly
//! those files with a memory scan of the tail.

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
    let context = SessionContext::new_with_config(session_config());
    for signal in Signal::ALL {
        let table = SignalTable {
            shared: shared.clone(),
            tenant: tenant.clone(),
            signal,
            schema: schema_for(signal),
            fixed: None,
        };
        context.register_table(table_name(signal), Arc::new(table))?;
    }
    context.register_table(
        crate::rollups::SPAN_ROLLUPS_TABLE,
        Arc::new(rollups::RollupsTable::new(shared.clone(), tenant.clone())),
    )?;
    Ok(context)
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
        // Used for file pruning and Parquet predicates, but always re-checked above the scan.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
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
