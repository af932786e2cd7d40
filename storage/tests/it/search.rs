//! Full-text search: tail and Parquet indexes, exactly once across flush, compaction, crash
//! points and restarts; fields, severities, time ranges, paging and histograms.

use datafusion::arrow::array::{Array, StringArray};
use lookout_model::search::{SearchField, SearchQuery};
use lookout_model::{AnyValue, KeyValue, Signal};
use lookout_storage::{CrashPoint, Payload, Reader, SearchCursor, SearchRequest, TimeRange};

use crate::support::{log, logs, open, recent_time, span, spans, tenant, trace_id};

const ALL_TIME: TimeRange = TimeRange {
    start_unix_nanos: i64::MIN,
    end_unix_nanos: i64::MAX,
};

fn term(text: &str) -> SearchQuery {
    SearchQuery::Term {
        field: SearchField::Text,
        text: text.into(),
    }
}

async fn search_page(
    reader: &Reader,
    signal: Signal,
    query: SearchQuery,
    range: TimeRange,
    limit: usize,
    after: Option<SearchCursor>,
) -> (Vec<String>, Option<SearchCursor>) {
    let page = reader
        .search(
            &tenant(),
            signal,
            SearchRequest {
                query,
                range,
                limit,
                after,
            },
        )
        .await
        .unwrap();
    let column = if signal == Signal::Logs {
        "body"
    } else {
        "name"
    };
    let values = page
        .rows
        .column_by_name(column)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let out = (0..values.len())
        .map(|row| values.value(row).to_owned())
        .collect();
    (out, page.next)
}

async fn bodies(reader: &Reader, query: SearchQuery) -> Vec<String> {
    search_page(reader, Signal::Logs, query, ALL_TIME, 1000, None)
        .await
        .0
}

#[tokio::test]
async fn search_finds_each_record_once_across_tail_flush_compaction_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let base = recent_time();
    {
        let store = open(dir.path()).await;
        let writer = store.writer();
        for chunk in 0..3u64 {
            let records = (0..10u64)
                .map(|i| {
                    let n = chunk * 10 + i;
                    let body = if n == 17 {
                        "payment declined for customer cust-9921".to_owned()
                    } else {
                        format!("request {n} served")
                    };
                    log(&body, base + n)
                })
                .collect();
            writer
                .append(&tenant(), Payload::Logs(logs(records)))
                .await
                .unwrap();
            if chunk < 2 {
                store.flush().await.unwrap();
            }
        }
        let reader = store.reader();
        // Two files and a tail.
        assert_eq!(bodies(&reader, term("served")).await.len(), 29);
        assert_eq!(
            bodies(&reader, term("declined")).await,
            vec!["payment declined for customer cust-9921"]
        );
        store.compact().await.unwrap();
        assert_eq!(bodies(&reader, term("served")).await.len(), 29);
        // The tail is not flushed: after a restart it comes back from the WAL.
    }
    let store = open(dir.path()).await;
    let reader = store.reader();
    assert_eq!(bodies(&reader, term("served")).await.len(), 29);
    assert_eq!(bodies(&reader, term("cust-9921")).await.len(), 1);
    store.flush().await.unwrap();
    assert_eq!(bodies(&reader, term("served")).await.len(), 29);
    assert_eq!(bodies(&reader, SearchQuery::All).await.len(), 30);
}

#[tokio::test]
async fn crash_after_parquet_write_or_manifest_replace_keeps_hits_exactly_once() {
    for crash in [
        CrashPoint::AfterParquetWrite,
        CrashPoint::AfterManifestReplace,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let base = recent_time();
        {
            let store = open(dir.path()).await;
            let records = (0..20)
                .map(|i| log(&format!("needle {i}"), base + i))
                .collect();
            store
                .writer()
                .append(&tenant(), Payload::Logs(logs(records)))
                .await
                .unwrap();
            store.flush_until_crash(crash).await.unwrap();
        }
        let store = open(dir.path()).await;
        assert_eq!(
            bodies(&store.reader(), term("needle")).await.len(),
            20,
            "{crash:?}"
        );
        store.flush().await.unwrap();
        assert_eq!(bodies(&store.reader(), term("needle")).await.len(), 20);
    }
}

