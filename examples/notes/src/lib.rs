//! `notes`: an MCP server as a component of wasmcp's `mcp-v20251125` world.
//! The notes are the text files (`.md`, `.txt`) at the top of the one
//! directory its policy grants (it proposes `notes/`, read-only):
//!
//! - each note is a resource, `note://NAME`, and the template
//!   `note://{name}` reads any of them;
//! - the tool `search` finds the lines of every note that contain a text;
//! - the prompt `summarise` hands one note to the model, embedded, with
//!   how long a summary to write;
//! - completion suggests note names (for the prompt and the template) and
//!   summary lengths.
//!
//! It reads through `std::fs`, which goes through `wasi:filesystem` like any
//! file access of a component: weld's sandbox decides what it reaches.

wit_bindgen::generate!({
    world: "notes",
    path: "wit",
    generate_all,
});

use exports::wasmcp::mcp_v20251125::{completions, prompts, resources, tools};
use serde_json::{Value, json};
use wasi::filesystem::preopens;
use wasmcp::mcp_v20251125::mcp::*;
use wasmcp::mcp_v20251125::server_handler::MessageContext;

struct Notes;

const SCHEME: &str = "note://";
/// Lines `search` returns at most, unless asked for fewer.
const MAX_MATCHES: usize = 50;
const LENGTHS: [&str; 3] = ["one-line", "short", "detailed"];

/// The granted directories. weld also gives every component an empty,
/// unreadable root at `/`, where any path outside its grants ends up
/// (refused, and recorded): that one holds no notes.
fn granted() -> Vec<String> {
    preopens::get_directories()
        .into_iter()
        .map(|(_, path)| path)
        .filter(|path| path != "/")
        .collect()
}

/// The notes directory: the first one granted (its policy proposes one).
fn notes_dir() -> Result<String, ErrorCode> {
    granted()
        .into_iter()
        .next()
        .ok_or_else(|| {
            invalid(
                "no notes directory is granted: grant one to this component \
                 (its policy proposes fs://./notes/**, read-only)",
            )
        })
}

/// The notes, by name, in name order.
fn note_names() -> Result<Vec<String>, ErrorCode> {
    let dir = notes_dir()?;
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| internal(&format!("cannot list the notes in {dir}: {e}")))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(".md") || name.ends_with(".txt"))
        .collect();
    names.sort();
    Ok(names)
}

/// A note's text. A name is a file name, never a path.
fn read_note(name: &str) -> Result<String, ErrorCode> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(invalid(&format!(
            "`{name}` is not a note name: a note is a file at the top of the notes directory"
        )));
    }
    let path = format!("{}/{name}", notes_dir()?.trim_end_matches('/'));
    std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => invalid(&format!("there is no note `{name}`")),
        _ => internal(&format!("cannot read the note {name}: {e}")),
    })
}

fn error(code: i64, message: &str) -> Error {
    Error {
        code,
        message: message.to_string(),
        data: None,
    }
}

fn invalid(message: &str) -> ErrorCode {
    ErrorCode::InvalidParams(error(-32602, message))
}

fn internal(message: &str) -> ErrorCode {
    ErrorCode::InternalError(error(-32603, message))
}

fn text(t: &str) -> ContentBlock {
    ContentBlock::Text(TextContent {
        text: TextData::Text(t.to_string()),
        options: None,
    })
}

/// The arguments of a request, as a JSON object (absent means none).
fn arguments(json: &Option<String>) -> Result<serde_json::Map<String, Value>, ErrorCode> {
    match json.as_deref() {
        None => Ok(serde_json::Map::new()),
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(invalid("the arguments are not a JSON object")),
        },
    }
}

fn note_contents(name: &str, text: String) -> ResourceContents {
    ResourceContents::Text(TextResourceContents {
        uri: format!("{SCHEME}{name}"),
        text: TextData::Text(text),
        options: Some(EmbeddedResourceOptions {
            mime_type: Some(mime(name).into()),
            meta: None,
        }),
    })
}

