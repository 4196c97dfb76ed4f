//! OpenTelemetry export as an operator sees it: `weld serve` pointed by
//! `OTEL_EXPORTER_OTLP_ENDPOINT` at an OTLP/HTTP receiver the test runs on
//! loopback, which decodes what arrives with OpenTelemetry's own protobuf
//! types: spans of plain and proxied calls here, metrics in `metrics`; and
//! nothing sent when no variable asks.

mod metrics;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric;
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use prost::Message as _;
use rmcp::model::{CallToolRequestParams, MetaObject, RequestMetaObject};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::common::*;

/// The caller's trace context, as a client sends it in `_meta`.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// What an OTLP/HTTP receiver on loopback was sent: (path, body).
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Bytes)>>>);

impl Received {
    fn all(&self) -> Vec<(String, Bytes)> {
        self.0.lock().expect("lock").clone()
    }

    fn spans(&self) -> Vec<(Vec<KeyValue>, Span)> {
        let mut spans = Vec::new();
        for (path, body) in self.all() {
            if path != "/v1/traces" {
                continue;
            }
            let request = ExportTraceServiceRequest::decode(body).expect("OTLP trace protobuf");
            for resource in request.resource_spans {
                let attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
                for scope in resource.scope_spans {
                    for span in scope.spans {
                        spans.push((attributes.clone(), span));
                    }
                }
            }
        }
        spans
    }

    fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.all()
            .into_iter()
            .filter(|(path, _)| path == "/v1/metrics")
            .map(|(_, body)| {
                ExportMetricsServiceRequest::decode(body).expect("OTLP metrics protobuf")
            })
            .collect()
    }
}

/// An OTLP/HTTP receiver on `addr` that keeps every request and answers
/// each with an empty (successful) export response.
async fn receiver(addr: &str) -> (SocketAddr, Received) {
    // A fixed port (the SDK's default) may be held for a moment by another
    // run of the same test: wait for it rather than fail.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => break listener,
            Err(error) if std::time::Instant::now() < deadline => {
                eprintln!("{addr} is busy ({error}); trying again");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(error) => panic!("bind receiver {addr}: {error}"),
        }
    };
    let local = listener.local_addr().expect("addr");
    let received = Received::default();
    let kept = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let kept = kept.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let kept = kept.clone();
                        async move {
                            let path = request.uri().path().to_string();
                            let body = request.into_body().collect().await?.to_bytes();
                            kept.0.lock().expect("lock").push((path, body));
                            let response = hyper::Response::builder()
                                .header("content-type", "application/x-protobuf")
                                .body(Full::new(Bytes::new()))
                                .expect("response");
                            Ok::<_, hyper::Error>(response)
                        }
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (local, received)
}

/// `weld` with none of the OpenTelemetry variables the test's own
/// environment may have.
fn weld_without_otel(dirs: &Dirs) -> Command {
    let mut cmd = dirs.weld();
    for (name, _) in std::env::vars() {
        if name.starts_with("OTEL_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Stops `weld serve` as an orchestrator would (SIGTERM), and waits for
/// it: weld sends what it still holds before it exits.
async fn stop(mut child: Child) {
    let pid = child.id().expect("pid").to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(sent.success());
    let status = child.wait().await.expect("wait for weld");
    assert!(status.success(), "weld exited with {status}");
}

/// A `tools/call` carrying `_meta`.
async fn call_with_meta(client: &Client, tool: &str, arguments: Value, meta: Option<MetaObject>) {
    let mut params = CallToolRequestParams::new(tool.to_string());
    params.arguments = args(arguments);
    params.meta = meta.map(RequestMetaObject);
    client.call_tool(params).await.expect("tools/call");
}

fn string(value: &Option<AnyValue>) -> Option<String> {
    match value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| string(&kv.value))
}

fn named<'a>(spans: &'a [(Vec<KeyValue>, Span)], name: &str) -> &'a Span {
    let names: Vec<_> = spans.iter().map(|(_, s)| s.name.as_str()).collect();
    &spans
        .iter()
        .find(|(_, s)| s.name == name)
        .unwrap_or_else(|| panic!("no span `{name}` among {names:?}"))
        .1
}

