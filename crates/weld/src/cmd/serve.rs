//! `weld serve`: MCP over stdio or Streamable HTTP.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio_util::sync::CancellationToken;
use weld_host::{Audit, AuditFailure, Catalog, Compiling, Host, LiveCatalog, McpNaming};
use weld_mcp::{BuiltinOptions, HttpLimits, HttpOptions, Management, ServerOptions, WeldServer};
use weld_store::Store;

use super::{Env, base_dir, limits};
use crate::cli;

/// `weld serve`.
pub(super) async fn serve(env: &Env, args: cli::ServeArgs) -> Result<ExitCode> {
    if args.audit_to == cli::AuditTo::Stdout && args.http.is_none() {
        bail!(
            "--audit-to stdout needs --http: over stdio, standard output is the MCP channel \
             (use the default, --audit-to file)"
        );
    }
    let base = base_dir(env.dirs.base_dir.clone(), false)?;
    let limits = limits(&args.limits)?;
    let host = env
        .host(args.max_instances, args.limits.memory_budget_mib, limits)?
        .with_files(args.components.clone())
        .with_base(base.clone())
        .with_mcp_naming(if args.prefix_mcp_names {
            McpNaming::Prefixed
        } else {
            McpNaming::AsGiven
        });
    tracing::info!(
        max_instances = args.max_instances,
        memory_budget_mib = host.runtime().memory_budget() / (1024 * 1024),
        "calls beyond the instance slots or the memory budget wait"
    );
    let store = host.store();
    let catalog = build_catalog(&host).await?;
    tracing::info!(
        state = %store.root().display(),
        tools = catalog.tools().len(),
        "serving the state directory (a client that drops WELD_STATE_DIR gets the default one: pass --state-dir in its arguments)"
    );
    let live = Arc::new(LiveCatalog::new(catalog));
    let metrics = Arc::new(
        weld_host::metrics::Metrics::new(Some(Arc::clone(&live)))
            .with_sink(crate::telemetry::metric_sink(&live)),
    );
    let audit = match args.audit_to {
        cli::AuditTo::File => open_audit_as(
            store,
            args.audit_failure.into(),
            args.replica.clone(),
            Some(Arc::clone(&metrics)),
        )?,
        cli::AuditTo::Stdout => {
            // Standard output may be a file with a size limit, too.
            weld_host::audit::survive_file_size_limit();
            Audit::to_stdout_as(
                args.audit_failure.into(),
                args.replica.clone(),
                Some(Arc::clone(&metrics)),
            )?
        }
    };
    let mut server = WeldServer::new(Arc::clone(&live), audit.clone())
        .with_trace_context(crate::telemetry::continue_trace)
        .with_metrics(Arc::clone(&metrics));
    if !args.no_builtin_tools {
        if args.allow_model_grants {
            tracing::warn!(
                "--allow-model-grants: grants asked for over MCP are applied without asking \
                 a person; the model can widen any tool's access"
            );
        }
        let policies = host.policies();
        match &base {
            Some(base) => {
                tracing::info!(base = %base.display(), "fs://./ URIs asked for over MCP are resolved against the base directory")
            }
            None => tracing::debug!("no --base-dir: fs://./ URIs asked for over MCP are refused"),
        }
        let options = BuiltinOptions {
            allow_model_grants: args.allow_model_grants,
        };
        // A weld.toml that cannot be read refuses install requests (saying
        // why); it never stops the installed tools from being served. Read
        // now, so a bad one is logged at start; the registry client (root
        // certificates and all) is built by the first install request.
        let config = env.config().map_err(|error| {
            let why = super::describe(&error);
            tracing::error!(error = %why, "install requests are refused: the configuration could not be used");
            why
        });
        let host = host.clone();
        // Made once (the management tools keep what this returns).
        let config = std::sync::Mutex::new(Some(config));
        let make_installer = move || {
            let config = config
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .unwrap_or_else(|| Err("the installer was made already".into()))?;
            let fetcher = weld_host::distribution::Fetcher::new(config.dist, config.trust)
                .map_err(|error| {
                    let why = super::describe(&anyhow::Error::from(error));
                    tracing::error!(error = %why, "install requests are refused: the configuration could not be used");
                    why
                })?;
            Ok(weld_host::distribution::Installer::new(
                host.clone(),
                fetcher,
            ))
        };
        let management = Management::new(policies, options)
            .context("drawing a key for grant approvals")?
            .with_installer_made_by(make_installer);
        server = server.with_management(Arc::new(management));
    }
    let idle = seconds(args.mcp_server_idle_timeout, "--mcp-server-idle-timeout")?;
    let server = server
        .with_mcp_server_idle_timeout(idle)
        .with_tools_page_size(args.tools_page_size);
    server.prepare_mcp_servers();
    let options = ServerOptions {
        max_request_bytes: args.max_request_bytes,
    };
    let delay = seconds_or_none(args.http_limits.shutdown_delay, "--shutdown-delay")?;
    // Only HTTP has a balancer to leave before it stops accepting.
    let delay = if args.http.is_some() {
        delay
    } else {
        Duration::ZERO
    };
    // `stopping` at the first signal (not ready), `shutdown` when weld
    // stops accepting: `delay` later, or at the next signal.
    let stopping = CancellationToken::new();
    let shutdown = CancellationToken::new();
    spawn_signal_handler(stopping.clone(), shutdown.clone(), delay)?;
    tokio::spawn(host.clone().watch(live, shutdown.clone()));
    match args.http {
        None => weld_mcp::serve_stdio(server, &options, shutdown).await?,
        Some(addr) => {
            let bearer_token = match &args.token_file {
                Some(path) => Some(read_token(path)?),
                None => None,
            };
            if !addr.ip().is_loopback() && bearer_token.is_none() {
                bail!(
                    "refusing to serve {addr} without authentication: anyone who can reach it \
                     could run every tool. Pass --token-file FILE (clients then send \
                     `Authorization: Bearer <token>`), or bind 127.0.0.1"
                );
            }
            if !addr.ip().is_loopback() && args.allowed_hosts.is_empty() {
                tracing::warn!(
                    %addr,
                    "bound to a non-loopback address but no --allow-host given: only requests \
                     with a loopback Host header will be accepted"
                );
            }
            let http = HttpOptions {
                addr,
                allowed_hosts: args.allowed_hosts,
                allowed_origins: args.allowed_origins,
                bearer_token,
                limits: http_limits(&args.http_limits)?,
                metrics: Some(Arc::new(move || metrics.encode())),
                readiness: Some(readiness(stopping, audit.clone())),
            };
            weld_mcp::serve_http(server, &options, &http, shutdown, |bound| {
                tracing::info!(url = %format!("http://{bound}/mcp"), "serving MCP over HTTP");
            })
            .await?;
        }
    }
    audit.flush(Duration::from_secs(5));
    Ok(ExitCode::SUCCESS)
}

