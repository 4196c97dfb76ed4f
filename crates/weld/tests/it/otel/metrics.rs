//! Metrics over OTLP: each metric `/metrics` has arrives with the value
//! the test's calls produced (counts, fuel, peak memory and time queued as
//! audited, denials, the per-component gauges while calls run and wait,
//! load errors).

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{NumberDataPoint, metric, number_data_point};
use serde_json::{Value, json};

use super::{Received, attribute, call_with_meta, receiver, stop, weld_without_otel};
use crate::common::*;

/// One data point of an exported metric: a sum's or a gauge's value, or
/// a histogram's count and sum.
#[derive(Debug)]
struct Point {
    unit: String,
    attributes: Vec<KeyValue>,
    value: f64,
    count: u64,
}

/// The points of metric `name` in the last export that has it (weld's
/// sums and histograms are cumulative, and it exports once more at
/// shutdown, so the last one holds every call).
fn exported(received: &Received, name: &str) -> Vec<Point> {
    let mut last = Vec::new();
    for request in received.metrics() {
        let mut points = Vec::new();
        for metric in request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == name)
        {
            let number = |p: &NumberDataPoint| Point {
                unit: metric.unit.clone(),
                attributes: p.attributes.clone(),
                value: match p.value {
                    Some(number_data_point::Value::AsInt(i)) => i as f64,
                    Some(number_data_point::Value::AsDouble(d)) => d,
                    None => f64::NAN,
                },
                count: 1,
            };
            match &metric.data {
                Some(metric::Data::Sum(sum)) => points.extend(sum.data_points.iter().map(number)),
                Some(metric::Data::Gauge(gauge)) => {
                    points.extend(gauge.data_points.iter().map(number))
                }
                Some(metric::Data::Histogram(histogram)) => {
                    points.extend(histogram.data_points.iter().map(|p| Point {
                        unit: metric.unit.clone(),
                        attributes: p.attributes.clone(),
                        value: p.sum.unwrap_or(f64::NAN),
                        count: p.count,
                    }))
                }
                other => panic!("{name} exported as {other:?}"),
            }
        }
        if !points.is_empty() {
            last = points;
        }
    }
    last
}

/// The point of `name` whose attributes are exactly `attributes`.
fn point(received: &Received, name: &str, attributes: &[(&str, &str)]) -> Point {
    let points = exported(received, name);
    let matches = |p: &Point| {
        p.attributes.len() == attributes.len()
            && attributes
                .iter()
                .all(|(k, v)| attribute(&p.attributes, k).as_deref() == Some(*v))
    };
    let found = points.iter().position(matches);
    match found {
        Some(at) => points.into_iter().nth(at).expect("found"),
        None => panic!("no `{name}` point with {attributes:?} among {points:?}"),
    }
}

/// The audit record of the call of `tool` (there is one).
fn record_of(dirs: &Dirs, tool: &str) -> Value {
    audit_lines(dirs)
        .into_iter()
        .find(|r| r["tool"] == tool)
        .unwrap_or_else(|| panic!("no audit record of {tool}"))
}

