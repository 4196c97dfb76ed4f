//! What MCP-world components offer and answer, as MCP's wire types: their
//! tools' extra fields, resources, templates, prompts, content, and the
//! notifications they send during a request.
//!
//! The model is written out as the spec's JSON and read back as rmcp's
//! types: those are `non_exhaustive` and differ between SDK releases,
//! and the JSON shapes are the protocol itself.
#![allow(
    deprecated,
    reason = "MCP's logging, deprecated by the 2026-07-28 revision, is still served to clients that ask"
)]

use rmcp::model::{
    CallToolResult, CompleteResult, CompletionInfo, ErrorCode, GetPromptResult, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, Prompt,
    ReadResourceResult, Resource, ResourceTemplate, Tool,
};
use rmcp::{ErrorData as McpError, Peer, RoleServer};
use serde_json::{Map, Value, json};
use weld_host::mcp::invoke::McpFailure;
use weld_host::mcp::model::{
    Annotations, Body, Completion, Content, Icon, LogLevel, Notification, PromptResult, ReadResult,
    ResourceContents, ResourceDef, Role, ToolResult,
};
use weld_host::mcp::{McpToolExtra, ServedPrompt, ServedResource, ServedTemplate};

/// Bytes as standard base64, as MCP carries blobs, images and sounds.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn role(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        map.insert(key.to_string(), value.into());
    }
}

fn annotations(a: &Annotations) -> Value {
    let mut map = Map::new();
    put(
        &mut map,
        "audience",
        a.audience
            .as_ref()
            .map(|r| r.iter().map(|&r| Value::from(role(r))).collect::<Vec<_>>()),
    );
    put(&mut map, "lastModified", a.last_modified.clone());
    put(&mut map, "priority", a.priority);
    Value::Object(map)
}

fn icons(icons: &[Icon]) -> Option<Value> {
    if icons.is_empty() {
        return None;
    }
    Some(Value::Array(
        icons
            .iter()
            .map(|i| {
                let mut map = Map::new();
                map.insert("src".into(), i.src.clone().into());
                put(&mut map, "mimeType", i.mime_type.clone());
                if !i.sizes.is_empty() {
                    map.insert("sizes".into(), i.sizes.clone().into());
                }
                put(&mut map, "theme", i.theme);
                Value::Object(map)
            })
            .collect(),
    ))
}

/// `_meta` text as JSON: an object, or nothing.
fn meta(text: Option<&String>) -> Option<Value> {
    match serde_json::from_str(text?) {
        Ok(Value::Object(map)) => Some(Value::Object(map)),
        _ => None,
    }
}

/// A result read as complete: the 2026-07-28 revision requires `resultType`
/// in every result, and rmcp removes `"complete"` again for a client of an
/// earlier revision, where the field does not exist.
fn complete<T: serde::de::DeserializeOwned>(mut map: Map<String, Value>) -> Result<T, McpError> {
    map.insert("resultType".into(), Value::String("complete".into()));
    typed(Value::Object(map))
}

/// Reads JSON written here as the rmcp type it is the spec's shape of.
fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, McpError> {
    serde_json::from_value(value).map_err(|e| {
        McpError::internal_error(
            format!("internal error: weld wrote an answer its MCP library cannot read: {e}"),
            None,
        )
    })
}

/// Adds an MCP-world tool's title, annotations, icons and `_meta`.
pub(crate) fn add_tool_extra(tool: &mut Tool, extra: &McpToolExtra) {
    let mut map = Map::new();
    put(&mut map, "title", extra.title.clone());
    if let Some(a) = &extra.annotations {
        let mut ann = Map::new();
        put(&mut ann, "title", a.title.clone());
        put(&mut ann, "readOnlyHint", a.read_only);
        put(&mut ann, "destructiveHint", a.destructive);
        put(&mut ann, "idempotentHint", a.idempotent);
        put(&mut ann, "openWorldHint", a.open_world);
        map.insert("annotations".into(), Value::Object(ann));
    }
    put(&mut map, "icons", icons(&extra.icons));
    put(&mut map, "_meta", extra.meta.clone().map(Value::Object));
    map.insert("name".into(), Value::from(tool.name.to_string()));
    map.insert("inputSchema".into(), Value::Object(Map::new()));
    // Only the fields above are read back: the rest stays as built.
    if let Ok(extra) = serde_json::from_value::<Tool>(Value::Object(map)) {
        tool.title = extra.title;
        tool.annotations = extra.annotations;
        tool.icons = extra.icons;
        tool.meta = extra.meta;
    }
}

