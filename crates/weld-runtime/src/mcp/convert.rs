//! wasmcp's types to weld's [`model`](super::model), and back for
//! requests. Content may be streamed (`text-stream`, `blob-stream`: a
//! `wasi:io` input stream the component hands over): such a stream is read
//! to its end here, before the instance is dropped, within the request's
//! byte budget.

use wasmtime::component::Resource;
use wasmtime::{AsContextMut, StoreContextMut};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::{DynInputStream, Pollable, StreamError};

use super::bindings::wasmcp::mcp_v20251125::mcp as w;
use super::model::{
    Annotations, Body, Completion, Content, Icon, McpError, Media, PromptArgument, PromptDef,
    PromptMessage, PromptResult, ReadResult, ResourceContents, ResourceDef, Role, TemplateDef,
    ToolAnnotations, ToolDef, ToolResult,
};

/// Why an answer cannot be passed on.
#[derive(Debug)]
pub(crate) enum Fault {
    /// It is larger than the budget, in bytes.
    TooLarge,
    /// It is malformed: the reason.
    Invalid(String),
}

/// Bytes an answer may still take.
pub(crate) struct Budget(pub(crate) u64);

impl Budget {
    fn take(&mut self, bytes: usize) -> Result<(), Fault> {
        let bytes = bytes as u64;
        if bytes > self.0 {
            return Err(Fault::TooLarge);
        }
        self.0 -= bytes;
        Ok(())
    }
}

/// The JSON-RPC error a component's `error-code` stands for: the standard
/// code of its variant, or the code it carries for the open-ended ones.
pub(crate) fn error(code: w::ErrorCode) -> McpError {
    let (standard, e) = match code {
        w::ErrorCode::ParseError(e) => (Some(-32700), e),
        w::ErrorCode::InvalidRequest(e) => (Some(-32600), e),
        w::ErrorCode::MethodNotFound(e) => (Some(-32601), e),
        w::ErrorCode::InvalidParams(e) => (Some(-32602), e),
        w::ErrorCode::InternalError(e) => (Some(-32603), e),
        w::ErrorCode::Server(e) | w::ErrorCode::JsonRpc(e) | w::ErrorCode::Mcp(e) => (None, e),
    };
    McpError {
        code: standard.unwrap_or(e.code),
        message: e.message,
        data: e.data,
    }
}

fn role(role: w::Role) -> Role {
    match role {
        w::Role::User => Role::User,
        w::Role::Assistant => Role::Assistant,
    }
}

fn annotations(a: w::Annotations) -> Annotations {
    Annotations {
        audience: a.audience.map(|r| r.into_iter().map(role).collect()),
        last_modified: a.last_modified,
        priority: a.priority,
    }
}

fn icons(icons: Option<Vec<w::Icon>>) -> Vec<Icon> {
    icons
        .unwrap_or_default()
        .into_iter()
        .map(|i| Icon {
            src: i.src,
            mime_type: i.mime_type,
            sizes: i.sizes.unwrap_or_default(),
            theme: i.theme.map(|t| match t {
                w::IconTheme::Light => "light",
                w::IconTheme::Dark => "dark",
            }),
        })
        .collect()
}

pub(crate) fn tool(t: w::Tool) -> ToolDef {
    let o = t.options.unwrap_or(w::ToolOptions {
        meta: None,
        annotations: None,
        description: None,
        output_schema: None,
        title: None,
        icons: None,
    });
    ToolDef {
        name: t.name,
        title: o.title,
        description: o.description,
        input_schema: t.input_schema,
        output_schema: o.output_schema,
        annotations: o.annotations.map(|a| ToolAnnotations {
            title: a.title,
            read_only: a.read_only_hint,
            destructive: a.destructive_hint,
            idempotent: a.idempotent_hint,
            open_world: a.open_world_hint,
        }),
        icons: icons(o.icons),
        meta: o.meta,
    }
}