fn mime(name: &str) -> &'static str {
    if name.ends_with(".md") {
        "text/markdown"
    } else {
        "text/plain"
    }
}

impl tools::Guest for Notes {
    fn list_tools(
        _ctx: MessageContext,
        _request: ListToolsRequest,
    ) -> Result<ListToolsResult, ErrorCode> {
        let input = json!({
            "type": "object",
            "properties": {
                "text": {"type": "string", "minLength": 1, "description": "What to look for (case-insensitive)."},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_MATCHES, "description": "Most lines to return (default 50)."}
            },
            "required": ["text"],
            "additionalProperties": false
        });
        let output = json!({
            "type": "object",
            "properties": {
                "matches": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "note": {"type": "string"},
                        "line": {"type": "integer"},
                        "text": {"type": "string"}
                    },
                    "required": ["note", "line", "text"]
                }},
                "truncated": {"type": "boolean"}
            },
            "required": ["matches", "truncated"]
        });
        Ok(ListToolsResult {
            meta: None,
            next_cursor: None,
            tools: vec![Tool {
                name: "search".into(),
                input_schema: input.to_string(),
                options: Some(ToolOptions {
                    meta: None,
                    annotations: Some(ToolAnnotations {
                        title: None,
                        read_only_hint: Some(true),
                        destructive_hint: Some(false),
                        idempotent_hint: Some(true),
                        open_world_hint: Some(false),
                    }),
                    description: Some(
                        "Finds the lines of the notes that contain a text, ignoring case.".into(),
                    ),
                    output_schema: Some(output.to_string()),
                    title: Some("Search the notes".into()),
                    icons: None,
                }),
            }],
        })
    }

    fn call_tool(
        _ctx: MessageContext,
        request: CallToolRequest,
    ) -> Result<Option<CallToolResult>, ErrorCode> {
        if request.name != "search" {
            return Ok(None);
        }
        let args = arguments(&request.arguments)?;
        let Some(needle) = args.get("text").and_then(Value::as_str) else {
            return Err(invalid("search needs `text`, a string"));
        };
        let limit = args
            .get("limit")
            .and_then(Value::as_u64)
            .map_or(MAX_MATCHES, |n| (n as usize).clamp(1, MAX_MATCHES));
        let needle = needle.to_lowercase();
        let mut matches = Vec::new();
        let mut truncated = false;
        'notes: for name in note_names()? {
            for (i, line) in read_note(&name)?.lines().enumerate() {
                if line.to_lowercase().contains(&needle) {
                    if matches.len() == limit {
                        truncated = true;
                        break 'notes;
                    }
                    matches.push(json!({"note": name, "line": i + 1, "text": line}));
                }
            }
        }
        let summary = if matches.is_empty() {
            "no note mentions it".to_string()
        } else {
            matches
                .iter()
                .map(|m| format!("{}:{}: {}", m["note"].as_str().unwrap_or(""), m["line"], m["text"].as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("\n")
        };
        Ok(Some(CallToolResult {
            meta: None,
            content: vec![text(&summary)],
            is_error: None,
            structured_content: Some(json!({"matches": matches, "truncated": truncated}).to_string()),
        }))
    }
}

impl resources::Guest for Notes {
    fn list_resources(
        _ctx: MessageContext,
        _request: ListResourcesRequest,
    ) -> Result<ListResourcesResult, ErrorCode> {
        // Listed once per load by weld: with no directory granted there is
        // nothing to list, and the component still serves (its tool says
        // what to grant). Notes added later are read through the template.
        let names = if granted().is_empty() {
            Vec::new()
        } else {
            note_names()?
        };
        let resources = names
            .into_iter()
            .map(|name| McpResource {
                uri: format!("{SCHEME}{name}"),
                options: Some(ResourceOptions {
                    size: None,
                    title: None,
                    description: Some(format!("The note {name}.")),
                    mime_type: Some(mime(&name).into()),
                    annotations: None,
                    meta: None,
                    icons: None,
                }),
                name,
            })
            .collect();
        Ok(ListResourcesResult {
            meta: None,
            next_cursor: None,
            resources,
        })
    }