#[tokio::test]
async fn fields_severities_phrases_prefixes_and_time_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let base = recent_time();
    let mut error = log("charge failed: card expired", base + 1);
    error.severity_number = 17;
    error.trace_id = Some(trace_id(7));
    error.attributes = vec![KeyValue::string("http.route", "/api/pay")];
    let mut warn = log("retrying charge", base + 2);
    warn.severity_number = 13;
    let mut structured = log("", base + 3);
    structured.body = Some(AnyValue::KvList(vec![
        KeyValue::string("user", "alice"),
        KeyValue {
            key: "code".into(),
            value: AnyValue::Int(42),
        },
    ]));
    let info = log("charge ok", base + 4);
    store
        .writer()
        .append(
            &tenant(),
            Payload::Logs(logs(vec![error, warn, structured, info])),
        )
        .await
        .unwrap();
    let reader = store.reader();
    let severity_at_least_warn = SearchQuery::Severity { min: 13, max: 24 };
    for flushed in [false, true] {
        assert_eq!(
            bodies(&reader, severity_at_least_warn.clone()).await,
            vec!["retrying charge", "charge failed: card expired"],
            "flushed {flushed}"
        );
        assert_eq!(
            bodies(
                &reader,
                SearchQuery::Phrase {
                    field: SearchField::Text,
                    text: "card expired".into()
                }
            )
            .await
            .len(),
            1
        );
        assert!(
            bodies(
                &reader,
                SearchQuery::Phrase {
                    field: SearchField::Text,
                    text: "expired card".into()
                }
            )
            .await
            .is_empty()
        );
        assert_eq!(
            bodies(
                &reader,
                SearchQuery::Prefix {
                    field: SearchField::Text,
                    prefix: "char".into()
                }
            )
            .await
            .len(),
            3
        );
        assert_eq!(
            bodies(
                &reader,
                SearchQuery::Phrase {
                    field: SearchField::Attribute("http.route".into()),
                    text: "/api/pay".into()
                }
            )
            .await
            .len(),
            1
        );
        assert_eq!(
            bodies(
                &reader,
                SearchQuery::Term {
                    field: SearchField::TraceId,
                    text: trace_id(7).to_hex().to_uppercase()
                }
            )
            .await
            .len(),
            1
        );
        assert_eq!(
            bodies(
                &reader,
                SearchQuery::And(vec![
                    SearchQuery::Term {
                        field: SearchField::Body("code".into()),
                        text: "42".into()
                    },
                    term("alice"),
                ])
            )
            .await
            .len(),
            1
        );
        assert_eq!(
            bodies(
                &reader,
                SearchQuery::And(vec![term("charge"), SearchQuery::Not(Box::new(term("ok")))])
            )
            .await
            .len(),
            2
        );
        assert_eq!(
            bodies(
                &reader,
                SearchQuery::Or(vec![term("alice"), term("retrying")])
            )
            .await
            .len(),
            2
        );
        assert_eq!(
            bodies(
                &reader,
                SearchQuery::Term {
                    field: SearchField::Service,
                    text: "checkout".into()
                }
            )
            .await
            .len(),
            4
        );
        let range = TimeRange {
            start_unix_nanos: (base + 2) as i64,
            end_unix_nanos: (base + 3) as i64,
        };
        let (in_range, _) =
            search_page(&reader, Signal::Logs, term("charge"), range, 10, None).await;
        assert_eq!(in_range, vec!["retrying charge"]);
        let histogram = reader
            .search_histogram(
                &tenant(),
                Signal::Logs,
                term("charge"),
                TimeRange {
                    start_unix_nanos: base as i64,
                    end_unix_nanos: (base + 5) as i64,
                },
                2,
            )
            .await
            .unwrap();
        assert_eq!(histogram, vec![1, 1, 1]);
        store.flush().await.unwrap();
    }
}

#[tokio::test]
async fn paging_returns_every_record_once_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let base = recent_time();
    // Pairs of records share a timestamp, so pages split ties.
    let records: Vec<_> = (0..25u64)
        .map(|i| log(&format!("page item {i}"), base + i / 2))
        .collect();
    store
        .writer()
        .append(&tenant(), Payload::Logs(logs(records[..12].to_vec())))
        .await
        .unwrap();
    store.flush().await.unwrap();
    store
        .writer()
        .append(&tenant(), Payload::Logs(logs(records[12..].to_vec())))
        .await
        .unwrap();
    let reader = store.reader();
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let (page, next) =
            search_page(&reader, Signal::Logs, term("item"), ALL_TIME, 3, cursor).await;
        pages += 1;
        seen.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 9);
    assert_eq!(seen.len(), 25);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 25, "no record twice: {seen:?}");
    assert!(seen[0].ends_with(" 24"), "newest first: {seen:?}");
}