fn resource_json(def: &ResourceDef, meta_object: Option<Value>) -> Value {
    let mut map = Map::new();
    map.insert("uri".into(), def.uri.clone().into());
    map.insert("name".into(), def.name.clone().into());
    put(&mut map, "title", def.title.clone());
    put(&mut map, "description", def.description.clone());
    put(&mut map, "mimeType", def.mime_type.clone());
    put(&mut map, "size", def.size);
    put(
        &mut map,
        "annotations",
        def.annotations.as_ref().map(annotations),
    );
    put(&mut map, "icons", icons(&def.icons));
    put(&mut map, "_meta", meta_object);
    Value::Object(map)
}

/// A served resource as `resources/list` shows it.
pub(crate) fn resource(served: &ServedResource) -> Result<Resource, McpError> {
    typed(resource_json(
        &served.def,
        served.meta.clone().map(Value::Object),
    ))
}

/// A served template as `resources/templates/list` shows it.
pub(crate) fn template(served: &ServedTemplate) -> Result<ResourceTemplate, McpError> {
    let def = &served.def;
    let mut map = Map::new();
    map.insert("uriTemplate".into(), def.uri_template.clone().into());
    map.insert("name".into(), def.name.clone().into());
    put(&mut map, "title", def.title.clone());
    put(&mut map, "description", def.description.clone());
    put(&mut map, "mimeType", def.mime_type.clone());
    put(
        &mut map,
        "annotations",
        def.annotations.as_ref().map(annotations),
    );
    put(&mut map, "icons", icons(&def.icons));
    put(&mut map, "_meta", served.meta.clone().map(Value::Object));
    typed(Value::Object(map))
}

/// A served prompt as `prompts/list` shows it, under its served name.
pub(crate) fn prompt(served: &ServedPrompt) -> Result<Prompt, McpError> {
    let def = &served.def;
    let mut map = Map::new();
    map.insert("name".into(), served.name.clone().into());
    put(&mut map, "title", def.title.clone());
    put(&mut map, "description", def.description.clone());
    if !def.arguments.is_empty() {
        let arguments: Vec<Value> = def
            .arguments
            .iter()
            .map(|a| {
                let mut arg = Map::new();
                arg.insert("name".into(), a.name.clone().into());
                put(&mut arg, "title", a.title.clone());
                put(&mut arg, "description", a.description.clone());
                put(&mut arg, "required", a.required);
                Value::Object(arg)
            })
            .collect();
        map.insert("arguments".into(), arguments.into());
    }
    put(&mut map, "icons", icons(&def.icons));
    put(&mut map, "_meta", served.meta.clone().map(Value::Object));
    typed(Value::Object(map))
}

fn contents_json(c: &ResourceContents) -> Value {
    let mut map = Map::new();
    map.insert("uri".into(), c.uri.clone().into());
    put(&mut map, "mimeType", c.mime_type.clone());
    match &c.body {
        Body::Text(text) => map.insert("text".into(), text.clone().into()),
        Body::Blob(bytes) => map.insert("blob".into(), base64(bytes).into()),
    };
    put(&mut map, "_meta", meta(c.meta.as_ref()));
    Value::Object(map)
}

fn content_json(c: &Content) -> Value {
    let mut map = Map::new();
    let (ann, meta_text) = match c {
        Content::Text {
            text,
            annotations,
            meta,
        } => {
            map.insert("type".into(), "text".into());
            map.insert("text".into(), text.clone().into());
            (annotations.as_ref(), meta.as_ref())
        }
        Content::Image(m) | Content::Audio(m) => {
            let kind = if matches!(c, Content::Image(_)) {
                "image"
            } else {
                "audio"
            };
            map.insert("type".into(), kind.into());
            map.insert("data".into(), base64(&m.data).into());
            map.insert("mimeType".into(), m.mime_type.clone().into());
            (m.annotations.as_ref(), m.meta.as_ref())
        }
        Content::ResourceLink(def) => {
            let Value::Object(link) = resource_json(def, meta(def.meta.as_ref())) else {
                return Value::Null;
            };
            map = link;
            map.insert("type".into(), "resource_link".into());
            (None, None)
        }
        Content::Resource {
            contents,
            annotations,
            meta,
        } => {
            map.insert("type".into(), "resource".into());
            map.insert("resource".into(), contents_json(contents));
            (annotations.as_ref(), meta.as_ref())
        }
    };
    put(&mut map, "annotations", ann.map(annotations));
    put(&mut map, "_meta", meta(meta_text));
    Value::Object(map)
}

/// A tool's result.
pub(crate) fn tool_result(r: &ToolResult) -> Result<CallToolResult, McpError> {
    let mut map = Map::new();
    map.insert(
        "content".into(),
        Value::Array(r.content.iter().map(content_json).collect()),
    );
    map.insert("isError".into(), r.is_error.into());
    if let Some(text) = &r.structured {
        let structured: Value = serde_json::from_str(text).map_err(|e| {
            McpError::internal_error(
                format!("the tool's structured content is not JSON: {e}"),
                None,
            )
        })?;
        map.insert("structuredContent".into(), structured);
    }
    put(&mut map, "_meta", meta(r.meta.as_ref()));
    complete(map)
}

