//! One request to an MCP-world component, as the [`Guest`] of a call: the
//! client stream is put in the instance's resource table, the export the
//! request names is called with a `message-context` borrowing it, and the
//! answer is converted (its streams read) before the instance goes.

use std::sync::Arc;

use wasmtime::component::{Instance, Resource};
use wasmtime::{AsContextMut, Store};
use wasmtime_wasi::p2::DynOutputStream;

use super::bindings::wasmcp::mcp_v20251125::mcp as w;
use super::bindings::wasmcp::mcp_v20251125::server_handler::MessageContext;
use super::bindings::wasmcp::mcp_v20251125::server_io::MessageFrame;
use super::convert::{self, Budget, Drain, Fault};
use super::model::{Listing, McpReply, McpRequest, Reference};
use super::stream::{ClientStream, NotificationSink};
use super::{McpExports, McpInterface};
use crate::call::{CallState, Failure, Guest};

/// Pages a listing may take; a component that hands out cursors beyond
/// this is refused rather than listed without end.
const MAX_PAGES: usize = 64;

/// A request to an MCP-world component, ready to run.
pub(crate) struct McpCall<'a> {
    pub(crate) exports: &'a McpExports,
    pub(crate) request: McpRequest,
    /// The protocol version the client speaks, told to the component.
    pub(crate) protocol_version: &'a str,
    /// Where its notifications go.
    pub(crate) sink: Option<NotificationSink>,
    /// Bytes its answer (streams included) and its notifications may take.
    pub(crate) cap: u64,
    /// Its name, in the log.
    pub(crate) component: Arc<str>,
}

impl Guest for McpCall<'_> {
    type Output = McpReply;

    async fn run(
        self,
        store: &mut Store<CallState>,
        instance: Instance,
    ) -> Result<McpReply, Failure> {
        let stream = ClientStream::new(self.sink.clone(), self.cap, Arc::clone(&self.component));
        let owned: Resource<DynOutputStream> = store
            .data_mut()
            .table
            .push(Box::new(stream) as DynOutputStream)
            .map_err(|e| Failure::Instantiate(e.into()))?;
        let ctx = MessageContext {
            client_stream: Some(Resource::new_borrow(owned.rep())),
            protocol_version: self.protocol_version.to_string(),
            session: None,
            identity: None,
            frame: MessageFrame {
                prefix: Vec::new(),
                suffix: b"\n".to_vec(),
            },
            http_context: None,
        };
        let reply = self.dispatch(store, &instance, &ctx).await;
        // Ends the request's notifications: the sink goes with the stream.
        let _ = store.data_mut().table.delete(owned);
        reply
    }
}