#[tokio::test]
async fn a_tool_call_is_exported_as_a_server_span_that_continues_the_callers_trace() {
    let (otlp, received) = receiver("127.0.0.1:0").await;
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let mut cmd = weld_without_otel(&dirs);
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
        .env("OTEL_SERVICE_NAME", "weld-under-test");
    let (server, addr) = http_server_with(&dirs, &["--replica", "replica-7"], cmd).await;
    let client = http_client(addr, legacy()).await;

    let mut meta = MetaObject::new();
    meta.set_traceparent(format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"));
    meta.set_tracestate("vendor=opaque");
    call_with_meta(&client, "hostile_echo", json!({"text": "hi"}), Some(meta)).await;
    // Refused by the sandbox: no grant for the file, nor for the host.
    call_with_meta(
        &client,
        "hostile_read-file",
        json!({"path": "/etc/passwd"}),
        None,
    )
    .await;
    call_with_meta(
        &client,
        "hostile_http-get",
        json!({"url": "https://example.com/"}),
        None,
    )
    .await;
    drop(client);
    stop(server).await;

    let spans = received.spans();
    let (resource, _) = spans.first().expect("weld exported no span");
    assert_eq!(
        attribute(resource, "service.name").as_deref(),
        Some("weld-under-test")
    );
    assert_eq!(
        attribute(resource, "service.instance.id").as_deref(),
        Some("replica-7"),
        "replicas export under one service, each as its own instance"
    );

    let echo = named(&spans, "tools/call hostile_echo");
    assert_eq!(echo.kind, span::SpanKind::Server as i32);
    assert_eq!(
        hex::encode(&echo.trace_id),
        TRACE_ID,
        "the caller's trace continues"
    );
    assert_eq!(hex::encode(&echo.parent_span_id), PARENT_SPAN_ID);
    for (key, value) in [
        ("mcp.method.name", "tools/call"),
        ("gen_ai.tool.name", "hostile_echo"),
        ("gen_ai.operation.name", "execute_tool"),
        ("network.transport", "tcp"),
    ] {
        assert_eq!(
            attribute(&echo.attributes, key).as_deref(),
            Some(value),
            "{key}"
        );
    }
    for key in [
        "jsonrpc.request.id",
        "mcp.session.id",
        "mcp.protocol.version",
    ] {
        assert!(
            attribute(&echo.attributes, key).is_some_and(|v| !v.is_empty()),
            "{key} missing: {:?}",
            echo.attributes
        );
    }
    assert_eq!(attribute(&echo.attributes, "error.type"), None);
    // Its children: waiting for capacity, loading the installed component
    // (the first call), instantiation, the guest's run.
    let under = |call: &Span, child: &str| {
        spans.iter().any(|(_, s)| {
            s.name == child && s.parent_span_id == call.span_id && s.trace_id == call.trace_id
        })
    };
    for child in [
        "weld.queue",
        "weld.load",
        "weld.instantiate",
        "weld.guest.run",
    ] {
        assert!(under(echo, child), "no `{child}` span under the call");
    }

    let read = named(&spans, "tools/call hostile_read-file");
    assert!(
        !under(read, "weld.load"),
        "a later call loaded the component again"
    );
    assert_eq!(
        attribute(&read.attributes, "error.type").as_deref(),
        Some("tool_error")
    );
    assert_eq!(
        read.status.as_ref().map(|s| s.code),
        Some(status::StatusCode::Error as i32)
    );
    assert_ne!(
        hex::encode(&read.trace_id),
        TRACE_ID,
        "no _meta: a trace of its own"
    );
    let denied = read
        .events
        .iter()
        .find(|e| e.name == "weld.storage.denied")
        .expect("a storage denial event");
    assert_eq!(
        attribute(&denied.attributes, "weld.storage.path").as_deref(),
        Some("/etc/passwd")
    );

    let get = named(&spans, "tools/call hostile_http-get");
    let denied = get
        .events
        .iter()
        .find(|e| e.name == "weld.network.denied")
        .expect("a network denial event");
    assert_eq!(
        attribute(&denied.attributes, "server.address").as_deref(),
        Some("example.com")
    );
    assert_eq!(
        attribute(&denied.attributes, "weld.allowed").as_deref(),
        Some("false")
    );

    // The operation duration, by tool and error type, sent at shutdown.
    let mut points = Vec::new();
    for request in received.metrics() {
        for metric in request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == "mcp.server.operation.duration")
        {
            assert_eq!(metric.unit, "s");
            if let Some(metric::Data::Histogram(histogram)) = &metric.data {
                points.extend(histogram.data_points.iter().cloned());
            }
        }
    }
    let failed = points
        .iter()
        .find(|p| {
            attribute(&p.attributes, "gen_ai.tool.name").as_deref() == Some("hostile_read-file")
        })
        .expect("a duration for hostile_read-file");
    assert_eq!(failed.count, 1);
    assert_eq!(
        attribute(&failed.attributes, "error.type").as_deref(),
        Some("tool_error")
    );
    assert_eq!(
        attribute(&failed.attributes, "mcp.method.name").as_deref(),
        Some("tools/call")
    );
    let echoed = points
        .iter()
        .find(|p| attribute(&p.attributes, "gen_ai.tool.name").as_deref() == Some("hostile_echo"))
        .expect("a duration for hostile_echo");
    assert_eq!(attribute(&echoed.attributes, "error.type"), None);
}