/// A resource's contents.
pub(crate) fn read_result(r: &ReadResult) -> Result<ReadResourceResult, McpError> {
    let mut map = Map::new();
    map.insert(
        "contents".into(),
        Value::Array(r.contents.iter().map(contents_json).collect()),
    );
    put(&mut map, "_meta", meta(r.meta.as_ref()));
    complete(map)
}

/// A prompt.
pub(crate) fn prompt_result(r: &PromptResult) -> Result<GetPromptResult, McpError> {
    let mut map = Map::new();
    put(&mut map, "description", r.description.clone());
    map.insert(
        "messages".into(),
        Value::Array(
            r.messages
                .iter()
                .map(|m| json!({"role": role(m.role), "content": content_json(&m.content)}))
                .collect(),
        ),
    );
    put(&mut map, "_meta", meta(r.meta.as_ref()));
    complete(map)
}

/// Completion values: at most MCP's 100, the rest said to be there.
pub(crate) fn completion(c: Completion) -> CompleteResult {
    let over = c.values.len() > CompletionInfo::MAX_VALUES;
    let mut values = c.values;
    values.truncate(CompletionInfo::MAX_VALUES);
    let mut info = CompletionInfo::default();
    info.values = values;
    info.total = c.total.map(|t| u32::try_from(t).unwrap_or(u32::MAX));
    info.has_more = if over { Some(true) } else { c.has_more };
    CompleteResult::new(info)
}

/// A failed request as its JSON-RPC error. `not_found` makes the error for
/// a name or URI nothing serves.
pub(crate) fn failure(failure: McpFailure, not_found: impl FnOnce(String) -> McpError) -> McpError {
    match failure {
        McpFailure::NotFound(message) => not_found(message),
        McpFailure::Component(e) => McpError::new(
            ErrorCode(i32::try_from(e.code).unwrap_or(-32603)),
            e.message,
            e.data.and_then(|d| serde_json::from_str(&d).ok()),
        ),
        McpFailure::Failed(message) => McpError::internal_error(message, None),
    }
}

/// What the client asked to hear of a request's log messages: the least
/// severe level it wants, or `None` for none at all.
pub(crate) type LogFloor = Option<LogLevel>;

/// Passes a component's notifications to the client while its request
/// runs: log messages at `floor` or above, progress under the request's own
/// `token` (or not at all: a component cannot know the token, see
/// `docs/mcp-components.md`). Ends when every sender is gone.
pub(crate) async fn forward(
    mut notifications: tokio::sync::mpsc::UnboundedReceiver<Notification>,
    peer: Peer<RoleServer>,
    floor: LogFloor,
    token: Option<ProgressToken>,
) {
    while let Some(notification) = notifications.recv().await {
        let sent = match notification {
            Notification::Log {
                level,
                logger,
                data,
            } => {
                if floor.is_none_or(|floor| level < floor) {
                    continue;
                }
                let mut param = LoggingMessageNotificationParam::new(logging_level(level), data);
                param.logger = logger;
                peer.notify_logging_message(param).await
            }
            Notification::Progress {
                progress,
                total,
                message,
            } => {
                let Some(token) = &token else { continue };
                let mut param = ProgressNotificationParam::new(token.clone(), progress);
                param.total = total;
                param.message = message;
                peer.notify_progress(param).await
            }
        };
        if let Err(error) = sent {
            tracing::debug!(%error, "a component's notification could not be sent");
        }
    }
}

fn logging_level(level: LogLevel) -> LoggingLevel {
    match level {
        LogLevel::Debug => LoggingLevel::Debug,
        LogLevel::Info => LoggingLevel::Info,
        LogLevel::Notice => LoggingLevel::Notice,
        LogLevel::Warning => LoggingLevel::Warning,
        LogLevel::Error => LoggingLevel::Error,
        LogLevel::Critical => LoggingLevel::Critical,
        LogLevel::Alert => LoggingLevel::Alert,
        LogLevel::Emergency => LoggingLevel::Emergency,
    }
}

/// The model's level for MCP's.
pub(crate) fn log_level(level: &LoggingLevel) -> LogLevel {
    match level {
        LoggingLevel::Debug => LogLevel::Debug,
        LoggingLevel::Info => LogLevel::Info,
        LoggingLevel::Notice => LogLevel::Notice,
        LoggingLevel::Warning => LogLevel::Warning,
        LoggingLevel::Error => LogLevel::Error,
        LoggingLevel::Critical => LogLevel::Critical,
        LoggingLevel::Alert => LogLevel::Alert,
        LoggingLevel::Emergency => LogLevel::Emergency,
    }
}
