//! `weld-test:mcpdemo`: an MCP server as a component of wasmcp's
//! `mcp-v20251125` world, for weld's tests. It offers
//!
//! - tools: `echo` (text and structured content), `notify` (log and
//!   progress notifications, through `server-io` and written raw),
//!   `media` (image, audio, resource link, embedded resource), `oops` (a
//!   tool error), `fail` (a JSON-RPC error) and `add` (a name another test
//!   component also uses);
//! - resources `demo://static` (text) and `demo://blob` (bytes), and the
//!   template `file:///{+path}`: a file read through `wasi:filesystem`,
//!   wherever its policy grants, handed back as a stream;
//! - the prompt `greet` (`name`, `style`), whose `style` it completes.

#![allow(clippy::all, reason = "a test guest")]

wit_bindgen::generate!({
    world: "mcpdemo",
    path: "wit",
    generate_all,
});

use exports::wasmcp::mcp_v20251125::{completions, prompts, resources, tools};
use wasi::filesystem::{preopens, types as fs};
use wasmcp::mcp_v20251125::mcp::*;
use wasmcp::mcp_v20251125::server_handler::MessageContext;
use wasmcp::mcp_v20251125::server_io;

struct Demo;

fn text(t: &str) -> ContentBlock {
    ContentBlock::Text(TextContent {
        text: TextData::Text(t.to_string()),
        options: None,
    })
}

fn result(content: Vec<ContentBlock>) -> CallToolResult {
    CallToolResult {
        meta: None,
        content,
        is_error: None,
        structured_content: None,
    }
}

fn tool(name: &str, description: &str, schema: &str) -> Tool {
    Tool {
        name: name.to_string(),
        input_schema: schema.to_string(),
        options: Some(ToolOptions {
            meta: None,
            annotations: None,
            description: Some(description.to_string()),
            output_schema: None,
            title: None,
            icons: None,
        }),
    }
}

fn error(code: i64, message: &str) -> Error {
    Error {
        code,
        message: message.to_string(),
        data: None,
    }
}

/// A string argument of a JSON object, found without a JSON parser (the
/// tests send plain ASCII values without escapes).
fn argument(json: &Option<String>, name: &str) -> Option<String> {
    let json = json.as_deref()?;
    let key = format!("\"{name}\"");
    let at = json.find(&key)? + key.len();
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        return Some(s[..s.find('"')?].to_string());
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim().to_string())
}

const ECHO_SCHEMA: &str = r#"{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}"#;
const EMPTY_SCHEMA: &str = r#"{"type":"object","properties":{}}"#;

impl tools::Guest for Demo {
    fn list_tools(
        _ctx: MessageContext,
        _request: ListToolsRequest,
    ) -> Result<ListToolsResult, ErrorCode> {
        let mut echo = tool("echo", "Says the text back.", ECHO_SCHEMA);
        if let Some(options) = &mut echo.options {
            options.title = Some("Echo".into());
            options.output_schema = Some(
                r#"{"type":"object","properties":{"echo":{"type":"string"}},"required":["echo"]}"#
                    .into(),
            );
            options.annotations = Some(ToolAnnotations {
                title: None,
                read_only_hint: Some(true),
                destructive_hint: None,
                idempotent_hint: Some(true),
                open_world_hint: Some(false),
            });
        }
        Ok(ListToolsResult {
            meta: None,
            next_cursor: None,
            tools: vec![
                echo,
                tool(
                    "notify",
                    "Logs `count` messages and reports progress after each.",
                    r#"{"type":"object","properties":{"count":{"type":"integer"}}}"#,
                ),
                tool("media", "Returns one block of every kind.", EMPTY_SCHEMA),
                tool("oops", "Fails as a tool.", EMPTY_SCHEMA),
                tool("fail", "Fails as a protocol error.", EMPTY_SCHEMA),
                tool(
                    "add",
                    "Adds a and b (a name another component uses too).",
                    r#"{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}}}"#,
                ),
            ],
        })
    }

