//! The `weld` binary: command line, configuration and wiring. Everything
//! with behaviour worth testing lives in the library crates.

mod cli;
mod cmd;
mod config;
mod dirs;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::parse();
    init_logging(matches!(cli.command, cli::Command::Serve(_)));
    if let cli::Command::CompileWorker { args } = &cli.command {
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
    let code = match runtime.block_on(cmd::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", cmd::describe(&error));
            ExitCode::FAILURE
        }
    };
    // A tool call abandoned at its deadline may leave a host thread blocked
    // in the kernel (a FIFO where a granted file was, a stuck disk); the
    // runtime's default drop would wait for it forever, and weld would
    // ignore its shutdown. Everything weld must finish (the audit log, the
    // state files) is done by now.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// Logs go to stderr, always: in stdio mode stdout is the MCP channel.
fn init_logging(serving: bool) {
    use tracing_subscriber::EnvFilter;
    // A server logs what it does; a one-shot command prints its result on
    // stdout and logs only warnings (its audit record is in the log file,
    // not on the person's terminal).
    let default = if serving {
        "info,rmcp=warn,wasmtime=warn,cranelift=warn"
    } else {
        "warn,rmcp=warn,wasmtime=warn,cranelift=warn"
    };
    let filter = EnvFilter::try_from_env("WELD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}
