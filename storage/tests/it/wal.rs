//! WAL durability: torn tails at every byte offset, corruption in the middle, group commit.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lookout_storage::Payload;

use crate::support::{
    copy_dir, count, files_with_extension, log, logs, metric_value, now_nanos, open,
    open_with_registry, rows, tenant,
};

/// Offsets where each frame of a WAL segment starts.
fn frame_starts(segment: &Path) -> Vec<usize> {
    let bytes = std::fs::read(segment).unwrap();
    let mut starts = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        starts.push(offset);
        let len = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        offset += 8 + len;
    }
    assert_eq!(offset, bytes.len(), "segment ends on a frame boundary");
    starts
}

fn only_segment(dir: &Path) -> PathBuf {
    let segments: Vec<PathBuf> = files_with_extension(&dir.join("wal"), "wal")
        .into_iter()
        .filter(|path| std::fs::metadata(path).unwrap().len() > 0)
        .collect();
    assert_eq!(segments.len(), 1, "{segments:?}");
    segments.into_iter().next().unwrap()
}

async fn bodies(dir: &Path) -> Vec<String> {
    let store = open(dir).await;
    let found = rows(&store.reader(), "SELECT body FROM logs ORDER BY body").await;
    found.into_iter().map(|row| row[0].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_at_every_offset_of_the_last_record() {
    const RECORDS: usize = 4;
    let original = tempfile::tempdir().unwrap();
    let time = now_nanos();
    {
        let store = open(original.path()).await;
        for i in 0..RECORDS {
            let body = format!("record-{i}");
            store
                .writer()
                .append(&tenant(), Payload::Logs(logs(vec![log(&body, time)])))
                .await
                .unwrap();
        }
    }
    let segment = only_segment(original.path());
    let starts = frame_starts(&segment);
    assert_eq!(starts.len(), RECORDS);
    let last_start = starts[RECORDS - 1];
    let full_len = std::fs::metadata(&segment).unwrap().len() as usize;
    let expected: Vec<String> = (0..RECORDS - 1).map(|i| format!("record-{i}")).collect();

    for cut in last_start..full_len {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(original.path(), copy.path());
        let copied_segment = copy.path().join("wal").join(segment.file_name().unwrap());
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&copied_segment)
            .unwrap();
        file.set_len(cut as u64).unwrap();
        drop(file);

        let (store, registry) = open_with_registry(copy.path()).await;
        let found = rows(&store.reader(), "SELECT body FROM logs ORDER BY body").await;
        let found: Vec<String> = found.into_iter().map(|row| row[0].clone()).collect();
        assert_eq!(found, expected, "cut at byte {cut}");
        assert_eq!(
            metric_value(&registry, "lookout_wal_truncated_bytes_total") as usize,
            cut - last_start,
            "cut at byte {cut}"
        );
        assert_eq!(
            std::fs::metadata(&copied_segment).unwrap().len() as usize,
            last_start
        );
        store
            .writer()
            .append(&tenant(), Payload::Logs(logs(vec![log("after", time)])))
            .await
            .unwrap();
        assert_eq!(
            count(&store.reader(), "SELECT count(*) FROM logs").await,
            RECORDS as i64
        );
        drop(store);
        let mut again = expected.clone();
        again.insert(0, "after".to_owned());
        assert_eq!(
            bodies(copy.path()).await,
            again,
            "reopen after cut at byte {cut}"
        );
    }
}

#[tokio::test]
async fn corrupt_checksum_in_the_middle_keeps_the_good_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let time = now_nanos();
    {
        let store = open(dir.path()).await;
        for i in 0..5 {
            store
                .writer()
                .append(
                    &tenant(),
                    Payload::Logs(logs(vec![log(&format!("r{i}"), time)])),
                )
                .await
                .unwrap();
        }
    }
    let segment = only_segment(dir.path());
    let starts = frame_starts(&segment);
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[starts[2] + 4] ^= 0x5a; // the checksum of the third frame
    std::fs::write(&segment, &bytes).unwrap();

    let (store, registry) = open_with_registry(dir.path()).await;
    let found = rows(&store.reader(), "SELECT body FROM logs ORDER BY body").await;
    assert_eq!(found, vec![vec!["r0".to_owned()], vec!["r1".to_owned()]]);
    assert_eq!(
        metric_value(&registry, "lookout_wal_truncated_bytes_total") as usize,
        bytes.len() - starts[2]
    );
    assert_eq!(
        metric_value(&registry, "lookout_wal_replayed_records_total"),
        2.0
    );
    store
        .writer()
        .append(&tenant(), Payload::Logs(logs(vec![log("r9", time)])))
        .await
        .unwrap();
    drop(store);
    assert_eq!(bodies(dir.path()).await, vec!["r0", "r1", "r9"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_share_syncs_and_all_land_once() {
    const APPENDS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let time = now_nanos();
    {
        let (store, registry) = open_with_registry(dir.path()).await;
        let writer = Arc::new(store.writer());
        let tasks: Vec<_> = (0..APPENDS)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .append(
                            &tenant(),
                            Payload::Logs(logs(vec![log(&format!("c{i:03}"), time)])),
                        )
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let reader = store.reader();
        assert_eq!(
            count(&reader, "SELECT count(*) FROM logs").await,
            APPENDS as i64
        );
        assert_eq!(
            count(&reader, "SELECT count(DISTINCT body) FROM logs").await,
            APPENDS as i64
        );
        let syncs = metric_value(&registry, "lookout_wal_syncs_total");
        assert!((1.0..=APPENDS as f64).contains(&syncs), "syncs {syncs}");
    }
    let store = open(dir.path()).await;
    let reader = store.reader();
    assert_eq!(
        count(&reader, "SELECT count(*) FROM logs").await,
        APPENDS as i64
    );
    assert_eq!(
        count(&reader, "SELECT count(DISTINCT body) FROM logs").await,
        APPENDS as i64
    );
}