/// Everything installed (and the files), compiled now: a server starts with
/// every tool it can serve.
pub(super) async fn build_catalog(host: &Host) -> Result<Catalog> {
    let catalog = host.load(Compiling::Now)?.into_catalog().await;
    for (component, unset) in catalog.unset_env() {
        tracing::warn!(%component, "{unset}");
    }
    for skipped in catalog.skipped() {
        if skipped.toolchain {
            tracing::debug!(
                component = %skipped.component,
                function = %skipped.function,
                reason = %skipped.reason,
                "toolchain export not served as a tool"
            );
            continue;
        }
        tracing::warn!(
            component = %skipped.component,
            function = %skipped.function,
            reason = %skipped.reason,
            "not served"
        );
    }
    Ok(catalog)
}

/// Why this replica should get no new calls: it is stopping, or every
/// call would be refused because the audit log cannot be written
/// (`--audit-failure refuse-calls`), which a balancer can route around.
/// Probes need no token, so the reason names no path and no error: the log
/// has them.
fn readiness(stopping: CancellationToken, audit: Audit) -> weld_mcp::Readiness {
    Arc::new(move || {
        if stopping.is_cancelled() {
            return Some("shutting down".into());
        }
        audit.refusal().map(|_| {
            "refusing tool calls: the audit log cannot be written (--audit-failure \
             refuse-calls); weld's log says why"
                .into()
        })
    })
}

