//! {{name}}: an MCP server as a WebAssembly component (wasmcp's
//! `mcp-v20251125` world). Unlike a typed-function tool, it describes what
//! it offers itself, in MCP's own terms:
//!
//! - the tool `greet` (its JSON Schema is written below);
//! - the resource `{{name}}://about`;
//! - the prompt `introduce`, whose `style` argument it completes.
//!
//! weld serves each request (a call, a read, a prompt, a completion) in a
//! fresh instance under the component's policy, as it does any tool.

wit_bindgen::generate!({
    world: "{{name}}",
    path: "wit",
    generate_all,
});

use exports::wasmcp::mcp_v20251125::{completions, prompts, resources, tools};
use serde_json::{Value, json};
use wasmcp::mcp_v20251125::mcp::*;
use wasmcp::mcp_v20251125::server_handler::MessageContext;

struct Server;

const ABOUT: &str = "{{name}}://about";
const STYLES: [&str; 3] = ["formal", "friendly", "playful"];

fn text(t: &str) -> ContentBlock {
    ContentBlock::Text(TextContent {
        text: TextData::Text(t.to_string()),
        options: None,
    })
}

fn invalid(message: &str) -> ErrorCode {
    ErrorCode::InvalidParams(Error {
        code: -32602,
        message: message.to_string(),
        data: None,
    })
}

/// A request's arguments as a JSON object (absent means none).
fn arguments(json: &Option<String>) -> Result<serde_json::Map<String, Value>, ErrorCode> {
    match json.as_deref().map(serde_json::from_str::<Value>) {
        None => Ok(serde_json::Map::new()),
        Some(Ok(Value::Object(map))) => Ok(map),
        Some(_) => Err(invalid("the arguments are not a JSON object")),
    }
}

impl tools::Guest for Server {
    fn list_tools(
        _ctx: MessageContext,
        _request: ListToolsRequest,
    ) -> Result<ListToolsResult, ErrorCode> {
        let schema = json!({
            "type": "object",
            "properties": {"name": {"type": "string", "description": "Who to greet."}},
            "required": ["name"]
        });
        Ok(ListToolsResult {
            meta: None,
            next_cursor: None,
            tools: vec![Tool {
                name: "greet".into(),
                input_schema: schema.to_string(),
                options: Some(ToolOptions {
                    meta: None,
                    annotations: None,
                    description: Some("Greets someone by name.".into()),
                    output_schema: None,
                    title: None,
                    icons: None,
                }),
            }],
        })
    }

    fn call_tool(
        _ctx: MessageContext,
        request: CallToolRequest,
    ) -> Result<Option<CallToolResult>, ErrorCode> {
        if request.name != "greet" {
            return Ok(None); // not this server's tool
        }
        let args = arguments(&request.arguments)?;
        let name = args.get("name").and_then(Value::as_str).unwrap_or("");
        // A tool error (isError) is for the model to read and act on.
        let (message, is_error) = if name.is_empty() {
            ("name must not be empty".to_string(), true)
        } else {
            (format!("Hello, {name}!"), false)
        };
        Ok(Some(CallToolResult {
            meta: None,
            content: vec![text(&message)],
            is_error: Some(is_error),
            structured_content: None,
        }))
    }
}

impl resources::Guest for Server {
    fn list_resources(
        _ctx: MessageContext,
        _request: ListResourcesRequest,
    ) -> Result<ListResourcesResult, ErrorCode> {
        Ok(ListResourcesResult {
            meta: None,
            next_cursor: None,
            resources: vec![McpResource {
                uri: ABOUT.into(),
                name: "about".into(),
                options: Some(ResourceOptions {
                    size: None,
                    title: None,
                    description: Some("What this server is.".into()),
                    mime_type: Some("text/plain".into()),
                    annotations: None,
                    meta: None,
                    icons: None,
                }),
            }],
        })
    }

    fn read_resource(
        _ctx: MessageContext,
        request: ReadResourceRequest,
    ) -> Result<Option<ReadResourceResult>, ErrorCode> {
        if request.uri != ABOUT {
            return Ok(None);
        }
        Ok(Some(ReadResourceResult {
            meta: None,
            contents: vec![ResourceContents::Text(TextResourceContents {
                uri: request.uri,
                text: TextData::Text("{{name}}, an MCP server component served by weld.".into()),
                options: None,
            })],
        }))
    }

    fn list_resource_templates(
        _ctx: MessageContext,
        _request: ListResourceTemplatesRequest,
    ) -> Result<ListResourceTemplatesResult, ErrorCode> {
        Ok(ListResourceTemplatesResult {
            meta: None,
            next_cursor: None,
            resource_templates: Vec::new(),
        })
    }
}

impl prompts::Guest for Server {
    fn list_prompts(
        _ctx: MessageContext,
        _request: ListPromptsRequest,
    ) -> Result<ListPromptsResult, ErrorCode> {
        Ok(ListPromptsResult {
            meta: None,
            next_cursor: None,
            prompts: vec![Prompt {
                name: "introduce".into(),
                options: Some(PromptOptions {
                    meta: None,
                    arguments: Some(vec![PromptArgument {
                        name: "style".into(),
                        description: Some("formal, friendly or playful.".into()),
                        required: Some(false),
                        title: None,
                    }]),
                    description: Some("Asks the model to introduce this server.".into()),
                    title: None,
                    icons: None,
                }),
            }],
        })
    }

    fn get_prompt(
        _ctx: MessageContext,
        request: GetPromptRequest,
    ) -> Result<Option<GetPromptResult>, ErrorCode> {
        if request.name != "introduce" {
            return Ok(None);
        }
        let args = arguments(&request.arguments)?;
        let style = args.get("style").and_then(Value::as_str).unwrap_or("friendly");
        Ok(Some(GetPromptResult {
            meta: None,
            description: None,
            messages: vec![PromptMessage {
                content: text(&format!("Introduce {{name}} in a {style} way.")),
                role: Role::User,
            }],
        }))
    }
}

impl completions::Guest for Server {
    fn complete(
        _ctx: MessageContext,
        request: CompleteRequest,
    ) -> Result<Option<CompleteResult>, ErrorCode> {
        let CompletionReference::Prompt(prompt) = &request.ref_ else {
            return Ok(None);
        };
        if prompt.name != "introduce" || request.argument.name != "style" {
            return Ok(None);
        }
        let values: Vec<String> = STYLES
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

export!(Server);