pub(crate) fn resource(r: w::McpResource) -> ResourceDef {
    let o = r.options.unwrap_or(w::ResourceOptions {
        size: None,
        title: None,
        description: None,
        mime_type: None,
        annotations: None,
        meta: None,
        icons: None,
    });
    ResourceDef {
        uri: r.uri,
        name: r.name,
        title: o.title,
        description: o.description,
        mime_type: o.mime_type,
        size: o.size,
        annotations: o.annotations.map(annotations),
        icons: icons(o.icons),
        meta: o.meta,
    }
}

pub(crate) fn template(t: w::ResourceTemplate) -> TemplateDef {
    let o = t.options.unwrap_or(w::ResourceTemplateOptions {
        description: None,
        title: None,
        mime_type: None,
        annotations: None,
        meta: None,
        icons: None,
    });
    TemplateDef {
        uri_template: t.uri_template,
        name: t.name,
        title: o.title,
        description: o.description,
        mime_type: o.mime_type,
        annotations: o.annotations.map(annotations),
        icons: icons(o.icons),
        meta: o.meta,
    }
}

pub(crate) fn prompt(p: w::Prompt) -> PromptDef {
    let o = p.options.unwrap_or(w::PromptOptions {
        meta: None,
        arguments: None,
        description: None,
        title: None,
        icons: None,
    });
    PromptDef {
        name: p.name,
        title: o.title,
        description: o.description,
        arguments: o
            .arguments
            .unwrap_or_default()
            .into_iter()
            .map(|a| PromptArgument {
                name: a.name,
                title: a.title,
                description: a.description,
                required: a.required,
            })
            .collect(),
        icons: icons(o.icons),
        meta: o.meta,
    }
}

pub(crate) fn completion(c: w::CompleteResult) -> Completion {
    Completion {
        values: c.values,
        total: c.total,
        has_more: c.has_more,
        meta: c.meta,
    }
}

/// Converts an answer that may hold streams: each is read to its end.
pub(crate) struct Drain<'a, T: 'static> {
    pub(crate) store: StoreContextMut<'a, T>,
    pub(crate) budget: Budget,
}

impl<T: WasiView + Send + 'static> Drain<'_, T> {
    pub(crate) async fn tool_result(&mut self, r: w::CallToolResult) -> Result<ToolResult, Fault> {
        let mut content = Vec::with_capacity(r.content.len());
        for block in r.content {
            content.push(self.content(block).await?);
        }
        if let Some(structured) = &r.structured_content {
            self.budget.take(structured.len())?;
        }
        Ok(ToolResult {
            content,
            is_error: r.is_error.unwrap_or(false),
            structured: r.structured_content,
            meta: r.meta,
        })
    }

    pub(crate) async fn read_result(
        &mut self,
        r: w::ReadResourceResult,
    ) -> Result<ReadResult, Fault> {
        let mut contents = Vec::with_capacity(r.contents.len());
        for c in r.contents {
            contents.push(self.resource_contents(c).await?);
        }
        Ok(ReadResult {
            contents,
            meta: r.meta,
        })
    }

    pub(crate) async fn prompt_result(
        &mut self,
        r: w::GetPromptResult,
    ) -> Result<PromptResult, Fault> {
        let mut messages = Vec::with_capacity(r.messages.len());
        for m in r.messages {
            messages.push(PromptMessage {
                role: role(m.role),
                content: self.content(m.content).await?,
            });
        }
        Ok(PromptResult {
            description: r.description,
            messages,
            meta: r.meta,
        })
    }