#[tokio::test]
async fn every_metric_of_the_metrics_endpoint_arrives_over_otlp_with_the_values_of_the_calls() {
    let (otlp, received) = receiver("127.0.0.1:0").await;
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    set_policy(
        &dirs,
        "hostile",
        "version: \"1.0\"\npermissions:\n  resources:\n    limits: { fuel: 50000000 }\n",
    )
    .await;
    // A component that cannot load: weld's load error, served without it.
    let tmp = tempfile::tempdir().expect("tempdir");
    let broken = tmp.path().join("broken.wasm");
    std::fs::write(&broken, b"\0asm but not really").expect("write");
    let mut cmd = weld_without_otel(&dirs);
    // Metrics alone: they come from the audit records, not from spans.
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
        .env("OTEL_TRACES_EXPORTER", "none");
    let broken = broken.display().to_string();
    let (server, addr) = http_server_with(&dirs, &["--component", &broken], cmd).await;
    let client = http_client(addr, legacy()).await;
    call_with_meta(&client, "hostile_echo", json!({"text": "hi"}), None).await;
    call_with_meta(
        &client,
        "hostile_http-get",
        json!({"url": "https://example.com/"}),
        None,
    )
    .await;
    let served = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .iter()
        .filter(|t| !t.name.starts_with("weld_"))
        .count();
    drop(client);
    stop(server).await;
    assert!(
        received.spans().is_empty(),
        "OTEL_TRACES_EXPORTER=none: no span"
    );

    let echo = record_of(&dirs, "hostile_echo");
    let calls = point(
        &received,
        "weld.tool.calls",
        &[
            ("tool", "hostile_echo"),
            ("component", "hostile"),
            ("outcome", "ok"),
        ],
    );
    assert_eq!((calls.unit.as_str(), calls.value), ("{call}", 1.0));
    let duration = point(
        &received,
        "mcp.server.operation.duration",
        &[
            ("mcp.method.name", "tools/call"),
            ("gen_ai.tool.name", "hostile_echo"),
        ],
    );
    assert_eq!((duration.unit.as_str(), duration.count), ("s", 1));
    // `tools/list`, answered from the catalog (not audited), is timed too.
    let listing = point(
        &received,
        "mcp.server.operation.duration",
        &[("mcp.method.name", "tools/list")],
    );
    assert_eq!((listing.unit.as_str(), listing.count), ("s", 1));
    let fuel = point(
        &received,
        "weld.tool.fuel_used",
        &[("tool", "hostile_echo")],
    );
    assert_eq!(fuel.unit, "{instruction}");
    assert_eq!(fuel.count, 1);
    assert_eq!(Some(fuel.value), echo["fuel_used"].as_f64(), "{echo}");
    assert!(fuel.value > 0.0);
    let memory = point(
        &received,
        "weld.tool.peak_memory",
        &[("tool", "hostile_echo")],
    );
    assert_eq!((memory.unit.as_str(), memory.count), ("By", 1));
    assert_eq!(Some(memory.value), echo["peak_memory"].as_f64(), "{echo}");
    let queued = point(&received, "weld.tool.queued", &[("tool", "hostile_echo")]);
    assert_eq!((queued.unit.as_str(), queued.count), ("s", 1));
    let waited = echo["queued_us"].as_f64().expect("queued_us") / 1e6;
    assert!((queued.value - waited).abs() < 1e-9, "{queued:?} {echo}");

    let get = record_of(&dirs, "hostile_http-get");
    let denied = get["network"]
        .as_array()
        .expect("network decisions")
        .iter()
        .filter(|d| d["allowed"] == false)
        .count() as f64
        + get["network_dropped"].as_f64().unwrap_or(0.0);
    assert!(denied > 0.0, "{get}");
    let denials = point(
        &received,
        "weld.tool.denials",
        &[("tool", "hostile_http-get"), ("kind", "network")],
    );
    assert_eq!((denials.unit.as_str(), denials.value), ("{denial}", denied));
    let outcome = get["outcome"].as_str().expect("outcome");
    let failed = point(
        &received,
        "weld.tool.calls",
        &[
            ("tool", "hostile_http-get"),
            ("component", "hostile"),
            ("outcome", outcome),
        ],
    );
    assert_eq!(failed.value, 1.0);

    // The gauges, read from the catalog when exported.
    for gauge in [
        "weld.component.calls.running",
        "weld.component.calls.waiting",
    ] {
        let now = point(&received, gauge, &[("component", "hostile")]);
        assert_eq!((now.unit.as_str(), now.value), ("{call}", 0.0), "{gauge}");
    }
    assert_eq!(point(&received, "weld.tools", &[]).value, served as f64);
    assert_eq!(
        point(&received, "weld.components.disabled", &[]).value,
        1.0,
        "the broken component"
    );
    assert_eq!(
        point(&received, "weld.audit.records_dropped", &[]).value,
        0.0
    );
}

