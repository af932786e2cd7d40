//! Reads over tail + Parquet: visibility, flush, compaction, retention, backfill,
//! duplicate metric points, trace lookups and backpressure.

use datafusion::arrow::array::Array;
use lookout_storage::{ErrorKind, Payload, StorageError};

use crate::support::{
    DAY_NANOS, HOUR_NANOS, assert_disk_matches_manifest, config, count, cumulative_sum, log, logs,
    metric_value, open, open_with, open_with_registry, recent_time, rows, span, spans, tenant,
    trace_id,
};

#[tokio::test]
async fn records_are_queryable_as_soon_as_append_returns() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let reader = store.reader();
    let writer = store.writer();
    for i in 0..5 {
        writer
            .append(
                &tenant(),
                Payload::Logs(logs(vec![log("x", recent_time() + i)])),
            )
            .await
            .unwrap();
        assert_eq!(
            count(&reader, "SELECT count(*) FROM logs").await,
            i as i64 + 1
        );
    }
    let other = lookout_model::TenantId::new("other").unwrap();
    let context = reader.session_context(&other).unwrap();
    let batches = context
        .sql("SELECT count(*) FROM logs")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(crate::support::total_rows(&batches), 1);
    let counted = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(counted, 0, "tenants are isolated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_once_while_a_flush_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path()).await);
    let records: Vec<_> = (0..2_000)
        .map(|i| log(&format!("l{i}"), recent_time() + i))
        .collect();
    store
        .writer()
        .append(&tenant(), Payload::Logs(logs(records)))
        .await
        .unwrap();
    let flushing = {
        let store = store.clone();
        tokio::spawn(async move { store.flush().await })
    };
    let reader = store.reader();
    let mut observations = 0;
    loop {
        let finished = flushing.is_finished();
        assert_eq!(count(&reader, "SELECT count(*) FROM logs").await, 2_000);
        observations += 1;
        if finished {
            break;
        }
    }
    flushing.await.unwrap().unwrap();
    assert!(observations >= 1);
    assert_eq!(store.manifest().files.len(), 1);
    assert_eq!(count(&reader, "SELECT count(*) FROM logs").await, 2_000);
    assert_eq!(
        count(&reader, "SELECT count(DISTINCT body) FROM logs").await,
        2_000
    );
}

#[tokio::test]
async fn compaction_merges_a_partition_and_keeps_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let reader = store.reader();
    for round in 0..3u64 {
        let records = (0..10)
            .map(|i| log(&format!("r{round}-{i}"), recent_time() + round * 100 + i))
            .collect();
        store
            .writer()
            .append(&tenant(), Payload::Logs(logs(records)))
            .await
            .unwrap();
        store.flush().await.unwrap();
    }
    assert_eq!(store.manifest().files.len(), 3);
    let before = rows(&reader, "SELECT body, timestamp FROM logs ORDER BY body").await;
    store.compact().await.unwrap();
    let manifest = store.manifest();
    assert_eq!(manifest.files.len(), 1);
    assert_eq!(manifest.files[0].rows, 30);
    let after = rows(&reader, "SELECT body, timestamp FROM logs ORDER BY body").await;
    assert_eq!(before, after);
    assert_eq!(before.len(), 30);
}

#[tokio::test]
async fn retention_drops_old_hour_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let (store, registry) = open_with_registry(dir.path()).await;
    let old = recent_time() - 10 * DAY_NANOS;
    let records = vec![
        log("old-1", old),
        log("old-2", old + 1),
        log("new", recent_time()),
    ];
    store
        .writer()
        .append(&tenant(), Payload::Logs(logs(records)))
        .await
        .unwrap();
    store.flush().await.unwrap();
    assert_eq!(store.manifest().files.len(), 2);
    assert_eq!(store.enforce_retention().await.unwrap(), 1);
    assert_eq!(store.enforce_retention().await.unwrap(), 0);
    let manifest = store.manifest();
    assert_eq!(manifest.files.len(), 1);
    assert!(manifest.files[0].min_time_unix_nanos >= (recent_time() - HOUR_NANOS) as i64);
    assert_eq!(
        rows(&store.reader(), "SELECT body FROM logs").await,
        vec![vec!["new".to_owned()]]
    );
    assert_eq!(
        metric_value(
            &registry,
            "lookout_storage_retention_dropped_partitions_total"
        ),
        1.0
    );
    drop(store);
    let store = open(dir.path()).await;
    assert_eq!(
        rows(&store.reader(), "SELECT body FROM logs").await,
        vec![vec!["new".to_owned()]]
    );
}