#[tokio::test]
async fn spans_are_searchable_by_name_events_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let base = recent_time();
    let mut failed = span(1, 1, base);
    failed.name = "POST /checkout".into();
    failed.status_code = lookout_model::StatusCode::Error;
    failed.status_message = "inventory unavailable".into();
    failed.events = vec![lookout_model::SpanEvent {
        time_unix_nano: base + 10,
        name: "exception".into(),
        attributes: vec![KeyValue::string("exception.type", "TimeoutError")],
        dropped_attributes_count: 0,
    }];
    let ok = span(1, 2, base + 5);
    store
        .writer()
        .append(&tenant(), Payload::Spans(spans(vec![failed, ok])))
        .await
        .unwrap();
    let reader = store.reader();
    for _ in 0..2 {
        for (query, expected) in [
            (term("timeouterror"), vec!["POST /checkout"]),
            (term("exception"), vec!["POST /checkout"]),
            (term("unavailable"), vec!["POST /checkout"]),
            (
                SearchQuery::Term {
                    field: SearchField::Status,
                    text: "error".into(),
                },
                vec!["POST /checkout"],
            ),
            (
                SearchQuery::Term {
                    field: SearchField::Name,
                    text: "op-2".into(),
                },
                vec!["op-2"],
            ),
            (SearchQuery::All, vec!["op-2", "POST /checkout"]),
        ] {
            let (names, _) =
                search_page(&reader, Signal::Traces, query.clone(), ALL_TIME, 10, None).await;
            assert_eq!(names, expected, "{query:?}");
        }
        store.flush().await.unwrap();
    }
}

fn parse_words(text: &str) -> Result<SearchQuery, String> {
    if text.contains('(') {
        return Err(format!("cannot parse `{text}`"));
    }
    let terms: Vec<SearchQuery> = text.split_whitespace().map(term).collect();
    Ok(SearchQuery::And(terms))
}

#[tokio::test]
async fn sql_matches_is_answered_from_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let base = recent_time();
    let mut error = log("payment declined for cust-1", base + 1);
    error.severity_number = 17;
    store
        .writer()
        .append(
            &tenant(),
            Payload::Logs(logs(vec![error, log("payment ok", base + 2)])),
        )
        .await
        .unwrap();
    store.flush().await.unwrap();
    store
        .writer()
        .append(
            &tenant(),
            Payload::Logs(logs(vec![log("payment declined again", base + 3)])),
        )
        .await
        .unwrap();
    let context = store
        .reader()
        .session_context_with_search(&tenant(), parse_words)
        .unwrap();
    let sql = |query: &'static str| {
        let context = context.clone();
        async move {
            let batches = context.sql(query).await?.collect().await?;
            let mut out = Vec::new();
            for batch in batches {
                let column = batch
                    .column(batch.num_columns() - 1)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap();
                for row in 0..column.len() {
                    out.push(column.value(row).to_owned());
                }
            }
            out.sort();
            Ok::<_, datafusion::error::DataFusionError>(out)
        }
    };
    assert_eq!(
        sql("SELECT body FROM logs WHERE matches(body, 'declined')")
            .await
            .unwrap(),
        vec!["payment declined again", "payment declined for cust-1"]
    );
    assert_eq!(
        sql("SELECT body FROM logs WHERE matches(body, 'payment') AND severity_number >= 13")
            .await
            .unwrap(),
        vec!["payment declined for cust-1"]
    );
    assert_eq!(
        sql("SELECT body FROM logs WHERE matches(body, 'declined') AND matches(body, 'again')")
            .await
            .unwrap(),
        vec!["payment declined again"]
    );
    let plan = sql("EXPLAIN SELECT body FROM logs WHERE matches(body, 'declined')")
        .await
        .unwrap()
        .join("\n");
    assert!(
        !plan.contains("FilterExec"),
        "bodies are not filtered: {plan}"
    );
    let error = sql("SELECT body FROM logs WHERE matches(body, 'a (')")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("cannot parse"), "{error}");
    let error = sql("SELECT matches(body, 'x') FROM logs")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("WHERE"), "{error}");
}
