//! OpenTelemetry export: spans and metrics over OTLP/HTTP (protobuf), when
//! the standard `OTEL_*` variables ask for it.
//!
//! The spans are plain `tracing` spans on [`weld_host::TRACE_TARGET`] at
//! `TRACE` level (see weld-mcp's `trace` module): nothing enables them
//! unless an exporter is built here, so with export off they cost a level
//! comparison. An exporter is built only when an endpoint variable names
//! where to send (`OTEL_EXPORTER_OTLP_ENDPOINT`, or the signal's own
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `…_METRICS_ENDPOINT`), and not
//! when `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER` /
//! `OTEL_METRICS_EXPORTER` say `none`. A protocol or exporter weld cannot
//! honour (gRPC, `console`, …) is refused rather than silently ignored.
//!
//! The protobuf goes out with weld's own reqwest, on the process's tokio
//! runtime (`http`); the SDK's batch span processor and periodic metric
//! reader run on their own threads. Which metrics, and from where:
//! `metrics`. Nothing here writes to stdout.

mod http;
mod metrics;

pub use metrics::metric_sink;

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Level, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

use http::OtlpHttp;

/// How long one export may take (connect, send, read the answer): a stuck
/// collector must not hold up weld's shutdown for longer.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The exporters the environment asked for; [`Telemetry::shutdown`] sends
/// what is still buffered.
#[derive(Default)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
}

/// What the environment asks to export.
#[derive(Debug, Default, PartialEq, Eq)]
struct Wanted {
    traces: bool,
    metrics: bool,
}

impl Wanted {
    /// Reads the standard variables through `var`.
    fn from(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(Self::default());
        }
        let exporter = |name: &str| -> Result<bool> {
            match var(name).as_deref().map(str::trim) {
                None | Some("" | "otlp") => Ok(true),
                Some("none") => Ok(false),
                Some(other) => {
                    bail!("{name}={other}: weld exports only over OTLP; set it to `otlp` or `none`")
                }
            }
        };
        let protocol = |signal: &str| -> Result<()> {
            let own = format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL");
            let (name, value) = match var(&own) {
                Some(value) => (own, value),
                None => match var("OTEL_EXPORTER_OTLP_PROTOCOL") {
                    Some(value) => ("OTEL_EXPORTER_OTLP_PROTOCOL".to_string(), value),
                    None => return Ok(()),
                },
            };
            match value.trim() {
                "" | "http/protobuf" => Ok(()),
                other => bail!(
                    "{name}={other}: weld exports OTLP over HTTP with protobuf only; set it to \
                     `http/protobuf` (an OpenTelemetry Collector accepts it on port 4318)"
                ),
            }
        };
        let any_endpoint = set("OTEL_EXPORTER_OTLP_ENDPOINT");
        let traces = (any_endpoint || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
            && exporter("OTEL_TRACES_EXPORTER")?;
        let metrics = (any_endpoint || set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))
            && exporter("OTEL_METRICS_EXPORTER")?;
        if traces {
            protocol("TRACES")?;
        }
        if metrics {
            protocol("METRICS")?;
        }
        Ok(Self { traces, metrics })
    }
}

impl Telemetry {
    /// The exporters `OTEL_*` ask for (none when nothing does), sending on
    /// `runtime`; `replica` (`--replica`) names this process among others
    /// exporting as the same service.
    pub fn from_env(runtime: &tokio::runtime::Handle, replica: Option<&str>) -> Result<Self> {
        let wanted = Wanted::from(|name| std::env::var(name).ok())?;
        if wanted == Wanted::default() {
            return Ok(Self::default());
        }
        let http = OtlpHttp::new(runtime.clone())?;
        let resource = resource(|name| std::env::var(name).ok(), replica);
        let mut telemetry = Self::default();
        if wanted.traces {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_http_client(http.clone())
                .build()
                .context("could not set up OTLP span export (check OTEL_EXPORTER_OTLP_*)")?;
            telemetry.tracer = Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource.clone())
                    .build(),
            );
        }
        if wanted.metrics {
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_http_client(http)
                .build()
                .context("could not set up OTLP metric export (check OTEL_EXPORTER_OTLP_*)")?;
            let meter = SdkMeterProvider::builder()
                .with_reader(PeriodicReader::builder(exporter).build())
                .with_resource(resource)
                .build();
            metrics::set_meter(meter.meter("weld"));
            telemetry.meter = Some(meter);
        }
        Ok(telemetry)
    }

    /// The `tracing` layer that feeds the span exporter: none when spans
    /// are not exported, so that weld's spans stay disabled (metrics need
    /// none: they come from the audit records).
    pub fn layers<S>(&self) -> Option<Box<dyn Layer<S> + Send + Sync + 'static>>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let provider = self.tracer.as_ref()?;
        let spans = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("weld"))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(Targets::new().with_target(weld_host::TRACE_TARGET, Level::TRACE));
        Some(Box::new(spans))
    }

    /// Sends what is buffered and stops the exporters. Call it outside the
    /// async runtime, while the runtime still runs (the sending happens on
    /// it).
    pub fn shutdown(self) {
        if let Some(tracer) = self.tracer
            && let Err(error) = tracer.shutdown()
        {
            tracing::warn!(%error, "could not send the last spans to the OTLP endpoint");
        }
        if let Some(meter) = self.meter
            && let Err(error) = meter.shutdown()
        {
            tracing::warn!(%error, "could not send the last metrics to the OTLP endpoint");
        }
    }
}