    fn call_tool(
        ctx: MessageContext,
        request: CallToolRequest,
    ) -> Result<Option<CallToolResult>, ErrorCode> {
        let args = &request.arguments;
        Ok(Some(match request.name.as_str() {
            "echo" => {
                let said = argument(args, "text").unwrap_or_default();
                let mut r = result(vec![text(&said)]);
                r.structured_content = Some(format!("{{\"echo\":\"{said}\"}}"));
                r
            }
            "notify" => {
                let count: u32 = argument(args, "count")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                notify(&ctx, count);
                result(vec![text("notified")])
            }
            "media" => result(media()),
            "oops" => {
                let mut r = result(vec![text("this tool failed on purpose")]);
                r.is_error = Some(true);
                r
            }
            "fail" => {
                return Err(ErrorCode::InvalidParams(error(
                    -32602,
                    "fail refuses every call",
                )));
            }
            "add" => {
                let n = |k| {
                    argument(args, k)
                        .and_then(|v| v.parse::<f64>().ok())
                        .unwrap_or(0.0)
                };
                result(vec![text(&format!("mcpdemo: {}", n("a") + n("b")))])
            }
            _ => return Ok(None),
        }))
    }
}

/// `count` log messages, each followed by progress: the log through
/// `server-io`, the progress written raw to the client stream (with a
/// token of its own, which the host replaces).
fn notify(ctx: &MessageContext, count: u32) {
    let Some(stream) = ctx.client_stream else {
        return;
    };
    for step in 1..=count {
        let log = ServerMessage::Notification(ServerNotification::Log(
            LoggingMessageNotification {
                data: format!("\"step {step} of {count}\""),
                level: LogLevel::Info,
                logger: Some("mcpdemo".into()),
            },
        ));
        let _ = server_io::send_message(stream, log, &ctx.frame);
        let line = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":\
             {{\"progressToken\":\"not-the-clients\",\"progress\":{step},\"total\":{count}}}}}\n"
        );
        let _ = stream.blocking_write_and_flush(line.as_bytes());
    }
}

fn media() -> Vec<ContentBlock> {
    let blob = |data: &[u8], mime: &str| Blob {
        data: BlobData::Blob(data.to_vec()),
        mime_type: mime.to_string(),
        options: None,
    };
    vec![
        ContentBlock::Image(blob(b"\x89PNG", "image/png")),
        ContentBlock::Audio(blob(b"RIFF", "audio/wav")),
        ContentBlock::ResourceLink(ResourceLinkContent {
            uri: "demo://static".into(),
            name: "static".into(),
            options: None,
        }),
        ContentBlock::EmbeddedResource(EmbeddedResourceContent {
            resource: ResourceContents::Text(TextResourceContents {
                uri: "demo://embedded".into(),
                text: TextData::Text("embedded text".into()),
                options: Some(EmbeddedResourceOptions {
                    mime_type: Some("text/plain".into()),
                    meta: None,
                }),
            }),
            options: None,
        }),
    ]
}

impl resources::Guest for Demo {
    fn list_resources(
        _ctx: MessageContext,
        _request: ListResourcesRequest,
    ) -> Result<ListResourcesResult, ErrorCode> {
        let resource = |uri: &str, name: &str, mime: &str| McpResource {
            uri: uri.into(),
            name: name.into(),
            options: Some(ResourceOptions {
                size: None,
                title: None,
                description: Some(format!("The {name} resource.")),
                mime_type: Some(mime.into()),
                annotations: None,
                meta: None,
                icons: None,
            }),
        };
        Ok(ListResourcesResult {
            meta: None,
            next_cursor: None,
            resources: vec![
                resource("demo://static", "static", "text/plain"),
                resource("demo://blob", "blob", "application/octet-stream"),
            ],
        })
    }

    fn read_resource(
        _ctx: MessageContext,
        request: ReadResourceRequest,
    ) -> Result<Option<ReadResourceResult>, ErrorCode> {
        let contents = match request.uri.as_str() {
            "demo://static" => ResourceContents::Text(TextResourceContents {
                uri: request.uri.clone(),
                text: TextData::Text("static text".into()),
                options: None,
            }),
            "demo://blob" => ResourceContents::Blob(BlobResourceContents {
                uri: request.uri.clone(),
                blob: BlobData::Blob(vec![0, 1, 2, 255]),
                options: None,
            }),
            uri => match uri.strip_prefix("file://") {
                Some(path) => ResourceContents::Text(TextResourceContents {
                    uri: request.uri.clone(),
                    text: TextData::TextStream(open(path)?),
                    options: None,
                }),
                None => return Ok(None),
            },
        };
        Ok(Some(ReadResourceResult {
            meta: None,
            contents: vec![contents],
        }))
    }

