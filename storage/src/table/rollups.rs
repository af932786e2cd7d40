//! The DataFusion table `span_rollups`: the tenant's RED rollups merged per key, restricted
//! to the minutes that filters on `minute` allow, so SQL never reads spans for them.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DataFusionResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use lookout_model::TenantId;

use super::time_bounds;
use crate::engine::Shared;
use crate::rollups::span_rollups_schema;

/// The `span_rollups` table of one tenant.
#[derive(Debug)]
pub(crate) struct RollupsTable {
    shared: Arc<Shared>,
    tenant: TenantId,
}

impl RollupsTable {
    pub(crate) fn new(shared: Arc<Shared>, tenant: TenantId) -> Self {
        Self { shared, tenant }
    }
}

#[async_trait]
impl TableProvider for RollupsTable {
    fn schema(&self) -> SchemaRef {
        span_rollups_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DataFusionResult<Vec<TableProviderFilterPushDown>> {
        // Bounds on `minute` select sidecars and cells; every filter is re-checked above.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DataFusionResult<Arc<dyn ExecutionPlan>> {
        let (lower, upper) = time_bounds(filters, "minute");
        let rollups = self
            .shared
            .span_rollups(
                &self.tenant,
                lower.unwrap_or(i64::MIN),
                upper.unwrap_or(i64::MAX),
            )
            .await
            .map_err(|error| DataFusionError::External(Box::new(error)))?;
        let batch = rollups
            .to_table_batch()
            .map_err(|error| DataFusionError::External(Box::new(error)))?;
        MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema(), projection.cloned())
            .map(|exec| exec as Arc<dyn ExecutionPlan>)
    }
}
