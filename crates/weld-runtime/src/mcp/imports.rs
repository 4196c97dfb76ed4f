//! The functions of wasmcp's world a component may import, provided by the
//! host (toolchains import whole interfaces: componentize-py imports every
//! function of every interface its world mentions, Rust's wit-bindgen only
//! those called).
//!
//! - `server-io`: `send-message` writes a notification as one line of
//!   JSON-RPC to the stream the component names (its client stream, where
//!   [`super::stream`] reads it), whatever frame the component asks for:
//!   the stream is weld's, and so is its framing. There is no client input
//!   stream to parse from, and nothing is buffered.
//! - `server-auth`: weld hands a component no credentials (its
//!   `message-context.identity` is always `none`), so `decode` refuses
//!   every token and `authorize` every request.
//! - `server-handler`: `handle` is the next handler down a wasmcp
//!   middleware chain; weld serves a component's capability exports
//!   directly and has no chain behind it, so it answers `none` (not mine),
//!   as wasmcp's own terminal handler does.

use serde_json::{Map, Value, json};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::DynOutputStream;

use super::bindings::wasmcp::mcp_v20251125::mcp::{
    LogLevel, ProgressToken, ServerMessage, ServerNotification,
};
use super::bindings::wasmcp::mcp_v20251125::server_io::{
    self, ClientMessage, InputStream, IoError, MessageFrame, OutputStream, ReadLimit,
};
use super::bindings::wasmcp::mcp_v20251125::{server_auth, server_handler};

/// The host side of the world's imports over a call's resource table.
pub(crate) struct ServerIo<'a> {
    table: &'a mut ResourceTable,
}

struct HasServerIo;

impl HasData for HasServerIo {
    type Data<'a> = ServerIo<'a>;
}

/// Adds `server-io`, `server-auth` and `server-handler` to `linker`.
///
/// # Errors
///
/// When Wasmtime refuses the definitions.
pub(crate) fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    fn view<T: WasiView>(state: &mut T) -> ServerIo<'_> {
        ServerIo {
            table: state.ctx().table,
        }
    }
    server_io::add_to_linker::<T, HasServerIo>(linker, view::<T>)?;
    server_auth::add_to_linker::<T, HasServerIo>(linker, view::<T>)?;
    server_handler::add_to_linker::<T, HasServerIo>(linker, view::<T>)
}

impl server_auth::Host for ServerIo<'_> {
    fn decode(&mut self, _jwt: server_auth::Jwt) -> Result<server_auth::JwtClaims, ()> {
        Err(())
    }

    fn authorize(
        &mut self,
        _request: server_auth::ClientMessage,
        _claims: server_auth::JwtClaims,
        _session: Option<server_auth::Session>,
        _http_context: Option<server_auth::HttpContext>,
    ) -> bool {
        false
    }
}

impl server_handler::Host for ServerIo<'_> {
    fn handle(
        &mut self,
        _ctx: server_handler::MessageContext,
        _message: server_handler::ClientMessage,
    ) -> Option<Result<server_handler::ServerResult, server_handler::ErrorCode>> {
        None
    }
}

impl server_io::Host for ServerIo<'_> {
    fn parse_message(
        &mut self,
        _input: Resource<InputStream>,
        _limit: ReadLimit,
        _frame: MessageFrame,
    ) -> Result<ClientMessage, IoError> {
        Err(IoError::Unexpected(
            "weld hands a component each request through its exports; there is no client input \
             stream to parse messages from"
                .into(),
        ))
    }

    fn send_message(
        &mut self,
        output: Resource<OutputStream>,
        message: ServerMessage,
        _frame: MessageFrame,
    ) -> Result<(), IoError> {
        let ServerMessage::Notification(notification) = message else {
            return Err(IoError::Unexpected(
                "weld passes only notifications from a component to its client: requests \
                 (sampling, roots, elicitation) cannot be answered back to a component, and \
                 results go back as the export's return value"
                    .into(),
            ));
        };
        let Some(mut line) = notification_json(notification) else {
            // List changes and resource updates mean nothing to a client of
            // weld, which lists a component once per load; not an error.
            return Ok(());
        };
        line.push('\n');
        let stream: &mut DynOutputStream = self
            .table
            .get_mut(&Resource::<DynOutputStream>::new_borrow(output.rep()))
            .map_err(|e| IoError::Unexpected(format!("no such output stream: {e}")))?;
        stream
            .write(line.into_bytes().into())
            .map_err(|e| IoError::Unexpected(format!("the client stream refused it: {e}")))
    }

    fn flush_buffer(&mut self, _output: Resource<OutputStream>) -> Result<(), IoError> {
        Ok(())
    }
}

/// The JSON-RPC text of the notifications weld passes on.
fn notification_json(notification: ServerNotification) -> Option<String> {
    let message = match notification {
        ServerNotification::Log(log) => {
            // `data` is JSON text; a component that wrote plain text meant
            // a string.
            let data = serde_json::from_str(&log.data).unwrap_or(Value::String(log.data));
            let mut params = Map::new();
            params.insert("level".into(), level(log.level).into());
            if let Some(logger) = log.logger {
                params.insert("logger".into(), logger.into());
            }
            params.insert("data".into(), data);
            json!({"jsonrpc": "2.0", "method": "notifications/message", "params": params})
        }
        ServerNotification::Progress(progress) => {
            let token = match progress.progress_token {
                ProgressToken::String(s) => Value::String(s),
                ProgressToken::Integer(n) => Value::from(n),
            };
            let mut params = Map::new();
            params.insert("progressToken".into(), token);
            params.insert("progress".into(), progress.progress.into());
            if let Some(total) = progress.total {
                params.insert("total".into(), total.into());
            }
            if let Some(message) = progress.message {
                params.insert("message".into(), message.into());
            }
            json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": params})
        }
        _ => return None,
    };
    Some(message.to_string())
}

fn level(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Notice => "notice",
        LogLevel::Warning => "warning",
        LogLevel::Error => "error",
        LogLevel::Critical => "critical",
        LogLevel::Alert => "alert",
        LogLevel::Emergency => "emergency",
    }
}
