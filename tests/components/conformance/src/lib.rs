//! `weld-test:conformance`: the fixture server of the official MCP
//! conformance suite (`@modelcontextprotocol/conformance`) as a component
//! of wasmcp's `mcp-v20251125` world. Each tool, resource, template and
//! prompt is named, and answers, as the suite's server scenarios ask
//! (their descriptions are the specification); `tests/js/conformance.test.mjs`
//! runs the suite against weld serving it.

#![allow(clippy::all, reason = "a test guest")]

wit_bindgen::generate!({
    world: "conformance",
    path: "wit",
    generate_all,
});

use exports::wasmcp::mcp_v20251125::{completions, prompts, resources, tools};
use serde_json::{Value, json};
use wasmcp::mcp_v20251125::mcp::*;
use wasmcp::mcp_v20251125::server_handler::MessageContext;
use wasmcp::mcp_v20251125::server_io;

struct Fixture;

/// A 1x1 red pixel, a whole PNG file.
const PNG: [u8; 69] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
    0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90,
    0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8,
    0xcf, 0xc0, 0x00, 0x00, 0x03, 0x01, 0x01, 0x00, 0xc9, 0xfe, 0x92, 0xef, 0x00, 0x00, 0x00,
    0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// One millisecond of silence: a whole WAV file, 8-bit mono PCM at 8 kHz.
fn wav() -> Vec<u8> {
    let samples = 8u32;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + samples).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes()); // sample rate
    w.extend_from_slice(&8000u32.to_le_bytes()); // bytes per second
    w.extend_from_slice(&1u16.to_le_bytes()); // block align
    w.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    w.extend_from_slice(b"data");
    w.extend_from_slice(&samples.to_le_bytes());
    w.extend(std::iter::repeat_n(0x80u8, samples as usize));
    w
}

fn text(t: &str) -> ContentBlock {
    ContentBlock::Text(TextContent {
        text: TextData::Text(t.to_string()),
        options: None,
    })
}

fn blob(data: Vec<u8>, mime: &str) -> Blob {
    Blob {
        data: BlobData::Blob(data),
        mime_type: mime.to_string(),
        options: None,
    }
}

