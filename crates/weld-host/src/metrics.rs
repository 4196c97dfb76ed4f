//! Metrics for Prometheus (the OpenMetrics text a `/metrics` endpoint
//! serves), derived from the audit records.
//!
//! Every tool call already leaves an audit record with what metrics need
//! (tool, outcome, duration, wait, peak memory, fuel, every network and
//! storage denial), and the audit writer thread already receives each one.
//! So the metrics are counted there, in batches, after the call has
//! answered: the call path pays nothing for them. They lag the calls by the
//! writer's batching period (20 ms) and, like the file, miss records the
//! queue had to drop (counted in `weld_audit_records_dropped`).
//!
//! Names follow the OpenTelemetry semantic conventions for MCP where they
//! define one (`mcp.server.operation.duration`, in seconds, by
//! `mcp.method.name` and `gen_ai.tool.name`, with `error.type` for anything
//! but success), in Prometheus' spelling (dots as underscores, the unit
//! suffixed); the rest are weld's (`weld_…`).
//!
//! **One derivation for every exporter.** What a record adds to the metrics
//! (the operation duration included) is worked out once, as a [`Sample`];
//! Prometheus' families count it, and so does a [`MetricSink`] when one is
//! given (the binary's OTLP export), on the same thread from the same
//! record. The gauges are read from the live catalog when they are
//! collected ([`CatalogReading`]), by either.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::audit::AuditRecord;
use crate::catalog::LiveCatalog;

