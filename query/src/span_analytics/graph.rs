//! The service graph: `GET /api/v1/service-graph?start=&end=`, derived at query time.
//!
//! Edges come from two joins over the spans of the range: a child span whose parent span
//! belongs to another service (client = the parent's service, server = the child's), and a
//! consumer span with a link to a producer span of another service (client = producer,
//! server = consumer). A parent/child pair is a `messaging` connection when the parent is a
//! producer and the child a consumer, a `request` otherwise. Calls, errors and latency are
//! those of the server-side span. Children (and consumers) must start within the range;
//! their parents (and producers) may start up to [`PARENT_SLACK_NANOS`] earlier.
//! Nodes list every service with spans in the range, with its calls and errors from the
//! RED rollups.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, Int64Array};
use lookout_model::TenantId;
use lookout_model::api::span_analytics::{ServiceEdge, ServiceGraphResponse, ServiceNode};
use lookout_storage::rollups::minute_start_unix_nanos;
use lookout_storage::{DurationSketch, Reader, TimeRange};

use super::{column, for_each_batch, register_view, spans_between, string_column};
use crate::QueryError;
use crate::params::Params;

/// Parameters `GET /api/v1/service-graph` accepts.
pub const PARAMETERS: &[&str] = &["start", "end"];

/// How much earlier than the range a parent or producer span may start.
pub const PARENT_SLACK_NANOS: i64 = 15 * 60 * 1_000_000_000;

const PARENT_CHILD_SQL: &str = "\
SELECT p.service_name AS client, c.service_name AS server, \
       CASE WHEN p.kind = 'producer' AND c.kind = 'consumer' THEN 'messaging' ELSE 'request' END \
         AS connection, \
       c.status_code AS status_code, c.duration_ns AS duration_ns \
FROM children c JOIN parents p ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id \
WHERE c.parent_span_id IS NOT NULL AND c.service_name <> p.service_name";

const LINK_SQL: &str = "\
SELECT p.service_name AS client, c.service_name AS server, 'messaging' AS connection, \
       c.status_code AS status_code, c.duration_ns AS duration_ns \
FROM (SELECT service_name, status_code, duration_ns, unnest(links) AS link \
      FROM children WHERE kind = 'consumer') c \
JOIN parents p ON p.trace_id = c.link['trace_id'] AND p.span_id = c.link['span_id'] \
WHERE p.kind = 'producer' AND c.service_name <> p.service_name";

/// A parsed service-graph query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphQuery {
    /// Inclusive start, Unix nanoseconds.
    pub start_unix_nanos: i64,
    /// Inclusive end, Unix nanoseconds.
    pub end_unix_nanos: i64,
}

impl GraphQuery {
    /// Validates query-string pairs.
    pub fn from_pairs(
        pairs: Vec<(String, String)>,
        now_unix_nanos: i64,
    ) -> Result<Self, QueryError> {
        let params = Params::parse(pairs, PARAMETERS, false)?;
        let (start, end) = params.time_range(now_unix_nanos)?;
        Ok(Self {
            start_unix_nanos: start,
            end_unix_nanos: end,
        })
    }
}

#[derive(Default)]
struct EdgeTotals {
    calls: u64,
    errors: u64,
    duration: DurationSketch,
}

/// Nodes and edges of the range.
pub async fn service_graph(
    reader: &Reader,
    tenant: &TenantId,
    query: &GraphQuery,
) -> Result<ServiceGraphResponse, QueryError> {
    let context = reader.session_context(tenant)?;
    let children = spans_between(&context, query.start_unix_nanos, query.end_unix_nanos).await?;
    let parents = spans_between(
        &context,
        query.start_unix_nanos.saturating_sub(PARENT_SLACK_NANOS),
        query.end_unix_nanos,
    )
    .await?;
    register_view(&context, "children", children)?;
    register_view(&context, "parents", parents)?;
    let mut edges: BTreeMap<(String, String, String), EdgeTotals> = BTreeMap::new();
    for sql in [PARENT_CHILD_SQL, LINK_SQL] {
        for_each_batch(&context, sql, |batch| {
            let clients = string_column(batch, "client")?;
            let servers = string_column(batch, "server")?;
            let connections = string_column(batch, "connection")?;
            let statuses = string_column(batch, "status_code")?;
            let durations = column::<Int64Array>(batch, "duration_ns")?;
            for row in 0..batch.num_rows() {
                if clients.is_null(row) || servers.is_null(row) {
                    continue;
                }
                let edge = edges
                    .entry((
                        clients.value(row).to_owned(),
                        servers.value(row).to_owned(),
                        connections.value(row).to_owned(),
                    ))
                    .or_default();
                edge.calls += 1;
                edge.errors += u64::from(statuses.value(row) == "error");
                edge.duration
                    .add_seconds(durations.value(row).max(0) as f64 / 1e9);
            }
            Ok(())
        })
        .await?;
    }

    let rollups = reader
        .span_rollups(
            tenant,
            TimeRange {
                start_unix_nanos: minute_start_unix_nanos(query.start_unix_nanos),
                end_unix_nanos: query.end_unix_nanos,
            },
        )
        .await?;
    let mut nodes: BTreeMap<String, ServiceNode> = BTreeMap::new();
    for (key, cell) in rollups.iter() {
        let node = nodes
            .entry(key.service_name.clone())
            .or_insert_with(|| ServiceNode {
                service: key.service_name.clone(),
                calls: 0,
                errors: 0,
            });
        node.calls += cell.calls;
        node.errors += cell.errors;
    }
    for (client, server, _) in edges.keys() {
        for service in [client, server] {
            nodes.entry(service.clone()).or_insert_with(|| ServiceNode {
                service: service.clone(),
                calls: 0,
                errors: 0,
            });
        }
    }
    Ok(ServiceGraphResponse {
        nodes: nodes.into_values().collect(),
        edges: edges
            .into_iter()
            .map(|((client, server, connection), totals)| ServiceEdge {
                client,
                server,
                connection,
                calls: totals.calls,
                errors: totals.errors,
                p95_seconds: totals.duration.quantile(0.95),
            })
            .collect(),
    })
}
