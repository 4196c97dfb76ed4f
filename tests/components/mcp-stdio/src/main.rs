//! An MCP server written with the official Rust SDK (rmcp), compiled to
//! `wasm32-wasip2` as a command: it speaks MCP over its own stdin and
//! stdout, and weld runs it as a long-lived sandboxed instance and proxies
//! its tools (see `docs/mcp-components.md`).
//!
//! Its tools exist to prove what the proxy does: `echo` and `add` answer,
//! `sleep` waits (for deadlines and cancellation), `crash` aborts the
//! program (for restarts), `read_file` reads a path (for the sandbox),
//! `progress` sends progress and log notifications, and `stats` tells what
//! this instance has seen (for cancellations reaching it, and restarts).
//!
//! The handler is written by hand rather than with rmcp's macros; it is a
//! few tools and a `match`.

#![allow(
    deprecated,
    reason = "log messages, deprecated by SEP-2577 (2026-07-28), are what existing servers send; the proxy must forward them"
)]

mod stdio;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, LoggingLevel, LoggingMessageNotificationParam, PaginatedRequestParams,
    ProgressNotificationParam, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};

/// What this instance has seen; gone with it when it stops.
struct Stats {
    /// Drawn at start: a restarted server has another.
    instance: u64,
    calls: AtomicU64,
    /// `sleep` calls that ended because their request was cancelled.
    cancelled: AtomicU64,
}

#[derive(Clone)]
struct Server {
    tools: Arc<Vec<Tool>>,
    stats: Arc<Stats>,
}

fn schema(value: Value) -> Arc<Map<String, Value>> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::default(),
    }
}

fn tools() -> Vec<Tool> {
    let object = |properties: Value, required: &[&str]| {
        schema(json!({"type": "object", "properties": properties, "required": required}))
    };
    vec![
        Tool::new(
            "echo",
            "Returns its text.",
            object(json!({"text": {"type": "string"}}), &["text"]),
        ),
        Tool::new(
            "add",
            "Adds two integers.",
            object(
                json!({"a": {"type": "integer"}, "b": {"type": "integer"}}),
                &["a", "b"],
            ),
        ),
        Tool::new(
            "sleep",
            "Waits `ms` milliseconds, or until the request is cancelled.",
            object(json!({"ms": {"type": "integer", "minimum": 0}}), &["ms"]),
        ),
        Tool::new(
            "crash",
            "Aborts the server program.",
            object(json!({}), &[]),
        ),
        Tool::new(
            "read_file",
            "Reads a text file.",
            object(json!({"path": {"type": "string"}}), &["path"]),
        ),
        Tool::new(
            "progress",
            "Sends `steps` progress notifications and log messages, then answers.",
            object(
                json!({"steps": {"type": "integer", "minimum": 1, "maximum": 100}}),
                &["steps"],
            ),
        ),
        Tool::new(
            "stats",
            "What this server instance has seen: its random id, its calls, and how many sleeps were cancelled.",
            object(json!({}), &[]),
        ),
    ]
}

fn text(result: impl Into<String>) -> Result<CallToolResponse, McpError> {
    Ok(CallToolResult::success(vec![ContentBlock::text(result)]).into())
}

fn failed(message: impl Into<String>) -> Result<CallToolResponse, McpError> {
    Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into())
}

fn int(args: &Map<String, Value>, key: &str) -> Result<i64, McpError> {
    args.get(key)
        .and_then(Value::as_i64)
        .ok_or_else(|| McpError::invalid_params(format!("`{key}` must be an integer"), None))
}

fn string<'a>(args: &'a Map<String, Value>, key: &str) -> Result<&'a str, McpError> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| McpError::invalid_params(format!("`{key}` must be a string"), None))
}

impl Server {
    async fn progress(
        &self,
        steps: i64,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let token = context.meta.get_progress_token();
        for step in 1..=steps {
            if let Some(token) = &token {
                let mut param = ProgressNotificationParam::new(token.clone(), step as f64);
                param.total = Some(steps as f64);
                param.message = Some(format!("step {step} of {steps}"));
                let _ = context.peer.notify_progress(param).await;
            }
            let param = LoggingMessageNotificationParam::new(
                LoggingLevel::Info,
                json!(format!("mcp-stdio: step {step} of {steps}")),
            );
            let _ = context.peer.notify_logging_message(param).await;
        }
        text(format!("{steps} steps done"))
    }
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new("weld-test-mcp-stdio", "0.1.0"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tools.to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let args = request.arguments.unwrap_or_default();
        match request.name.as_ref() {
            "echo" => text(string(&args, "text")?),
            "add" => {
                let (a, b) = (int(&args, "a")?, int(&args, "b")?);
                match a.checked_add(b) {
                    Some(sum) => text(sum.to_string()),
                    None => failed("the sum overflows a 64-bit integer"),
                }
            }
            "sleep" => {
                let ms = u64::try_from(int(&args, "ms")?).unwrap_or(0);
                tokio::select! {
                    () = stdio::sleep(Duration::from_millis(ms)) => text(format!("slept {ms} ms")),
                    () = context.ct.cancelled() => {
                        self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
                        eprintln!("mcp-stdio: sleep of {ms} ms cancelled");
                        failed("cancelled")
                    }
                }
            }
            "crash" => {
                eprintln!("mcp-stdio: crashing on request");
                std::process::abort()
            }
            "read_file" => {
                let path = string(&args, "path")?;
                match std::fs::read_to_string(path) {
                    Ok(contents) => text(contents),
                    Err(error) => failed(format!("cannot read {path}: {error}")),
                }
            }
            "progress" => self.progress(int(&args, "steps")?.clamp(1, 100), &context).await,
            "stats" => text(
                json!({
                    "instance": self.stats.instance,
                    "calls": self.stats.calls.load(Ordering::Relaxed),
                    "cancelled": self.stats.cancelled.load(Ordering::Relaxed),
                })
                .to_string(),
            ),
            other => Err(McpError::invalid_params(
                format!("unknown tool `{other}`"),
                None,
            )),
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .on_thread_park(stdio::park)
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mcp-stdio: cannot start the async runtime: {error}");
            std::process::exit(1);
        }
    };
    let server = Server {
        tools: Arc::new(tools()),
        stats: Arc::new(Stats {
            instance: wasip2::random::random::get_random_u64(),
            calls: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
        }),
    };
    eprintln!("mcp-stdio: serving MCP over stdio");
    let served = runtime.block_on(async move {
        let running = server.serve(stdio::stdio()).await?;
        running.waiting().await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    });
    match served {
        Ok(()) => eprintln!("mcp-stdio: stdin closed; bye"),
        Err(error) => {
            eprintln!("mcp-stdio: {error}");
            std::process::exit(1);
        }
    }
}
