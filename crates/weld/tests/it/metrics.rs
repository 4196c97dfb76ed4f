//! Metrics as an operator sees them: weld's `/metrics` scraped by a real
//! Prometheus (Debian's package, started on loopback by the test) and
//! queried through Prometheus' HTTP API for the values the test's calls
//! produced.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;
use crate::http::{message, modern_call, post};

/// A running Prometheus; killed when dropped.
struct Prometheus {
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
    api: String,
}

impl Prometheus {
    async fn scraping(target: std::net::SocketAddr) -> Self {
        let binary = ["/usr/bin/prometheus", "/usr/sbin/prometheus"]
            .iter()
            .map(std::path::PathBuf::from)
            .find(|p| p.is_file())
            .expect("prometheus is not installed: `apt-get install prometheus`");
        let dir = tempfile::tempdir().expect("dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: weld\n    static_configs:\n      \
                 - targets: ['{target}']\n"
            ),
        )
        .expect("config");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let child = tokio::process::Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn prometheus");
        Self {
            child,
            _dir: dir,
            api: format!("http://127.0.0.1:{port}/api/v1"),
        }
    }

    /// The value of `query` once Prometheus has one (it scrapes every
    /// second), as a number.
    async fn value(&self, query: &str) -> f64 {
        let http = reqwest_client();
        let mut last = Value::Null;
        for _ in 0..120 {
            if let Ok(response) = http
                .get(format!("{}/query", self.api))
                .query(&[("query", query)])
                .send()
                .await
                && let Ok(body) = response.json::<Value>().await
            {
                if let Some(value) = body["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                {
                    return value;
                }
                last = body;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("Prometheus has no value for {query}: {last}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test]
async fn prometheus_scrapes_the_calls_outcomes_and_denials_a_test_made() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let (_server, addr) = http_server(&dirs, &[]).await;
    let url = format!("http://{addr}/mcp");
    let http = reqwest_client();
    let call = |id: u64, tool: &'static str, arguments: Value| {
        let request = post(&http, &url, &modern_call(id, tool, arguments), tool);
        async move {
            let response = request.send().await.expect("send");
            message(&response.text().await.expect("body"))
        }
    };
    for id in 0..3 {
        call(id, "hostile_echo", json!({"text": "hi"})).await;
    }
    // Denied: no grant for the file, nor for the host.
    call(10, "hostile_read-file", json!({"path": "/etc/passwd"})).await;
    call(
        11,
        "hostile_http-get",
        json!({"url": "https://example.com/"}),
    )
    .await;

    // weld's own endpoint first: the text format Prometheus reads. Records
    // are counted by the audit writer, a batch (20 ms) after the calls.
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape_metrics(addr).await;
        if text.contains("hostile_http-get") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        text.contains("# TYPE mcp_server_operation_duration_seconds histogram"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");

    let prometheus = Prometheus::scraping(addr).await;
    let ok = prometheus
        .value(r#"weld_tool_calls_total{tool="hostile_echo",outcome="ok"}"#)
        .await;
    assert_eq!(ok, 3.0);
    let storage = prometheus
        .value(r#"weld_tool_denials_total{tool="hostile_read-file",kind="storage"}"#)
        .await;
    assert!(storage >= 1.0, "{storage}");
    let network = prometheus
        .value(r#"weld_tool_denials_total{tool="hostile_http-get",kind="network"}"#)
        .await;
    assert!(network >= 1.0, "{network}");
    let durations = prometheus
        .value(
            r#"mcp_server_operation_duration_seconds_count{mcp_method_name="tools/call",gen_ai_tool_name="hostile_echo"}"#,
        )
        .await;
    assert_eq!(durations, 3.0);
    let listed: Value =
        serde_json::from_slice(&dirs.run(&["list", "--json"]).await.stdout).expect("json");
    let tools = listed[0]["tools"].as_array().expect("tools").len();
    assert!(tools > 0);
    assert_eq!(prometheus.value("weld_tools").await, tools as f64);
}

/// A component's calls running and waiting are gauges read at each scrape:
/// with its policy's one slot taken by a long call, a second call waits.
#[tokio::test]
async fn metrics_show_each_components_calls_running_and_waiting() {
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    set_policy(
        &dirs,
        "hostile",
        "version: \"1.0\"\npermissions:\n  resources:\n    limits:\n      timeout: \"60s\"\n      concurrency: { max: 1, excess: wait }\n",
    )
    .await;
    let (_server, addr) = http_server(&dirs, &[]).await;
    let url = format!("http://{addr}/mcp");
    let http = reqwest_client();
    let sleep = |id: u64| {
        let request = post(
            &http,
            &url,
            &modern_call(id, "hostile_sleep", json!({"millis": 50_000})),
            "hostile_sleep",
        );
        tokio::spawn(async move { request.send().await.expect("send").text().await })
    };
    let (first, second) = (sleep(1), sleep(2));
    let gauges = |text: &str| {
        let value = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("{name}{{component=\"hostile\"}}")))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<i64>().ok())
        };
        (
            value("weld_component_calls_running"),
            value("weld_component_calls_waiting"),
        )
    };
    // The sleeps outlast the wait for them, however slow the machine: the
    // gauges hold still until the test ends the calls.
    let until = |want: (Option<i64>, Option<i64>)| async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let seen = gauges(&scrape_metrics(addr).await);
            if seen == want || std::time::Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert_eq!(
        until((Some(1), Some(1))).await,
        (Some(1), Some(1)),
        "one running, one waiting"
    );
    // Their clients go away: the running call is cancelled and the waiting
    // one leaves the queue.
    for call in [first, second] {
        call.abort();
    }
    assert_eq!(
        until((Some(0), Some(0))).await,
        (Some(0), Some(0)),
        "none once the calls ended"
    );
}
