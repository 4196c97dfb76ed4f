//! The `weld` binary: command line, configuration and wiring. Everything
//! with behaviour worth testing lives in the library crates.

mod cli;
mod cmd;
mod config;
mod dirs;
mod telemetry;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::parse();
    let (serving, replica) = match &cli.command {
        cli::Command::Serve(args) => (true, args.replica.clone()),
        _ => (false, None),
    };
    if let cli::Command::CompileWorker { args } = &cli.command {
        init_logging(false, None);
        // Before any thread or runtime exists: it limits its own memory.
        return weld_runtime::compiler::child_main(args);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Only a server exports (its requests are the spans); a one-shot
    // command builds no exporter whatever OTEL_* say.
    let telemetry = if serving {
        match telemetry::Telemetry::from_env(runtime.handle(), replica.as_deref()) {
            Ok(telemetry) => telemetry,
            Err(error) => {
                eprintln!("error: {error:#}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        telemetry::Telemetry::default()
    };
    init_logging(serving, Some(&telemetry));
    let code = match runtime.block_on(cmd::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", cmd::describe(&error));
            ExitCode::FAILURE
        }
    };
    // Tool definitions a catalog derived are being kept in the background:
    // exiting mid-write would leave the next start to derive them again.
    weld_host::catalog::finish_keeping(std::time::Duration::from_secs(5));
    // Out of the runtime's context, while it still runs the sending.
    telemetry.shutdown();
    // A tool call abandoned at its deadline may leave a host thread blocked
    // in the kernel (a FIFO where a granted file was, a stuck disk); the
    // runtime's default drop would wait for it forever, and weld would
    // ignore its shutdown. Everything weld must finish (the audit log, the
    // state files) is done by now.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// Logs go to stderr, always: in stdio mode stdout is the MCP channel.
/// `telemetry`'s layers, when it exports, see weld's spans; the log filter
/// (`WELD_LOG`) applies to the log lines only.
fn init_logging(serving: bool, telemetry: Option<&telemetry::Telemetry>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{EnvFilter, Layer as _};
    // A server logs what it does; a one-shot command prints its result on
    // stdout and logs only warnings (its audit record is in the log file,
    // not on the person's terminal).
    let default = if serving {
        "info,rmcp=warn,wasmtime=warn,cranelift=warn"
    } else {
        "warn,rmcp=warn,wasmtime=warn,cranelift=warn"
    };
    let filter = EnvFilter::try_from_env("WELD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let Some(exported) = telemetry.and_then(telemetry::Telemetry::layers) else {
        // Without export, the log filter is the only (global) filter: the
        // spans meant for export stay disabled at their call sites.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
        return;
    };
    // With export, the log filter applies to the log lines only, and the
    // exporters see weld's spans whatever WELD_LOG says.
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(filter);
    tracing_subscriber::registry()
        .with(logs)
        .with(exported)
        .init();
}