type Labels = Vec<(&'static str, String)>;

/// Seconds: the bucket bounds OpenTelemetry's MCP conventions recommend for
/// `mcp.server.operation.duration`.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Bytes: 64 KiB to 8 GiB, by fours (`weld_tool_peak_memory_bytes`).
pub const MEMORY_BUCKETS: [f64; 14] = exponential(65_536.0, 4.0);

/// Instructions: 1e3 to 1e12, by tens (`weld_tool_fuel_used`).
pub const FUEL_BUCKETS: [f64; 10] = exponential(1_000.0, 10.0);

const fn exponential<const N: usize>(start: f64, factor: f64) -> [f64; N] {
    let mut bounds = [0.0; N];
    let mut at = 0;
    let mut bound = start;
    while at < N {
        bounds[at] = bound;
        bound *= factor;
        at += 1;
    }
    bounds
}

/// What one audit record adds to the metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    /// The MCP method: `tools/call`, or the request's own
    /// (`resources/read`, `prompts/get`, …).
    pub method: &'a str,
    /// The tool called (or, for another request, its method).
    pub tool: &'a str,
    /// The tool, for `tools/call` (`gen_ai.tool.name`).
    pub tool_name: Option<&'a str>,
    /// Seconds from the request's arrival to its answer, waiting included
    /// (`mcp.server.operation.duration`).
    pub duration_seconds: f64,
    /// How it failed (its outcome: `tool_error`, `deadline`, …), or `None`
    /// when it succeeded (`error.type`).
    pub error_type: Option<&'a str>,
    /// The component serving it (`weld` for the built-in tools).
    pub component: &'a str,
    /// How it ended (`ok`, `tool_error`, `deadline`, …).
    pub outcome: &'a str,
    /// Seconds it waited for a concurrency slot, an instance and memory.
    pub queued_seconds: f64,
    /// The most linear memory it held at once, when known (not for
    /// built-in tools and proxied servers).
    pub peak_memory: Option<u64>,
    /// Fuel it burned, when its policy sets a budget.
    pub fuel: Option<u64>,
    /// What the sandbox refused, by kind (`network`, `storage`): zero
    /// counts included.
    pub denials: [(&'static str, u64); 2],
}

impl<'a> Sample<'a> {
    /// What `record` adds.
    pub fn of(record: &'a AuditRecord) -> Self {
        let network =
            record.network.iter().filter(|d| !d.allowed).count() as u64 + record.network_dropped;
        let storage = record.storage_denied.len() as u64 + record.storage_denied_dropped;
        // A request other than a tool call names its method in `tool`, and
        // what it was about in `target` (`resources/read`, …), or is a
        // listing no component answers (`resources/list`, …: no component,
        // and a method's slash, which no built-in tool's name has).
        let listing = record.component.is_empty() && record.tool.contains('/');
        let (method, tool_name) = if record.target.is_some() || listing {
            (record.tool.as_str(), None)
        } else {
            ("tools/call", Some(record.tool.as_str()))
        };
        let failed = record.outcome != "ok" && record.outcome != "applied";
        Self {
            method,
            tool: &record.tool,
            tool_name,
            duration_seconds: (record.duration_us + record.queued_us + record.load_us) as f64 / 1e6,
            error_type: failed.then_some(record.outcome.as_str()),
            component: &record.component,
            outcome: &record.outcome,
            queued_seconds: record.queued_us as f64 / 1e6,
            peak_memory: (record.peak_memory > 0).then_some(record.peak_memory),
            fuel: record.fuel_used,
            denials: [("network", network), ("storage", storage)],
        }
    }
}

/// Another place the metrics go (the binary's OTLP export): given every
/// [`Sample`] on the audit writer thread, after Prometheus' families.
pub trait MetricSink: Send + Sync {
    /// Counts one record's sample.
    fn sample(&self, sample: &Sample<'_>);
    /// Counts records the audit queue had to drop.
    fn dropped(&self, records: u64);
    /// Times a request that is not audited (`tools/list`, which weld
    /// answers from its catalog): `mcp.server.operation.duration` only.
    fn operation(&self, method: &str, duration_seconds: f64, error_type: Option<&str>);
}

/// What the live catalog holds now: the gauges, read when collected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogReading {
    /// Tools served (not counting the built-in ones).
    pub tools: u64,
    /// Components not served because they failed to load (or their
    /// policy cannot be honoured; for an MCP server component, it could
    /// not be started or its tools listed and served): weld's load
    /// errors, each with its reason in `weld list` or the log.
    pub disabled: u64,
    /// Per component (MCP server components included), by name: (name,
    /// calls running, calls waiting).
    pub components: Vec<(String, u32, u32)>,
}

impl CatalogReading {
    /// Reads `live`'s current catalog.
    pub fn of(live: &LiveCatalog) -> Self {
        let catalog = live.snapshot();
        let mut components = catalog.component_calls();
        components.extend(catalog.proxied().iter().map(|server| {
            let (running, waiting) = server.calls().now();
            (server.name.clone(), running, waiting)
        }));
        components.sort();
        Self {
            tools: catalog.tools().len() as u64
                + catalog
                    .proxied()
                    .iter()
                    .map(|p| u64::from(p.served_tools()))
                    .sum::<u64>(),
            disabled: (catalog.disabled().len()
                + catalog.left_out()
                + catalog.proxied().iter().filter(|p| p.unserved()).count())
                as u64,
            components,
        }
    }
}

/// The metrics of one weld process.
pub struct Metrics {
    registry: Registry,
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    calls: Family<Labels, Counter>,
    denials: Family<Labels, Counter>,
    queued: Family<Labels, Histogram, fn() -> Histogram>,
    peak_memory: Family<Labels, Histogram, fn() -> Histogram>,
    fuel: Family<Labels, Histogram, fn() -> Histogram>,
    lost: Counter,
    sink: Option<Arc<dyn MetricSink>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("sink", &self.sink.is_some())
            .finish_non_exhaustive()
    }
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

fn memory_histogram() -> Histogram {
    Histogram::new(MEMORY_BUCKETS)
}

fn fuel_histogram() -> Histogram {
    Histogram::new(FUEL_BUCKETS)
}

impl Metrics {
    /// The metrics, with gauges read from `live` at every scrape (tools
    /// served, components disabled) when given.
    pub fn new(live: Option<Arc<LiveCatalog>>) -> Self {
        let mut registry = Registry::default();
        let duration = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "mcp_server_operation_duration_seconds",
            "Duration of MCP requests as the server saw them (tools/call: from the request to \
             the answer's record), by mcp_method_name, gen_ai_tool_name and error_type",
            duration.clone(),
        );
        let calls = Family::<Labels, Counter>::default();
        registry.register(
            "weld_tool_calls",
            "Tool calls (and built-in management requests) by tool, component and outcome",
            calls.clone(),
        );
        let denials = Family::<Labels, Counter>::default();
        registry.register(
            "weld_tool_denials",
            "What the sandbox refused during calls, by tool and kind (network, storage)",
            denials.clone(),
        );
        let queued = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "weld_tool_queued_seconds",
            "Time calls waited for a concurrency slot, an instance and memory, by tool",
            queued.clone(),
        );
        let peak_memory = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            memory_histogram as fn() -> Histogram,
        );
        registry.register(
            "weld_tool_peak_memory_bytes",
            "The most linear memory a call held at once, by tool",
            peak_memory.clone(),
        );
        let fuel = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            fuel_histogram as fn() -> Histogram,
        );
        registry.register(
            "weld_tool_fuel_used",
            "Fuel a call burned, for tools whose policy sets a budget, by tool",
            fuel.clone(),
        );
        let lost = Counter::default();
        registry.register(
            "weld_audit_records_dropped",
            "Audit records dropped because the audit writer fell behind: calls missing from \
             the log and from these metrics",
            lost.clone(),
        );
        if let Some(live) = live {
            registry.register_collector(Box::new(CatalogGauges(live)));
        }
        Self {
            registry,
            duration,
            calls,
            denials,
            queued,
            peak_memory,
            fuel,
            lost,
            sink: None,
        }
    }

    /// The same metrics also counted by `sink` (when given), from the same
    /// samples.
    #[must_use]
    pub fn with_sink(mut self, sink: Option<Arc<dyn MetricSink>>) -> Self {
        self.sink = sink;
        self
    }

    /// Counts records the audit queue had to drop: calls these metrics
    /// never see.
    pub(crate) fn dropped(&self, records: u64) {
        self.lost.inc_by(records);
        if let Some(sink) = &self.sink {
            sink.dropped(records);
        }
    }

    /// Times a request that is not audited (`tools/list`, answered from
    /// the catalog): only `mcp.server.operation.duration`, by method and,
    /// when it failed, `error.type` (the JSON-RPC error code).
    pub fn observe_operation(&self, method: &str, duration_seconds: f64, error_type: Option<&str>) {
        let mut operation = vec![("mcp_method_name", method.to_string())];
        if let Some(error) = error_type {
            operation.push(("error_type", error.to_string()));
        }
        self.duration
            .get_or_create(&operation)
            .observe(duration_seconds);
        if let Some(sink) = &self.sink {
            sink.operation(method, duration_seconds, error_type);
        }
    }

    /// Counts one audit record.
    pub(crate) fn observe(&self, record: &AuditRecord) {
        let sample = Sample::of(record);
        self.count(&sample);
        if let Some(sink) = &self.sink {
            sink.sample(&sample);
        }
    }

    /// Counts `sample` in Prometheus' families.
    fn count(&self, sample: &Sample<'_>) {
        let mut operation = vec![("mcp_method_name", sample.method.to_string())];
        if let Some(tool) = sample.tool_name {
            operation.push(("gen_ai_tool_name", tool.to_string()));
        }
        if let Some(error) = sample.error_type {
            operation.push(("error_type", error.to_string()));
        }
        self.duration
            .get_or_create(&operation)
            .observe(sample.duration_seconds);
        let tool = || vec![("tool", sample.tool.to_string())];
        let mut calls = tool();
        calls.push(("component", sample.component.to_string()));
        calls.push(("outcome", sample.outcome.to_string()));
        self.calls.get_or_create(&calls).inc();
        let labels = tool();
        self.queued
            .get_or_create(&labels)
            .observe(sample.queued_seconds);
        if let Some(bytes) = sample.peak_memory {
            self.peak_memory
                .get_or_create(&labels)
                .observe(bytes as f64);
        }
        if let Some(fuel) = sample.fuel {
            self.fuel.get_or_create(&labels).observe(fuel as f64);
        }
        for (kind, count) in sample.denials {
            if count > 0 {
                let mut labels = tool();
                labels.push(("kind", kind.to_string()));
                self.denials.get_or_create(&labels).inc_by(count);
            }
        }
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// What the live catalog holds, read at each scrape.
struct CatalogGauges(Arc<LiveCatalog>);

impl std::fmt::Debug for CatalogGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CatalogGauges")
    }
}

