//! A real `lookout serve` process for end-to-end tests: free ports, a temporary data
//! directory, readiness polling, SQL and trace calls, SIGKILL and restart.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// One daemon process and its addresses.
pub struct Daemon {
    child: Option<Child>,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    /// OTLP/gRPC address.
    pub grpc_addr: SocketAddr,
    /// OTLP/HTTP address.
    pub otlp_http_addr: SocketAddr,
    /// API address.
    pub http_addr: SocketAddr,
    log_path: PathBuf,
    config_path: PathBuf,
}

fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address")
}

impl Daemon {
    /// Starts a daemon on a new temporary data directory.
    pub fn start() -> Self {
        Self::start_with_config("")
    }

    /// Starts a daemon with `config` as its `lookout.toml`.
    pub fn start_with_config(config: &str) -> Self {
        let temp = tempfile::tempdir().expect("create a temporary directory");
        let data_dir = temp.path().join("data");
        let config_path = temp.path().join("lookout.toml");
        std::fs::write(&config_path, config).expect("write lookout.toml");
        let mut daemon = Self {
            config_path,
            child: None,
            log_path: temp.path().join("daemon.log"),
            data_dir,
            _temp: Some(temp),
            grpc_addr: free_addr(),
            otlp_http_addr: free_addr(),
            http_addr: free_addr(),
        };
        daemon.spawn();
        daemon
    }

    /// Base URL of the API.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Base URL of OTLP/HTTP.
    pub fn otlp_http_url(&self) -> String {
        format!("http://{}", self.otlp_http_addr)
    }

    /// URL of OTLP/gRPC.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the daemon log");
        let child = Command::new(env!("CARGO_BIN_EXE_lookout"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--otlp-grpc-addr")
            .arg(self.grpc_addr.to_string())
            .arg("--otlp-http-addr")
            .arg(self.otlp_http_addr.to_string())
            .arg("--http-addr")
            .arg(self.http_addr.to_string())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("start lookout serve");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("{}/health/ready", self.api_url());
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("daemon exited early with {status}; log:\n{}", self.log());
            }
            if let Ok(response) = reqwest::blocking::get(&url)
                && response.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "daemon not ready in 60 s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The daemon's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGKILL, no chance to flush.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("wait for the daemon") {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the daemon again on the same data directory and addresses.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the daemon before restarting it");
        self.spawn();
    }

    /// Runs SQL through the API and returns the rows.
    pub fn sql(&self, query: &str) -> Vec<Map<String, Value>> {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/api/v1/sql", self.api_url()))
            .json(&serde_json::json!({ "query": query }))
            .send()
            .expect("send SQL");
        let status = response.status();
        let body: Value = response.json().expect("SQL answer is JSON");
        assert!(status.is_success(), "SQL `{query}` failed: {status} {body}");
        body["rows"]
            .as_array()
            .expect("rows array")
            .iter()
            .map(|row| row.as_object().expect("row object").clone())
            .collect()
    }

    /// Runs SQL and insists the answer was not truncated.
    pub fn sql_all(&self, query: &str) -> Vec<Map<String, Value>> {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/api/v1/sql", self.api_url()))
            .json(&serde_json::json!({ "query": query }))
            .send()
            .expect("send SQL");
        assert!(response.status().is_success(), "SQL `{query}` failed");
        let body: Value = response.json().expect("SQL answer is JSON");
        assert_eq!(
            body["truncated"], false,
            "raise [query] max_rows for `{query}`"
        );
        serde_json::from_value(body["rows"].clone()).expect("rows")
    }

    /// A single integer from `SELECT count(*) ...`-style queries.
    pub fn sql_count(&self, query: &str) -> i64 {
        let rows = self.sql(query);
        let row = rows.first().expect("one row");
        row.values()
            .next()
            .and_then(Value::as_i64)
            .unwrap_or_else(|| panic!("not an integer answer: {rows:?}"))
    }

    /// Polls `query` until it yields `expected` or 10 s pass; returns the last value.
    pub fn wait_count(&self, query: &str, expected: i64) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let value = self.sql_count(query);
            if value == expected || Instant::now() > deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET` an API path: status and JSON body (`Null` when the body is not JSON).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::blocking::get(format!("{}{path}", self.api_url())).expect("GET");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// Sends SIGHUP (reload the SLO rules).
    pub fn hangup(&self) {
        let pid = self.child.as_ref().expect("daemon running").id();
        let status = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -HUP failed");
    }

    /// `GET /api/v1/traces/{id}`: status and body.
    pub fn trace(&self, trace_id: &str) -> (u16, Value) {
        let response =
            reqwest::blocking::get(format!("{}/api/v1/traces/{trace_id}", self.api_url()))
                .expect("get trace");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}