#[tokio::test]
async fn compaction_and_retention_replace_and_delete_every_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let old = recent_time() - 10 * DAY_NANOS;
    for round in 0..2u64 {
        let writer = store.writer();
        for (i, time) in [old, recent_time()].into_iter().enumerate() {
            let id = round * 10 + i as u64;
            writer
                .append(
                    &tenant(),
                    Payload::Spans(spans(vec![span(u128::from(id), id, time + id)])),
                )
                .await
                .unwrap();
            writer
                .append(
                    &tenant(),
                    Payload::Logs(logs(vec![log(&format!("log-{id}"), time + id)])),
                )
                .await
                .unwrap();
        }
        store.flush().await.unwrap();
    }
    assert_eq!(store.manifest().files.len(), 8);
    assert_disk_matches_manifest(dir.path(), &store.manifest());
    store.compact().await.unwrap();
    assert_eq!(store.manifest().files.len(), 4);
    assert_eq!(store.enforce_retention().await.unwrap(), 2);
    let manifest = store.manifest();
    assert_eq!(manifest.files.len(), 2);
    assert_eq!(
        count(&store.reader(), "SELECT count(*) FROM spans").await,
        2
    );
    assert_eq!(
        count(
            &store.reader(),
            "SELECT CAST(sum(calls) AS BIGINT) FROM span_rollups"
        )
        .await,
        2
    );
    drop(store);
    // Replaced and dropped files wait out a grace period; the next open deletes them.
    let store = open(dir.path()).await;
    assert_eq!(store.manifest().files, manifest.files);
    assert_disk_matches_manifest(dir.path(), &manifest);
    assert_eq!(
        count(
            &store.reader(),
            "SELECT CAST(sum(calls) AS BIGINT) FROM span_rollups"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn backfilled_records_are_stored_in_their_hour_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let three_days_ago = recent_time() - 3 * DAY_NANOS;
    store
        .writer()
        .append(
            &tenant(),
            Payload::Logs(logs(vec![log("late", three_days_ago)])),
        )
        .await
        .unwrap();
    store
        .writer()
        .append(
            &tenant(),
            Payload::Spans(spans(vec![span(1, 1, three_days_ago)])),
        )
        .await
        .unwrap();
    store.flush().await.unwrap();
    let manifest = store.manifest();
    assert_eq!(manifest.files.len(), 2);
    let hour_secs = (three_days_ago / HOUR_NANOS * 3600) as i64;
    for file in &manifest.files {
        assert_eq!(file.hour_unix_secs, hour_secs);
        assert!(dir.path().join(&file.path).is_file());
        assert!(file.path.contains(&format!("/{}/", file.signal.as_str())));
    }
    let reader = store.reader();
    let sql = "SELECT body FROM logs WHERE timestamp < now() - interval '2 days'";
    assert_eq!(rows(&reader, sql).await, vec![vec!["late".to_owned()]]);
    let sql = "SELECT count(*) FROM logs WHERE timestamp > now() - interval '1 day'";
    assert_eq!(count(&reader, sql).await, 0);
    assert_eq!(count(&reader, "SELECT count(*) FROM spans").await, 1);
}

#[tokio::test]
async fn duplicate_cumulative_points_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (store, registry) = open_with_registry(dir.path()).await;
    let t = recent_time();
    let first = cumulative_sum("http.requests", &[(t, 10), (t + 1_000, 12)]);
    store
        .writer()
        .append(&tenant(), Payload::Metrics(first.clone()))
        .await
        .unwrap();
    store
        .writer()
        .append(&tenant(), Payload::Metrics(first))
        .await
        .unwrap();
    let overlapping = cumulative_sum("http.requests", &[(t + 1_000, 12), (t + 2_000, 15)]);
    store
        .writer()
        .append(&tenant(), Payload::Metrics(overlapping))
        .await
        .unwrap();
    let reader = store.reader();
    let values = rows(&reader, "SELECT value FROM metrics ORDER BY timestamp").await;
    assert_eq!(values, vec![vec!["10.0"], vec!["12.0"], vec!["15.0"]]);
    assert_eq!(
        metric_value(&registry, "lookout_storage_duplicate_points_dropped_total"),
        3.0
    );
    drop(reader);
    drop(store);
    // Replay remembers the points, so a re-send after a restart is still dropped.
    let store = open(dir.path()).await;
    let again = cumulative_sum("http.requests", &[(t, 10)]);
    store
        .writer()
        .append(&tenant(), Payload::Metrics(again))
        .await
        .unwrap();
    assert_eq!(
        count(&store.reader(), "SELECT count(*) FROM metrics").await,
        3
    );
}

