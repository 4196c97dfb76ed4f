//! Metrics over OTLP: the set `/metrics` serves, from the same sources.
//!
//! - Everything counted per call (`mcp.server.operation.duration`
//!   included) is weld-host's [`Sample`] of each audit record, given to
//!   [`Instruments`] on the audit writer thread right after Prometheus
//!   counts it: the call path pays nothing for it, spans exported or not,
//!   and both exporters count the same records the same way.
//! - The gauges are observed from the live catalog when the SDK collects
//!   (at each export), never per call ([`CatalogReading`]).
//!
//! Names are OpenTelemetry's where its conventions have one, weld's
//! (`weld.*`) otherwise, chosen so that an OpenTelemetry Collector's
//! Prometheus exporter turns each back into its `/metrics` name
//! (`weld.tool.calls` with unit `{call}` becomes `weld_tool_calls_total`);
//! attributes are `/metrics`' labels.

use std::sync::{Arc, OnceLock};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, ObservableGauge};
use weld_host::LiveCatalog;
use weld_host::metrics::{
    CatalogReading, DURATION_BUCKETS, FUEL_BUCKETS, MEMORY_BUCKETS, MetricSink, Sample,
};

/// The meter of this process's metric export, set once when the
/// environment asks for it.
static METER: OnceLock<Meter> = OnceLock::new();

/// Makes `meter` the one [`metric_sink`] uses.
pub(super) fn set_meter(meter: Meter) {
    let _set_once = METER.set(meter);
}

/// Where weld-host's metrics go over OTLP, with the gauges read from
/// `live` at each export; `None` when no metric is exported (then the
/// audit writer gives nothing to anyone but Prometheus).
pub fn metric_sink(live: &Arc<LiveCatalog>) -> Option<Arc<dyn MetricSink>> {
    let meter = METER.get()?;
    Some(Arc::new(Instruments::new(meter, live)))
}

/// The OTLP instruments of weld-host's metrics.
struct Instruments {
    duration: Histogram<f64>,
    calls: Counter<u64>,
    denials: Counter<u64>,
    queued: Histogram<f64>,
    peak_memory: Histogram<u64>,
    fuel: Histogram<u64>,
    dropped: Counter<u64>,
    /// Held for as long as the sink is: their callbacks run at each
    /// export.
    _gauges: [ObservableGauge<u64>; 4],
}

impl Instruments {
    fn new(meter: &Meter, live: &Arc<LiveCatalog>) -> Self {
        let duration = meter
            .f64_histogram("mcp.server.operation.duration")
            .with_unit("s")
            .with_description(
                "Duration of MCP requests as the server saw them (tools/call: from the request \
                 to the answer's record), by mcp.method.name, gen_ai.tool.name and error.type",
            )
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build();
        let calls = meter
            .u64_counter("weld.tool.calls")
            .with_unit("{call}")
            .with_description(
                "Tool calls (and built-in management requests) by tool, component and outcome",
            )
            .build();
        let denials = meter
            .u64_counter("weld.tool.denials")
            .with_unit("{denial}")
            .with_description("What the sandbox refused during calls, by tool and kind")
            .build();
        let queued = meter
            .f64_histogram("weld.tool.queued")
            .with_unit("s")
            .with_description(
                "Time calls waited for a concurrency slot, an instance and memory, by tool",
            )
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build();
        let peak_memory = meter
            .u64_histogram("weld.tool.peak_memory")
            .with_unit("By")
            .with_description("The most linear memory a call held at once, by tool")
            .with_boundaries(MEMORY_BUCKETS.to_vec())
            .build();
        let fuel = meter
            .u64_histogram("weld.tool.fuel_used")
            .with_unit("{instruction}")
            .with_description("Fuel a call burned, for tools whose policy sets a budget, by tool")
            .with_boundaries(FUEL_BUCKETS.to_vec())
            .build();
        let dropped = meter
            .u64_counter("weld.audit.records_dropped")
            .with_unit("{record}")
            .with_description(
                "Audit records dropped because the audit writer fell behind: calls missing \
                 from the log and from these metrics",
            )
            .build();
        // Exported at zero from the start, as `/metrics` shows it: a
        // series that appears only once records are lost is missed by
        // alerts on its rate.
        dropped.add(0, &[]);
        Self {
            duration,
            calls,
            denials,
            queued,
            peak_memory,
            fuel,
            dropped,
            _gauges: catalog_gauges(meter, live),
        }
    }
}