/// The value of gauge `name` for `component` in the latest export, if
/// there is one yet.
fn gauge_now(received: &Received, name: &str, component: &str) -> Option<f64> {
    exported(received, name)
        .into_iter()
        .find(|p| attribute(&p.attributes, "component").as_deref() == Some(component))
        .map(|p| p.value)
}

/// Waits until the latest export shows `component` with `running` calls
/// running and `waiting` waiting.
async fn until_gauges(received: &Received, component: &str, running: f64, waiting: f64) {
    let seen = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let now = (
                gauge_now(received, "weld.component.calls.running", component),
                gauge_now(received, "weld.component.calls.waiting", component),
            );
            if now == (Some(running), Some(waiting)) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        seen.is_ok(),
        "{component} never exported with {running} running and {waiting} waiting"
    );
}

#[tokio::test]
async fn a_proxied_servers_calls_running_and_waiting_are_exported_as_its_components_gauges() {
    let (otlp, received) = receiver("127.0.0.1:0").await;
    let dirs = Dirs::new();
    let server = component("mcp-stdio").display().to_string();
    weld_ok(&dirs, &["add", &server]).await;
    set_policy(
        &dirs,
        "mcp-stdio",
        "version: \"1.0\"\npermissions:\n  resources:\n    limits:\n      timeout: \"10m\"\n      concurrency: { max: 1, excess: wait }\n",
    )
    .await;
    let mut cmd = weld_without_otel(&dirs);
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
        .env("OTEL_TRACES_EXPORTER", "none")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "100");
    let (weld, addr) = http_server_with(&dirs, &[], cmd).await;
    let client = http_client(addr, legacy()).await;
    let sleep = || call_cancellable(&client, "sleep", json!({"ms": 600_000}));
    let first = sleep().await;
    until_gauges(&received, "mcp-stdio", 1.0, 0.0).await;
    // A reload (another component installed) keeps counting the calls of
    // the unchanged server. The server's own tools are counted already:
    // the reload is seen when the count grows.
    let served = point(&received, "weld.tools", &[]).value;
    install_hostile(&dirs).await;
    let reloaded = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while point(&received, "weld.tools", &[]).value <= served {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(reloaded.is_ok(), "weld never served the component added");
    assert_eq!(
        gauge_now(&received, "weld.component.calls.running", "mcp-stdio"),
        Some(1.0),
        "after the reload"
    );
    // Its policy lets one request be in flight: the second one waits.
    let second = sleep().await;
    until_gauges(&received, "mcp-stdio", 1.0, 1.0).await;
    second.cancel(Some("test".into())).await.expect("cancel");
    first.cancel(Some("test".into())).await.expect("cancel");
    until_gauges(&received, "mcp-stdio", 0.0, 0.0).await;
    drop(client);
    stop(weld).await;
}

#[tokio::test]
async fn a_proxied_server_weld_cannot_serve_is_exported_as_a_load_error() {
    let (otlp, received) = receiver("127.0.0.1:0").await;
    let dirs = Dirs::new();
    // A second copy of the server lists the same tool names: not served.
    let copy = dirs.state.with_file_name("zz-copy.wasm");
    std::fs::create_dir_all(copy.parent().expect("parent")).expect("mkdir");
    std::fs::copy(component("mcp-stdio"), &copy).expect("copy");
    let (copy, server) = (
        copy.display().to_string(),
        component("mcp-stdio").display().to_string(),
    );
    let mut cmd = weld_without_otel(&dirs);
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
        .env("OTEL_TRACES_EXPORTER", "none");
    let (weld, addr) =
        http_server_with(&dirs, &["--component", &server, "--component", &copy], cmd).await;
    let client = http_client(addr, modern()).await;
    // Served once every server has listed its tools.
    call_with_meta(&client, "echo", json!({"text": "hi"}), None).await;
    drop(client);
    stop(weld).await;
    assert_eq!(
        point(&received, "weld.components.disabled", &[]).value,
        1.0,
        "the copy"
    );
}