#[tokio::test]
async fn traces_are_found_across_the_tail_and_several_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let writer = store.writer();
    let t = recent_time();
    let wanted = 7u128;
    let mut first = span(wanted, 1, t + 500);
    first.end_time_unix_nano = t + 9_000;
    writer
        .append(
            &tenant(),
            Payload::Spans(spans(vec![first, span(8, 10, t)])),
        )
        .await
        .unwrap();
    store.flush().await.unwrap();
    writer
        .append(
            &tenant(),
            Payload::Spans(spans(vec![span(wanted, 2, t + 100)])),
        )
        .await
        .unwrap();
    writer
        .append(&tenant(), Payload::Spans(spans(vec![span(9, 11, t)])))
        .await
        .unwrap();
    store.flush().await.unwrap();
    let mut last = span(wanted, 3, t + 300);
    last.parent_span_id = Some(crate::support::span_id(1));
    writer
        .append(&tenant(), Payload::Spans(spans(vec![last])))
        .await
        .unwrap();
    assert_eq!(store.manifest().files.len(), 2);

    let reader = store.reader();
    let check = |batches: Vec<datafusion::arrow::record_batch::RecordBatch>| {
        let names: Vec<String> = batches
            .iter()
            .flat_map(|batch| {
                let column = batch.column_by_name("name").unwrap();
                let names = column
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::StringArray>()
                    .unwrap();
                (0..names.len())
                    .map(|i| names.value(i).to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(names, vec!["op-2", "op-3", "op-1"], "sorted by start time");
        for batch in &batches {
            assert_eq!(
                batch.schema().fields().len(),
                lookout_storage::spans_schema().fields().len()
            );
        }
    };
    check(
        reader
            .trace_spans(&tenant(), &trace_id(wanted))
            .await
            .unwrap(),
    );
    let range = reader
        .trace_time_range(&tenant(), &trace_id(wanted))
        .unwrap();
    assert_eq!(range.start_unix_nanos, (t + 100) as i64);
    assert_eq!(range.end_unix_nanos, (t + 9_000) as i64);

    assert!(
        reader
            .trace_spans(&tenant(), &trace_id(1_000))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(reader.trace_time_range(&tenant(), &trace_id(1_000)), None);
    let other = lookout_model::TenantId::new("other").unwrap();
    assert_eq!(reader.trace_time_range(&other, &trace_id(wanted)), None);

    // After a restart the sidecars are loaded and the tail is replayed.
    drop(reader);
    drop(writer);
    drop(store);
    let store = open(dir.path()).await;
    let reader = store.reader();
    check(
        reader
            .trace_spans(&tenant(), &trace_id(wanted))
            .await
            .unwrap(),
    );
    assert_eq!(
        reader.trace_time_range(&tenant(), &trace_id(wanted)),
        Some(range)
    );
    store.flush().await.unwrap();
    store.compact().await.unwrap();
    assert_eq!(store.manifest().files.len(), 1);
    check(
        reader
            .trace_spans(&tenant(), &trace_id(wanted))
            .await
            .unwrap(),
    );
    assert_eq!(
        reader.trace_time_range(&tenant(), &trace_id(wanted)),
        Some(range)
    );
}

#[tokio::test]
async fn appends_fail_fast_when_the_tail_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.max_unflushed_bytes = 1;
    let store = open_with(config).await;
    let writer = store.writer();
    writer
        .append(
            &tenant(),
            Payload::Logs(logs(vec![log("a", recent_time())])),
        )
        .await
        .unwrap();
    let error = writer
        .append(
            &tenant(),
            Payload::Logs(logs(vec![log("b", recent_time())])),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, StorageError::Overloaded(_)), "{error}");
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    store.flush().await.unwrap();
    writer
        .append(
            &tenant(),
            Payload::Logs(logs(vec![log("b", recent_time())])),
        )
        .await
        .unwrap();
    assert_eq!(count(&store.reader(), "SELECT count(*) FROM logs").await, 2);
}

#[tokio::test]
async fn time_filters_prune_files_without_changing_results() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let t = recent_time();
    for hours_back in [0u64, 5, 30] {
        let time = t - hours_back * HOUR_NANOS;
        store
            .writer()
            .append(
                &tenant(),
                Payload::Logs(logs(vec![log(&format!("h{hours_back}"), time)])),
            )
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    assert_eq!(store.manifest().files.len(), 3);
    store
        .writer()
        .append(&tenant(), Payload::Logs(logs(vec![log("tail", t)])))
        .await
        .unwrap();
    let reader = store.reader();
    let since = t - 6 * HOUR_NANOS;
    let sql = format!(
        "SELECT body FROM logs WHERE timestamp >= to_timestamp_nanos({since}) ORDER BY body"
    );
    assert_eq!(
        rows(&reader, &sql).await,
        vec![vec!["h0"], vec!["h5"], vec!["tail"]]
    );
    let plan = rows(&reader, &format!("EXPLAIN {sql}")).await;
    let text = format!("{plan:?}");
    assert_eq!(
        text.matches(".parquet").count(),
        2,
        "one file pruned by time: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_loop_flushes_on_row_count_and_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.flush_max_rows = 5;
    let store = std::sync::Arc::new(open_with(config).await);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let background = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .run_background(async move {
                    let _ = stopped.await;
                })
                .await
        })
    };
    let records = (0..5)
        .map(|i| log(&format!("b{i}"), recent_time() + i))
        .collect();
    store
        .writer()
        .append(&tenant(), Payload::Logs(logs(records)))
        .await
        .unwrap();
    // The row-count trigger flushes without waiting for the (hour-long) interval.
    let mut waited = 0;
    while store.manifest().files.is_empty() {
        assert!(waited < 600, "no flush after the row-count trigger");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    store
        .writer()
        .append(
            &tenant(),
            Payload::Logs(logs(vec![log("last", recent_time())])),
        )
        .await
        .unwrap();
    stop.send(()).unwrap();
    background.await.unwrap().unwrap();
    let manifest = store.manifest();
    assert_eq!(manifest.files.iter().map(|file| file.rows).sum::<u64>(), 6);
    assert_eq!(count(&store.reader(), "SELECT count(*) FROM logs").await, 6);
}