#[tokio::test]
async fn a_prompt_is_named_in_its_span_and_a_resource_uri_only_in_an_attribute() {
    let (otlp, received) = receiver("127.0.0.1:0").await;
    let dirs = Dirs::new();
    let mut cmd = weld_without_otel(&dirs);
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"));
    let demo = component("mcpdemo").display().to_string();
    let (server, addr) = http_server_with(&dirs, &["--component", &demo], cmd).await;
    let client = http_client(addr, legacy()).await;
    let mut get = rmcp::model::GetPromptRequestParams::new("greet");
    get.arguments = args(json!({"name": "Ada", "style": "formal"}));
    client.get_prompt(get).await.expect("prompts/get");
    client
        .read_resource(rmcp::model::ReadResourceRequestParams::new("demo://static"))
        .await
        .expect("resources/read");
    drop(client);
    stop(server).await;

    let spans = received.spans();
    let prompt = named(&spans, "prompts/get greet");
    assert_eq!(
        attribute(&prompt.attributes, "gen_ai.prompt.name").as_deref(),
        Some("greet")
    );
    // A URI can be anything: in the name it would make a span name per
    // resource, so the conventions keep it to the attribute.
    let read = named(&spans, "resources/read");
    for (key, value) in [
        ("mcp.method.name", "resources/read"),
        ("mcp.resource.uri", "demo://static"),
        ("network.transport", "tcp"),
    ] {
        assert_eq!(
            attribute(&read.attributes, key).as_deref(),
            Some(value),
            "{key}"
        );
    }
    assert_eq!(attribute(&read.attributes, "gen_ai.tool.name"), None);
}