    fn list_resource_templates(
        _ctx: MessageContext,
        _request: ListResourceTemplatesRequest,
    ) -> Result<ListResourceTemplatesResult, ErrorCode> {
        Ok(ListResourceTemplatesResult {
            meta: None,
            next_cursor: None,
            resource_templates: vec![ResourceTemplate {
                uri_template: "file:///{+path}".into(),
                name: "file".into(),
                options: Some(ResourceTemplateOptions {
                    description: Some("A file its policy lets it read.".into()),
                    title: None,
                    mime_type: Some("text/plain".into()),
                    annotations: None,
                    meta: None,
                    icons: None,
                }),
            }],
        })
    }
}

/// The file at `path`, as a stream, through the preopened directory that
/// holds it.
fn open(path: &str) -> Result<wasi::io::streams::InputStream, ErrorCode> {
    let failed = |what: &str, e: fs::ErrorCode| {
        ErrorCode::InternalError(error(-32603, &format!("{what} {path}: {e:?}")))
    };
    for (dir, at) in preopens::get_directories() {
        let Some(relative) = path.strip_prefix(at.trim_end_matches('/')) else {
            continue;
        };
        let relative = relative.trim_start_matches('/');
        let file = dir
            .open_at(
                fs::PathFlags::empty(),
                relative,
                fs::OpenFlags::empty(),
                fs::DescriptorFlags::READ,
            )
            .map_err(|e| failed("cannot open", e))?;
        return file.read_via_stream(0).map_err(|e| failed("cannot read", e));
    }
    Err(ErrorCode::InvalidParams(error(
        -32602,
        &format!("no directory of {path} is granted"),
    )))
}

impl prompts::Guest for Demo {
    fn list_prompts(
        _ctx: MessageContext,
        _request: ListPromptsRequest,
    ) -> Result<ListPromptsResult, ErrorCode> {
        let argument = |name: &str, required| PromptArgument {
            name: name.into(),
            description: Some(format!("The {name}.")),
            required: Some(required),
            title: None,
        };
        Ok(ListPromptsResult {
            meta: None,
            next_cursor: None,
            prompts: vec![Prompt {
                name: "greet".into(),
                options: Some(PromptOptions {
                    meta: None,
                    arguments: Some(vec![argument("name", true), argument("style", false)]),
                    description: Some("Greets someone.".into()),
                    title: Some("Greeting".into()),
                    icons: None,
                }),
            }],
        })
    }

    fn get_prompt(
        _ctx: MessageContext,
        request: GetPromptRequest,
    ) -> Result<Option<GetPromptResult>, ErrorCode> {
        if request.name != "greet" {
            return Ok(None);
        }
        let name = argument(&request.arguments, "name")
            .ok_or_else(|| ErrorCode::InvalidParams(error(-32602, "greet needs a name")))?;
        let style = argument(&request.arguments, "style").unwrap_or_else(|| "plain".into());
        Ok(Some(GetPromptResult {
            meta: None,
            description: Some("A greeting.".into()),
            messages: vec![PromptMessage {
                content: text(&format!("Greet {name} in a {style} way.")),
                role: Role::User,
            }],
        }))
    }
}

impl completions::Guest for Demo {
    fn complete(
        _ctx: MessageContext,
        request: CompleteRequest,
    ) -> Result<Option<CompleteResult>, ErrorCode> {
        let CompletionReference::Prompt(prompt) = &request.ref_ else {
            return Ok(None);
        };
        if prompt.name != "greet" || request.argument.name != "style" {
            return Ok(None);
        }
        let values: Vec<String> = ["formal", "friendly", "funny"]
            .iter()
            .filter(|s| s.starts_with(request.argument.value.as_str()))
            .map(|s| s.to_string())
            .collect();
        Ok(Some(CompleteResult {
            meta: None,
            has_more: Some(false),
            total: Some(values.len() as u64),
            values,
        }))
    }
}

export!(Demo);