impl MetricSink for Instruments {
    fn sample(&self, sample: &Sample<'_>) {
        let mut operation = Vec::with_capacity(3);
        operation.push(KeyValue::new("mcp.method.name", sample.method.to_string()));
        if let Some(tool) = sample.tool_name {
            operation.push(KeyValue::new("gen_ai.tool.name", tool.to_string()));
        }
        if let Some(error) = sample.error_type {
            operation.push(KeyValue::new("error.type", error.to_string()));
        }
        self.duration.record(sample.duration_seconds, &operation);
        let tool = KeyValue::new("tool", sample.tool.to_string());
        self.calls.add(
            1,
            &[
                tool.clone(),
                KeyValue::new("component", sample.component.to_string()),
                KeyValue::new("outcome", sample.outcome.to_string()),
            ],
        );
        let by_tool = std::slice::from_ref(&tool);
        self.queued.record(sample.queued_seconds, by_tool);
        if let Some(bytes) = sample.peak_memory {
            self.peak_memory.record(bytes, by_tool);
        }
        if let Some(fuel) = sample.fuel {
            self.fuel.record(fuel, by_tool);
        }
        for (kind, count) in sample.denials {
            if count > 0 {
                self.denials
                    .add(count, &[tool.clone(), KeyValue::new("kind", kind)]);
            }
        }
    }

    fn dropped(&self, records: u64) {
        self.dropped.add(records, &[]);
    }

    fn operation(&self, method: &str, duration_seconds: f64, error_type: Option<&str>) {
        let mut operation = Vec::with_capacity(2);
        operation.push(KeyValue::new("mcp.method.name", method.to_string()));
        if let Some(error) = error_type {
            operation.push(KeyValue::new("error.type", error.to_string()));
        }
        self.duration.record(duration_seconds, &operation);
    }
}

/// Observes a gauge's values (with their attributes) in a reading.
type Pick = fn(&CatalogReading, &mut dyn FnMut(u64, &[KeyValue]));

/// The gauges `/metrics` reads from the live catalog at each scrape, here
/// read at each export: tools served, components disabled (weld's load
/// errors), and each component's calls running (instances in use) and
/// waiting.
fn catalog_gauges(meter: &Meter, live: &Arc<LiveCatalog>) -> [ObservableGauge<u64>; 4] {
    let read = |pick: Pick| {
        let live = Arc::clone(live);
        move |observer: &dyn opentelemetry::metrics::AsyncInstrument<u64>| {
            pick(&CatalogReading::of(&live), &mut |value, attributes| {
                observer.observe(value, attributes);
            });
        }
    };
    [
        meter
            .u64_observable_gauge("weld.tools")
            .with_unit("{tool}")
            .with_description("Tools served (not counting the built-in ones)")
            .with_callback(read(|reading, observe| observe(reading.tools, &[])))
            .build(),
        meter
            .u64_observable_gauge("weld.components.disabled")
            .with_unit("{component}")
            .with_description(
                "Components not served because they failed to load (or, MCP server \
                 components, to start or list their tools); weld list or the log says why",
            )
            .with_callback(read(|reading, observe| observe(reading.disabled, &[])))
            .build(),
        meter
            .u64_observable_gauge("weld.component.calls.running")
            .with_unit("{call}")
            .with_description("Calls of each component running now (instances in use)")
            .with_callback(read(|reading, observe| {
                each_component(reading, observe, |running, _| running);
            }))
            .build(),
        meter
            .u64_observable_gauge("weld.component.calls.waiting")
            .with_unit("{call}")
            .with_description("Calls of each component waiting for one of its slots now")
            .with_callback(read(|reading, observe| {
                each_component(reading, observe, |_, waiting| waiting);
            }))
            .build(),
    ]
}

/// Observes `pick(running, waiting)` of each component, by name.
fn each_component(
    reading: &CatalogReading,
    observe: &mut dyn FnMut(u64, &[KeyValue]),
    pick: fn(u32, u32) -> u32,
) {
    for (component, running, waiting) in &reading.components {
        observe(
            u64::from(pick(*running, *waiting)),
            &[KeyValue::new("component", component.clone())],
        );
    }
}
