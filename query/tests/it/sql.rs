//! Read-only SQL, limits and trace assembly against a real store in a temporary directory.

use lookout_model::{
    KeyValue, Resource, ResourceGroup, Scope, ScopeGroup, Span, SpanBatch, SpanId, SpanKind,
    StatusCode, TenantId, TraceId,
};
use lookout_query::sql::run_sql;
use lookout_query::trace::get_trace;
use lookout_query::{QueryConfig, QueryError};
use lookout_storage::{Payload, StorageConfig, Store};

fn span(trace: u8, index: u8, parent: Option<u8>) -> Span {
    Span {
        trace_id: TraceId([trace; 16]),
        span_id: SpanId([index + 1; 8]),
        parent_span_id: parent.map(|p| SpanId([p + 1; 8])),
        trace_state: String::new(),
        flags: 0,
        name: format!("op-{index}"),
        kind: SpanKind::Server,
        start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(index) * 1_000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(index) * 1_000 + 500,
        attributes: vec![KeyValue::string("http.route", "/pay")],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status_code: StatusCode::Unset,
        status_message: String::new(),
    }
}

async fn store_with_spans(dir: &std::path::Path) -> Store {
    let mut registry = prometheus_client::registry::Registry::default();
    let store = Store::open(StorageConfig::new(dir), &mut registry)
        .await
        .expect("open store");
    // Spans arrive out of order; the trace API orders them.
    let records = vec![
        span(7, 2, Some(0)),
        span(7, 0, None),
        span(7, 1, Some(0)),
        span(9, 0, None),
    ];
    let batch = SpanBatch {
        resources: vec![ResourceGroup {
            resource: Resource {
                attributes: vec![KeyValue::string("service.name", "pay")],
                ..Resource::default()
            },
            scopes: vec![ScopeGroup {
                scope: Scope::default(),
                records,
            }],
        }],
    };
    store
        .writer()
        .append(&TenantId::default_tenant(), Payload::Spans(batch))
        .await
        .expect("append");
    store
}

#[tokio::test]
async fn sql_reads_limits_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_spans(dir.path()).await;
    let reader = store.reader();
    let tenant = TenantId::default_tenant();
    let config = QueryConfig::default();

    let outcome = run_sql(
        &reader,
        &tenant,
        "SELECT service_name, count(*) AS n FROM spans GROUP BY service_name",
        &config,
    )
    .await
    .unwrap();
    assert_eq!(outcome.columns[0].name, "service_name");
    assert_eq!(outcome.rows.len(), 1);
    assert_eq!(outcome.rows[0]["n"], 4);
    assert!(!outcome.truncated);

    let limited = QueryConfig {
        max_rows: 3,
        ..QueryConfig::default()
    };
    let outcome = run_sql(&reader, &tenant, "SELECT span_id FROM spans", &limited)
        .await
        .unwrap();
    assert_eq!(outcome.rows.len(), 3);
    assert!(outcome.truncated);

    for query in [
        "",
        "INSERT INTO spans SELECT * FROM spans",
        "COPY (SELECT 1) TO 'x.csv'",
        "CREATE VIEW v AS SELECT 1",
        "SELECT * FROM 'x.parquet'",
        "SELECT nope FROM spans",
    ] {
        let error = run_sql(&reader, &tenant, query, &config).await.unwrap_err();
        assert!(
            matches!(error, QueryError::BadRequest(_)),
            "{query}: {error:?}"
        );
    }

    // Another tenant sees nothing of the default tenant's data.
    let other = TenantId::new("other").unwrap();
    let outcome = run_sql(&reader, &other, "SELECT count(*) AS n FROM spans", &config)
        .await
        .unwrap();
    assert_eq!(outcome.rows[0]["n"], 0);
}

#[tokio::test]
async fn trace_is_ordered_and_unknown_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_spans(dir.path()).await;
    let reader = store.reader();
    let tenant = TenantId::default_tenant();
    let trace = get_trace(&reader, &tenant, &TraceId([7; 16]).to_hex())
        .await
        .unwrap();
    let names: Vec<_> = trace.spans.iter().map(|s| s["name"].clone()).collect();
    assert_eq!(names, ["op-0", "op-1", "op-2"]);
    assert!(trace.spans[0]["parent_span_id"].is_null());

    store.flush().await.unwrap();
    let trace = get_trace(&reader, &tenant, &TraceId([7; 16]).to_hex())
        .await
        .unwrap();
    assert_eq!(trace.spans.len(), 3, "same answer from Parquet");

    let missing = get_trace(&reader, &tenant, &TraceId([8; 16]).to_hex()).await;
    assert!(matches!(missing, Err(QueryError::NotFound(_))));
    let bad = get_trace(&reader, &tenant, "xyz").await;
    assert!(matches!(bad, Err(QueryError::BadRequest(_))));
}