#[tokio::test]
async fn a_proxied_call_has_the_child_spans_of_a_plain_one_and_its_denials_as_events() {
    let (otlp, received) = receiver("127.0.0.1:0").await;
    let dirs = Dirs::new();
    let mut cmd = weld_without_otel(&dirs);
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
        .env("OTEL_METRICS_EXPORTER", "none")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100");
    let server = component("mcp-stdio").display().to_string();
    let (weld, addr) = http_server_with(&dirs, &["--component", &server], cmd).await;
    // An HTTP session gets an instance of its own: its first call starts it.
    let client = http_client(addr, legacy()).await;
    call_with_meta(&client, "echo", json!({"text": "hi"}), None).await;
    call_with_meta(&client, "read_file", json!({"path": "/etc/passwd"}), None).await;
    // The calls' spans end with the calls, not with the server they
    // started: they arrive while it still runs.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let spans = received.spans();
            let has = |name: &str| spans.iter().any(|(_, s)| s.name == name);
            if has("tools/call echo") && has("tools/call read_file") && has("weld.instantiate") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    let names: Vec<_> = received.spans().into_iter().map(|(_, s)| s.name).collect();
    assert!(
        ended.is_ok(),
        "the calls' spans were not exported while the server ran: {names:?}"
    );
    drop(client);
    stop(weld).await;

    let spans = received.spans();
    let children = |parent: &Span| -> Vec<String> {
        spans
            .iter()
            .filter(|(_, s)| s.parent_span_id == parent.span_id && s.trace_id == parent.trace_id)
            .map(|(_, s)| s.name.clone())
            .collect()
    };
    let echo = named(&spans, "tools/call echo");
    let under_echo = children(echo);
    for child in ["weld.queue", "weld.instantiate", "weld.guest.run"] {
        assert!(
            under_echo.iter().any(|c| c == child),
            "no `{child}` under the first call: {under_echo:?}"
        );
    }
    let read = named(&spans, "tools/call read_file");
    let under_read = children(read);
    for child in ["weld.queue", "weld.guest.run"] {
        assert!(
            under_read.iter().any(|c| c == child),
            "no `{child}` under the second call: {under_read:?}"
        );
    }
    assert!(
        !under_read.iter().any(|c| c == "weld.instantiate"),
        "the instance was running: nothing to start ({under_read:?})"
    );
    assert_eq!(
        attribute(&read.attributes, "error.type").as_deref(),
        Some("tool_error")
    );
    let denied = read
        .events
        .iter()
        .find(|e| e.name == "weld.storage.denied")
        .unwrap_or_else(|| panic!("no storage denial event: {:?}", read.events));
    assert_eq!(
        attribute(&denied.attributes, "weld.storage.path").as_deref(),
        Some("/etc/passwd")
    );
}

#[tokio::test]
async fn nothing_is_exported_unless_the_otel_variables_ask() {
    // Where an OpenTelemetry SDK sends by default (OTLP/HTTP on 4318):
    // weld must not, with no variable set.
    let (_, at_default) = receiver("127.0.0.1:4318").await;
    let (otlp, named) = receiver("127.0.0.1:0").await;
    let dirs = Dirs::new();
    install_hostile(&dirs).await;
    let endpoint = format!("http://{otlp}");
    let runs: [&[(&str, &str)]; 3] = [
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SDK_DISABLED", "true"),
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ],
    ];
    for vars in runs {
        let mut cmd = weld_without_otel(&dirs);
        cmd.envs(vars.iter().copied());
        let (server, addr) = http_server_with(&dirs, &[], cmd).await;
        let client = http_client(addr, legacy()).await;
        let mut meta = MetaObject::new();
        meta.set_traceparent(format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"));
        call_with_meta(
            &client,
            "hostile_read-file",
            json!({"path": "/etc/passwd"}),
            Some(meta),
        )
        .await;
        drop(client);
        stop(server).await;
        assert!(at_default.all().is_empty(), "sent with {vars:?}");
        assert!(named.all().is_empty(), "sent with {vars:?}");
    }
}

#[tokio::test]
async fn a_grpc_endpoint_is_refused_at_start_rather_than_ignored() {
    let dirs = Dirs::new();
    let run = weld_without_otel(&dirs)
        .args(["serve", "--http", "127.0.0.1:0"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .stdin(std::process::Stdio::null())
        .output();
    // A weld that does not refuse serves until stopped: not forever here.
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("weld started serving although it cannot export over gRPC")
        .expect("run weld");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("http/protobuf"), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "stdout is the protocol's: {:?}",
        output.stdout
    );
}