/// `value` seconds, given as `flag`: zero (none), or positive and at most a
/// day.
fn seconds_or_none(value: f64, flag: &str) -> Result<Duration> {
    if value == 0.0 {
        return Ok(Duration::ZERO);
    }
    seconds(value, flag).map_err(|_| {
        anyhow::anyhow!(
            "{flag} must be 0 or a positive number of seconds, at most {} (24 hours)",
            weld_policy::MAX_TIMEOUT.as_secs_f64()
        )
    })
}

/// `value` seconds, given as `flag`: positive, at most a day.
fn seconds(value: f64, flag: &str) -> Result<Duration> {
    let max = weld_policy::MAX_TIMEOUT.as_secs_f64();
    if value.is_finite() && value > 0.0 && value <= max {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(anyhow::anyhow!(
            "{flag} must be a positive number of seconds, at most {max} (24 hours)"
        ))
    }
}

fn http_limits(args: &cli::HttpLimitArgs) -> Result<HttpLimits> {
    Ok(HttpLimits {
        max_connections: args.max_connections as usize,
        header_timeout: seconds(args.header_timeout, "--header-timeout")?,
        body_timeout: seconds(args.body_timeout, "--body-timeout")?,
        max_buffered_request_bytes: args.max_buffered_request_bytes,
        max_sessions: args.max_sessions as usize,
        session_idle_timeout: seconds(args.session_idle_timeout, "--session-idle-timeout")?,
        shutdown_grace: seconds(args.shutdown_grace, "--shutdown-grace")?,
    })
}

pub(super) fn open_audit(store: &Store, failure: AuditFailure) -> Result<Audit> {
    open_audit_as(store, failure, None, None)
}

/// The audit log, every record stamped with `replica` when given and
/// counted in `metrics`.
fn open_audit_as(
    store: &Store,
    failure: AuditFailure,
    replica: Option<String>,
    metrics: Option<Arc<weld_host::metrics::Metrics>>,
) -> Result<Audit> {
    weld_host::audit::survive_file_size_limit();
    let path = store.root().join("audit.jsonl");
    Ok(Audit::to_file_as(&path, failure, replica, metrics)?)
}

/// The first line of `path`, which must not be empty or short.
fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the token file {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.len() < 16 {
        bail!(
            "the token in {} is shorter than 16 characters; use a long random one \
             (e.g. `head -c 32 /dev/urandom | base64 > {}`)",
            path.display(),
            path.display()
        );
    }
    Ok(token)
}

/// On the first SIGTERM or SIGINT, fires `stopping`, then `shutdown` after
/// `delay` or at the next signal, whichever comes first.
fn spawn_signal_handler(
    stopping: CancellationToken,
    shutdown: CancellationToken,
    delay: Duration,
) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        stopping.cancel();
        if delay.is_zero() {
            tracing::info!("{name}: shutting down");
        } else {
            tracing::info!(
                ?delay,
                "{name}: /readyz answers 503 from now on; serving as usual for --shutdown-delay, \
                 then shutting down (another SIGTERM or SIGINT: at once)"
            );
            tokio::select! {
                () = tokio::time::sleep(delay) => tracing::info!("the shutdown delay is over: shutting down"),
                _ = term.recv() => tracing::info!("SIGTERM again: shutting down now"),
                _ = int.recv() => tracing::info!("SIGINT again: shutting down now"),
            }
        }
        shutdown.cancel();
    });
    Ok(())
}