    fn read_resource(
        _ctx: MessageContext,
        request: ReadResourceRequest,
    ) -> Result<Option<ReadResourceResult>, ErrorCode> {
        let Some(name) = request.uri.strip_prefix(SCHEME) else {
            return Ok(None);
        };
        let text = read_note(name)?;
        Ok(Some(ReadResourceResult {
            meta: None,
            contents: vec![note_contents(name, text)],
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
                uri_template: format!("{SCHEME}{{name}}"),
                name: "note".into(),
                options: Some(ResourceTemplateOptions {
                    description: Some("A note, by its file name.".into()),
                    title: None,
                    mime_type: None,
                    annotations: None,
                    meta: None,
                    icons: None,
                }),
            }],
        })
    }
}

impl prompts::Guest for Notes {
    fn list_prompts(
        _ctx: MessageContext,
        _request: ListPromptsRequest,
    ) -> Result<ListPromptsResult, ErrorCode> {
        let argument = |name: &str, description: &str, required| PromptArgument {
            name: name.into(),
            description: Some(description.into()),
            required: Some(required),
            title: None,
        };
        Ok(ListPromptsResult {
            meta: None,
            next_cursor: None,
            prompts: vec![Prompt {
                name: "summarise".into(),
                options: Some(PromptOptions {
                    meta: None,
                    arguments: Some(vec![
                        argument("note", "The note's name (completed).", true),
                        argument("length", "one-line, short (default) or detailed.", false),
                    ]),
                    description: Some("Asks for a summary of one note.".into()),
                    title: Some("Summarise a note".into()),
                    icons: None,
                }),
            }],
        })
    }

    fn get_prompt(
        _ctx: MessageContext,
        request: GetPromptRequest,
    ) -> Result<Option<GetPromptResult>, ErrorCode> {
        if request.name != "summarise" {
            return Ok(None);
        }
        let args = arguments(&request.arguments)?;
        let Some(note) = args.get("note").and_then(Value::as_str) else {
            return Err(invalid("summarise needs `note`, the name of a note"));
        };
        let length = args.get("length").and_then(Value::as_str).unwrap_or("short");
        if !LENGTHS.contains(&length) {
            return Err(invalid(&format!(
                "`{length}` is not a length: use one of {}",
                LENGTHS.join(", ")
            )));
        }
        let contents = read_note(note)?;
        let embedded = ContentBlock::EmbeddedResource(EmbeddedResourceContent {
            resource: note_contents(note, contents),
            options: None,
        });
        Ok(Some(GetPromptResult {
            meta: None,
            description: Some(format!("A {length} summary of {note}.")),
            messages: vec![
                PromptMessage {
                    content: embedded,
                    role: Role::User,
                },
                PromptMessage {
                    content: text(&format!(
                        "Summarise the note {note} above: a {length} summary, keeping names, \
                         dates and decisions."
                    )),
                    role: Role::User,
                },
            ],
        }))
    }
}

impl completions::Guest for Notes {
    fn complete(
        _ctx: MessageContext,
        request: CompleteRequest,
    ) -> Result<Option<CompleteResult>, ErrorCode> {
        let argument = request.argument.name.as_str();
        let candidates: Vec<String> = match (&request.ref_, argument) {
            (CompletionReference::Prompt(p), "note") if p.name == "summarise" => note_names()?,
            (CompletionReference::ResourceTemplate(t), "name") if t == &format!("{SCHEME}{{name}}") => {
                note_names()?
            }
            (CompletionReference::Prompt(p), "length") if p.name == "summarise" => {
                LENGTHS.iter().map(|s| s.to_string()).collect()
            }
            _ => return Ok(None),
        };
        let typed = request.argument.value.to_lowercase();
        let values: Vec<String> = candidates
            .into_iter()
            .filter(|c| c.to_lowercase().starts_with(&typed))
            .collect();
        Ok(Some(CompleteResult {
            meta: None,
            has_more: Some(false),
            total: Some(values.len() as u64),
            values,
        }))
    }
}

export!(Notes);