fn embedded_text(uri: &str, mime: &str, t: &str) -> ContentBlock {
    ContentBlock::EmbeddedResource(EmbeddedResourceContent {
        resource: ResourceContents::Text(TextResourceContents {
            uri: uri.to_string(),
            text: TextData::Text(t.to_string()),
            options: Some(EmbeddedResourceOptions {
                mime_type: Some(mime.to_string()),
                meta: None,
            }),
        }),
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

fn error(code: i64, message: &str, data: Option<Value>) -> Error {
    Error {
        code,
        message: message.to_string(),
        data: data.map(|d| d.to_string()),
    }
}

/// The arguments of a request, a JSON object (none: an empty one).
fn arguments(json: &Option<String>) -> serde_json::Map<String, Value> {
    json.as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
        .and_then(|v| match v {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default()
}

fn string_argument(json: &Option<String>, name: &str) -> Option<String> {
    arguments(json)
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
}

const NO_ARGUMENTS: &str = r#"{"type":"object","properties":{}}"#;

/// The tools the suite calls, with the description each lists.
const TOOLS: [(&str, &str); 10] = [
    ("test_simple_text", "Returns a simple text response."),
    ("test_image_content", "Returns an image (a 1x1 PNG)."),
    ("test_audio_content", "Returns audio (a short WAV)."),
    ("test_embedded_resource", "Returns an embedded text resource."),
    (
        "test_multiple_content_types",
        "Returns text, an image and an embedded resource.",
    ),
    (
        "test_tool_with_logging",
        "Sends three info log messages while it runs.",
    ),
    (
        "test_tool_with_progress",
        "Reports progress 0, 50 and 100 of 100 while it runs.",
    ),
    ("test_error_handling", "Always fails, as a tool error."),
    (
        "test_logging_tool",
        "Sends one info log message (which a 2026-07-28 client hears only if it asks for a level).",
    ),
    (
        "test_missing_capability",
        "Needs the client's sampling capability, which no component can use: always refused.",
    ),
];

/// The JSON Schema 2020-12 features the `json-schema-2020-12` scenario
/// checks survive listing.
const JSON_SCHEMA_2020_12: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "$defs": {
    "address": {
      "$anchor": "addressDef",
      "type": "object",
      "properties": {"street": {"type": "string"}, "city": {"type": "string"}}
    }
  },
  "properties": {
    "name": {"type": "string"},
    "address": {"$ref": "#/$defs/address"},
    "contactMethod": {"type": "string", "enum": ["phone", "email"]},
    "phone": {"type": "string"},
    "email": {"type": "string"}
  },
  "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
  "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
  "then": {"required": ["phone"]},
  "else": {"required": ["email"]},
  "additionalProperties": false
}"##;

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

impl tools::Guest for Fixture {
    fn list_tools(
        _ctx: MessageContext,
        _request: ListToolsRequest,
    ) -> Result<ListToolsResult, ErrorCode> {
        let mut tools: Vec<Tool> = TOOLS
            .iter()
            .map(|(name, description)| tool(name, description, NO_ARGUMENTS))
            .collect();
        tools.push(tool(
            "test_custom_header",
            "Says its region back; a client sends the region as the Mcp-Param-Region header too.",
            r#"{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}},"required":["region"]}"#,
        ));
        tools.push(tool(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features",
            JSON_SCHEMA_2020_12,
        ));
        Ok(ListToolsResult {
            meta: None,
            next_cursor: None,
            tools,
        })
    }

    fn call_tool(
        ctx: MessageContext,
        request: CallToolRequest,
    ) -> Result<Option<CallToolResult>, ErrorCode> {
        Ok(Some(match request.name.as_str() {
            "test_simple_text" => result(vec![text("This is a simple text response for testing.")]),
            "test_image_content" => result(vec![ContentBlock::Image(blob(
                PNG.to_vec(),
                "image/png",
            ))]),
            "test_audio_content" => result(vec![ContentBlock::Audio(blob(wav(), "audio/wav"))]),
            "test_embedded_resource" => result(vec![embedded_text(
                "test://embedded-resource",
                "text/plain",
                "This is an embedded resource content.",
            )]),
            "test_multiple_content_types" => result(vec![
                text("Multiple content types test:"),
                ContentBlock::Image(blob(PNG.to_vec(), "image/png")),
                embedded_text(
                    "test://mixed-content-resource",
                    "application/json",
                    r#"{"test":"data","value":123}"#,
                ),
            ]),
            "test_tool_with_logging" => {
                for message in [
                    "Tool execution started",
                    "Tool processing data",
                    "Tool execution completed",
                ] {
                    notify(
                        &ctx,
                        ServerNotification::Log(LoggingMessageNotification {
                            data: json!(message).to_string(),
                            level: LogLevel::Info,
                            logger: Some("conformance".into()),
                        }),
                    );
                }
                result(vec![text("Tool with logging executed successfully")])
            }
            "test_logging_tool" => {
                notify(
                    &ctx,
                    ServerNotification::Log(LoggingMessageNotification {
                        data: json!("test_logging_tool ran").to_string(),
                        level: LogLevel::Info,
                        logger: Some("conformance".into()),
                    }),
                );
                result(vec![text("Logged one message")])
            }
            "test_tool_with_progress" => {
                for progress in [0.0, 50.0, 100.0] {
                    // The world gives a component no way to learn its
                    // request's token; weld puts the request's in.
                    notify(
                        &ctx,
                        ServerNotification::Progress(ProgressNotification {
                            progress_token: ProgressToken::String("unknown".into()),
                            progress,
                            total: Some(100.0),
                            message: None,
                        }),
                    );
                }
                result(vec![text("Tool with progress executed successfully")])
            }
            "test_error_handling" => {
                let mut r = result(vec![text(
                    "This tool intentionally returns an error for testing",
                )]);
                r.is_error = Some(true);
                r
            }
            "test_missing_capability" => {
                return Err(ErrorCode::Mcp(error(
                    -32021,
                    "test_missing_capability needs the client's sampling capability",
                    Some(json!({"requiredCapabilities": {"sampling": {}}})),
                )));
            }
            "test_custom_header" => {
                let region = string_argument(&request.arguments, "region").unwrap_or_default();
                result(vec![text(&format!("region: {region}"))])
            }
            "json_schema_2020_12_tool" => {
                let args = arguments(&request.arguments);
                result(vec![text(&format!(
                    "JSON Schema 2020-12 tool called with: {}",
                    Value::Object(args)
                ))])
            }
            _ => return Ok(None),
        }))
    }
}

/// A notification to the client, through the request's client stream.
fn notify(ctx: &MessageContext, notification: ServerNotification) {
    if let Some(stream) = ctx.client_stream {
        let _ = server_io::send_message(
            stream,
            ServerMessage::Notification(notification),
            &ctx.frame,
        );
    }
}

impl resources::Guest for Fixture {
    fn list_resources(
        _ctx: MessageContext,
        _request: ListResourcesRequest,
    ) -> Result<ListResourcesResult, ErrorCode> {
        let resource = |uri: &str, name: &str, description: &str, mime: &str| McpResource {
            uri: uri.into(),
            name: name.into(),
            options: Some(ResourceOptions {
                size: None,
                title: None,
                description: Some(description.into()),
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
                resource(
                    "test://static-text",
                    "Static Text Resource",
                    "A static text resource for testing",
                    "text/plain",
                ),
                resource(
                    "test://static-binary",
                    "Static Binary Resource",
                    "A static binary resource (a PNG image) for testing",
                    "image/png",
                ),
            ],
        })
    }

    fn read_resource(
        _ctx: MessageContext,
        request: ReadResourceRequest,
    ) -> Result<Option<ReadResourceResult>, ErrorCode> {
        let uri = request.uri.clone();
        let with_mime = |mime: &str| {
            Some(EmbeddedResourceOptions {
                mime_type: Some(mime.into()),
                meta: None,
            })
        };
        let contents = match uri.as_str() {
            "test://static-text" => ResourceContents::Text(TextResourceContents {
                uri,
                text: TextData::Text("This is the content of the static text resource.".into()),
                options: with_mime("text/plain"),
            }),
            "test://static-binary" => ResourceContents::Blob(BlobResourceContents {
                uri,
                blob: BlobData::Blob(PNG.to_vec()),
                options: with_mime("image/png"),
            }),
            _ => {
                let Some(id) = uri
                    .strip_prefix("test://template/")
                    .and_then(|rest| rest.strip_suffix("/data"))
                    .filter(|id| !id.is_empty() && !id.contains('/'))
                else {
                    return Ok(None);
                };
                let data = json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
                ResourceContents::Text(TextResourceContents {
                    text: TextData::Text(data.to_string()),
                    uri,
                    options: with_mime("application/json"),
                })
            }
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
                uri_template: "test://template/{id}/data".into(),
                name: "Template Resource".into(),
                options: Some(ResourceTemplateOptions {
                    description: Some("A resource template whose {id} is substituted".into()),
                    title: None,
                    mime_type: Some("application/json".into()),
                    annotations: None,
                    meta: None,
                    icons: None,
                }),
            }],
        })
    }
}

impl prompts::Guest for Fixture {
    fn list_prompts(
        _ctx: MessageContext,
        _request: ListPromptsRequest,
    ) -> Result<ListPromptsResult, ErrorCode> {
        let argument = |name: &str, description: &str| PromptArgument {
            name: name.into(),
            description: Some(description.into()),
            required: Some(true),
            title: None,
        };
        let prompt = |name: &str, description: &str, arguments: Vec<PromptArgument>| Prompt {
            name: name.into(),
            options: Some(PromptOptions {
                meta: None,
                arguments: (!arguments.is_empty()).then_some(arguments),
                description: Some(description.into()),
                title: None,
                icons: None,
            }),
        };
        Ok(ListPromptsResult {
            meta: None,
            next_cursor: None,
            prompts: vec![
                prompt("test_simple_prompt", "A simple prompt without arguments", vec![]),
                prompt(
                    "test_prompt_with_arguments",
                    "A prompt with two required arguments",
                    vec![
                        argument("arg1", "First test argument"),
                        argument("arg2", "Second test argument"),
                    ],
                ),
                prompt(
                    "test_prompt_with_embedded_resource",
                    "A prompt that embeds a resource",
                    vec![argument("resourceUri", "URI of the resource to embed")],
                ),
                prompt("test_prompt_with_image", "A prompt with an image", vec![]),
            ],
        })
    }

    fn get_prompt(
        _ctx: MessageContext,
        request: GetPromptRequest,
    ) -> Result<Option<GetPromptResult>, ErrorCode> {
        let user = |content| PromptMessage {
            content,
            role: Role::User,
        };
        let required = |name: &str| {
            string_argument(&request.arguments, name).ok_or_else(|| {
                ErrorCode::InvalidParams(error(
                    -32602,
                    &format!("{} needs the argument `{name}`", request.name),
                    None,
                ))
            })
        };
        let messages = match request.name.as_str() {
            "test_simple_prompt" => vec![user(text("This is a simple prompt for testing."))],
            "test_prompt_with_arguments" => {
                let (arg1, arg2) = (required("arg1")?, required("arg2")?);
                vec![user(text(&format!(
                    "Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
                )))]
            }
            "test_prompt_with_embedded_resource" => {
                let uri = required("resourceUri")?;
                vec![
                    user(embedded_text(
                        &uri,
                        "text/plain",
                        "Embedded resource content for testing.",
                    )),
                    user(text("Please process the embedded resource above.")),
                ]
            }
            "test_prompt_with_image" => vec![
                user(ContentBlock::Image(blob(PNG.to_vec(), "image/png"))),
                user(text("Please analyze the image above.")),
            ],
            _ => return Ok(None),
        };
        Ok(Some(GetPromptResult {
            meta: None,
            description: None,
            messages,
        }))
    }
}

impl completions::Guest for Fixture {
    fn complete(
        _ctx: MessageContext,
        request: CompleteRequest,
    ) -> Result<Option<CompleteResult>, ErrorCode> {
        let candidates: &[&str] = match &request.ref_ {
            CompletionReference::Prompt(prompt) => {
                match (prompt.name.as_str(), request.argument.name.as_str()) {
                    ("test_prompt_with_arguments", "arg1" | "arg2") => {
                        &["paris", "park", "party", "test", "testValue1", "testValue2"]
                    }
                    ("test_prompt_with_embedded_resource", "resourceUri") => {
                        &["test://static-text", "test://static-binary"]
                    }
                    _ => return Ok(None),
                }
            }
            CompletionReference::ResourceTemplate(template) => {
                if template != "test://template/{id}/data" || request.argument.name != "id" {
                    return Ok(None);
                }
                &["1", "2", "3", "123"]
            }
        };
        let values: Vec<String> = candidates
            .iter()
            .filter(|c| c.starts_with(request.argument.value.as_str()))
            .map(|c| c.to_string())
            .collect();
        Ok(Some(CompleteResult {
            meta: None,
            has_more: Some(false),
            total: Some(values.len() as u64),
            values,
        }))
    }
}

export!(Fixture);