impl Collector for CatalogGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let reading = CatalogReading::of(&self.0);
        let tools = ConstGauge::new(i64::try_from(reading.tools).unwrap_or(i64::MAX));
        tools.encode(encoder.encode_descriptor(
            "weld_tools",
            "Tools served (not counting the built-in ones)",
            None,
            tools.metric_type(),
        )?)?;
        let disabled = ConstGauge::new(i64::try_from(reading.disabled).unwrap_or(i64::MAX));
        disabled.encode(encoder.encode_descriptor(
            "weld_components_disabled",
            "Components not served because they failed to load (or, MCP server components, \
             to start or list their tools); weld list or the log says why",
            None,
            disabled.metric_type(),
        )?)?;
        for (name, help, pick) in [
            (
                "weld_component_calls_running",
                "Calls of each component running now (instances in use)",
                0,
            ),
            (
                "weld_component_calls_waiting",
                "Calls of each component waiting for one of its slots now",
                1,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (component, running, waiting) in &reading.components {
                let value = if pick == 0 { *running } else { *waiting };
                let labels = [("component", component.as_str())];
                ConstGauge::new(i64::from(value)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tool: &str, outcome: &str, duration_us: u64) -> AuditRecord {
        serde_json::from_value(serde_json::json!({
            "time": "2026-12-07T00:00:00.000Z",
            "tool": tool,
            "component": "c",
            "digest": "",
            "args_bytes": 2,
            "queued_us": 0,
            "duration_us": duration_us,
            "peak_memory": 1_048_576,
            "stdout_bytes": 0,
            "stderr_bytes": 0,
            "outcome": outcome,
            "network": [
                {"kind": "https", "host": "x", "port": 443, "allowed": false},
                {"kind": "https", "host": "y", "port": 443, "allowed": true}
            ],
            "storage_denied": [{"op": "open-at", "path": "/etc/passwd", "error": "no-entry"}]
        }))
        .expect("record")
    }

    #[test]
    fn calls_durations_and_denials_are_counted_by_tool_and_outcome() {
        let metrics = Metrics::new(None);
        metrics.observe(&record("c_f", "ok", 30_000));
        metrics.observe(&record("c_f", "ok", 30_000));
        metrics.observe(&record("c_f", "deadline", 2_000_000));
        let text = metrics.encode();
        assert!(
            text.contains(r#"weld_tool_calls_total{tool="c_f",component="c",outcome="ok"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"weld_tool_calls_total{tool="c_f",component="c",outcome="deadline"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"weld_tool_denials_total{tool="c_f",kind="network"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"weld_tool_denials_total{tool="c_f",kind="storage"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"mcp_server_operation_duration_seconds_bucket{le="0.05",mcp_method_name="tools/call",gen_ai_tool_name="c_f"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"error_type="deadline""#),
            "a failure carries its error type: {text}"
        );
    }

    /// Keeps what it is given.
    #[derive(Default)]
    struct Kept(std::sync::Mutex<(Vec<String>, u64)>);

    impl MetricSink for Kept {
        fn sample(&self, sample: &Sample<'_>) {
            self.0.lock().unwrap().0.push(format!("{sample:?}"));
        }
        fn dropped(&self, records: u64) {
            self.0.lock().unwrap().1 += records;
        }
        fn operation(&self, method: &str, duration_seconds: f64, error_type: Option<&str>) {
            self.0
                .lock()
                .unwrap()
                .0
                .push(format!("{method} {duration_seconds} {error_type:?}"));
        }
    }

    #[test]
    fn an_operation_that_is_not_audited_is_timed_under_its_method() {
        let kept = Arc::new(Kept::default());
        let metrics = Metrics::new(None).with_sink(Some(kept.clone() as Arc<dyn MetricSink>));
        metrics.observe_operation("tools/list", 0.002, None);
        metrics.observe_operation("tools/list", 0.001, Some("-32602"));
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"mcp_server_operation_duration_seconds_count{mcp_method_name="tools/list"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"mcp_server_operation_duration_seconds_count{mcp_method_name="tools/list",error_type="-32602"} 1"#
            ),
            "{text}"
        );
        assert_eq!(
            kept.0.lock().unwrap().0,
            [
                "tools/list 0.002 None",
                r#"tools/list 0.001 Some("-32602")"#
            ]
        );
        assert!(!text.contains("weld_tool_calls"), "not a call: {text}");
    }

    #[test]
    fn a_sink_is_given_the_samples_prometheus_counts() {
        let kept = Arc::new(Kept::default());
        let metrics = Metrics::new(None).with_sink(Some(kept.clone() as Arc<dyn MetricSink>));
        let mut fueled = record("c_f", "ok", 30_000);
        fueled.fuel_used = Some(12_345);
        fueled.queued_us = 250_000;
        metrics.observe(&fueled);
        metrics.dropped(4);
        let expected = Sample {
            method: "tools/call",
            tool: "c_f",
            tool_name: Some("c_f"),
            duration_seconds: 0.28,
            error_type: None,
            component: "c",
            outcome: "ok",
            queued_seconds: 0.25,
            peak_memory: Some(1_048_576),
            fuel: Some(12_345),
            denials: [("network", 1), ("storage", 1)],
        };
        let (samples, dropped) = &*kept.0.lock().unwrap();
        assert_eq!(samples, &[format!("{expected:?}")]);
        assert_eq!(*dropped, 4);
        let text = metrics.encode();
        assert!(
            text.contains(r#"weld_tool_fuel_used_sum{tool="c_f"} 12345"#),
            "{text}"
        );
        assert!(
            text.contains("weld_audit_records_dropped_total 4"),
            "{text}"
        );
    }

    #[test]
    fn a_request_other_than_a_tool_call_is_counted_under_its_own_method() {
        let metrics = Metrics::new(None);
        let mut listing = record("resources/list", "ok", 1_000);
        listing.component = String::new();
        let mut read = record("resources/read", "not_found", 1_000);
        read.component = "notes".into();
        read.target = Some("notes://missing".into());
        let mut builtin = record("weld_list_components", "ok", 1_000);
        builtin.component = String::new();
        metrics.observe(&listing);
        metrics.observe(&read);
        metrics.observe(&builtin);
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"mcp_server_operation_duration_seconds_count{mcp_method_name="tools/call",gen_ai_tool_name="weld_list_components"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"mcp_server_operation_duration_seconds_count{mcp_method_name="resources/list"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"mcp_server_operation_duration_seconds_count{mcp_method_name="resources/read",error_type="not_found"} 1"#
            ),
            "{text}"
        );
        assert!(!text.contains(r#"gen_ai_tool_name="resources"#), "{text}");
    }
}