/// `service.name` from `OTEL_SERVICE_NAME` (or `OTEL_RESOURCE_ATTRIBUTES`),
/// else `weld`; the SDK's default would be `unknown_service`.
///
/// `service.instance.id` is the replica's name (`--replica`, e.g. the
/// pod's), unless `OTEL_RESOURCE_ATTRIBUTES` gives one: replicas export
/// cumulative counters under one `service.name`, and without an instance
/// a collector would merge theirs into one series that jumps between
/// replicas' values.
fn resource(var: impl Fn(&str) -> Option<String>, replica: Option<&str>) -> Resource {
    let builder = Resource::builder();
    let attributes = var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default();
    let given = |key: &str| {
        attributes
            .split(',')
            .any(|pair| pair.split_once('=').is_some_and(|(k, _)| k.trim() == key))
    };
    let builder = if var("OTEL_SERVICE_NAME").is_some() || given("service.name") {
        builder
    } else {
        builder.with_service_name("weld")
    };
    let builder = match replica {
        Some(replica) if !given("service.instance.id") => {
            builder.with_attribute(KeyValue::new("service.instance.id", replica.to_owned()))
        }
        _ => builder,
    };
    builder
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Continues a caller's trace (weld-mcp's `ContinueTrace`): `span` becomes
/// a child of the remote span a W3C `traceparent` names. An invalid one is
/// ignored, and so is a span no exporter sees.
pub fn continue_trace(span: &tracing::Span, traceparent: &str, tracestate: Option<&str>) {
    let carrier = W3cContext {
        traceparent,
        tracestate,
    };
    let parent = TraceContextPropagator::new().extract(&carrier);
    // Fails only when no OpenTelemetry layer sees the span (`WELD_LOG=trace`
    // without export): then there is no trace to continue.
    let _ = span.set_parent(parent);
}

/// A request's `_meta` trace context, as the propagator reads it.
struct W3cContext<'a> {
    traceparent: &'a str,
    tracestate: Option<&'a str>,
}

impl Extractor for W3cContext<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(self.traceparent),
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(vars: &[(&str, &str)]) -> Result<Wanted> {
        Wanted::from(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_string())
        })
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        assert_eq!(wanted(&[]).unwrap(), Wanted::default());
        assert_eq!(
            wanted(&[
                ("OTEL_SERVICE_NAME", "weld"),
                ("OTEL_TRACES_EXPORTER", "otlp")
            ])
            .unwrap(),
            Wanted::default()
        );
    }

    #[test]
    fn the_standard_variables_choose_what_is_exported() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        assert_eq!(
            wanted(&[endpoint]).unwrap(),
            Wanted {
                traces: true,
                metrics: true
            }
        );
        assert_eq!(
            wanted(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]).unwrap(),
            Wanted {
                traces: false,
                metrics: true
            }
        );
        assert_eq!(
            wanted(&[endpoint, ("OTEL_SDK_DISABLED", "true")]).unwrap(),
            Wanted::default()
        );
        assert_eq!(
            wanted(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://c/v1/metrics")]).unwrap(),
            Wanted {
                traces: false,
                metrics: true
            }
        );
    }

    fn resource_of(vars: &[(&str, &str)], replica: Option<&str>) -> Vec<(String, String)> {
        let resource = resource(
            |name| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_string())
            },
            replica,
        );
        let mut attributes: Vec<_> = resource
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .filter(|(k, _)| k.starts_with("service."))
            .collect();
        attributes.sort();
        attributes
    }

    #[test]
    fn a_replica_is_the_service_instance_unless_the_environment_names_one() {
        let version = (
            "service.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        );
        assert_eq!(
            resource_of(&[], Some("weld-0")),
            [
                ("service.instance.id".to_string(), "weld-0".to_string()),
                ("service.name".to_string(), "weld".to_string()),
                version.clone(),
            ]
        );
        // The SDK reads OTEL_RESOURCE_ATTRIBUTES itself; weld only stands
        // back from the keys it gives.
        let given = resource_of(
            &[(
                "OTEL_RESOURCE_ATTRIBUTES",
                "team=a, service.instance.id=pod-9",
            )],
            Some("weld-0"),
        );
        assert!(!given.iter().any(|(_, v)| v == "weld-0"), "{given:?}");
        assert_eq!(
            resource_of(&[], None).len(),
            2,
            "no instance without a replica"
        );
    }

    #[test]
    fn a_protocol_or_exporter_weld_cannot_honour_is_refused() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317");
        let grpc = wanted(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap_err();
        assert!(grpc.to_string().contains("http/protobuf"), "{grpc}");
        let console = wanted(&[endpoint, ("OTEL_TRACES_EXPORTER", "console")]).unwrap_err();
        assert!(
            console.to_string().contains("`otlp` or `none`"),
            "{console}"
        );
    }
}
