//! The benchmark's baseline: an rmcp server with no WebAssembly that answers
//! the same `add_add` tool as weld serving `add.wasm` — same name, same input
//! and output schemas, same result shape (`{"result": a+b}` as structured
//! content plus its JSON text) — over the same transports with the same
//! settings (rmcp's non-blocking stdio pipes with a 4 MiB line limit; for
//! HTTP, Streamable HTTP on `/mcp` behind hyper's auto HTTP/1+2 builder with
//! TCP_NODELAY, loopback-only Host and Origin allowlists, a 4 MiB body
//! limit, no legacy sessions and plain JSON responses), on the same tokio
//! multi-threaded runtime. Keep these in step with
//! `crates/weld-mcp/src/transport/` and `crates/weld/src/main.rs`.
//!
//! Whatever weld costs above this binary is the price of its sandbox and
//! catalog, not of rmcp or the transports.
//!
//! Usage: `native-add` (stdio) or `native-add --http 127.0.0.1:0`; with
//! `--http` it prints `serving MCP over HTTP url=http://ADDR/mcp` on stderr
//! once bound.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

/// weld's default `--max-request-bytes`.
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone)]
struct NativeAdd {
    tool: Arc<Tool>,
    tools: Arc<Vec<Tool>>,
}

impl NativeAdd {
    fn new() -> Self {
        let int = |description: Option<&str>| {
            let mut schema = json!({
                "maximum": i32::MAX,
                "minimum": i32::MIN,
                "type": "integer",
            });
            if let Some(description) = description {
                schema["description"] = json!(description);
            }
            schema
        };
        let object = |properties: Value, required: Value| -> JsonObject {
            let Value::Object(map) = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "additionalProperties": false,
                "properties": properties,
                "required": required,
                "type": "object",
            }) else {
                unreachable!("a JSON object literal")
            };
            map
        };
        let input = object(
            json!({ "a": int(Some("The first addend.")), "b": int(Some("The second addend.")) }),
            json!(["a", "b"]),
        );
        let output = object(json!({ "result": int(None) }), json!(["result"]));
        let mut tool = Tool::new(
            "add_add",
            "Adds two signed 32-bit integers, wrapping around on overflow.",
            Arc::new(input),
        );
        tool.output_schema = Some(Arc::new(output));
        Self {
            tools: Arc::new(vec![tool.clone()]),
            tool: Arc::new(tool),
        }
    }
}

/// The same argument checks weld's schema layer makes for `(a: s32, b: s32)`:
/// both present, both integers in range, nothing else.
fn parse_args(arguments: Option<&JsonObject>) -> Result<(i32, i32), String> {
    let empty = JsonObject::new();
    let args = arguments.unwrap_or(&empty);
    if let Some(unknown) = args.keys().find(|k| *k != "a" && *k != "b") {
        return Err(format!("unknown parameter `{unknown}` (known: a, b)"));
    }
    let get = |name: &str| -> Result<i32, String> {
        let value = args
            .get(name)
            .ok_or_else(|| format!("missing required parameter `{name}`"))?;
        value
            .as_i64()
            .and_then(|v| i32::try_from(v).ok())
            .ok_or_else(|| format!("`{name}`: expected a signed 32-bit integer"))
    };
    Ok((get("a")?, get("b")?))
}

impl ServerHandler for NativeAdd {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("native-add", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tools.to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        (name == self.tool.name).then(|| (*self.tool).clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if request.name != self.tool.name {
            return Err(McpError::invalid_params(
                format!("unknown tool `{}` (see tools/list)", request.name),
                None,
            ));
        }
        let result = match parse_args(request.arguments.as_ref()) {
            Ok((a, b)) => CallToolResult::structured(json!({ "result": a.wrapping_add(b) })),
            Err(message) => CallToolResult::error(vec![ContentBlock::text(format!(
                "invalid arguments: {message}"
            ))]),
        };
        Ok(result.into())
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let http = match (args.next().as_deref(), args.next()) {
        (None, _) => None,
        (Some("--http"), Some(addr)) => Some(addr.parse::<SocketAddr>()?),
        _ => anyhow::bail!("usage: native-add [--http ADDR:PORT]"),
    };
    // The same runtime weld's main builds.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match http {
            None => serve_stdio().await,
            Some(addr) => serve_http(addr).await,
        }
    })
}

async fn serve_stdio() -> anyhow::Result<()> {
    let (read, write) = rmcp::transport::io::stdio_pipes();
    let transport = AsyncRwTransport::new(read, write).with_max_line_length(MAX_REQUEST_BYTES);
    match NativeAdd::new().serve(transport).await {
        Ok(running) => {
            running.waiting().await?;
        }
        Err(error) => eprintln!("session ended before it started: {error}"),
    }
    Ok(())
}

type Body = BoxBody<Bytes, Infallible>;

async fn serve_http(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    eprintln!("serving MCP over HTTP url=http://{bound}/mcp");
    let server = NativeAdd::new();
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(["localhost", "127.0.0.1", "::1"])
        .with_allowed_origins(["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"])
        .with_max_request_body_bytes(MAX_REQUEST_BYTES)
        .with_legacy_session_mode(false)
        .with_json_response(true);
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let service = service.clone();
        let builder = Arc::clone(&builder);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let service = service.clone();
                async move {
                    if req.uri().path() != "/mcp" {
                        let mut response = Response::new(Full::new(Bytes::new()).boxed());
                        *response.status_mut() = StatusCode::NOT_FOUND;
                        return Ok::<Response<Body>, Infallible>(response);
                    }
                    Ok(service.handle(req).await)
                }
            });
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                .await;
        });
    }
}
