//! A real Prometheus server (the Debian package, installed by `scripts/prometheus.sh`) scrapes
//! itself every second and remote-writes to Lookout; the same PromQL queries then answer the
//! same from Prometheus' API and from Lookout's `/prometheus` API.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::Daemon;

struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus_binary() -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("bash")
        .arg(Path::new(root).join("scripts/prometheus.sh"))
        .output()
        .expect("run scripts/prometheus.sh");
    assert!(
        output.status.success(),
        "scripts/prometheus.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn start_prometheus(daemon: &Daemon) -> Prometheus {
    let binary = prometheus_binary();
    let dir = tempfile::tempdir().expect("temporary directory");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config = format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{port}"]
remote_write:
  - url: "{}/api/v1/write"
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
"#,
        daemon.api_url()
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write prometheus.yml");
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log"))
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

fn get(url: &str, params: &[(&str, String)]) -> Value {
    let url = reqwest::Url::parse_with_params(url, params.iter().map(|(k, v)| (*k, v.as_str())))
        .expect("valid URL");
    let response =
        reqwest::blocking::get(url.clone()).unwrap_or_else(|error| panic!("GET {url}: {error}"));
    response.json().expect("JSON answer")
}

fn instant(base: &str, query: &str, time_ms: i64) -> Value {
    get(
        &format!("{base}/api/v1/query"),
        &[
            ("query", query.to_owned()),
            ("time", format!("{:.3}", time_ms as f64 / 1000.0)),
        ],
    )
}

fn parse_value(text: &str) -> f64 {
    match text {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().expect("a number"),
    }
}

/// `labels -> values` of a vector or matrix answer.
fn by_labels(answer: &Value) -> BTreeMap<String, Vec<(f64, f64)>> {
    assert_eq!(answer["status"], "success", "{answer}");
    let mut out = BTreeMap::new();
    let data = &answer["data"];
    for item in data["result"].as_array().expect("result array") {
        let labels = item["metric"].to_string();
        let points: Vec<(f64, f64)> = if let Some(value) = item.get("value") {
            vec![(
                value[0].as_f64().expect("time"),
                parse_value(value[1].as_str().expect("value text")),
            )]
        } else {
            item["values"]
                .as_array()
                .expect("values")
                .iter()
                .map(|p| {
                    (
                        p[0].as_f64().expect("time"),
                        parse_value(p[1].as_str().expect("value text")),
                    )
                })
                .collect()
        };
        out.insert(labels, points);
    }
    out
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn assert_same(query: &str, expected: &Value, actual: &Value) {
    let expected_series = by_labels(expected);
    let actual_series = by_labels(actual);
    assert!(
        !expected_series.is_empty(),
        "{query}: Prometheus answered nothing"
    );
    assert_eq!(
        expected_series.keys().collect::<Vec<_>>(),
        actual_series.keys().collect::<Vec<_>>(),
        "{query}: series differ"
    );
    for (labels, points) in &expected_series {
        let got = &actual_series[labels];
        assert_eq!(
            points.len(),
            got.len(),
            "{query} {labels}: point counts differ"
        );
        for ((t1, v1), (t2, v2)) in points.iter().zip(got) {
            assert!(same(*t1, *t2), "{query} {labels}: time {t1} vs {t2}");
            assert!(
                same(*v1, *v2),
                "{query} {labels}: Prometheus {v1}, Lookout {v2}"
            );
        }
    }
}

#[test]
fn prometheus_remote_write_and_promql_agree() {
    let daemon = Daemon::start();
    let prometheus = start_prometheus(&daemon);
    let lookout = format!("{}/prometheus", daemon.api_url());

    // Wait until Lookout holds at least 12 s of Prometheus' self-scrapes.
    let deadline = Instant::now() + Duration::from_secs(120);
    let latest = loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64;
        let answer = instant(
            &lookout,
            "count_over_time(up{job=\"prometheus\"}[1m]) >= 12",
            now,
        );
        let stamps = instant(&lookout, "timestamp(up{job=\"prometheus\"})", now);
        if answer["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
            && let Some(stamp) = stamps["data"]["result"][0]["value"][1].as_str()
        {
            break (parse_value(stamp) * 1000.0).round() as i64;
        }
        assert!(
            Instant::now() < deadline,
            "no remote-written samples in Lookout after 120 s; lookout log:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // Half a scrape interval off the sample times, so no window edge falls on a sample (the
    // packaged Prometheus 2.42 closes windows on the left, Prometheus 3 and Lookout do not).
    let mut at = latest - 2_500;
    if at % 1000 == 0 {
        at += 1;
    }
    let queries = [
        "up",
        "up == 1",
        "count by (job) (up)",
        "sum by (code) (prometheus_http_requests_total)",
        "prometheus_http_requests_total{handler=\"/metrics\"}[10s]",
        "irate(prometheus_http_requests_total[5s])",
        "avg_over_time(scrape_duration_seconds[10s])",
        "max_over_time(scrape_samples_scraped[10s])",
        "count_over_time(up[10s])",
        "prometheus_http_requests_total / on (instance) group_left sum by (instance) (prometheus_http_requests_total)",
        "up offset 3s",
    ];
    // rate/increase/delta are checked against hand-computed values in the query crate's tests;
    // against this Prometheus 2.42 they differ for counters that started inside the window
    // (2.42 applies the zero-point limit before the extrapolation threshold, 3.x after).
    let mut queries = queries.to_vec();
    // Subquery steps sit on multiples of 2 s; their windows can only meet a sample when the
    // scrape phase is within a few milliseconds of a whole second.
    let phase = latest.rem_euclid(1000);
    if (20..980).contains(&phase) {
        queries.push("max_over_time(irate(prometheus_http_requests_total[5s])[8s:2s])");
    }
    for query in queries {
        let expected = instant(&prometheus.url, query, at);
        let actual = instant(&lookout, query, at);
        assert_same(query, &expected, &actual);
    }
    // A range query, step 1 s over 8 s.
    let params = [
        (
            "query",
            "irate(prometheus_http_requests_total[5s])".to_owned(),
        ),
        ("start", format!("{:.3}", (at - 8_000) as f64 / 1000.0)),
        ("end", format!("{:.3}", at as f64 / 1000.0)),
        ("step", "1".to_owned()),
    ];
    let expected = get(&format!("{}/api/v1/query_range", prometheus.url), &params);
    let actual = get(&format!("{lookout}/api/v1/query_range"), &params);
    assert_eq!(actual["data"]["resultType"], "matrix");
    assert_same("range irate", &expected, &actual);
    // The series API sees the remote-written names and labels.
    let series = get(
        &format!("{lookout}/api/v1/series"),
        &[("match[]", "up".to_owned())],
    );
    assert_eq!(series["data"][0]["job"], "prometheus", "{series}");
    let names = get(&format!("{lookout}/api/v1/label/__name__/values"), &[]);
    assert!(
        names["data"]
            .as_array()
            .expect("names")
            .iter()
            .any(|n| n == "prometheus_http_requests_total"),
        "{names}"
    );
}
