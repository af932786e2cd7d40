//! Crash consistency: every acknowledged record is present exactly once after a simulated
//! `kill -9` at any step of flush or compaction.

use std::path::Path;

use lookout_storage::{CrashPoint, Payload, Store, TimeRange};

use crate::support::{
    assert_disk_matches_manifest, count, cumulative_sum, files_with_extension, log, logs, open,
    recent_time, span, spans, tenant,
};

/// Appends `n` spans, `n` log records and `n` metric points numbered from `first`.
async fn append_each_signal(store: &Store, first: u64, n: u64) {
    let writer = store.writer();
    let time = recent_time();
    for i in first..first + n {
        writer
            .append(
                &tenant(),
                Payload::Spans(spans(vec![span(u128::from(i), i, time + i)])),
            )
            .await
            .unwrap();
        writer
            .append(
                &tenant(),
                Payload::Logs(logs(vec![log(&format!("log-{i}"), time + i)])),
            )
            .await
            .unwrap();
        writer
            .append(
                &tenant(),
                Payload::Metrics(cumulative_sum("requests", &[(time + i, i as i64)])),
            )
            .await
            .unwrap();
    }
}

/// Asserts each table holds exactly `n` distinct records.
async fn assert_exactly(store: &Store, n: i64) {
    let reader = store.reader();
    let checks = [
        ("SELECT count(*) FROM spans", n),
        ("SELECT count(DISTINCT span_id) FROM spans", n),
        ("SELECT count(*) FROM logs", n),
        ("SELECT count(DISTINCT body) FROM logs", n),
        ("SELECT count(*) FROM metrics", n),
        ("SELECT count(DISTINCT value) FROM metrics", n),
        ("SELECT CAST(sum(calls) AS BIGINT) FROM span_rollups", n),
    ];
    for (sql, expected) in checks {
        assert_eq!(count(&reader, sql).await, expected, "{sql}");
    }
    // The RED rollups count every acknowledged span exactly once, flushed or not.
    let rollups = reader
        .span_rollups(
            &tenant(),
            TimeRange {
                start_unix_nanos: 0,
                end_unix_nanos: i64::MAX,
            },
        )
        .await
        .unwrap();
    let calls: u64 = rollups.iter().map(|(_, cell)| cell.calls).sum();
    let sketched: u64 = rollups.iter().map(|(_, cell)| cell.duration.count()).sum();
    assert_eq!((calls, sketched), (n as u64, n as u64), "rollup calls");
}

fn parquet_files(dir: &Path) -> usize {
    files_with_extension(&dir.join("tenants"), "parquet").len()
}

#[tokio::test]
async fn acknowledged_records_survive_a_crash_without_flush() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        append_each_signal(&store, 0, 5).await;
    }
    let store = open(dir.path()).await;
    assert_exactly(&store, 5).await;
    // And again, after one more restart on top of the replayed state.
    drop(store);
    let store = open(dir.path()).await;
    assert_exactly(&store, 5).await;
}

#[tokio::test]
async fn crash_after_parquet_write_before_manifest() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        append_each_signal(&store, 0, 4).await;
        store
            .flush_until_crash(CrashPoint::AfterParquetWrite)
            .await
            .unwrap();
        assert_eq!(
            parquet_files(dir.path()),
            3,
            "one file per signal was written"
        );
    }
    let store = open(dir.path()).await;
    assert_eq!(
        parquet_files(dir.path()),
        0,
        "unlisted files are deleted on open"
    );
    assert!(store.manifest().files.is_empty());
    assert_disk_matches_manifest(dir.path(), &store.manifest());
    assert_exactly(&store, 4).await;
    store.flush().await.unwrap();
    assert_exactly(&store, 4).await;
    drop(store);
    let store = open(dir.path()).await;
    assert_exactly(&store, 4).await;
}

#[tokio::test]
async fn crash_after_manifest_replace_before_wal_cleanup() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        append_each_signal(&store, 0, 4).await;
        store
            .flush_until_crash(CrashPoint::AfterManifestReplace)
            .await
            .unwrap();
    }
    let store = open(dir.path()).await;
    let manifest = store.manifest();
    assert_eq!(manifest.files.len(), 3);
    assert_disk_matches_manifest(dir.path(), &manifest);
    let checkpoint = manifest.wal_checkpoint_segment.unwrap();
    for segment in files_with_extension(&dir.path().join("wal"), "wal") {
        let id: u64 = segment
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            id > checkpoint,
            "segment {id} is covered by checkpoint {checkpoint}"
        );
    }
    assert_exactly(&store, 4).await;
}

#[tokio::test]
async fn crash_after_flush_with_more_unflushed_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        append_each_signal(&store, 0, 3).await;
        store.flush().await.unwrap();
        append_each_signal(&store, 3, 3).await;
        assert_exactly(&store, 6).await;
    }
    let store = open(dir.path()).await;
    assert_exactly(&store, 6).await;
}

async fn store_with_two_files_per_signal(dir: &Path) -> Store {
    let store = open(dir).await;
    append_each_signal(&store, 0, 3).await;
    store.flush().await.unwrap();
    append_each_signal(&store, 3, 3).await;
    store.flush().await.unwrap();
    assert_eq!(store.manifest().files.len(), 6);
    store
}

#[tokio::test]
async fn compaction_crash_points_keep_rows_exactly_once() {
    for crash in [
        CrashPoint::AfterParquetWrite,
        CrashPoint::AfterManifestReplace,
    ] {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = store_with_two_files_per_signal(dir.path()).await;
            store.compact_until_crash(crash).await.unwrap();
            assert_eq!(
                parquet_files(dir.path()),
                7,
                "{crash:?}: merged file written"
            );
        }
        let store = open(dir.path()).await;
        let listed = store.manifest().files.len();
        let expected_listed = match crash {
            CrashPoint::AfterParquetWrite => 6,
            CrashPoint::AfterManifestReplace => 5,
        };
        assert_eq!(listed, expected_listed, "{crash:?}");
        assert_eq!(
            parquet_files(dir.path()),
            listed,
            "{crash:?}: garbage deleted on open"
        );
        assert_disk_matches_manifest(dir.path(), &store.manifest());
        assert_exactly(&store, 6).await;
    }
}

#[tokio::test]
async fn compaction_then_crash_keeps_rows_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = store_with_two_files_per_signal(dir.path()).await;
        store.compact().await.unwrap();
        assert_eq!(store.manifest().files.len(), 3);
        assert_exactly(&store, 6).await;
        append_each_signal(&store, 6, 1).await;
    }
    let store = open(dir.path()).await;
    assert_eq!(store.manifest().files.len(), 3);
    assert_eq!(
        parquet_files(dir.path()),
        3,
        "compacted inputs are deleted on open"
    );
    assert_disk_matches_manifest(dir.path(), &store.manifest());
    assert_exactly(&store, 7).await;
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let first = crate::support::open(dir.path()).await;
    let mut registry = prometheus_client::registry::Registry::default();
    let second =
        lookout_storage::Store::open(crate::support::config(dir.path()), &mut registry).await;
    match second {
        Err(error) => assert!(error.to_string().contains("in use"), "{error}"),
        Ok(_) => panic!("two stores opened one directory"),
    }
    drop(first);
    let mut registry = prometheus_client::registry::Registry::default();
    let reopened =
        lookout_storage::Store::open(crate::support::config(dir.path()), &mut registry).await;
    assert!(reopened.is_ok(), "the lock is released with the store");
}