impl McpCall<'_> {
    async fn dispatch(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        ctx: &MessageContext,
    ) -> Result<McpReply, Failure> {
        let e = self.exports;
        let missing = |interface: McpInterface| {
            Ok(McpReply::Invalid(format!(
                "the component does not export the `{}` interface",
                interface.as_str()
            )))
        };
        let load = |e: wasmtime::Error| Failure::Instantiate(e);
        let run = Failure::Run;
        let answer = match &self.request {
            McpRequest::List => return self.list(store, instance, ctx).await,
            McpRequest::CallTool { name, arguments } => {
                let Some(indices) = &e.tools else {
                    return missing(McpInterface::Tools);
                };
                let guest = indices.load(&mut *store, instance).map_err(load)?;
                let request = w::CallToolRequest {
                    name: name.clone(),
                    arguments: arguments.clone(),
                };
                match guest
                    .call_call_tool(&mut *store, ctx, &request)
                    .await
                    .map_err(run)?
                {
                    Ok(Some(result)) => Answer::Tool(result),
                    Ok(None) => return Ok(McpReply::NotMine),
                    Err(code) => return Ok(McpReply::Error(convert::error(code))),
                }
            }
            McpRequest::ReadResource { uri } => {
                let Some(indices) = &e.resources else {
                    return missing(McpInterface::Resources);
                };
                let guest = indices.load(&mut *store, instance).map_err(load)?;
                let request = w::ReadResourceRequest { uri: uri.clone() };
                match guest
                    .call_read_resource(&mut *store, ctx, &request)
                    .await
                    .map_err(run)?
                {
                    Ok(Some(result)) => Answer::Resource(result),
                    Ok(None) => return Ok(McpReply::NotMine),
                    Err(code) => return Ok(McpReply::Error(convert::error(code))),
                }
            }
            McpRequest::GetPrompt { name, arguments } => {
                let Some(indices) = &e.prompts else {
                    return missing(McpInterface::Prompts);
                };
                let guest = indices.load(&mut *store, instance).map_err(load)?;
                let request = w::GetPromptRequest {
                    name: name.clone(),
                    arguments: arguments.clone(),
                };
                match guest
                    .call_get_prompt(&mut *store, ctx, &request)
                    .await
                    .map_err(run)?
                {
                    Ok(Some(result)) => Answer::Prompt(result),
                    Ok(None) => return Ok(McpReply::NotMine),
                    Err(code) => return Ok(McpReply::Error(convert::error(code))),
                }
            }
            McpRequest::Complete {
                reference,
                argument,
                value,
                context,
            } => {
                let Some(indices) = &e.completions else {
                    return missing(McpInterface::Completions);
                };
                let guest = indices.load(&mut *store, instance).map_err(load)?;
                let request = w::CompleteRequest {
                    argument: w::CompletionArgument {
                        name: argument.clone(),
                        value: value.clone(),
                    },
                    ref_: match reference {
                        Reference::Prompt(name) => {
                            w::CompletionReference::Prompt(w::CompletionPromptReference {
                                name: name.clone(),
                                title: None,
                            })
                        }
                        Reference::Template(uri) => {
                            w::CompletionReference::ResourceTemplate(uri.clone())
                        }
                    },
                    context: context.as_ref().map(|arguments| w::CompletionContext {
                        arguments: Some(arguments.clone()),
                    }),
                };
                return match guest
                    .call_complete(&mut *store, ctx, &request)
                    .await
                    .map_err(run)?
                {
                    Ok(Some(result)) => Ok(McpReply::Completion(convert::completion(result))),
                    Ok(None) => Ok(McpReply::NotMine),
                    Err(code) => Ok(McpReply::Error(convert::error(code))),
                };
            }
        };
        let mut drain = Drain {
            store: store.as_context_mut(),
            budget: Budget(self.cap),
        };
        let converted = match answer {
            Answer::Tool(r) => drain.tool_result(r).await.map(McpReply::Tool),
            Answer::Resource(r) => drain.read_result(r).await.map(McpReply::Resource),
            Answer::Prompt(r) => drain.prompt_result(r).await.map(McpReply::Prompt),
        };
        Ok(converted.unwrap_or_else(|fault| self.fault(fault)))
    }

    fn fault(&self, fault: Fault) -> McpReply {
        match fault {
            Fault::TooLarge => McpReply::TooLarge { cap: self.cap },
            Fault::Invalid(reason) => McpReply::Invalid(reason),
        }
    }

    /// Everything the component lists, every page, in this one instance.
    async fn list(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        ctx: &MessageContext,
    ) -> Result<McpReply, Failure> {
        let e = self.exports;
        let load = |e: wasmtime::Error| Failure::Instantiate(e);
        let mut listing = Listing::default();
        let mut pages = Pages::new(self.cap);
        // Every page of one list: `$call` of `$request` (built from the
        // page's `cursor`), its `$items` converted by `$convert` into `$into`.
        macro_rules! every_page {
            ($what:literal, $guest:ident.$call:ident($request:ident), $items:ident, $convert:path, $into:expr) => {{
                let mut cursor = None;
                loop {
                    let request = w::$request { cursor };
                    let page = match $guest
                        .$call(&mut *store, ctx, &request)
                        .await
                        .map_err(Failure::Run)?
                    {
                        Ok(page) => page,
                        Err(code) => return Ok(McpReply::Error(convert::error(code))),
                    };
                    $into.extend(page.$items.into_iter().map($convert));
                    match pages.next($what, page.next_cursor) {
                        Ok(Some(next)) => cursor = Some(next),
                        Ok(None) => break,
                        Err(reply) => return Ok(reply),
                    }
                }
            }};
        }
        if let Some(indices) = &e.tools {
            let guest = indices.load(&mut *store, instance).map_err(load)?;
            every_page!(
                "tools",
                guest.call_list_tools(ListToolsRequest),
                tools,
                convert::tool,
                listing.tools
            );
        }
        if let Some(indices) = &e.resources {
            let guest = indices.load(&mut *store, instance).map_err(load)?;
            every_page!(
                "resources",
                guest.call_list_resources(ListResourcesRequest),
                resources,
                convert::resource,
                listing.resources
            );
            every_page!(
                "resource templates",
                guest.call_list_resource_templates(ListResourceTemplatesRequest),
                resource_templates,
                convert::template,
                listing.templates
            );
        }
        if let Some(indices) = &e.prompts {
            let guest = indices.load(&mut *store, instance).map_err(load)?;
            every_page!(
                "prompts",
                guest.call_list_prompts(ListPromptsRequest),
                prompts,
                convert::prompt,
                listing.prompts
            );
        }
        Ok(McpReply::Listing(listing))
    }
}

/// An answer that may still hold streams.
enum Answer {
    Tool(w::CallToolResult),
    Resource(w::ReadResourceResult),
    Prompt(w::GetPromptResult),
}

/// Counts a listing's pages and the bytes of its cursors.
struct Pages {
    pages: usize,
    budget: Budget,
}

impl Pages {
    fn new(cap: u64) -> Self {
        Self {
            pages: 0,
            budget: Budget(cap),
        }
    }

    /// The cursor of the next page, if any; a reply refusing the listing
    /// when it runs past [`MAX_PAGES`] or the cap.
    fn next(&mut self, what: &str, cursor: Option<String>) -> Result<Option<String>, McpReply> {
        let Some(cursor) = cursor else {
            return Ok(None);
        };
        self.pages += 1;
        if self.pages >= MAX_PAGES || self.budget.0 < cursor.len() as u64 {
            return Err(McpReply::Invalid(format!(
                "its {what} listing goes on for more than {MAX_PAGES} pages"
            )));
        }
        self.budget.0 -= cursor.len() as u64;
        Ok(Some(cursor))
    }
}
