//! Metrics over OTLP: the set `/metrics` serves, from the same sources.
//!
//! - `mcp.server.operation.duration` is taken from each MCP request's span
//!   when it closes ([`Durations`]): every method, with the conventions'
//!   `error.type` (`tool_error`, or the JSON-RPC code).
//! - Everything counted per call is weld-host's [`Sample`] of each audit
//!   record, given to [`Instruments`] on the audit writer thread right
//!   after Prometheus counts it: the call path pays nothing for it, and
//!   both exporters count the same records the same way.
//! - The gauges are observed from the live catalog when the SDK collects
//!   (at each export), never per call ([`CatalogReading`]).
//!
//! Names are OpenTelemetry's where its conventions have one, weld's
//! (`weld.*`) otherwise, chosen so that an OpenTelemetry Collector's
//! Prometheus exporter turns each back into its `/metrics` name
//! (`weld.tool.calls` with unit `{call}` becomes `weld_tool_calls_total`);
//! attributes are `/metrics`' labels.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, ObservableGauge};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
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

/// `mcp.server.operation.duration`, in seconds, with the MCP conventions'
/// buckets.
pub(super) fn duration_histogram(meter: &Meter) -> Histogram<f64> {
    meter
        .f64_histogram("mcp.server.operation.duration")
        .with_unit("s")
        .with_description("Duration of an MCP request as the server saw it")
        .with_boundaries(DURATION_BUCKETS.to_vec())
        .build()
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

/// What [`Durations`] sees: the MCP requests' spans, and nothing else, so
/// that with metrics exported and spans not, a call's child spans and
/// decision events stay disabled (the filter's verdict is cached per call
/// site).
pub(super) fn requests() -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(|metadata| {
        metadata.is_span()
            && metadata.target() == weld_host::TRACE_TARGET
            && metadata.name() == REQUEST_SPAN
    })
}

/// The name of every MCP request's span (weld-mcp's `trace`).
const REQUEST_SPAN: &str = "mcp.request";

/// Records `mcp.server.operation.duration` when an MCP request's span
/// closes: from its creation to its end, waiting included, with the
/// request's method, tool and `error.type` (absent on success).
pub(super) struct Durations {
    pub(super) histogram: Histogram<f64>,
}

/// What [`Durations`] keeps of an open request span.
struct Operation {
    started: Instant,
    attributes: Vec<KeyValue>,
}

/// The span fields that become the histogram's attributes.
const DURATION_ATTRIBUTES: [&str; 3] = ["mcp.method.name", "gen_ai.tool.name", "error.type"];

impl Visit for Operation {
    fn record_str(&mut self, field: &Field, value: &str) {
        if DURATION_ATTRIBUTES.contains(&field.name()) {
            self.attributes
                .push(KeyValue::new(field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if DURATION_ATTRIBUTES.contains(&field.name()) {
            self.attributes
                .push(KeyValue::new(field.name(), format!("{value:?}")));
        }
    }
}

impl<S> Layer<S> for Durations
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != REQUEST_SPAN {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut operation = Operation {
            started: Instant::now(),
            attributes: Vec::with_capacity(DURATION_ATTRIBUTES.len()),
        };
        attrs.record(&mut operation);
        span.extensions_mut().insert(operation);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(operation) = span.extensions_mut().get_mut::<Operation>() {
            values.record(operation);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if let Some(operation) = span.extensions_mut().remove::<Operation>() {
            let seconds = operation.started.elapsed().as_secs_f64();
            self.histogram.record(seconds, &operation.attributes);
        }
    }
}