    async fn content(&mut self, block: w::ContentBlock) -> Result<Content, Fault> {
        Ok(match block {
            w::ContentBlock::Text(t) => {
                let text = self.text(t.text).await?;
                let (annotations, meta) = options(t.options);
                Content::Text {
                    text,
                    annotations,
                    meta,
                }
            }
            w::ContentBlock::Image(b) => Content::Image(self.media(b).await?),
            w::ContentBlock::Audio(b) => Content::Audio(self.media(b).await?),
            w::ContentBlock::ResourceLink(l) => {
                let o = l.options.unwrap_or(w::ResourceLinkOptions {
                    title: None,
                    description: None,
                    size: None,
                    mime_type: None,
                    annotations: None,
                    meta: None,
                    icons: None,
                });
                Content::ResourceLink(Box::new(ResourceDef {
                    uri: l.uri,
                    name: l.name,
                    title: o.title,
                    description: o.description,
                    mime_type: o.mime_type,
                    size: o.size,
                    annotations: o.annotations.map(annotations),
                    icons: icons(o.icons),
                    meta: o.meta,
                }))
            }
            w::ContentBlock::EmbeddedResource(e) => {
                let contents = self.resource_contents(e.resource).await?;
                let (annotations, meta) = options(e.options);
                Content::Resource {
                    contents,
                    annotations,
                    meta,
                }
            }
        })
    }

    async fn media(&mut self, b: w::Blob) -> Result<Media, Fault> {
        let data = self.blob(b.data).await?;
        let (annotations, meta) = options(b.options);
        Ok(Media {
            data,
            mime_type: b.mime_type,
            annotations,
            meta,
        })
    }

    async fn resource_contents(
        &mut self,
        c: w::ResourceContents,
    ) -> Result<ResourceContents, Fault> {
        let (uri, body, options) = match c {
            w::ResourceContents::Text(t) => {
                (t.uri, Body::Text(self.text(t.text).await?), t.options)
            }
            w::ResourceContents::Blob(b) => {
                (b.uri, Body::Blob(self.blob(b.blob).await?), b.options)
            }
        };
        let (mime_type, meta) = match options {
            Some(o) => (o.mime_type, o.meta),
            None => (None, None),
        };
        Ok(ResourceContents {
            uri,
            mime_type,
            body,
            meta,
        })
    }

    async fn text(&mut self, t: w::TextData) -> Result<String, Fault> {
        match t {
            w::TextData::Text(text) => {
                self.budget.take(text.len())?;
                Ok(text)
            }
            w::TextData::TextStream(stream) => {
                let bytes = self.drain(stream).await?;
                String::from_utf8(bytes).map_err(|_| {
                    Fault::Invalid("a text stream of its answer is not valid UTF-8".into())
                })
            }
        }
    }

    async fn blob(&mut self, b: w::BlobData) -> Result<Vec<u8>, Fault> {
        match b {
            w::BlobData::Blob(bytes) => {
                self.budget.take(bytes.len())?;
                Ok(bytes)
            }
            w::BlobData::BlobStream(stream) => self.drain(stream).await,
        }
    }

    /// Reads a stream the component handed over to its end, within the
    /// budget. The call's deadline bounds the wait (see `call/`).
    async fn drain(&mut self, stream: Resource<DynInputStream>) -> Result<Vec<u8>, Fault> {
        let mut input: DynInputStream = self
            .store
            .as_context_mut()
            .data_mut()
            .ctx()
            .table
            .delete(stream)
            .map_err(|e| Fault::Invalid(format!("a stream of its answer cannot be read: {e}")))?;
        let mut out = Vec::new();
        loop {
            match input.read(64 * 1024) {
                Ok(bytes) if bytes.is_empty() => input.ready().await,
                Ok(bytes) => {
                    self.budget.take(bytes.len())?;
                    out.extend_from_slice(&bytes);
                }
                Err(StreamError::Closed) => return Ok(out),
                Err(e) => {
                    return Err(Fault::Invalid(format!(
                        "a stream of its answer failed: {e}"
                    )));
                }
            }
        }
    }
}

fn options(o: Option<w::ContentOptions>) -> (Option<Annotations>, Option<String>) {
    match o {
        Some(o) => (o.annotations.map(annotations), o.meta),
        None => (None, None),
    }
}
